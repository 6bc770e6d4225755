//! Start-up, in rooms: `wiring` connects the adapters the settings choose and builds
//! the use cases and the HTTP app data over them; `server` binds the listeners and
//! starts actix; `tasks` are the background loops (admission ticker, draw keeper, hold
//! sweeper, rate-limit housekeeping); `probes` are what `/readyz` asks; `demo`
//! loads the demo concert. `Application::build` puts them together;
//! `run_until_stopped` serves until SIGTERM/SIGINT (or a test's `ShutdownHandle`), then
//! drains in-flight requests, stops the tasks and closes pools.

mod demo;
mod probes;
mod server;
mod tasks;
mod wiring;

use actix_web::dev::{Server, ServerHandle};
use anyhow::Context;
use frontrow_seaorm::SeaOrmStore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use demo::{DEMO_TITLE, load_demo};
pub use wiring::{CachedPorts, QueueBackend, build_queue, connect_store, with_read_cache};

use crate::settings::Settings;

/// Stops a running application from the outside (tests, embedding).
#[derive(Clone)]
pub struct ShutdownHandle {
    server: ServerHandle,
}

impl ShutdownHandle {
    /// Graceful stop: stop accepting, drain in-flight requests (bounded), then return.
    pub async fn stop(&self) {
        self.server.stop(true).await;
    }
}

/// A built, bound, not yet running frontrow.
pub struct Application {
    port: u16,
    /// The metrics listener's port, when `/metrics` has its own (`telemetry.metrics_bind`).
    metrics_port: Option<u16>,
    server: Server,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    store: SeaOrmStore,
}

impl Application {
    /// Wires everything from `settings`; the listener is bound when this returns.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let store = connect_store(&settings).await?;
        store
            .migrate_up()
            .await
            .context("cannot apply database migrations")?;
        let queue = build_queue(&settings, settings.queue_settings()).await?;
        let wired = wiring::wire(&settings, &store, &queue).await?;
        let listener = server::bind(&settings)?;
        let port = listener.local_addr()?.port();
        let metrics = server::metrics(&settings, &wired.state)?;
        let metrics_port = metrics.as_ref().map(|(port, _)| *port);
        let server = server::api(
            &settings,
            listener,
            wired.state,
            wired.data,
            metrics.is_some(),
        )?;
        let cancel = CancellationToken::new();
        let tasks = tasks::spawn(
            wired.background,
            &settings,
            metrics.map(|(_, server)| server),
            &cancel,
        );
        Ok(Application {
            port,
            metrics_port,
            server,
            cancel,
            tasks,
            store,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    /// A handle that stops this application gracefully.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            server: self.server.handle(),
        }
    }

    /// Serves until SIGTERM/SIGINT or `ShutdownHandle::stop`, then shuts down cleanly.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let signals = tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown signal received: draining in-flight requests");
            handle.stop(true).await;
        });
        let served = self.server.await;
        signals.abort();
        self.cancel.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
        if let Err(e) = self.store.close().await {
            tracing::warn!(error = %e, "closing the database pool failed");
        }
        tracing::info!("frontrow stopped");
        served.context("HTTP server failed")
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
