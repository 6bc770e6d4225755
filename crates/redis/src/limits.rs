//! Limits shared by every instance: a GCRA rate limit (one Lua script, Redis's own clock,
//! so instances with skewed clocks agree) and a once-only claim (for proof-of-work
//! challenges: a solved challenge is accepted by one instance, once).
//!
//! Both run on the queue's connections (`Inner::run`: bounded by the queue's timeout, a
//! broken connection replaced) and touch one key per call, so they work on one Redis or
//! on one Cluster slot. Their keys are `Keys::limit` and `Keys::once`.

use std::sync::LazyLock;

use deadpool_redis::redis::Script;
use frontrow_domain::error::QueueError;
use frontrow_domain::gcra::{Gcra, LimitDecision};

use crate::RedisQueue;
use crate::replies::GcraReply;
use crate::scripts::Reply;

/// GCRA (the generic cell rate algorithm); its header says its ARGV and reply.
const GCRA: &str = include_str!("lua/gcra.lua");

static GCRA_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(GCRA));

impl RedisQueue {
    /// Counts one request of `key` against a GCRA limit of one request per `period_ms`
    /// with bursts of `burst`, shared by every instance on this Redis (on its clock).
    ///
    /// # Errors
    /// `QueueError::Unavailable` when Redis does not answer within the timeout.
    pub async fn rate_limit(
        &self,
        key: &str,
        period_ms: u64,
        burst: u32,
    ) -> Result<LimitDecision, QueueError> {
        self.gcra(key, Gcra::new(period_ms, burst), None).await
    }

    /// One GCRA step on `key`, at `now_ms` when given (tests), else at Redis's time.
    pub(crate) async fn gcra(
        &self,
        key: &str,
        limit: Gcra,
        now_ms: Option<i64>,
    ) -> Result<LimitDecision, QueueError> {
        let key = self.inner.keys.limit(key);
        let script = &*GCRA_SCRIPT;
        let mut args = vec![limit.period_ms().to_string(), limit.burst().to_string()];
        args.extend(now_ms.map(|ms| ms.to_string()));
        let raw: Vec<i64> = self
            .inner
            .run(|mut conn| async move {
                let mut call = script.key(key);
                for arg in &args {
                    call.arg(arg);
                }
                call.invoke_async(&mut conn).await
            })
            .await?;
        GcraReply::from_raw(raw).map(|r| r.0)
    }

    /// Claims `name` for `ttl_ms`: true for the first claim, false for every later one
    /// (on any instance) until the ttl ends.
    ///
    /// # Errors
    /// `QueueError::Unavailable` when Redis does not answer within the timeout.
    pub async fn claim_once(&self, name: &str, ttl_ms: u64) -> Result<bool, QueueError> {
        let key = self.inner.keys.once(name);
        let ttl = ttl_ms.max(1);
        let set: Option<String> = self
            .inner
            .run(|mut conn| async move {
                deadpool_redis::redis::cmd("SET")
                    .arg(&key)
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        Ok(set.is_some())
    }
}
