//! Wiring: `Application::build` connects the adapters chosen by the settings, applies
//! pending migrations, binds the listener and starts the background tasks (admission
//! ticker, hold sweeper); `run_until_stopped` serves until SIGTERM/SIGINT (or a test's
//! `ShutdownHandle`), then drains in-flight requests, stops the tasks and closes pools.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{HttpServer, web};
use anyhow::Context;
use async_trait::async_trait;
use frontrow_domain::accounts::Accounts;
use frontrow_domain::booking::Booking;
use frontrow_domain::boxoffice::BoxOffice;
use frontrow_domain::catalog::Catalog;
use frontrow_domain::credentials::Credentials;
use frontrow_domain::model::{Money, NewConcert, NewSchedule};
use frontrow_domain::ports::{
    CatalogRepository, Clock, PaymentRepository, Ports, Queue, SeatRepository, SystemClock,
};
use frontrow_domain::queue::QueueSettings;
use frontrow_domain::venue::{
    CategoryRange, Layout, LayoutRow, PriceCategory, Section, SectionKind,
};
use frontrow_domain::waiting_room::WaitingRoom;
use frontrow_memory::MemoryQueue;
use frontrow_redis::RedisQueue;
use frontrow_seaorm::{DbOptions, SeaOrmStore};
use secrecy::ExposeSecret;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cache::{CachedCatalog, InvalidatingPayments, InvalidatingSeats, ReadCache};
use crate::guard::limits::Limits;
use crate::http::auth::Auth;
use crate::http::{AppState, Probe, build_app};
use crate::settings::Settings;
use crate::telemetry::{
    self, HOLDS_EXPIRED, ORDERS_EXPIRED, QUEUE_ACTIVE, QUEUE_ADMIT_RATE, QUEUE_ADMITTED,
    QUEUE_EXPIRED, QUEUE_WAITING, RELEASE_RETRIES, RELEASES_PENDING,
};

/// Connects to the database named by the settings.
pub async fn connect_store(settings: &Settings) -> anyhow::Result<SeaOrmStore> {
    let opts = DbOptions {
        max_connections: settings.database.max_connections,
        connect_timeout: Duration::from_millis(settings.database.connect_timeout_ms),
        acquire_timeout: Duration::from_millis(settings.database.acquire_timeout_ms),
    };
    SeaOrmStore::connect(settings.database.url.expose_secret(), &opts)
        .await
        .context("cannot connect to the database (database.url)")
}

/// The queue chosen by the settings: Redis when `redis.url` is set, else in memory.
pub async fn build_queue(settings: &Settings, qs: QueueSettings) -> anyhow::Result<QueueBackend> {
    match settings.redis_url() {
        Some(url) => {
            let timeout = Duration::from_millis(settings.redis.timeout_ms);
            let q = if settings.redis.cluster {
                RedisQueue::connect_cluster(
                    &settings.redis_seeds(),
                    &settings.redis.key_prefix,
                    qs,
                    timeout,
                )
                .context("cannot set up the Redis Cluster queue (redis.url, redis.cluster)")?
            } else {
                RedisQueue::connect(url, &settings.redis.key_prefix, qs, timeout)
                    .context("cannot set up the Redis queue (redis.url)")?
            };
            // Said once at start-up; `/readyz` keeps saying it until the setting is fixed.
            match q.check_mode().await {
                Ok(()) => tracing::info!(cluster = q.is_cluster(), "redis queue ready"),
                Err(e) => tracing::error!(error = %e, "redis queue misconfigured or down"),
            }
            let q = q.with_background_sync(
                Duration::from_millis(settings.redis.view_sync_ms),
                Duration::from_millis(settings.redis.view_max_lag_ms),
            );
            Ok(QueueBackend::Redis(Arc::new(q)))
        }
        None => Ok(QueueBackend::Memory(Arc::new(MemoryQueue::new(qs)))),
    }
}

/// Which queue adapter runs.
#[derive(Clone)]
pub enum QueueBackend {
    Redis(Arc<RedisQueue>),
    Memory(Arc<MemoryQueue>),
}

impl QueueBackend {
    pub fn port(&self) -> Arc<dyn Queue> {
        match self {
            QueueBackend::Redis(q) => q.clone(),
            QueueBackend::Memory(q) => q.clone(),
        }
    }
}

struct DatabaseProbe(SeaOrmStore);

#[async_trait]
impl Probe for DatabaseProbe {
    fn name(&self) -> &'static str {
        "database"
    }

    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }

    fn record_metrics(&self) {
        let s = self.0.pool_stats();
        telemetry::record_db_pool(s.size, s.idle, s.max);
    }
}

struct QueueProbe(QueueBackend);

#[async_trait]
impl Probe for QueueProbe {
    fn name(&self) -> &'static str {
        "queue"
    }

    async fn check(&self) -> Result<(), String> {
        self.0.port().ping().await.map_err(|e| e.to_string())
    }

    fn record_metrics(&self) {
        if let QueueBackend::Redis(q) = &self.0 {
            let (slots, open) = q.pool_status();
            telemetry::record_redis_pool(slots, open, q.connection_status().connects);
        }
    }
}

/// The most the read cache may hold, by its estimate of each answer's bytes.
const READ_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Wraps the catalog in the read cache and the seat and payment ports in its
/// invalidation, unless `staleness` is zero (no cache).
pub fn with_read_cache(
    staleness: Duration,
    catalog: Arc<dyn CatalogRepository>,
    seats: Arc<dyn SeatRepository>,
    payments: Arc<dyn PaymentRepository>,
) -> (
    Arc<dyn CatalogRepository>,
    Arc<dyn SeatRepository>,
    Arc<dyn PaymentRepository>,
) {
    if staleness.is_zero() {
        return (catalog, seats, payments);
    }
    let cache = Arc::new(ReadCache::new(staleness, READ_CACHE_BYTES));
    (
        Arc::new(CachedCatalog::new(catalog, cache.clone())),
        Arc::new(InvalidatingSeats::new(seats, cache.clone())),
        Arc::new(InvalidatingPayments::new(payments, cache)),
    )
}

/// Sign-up, sign-in and sessions, and the passkey ceremonies, on the SQL store.
fn accounts(
    settings: &Settings,
    store: &SeaOrmStore,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<(web::Data<Credentials>, web::Data<crate::passkeys::Passkeys>)> {
    let store = Arc::new(store.clone());
    let hasher = crate::accounts::Argon2Hasher::new(&settings.accounts)
        .context("cannot set up password hashing (accounts.password_*)")?;
    let ttl = i64::try_from(settings.auth.token_ttl_seconds).unwrap_or(i64::MAX / 1000);
    let credentials = Credentials::new(
        store.clone(),
        store.clone(),
        Arc::new(hasher),
        clock.clone(),
        chrono::Duration::seconds(ttl),
    );
    let passkeys = crate::passkeys::Passkeys::new(&settings.accounts, store, clock)
        .context("cannot set up passkeys (accounts.passkey_*)")?;
    Ok((web::Data::new(credentials), web::Data::new(passkeys)))
}

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
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let repos = store.ports();
        let (catalog, seats, payments) = with_read_cache(
            Duration::from_millis(settings.booking.seat_map_cache_ms),
            repos.catalog,
            repos.seats,
            repos.payments,
        );
        let ports = Ports {
            clock: clock.clone(),
            users: repos.users,
            catalog,
            seats,
            wallets: repos.wallets,
            payments,
            queue: Arc::new(crate::eta::MeasuredEtas::new(queue.port())),
        };
        // The one waiting room: the queue handlers, the booking gate and the ticker;
        // admission capped by the concert's free seats.
        let room = WaitingRoom::new(ports.queue.clone(), ports.catalog.clone(), clock.clone())
            .with_inventory(ports.seats.clone())
            .with_retirement(settings.queue.retire_after_seconds)
            .with_draw_archive(repos.draws.clone());
        let state = web::Data::new(AppState {
            accounts: Accounts::new(
                ports.users.clone(),
                ports.wallets.clone(),
                clock.clone(),
                settings.max_charge(),
            ),
            catalog: Catalog::new(ports.catalog.clone(), clock.clone()),
            booking: Booking::new(
                ports.catalog.clone(),
                ports.seats.clone(),
                ports.payments.clone(),
                room.clone(),
                clock.clone(),
                settings.booking_policy(),
            ),
            boxoffice: BoxOffice::new(
                ports.catalog.clone(),
                repos.orders.clone(),
                ports.seats.clone(),
                room.clone(),
                clock.clone(),
                settings.order_policy(),
            ),
            room: room.clone(),
            clock: clock.clone(),
            probes: vec![
                Arc::new(DatabaseProbe(store.clone())),
                Arc::new(QueueProbe(queue.clone())),
            ],
            metrics: telemetry::metrics_handle(),
            queue_idle_timeout_seconds: settings.queue.idle_timeout_seconds,
            sales: frontrow_domain::sales::Sales::new(
                ports.catalog.clone(),
                ports.payments.clone(),
                repos.orders.clone(),
                clock.clone(),
            ),
        });
        let boxoffice = state.boxoffice.clone();
        let (credentials, passkeys) = accounts(&settings, &store, clock.clone())?;
        let mut auth = Auth::new(
            &settings.auth.jwt_secret,
            settings.auth.admin_key.clone(),
            settings.auth.token_ttl_seconds,
        )
        .with_signup(settings.auth.signup)
        .with_credentials(credentials.clone().into_inner());
        if let Some(url) = settings.jwks_url() {
            let idp = crate::guard::identity::IdentityProvider::new(
                url,
                settings.auth.issuer.as_deref().unwrap_or_default(),
                settings.auth.audience.as_deref().unwrap_or_default(),
                Duration::from_secs(settings.auth.jwks_cache_seconds),
                Duration::from_secs(settings.auth.jwks_min_refresh_seconds),
                settings.jwks_ca_file(),
            )
            .context("cannot set up the identity provider (auth.jwks_url)")?;
            // A provider that is down at start is tried again on the first token.
            match idp.load().await {
                Ok(n) => tracing::info!(keys = n, "identity provider keys loaded"),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot load the identity provider's keys yet")
                }
            }
            auth = auth.with_identity_provider(Arc::new(idp));
        }
        if !settings.auth.signup {
            tracing::info!("the built-in sign-up is off (auth.signup = false)");
        }
        let auth = web::Data::new(auth);

        let limits = Limits::new(
            &settings.limits,
            match &queue {
                QueueBackend::Redis(q) => Some(q.clone()),
                QueueBackend::Memory(_) => None,
            },
        )
        .map(web::Data::new);
        if limits.is_none() {
            tracing::warn!("rate limits are off (limits.enabled = false)");
        }

        let listener = TcpListener::bind(&settings.http.bind)
            .with_context(|| format!("cannot listen on {} (http.bind)", settings.http.bind))?;
        let port = listener.local_addr()?.port();
        let signer = web::Data::new(
            crate::guard::admission::AdmissionSigner::from_settings(&settings.admission)
                .context("cannot set up admission passes (admission.signing_key)")?,
        );
        let (ticket_signer, ticket_keys) = crate::ticketing::keys_from_settings(&settings.tickets)
            .context("cannot set up ticket codes (tickets.signing_keys)")?;
        let tickets = web::Data::new(frontrow_domain::tickets::Tickets::new(
            repos.tickets.clone(),
            ports.catalog.clone(),
            Arc::new(ticket_signer),
            Arc::new(ticket_keys),
            clock.clone(),
            settings.tickets.policy(),
        ));
        let returns = web::Data::new(frontrow_domain::returns::Returns::new(
            repos.returns.clone(),
            room.clone(),
            clock.clone(),
            settings.returns_policy(),
        ));
        let pow = web::Data::new(crate::guard::pow::PowGate::new(
            settings.auth.jwt_secret.expose_secret().as_bytes(),
            Duration::from_secs(settings.pow.challenge_ttl_seconds),
            match &queue {
                QueueBackend::Redis(q) => Some(q.clone()),
                QueueBackend::Memory(_) => None,
            },
        ));
        // `/metrics` alone on its own listener when `telemetry.metrics_bind` is set.
        let metrics_server = match settings.metrics_bind() {
            Some(bind) => {
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
                Some((port, server))
            }
            None => None,
        };
        let metrics_elsewhere = metrics_server.is_some();
        let limits_data = limits.clone();
        let server = HttpServer::new(move || {
            let app = build_app(state.clone(), auth.clone())
                .app_data(signer.clone())
                .app_data(pow.clone())
                .app_data(tickets.clone())
                .app_data(returns.clone())
                .app_data(credentials.clone())
                .app_data(passkeys.clone());
            let app = if metrics_elsewhere {
                app.app_data(crate::http::ops::MetricsElsewhere)
            } else {
                app
            };
            match &limits_data {
                Some(l) => app.app_data(l.clone()),
                None => app,
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
        let server = server.workers(settings.http.worker_threads()).run();

        let cancel = CancellationToken::new();
        let mut tasks = vec![
            tokio::spawn(draw_keeper(
                room.clone(),
                Duration::from_secs(1),
                cancel.clone(),
            )),
            tokio::spawn(admission_ticker(
                room,
                settings.tick_interval(),
                cancel.clone(),
            )),
            tokio::spawn(hold_sweeper(
                ports,
                boxoffice,
                settings.sweep_interval(),
                cancel.clone(),
            )),
        ];
        let metrics_port = metrics_server.as_ref().map(|(port, _)| *port);
        if let Some((_, server)) = metrics_server {
            let handle = server.handle();
            let serving = tokio::spawn(server);
            let cancel = cancel.clone();
            tasks.push(tokio::spawn(async move {
                cancel.cancelled().await;
                handle.stop(true).await;
                let _ = serving.await;
            }));
        }
        if let Some(l) = limits {
            tasks.push(tokio::spawn(crate::guard::limits::housekeeping(
                l.into_inner(),
                Duration::from_secs(60),
                cancel.clone(),
            )));
        }
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

/// Admits fans on every concert at each tick and refreshes the per-concert gauges
/// about once a second.
async fn admission_ticker(room: WaitingRoom, every: Duration, cancel: CancellationToken) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let gauges_every =
        (Duration::from_secs(1).as_millis() / every.as_millis().max(1)).max(1) as u64;
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = interval.tick() => {}
        }
        match room.tick_all().await {
            Ok(reports) => {
                n += 1;
                if n.is_multiple_of(gauges_every) {
                    for (concert, _) in reports {
                        if let Ok(s) = room.stats(concert).await {
                            let c = concert.to_string();
                            metrics::gauge!(QUEUE_WAITING, "concert" => c.clone())
                                .set(s.waiting as f64);
                            metrics::gauge!(QUEUE_ACTIVE, "concert" => c.clone())
                                .set(s.active as f64);
                            metrics::gauge!(QUEUE_ADMIT_RATE, "concert" => c.clone())
                                .set(s.admit_rate);
                            metrics::counter!(QUEUE_ADMITTED, "concert" => c.clone())
                                .absolute(s.admitted_total);
                            metrics::counter!(QUEUE_EXPIRED, "concert" => c)
                                .absolute(s.expired_total);
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "admission tick skipped: queue unavailable"),
        }
        let releases = room.retry_releases().await;
        if releases.retried > 0 {
            metrics::counter!(RELEASE_RETRIES).increment(releases.retried);
            metrics::gauge!(RELEASES_PENDING).set(releases.pending as f64);
            tracing::info!(
                retried = releases.retried,
                done = releases.done,
                pending = releases.pending,
                "admission releases after payment retried"
            );
        }
    }
    tracing::debug!("admission ticker stopped");
}

/// Archives every revealed draw in the database (see `WaitingRoom::keep_draws`), apart
/// from the admission ticker so a large draw being written never delays admission.
async fn draw_keeper(room: WaitingRoom, every: Duration, cancel: CancellationToken) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = interval.tick() => {}
        }
        if let Err(e) = room.keep_draws().await {
            tracing::warn!(error = %e, "draws not archived this round: queue unavailable");
        }
    }
    tracing::debug!("draw keeper stopped");
}

/// Ends expired orders (their standing places back to their areas) and frees seats
/// whose hold expired.
async fn hold_sweeper(
    ports: Ports,
    boxoffice: BoxOffice,
    every: Duration,
    cancel: CancellationToken,
) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = interval.tick() => {}
        }
        match boxoffice.release_expired(1_000).await {
            Ok(0) => {}
            Ok(n) => {
                metrics::counter!(ORDERS_EXPIRED).increment(n);
                tracing::info!(ended = n, "expired orders ended");
            }
            Err(e) => tracing::warn!(error = %e, "order sweep skipped: database unavailable"),
        }
        match ports.seats.release_expired(ports.clock.now(), 1_000).await {
            Ok(0) => {}
            Ok(n) => {
                metrics::counter!(HOLDS_EXPIRED).increment(n);
                tracing::info!(released = n, "expired holds released");
            }
            Err(e) => tracing::warn!(error = %e, "hold sweep skipped: database unavailable"),
        }
    }
    tracing::debug!("hold sweeper stopped");
}

/// The demo's first night: a standing floor in front, then stalls of ten rows with a
/// centre aisle (the first three rows premium, two accessible seats at the back).
fn demo_layout() -> Layout {
    let rows = (0..10u32)
        .map(|r| {
            let mut seats: Vec<Option<u32>> = (1..=10).map(Some).collect();
            seats.push(None);
            seats.extend((11..=20).map(Some));
            LayoutRow {
                label: frontrow_domain::venue::row_letters(r),
                seats,
                accessible: if r == 9 { vec![1, 20] } else { vec![] },
                blocked: vec![],
                categories: if r < 3 {
                    vec![CategoryRange {
                        from: 1,
                        to: 20,
                        category: "Premium".into(),
                    }]
                } else {
                    vec![]
                },
            }
        })
        .collect();
    Layout {
        categories: vec![
            PriceCategory {
                name: "Premium".into(),
                price: Money::from_u32(80_00),
                hidden: false,
            },
            PriceCategory {
                name: "Standard".into(),
                price: Money::from_u32(50_00),
                hidden: false,
            },
            PriceCategory {
                name: "Floor".into(),
                price: Money::from_u32(40_00),
                hidden: false,
            },
        ],
        sections: vec![
            Section {
                name: "Floor".into(),
                category: "Floor".into(),
                kind: SectionKind::Standing { capacity: 200 },
            },
            Section {
                name: "Stalls".into(),
                category: "Standard".into(),
                kind: SectionKind::Seated { rows },
            },
        ],
    }
}

/// Title of the demo concert; loading it twice does nothing the second time.
pub const DEMO_TITLE: &str = "frontrow Live: Demo Night";

/// Creates the demo concert unless it exists. Returns its id.
pub async fn load_demo(settings: &Settings) -> anyhow::Result<i64> {
    let store = connect_store(settings).await?;
    store.migrate_up().await?;
    let repos = store.ports();
    if let Some(c) = repos
        .catalog
        .list_concerts()
        .await?
        .into_iter()
        .find(|c| c.title == DEMO_TITLE)
    {
        let _ = store.close().await;
        return Ok(c.id.0);
    }
    let starts = chrono::Utc::now() + chrono::Duration::days(30);
    let detail = repos
        .catalog
        .create_concert(NewConcert {
            title: DEMO_TITLE.into(),
            venue: "Hall 1".into(),
            schedules: vec![
                NewSchedule {
                    starts_at: starts,
                    rows: 10,
                    seats_per_row: 20,
                    price: Money::from_u32(50_00),
                    layout: Some(demo_layout()),
                },
                NewSchedule {
                    starts_at: starts + chrono::Duration::days(1),
                    rows: 10,
                    seats_per_row: 20,
                    price: Money::from_u32(45_00),
                    layout: None,
                },
            ],
        })
        .await
        .map_err(|e| anyhow::anyhow!("cannot create the demo concert: {e}"))?;
    let _ = store.close().await;
    Ok(detail.concert.id.0)
}
