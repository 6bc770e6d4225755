//! Wiring: the adapters the settings choose (database, queue, read cache), the use cases
//! over them, and everything the HTTP app holds as app data (authentication, rate
//! limits, the guard's signers, tickets, returns, accounts).

use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{ServiceFactory, ServiceRequest};
use actix_web::{App, web};
use anyhow::Context;
use frontrow_domain::accounts::Accounts;
use frontrow_domain::booking::Booking;
use frontrow_domain::boxoffice::BoxOffice;
use frontrow_domain::catalog::Catalog;
use frontrow_domain::credentials::Credentials;
use frontrow_domain::ports::{
    CatalogRepository, Clock, PaymentRepository, Ports, Queue, SeatRepository, SystemClock,
};
use frontrow_domain::queue::QueueSettings;
use frontrow_domain::waiting_room::WaitingRoom;
use frontrow_memory::MemoryQueue;
use frontrow_redis::RedisQueue;
use frontrow_seaorm::{DbOptions, SeaOrmStore, SeatClaim, StorePorts};
use secrecy::ExposeSecret;

use super::probes::probes;
use super::tasks::Background;
use crate::cache::{
    CachedCatalog, InvalidatingOrders, InvalidatingPayments, InvalidatingSeats, ReadCache,
};
use crate::guard::admission::AdmissionSigner;
use crate::guard::limits::Limits;
use crate::guard::pow::PowGate;
use crate::http::AppState;
use crate::http::auth::Auth;
use crate::passkeys::Passkeys;
use crate::settings::{SeatClaimSetting, Settings};
use crate::telemetry;
use frontrow_domain::boxoffice::port::OrderRepository;

/// Connects to the database named by the settings.
pub async fn connect_store(settings: &Settings) -> anyhow::Result<SeaOrmStore> {
    let opts = DbOptions {
        max_connections: settings.database.max_connections,
        connect_timeout: Duration::from_millis(settings.database.connect_timeout_ms),
        acquire_timeout: Duration::from_millis(settings.database.acquire_timeout_ms),
        seat_claim: match settings.database.seat_claim {
            SeatClaimSetting::Conditional => SeatClaim::Conditional,
            SeatClaimSetting::SkipLocked => SeatClaim::SkipLocked,
        },
    };
    SeaOrmStore::connect(settings.database.url.expose_secret(), &opts)
        .await
        .context("cannot connect to the database (database.url)")
}

/// The queue chosen by the settings: Redis when `redis.url` is set, else in memory.
pub async fn build_queue(settings: &Settings, qs: QueueSettings) -> anyhow::Result<QueueBackend> {
    let Some(url) = settings.redis_url() else {
        return Ok(QueueBackend::Memory(Arc::new(MemoryQueue::new(qs))));
    };
    let timeout = Duration::from_millis(settings.redis.timeout_ms);
    let prefix = &settings.redis.key_prefix;
    let q = if settings.redis.cluster {
        RedisQueue::connect_cluster(&settings.redis_seeds(), prefix, qs, timeout)
            .context("cannot set up the Redis Cluster queue (redis.url, redis.cluster)")?
    } else {
        RedisQueue::connect(url, prefix, qs, timeout)
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

    /// The Redis queue, whose store the instances share (rate limits, one-time claims).
    pub fn redis(&self) -> Option<Arc<RedisQueue>> {
        match self {
            QueueBackend::Redis(q) => Some(q.clone()),
            QueueBackend::Memory(_) => None,
        }
    }
}

/// The most the read cache may hold, by its estimate of each answer's bytes.
const READ_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// The ports the read cache stands in front of.
pub struct CachedPorts {
    pub catalog: Arc<dyn CatalogRepository>,
    pub seats: Arc<dyn SeatRepository>,
    pub payments: Arc<dyn PaymentRepository>,
    pub orders: Arc<dyn OrderRepository>,
}

/// Wraps the catalog in the read cache and the seat, payment and order ports in its
/// invalidation, unless `staleness` is zero (no cache).
pub fn with_read_cache(staleness: Duration, ports: CachedPorts) -> CachedPorts {
    if staleness.is_zero() {
        return ports;
    }
    let cache = Arc::new(ReadCache::new(staleness, READ_CACHE_BYTES));
    CachedPorts {
        catalog: Arc::new(CachedCatalog::new(ports.catalog, cache.clone())),
        seats: Arc::new(InvalidatingSeats::new(ports.seats, cache.clone())),
        payments: Arc::new(InvalidatingPayments::new(ports.payments, cache.clone())),
        orders: Arc::new(InvalidatingOrders::new(ports.orders, cache)),
    }
}

/// Everything wired: the use cases, the rest of the app data, and what the background
/// tasks work on.
pub struct Wired {
    pub state: web::Data<AppState>,
    pub data: AppData,
    pub background: Background,
}

/// The app data of the HTTP app besides [`AppState`], cloned into each worker's app.
#[derive(Clone)]
pub struct AppData {
    pub auth: web::Data<Auth>,
    signer: web::Data<AdmissionSigner>,
    pow: web::Data<PowGate>,
    tickets: web::Data<frontrow_domain::tickets::Tickets>,
    returns: web::Data<frontrow_domain::returns::Returns>,
    credentials: web::Data<Credentials>,
    passkeys: web::Data<Passkeys>,
    /// `None` when `limits.enabled` is false.
    limits: Option<web::Data<Limits>>,
}

impl AppData {
    /// Adds this app data to `app`.
    pub fn attach<T>(&self, app: App<T>) -> App<T>
    where
        T: ServiceFactory<ServiceRequest, Config = (), Error = actix_web::Error, InitError = ()>,
    {
        let app = app
            .app_data(self.signer.clone())
            .app_data(self.pow.clone())
            .app_data(self.tickets.clone())
            .app_data(self.returns.clone())
            .app_data(self.credentials.clone())
            .app_data(self.passkeys.clone());
        match &self.limits {
            Some(l) => app.app_data(l.clone()),
            None => app,
        }
    }
}

/// Wires the use cases over `store` and `queue`, and the app data.
pub async fn wire(
    settings: &Settings,
    store: &SeaOrmStore,
    queue: &QueueBackend,
) -> anyhow::Result<Wired> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let repos = store.ports();
    let (ports, orders) = ports(settings, &repos, queue, clock.clone());
    // The one waiting room: the queue handlers, the booking gate and the ticker;
    // admission capped by the concert's free seats.
    let room = WaitingRoom::new(ports.queue.clone(), ports.catalog.clone(), clock.clone())
        .with_inventory(ports.seats.clone())
        .with_retirement(settings.queue.retire_after_seconds)
        .with_draw_archive(repos.draws.clone());
    let mut state = app_state(settings, &repos, &ports, orders, &room);
    state.probes = probes(store, queue);
    let state = web::Data::new(state);
    let (credentials, passkeys) = accounts(settings, store, clock.clone())?;
    let limits = rate_limits(settings, queue);
    let data = AppData {
        auth: web::Data::new(auth(settings, credentials.clone().into_inner()).await?),
        signer: web::Data::new(
            AdmissionSigner::from_settings(&settings.admission)
                .context("cannot set up admission passes (admission.signing_key)")?,
        ),
        pow: web::Data::new(PowGate::new(
            settings.auth.jwt_secret.expose_secret().as_bytes(),
            Duration::from_secs(settings.pow.challenge_ttl_seconds),
            queue.redis().map(|q| q as _),
        )),
        tickets: tickets(settings, &repos, &ports)?,
        returns: web::Data::new(frontrow_domain::returns::Returns::new(
            repos.returns.clone(),
            room.clone(),
            clock,
            settings.returns_policy(),
        )),
        credentials,
        passkeys,
        limits: limits.clone(),
    };
    let background = Background {
        room,
        ports,
        boxoffice: state.boxoffice.clone(),
        limits: limits.map(web::Data::into_inner),
    };
    Ok(Wired {
        state,
        data,
        background,
    })
}

/// The domain's ports: the store's repositories behind the read cache, and the queue
/// with measured waiting times; and the orders behind the cache's invalidation.
fn ports(
    settings: &Settings,
    repos: &StorePorts,
    queue: &QueueBackend,
    clock: Arc<dyn Clock>,
) -> (Ports, Arc<dyn OrderRepository>) {
    let CachedPorts {
        catalog,
        seats,
        payments,
        orders,
    } = with_read_cache(
        Duration::from_millis(settings.booking.seat_map_cache_ms),
        CachedPorts {
            catalog: repos.catalog.clone(),
            seats: repos.seats.clone(),
            payments: repos.payments.clone(),
            orders: repos.orders.clone(),
        },
    );
    let ports = Ports {
        clock,
        users: repos.users.clone(),
        catalog,
        seats,
        wallets: repos.wallets.clone(),
        payments,
        queue: Arc::new(crate::eta::MeasuredEtas::new(queue.port())),
    };
    (ports, orders)
}

/// The use cases the handlers share (no probes yet: the caller adds them).
fn app_state(
    settings: &Settings,
    repos: &StorePorts,
    ports: &Ports,
    orders: Arc<dyn OrderRepository>,
    room: &WaitingRoom,
) -> AppState {
    let clock = ports.clock.clone();
    let boxoffice = BoxOffice::new(
        ports.catalog.clone(),
        orders,
        room.clone(),
        clock.clone(),
        settings.order_policy(),
    );
    AppState {
        accounts: Accounts::new(
            ports.users.clone(),
            ports.wallets.clone(),
            clock.clone(),
            settings.max_charge(),
        ),
        catalog: Catalog::new(ports.catalog.clone(), clock.clone()),
        booking: Booking::new(ports.seats.clone(), boxoffice.clone(), clock.clone()),
        boxoffice,
        room: room.clone(),
        clock: clock.clone(),
        probes: Vec::new(),
        metrics: telemetry::metrics_handle(),
        queue_idle_timeout_seconds: settings.queue.idle_timeout_seconds,
        sales: frontrow_domain::sales::Sales::new(
            ports.catalog.clone(),
            ports.payments.clone(),
            repos.orders.clone(),
            clock,
        ),
    }
}

/// Sign-up, sign-in and sessions, and the passkey ceremonies, on the SQL store.
fn accounts(
    settings: &Settings,
    store: &SeaOrmStore,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<(web::Data<Credentials>, web::Data<Passkeys>)> {
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
    let passkeys = Passkeys::new(&settings.accounts, store, clock)
        .context("cannot set up passkeys (accounts.passkey_*)")?;
    Ok((web::Data::new(credentials), web::Data::new(passkeys)))
}

/// Access tokens: the built-in ones over `credentials`' sessions, and the identity
/// provider's when `auth.jwks_url` is set (its keys loaded now if it answers).
async fn auth(settings: &Settings, credentials: Arc<Credentials>) -> anyhow::Result<Auth> {
    let a = &settings.auth;
    let auth = Auth::new(&a.jwt_secret, a.admin_key.clone(), a.token_ttl_seconds)
        .with_signup(a.signup)
        .with_credentials(credentials);
    if !a.signup {
        tracing::info!("the built-in sign-up is off (auth.signup = false)");
    }
    let Some(url) = settings.jwks_url() else {
        return Ok(auth);
    };
    let idp = crate::guard::identity::IdentityProvider::new(
        url,
        a.issuer.as_deref().unwrap_or_default(),
        a.audience.as_deref().unwrap_or_default(),
        Duration::from_secs(a.jwks_cache_seconds),
        Duration::from_secs(a.jwks_min_refresh_seconds),
        settings.jwks_ca_file(),
    )
    .context("cannot set up the identity provider (auth.jwks_url)")?;
    // A provider that is down at start is tried again on the first token.
    match idp.load().await {
        Ok(n) => tracing::info!(keys = n, "identity provider keys loaded"),
        Err(e) => tracing::warn!(error = %e, "cannot load the identity provider's keys yet"),
    }
    Ok(auth.with_identity_provider(Arc::new(idp)))
}

/// The rate limits, shared through Redis when the queue is there; `None` when off.
fn rate_limits(settings: &Settings, queue: &QueueBackend) -> Option<web::Data<Limits>> {
    let limits = Limits::new(&settings.limits, queue.redis().map(|q| q as _)).map(web::Data::new);
    if limits.is_none() {
        tracing::warn!("rate limits are off (limits.enabled = false)");
    }
    limits
}

/// Tickets: signed with the current key, checked against every configured one.
fn tickets(
    settings: &Settings,
    repos: &StorePorts,
    ports: &Ports,
) -> anyhow::Result<web::Data<frontrow_domain::tickets::Tickets>> {
    let (signer, keys) = crate::ticketing::keys_from_settings(&settings.tickets)
        .context("cannot set up ticket codes (tickets.signing_keys)")?;
    Ok(web::Data::new(frontrow_domain::tickets::Tickets::new(
        repos.tickets.clone(),
        ports.catalog.clone(),
        Arc::new(signer),
        Arc::new(keys),
        ports.clock.clone(),
        settings.tickets.policy(),
    )))
}
