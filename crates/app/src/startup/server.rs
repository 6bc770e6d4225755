//! The HTTP servers: the API's listener and actix server over the wired app data, and
//! `/metrics` alone on its own listener when `telemetry.metrics_bind` is set.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{HttpServer, web};
use anyhow::Context;

use super::wiring::AppData;
use crate::http::{AppState, build_app};
use crate::settings::Settings;

/// The API's listener on `http.bind`.
pub fn bind(settings: &Settings) -> anyhow::Result<TcpListener> {
    TcpListener::bind(&settings.http.bind)
        .with_context(|| format!("cannot listen on {} (http.bind)", settings.http.bind))
}

/// The metrics server and its port, when `telemetry.metrics_bind` is set.
pub fn metrics(
    settings: &Settings,
    state: &web::Data<AppState>,
) -> anyhow::Result<Option<(u16, Server)>> {
    let Some(bind) = settings.metrics_bind() else {
        return Ok(None);
    };
    let listener = TcpListener::bind(bind)
        .with_context(|| format!("cannot listen on {bind} (telemetry.metrics_bind)"))?;
    let port = listener.local_addr()?.port();
    let state = state.clone();
    let server = HttpServer::new(move || crate::http::ops::metrics_app(state.clone()))
        .disable_signals()
        .workers(1)
        .shutdown_timeout(settings.http.shutdown_timeout_seconds)
        .listen(listener)?
        .run();
    Ok(Some((port, server)))
}

/// The API server on `listener`; `metrics_elsewhere` when `/metrics` has its own
/// listener (the API's then answers it 404).
pub fn api(
    settings: &Settings,
    listener: TcpListener,
    state: web::Data<AppState>,
    data: AppData,
    metrics_elsewhere: bool,
) -> anyhow::Result<Server> {
    let server = HttpServer::new(move || {
        let app = data.attach(build_app(state.clone(), data.auth.clone()));
        if metrics_elsewhere {
            app.app_data(crate::http::ops::MetricsElsewhere)
        } else {
            app
        }
    })
    .disable_signals()
    .shutdown_timeout(settings.http.shutdown_timeout_seconds)
    .keep_alive(Duration::from_secs(settings.http.keep_alive_seconds))
    .client_request_timeout(Duration::from_millis(
        settings.http.client_request_timeout_ms,
    ))
    .backlog(4096)
    .listen(listener)?;
    Ok(server.workers(settings.http.worker_threads()).run())
}
