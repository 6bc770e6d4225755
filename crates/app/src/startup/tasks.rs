//! The background tasks of a running instance, each a loop that ends when the
//! application's `CancellationToken` is cancelled: the admission ticker, the draw
//! keeper, the hold sweeper, the rate limits' housekeeping, the metrics recorder's upkeep
//! and the stop of the separate metrics server.

use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use frontrow_domain::boxoffice::BoxOffice;
use frontrow_domain::model::ConcertId;
use frontrow_domain::ports::Ports;
use frontrow_domain::queue::TickReport;
use frontrow_domain::waiting_room::WaitingRoom;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::guard::limits::Limits;
use crate::settings::Settings;
use crate::telemetry::{
    HOLDS_EXPIRED, ORDERS_EXPIRED, QUEUE_ACTIVE, QUEUE_ADMIT_RATE, QUEUE_ADMITTED, QUEUE_EXPIRED,
    QUEUE_WAITING, RELEASE_RETRIES, RELEASES_PENDING,
};

/// What the background tasks work on, from the wiring.
pub struct Background {
    pub room: WaitingRoom,
    pub ports: Ports,
    pub boxoffice: BoxOffice,
    pub limits: Option<Arc<Limits>>,
}

/// Starts every background task; `metrics` is the separate metrics server, stopped with
/// the others.
pub fn spawn(
    bg: Background,
    settings: &Settings,
    metrics: Option<Server>,
    cancel: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    let mut tasks = vec![
        tokio::spawn(draw_keeper(
            bg.room.clone(),
            Duration::from_secs(1),
            cancel.clone(),
        )),
        tokio::spawn(admission_ticker(
            bg.room,
            settings.tick_interval(),
            cancel.clone(),
        )),
        tokio::spawn(hold_sweeper(
            bg.ports,
            bg.boxoffice,
            settings.sweep_interval(),
            cancel.clone(),
        )),
    ];
    tasks.push(tokio::spawn(metrics_upkeep(
        crate::telemetry::metrics_handle(),
        METRICS_UPKEEP,
        cancel.clone(),
    )));
    if let Some(server) = metrics {
        tasks.push(tokio::spawn(serve_until_cancelled(server, cancel.clone())));
    }
    if let Some(limits) = bg.limits {
        tasks.push(tokio::spawn(crate::guard::limits::housekeeping(
            limits,
            Duration::from_secs(60),
            cancel.clone(),
        )));
    }
    tasks
}

/// Serves `server` until `cancel`, then stops it gracefully.
async fn serve_until_cancelled(server: Server, cancel: CancellationToken) {
    let handle = server.handle();
    let serving = tokio::spawn(server);
    cancel.cancelled().await;
    handle.stop(true).await;
    let _ = serving.await;
}

/// How often the recorder's histogram samples are folded into their buckets.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// Folds the samples every histogram gathered since the last upkeep (or scrape) into its
/// buckets and drops the per-concert series idle for long, every `every` (see
/// `telemetry::run_upkeep`). The recorder keeps each sample (8 bytes) until then: without
/// this a process nobody scrapes would keep one per request, for good.
async fn metrics_upkeep(handle: PrometheusHandle, every: Duration, cancel: CancellationToken) {
    let mut interval = ticks(every);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = interval.tick() => {}
        }
        crate::telemetry::run_upkeep(&handle);
    }
}

/// A tick every `every` (a late tick delays the next, never bunches), until `cancel`.
fn ticks(every: Duration) -> tokio::time::Interval {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval
}

/// Admits fans on every concert at each tick, refreshes the per-concert gauges about
/// once a second, and retries the admission releases that failed.
async fn admission_ticker(room: WaitingRoom, every: Duration, cancel: CancellationToken) {
    let mut interval = ticks(every);
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
                    record_queue_gauges(&room, &reports).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "admission tick skipped: queue unavailable"),
        }
        retry_releases(&room).await;
    }
    tracing::debug!("admission ticker stopped");
}

/// The waiting and active fans, the admission rate and the totals of each ticked concert.
async fn record_queue_gauges(room: &WaitingRoom, reports: &[(ConcertId, TickReport)]) {
    for (concert, _) in reports {
        let Ok(s) = room.stats(*concert).await else {
            continue;
        };
        let c = concert.to_string();
        crate::telemetry::with_concert_metrics(|| {
            metrics::gauge!(QUEUE_WAITING, "concert" => c.clone()).set(s.waiting as f64);
            metrics::gauge!(QUEUE_ACTIVE, "concert" => c.clone()).set(s.active as f64);
            metrics::gauge!(QUEUE_ADMIT_RATE, "concert" => c.clone()).set(s.admit_rate);
            metrics::counter!(QUEUE_ADMITTED, "concert" => c.clone()).absolute(s.admitted_total);
            metrics::counter!(QUEUE_EXPIRED, "concert" => c).absolute(s.expired_total);
        });
    }
}

/// Retries the releases of admission slots after payments that the queue missed.
async fn retry_releases(room: &WaitingRoom) {
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

/// Archives every revealed draw in the database (see `WaitingRoom::keep_draws`), apart
/// from the admission ticker so a large draw being written never delays admission.
async fn draw_keeper(room: WaitingRoom, every: Duration, cancel: CancellationToken) {
    let mut interval = ticks(every);
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
    let mut interval = ticks(every);
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
