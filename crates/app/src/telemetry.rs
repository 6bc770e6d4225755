//! Logs (`tracing`, text or JSON, filtered by `RUST_LOG`) and metrics (a Prometheus
//! recorder for the `metrics` facade). Metric names live here so the dashboard and the
//! tests name the same series.
//!
//! Every family is described (`# HELP`) when the recorder is installed, and every series
//! that exists before any traffic is registered then at zero, so a scrape of a fresh
//! process already shows it: the unlabelled counters, the pool gauges, the rate-limit
//! refusals by class and key. Families labelled by what traffic brings (route and
//! status, concert) get their first series with their first event.
//!
//! The families labelled by concert ([`CONCERT_METRICS`]) live in a recorder of their own
//! (record them inside [`with_concert_metrics`]) whose series are dropped once nothing
//! updated them for [`CONCERT_SERIES_IDLE`]: a retired line is no longer ticked, so its
//! series go, on every instance, and a process serving sales for years keeps those of the
//! live lines only. `/metrics` renders both recorders ([`render`]). Both recorders'
//! histogram samples are folded into buckets by [`run_upkeep`], which the app runs every
//! few seconds: the recorder keeps every sample until then.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use metrics_util::MetricKindMask;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

pub const HTTP_REQUESTS: &str = "http_requests_total";
pub const HTTP_DURATION: &str = "http_request_duration_seconds";
pub const QUEUE_WAITING: &str = "frontrow_queue_waiting";
pub const QUEUE_ACTIVE: &str = "frontrow_queue_active";
pub const QUEUE_ADMITTED: &str = "frontrow_queue_admitted_total";
pub const QUEUE_EXPIRED: &str = "frontrow_queue_expired_total";
pub const QUEUE_ADMIT_RATE: &str = "frontrow_queue_admit_rate";
pub const HOLDS: &str = "frontrow_holds_total";
pub const HOLD_CONFLICTS: &str = "frontrow_hold_conflicts_total";
pub const PAYMENTS: &str = "frontrow_payments_total";
pub const PAYMENT_REPLAYS: &str = "frontrow_payment_replays_total";
pub const HOLDS_EXPIRED: &str = "frontrow_holds_expired_total";
/// Open database connections by `state`, `idle` or `in_use`: the states partition the
/// pool, so their sum is the open connections.
pub const DB_POOL: &str = "frontrow_db_pool_connections";
/// The most connections the database pool opens.
pub const DB_POOL_MAX: &str = "frontrow_db_pool_max";
/// Transactions that placed orders, and the orders they placed: orders arriving together
/// are placed in groups (their ratio is the mean group).
pub const ORDER_GROUPS: &str = "frontrow_order_groups_total";
pub const ORDERS_GROUPED: &str = "frontrow_orders_grouped_total";
/// Redis connection slots (one per calling thread) by `state`, `open` or `closed`; the
/// states partition the slots.
pub const REDIS_POOL: &str = "frontrow_redis_pool_connections";
pub const REDIS_CONNECTS: &str = "frontrow_redis_connects_total";
/// Actual minus predicted wait of admitted fans, per concert.
pub const QUEUE_ETA_ERROR: &str = "frontrow_queue_eta_error_seconds";
/// Requests refused by a rate limit, by class and key (`address` or `user`).
pub const RATE_LIMITED: &str = "frontrow_rate_limited_total";
/// Orders held, orders refused for want of seats or places, orders paid, and held
/// orders the sweeper ended.
pub const ORDERS: &str = "frontrow_orders_total";
pub const ORDER_CONFLICTS: &str = "frontrow_order_conflicts_total";
pub const ORDERS_CONTENDED: &str = "frontrow_orders_contended_total";
pub const ORDER_PAYMENTS: &str = "frontrow_order_payments_total";
pub const ORDERS_EXPIRED: &str = "frontrow_orders_expired_total";
/// Failed fetches of the identity provider's keys (JWKS).
pub const JWKS_FETCH_ERRORS: &str = "frontrow_jwks_fetch_errors_total";
/// Admission releases after a payment tried again (the queue was unavailable at first),
/// and those still pending.
pub const RELEASE_RETRIES: &str = "frontrow_admission_release_retries_total";
pub const RELEASES_PENDING: &str = "frontrow_admission_releases_pending";

/// Every metric the app registers (a histogram also exposes `_bucket`, `_sum`, `_count`):
/// the names of the table of help texts, in its order.
pub const METRICS: [&str; HELP.len()] = {
    let mut names = [""; HELP.len()];
    let mut i = 0;
    while i < HELP.len() {
        names[i] = HELP[i].0;
        i += 1;
    }
    names
};

/// The families labelled by concert: kept in their own recorder, see the module's doc.
pub const CONCERT_METRICS: [&str; 6] = [
    QUEUE_WAITING,
    QUEUE_ACTIVE,
    QUEUE_ADMITTED,
    QUEUE_EXPIRED,
    QUEUE_ADMIT_RATE,
    QUEUE_ETA_ERROR,
];

/// A concert's series not updated for this long are dropped (the ticker refreshes a live
/// line's every second; a retired line's are never refreshed again).
pub const CONCERT_SERIES_IDLE: Duration = Duration::from_secs(15 * 60);

/// The buckets of `frontrow_queue_eta_error_seconds`, in seconds.
const ETA_ERROR_BUCKETS: [f64; 16] = [
    -600.0, -300.0, -120.0, -60.0, -30.0, -10.0, -5.0, -1.0, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0,
    300.0, 600.0,
];

/// What a metric is: its type and its `# HELP` text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every metric the app registers, with its type and help text.
const HELP: [(&str, Kind, &str); 28] = [
    (
        HTTP_REQUESTS,
        Kind::Counter,
        "HTTP requests answered, by route, method and status.",
    ),
    (
        HTTP_DURATION,
        Kind::Histogram,
        "Time to answer an HTTP request, by route, method and status.",
    ),
    (
        QUEUE_WAITING,
        Kind::Gauge,
        "Fans waiting in a concert's line.",
    ),
    (
        QUEUE_ACTIVE,
        Kind::Gauge,
        "Fans admitted and still active, by concert.",
    ),
    (
        QUEUE_ADMITTED,
        Kind::Counter,
        "Fans admitted from a concert's line.",
    ),
    (
        QUEUE_EXPIRED,
        Kind::Counter,
        "Places in a concert's line dropped for idleness or expiry.",
    ),
    (
        QUEUE_ADMIT_RATE,
        Kind::Gauge,
        "Fans admitted per second, by concert (its policy's rate).",
    ),
    (HOLDS, Kind::Counter, "Seats held (POST /reservations)."),
    (
        HOLD_CONFLICTS,
        Kind::Counter,
        "Holds refused because the seat was taken.",
    ),
    (PAYMENTS, Kind::Counter, "Reservations paid."),
    (
        PAYMENT_REPLAYS,
        Kind::Counter,
        "Payments answered again from their idempotency key.",
    ),
    (
        HOLDS_EXPIRED,
        Kind::Counter,
        "Seat holds released by the sweeper after they expired.",
    ),
    (
        DB_POOL,
        Kind::Gauge,
        "Open database connections by state (idle, in_use); the states sum to the open connections.",
    ),
    (
        DB_POOL_MAX,
        Kind::Gauge,
        "The most connections the database pool opens.",
    ),
    (
        ORDER_GROUPS,
        Kind::Counter,
        "Transactions that placed orders (orders arriving together are placed in one).",
    ),
    (
        ORDERS_GROUPED,
        Kind::Counter,
        "Orders placed by those transactions, refused ones included (over the groups: the mean group).",
    ),
    (
        REDIS_POOL,
        Kind::Gauge,
        "Redis connection slots by state (open, closed); the states sum to the slots.",
    ),
    (
        REDIS_CONNECTS,
        Kind::Counter,
        "Redis connections opened since start (reconnects included).",
    ),
    (
        QUEUE_ETA_ERROR,
        Kind::Histogram,
        "Actual minus predicted wait of admitted fans, in seconds.",
    ),
    (
        RATE_LIMITED,
        Kind::Counter,
        "Requests refused by a rate limit, by class and key (address or user).",
    ),
    (ORDERS, Kind::Counter, "Orders held."),
    (
        ORDER_CONFLICTS,
        Kind::Counter,
        "Orders refused for want of seats or places.",
    ),
    (
        ORDERS_CONTENDED,
        Kind::Counter,
        "Best-available orders answered 503 seats-contended: every claim lost to other parties until the deadline while seats were left.",
    ),
    (ORDER_PAYMENTS, Kind::Counter, "Orders paid."),
    (
        ORDERS_EXPIRED,
        Kind::Counter,
        "Held orders ended by the sweeper after they expired.",
    ),
    (
        JWKS_FETCH_ERRORS,
        Kind::Counter,
        "Failed fetches of the identity provider's keys (JWKS).",
    ),
    (
        RELEASE_RETRIES,
        Kind::Counter,
        "Admission releases after a payment tried again because the queue was unavailable.",
    ),
    (
        RELEASES_PENDING,
        Kind::Gauge,
        "Admission releases after a payment still waiting for the queue.",
    ),
];

/// The type and help text of every name in [`METRICS`].
pub fn describe(name: &str) -> Option<(Kind, &'static str)> {
    HELP.iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, kind, help)| (*kind, *help))
}

/// Describes every family to the installed recorder and registers the series that exist
/// before any traffic, at zero (adding zero keeps a value already there).
fn register_all() {
    for name in METRICS {
        let Some((kind, help)) = describe(name) else {
            continue;
        };
        let describe = || match kind {
            Kind::Counter => metrics::describe_counter!(name, help),
            Kind::Gauge => metrics::describe_gauge!(name, help),
            Kind::Histogram => metrics::describe_histogram!(name, help),
        };
        if CONCERT_METRICS.contains(&name) {
            with_concert_metrics(describe);
        } else {
            describe();
        }
    }
    for name in [
        HOLDS,
        HOLD_CONFLICTS,
        PAYMENTS,
        PAYMENT_REPLAYS,
        HOLDS_EXPIRED,
        REDIS_CONNECTS,
        ORDER_GROUPS,
        ORDERS_GROUPED,
        ORDERS,
        ORDER_CONFLICTS,
        ORDERS_CONTENDED,
        ORDER_PAYMENTS,
        ORDERS_EXPIRED,
        JWKS_FETCH_ERRORS,
        RELEASE_RETRIES,
    ] {
        metrics::counter!(name).increment(0);
    }
    metrics::gauge!(RELEASES_PENDING).increment(0.0);
    for state in ["idle", "in_use"] {
        metrics::gauge!(DB_POOL, "state" => state).increment(0.0);
    }
    metrics::gauge!(DB_POOL_MAX).increment(0.0);
    for state in ["open", "closed"] {
        metrics::gauge!(REDIS_POOL, "state" => state).increment(0.0);
    }
    use crate::guard::limits::Class;
    for class in [
        Class::Signup,
        Class::Enter,
        Class::Status,
        Class::Booking,
        Class::Admin,
    ] {
        metrics::counter!(RATE_LIMITED, "class" => class.as_str(), "key" => "address").increment(0);
    }
    // The classes with a per-user limit too (limits.enter_user_*, limits.booking_user_*).
    for class in [Class::Enter, Class::Booking] {
        metrics::counter!(RATE_LIMITED, "class" => class.as_str(), "key" => "user").increment(0);
    }
}

/// The database pool's gauges: `size` connections open, `idle` of them idle, at most `max`.
pub fn record_db_pool(size: u32, idle: u32, max: u32) {
    let idle = idle.min(size);
    metrics::gauge!(DB_POOL, "state" => "idle").set(f64::from(idle));
    metrics::gauge!(DB_POOL, "state" => "in_use").set(f64::from(size - idle));
    metrics::gauge!(DB_POOL_MAX).set(f64::from(max));
}

/// The order groups' counters: `groups` transactions placed `orders` orders.
pub fn record_order_groups(groups: u64, orders: u64) {
    metrics::counter!(ORDER_GROUPS).absolute(groups);
    metrics::counter!(ORDERS_GROUPED).absolute(orders);
}

/// The Redis gauges: `slots` connection slots, `open` of them connected, `connects`
/// connections opened since start.
pub fn record_redis_pool(slots: usize, open: usize, connects: u64) {
    let open = open.min(slots);
    metrics::gauge!(REDIS_POOL, "state" => "open").set(open as f64);
    metrics::gauge!(REDIS_POOL, "state" => "closed").set((slots - open) as f64);
    metrics::counter!(REDIS_CONNECTS).absolute(connects);
}

/// Installs the tracing subscriber once per process (later calls are no-ops, which
/// keeps tests that build several apps working).
pub fn init_tracing(json: bool, default_filter: &str) {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let filter =
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_span_events(FmtSpan::NONE);
        let result = if json {
            builder
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .try_init()
        } else {
            builder.try_init()
        };
        let _ = result;
    });
}

/// The process-wide Prometheus recorder (installed on first use).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(HTTP_DURATION.to_owned()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0,
                    ],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(h) => {
                    register_all();
                    h
                }
                // Another recorder is installed (only possible in odd test setups): keep
                // a private one so /metrics still answers.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// A recorder for the families labelled by concert whose series are dropped once idle
/// for `idle`.
fn concert_recorder(idle: Duration) -> PrometheusRecorder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(QUEUE_ETA_ERROR.to_owned()),
            &ETA_ERROR_BUCKETS,
        )
        .unwrap_or_else(|_| PrometheusBuilder::new())
        .idle_timeout(MetricKindMask::ALL, Some(idle))
        .build_recorder()
}

/// The process-wide recorder of the families labelled by concert.
fn concert_metrics() -> &'static PrometheusRecorder {
    static RECORDER: OnceLock<PrometheusRecorder> = OnceLock::new();
    RECORDER.get_or_init(|| concert_recorder(CONCERT_SERIES_IDLE))
}

/// Runs `f` with the recorder of the families labelled by concert: every
/// [`CONCERT_METRICS`] series must be recorded inside it.
pub fn with_concert_metrics<T>(f: impl FnOnce() -> T) -> T {
    metrics::with_local_recorder(concert_metrics(), f)
}

/// `/metrics`: the process recorder's families, then the per-concert ones (rendering
/// also drops the per-concert series idle for [`CONCERT_SERIES_IDLE`]).
pub fn render(handle: &PrometheusHandle) -> String {
    let mut text = handle.render();
    text.push_str(&concert_metrics().handle().render());
    text
}

/// Folds every histogram's samples into its buckets and drops the per-concert series
/// idle for [`CONCERT_SERIES_IDLE`]; the app runs it every few seconds (without it, a
/// process nobody scrapes keeps 8 bytes per request and every concert's series).
pub fn run_upkeep(handle: &PrometheusHandle) {
    handle.run_upkeep();
    // Rendering is what drops idle series; the text itself is not needed here.
    drop(concert_metrics().handle().render());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_concerts_series_go_once_idle_and_the_live_ones_stay() {
        let recorder = concert_recorder(Duration::from_millis(300));
        let handle = recorder.handle();
        let set = |concert: &str, value: f64| {
            metrics::with_local_recorder(&recorder, || {
                metrics::gauge!(QUEUE_WAITING, "concert" => concert.to_owned()).set(value);
                metrics::histogram!(QUEUE_ETA_ERROR, "concert" => concert.to_owned()).record(value);
            });
        };
        set("1", 5.0);
        set("2", 7.0);
        let text = handle.render();
        for c in ["1", "2"] {
            let label = format!(r#"concert="{c}""#);
            assert!(
                text.lines()
                    .any(|l| l.starts_with("frontrow_queue_waiting{") && l.contains(&label)),
                "{text}"
            );
            assert!(
                text.lines().any(|l| {
                    l.starts_with("frontrow_queue_eta_error_seconds_bucket{") && l.contains(&label)
                }),
                "{text}"
            );
        }
        // Concert 2 is still ticked; concert 1 retired and is not.
        for _ in 0..6 {
            std::thread::sleep(Duration::from_millis(100));
            set("2", 8.0);
        }
        let text = handle.render();
        assert!(!text.contains(r#"concert="1""#), "{text}");
        assert!(
            text.contains(r#"frontrow_queue_waiting{concert="2"} 8"#),
            "{text}"
        );
    }

    #[test]
    fn metrics_renders_the_concert_families_once_each() {
        let handle = metrics_handle();
        with_concert_metrics(|| {
            metrics::gauge!(QUEUE_ACTIVE, "concert" => "424242").set(3.0);
        });
        let text = render(&handle);
        let types: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("# TYPE frontrow_queue_active "))
            .collect();
        assert_eq!(types, ["# TYPE frontrow_queue_active gauge"], "{text}");
        assert!(
            text.contains(r#"frontrow_queue_active{concert="424242"} 3"#),
            "{text}"
        );
        assert!(text.contains("# HELP frontrow_queue_active "), "{text}");
    }
}
