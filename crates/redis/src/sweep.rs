//! The users index follows the fans still in line: `leave` forgets a fan who leaves, and
//! a sweep forgets the rest who are done — dropped for idling, or admitted in a batch
//! that has ended. Each tick sweeps the next [`SWEEP_BUCKETS`] of the line's
//! [`USER_BUCKETS`] hash buckets (one pass over all of them takes `USER_BUCKETS /
//! SWEEP_BUCKETS` ticks, about 3.4 minutes at the default 100 ms), from a point each
//! instance picks at random, so instances share the work without agreeing on it.

use std::sync::atomic::Ordering;

use frontrow_domain::error::QueueError;

use crate::Inner;
use crate::keys::USER_BUCKETS;
use crate::line::Line;
use crate::scripts::Reply;

/// Users hash buckets swept per tick.
pub(crate) const SWEEP_BUCKETS: i64 = 16;

/// `sweep.lua`'s reply: how many users were forgotten.
pub(crate) struct Swept(pub u64);

impl Reply for Swept {
    type Raw = i64;

    fn from_raw(raw: i64) -> Result<Self, QueueError> {
        u64::try_from(raw)
            .map(Swept)
            .map_err(|_| crate::unavailable(format!("sweep.lua answered {raw}")))
    }
}

/// The bucket a new line's sweep starts at.
pub(crate) fn sweep_start() -> i64 {
    i64::from(rand::random::<u16>()) % USER_BUCKETS
}

impl Inner {
    /// Sweeps the next [`SWEEP_BUCKETS`] buckets of `line`'s users hash.
    pub(crate) async fn sweep_users(&self, line: &Line, now_ms: i64) -> Result<u64, QueueError> {
        let from = line.sweep_next.fetch_add(SWEEP_BUCKETS, Ordering::Relaxed);
        let buckets: Vec<String> = (from..from + SWEEP_BUCKETS)
            .map(|b| line.keys.users_bucket(b.rem_euclid(USER_BUCKETS)))
            .collect();
        self.sweep_buckets(line, buckets, now_ms).await
    }

    /// Sweeps the given buckets of `line`'s users hash.
    pub(crate) async fn sweep_buckets(
        &self,
        line: &Line,
        buckets: Vec<String>,
        now_ms: i64,
    ) -> Result<u64, QueueError> {
        let swept: Swept = self
            .invoke_on_buckets(&self.scripts.sweep, line, buckets, &[now_ms.to_string()])
            .await?;
        Ok(swept.0)
    }
}
