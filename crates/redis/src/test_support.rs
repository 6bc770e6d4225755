//! Helpers for benchmarks, examples and tests, behind the `test-support` feature:
//! filling a line fast, flushing heartbeats on demand, and single script steps the
//! port only takes together (claiming and completing a draw, a rate limit at a given
//! time), so tests can check each against the domain's rule.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use deadpool_redis::redis;
use frontrow_domain::error::QueueError;
use frontrow_domain::model::ConcertId;

use crate::RedisQueue;
use crate::draw::parse_phase;
use crate::keys::{LineKey, USER_BUCKETS};
use crate::replies::DrawClaim;
use frontrow_domain::gcra::{Gcra, LimitDecision};
use frontrow_domain::line::phase::DrawPhase;

/// A draw claim won (see [`RedisQueue::claim_draw`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedDraw {
    /// Pre-queued numbers frozen at the opening: 1..=k.
    pub k: u64,
    /// The line's incarnation.
    pub epoch: u64,
    /// The pre-queued numbers that left before the draw, ascending.
    pub left: Vec<u64>,
}

impl RedisQueue {
    /// Sweeps every bucket of `concert`'s users index at once (ticks sweep a few each;
    /// see `sweep`), returning how many users were forgotten.
    ///
    /// # Errors
    /// `Unavailable` when Redis does not answer.
    pub async fn sweep_users_fully(
        &self,
        concert: ConcertId,
        now: DateTime<Utc>,
    ) -> Result<u64, QueueError> {
        let line = self.inner.line(concert);
        let mut swept = 0;
        for buckets in line.keys.users_batches(1_024) {
            swept += self
                .inner
                .sweep_buckets(&line, buckets, now.timestamp_millis())
                .await?;
        }
        Ok(swept)
    }

    /// Sends this instance's pending heartbeats now (the background task does it every
    /// second).
    ///
    /// # Errors
    /// `Unavailable` when Redis does not answer; the heartbeats are kept for the next try.
    pub async fn flush_heartbeats(&self) -> Result<(), QueueError> {
        self.inner.flush_all().await
    }

    /// The concerts this instance holds state for: a line (view, heartbeats, signers)
    /// or a registration in the global set. A retired line leaves neither, on every
    /// instance (only a bounded note of how it ended, see [`RedisQueue::retired_notes`]).
    pub fn concerts_held(&self) -> Vec<ConcertId> {
        let mut held: Vec<ConcertId> = crate::read(&self.inner.concerts)
            .keys()
            .copied()
            .chain(crate::lock(&self.inner.registered).iter().copied())
            .collect();
        held.sort();
        held.dedup();
        held
    }

    /// How many retired lines this instance keeps a note of (bounded).
    pub fn retired_notes(&self) -> usize {
        crate::lock(&self.inner.retired).len()
    }

    /// How many times this instance rebuilt a view from a snapshot (`snapshot.lua`)
    /// rather than following the stream (`sync.lua`).
    pub fn snapshots_read(&self) -> u64 {
        self.inner.snapshots.load(Ordering::Relaxed)
    }

    /// One GCRA step of [`RedisQueue::rate_limit`] at `now_ms` rather than Redis's time.
    ///
    /// # Errors
    /// `Unavailable` when Redis does not answer.
    pub async fn rate_limit_at(
        &self,
        key: &str,
        period_ms: u64,
        burst: u32,
        now_ms: i64,
    ) -> Result<LimitDecision, QueueError> {
        self.gcra(key, Gcra::new(period_ms, burst), Some(now_ms))
            .await
    }

    /// Claims `concert`'s draw for `owner` at `now` for `claim_ms` (`draw_claim.lua`, the
    /// first step of a tick's draw): `None` when the line is not frozen or another
    /// owner's claim is live.
    ///
    /// # Errors
    /// `Unavailable` when Redis does not answer or replies out of shape.
    pub async fn claim_draw(
        &self,
        concert: ConcertId,
        owner: &str,
        now: DateTime<Utc>,
        claim_ms: u64,
    ) -> Result<Option<ClaimedDraw>, QueueError> {
        let inner = &self.inner;
        let line = inner.line(concert);
        let args = [
            owner.to_owned(),
            now.timestamp_millis().to_string(),
            claim_ms.to_string(),
        ];
        let claim = inner
            .invoke(&inner.scripts.draw_claim, &line, None, &args)
            .await?;
        Ok(match claim {
            DrawClaim::Lost => None,
            DrawClaim::Won { k, epoch, left, .. } => {
                let mut left: Vec<u64> = left.into_iter().collect();
                left.sort_unstable();
                Some(ClaimedDraw { k, epoch, left })
            }
        })
    }

    /// Completes `concert`'s draw for `owner` (`draw_finish.lua`, the last step of a
    /// tick's draw) with `drawn` fans: false when `owner` holds no claim.
    ///
    /// # Errors
    /// `Unavailable` when Redis does not answer or replies out of shape.
    pub async fn finish_draw(
        &self,
        concert: ConcertId,
        owner: &str,
        drawn: u64,
    ) -> Result<bool, QueueError> {
        let inner = &self.inner;
        let line = inner.line(concert);
        let args = [owner.to_owned(), drawn.to_string()];
        let done = inner
            .invoke(&inner.scripts.draw_finish, &line, None, &args)
            .await?;
        Ok(done.0)
    }

    /// Puts `count` synthetic fans (users `first_user..`) at the back of `concert`'s line
    /// with pipelined batches, much faster than `enter` (into the pre-queue while the
    /// concert has one). For benchmarks and load tests only: it bypasses the
    /// one-place-per-user check.
    ///
    /// # Errors
    /// `Unavailable` when Redis does not answer.
    #[doc(hidden)]
    pub async fn bulk_fill(
        &self,
        concert: ConcertId,
        first_user: i64,
        count: u64,
        now: DateTime<Utc>,
    ) -> Result<(), QueueError> {
        const BATCH: u64 = 10_000;
        let inner = &self.inner;
        inner.register(concert).await?;
        let line = inner.line(concert);
        let keys = &line.keys;
        let now_ms = now.timestamp_millis() as u32;
        let seq_key = keys.get(LineKey::Seq).to_owned();
        let last: u64 = inner
            .run(|mut conn| async move {
                redis::cmd("INCRBY")
                    .arg(seq_key)
                    .arg(count)
                    .query_async::<u64>(&mut conn)
                    .await
            })
            .await?;
        let first_seq = last + 1 - count;
        let draw_key = keys.get(LineKey::Draw).to_owned();
        let phase: Option<String> = inner
            .run(|mut conn| async move {
                redis::cmd("HGET")
                    .arg(draw_key)
                    .arg("state")
                    .query_async::<Option<String>>(&mut conn)
                    .await
            })
            .await?;
        let pre_queue = parse_phase(phase.as_deref().unwrap_or(""))? == DrawPhase::Pre;
        let mut done = 0u64;
        while done < count {
            let n = BATCH.min(count - done);
            let mut pipe = redis::pipe();
            let mut users: HashMap<i64, redis::Cmd> = HashMap::new();
            let mut seen = redis::cmd("BITFIELD");
            seen.arg(keys.get(LineKey::Seen));
            for i in done..done + n {
                let user = first_user + i as i64;
                let bucket = user.rem_euclid(USER_BUCKETS);
                users
                    .entry(bucket)
                    .or_insert_with(|| {
                        let mut c = redis::cmd("HSET");
                        c.arg(keys.users_bucket(bucket));
                        c
                    })
                    .arg(user)
                    .arg(first_seq + i);
                seen.arg("SET")
                    .arg("u32")
                    .arg(format!("#{}", first_seq + i))
                    .arg(now_ms);
            }
            for (_, cmd) in users {
                pipe.add_command(cmd).ignore();
            }
            pipe.add_command(seen).ignore();
            if pre_queue {
                let mut entrants = redis::cmd("BITFIELD");
                entrants.arg(keys.get(LineKey::Entrants));
                for i in done..done + n {
                    entrants
                        .arg("SET")
                        .arg("i64")
                        .arg(format!("#{}", first_seq + i - 1))
                        .arg(first_user + i as i64);
                }
                pipe.add_command(entrants).ignore();
                pipe.cmd("HINCRBY")
                    .arg(keys.get(LineKey::Draw))
                    .arg("live")
                    .arg(n)
                    .ignore();
            }
            pipe.cmd("HINCRBY")
                .arg(keys.get(LineKey::Stats))
                .arg("waiting")
                .arg(n)
                .ignore();
            inner
                .run(|mut conn| async move { pipe.query_async::<()>(&mut conn).await })
                .await?;
            done += n;
        }
        Ok(())
    }
}
