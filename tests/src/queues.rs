//! The queue contract suites' harness: two handles on one waiting room (two instances
//! on one Redis or one Redis Cluster, or one `MemoryQueue` shared), each Redis run under
//! its own key prefix, and the settings the suites assume.

use std::sync::Arc;
use std::time::Duration;

use frontrow_domain::ports::Queue;
use frontrow_domain::queue::{QueuePolicy, QueueSettings, TokenKey};
use frontrow_memory::MemoryQueue;
use frontrow_redis::RedisQueue;

use crate::redis::TestRedis;

/// The settings every contract suite runs with: at most 3 idle fans dropped per tick.
pub fn contract_settings() -> QueueSettings {
    QueueSettings {
        default_policy: QueuePolicy {
            max_active: 1_000,
            admit_per_second: 100,
            active_ttl_seconds: 600,
            paused: false,
            ..QueuePolicy::default()
        },
        idle_timeout_seconds: 60,
        max_expire_per_tick: 3,
        token_key: TokenKey::derive(b"contract suite"),
    }
}

/// Two handles on one waiting room, plus the Redis prefix (its keys are deleted on drop).
pub struct Harness {
    pub first: Arc<dyn Queue>,
    pub second: Arc<dyn Queue>,
    pub redis: Option<TestRedis>,
}

pub fn on_memory() -> Harness {
    let q: Arc<dyn Queue> = Arc::new(MemoryQueue::new(contract_settings()));
    Harness {
        first: q.clone(),
        second: q,
        redis: None,
    }
}

pub fn on_redis() -> Harness {
    let test = TestRedis::new();
    let make = || -> Arc<dyn Queue> {
        Arc::new(
            RedisQueue::connect(
                &test.url,
                &test.prefix,
                contract_settings(),
                Duration::from_secs(5),
            )
            .expect("valid redis url"),
        )
    };
    Harness {
        first: make(),
        second: make(),
        redis: Some(test),
    }
}

/// Two instances on the test Redis Cluster (3 masters): every script runs on the shard
/// of its concert's slot; the global set of concerts lives on whichever shard its own
/// key hashes to.
pub fn on_redis_cluster() -> Harness {
    let test = TestRedis::on_cluster();
    let make = || -> Arc<dyn Queue> {
        Arc::new(
            RedisQueue::connect_cluster(
                &test.nodes,
                &test.prefix,
                contract_settings(),
                Duration::from_secs(5),
            )
            .expect("valid redis urls"),
        )
    };
    Harness {
        first: make(),
        second: make(),
        redis: Some(test),
    }
}
