//! Helpers for benchmarks, examples and load tests, behind the `test-support` feature:
//! filling a line fast, and flushing heartbeats on demand.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use deadpool_redis::redis;
use frontrow_domain::error::QueueError;
use frontrow_domain::model::ConcertId;

use crate::RedisQueue;
use crate::draw::DrawState;
use crate::keys::{LineKey, USER_BUCKETS};

impl RedisQueue {
    /// Sends this instance's pending heartbeats now (the background task does it every
    /// second).
    ///
    /// # Errors
    /// `Unavailable` when Redis does not answer; the heartbeats are kept for the next try.
    pub async fn flush_heartbeats(&self) -> Result<(), QueueError> {
        self.inner.flush_all().await
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
        let pre_queue = DrawState::parse(phase.as_deref().unwrap_or(""))? == DrawState::Pre;
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
