//! Logs (`tracing`, text or JSON, filtered by `RUST_LOG`) and metrics (a Prometheus
//! recorder for the `metrics` facade). Metric names live here so the dashboard and the
//! tests name the same series.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
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
pub const DB_POOL: &str = "frontrow_db_pool_connections";
pub const REDIS_POOL: &str = "frontrow_redis_pool_connections";
pub const REDIS_CONNECTS: &str = "frontrow_redis_connects_total";
/// Actual minus predicted wait of admitted fans (issue 11).
pub const QUEUE_ETA_ERROR: &str = "frontrow_queue_eta_error_seconds";
/// Requests refused by a rate limit, by class and key (`address` or `user`).
pub const RATE_LIMITED: &str = "frontrow_rate_limited_total";
/// Orders held, orders refused for want of seats or places, orders paid, and held
/// orders the sweeper ended.
pub const ORDERS: &str = "frontrow_orders_total";
pub const ORDER_CONFLICTS: &str = "frontrow_order_conflicts_total";
pub const ORDER_PAYMENTS: &str = "frontrow_order_payments_total";
pub const ORDERS_EXPIRED: &str = "frontrow_orders_expired_total";

/// Every metric the app registers (a histogram also exposes `_bucket`, `_sum`, `_count`).
pub const METRICS: [&str; 20] = [
    HTTP_REQUESTS,
    HTTP_DURATION,
    QUEUE_WAITING,
    QUEUE_ACTIVE,
    QUEUE_ADMITTED,
    QUEUE_EXPIRED,
    QUEUE_ADMIT_RATE,
    HOLDS,
    HOLD_CONFLICTS,
    PAYMENTS,
    PAYMENT_REPLAYS,
    HOLDS_EXPIRED,
    DB_POOL,
    REDIS_POOL,
    REDIS_CONNECTS,
    QUEUE_ETA_ERROR,
    ORDERS,
    ORDER_CONFLICTS,
    ORDER_PAYMENTS,
    ORDERS_EXPIRED,
];

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
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(QUEUE_ETA_ERROR.to_owned()),
                        &[
                            -600.0, -300.0, -120.0, -60.0, -30.0, -10.0, -5.0, -1.0, 1.0, 5.0,
                            10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
                        ],
                    )
                })
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(h) => h,
                // Another recorder is installed (only possible in odd test setups): keep
                // a private one so /metrics still answers.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}
