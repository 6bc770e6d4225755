//! Every setting, once: its key, default, bounds and meaning. This one table drives the
//! built-in defaults (`Settings::default()` and the base layer of `Settings::load` are
//! read from it), the bounds `Settings::validate` checks, `frontrow --help`, and the
//! table in the book's configuration chapter (`docs/src/operator/configuration.md`,
//! checked by a test and rewritten with `FRONTROW_UPDATE_DOCS=1`).
//!
//! Checks across several settings (one below another, an address that parses, a URL's
//! scheme) stay in `Settings::validate`.

use std::fmt::Write;

/// What a setting is when nothing sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// This value (as its TOML/environment text).
    Value(&'static str),
    /// A development value: set here, shown as `shown`, and start-up warns when in use.
    Development {
        value: &'static str,
        shown: &'static str,
    },
    /// Nothing: the feature it configures is off, or the value is generated at start.
    Unset(&'static str),
}

/// One setting.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// `section.key`, as in `config/base.toml`.
    pub key: &'static str,
    pub default: DefaultValue,
    /// Inclusive bounds of a number, checked by `Settings::validate`.
    pub min: Option<i64>,
    pub max: Option<i64>,
    /// One line for `frontrow --help`.
    pub help: &'static str,
    /// The book's text (Markdown); empty: `help`.
    pub doc: &'static str,
}

impl Setting {
    /// The environment variable: `FRONTROW__SECTION__KEY`.
    pub fn env(&self) -> String {
        format!("FRONTROW__{}", self.key.to_uppercase().replace('.', "__"))
    }

    /// The default as `--help` and the book show it.
    pub fn shown_default(&self) -> &'static str {
        match self.default {
            DefaultValue::Value(v) => v,
            DefaultValue::Development { shown, .. } => shown,
            DefaultValue::Unset(why) => why,
        }
    }

    /// The value the base layer sets, if any.
    pub fn value(&self) -> Option<&'static str> {
        match self.default {
            DefaultValue::Value(v) | DefaultValue::Development { value: v, .. } => Some(v),
            DefaultValue::Unset(_) => None,
        }
    }

    /// Why `value` is out of bounds, if it is.
    pub fn out_of_bounds(&self, value: f64) -> Option<String> {
        let below = self.min.is_some_and(|m| value < m as f64);
        let above = self.max.is_some_and(|m| value > m as f64);
        if !(below || above) {
            return None;
        }
        Some(match (self.min, self.max) {
            (Some(lo), Some(hi)) => format!("must be between {lo} and {hi}"),
            (Some(lo), None) => format!("must be at least {lo}"),
            (None, Some(hi)) => format!("must be at most {hi}"),
            (None, None) => unreachable!("checked above"),
        })
    }

    fn bounds_text(&self) -> Option<String> {
        match (self.min, self.max) {
            (Some(lo), Some(hi)) => Some(format!("{lo}–{hi}")),
            (Some(lo), None) => Some(format!("≥ {lo}")),
            (None, Some(hi)) => Some(format!("≤ {hi}")),
            (None, None) => None,
        }
    }
}

const fn s(key: &'static str, default: DefaultValue, help: &'static str) -> Setting {
    Setting {
        key,
        default,
        min: None,
        max: None,
        help,
        doc: "",
    }
}

const fn v(value: &'static str) -> DefaultValue {
    DefaultValue::Value(value)
}

const UNSET: DefaultValue = DefaultValue::Unset("unset");

impl Setting {
    const fn at_least(mut self, min: i64) -> Setting {
        self.min = Some(min);
        self
    }
    const fn between(mut self, min: i64, max: i64) -> Setting {
        self.min = Some(min);
        self.max = Some(max);
        self
    }
    const fn doc(mut self, doc: &'static str) -> Setting {
        self.doc = doc;
        self
    }
}

/// Every setting, in the order `--help` and the book list them.
pub static SETTINGS: &[Setting] = &[
    s("http.bind", v("127.0.0.1:8080"), "listen address (port 0 picks a free one)"),
    s("http.workers", v("0"), "actix worker threads; 0 = two per core")
        .doc("actix worker threads; `0` starts two per core (measured faster than one per core, see [Current figures](../performance/figures.md#what-made-the-status-answer-cheaper))"),
    s("http.shutdown_timeout_seconds", v("10"), "grace period for in-flight requests"),
    s("http.keep_alive_seconds", v("75"), "idle keep-alive connection lifetime")
        .doc("idle keep-alive lifetime (longer than clients' pauses between polls)"),
    s("http.client_request_timeout_ms", v("5000"), "a new connection's first request headers within this, else 408"),
    s("database.url", DefaultValue::Value("sqlite://frontrow.db?mode=rwc"), "sqlite://…?mode=rwc | mysql://… | postgres://…")
        .doc("or `mysql://u:p@host:3306/db`, `postgres://u@host/db`"),
    s("database.max_connections", v("16"), "pool size").at_least(1),
    s("database.connect_timeout_ms", v("3000"), "bounded wait for a new connection"),
    s("database.acquire_timeout_ms", v("5000"), "bounded wait for a pooled connection"),
    s("database.seat_claim", v("conditional"), "conditional | skip-locked: how an order claims its seats")
        .doc("`conditional`: one conditional update over the order's free seats (a seat another order is claiming is waited for); `skip-locked`: `SELECT … FOR UPDATE SKIP LOCKED` first, refused at once instead (PostgreSQL, MariaDB/MySQL; SQLite claims conditionally). Compared in [Current figures](../performance/figures.md#the-box-office-at-a-stadium)"),
    s("redis.url", UNSET, "redis://host:port; unset = in-memory queue (one instance)")
        .doc("`redis://host:6379`; unset = in-memory queue (one instance only)"),
    s("redis.key_prefix", v("frontrow:"), "prefix of every Redis key"),
    s("redis.timeout_ms", v("500"), "bound of one Redis call, then 503").at_least(1),
    s("redis.view_sync_ms", v("50"), "how often the local line view reads events")
        .doc("how often each instance reads the lines' events into its local view (at least 1, below `VIEW_MAX_LAG_MS`)"),
    s("redis.view_max_lag_ms", v("2000"), "an older view answers 503, never a stale position")
        .doc("a view older than this (Redis unreachable) answers 503 + `Retry-After`, never a stale position"),
    s("redis.cluster", v("false"), "true: Redis Cluster, the URL lists seed nodes, comma-separated")
        .doc("`true`: Redis Cluster; `FRONTROW__REDIS__URL` is then a comma-separated list of seed nodes (`redis://h1:7000,redis://h2:7001`); see [Redis Cluster](redis-cluster.md)"),
    s("auth.jwt_secret", DefaultValue::Development { value: crate::settings::DEV_JWT_SECRET, shown: "dev value (warns)" }, "HS256 secret of access tokens (≥ 16 bytes)"),
    s("auth.admin_key", DefaultValue::Development { value: crate::settings::DEV_ADMIN_KEY, shown: "dev value (warns)" }, "X-Admin-Key of operator endpoints (≥ 16 bytes)")
        .doc("`X-Admin-Key` for operator endpoints, ≥ 16 bytes"),
    s("auth.token_ttl_seconds", v("86400"), "access token lifetime").at_least(1),
    s("auth.jwks_url", UNSET, "identity provider's keys, https://… or file://…")
        .doc("the identity provider's JWKS document, `https://…` or `file://…`: its RS256/ES256/EdDSA tokens are accepted (see [Identity](identity.md))"),
    s("auth.issuer", UNSET, "iss its tokens must carry (required with jwks_url)"),
    s("auth.audience", UNSET, "aud its tokens must carry (required with jwks_url)"),
    s("auth.jwks_cache_seconds", v("300"), "fetched keys are fetched again after").at_least(1),
    s("auth.jwks_min_refresh_seconds", v("30"), "an unknown kid refetches the keys at most this often"),
    s("auth.jwks_ca_file", UNSET, "PEM roots trusted for jwks_url besides the system's"),
    s("auth.signup", v("true"), "built-in sign-up (POST /users, passkey sign-up)")
        .doc("the built-in sign-ups, `POST /users` and the passkey sign-up (HS256 tokens); `false` answers them 403 `/problems/signup-disabled`"),
    s("accounts.password_memory_kib", v("19456"), "argon2id memory per password hash, KiB").between(1024, 1_048_576),
    s("accounts.password_iterations", v("2"), "argon2id passes").between(1, 16),
    s("accounts.passkey_rp_id", v("localhost"), "WebAuthn relying party id: the site's domain")
        .doc("WebAuthn relying party id: the site's domain, which passkeys are bound to"),
    s("accounts.passkey_origin", v("http://localhost:8080"), "origin of the fan page")
        .doc("the origin the fan page is served from (host = the RP id or under it)"),
    s("accounts.passkey_rp_name", v("frontrow"), "site name authenticators show"),
    s("accounts.passkey_ceremony_seconds", v("300"), "a passkey start must be finished within").between(10, 3600),
    s("booking.hold_ttl_seconds", v("300"), "how long a hold lasts").between(1, 86_400),
    s("booking.max_tickets_per_order", v("8"), "tickets in one order").between(1, 100),
    s("booking.max_tickets_per_fan", v("8"), "tickets a fan may hold or own per schedule, across orders").between(1, 1000),
    s("booking.max_charge", v("100000000"), "largest wallet charge, minor units").at_least(1),
    s("booking.sweep_interval_ms", v("1000"), "expired-hold sweeper period").at_least(1),
    s("booking.seat_map_cache_ms", v("250"), "life of a cached seat map, 0 = off")
        .doc("life of a cached seat map / availability answer (each booking write refreshes it); 0 = off"),
    s("booking.hold_extension_seconds", v("300"), "a hold may be extended once by this, 0 = off").between(0, 86_400)
        .doc("a fan may keep a live hold this much longer, once; 0 = holds cannot be extended"),
    s("queue.max_active", v("1000"), "default max active fans per concert"),
    s("queue.admit_per_second", v("100"), "default admission rate"),
    s("queue.active_ttl_seconds", v("600"), "how long an admission lasts"),
    s("queue.idle_timeout_seconds", v("60"), "unpolled waiters leave after").at_least(1),
    s("queue.tick_interval_ms", v("100"), "admission ticker period").at_least(1),
    s("queue.admit_per_seat", v("1.5"), "default fans admitted per free seat")
        .doc("default fans admitted per free seat (a concert's policy overrides it; see [The on-sale moment](on-sale.md#admission-knows-the-inventory))"),
    s("queue.retire_after_seconds", v("3600"), "a closed line's state is deleted after")
        .doc("a closed line's state is deleted this long after it closed (late pollers still read `SOLD_OUT`/`CLOSED`)"),
    s("limits.enabled", v("true"), "rate limits on")
        .doc("rate limits on; `false` turns every one off (load tests from one address); see [Abuse controls](abuse.md)"),
    s("limits.trusted_proxies", DefaultValue::Value(""), "proxies whose X-Forwarded-For counts (IPs/CIDRs, comma-separated)"),
    s("limits.signup_per_minute", v("5"), "sign-ups per address a minute (shared on Redis)").at_least(1),
    s("limits.signup_burst", v("5"), "sign-ups per address at once").at_least(1),
    s("limits.signin_per_minute", v("30"), "sign-in attempts (password, passkey) per address a minute (shared on Redis)").at_least(1),
    s("limits.signin_burst", v("10"), "sign-in attempts per address at once").at_least(1),
    s("limits.enter_per_minute", v("120"), "enters per address a minute (shared on Redis)").at_least(1),
    s("limits.enter_burst", v("60"), "enters per address at once").at_least(1),
    s("limits.enter_user_per_minute", v("10"), "enters per user a minute (shared on Redis)").at_least(1),
    s("limits.enter_user_burst", v("5"), "enters per user at once").at_least(1),
    s("limits.status_per_minute", v("3000"), "status polls, streams, leaves, challenges per address a minute (per instance)").at_least(1),
    s("limits.status_burst", v("200"), "the same at once").at_least(1),
    s("limits.booking_per_minute", v("3000"), "holds, orders, payments, charges per address a minute (per instance)").at_least(1),
    s("limits.booking_burst", v("200"), "the same at once").at_least(1),
    s("limits.booking_user_per_minute", v("120"), "the same per user a minute (per instance)").at_least(1),
    s("limits.booking_user_burst", v("20"), "the same per user at once").at_least(1),
    s("limits.admin_per_minute", v("600"), "operator calls per address a minute (per instance)").at_least(1),
    s("limits.admin_burst", v("100"), "operator calls per address at once").at_least(1),
    s("admission.signing_key", DefaultValue::Unset("generated (warns)"), "PKCS#8 PEM P-256 key of admission passes")
        .doc("PKCS#8 PEM of the P-256 key that signs admission passes; the same on every instance"),
    s("admission.issuer", v("frontrow"), "iss of admission passes"),
    s("pow.challenge_ttl_seconds", v("120"), "life of a proof-of-work challenge").between(1, 3600)
        .doc("how long a proof-of-work challenge may be solved and used (the difficulty itself is per concert: policy `pow_difficulty`)"),
    s("tickets.signing_keys", DefaultValue::Unset("generated (warns)"), "PKCS#8 PEM Ed25519 keys of ticket codes, first signs")
        .doc("PKCS#8 PEM Ed25519 keys of ticket codes, concatenated: the first signs, all verify and are published at `/.well-known/ticket-keys`; the same on every instance"),
    s("tickets.valid_before_start_minutes", v("360"), "codes valid from this long before the start"),
    s("tickets.valid_after_start_minutes", v("720"), "…until this long after it"),
    s("tickets.clock_skew_seconds", v("120"), "scanner clock tolerance")
        .doc("how far a scanner's clock may be off for the validity window"),
    s("returns.cutoff_minutes", v("1440"), "returns close this long before a schedule starts").between(0, 525_600)
        .doc("returns close this long before a schedule starts, unless its operator set another cutoff (see [Returns and the waiting list](../returns.md))"),
    s("waitlist.offer_minutes", v("15"), "a returned place is held this long for the next fan waiting").between(1, 1440),
    s("telemetry.json", v("false"), "JSON log lines")
        .doc("one JSON object per log line"),
    s("telemetry.log_filter", v("info,sqlx=warn,sea_orm=warn,actix_server=warn"), "filter when RUST_LOG is unset"),
    s("telemetry.metrics_bind", DefaultValue::Unset("unset: on http.bind"), "serve /metrics only on this address")
        .doc("serve `/metrics` only on this address (the public listener then answers it 404)"),
];

/// The setting of `key`.
pub fn setting(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

/// The settings part of `frontrow --help`.
pub fn help() -> String {
    let mut out = String::from(
        "SETTINGS (config/base.toml, config/$FRONTROW_ENVIRONMENT.toml, then environment):\n",
    );
    let width = SETTINGS.iter().map(|s| s.env().len()).max().unwrap_or(0);
    for s in SETTINGS {
        let bounds = s
            .bounds_text()
            .map(|b| format!(", {b}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:width$} {}{bounds} [{}]",
            s.env(),
            s.help,
            s.shown_default()
        );
    }
    let _ = write!(
        out,
        "  {:width$} picks config/<name>.toml [unset]",
        "FRONTROW_ENVIRONMENT"
    );
    out
}

/// The book's table of settings (Markdown).
pub fn markdown_table() -> String {
    let mut out = String::from("| variable | default | meaning |\n|---|---|---|\n");
    for s in SETTINGS {
        let default = match s.default {
            DefaultValue::Value("") => "empty".to_owned(),
            DefaultValue::Value(v) => format!("`{v}`"),
            DefaultValue::Development { shown, .. } | DefaultValue::Unset(shown) => {
                shown.to_owned()
            }
        };
        let text = if s.doc.is_empty() { s.help } else { s.doc };
        let bounds = s
            .bounds_text()
            .map(|b| format!(" ({b})"))
            .unwrap_or_default();
        let _ = writeln!(out, "| `{}` | {default} | {text}{bounds} |", s.env());
    }
    out.push_str("| `FRONTROW_ENVIRONMENT` | unset | picks `config/<name>.toml` |\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_name_a_section_and_a_key() {
        let mut seen = std::collections::HashSet::new();
        for s in SETTINGS {
            assert!(seen.insert(s.key), "{} twice", s.key);
            assert_eq!(s.key.split('.').count(), 2, "{}", s.key);
        }
    }

    #[test]
    fn bounds_read_as_their_message() {
        let s = setting("booking.max_tickets_per_order").unwrap();
        assert_eq!(
            s.out_of_bounds(0.0).as_deref(),
            Some("must be between 1 and 100")
        );
        assert_eq!(s.out_of_bounds(100.0), None);
        let s = setting("redis.timeout_ms").unwrap();
        assert_eq!(s.out_of_bounds(0.0).as_deref(), Some("must be at least 1"));
        assert_eq!(s.env(), "FRONTROW__REDIS__TIMEOUT_MS");
    }

    #[test]
    fn help_lists_every_variable_with_its_default() {
        let help = help();
        for s in SETTINGS {
            let line = help
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{} ", s.env())))
                .unwrap_or_else(|| panic!("{} not in --help", s.env()));
            assert!(
                line.ends_with(&format!("[{}]", s.shown_default())),
                "{line}"
            );
        }
        assert!(help.contains("0 = two per core [0]"), "{help}");
    }
}
