//! Where the guard shares state between instances: rate limits and one-time claims, as
//! two small ports. Redis implements both ([`frontrow_redis::RedisQueue`]); without a
//! store (one instance, in-memory queue) the guard keeps that state in process.

use std::time::Duration;

use async_trait::async_trait;
use frontrow_domain::gcra::LimitDecision;
use frontrow_redis::RedisQueue;

/// A shared limit's answer to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedLimit {
    Allowed,
    Refused { retry_after: Duration },
}

/// The store could not answer; the guard then decides in process.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreUnreachable(pub String);

/// A rate limit every instance shares (GCRA).
#[async_trait]
pub trait SharedLimits: Send + Sync {
    /// Counts one request under `key`, allowing one every `period_ms` on average and
    /// `burst` at once.
    ///
    /// # Errors
    /// [`StoreUnreachable`] when the store does not answer.
    async fn hit(
        &self,
        key: &str,
        period_ms: u64,
        burst: u32,
    ) -> Result<SharedLimit, StoreUnreachable>;
}

/// Names claimed once across every instance (a proof of work is used once).
#[async_trait]
pub trait OnceClaims: Send + Sync {
    /// True for the first claim of `name` within `ttl_ms`, false for any later one.
    ///
    /// # Errors
    /// [`StoreUnreachable`] when the store does not answer.
    async fn claim_once(&self, name: &str, ttl_ms: u64) -> Result<bool, StoreUnreachable>;
}

#[async_trait]
impl SharedLimits for RedisQueue {
    async fn hit(
        &self,
        key: &str,
        period_ms: u64,
        burst: u32,
    ) -> Result<SharedLimit, StoreUnreachable> {
        match self.rate_limit(key, period_ms, burst).await {
            Ok(LimitDecision::Allowed) => Ok(SharedLimit::Allowed),
            Ok(LimitDecision::Refused { retry_after_ms }) => Ok(SharedLimit::Refused {
                retry_after: Duration::from_millis(retry_after_ms),
            }),
            Err(e) => Err(StoreUnreachable(e.to_string())),
        }
    }
}

#[async_trait]
impl OnceClaims for RedisQueue {
    async fn claim_once(&self, name: &str, ttl_ms: u64) -> Result<bool, StoreUnreachable> {
        RedisQueue::claim_once(self, name, ttl_ms)
            .await
            .map_err(|e| StoreUnreachable(e.to_string()))
    }
}
