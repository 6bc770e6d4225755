//! Heartbeats and idle fans: every waiting fan's poll is noted in memory, flushed to a
//! bitfield of one u32 per number (`BITFIELD SET` in batches), and a tick scans that
//! bitfield for the places that went quiet.

use std::collections::HashMap;
use std::sync::Weak;
use std::time::Duration;

use deadpool_redis::redis;
use frontrow_domain::error::QueueError;
use frontrow_domain::line::admission::{heartbeat, quiet};
use frontrow_domain::queue::{Ticket, TicketStatus};

use crate::keys::LineKey;
use crate::line::Line;
use crate::{Inner, lock, read};

/// Heartbeats per flush call.
const BEAT_BATCH: usize = 1_000;
/// Places read per GETRANGE while looking for idle fans (4 bytes each).
const SCAN_BATCH: u64 = 1 << 20;

/// Notes a waiting (or pre-queued) fan's heartbeat, flushed to Redis in batches.
pub(crate) fn beat(line: &Line, ticket: &Ticket, place: u64, now_ms: i64) {
    if matches!(
        ticket.status,
        TicketStatus::Waiting | TicketStatus::PreQueue
    ) {
        let mut beats = lock(line.beats.get_or_default());
        let beat = beats.entry(place).or_insert(now_ms);
        *beat = (*beat).max(now_ms);
    }
}

/// Flushes every line's heartbeats once a second (background mode).
pub(crate) async fn flush_loop(inner: Weak<Inner>) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        if let Err(e) = inner.flush_all().await {
            tracing::debug!(error = %e, "could not flush heartbeats");
        }
    }
}

impl Inner {
    /// Sends every line's pending heartbeats.
    pub(crate) async fn flush_all(&self) -> Result<(), QueueError> {
        for line in self.lines() {
            self.flush(&line).await?;
        }
        Ok(())
    }

    /// Sends the line's pending heartbeats, in batches; on failure they are kept.
    pub(crate) async fn flush(&self, line: &Line) -> Result<(), QueueError> {
        let mut merged: HashMap<u64, i64> = HashMap::new();
        for slot in line.beats.iter() {
            for (place, ms) in std::mem::take(&mut *lock(slot)) {
                let beat = merged.entry(place).or_insert(ms);
                *beat = (*beat).max(ms);
            }
        }
        // A place whose heartbeat this instance sent less than `refresh_ms` ago is not
        // sent again: the idle rule allows for it (see `drop_after_ms`).
        let beats: Vec<(u64, i64)> = {
            let flushed = lock(&line.flushed);
            merged
                .into_iter()
                .filter(|(place, ms)| {
                    self.refresh_ms == 0
                        || flushed
                            .get(place)
                            .is_none_or(|f| ms - f >= self.refresh_ms as i64)
                })
                .collect()
        };
        for (i, chunk) in beats.chunks(BEAT_BATCH).enumerate() {
            let mut cmd = redis::cmd("BITFIELD");
            cmd.arg(line.keys.get(LineKey::Seen));
            for (place, ms) in chunk {
                cmd.arg("SET")
                    .arg("u32")
                    .arg(format!("#{place}"))
                    .arg(heartbeat(*ms));
            }
            let sent = self
                .run(|mut conn| async move { cmd.query_async::<Vec<i64>>(&mut conn).await })
                .await;
            if sent.is_ok() {
                let mut flushed = lock(&line.flushed);
                flushed.extend(chunk.iter().copied());
            }
            if let Err(e) = sent {
                let mut pending = lock(line.beats.get_or_default());
                for &(place, ms) in &beats[i * BEAT_BATCH..] {
                    let slot = pending.entry(place).or_insert(ms);
                    *slot = (*slot).max(ms);
                }
                return Err(e);
            }
        }
        let mut flushed = lock(&line.flushed);
        if flushed.len() > 4_096 {
            let head = read(&line.view).head();
            flushed.retain(|place, _| *place > head);
        }
        Ok(())
    }

    /// How long a waiting place's stored heartbeat must be old before the place is
    /// dropped: the idle timeout, plus (background mode) the window within which an
    /// instance does not resend a place's heartbeat and a flush period. So a fan who
    /// polls is never dropped, and one who stopped leaves between the idle timeout and
    /// this much after its last poll.
    pub(crate) fn drop_after_ms(&self) -> u64 {
        let idle_ms = self.settings.idle_timeout_seconds.saturating_mul(1000);
        if self.refresh_ms == 0 {
            idle_ms
        } else {
            idle_ms + self.refresh_ms + 2_000
        }
    }

    /// Up to `limit` places that may have been idle for the idle timeout at `now_ms`,
    /// from a scan of the heartbeats that is redone every `slack / 2` (a place found
    /// fresher than `idle - slack` cannot go idle before the next scan).
    pub(crate) async fn idle_candidates(
        &self,
        line: &Line,
        now_ms: i64,
        limit: u64,
    ) -> Result<Vec<u64>, QueueError> {
        let idle_ms = self.drop_after_ms();
        let slack = (idle_ms / 2).min(10_000);
        let due = {
            let scan = lock(&line.idle);
            scan.scanned_at_ms
                .is_none_or(|at| now_ms < at || now_ms - at >= (slack / 2) as i64)
        };
        if due {
            let (from, top) = {
                let v = read(&line.view);
                (v.scan_from(), v.seq_max())
            };
            let quiet_ms = u32::try_from(idle_ms - slack).unwrap_or(u32::MAX);
            let mut found = Vec::new();
            let mut first = from;
            while first <= top {
                let last = top.min(first + SCAN_BATCH - 1);
                let key = line.keys.get(LineKey::Seen).to_owned();
                let bytes: Vec<u8> = self
                    .run(|mut conn| async move {
                        redis::cmd("GETRANGE")
                            .arg(key)
                            .arg(first * 4)
                            .arg(last * 4 + 3)
                            .query_async::<Vec<u8>>(&mut conn)
                            .await
                    })
                    .await?;
                let mut seen: Vec<u32> = bytes
                    .chunks(4)
                    .map(|c| {
                        let mut b = [0u8; 4];
                        b[..c.len()].copy_from_slice(c);
                        u32::from_be_bytes(b)
                    })
                    .collect();
                // Places past the stored end never got a heartbeat written (yet).
                seen.resize((last - first + 1) as usize, heartbeat(now_ms));
                found.extend(read(&line.view).quiet_places(first, &seen, now_ms, quiet_ms));
                first = last + 1;
            }
            let mut scan = lock(&line.idle);
            scan.scanned_at_ms = Some(now_ms);
            scan.candidates = found;
        }
        let idle32 = u32::try_from(idle_ms).unwrap_or(u32::MAX);
        let mut scan = lock(&line.idle);
        let mut picked = Vec::new();
        scan.candidates.retain(|&(place, seen)| {
            if (picked.len() as u64) < limit && quiet(now_ms, seen, idle32) {
                picked.push(place);
                false
            } else {
                true
            }
        });
        Ok(picked)
    }
}
