//! The users index of a Redis line (which place each user holds) shrinks as fans leave:
//! a fan who leaves, or whose admission ends with a purchase (`complete` leaves), is
//! dropped from it at once; one dropped for idling or whose admission ran out is dropped
//! by the sweep that ticks run over the index; one who comes back gets a new place at
//! the end, as before.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{TimeZone, Utc};
use deadpool_redis::redis;
use frontrow_domain::model::{ConcertId, UserId};
use frontrow_tests::queues::on_redis;

/// Users in the line's index: the fields of every bucket of its users hash.
fn indexed(test: &frontrow_tests::redis::TestRedis) -> i64 {
    let mut conn = redis::Client::open(test.url.as_str())
        .and_then(|c| c.get_connection())
        .expect("redis");
    test.keys()
        .iter()
        .filter(|k| k.contains("users:"))
        .map(|k| {
            redis::cmd("HLEN")
                .arg(k)
                .query::<i64>(&mut conn)
                .expect("HLEN")
        })
        .sum()
}

#[tokio::test]
async fn the_users_index_shrinks_as_fans_leave_on_redis() {
    let h = on_redis();
    let test = h.redis.as_ref().unwrap();
    let now = Utc.timestamp_millis_opt(1_900_000_000_000).unwrap();
    let concert = ConcertId(11);
    let mut tokens = Vec::new();
    for u in 1..=40 {
        let entered = h.first.enter(concert, UserId(u), now).await.unwrap();
        tokens.push(entered.ticket.token);
    }
    assert_eq!(indexed(test), 40);
    for t in &tokens[..30] {
        h.second.leave(t, now).await.unwrap();
    }
    assert_eq!(indexed(test), 10, "the 30 who left are forgotten");
    // Leaving twice, or with a token the user replaced, changes nothing.
    h.first.leave(&tokens[0], now).await.unwrap();
    assert_eq!(indexed(test), 10);
    // A fan who left comes back at the end of the line.
    let back = h.first.enter(concert, UserId(1), now).await.unwrap();
    assert!(back.created);
    assert_eq!(back.ticket.token.seq(), 41);
    assert_eq!(indexed(test), 11);
    // A fan still in line keeps their place.
    let again = h.first.enter(concert, UserId(40), now).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.ticket.token, tokens[39]);
}

#[tokio::test]
async fn the_sweep_forgets_idle_and_expired_fans_and_no_one_still_here_on_redis() {
    use std::time::Duration;

    use frontrow_domain::ports::Queue;
    use frontrow_domain::queue::{QueuePolicy, QueueSettings};
    use frontrow_redis::RedisQueue;

    let h = on_redis();
    let test = h.redis.as_ref().unwrap();
    let settings = QueueSettings {
        default_policy: QueuePolicy {
            max_active: 1_000,
            admit_per_second: 10,
            active_ttl_seconds: 600,
            paused: false,
            ..QueuePolicy::default()
        },
        max_expire_per_tick: 1_000,
        ..frontrow_tests::queues::contract_settings()
    };
    let q = RedisQueue::connect(&test.url, &test.prefix, settings, Duration::from_secs(5)).unwrap();
    let t0 = Utc.timestamp_millis_opt(1_900_000_000_000).unwrap();
    let at = |s: i64| t0 + chrono::Duration::seconds(s);
    let concert = ConcertId(12);
    for u in 1..=40 {
        q.enter(concert, UserId(u), t0).await.unwrap();
    }
    // 10 admitted, 30 waiting: a full sweep forgets nobody.
    assert_eq!(q.tick(concert, at(1)).await.unwrap().admitted, 10);
    assert_eq!(q.sweep_users_fully(concert, at(1)).await.unwrap(), 0);
    assert_eq!(indexed(test), 40);
    // The 30 waiting stop polling and are dropped; the 10 admitted are still here.
    let report = q.tick(concert, at(200)).await.unwrap();
    assert_eq!(report.expired_waiting, 30);
    assert_eq!(q.sweep_users_fully(concert, at(200)).await.unwrap(), 30);
    assert_eq!(indexed(test), 10);
    // Their admission runs out: the index is empty.
    let report = q.tick(concert, at(700)).await.unwrap();
    assert_eq!(report.expired_active, 10);
    assert_eq!(q.sweep_users_fully(concert, at(700)).await.unwrap(), 10);
    assert_eq!(indexed(test), 0);
    // One comes back: a new place at the end, indexed again.
    let back = q.enter(concert, UserId(5), at(701)).await.unwrap();
    assert!(back.created);
    assert_eq!(back.ticket.token.seq(), 41);
    assert_eq!(indexed(test), 1);
}
