//! Keeping each line's view current: reading the concert's event stream (or reloading
//! a snapshot when the view is new or fell behind), inline before a call or from a
//! background task, and deciding when a view is fresh enough to answer from.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use chrono::Utc;
use frontrow_domain::error::QueueError;
use frontrow_domain::lifecycle::LineLife;

use crate::heartbeat::flush_loop;
use crate::line::Line;
use crate::policy::parse_policy;
use crate::view::{Event, View};
use crate::{Inner, RedisQueue, read, unavailable, write};
use frontrow_domain::line::Line as LineModel;
use frontrow_domain::line::phase::DrawPhase;

/// A background view read this recently answers without further ado (below the
/// shortest advised poll, `MIN_POLL_MS` = 500 ms; see `ready_view`).
pub(crate) const FRESH: Duration = Duration::from_millis(400);

/// A token that does not verify, or a fan near the front, triggers a fresh read of the
/// line at most this often.
pub(crate) const RECHECK: Duration = Duration::from_millis(50);

/// Events read per script call while catching up.
const SYNC_BATCH: usize = 10_000;

impl RedisQueue {
    /// Switches to background mode: a task reads every concert's new events each
    /// `interval` and flushes heartbeats each second; statuses are answered from memory,
    /// or `Unavailable` when the last complete read is older than `max_lag`. Must be
    /// called inside a Tokio runtime, before the queue is shared.
    #[must_use]
    pub fn with_background_sync(mut self, interval: Duration, max_lag: Duration) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.max_lag = Some(max_lag);
            // Half the idle timeout: a fan polling every 2 s sends one heartbeat to Redis
            // in 15, and idle fans leave at most that much later.
            inner.refresh_ms = inner.settings.idle_timeout_seconds.saturating_mul(500);
        }
        let weak = Arc::downgrade(&self.inner);
        self.tasks
            .push(tokio::spawn(sync_loop(weak.clone(), interval)));
        self.tasks.push(tokio::spawn(flush_loop(weak)));
        self
    }
}

async fn sync_loop(inner: Weak<Inner>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let lines = inner.lines();
        let prune_before = Utc::now().timestamp_millis() - 600_000;
        for line in lines {
            if let Err(e) = inner.sync(&line).await {
                tracing::debug!(error = %e, "could not read the line's events");
            }
            write(&line.view).prune(prune_before);
        }
    }
}

impl Inner {
    /// Brings the view up to the stream's end (or reloads it from a snapshot when it is
    /// new or fell behind what the stream keeps).
    pub(crate) async fn sync(&self, line: &Line) -> Result<(), QueueError> {
        let _one = line.syncing.lock().await;
        let started = Instant::now();
        let fresh = read(&line.view).synced.is_none();
        if fresh {
            self.snapshot(line).await?;
        }
        loop {
            let from = format!("({}", read(&line.view).last_id);
            let args = [from, SYNC_BATCH.to_string()];
            let reply = self.invoke(&self.scripts.sync, line, None, &args).await?;
            self.follow_draw(line, reply.draw).await?;
            let fields: Vec<Option<&str>> = reply.policy.iter().map(Option::as_deref).collect();
            let policy = parse_policy(&fields, self.settings.default_policy)?;
            let gap = {
                let mut v = write(&line.view);
                v.rate = reply.rate;
                v.rate_sd = reply.rate_var.max(0.0).sqrt();
                if let Some(i) = reply.inventory {
                    v.inventory = Some(i);
                }
                if !matches!(reply.life.life, LineLife::Retired { .. }) {
                    v.life = reply.life.life;
                }
                v.admit_per_second = reply.admit_per_second;
                v.paused = reply.paused;
                v.policy = Some(policy);
                // Another incarnation of the line (Redis lost its data and fans entered
                // again), or fewer events or places than this view saw: start over.
                let mut gap =
                    reply.epoch != v.epoch || reply.evn < v.evn || reply.seq < v.seq_max();
                if !gap {
                    for (id, n, event) in &reply.events {
                        if *n <= v.evn {
                            continue;
                        }
                        if *n != v.evn + 1 {
                            gap = true;
                            break;
                        }
                        v.apply(*event);
                        v.evn = *n;
                        v.last_id.clone_from(id);
                    }
                }
                if !gap {
                    v.extend(reply.seq);
                    if reply.head > v.head() && reply.events.len() < SYNC_BATCH {
                        // The head moved without an event we kept: reload.
                        gap = true;
                    }
                }
                gap
            };
            if gap {
                self.snapshot(line).await?;
                break;
            }
            if reply.events.len() < SYNC_BATCH {
                break;
            }
        }
        let retired = {
            let mut v = write(&line.view);
            v.synced = Some(started);
            v.life
                .reason()
                .filter(|_| matches!(v.life, LineLife::Retired { .. }))
        };
        if let Some(reason) = retired {
            self.forget(line.concert, reason, read(&line.view).epoch);
        }
        Ok(())
    }

    /// Rebuilds the view from the concert's state.
    async fn snapshot(&self, line: &Line) -> Result<(), QueueError> {
        let reply = self.invoke(&self.scripts.snapshot, line, None, &[]).await?;
        self.snapshots.fetch_add(1, Ordering::Relaxed);
        // Places up to `low` matter no more: admitted or gone, in no batch kept.
        let low = reply
            .batches
            .iter()
            .map(|&(first, _, _)| first.saturating_sub(1))
            .fold(reply.head, u64::min);
        let mut fresh = View {
            line: LineModel::resume(reply.seq, reply.head, low),
            ..View::default()
        };
        let draw = reply.draw;
        let perm = if draw.state == DrawPhase::Drawn {
            Some(self.load_perm(line, draw.k).await?)
        } else {
            None
        };
        fresh.set_phase(draw.state, draw.k, draw.opens_ms, perm);
        fresh.inventory = reply.inventory;
        for &(first, last, until_ms) in &reply.batches {
            fresh.apply(Event::Admitted {
                first,
                last,
                until_ms,
            });
        }
        for &number in &reply.gone {
            fresh.apply(Event::Gone(number));
        }
        fresh.evn = reply.evn;
        fresh.epoch = reply.epoch;
        fresh.life = reply.life.life;
        if matches!(fresh.life, LineLife::Retired { .. }) {
            // Its state is gone: its tokens were signed for the epoch kept with it.
            fresh.epoch = reply.life.epoch;
        }
        fresh.last_id = reply.last_id;
        let mut v = write(&line.view);
        fresh.rate = v.rate;
        fresh.rate_sd = v.rate_sd;
        fresh.admit_per_second = v.admit_per_second;
        fresh.paused = v.paused;
        fresh.policy = v.policy;
        fresh.synced = v.synced;
        *v = fresh;
        Ok(())
    }

    /// Makes sure the view may answer now. Inline mode reads the new events. Background
    /// mode answers from a view read within `FRESH`; an older one (the reading task fell
    /// behind) is brought up to date first, and when that fails the view may still answer
    /// until it is `max_lag` old, then the call is refused.
    ///
    /// Why `FRESH` is below the shortest advised poll: two polls of one fan at least
    /// `MIN_POLL_MS` apart, even through two instances, are then answered from views
    /// read in that order, so the position told never goes up.
    pub(crate) async fn ready_view(&self, line: &Line) -> Result<(), QueueError> {
        let synced = read(&line.view).synced;
        let (Some(max), Some(at)) = (self.max_lag, synced) else {
            return self.sync(line).await;
        };
        if at.elapsed() <= FRESH {
            return Ok(());
        }
        let asked = Instant::now();
        match self.sync_unless_newer(line, asked).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let lag = at.elapsed();
                if lag > max {
                    return Err(unavailable(format!(
                        "this instance's view of the line is {} ms behind redis: {e}",
                        lag.as_millis()
                    )));
                }
                Ok(())
            }
        }
    }

    /// Reads the new events unless a read that started after `asked` already finished
    /// (many callers finding the view stale at once make one read, not one each).
    pub(crate) async fn sync_unless_newer(
        &self,
        line: &Line,
        asked: Instant,
    ) -> Result<(), QueueError> {
        {
            let _wait = line.syncing.lock().await;
            if read(&line.view).synced.is_some_and(|at| at >= asked) {
                return Ok(());
            }
        }
        self.sync(line).await
    }
}
