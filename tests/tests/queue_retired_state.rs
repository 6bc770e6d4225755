//! What an instance keeps of a finished sale: once a line retired, neither the instance
//! that retired it nor another one that served its fans (and ticked it) holds a line, a
//! view or a registration for it; only a bounded note of how it ended. Run over many
//! concerts, as the season soak does, with two instances in background mode (what the
//! app runs), on Redis and on a 3-master Redis Cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use frontrow_domain::lifecycle::CloseReason;
use frontrow_domain::model::{ConcertId, UserId};
use frontrow_domain::ports::Queue;
use frontrow_domain::queue::{QueueToken, TicketStatus};
use frontrow_redis::RedisQueue;
use frontrow_tests::queues::contract_settings;
use frontrow_tests::redis::TestRedis;

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_900_000_000_000 + ms)
        .single()
        .unwrap()
}

/// One concert's sale through both instances: fans enter through either, both tick,
/// both answer polls; then A closes and retires the line. Returns the fans' tokens.
async fn one_sale(a: &RedisQueue, b: &RedisQueue, concert: ConcertId, t0: i64) -> Vec<QueueToken> {
    let mut tokens = Vec::new();
    for user in 0..12 {
        let q = if user % 2 == 0 { a } else { b };
        let entered = q
            .enter(concert, UserId(user), at(t0 + user))
            .await
            .expect("enter");
        tokens.push(entered.ticket.token);
    }
    a.tick(concert, at(t0 + 100)).await.expect("tick");
    b.tick(concert, at(t0 + 101)).await.expect("tick");
    for (i, t) in tokens.iter().enumerate() {
        let q = if i % 2 == 0 { b } else { a };
        q.status(t, at(t0 + 200)).await.expect("status");
    }
    b.leave(&tokens[11], at(t0 + 300)).await.expect("leave");
    a.close(concert, CloseReason::SoldOut, at(t0 + 1_000))
        .await
        .expect("close");
    assert!(
        a.retire(concert, at(t0 + 700_000), at(t0 + 1_000))
            .await
            .expect("retire"),
        "the line retires once every admission ran out"
    );
    tokens
}

async fn assert_retired_lines_leave_nothing_on_either_instance(a: RedisQueue, b: RedisQueue) {
    for n in 1..=20 {
        let concert = ConcertId(n);
        let tokens = one_sale(&a, &b, concert, n * 1_000_000).await;
        // B learns of the retirement at its next read of the line (its background sync,
        // or the next poll): wait for it, polling nothing.
        let deadline = Instant::now() + Duration::from_secs(10);
        while b.concerts_held().contains(&concert) {
            assert!(
                Instant::now() < deadline,
                "instance B still holds concert {n}'s line: {:?}",
                b.concerts_held()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            !a.concerts_held().contains(&concert),
            "instance A still holds concert {n}'s line: {:?}",
            a.concerts_held()
        );
        // Late pollers, through either instance, read how it ended, and a poll makes no
        // instance take the line up again (nor does the ticker visiting nothing).
        for (i, t) in tokens.iter().enumerate() {
            let q = if i % 2 == 0 { &a } else { &b };
            let ticket = q
                .status(t, at(n * 1_000_000 + 800_000))
                .await
                .expect("status");
            assert_eq!(ticket.status, TicketStatus::SoldOut);
        }
        let later = at(n * 1_000_000 + 800_001);
        a.tick(concert, later).await.expect("tick");
        b.tick(concert, later).await.expect("tick");
        tokio::time::sleep(Duration::from_millis(150)).await;
        for (name, q) in [("A", &a), ("B", &b)] {
            assert!(
                q.concerts_held().is_empty(),
                "instance {name} holds {:?} after concert {n} retired",
                q.concerts_held()
            );
            assert!(q.retired_notes() <= n as usize);
        }
    }
}

fn pair(connect: impl Fn() -> RedisQueue) -> (RedisQueue, RedisQueue) {
    let sync =
        |q: RedisQueue| q.with_background_sync(Duration::from_millis(50), Duration::from_secs(2));
    (sync(connect()), sync(connect()))
}

/// Two background-mode instances on `test`'s Redis and prefix.
fn pair_on_redis(test: &TestRedis) -> (RedisQueue, RedisQueue) {
    pair(|| {
        RedisQueue::connect(
            &test.url,
            &test.prefix,
            contract_settings(),
            Duration::from_secs(5),
        )
        .expect("valid redis url")
    })
}

/// Two background-mode instances on `test`'s Cluster and prefix.
fn pair_on_cluster(test: &TestRedis) -> (RedisQueue, RedisQueue) {
    pair(|| {
        RedisQueue::connect_cluster(
            &test.nodes,
            &test.prefix,
            contract_settings(),
            Duration::from_secs(5),
        )
        .expect("valid redis urls")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retired_lines_leave_nothing_on_either_instance_on_redis() {
    let test = TestRedis::new();
    let (a, b) = pair_on_redis(&test);
    assert_retired_lines_leave_nothing_on_either_instance(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retired_lines_leave_nothing_on_either_instance_on_redis_cluster() {
    let test = TestRedis::on_cluster();
    let (a, b) = pair_on_cluster(&test);
    assert_retired_lines_leave_nothing_on_either_instance(a, b).await;
}

/// An instance in background mode that read a line before anyone entered it (its ticker
/// does, every tick) knows the first entrant's token at once, however soon after the
/// entry it is asked: that entry started the line's first incarnation, which its read
/// could not know (the fan was told 401 `unknown queue token` for one recheck interval).
async fn assert_the_first_entrant_is_known_at_once(a: RedisQueue, b: RedisQueue) {
    let t0 = Utc.timestamp_millis_opt(1_900_000_000_000).unwrap();
    for n in 0..10 {
        let concert = ConcertId(9_300 + n);
        b.tick(concert, t0).await.expect("a tick of an empty line");
        let entered = a.enter(concert, UserId(1), t0).await.expect("enter");
        let ticket = b
            .status(&entered.ticket.token, t0)
            .await
            .unwrap_or_else(|e| panic!("line {n}: the first entrant's token: {e:?}"));
        assert_eq!(ticket.position, Some(1), "line {n}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_entrant_is_known_at_once_by_an_instance_that_read_the_empty_line_on_redis() {
    let test = TestRedis::new();
    let (a, b) = pair_on_redis(&test);
    assert_the_first_entrant_is_known_at_once(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_entrant_is_known_at_once_by_an_instance_that_read_the_empty_line_on_redis_cluster()
 {
    let test = TestRedis::on_cluster();
    let (a, b) = pair_on_cluster(&test);
    assert_the_first_entrant_is_known_at_once(a, b).await;
}
