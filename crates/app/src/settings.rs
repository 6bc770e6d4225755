//! Settings: `config/base.toml`, then `config/<FRONTROW_ENVIRONMENT>.toml`, then
//! environment variables `FRONTROW__SECTION__KEY`, each layer over the previous one,
//! over built-in defaults. Nothing is global: `Settings` is passed into `Application`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use config::builder::DefaultState;
use config::{Config, ConfigBuilder, Environment, File, Map};
use frontrow_domain::boxoffice::OrderPolicy;
use frontrow_domain::model::Money;
use frontrow_domain::queue::{QueuePolicy, QueueSettings, TokenKey};
use secrecy::{ExposeSecret, SecretString};

use crate::settings_table::SETTINGS;
use serde::{Deserialize, Serialize, Serializer};

/// Development-only defaults; start-up warns when they are in use.
pub const DEV_JWT_SECRET: &str = "frontrow-dev-secret-change-me";
pub const DEV_ADMIN_KEY: &str = "frontrow-dev-admin-key";

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub auth: AuthSettings,
    pub booking: BookingSettings,
    pub queue: QueueSettingsToml,
    pub telemetry: TelemetrySettings,
    pub limits: LimitsSettings,
    pub admission: AdmissionSettings,
    pub pow: PowSettings,
    pub tickets: crate::ticketing::TicketSettings,
    pub accounts: crate::accounts::AccountsSettings,
    pub returns: crate::returns::ReturnsSettings,
    pub waitlist: crate::returns::WaitlistSettings,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Address to listen on (`127.0.0.1:8080`; port 0 picks a free one).
    pub bind: String,
    /// actix worker threads (0 = two per core, see [`HttpSettings::worker_threads`]).
    pub workers: usize,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_timeout_seconds: u64,
    /// How long an idle keep-alive connection stays open. Longer than clients' pauses
    /// between polls, so a reused connection is not closed under a request in flight.
    pub keep_alive_seconds: u64,
    /// How long a new connection may take to send its first request's headers before it
    /// is answered 408 (a guard against slow clients holding connections open).
    pub client_request_timeout_ms: u64,
}

impl HttpSettings {
    /// The worker threads to start: `workers`, or two per core when it is 0. Two per core
    /// measured better than one, both on cores shared with other processes (status polls
    /// under wrk on this 2-core machine: 0.66 → 0.77 of a same-run nginx) and on a core
    /// of its own (55k → 60k answers/s): a worker whose thread the kernel parks leaves
    /// its connections to wait, and a second thread per core picks up the work.
    pub fn worker_threads(&self) -> usize {
        if self.workers > 0 {
            return self.workers;
        }
        std::thread::available_parallelism().map_or(2, |n| n.get() * 2)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://frontrow.db?mode=rwc`, `mysql://user:pass@host:3306/db`, `postgres://…`.
    #[serde(serialize_with = "redacted")]
    pub url: SecretString,
    pub max_connections: u32,
    pub connect_timeout_ms: u64,
    pub acquire_timeout_ms: u64,
    pub seat_claim: SeatClaimSetting,
}

/// How an order claims its seats (`database.seat_claim`); see `frontrow_seaorm::SeatClaim`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SeatClaimSetting {
    /// A conditional update over the order's free seats (waits for a concurrent claim).
    Conditional,
    /// `FOR UPDATE SKIP LOCKED` first (refused at once when a seat is being claimed).
    SkipLocked,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://127.0.0.1:6379`. Empty: the in-process `MemoryQueue` (one node only).
    #[serde(serialize_with = "redacted")]
    pub url: Option<SecretString>,
    /// Prefix of every key frontrow writes.
    pub key_prefix: String,
    /// Upper bound of one Redis call; past it the call answers 503.
    pub timeout_ms: u64,
    /// How often each instance reads the lines' new events into its local view (the
    /// view that answers status polls without a Redis call).
    pub view_sync_ms: u64,
    /// A view whose last complete read is older than this answers 503 + Retry-After
    /// instead of a stale position.
    pub view_max_lag_ms: u64,
    /// Redis Cluster: `url` is then a comma-separated list of seed nodes.
    pub cluster: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// HS256 secret of user access tokens (at least 16 bytes).
    #[serde(serialize_with = "redacted")]
    pub jwt_secret: SecretString,
    /// Value of the `X-Admin-Key` header for operator endpoints (at least 16 bytes).
    #[serde(serialize_with = "redacted")]
    pub admin_key: SecretString,
    /// Lifetime of an access token.
    pub token_ttl_seconds: u64,
    /// The operator's identity provider: its JWKS document (`https://…` or `file://…`).
    /// Set, bearer tokens it signs (RS256, ES256, EdDSA) are accepted; their `sub` is a
    /// frontrow user, created on first sight.
    pub jwks_url: Option<String>,
    /// The `iss` those tokens must carry (required with `jwks_url`).
    pub issuer: Option<String>,
    /// The `aud` those tokens must carry (required with `jwks_url`).
    pub audience: Option<String>,
    /// Longest life of the fetched keys before they are fetched again.
    pub jwks_cache_seconds: u64,
    /// An unknown `kid` fetches the keys again at most this often (a rotation is picked
    /// up at once; a flood of made-up `kid`s costs one fetch per interval).
    pub jwks_min_refresh_seconds: u64,
    /// PEM bundle of root certificates trusted for an `https://` `jwks_url`, besides the
    /// system's (a private CA).
    pub jwks_ca_file: Option<String>,
    /// The built-in sign-up (`POST /api/v1/users`, HS256 tokens); false answers it 403.
    pub signup: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BookingSettings {
    pub hold_ttl_seconds: u64,
    /// Gone: a one-seat hold is an order of one, limited by `max_tickets_per_fan`.
    /// Still read so an old configuration starts (with a warning), never written.
    #[serde(default, skip_serializing)]
    pub max_held_per_user: Option<u32>,
    /// Largest single wallet charge, in minor units.
    pub max_charge: i64,
    /// How often the sweeper frees expired holds.
    pub sweep_interval_ms: u64,
    /// Longest life of a cached seat map / availability / concert answer (0 = no cache).
    /// Every booking write through an instance drops the answers it changed at once.
    pub seat_map_cache_ms: u64,
    /// How much longer a fan may keep a hold, once (0 = holds cannot be extended).
    pub hold_extension_seconds: u64,
    /// The most tickets in one order.
    pub max_tickets_per_order: u32,
    /// The most tickets one fan may hold or have bought per schedule, across orders.
    pub max_tickets_per_fan: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSettingsToml {
    /// Default policy of a concert no operator configured.
    pub max_active: u64,
    pub admit_per_second: u64,
    pub active_ttl_seconds: u64,
    /// A waiting fan who has not polled for this long leaves the line.
    pub idle_timeout_seconds: u64,
    /// Period of the admission ticker.
    pub tick_interval_ms: u64,
    /// Default fans admitted per free seat (inventory-aware admission).
    pub admit_per_seat: f64,
    /// A closed line retires (its state deleted) this long after closing.
    pub retire_after_seconds: u64,
}

/// One rate: `per_minute` requests a minute on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_minute: u32,
    pub burst: u32,
}

impl Rate {
    /// The time one request costs.
    pub fn period(self) -> Duration {
        Duration::from_nanos(60_000_000_000 / u64::from(self.per_minute.max(1)))
    }
}

/// Rate limits per route class (see `crate::limits`): per client address, and per user
/// where the route takes an access token.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSettings {
    /// False turns every limit off (load tests from one address need that).
    pub enabled: bool,
    /// Proxies whose `X-Forwarded-For` is believed: addresses or CIDR networks,
    /// comma-separated. Empty: the socket's peer is the client.
    pub trusted_proxies: String,
    pub signup_per_minute: u32,
    pub signup_burst: u32,
    /// Sign-in attempts (password and passkey) per address.
    pub signin_per_minute: u32,
    pub signin_burst: u32,
    pub enter_per_minute: u32,
    pub enter_burst: u32,
    pub enter_user_per_minute: u32,
    pub enter_user_burst: u32,
    pub status_per_minute: u32,
    pub status_burst: u32,
    pub booking_per_minute: u32,
    pub booking_burst: u32,
    pub booking_user_per_minute: u32,
    pub booking_user_burst: u32,
    pub admin_per_minute: u32,
    pub admin_burst: u32,
}

impl LimitsSettings {
    pub fn signup(&self) -> Rate {
        Rate {
            per_minute: self.signup_per_minute,
            burst: self.signup_burst,
        }
    }
    pub fn signin(&self) -> Rate {
        Rate {
            per_minute: self.signin_per_minute,
            burst: self.signin_burst,
        }
    }
    pub fn enter(&self) -> Rate {
        Rate {
            per_minute: self.enter_per_minute,
            burst: self.enter_burst,
        }
    }
    pub fn enter_user(&self) -> Rate {
        Rate {
            per_minute: self.enter_user_per_minute,
            burst: self.enter_user_burst,
        }
    }
    pub fn status(&self) -> Rate {
        Rate {
            per_minute: self.status_per_minute,
            burst: self.status_burst,
        }
    }
    pub fn booking(&self) -> Rate {
        Rate {
            per_minute: self.booking_per_minute,
            burst: self.booking_burst,
        }
    }
    pub fn booking_user(&self) -> Rate {
        Rate {
            per_minute: self.booking_user_per_minute,
            burst: self.booking_user_burst,
        }
    }
    pub fn admin(&self) -> Rate {
        Rate {
            per_minute: self.admin_per_minute,
            burst: self.admin_burst,
        }
    }
}

/// The admission pass: an ES256 JWT in the status answer while a fan is active.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdmissionSettings {
    /// PKCS#8 PEM of the P-256 private key that signs passes. Unset: a key is generated
    /// at start (with a warning): passes then verify only against this one instance's
    /// `/.well-known/jwks.json`, and not after a restart.
    #[serde(serialize_with = "redacted")]
    pub signing_key: Option<SecretString>,
    /// The passes' `iss`.
    pub issuer: String,
}

/// Proof-of-work on enter (difficulty per concert: the queue policy's `pow_difficulty`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PowSettings {
    /// How long a challenge may be solved and used.
    pub challenge_ttl_seconds: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    /// One JSON object per log line instead of human-readable text.
    pub json: bool,
    /// Log filter when `RUST_LOG` is not set.
    pub log_filter: String,
    /// Serve `/metrics` on this address alone (its own listener, off the public one);
    /// unset, it is served with the API on `http.bind`.
    pub metrics_bind: Option<String>,
}

/// The secrets' place in the serialized settings (bounds and key checks need the
/// structure, never the value).
pub(crate) fn redacted<T, S: Serializer>(_: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str("[redacted]")
}

impl Default for Settings {
    /// The settings table's defaults ([`crate::settings_table`]), nothing else.
    fn default() -> Self {
        #[allow(clippy::expect_used)] // the table's own test proves they deserialize
        Settings::from_builder(Settings::with_defaults(Config::builder()))
            .expect("the settings table's defaults are settings")
    }
}

/// Error of loading settings: one line naming the key and the problem.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting: {0}")]
pub struct SettingsError(pub String);

impl Settings {
    /// Loads the layers from `config_dir` (files are optional) and the environment.
    pub fn load(config_dir: &Path) -> Result<Settings, SettingsError> {
        Self::load_with_env(config_dir, None)
    }

    /// As [`Settings::load`], with `vars` in place of the process environment when given
    /// (to check the variables a deployment file sets).
    pub fn load_with_env(
        config_dir: &Path,
        vars: Option<Map<String, String>>,
    ) -> Result<Settings, SettingsError> {
        let mut builder = Self::with_defaults(Config::builder())
            .add_source(File::from(config_dir.join("base.toml")).required(false));
        if let Ok(env) = std::env::var("FRONTROW_ENVIRONMENT") {
            builder = builder
                .add_source(File::from(config_dir.join(format!("{env}.toml"))).required(false));
        }
        builder = builder.add_source(
            Environment::with_prefix("FRONTROW")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(vars),
        );
        let settings = Self::from_builder(builder)?;
        settings.validate()?;
        Ok(settings)
    }

    /// `builder` with the settings table's defaults as its lowest layer.
    fn with_defaults(mut builder: ConfigBuilder<DefaultState>) -> ConfigBuilder<DefaultState> {
        for s in SETTINGS {
            if let Some(value) = s.value() {
                // A key of the table is a valid path: set_default cannot fail on it.
                builder = match builder.set_default(s.key, value) {
                    Ok(b) => b,
                    Err(_) => unreachable!("{} is not a config path", s.key),
                };
            }
        }
        builder
    }

    fn from_builder(builder: ConfigBuilder<DefaultState>) -> Result<Settings, SettingsError> {
        builder
            .build()
            .and_then(Config::try_deserialize)
            .map_err(|e| SettingsError(e.to_string()))
    }

    /// The settings as a tree of values (secrets redacted), for checks by key.
    fn as_tree(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Checks values that parse but make no sense: first the bounds of the settings
    /// table, then what depends on several settings or on a value's form.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let bad = |key: &str, why: &str| Err(SettingsError(format!("{key}: {why}")));
        let tree = self.as_tree();
        for s in SETTINGS {
            let path = format!("/{}", s.key.replace('.', "/"));
            if let Some(why) = tree
                .pointer(&path)
                .and_then(serde_json::Value::as_f64)
                .and_then(|v| s.out_of_bounds(v))
            {
                return bad(&format!("{} ({})", s.key, s.env()), &why);
            }
        }
        if self.http.bind.parse::<SocketAddr>().is_err() {
            return bad(
                "http.bind (FRONTROW__HTTP__BIND)",
                &format!("{:?} is not an address like 127.0.0.1:8080", self.http.bind),
            );
        }
        if let Some(bind) = self.metrics_bind()
            && bind.parse::<SocketAddr>().is_err()
        {
            return bad(
                "telemetry.metrics_bind (FRONTROW__TELEMETRY__METRICS_BIND)",
                &format!("{bind:?} is not an address like 127.0.0.1:9090"),
            );
        }
        let url = self.database.url.expose_secret();
        if !(url.starts_with("sqlite:")
            || url.starts_with("mysql://")
            || url.starts_with("mariadb://")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return bad(
                "database.url (FRONTROW__DATABASE__URL)",
                "must start with sqlite:, mysql://, postgres:// or postgresql://",
            );
        }
        self.validate_redis()?;
        if self.redis.view_sync_ms == 0 || self.redis.view_sync_ms >= self.redis.view_max_lag_ms {
            return bad(
                "redis.view_sync_ms",
                "must be at least 1 and below redis.view_max_lag_ms",
            );
        }
        if self.auth.jwt_secret.expose_secret().len() < 16 {
            return bad(
                "auth.jwt_secret (FRONTROW__AUTH__JWT_SECRET)",
                "must be at least 16 bytes",
            );
        }
        if self.auth.admin_key.expose_secret().len() < 16 {
            return bad(
                "auth.admin_key (FRONTROW__AUTH__ADMIN_KEY)",
                "must be at least 16 bytes",
            );
        }
        self.queue_settings()
            .default_policy
            .validate()
            .map_err(|e| SettingsError(format!("queue.{e}")))?;
        self.validate_abuse()
    }

    /// The Redis URL's form: a known scheme, and one node unless `redis.cluster`.
    fn validate_redis(&self) -> Result<(), SettingsError> {
        let bad = |key: &str, why: &str| Err(SettingsError(format!("{key}: {why}")));
        let Some(u) = &self.redis.url else {
            return Ok(());
        };
        let u = u.expose_secret();
        let known = ["redis://", "rediss://", "unix://"];
        if !u.is_empty() && !known.iter().any(|p| u.starts_with(p)) {
            return bad(
                "redis.url (FRONTROW__REDIS__URL)",
                "must start with redis://, rediss:// or unix://",
            );
        }
        if !self.redis.cluster && u.contains(',') {
            return bad(
                "redis.url (FRONTROW__REDIS__URL)",
                "lists several nodes: set FRONTROW__REDIS__CLUSTER=true for a Redis Cluster",
            );
        }
        if self.redis.cluster
            && self.redis_seeds().iter().any(|seed| {
                !["redis://", "rediss://"]
                    .iter()
                    .any(|p| seed.starts_with(p))
            })
        {
            return bad(
                "redis.url (FRONTROW__REDIS__URL)",
                "with redis.cluster, must list nodes as redis://host:port (or rediss://), \
                 comma-separated",
            );
        }
        Ok(())
    }

    /// Limits, identity provider, admission pass, proof-of-work.
    fn validate_abuse(&self) -> Result<(), SettingsError> {
        let bad = |key: &str, why: &str| Err(SettingsError(format!("{key}: {why}")));
        if let Err(e) = crate::guard::limits::parse_proxies(&self.limits.trusted_proxies) {
            return bad(
                "limits.trusted_proxies (FRONTROW__LIMITS__TRUSTED_PROXIES)",
                &e,
            );
        }
        if let Some(url) = self.jwks_url() {
            if !(url.starts_with("https://") || url.starts_with("file://")) {
                return bad(
                    "auth.jwks_url (FRONTROW__AUTH__JWKS_URL)",
                    "must start with https:// or file://",
                );
            }
            let missing = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
            if missing(&self.auth.issuer) || missing(&self.auth.audience) {
                return bad(
                    "auth.issuer / auth.audience (FRONTROW__AUTH__ISSUER, FRONTROW__AUTH__AUDIENCE)",
                    "both are required with auth.jwks_url",
                );
            }
        }
        if self.tickets.valid_before_start_minutes == 0
            && self.tickets.valid_after_start_minutes == 0
        {
            return bad(
                "tickets.valid_before_start_minutes / tickets.valid_after_start_minutes",
                "cannot both be 0 (no moment a ticket would be valid)",
            );
        }
        self.accounts.validate().map_err(SettingsError)
    }

    /// The address of the metrics listener, when `/metrics` has its own.
    pub fn metrics_bind(&self) -> Option<&str> {
        self.telemetry
            .metrics_bind
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())
    }

    /// The CA bundle trusted for the identity provider's JWKS, when one is configured.
    pub fn jwks_ca_file(&self) -> Option<&std::path::Path> {
        self.auth
            .jwks_ca_file
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(std::path::Path::new)
    }

    /// The identity provider's JWKS URL, when one is configured.
    pub fn jwks_url(&self) -> Option<&str> {
        self.auth
            .jwks_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
    }

    pub fn redis_url(&self) -> Option<&str> {
        self.redis
            .url
            .as_ref()
            .map(|u| u.expose_secret())
            .filter(|u| !u.trim().is_empty())
    }

    /// The nodes listed in `redis.url` (one, or a Cluster's seeds), trimmed.
    pub fn redis_seeds(&self) -> Vec<String> {
        self.redis_url()
            .map(|u| {
                u.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn uses_dev_secrets(&self) -> bool {
        self.auth.jwt_secret.expose_secret() == DEV_JWT_SECRET
            || self.auth.admin_key.expose_secret() == DEV_ADMIN_KEY
    }

    /// The rules of returns and the waiting list (`returns`, `waitlist`).
    pub fn returns_policy(&self) -> frontrow_domain::returns::ReturnsPolicy {
        crate::returns::policy(
            &self.returns,
            &self.waitlist,
            self.booking.max_tickets_per_order,
        )
    }

    /// The box office's limits; holds last as long as booking holds.
    pub fn order_policy(&self) -> OrderPolicy {
        OrderPolicy {
            hold_ttl: chrono::Duration::seconds(self.booking.hold_ttl_seconds as i64),
            max_tickets_per_order: self.booking.max_tickets_per_order,
            max_tickets_per_fan: self.booking.max_tickets_per_fan,
            hold_extension: chrono::Duration::seconds(self.booking.hold_extension_seconds as i64),
        }
    }

    /// The largest single wallet charge. `validate` refuses a non-positive setting; were
    /// it skipped, a negative one reads as zero, which refuses every charge.
    pub fn max_charge(&self) -> Money {
        Money::new(self.booking.max_charge).unwrap_or(Money::ZERO)
    }

    pub fn queue_settings(&self) -> QueueSettings {
        QueueSettings {
            default_policy: QueuePolicy {
                max_active: self.queue.max_active,
                admit_per_second: self.queue.admit_per_second,
                active_ttl_seconds: self.queue.active_ttl_seconds,
                paused: false,
                sale_opens_at: None,
                admit_per_seat: self.queue.admit_per_seat,
                pow_difficulty: 0,
            },
            idle_timeout_seconds: self.queue.idle_timeout_seconds,
            // Queue tokens are signed with a key derived from the access-token secret,
            // which every instance of a deployment shares.
            token_key: TokenKey::derive(self.auth.jwt_secret.expose_secret().as_bytes()),
            ..QueueSettings::default()
        }
    }

    pub fn tick_interval(&self) -> Duration {
        Duration::from_millis(self.queue.tick_interval_ms)
    }

    pub fn sweep_interval(&self) -> Duration {
        Duration::from_millis(self.booking.sweep_interval_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leaves of a settings tree, as `section.key`.
    fn leaves(tree: &serde_json::Value) -> Vec<String> {
        let mut out = Vec::new();
        for (section, keys) in tree.as_object().expect("sections") {
            for key in keys.as_object().expect("keys").keys() {
                out.push(format!("{section}.{key}"));
            }
        }
        out.sort();
        out
    }

    #[test]
    fn the_table_names_every_setting_and_nothing_else() {
        let mut table: Vec<String> = SETTINGS.iter().map(|s| s.key.to_owned()).collect();
        table.sort();
        assert_eq!(leaves(&Settings::default().as_tree()), table);
    }

    #[test]
    fn the_table_s_defaults_are_the_domain_s() {
        let d = Settings::default();
        let q = QueuePolicy::default();
        assert_eq!(
            (
                d.queue.max_active,
                d.queue.admit_per_second,
                d.queue.active_ttl_seconds
            ),
            (q.max_active, q.admit_per_second, q.active_ttl_seconds)
        );
        assert_eq!(d.queue.admit_per_seat, q.admit_per_seat);
        assert_eq!(
            d.queue.retire_after_seconds,
            frontrow_domain::lifecycle::DEFAULT_RETIRE_AFTER_SECONDS
        );
        assert_eq!(
            d.max_charge(),
            frontrow_domain::accounts::DEFAULT_MAX_CHARGE
        );
        assert_eq!(
            (
                d.accounts.password_memory_kib,
                d.accounts.password_iterations
            ),
            (
                argon2::Params::DEFAULT_M_COST,
                argon2::Params::DEFAULT_T_COST
            )
        );
        assert_eq!(d.http.worker_threads(), {
            std::thread::available_parallelism().map_or(2, |n| n.get() * 2)
        });
    }

    #[test]
    fn a_value_out_of_the_table_s_bounds_names_key_and_variable() {
        let vars = [(
            "FRONTROW__BOOKING__MAX_TICKETS_PER_ORDER".to_owned(),
            "101".to_owned(),
        )];
        let e =
            Settings::load_with_env(Path::new("/nonexistent"), Some(vars.into_iter().collect()))
                .unwrap_err()
                .to_string();
        assert_eq!(
            e,
            "invalid setting: booking.max_tickets_per_order \
             (FRONTROW__BOOKING__MAX_TICKETS_PER_ORDER): must be between 1 and 100"
        );
        let mut s = Settings::default();
        s.limits.status_burst = 0;
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("FRONTROW__LIMITS__STATUS_BURST")
        );
    }

    #[test]
    fn the_book_s_settings_table_is_the_table() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/src/operator/configuration.md");
        let book = std::fs::read_to_string(&path).expect("the configuration chapter");
        let (begin, end) = (
            "<!-- settings table: begin -->\n",
            "<!-- settings table: end -->",
        );
        let start = book.find(begin).expect("the begin marker") + begin.len();
        let stop = book.find(end).expect("the end marker");
        let table = crate::settings_table::markdown_table();
        if std::env::var_os("FRONTROW_UPDATE_DOCS").is_some() {
            let new = format!("{}{table}{}", &book[..start], &book[stop..]);
            std::fs::write(&path, new).expect("rewrite the chapter");
            return;
        }
        assert!(
            book[start..stop] == table,
            "docs/src/operator/configuration.md's table is not crates/app/src/settings_table.rs; \
             rewrite it: FRONTROW_UPDATE_DOCS=1 cargo test -p frontrow-app --lib settings"
        );
    }

    #[test]
    fn defaults_are_valid() {
        Settings::default().validate().expect("defaults valid");
        assert!(Settings::default().uses_dev_secrets());
    }

    #[test]
    fn a_bad_bind_names_its_key() {
        let mut s = Settings::default();
        s.http.bind = "nonsense".into();
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("FRONTROW__HTTP__BIND"), "{e}");
    }

    #[test]
    fn the_shipped_base_toml_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        assert!(dir.join("base.toml").exists());
        let s = Settings::load(&dir).expect("config/base.toml is valid");
        assert_eq!(s.queue.tick_interval_ms, 100);
    }

    #[test]
    fn several_redis_nodes_need_cluster_mode_and_cluster_mode_needs_node_urls() {
        let mut s = Settings::default();
        s.redis.url = Some(SecretString::from("redis://a:7000, redis://b:7001"));
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("FRONTROW__REDIS__CLUSTER=true"), "{e}");
        s.redis.cluster = true;
        s.validate().expect("two seeds in cluster mode");
        assert_eq!(s.redis_seeds(), ["redis://a:7000", "redis://b:7001"]);
        s.redis.url = Some(SecretString::from("redis://a:7000,unix:///tmp/r.sock"));
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("FRONTROW__REDIS__URL"), "{e}");
    }

    #[test]
    fn a_short_secret_is_refused() {
        let mut s = Settings::default();
        s.auth.jwt_secret = SecretString::from("short");
        assert!(s.validate().unwrap_err().to_string().contains("jwt_secret"));
    }
}
