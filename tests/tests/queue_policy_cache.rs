//! The policy an instance answers in background mode comes from its view of the line,
//! read with every view sync: asking it costs Redis nothing, and an operator's change
//! made through another instance reaches it at its next sync.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use deadpool_redis::redis;
use frontrow_domain::model::{ConcertId, UserId};
use frontrow_domain::ports::Queue;
use frontrow_domain::queue::QueuePolicy;
use frontrow_redis::RedisQueue;
use frontrow_tests::queues::contract_settings;
use frontrow_tests::redis::TestRedis;

const CONCERT: ConcertId = ConcertId(7);

fn hmget_calls(url: &str) -> u64 {
    let mut conn = redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .expect("redis");
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut conn)
        .expect("info");
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_hmget:calls="))
        .and_then(|v| v.split(',').next())
        .map_or(0, |v| v.parse().expect("a count"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_change_reaches_another_instance_at_its_next_view_sync_on_redis() {
    let test = TestRedis::new();
    let connect = || {
        RedisQueue::connect(
            &test.url,
            &test.prefix,
            contract_settings(),
            Duration::from_secs(5),
        )
        .expect("valid redis url")
        .with_background_sync(Duration::from_millis(50), Duration::from_secs(2))
    };
    let (a, b) = (connect(), connect());
    let now = Utc
        .timestamp_millis_opt(1_900_000_000_000)
        .single()
        .unwrap();
    // B knows the line (a fan entered through it) and syncs it in the background.
    b.enter(CONCERT, UserId(1), now).await.expect("enter");
    let new = QueuePolicy {
        max_active: 7,
        admit_per_second: 3,
        pow_difficulty: 4,
        ..QueuePolicy::default()
    };
    a.set_policy(CONCERT, new).await.expect("set");
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.policy(CONCERT).await.expect("policy") != new {
        assert!(Instant::now() < deadline, "the change never reached B");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Answered from memory: a thousand asks cost far fewer than a thousand HMGETs (the
    // count also has the background syncs' and any other test's, which only add to it).
    let before = hmget_calls(&test.url);
    for _ in 0..1_000 {
        assert_eq!(b.policy(CONCERT).await.expect("policy"), new);
    }
    let calls = hmget_calls(&test.url) - before;
    assert!(calls < 500, "{calls} HMGETs for 1000 policy asks");
}
