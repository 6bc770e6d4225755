//! `RedisQueue` on a Redis Cluster, beyond the contract suite (which `queue_contract`
//! runs there too): the server's mode checked against the configured one, and a slot
//! moved between masters in the middle of a sale (`MOVED`/`ASK` followed, nothing lost).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use frontrow_domain::error::QueueError;
use frontrow_domain::model::{ConcertId, UserId};
use frontrow_domain::ports::Queue;
use frontrow_domain::queue::{QueuePolicy, QueueSettings, QueueToken, TicketStatus, TokenKey};
use frontrow_redis::RedisQueue;
use frontrow_tests::redis::{Cluster, TestRedis, redis_url};

const T0: i64 = 1_900_000_000_000;

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(T0 + ms)
        .single()
        .expect("valid time")
}

fn settings() -> QueueSettings {
    QueueSettings {
        default_policy: QueuePolicy {
            max_active: 100_000,
            admit_per_second: 100_000,
            active_ttl_seconds: 600,
            ..QueuePolicy::default()
        },
        idle_timeout_seconds: 600,
        max_expire_per_tick: 100,
        token_key: TokenKey::derive(b"cluster suite"),
    }
}

fn unavailable_text(result: Result<(), QueueError>) -> String {
    match result {
        Err(QueueError::Unavailable(e)) => e.to_string(),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_node_client_on_a_cluster_node_is_not_ready_and_says_why_on_redis_cluster() {
    let test = TestRedis::on_cluster();
    let q = RedisQueue::connect(&test.url, &test.prefix, settings(), Duration::from_secs(5))
        .expect("valid url");
    let said = unavailable_text(q.check_mode().await);
    assert!(said.contains("FRONTROW__REDIS__CLUSTER=true"), "{said}");
    let said = unavailable_text(q.ping().await);
    assert!(said.contains("FRONTROW__REDIS__CLUSTER=true"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_mode_on_a_single_node_is_not_ready_and_says_why_on_redis_cluster() {
    let single = redis_url();
    let q = RedisQueue::connect_cluster(
        std::slice::from_ref(&single),
        "frontrow-test:mode:",
        settings(),
        Duration::from_secs(2),
    )
    .expect("valid url");
    let said = unavailable_text(q.check_mode().await);
    assert!(said.contains("FRONTROW__REDIS__CLUSTER=false"), "{said}");
    let said = unavailable_text(q.ping().await);
    assert!(said.contains("FRONTROW__REDIS__CLUSTER=false"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_right_mode_is_ready_on_redis_cluster() {
    let test = TestRedis::on_cluster();
    let q = RedisQueue::connect_cluster(
        &test.nodes,
        &test.prefix,
        settings(),
        Duration::from_secs(5),
    )
    .expect("valid urls");
    q.check_mode().await.expect("a cluster in cluster mode");
    q.ping().await.expect("ready");
    let single = RedisQueue::connect(
        &redis_url(),
        &test.prefix,
        settings(),
        Duration::from_secs(5),
    )
    .expect("valid url");
    single.ping().await.expect("a single node in single mode");
}

/// Fans enter through two instances while the concert's slot moves to another master
/// and back, key by key: every fan gets exactly one place, the places are 1..=N without
/// gaps, admissions continue, and every token still reads its standing afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slot_migrating_in_the_middle_of_a_sale_loses_nothing_on_redis_cluster() {
    // A concert id no other test uses: the slot of `{concert:ID}` is shared by every
    // prefix, and only this test's keys should move.
    const CONCERT: ConcertId = ConcertId(90_017);
    const FANS: i64 = 1_200;
    let test = TestRedis::on_cluster();
    let cluster = Cluster::new(test.nodes.clone());
    let slot = cluster.slot_of(&format!("{{concert:{}}}", CONCERT.0));
    let home = cluster.owner(slot);
    let away = cluster
        .masters()
        .into_iter()
        .find(|m| m.id != home.id)
        .expect("another master");
    let make = || -> Arc<dyn Queue> {
        Arc::new(
            RedisQueue::connect_cluster(
                &test.nodes,
                &test.prefix,
                settings(),
                Duration::from_secs(5),
            )
            .expect("valid urls"),
        )
    };
    let (a, b) = (make(), make());
    // The line exists (and spreads over many user buckets) before the move starts.
    for user in 0..100 {
        a.enter(CONCERT, UserId(user), at(0)).await.expect("enter");
    }

    let done = Arc::new(AtomicBool::new(false));
    let mover = {
        let done = done.clone();
        let (home, away) = (home.clone(), away.clone());
        let cluster = Cluster::new(test.nodes.clone());
        tokio::task::spawn_blocking(move || {
            let mut moved = Vec::new();
            std::thread::sleep(Duration::from_millis(200));
            let started = Instant::now();
            moved.push(cluster.migrate_slot(slot, &away));
            std::thread::sleep(Duration::from_millis(300));
            moved.push(cluster.migrate_slot(slot, &home));
            let took = started.elapsed();
            done.store(true, Ordering::SeqCst);
            (moved, took)
        })
    };
    let tickers = {
        let (a, done) = (a.clone(), done.clone());
        tokio::spawn(async move {
            let (mut admitted, mut skipped) = (0u64, 0u32);
            let mut ms = 1;
            while !done.load(Ordering::SeqCst) {
                // The app's ticker skips a tick the queue refuses, as here.
                match a.tick(CONCERT, at(ms)).await {
                    Ok(r) => admitted += r.admitted,
                    Err(QueueError::Unavailable(_)) => skipped += 1,
                    Err(e) => panic!("tick during the move: {e}"),
                }
                ms += 10;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (admitted, skipped)
        })
    };
    let mut workers = Vec::new();
    for w in 0..4i64 {
        let q = if w % 2 == 0 { a.clone() } else { b.clone() };
        let done = done.clone();
        workers.push(tokio::spawn(async move {
            let mut tokens = Vec::new();
            let mut refused = 0u32;
            let mut user = 100 + w;
            // Keep entering until the move is over, and at least FANS / 4 each.
            while user < FANS || !done.load(Ordering::SeqCst) {
                // A fan told "unavailable" (503 + Retry-After over HTTP) tries again: a
                // slot can stay half moved longer than the client's retries last.
                let entered = loop {
                    match q.enter(CONCERT, UserId(user), at(5)).await {
                        Ok(entered) => break entered,
                        Err(QueueError::Unavailable(_)) if refused < 200 => refused += 1,
                        Err(e) => panic!("enter during the move: {e}"),
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                };
                // A retried enter may find the fan already in line (an earlier try went
                // through, its answer was lost): then it is the same place.
                tokens.push((user, entered.ticket.token.clone()));
                loop {
                    match q.status(&entered.ticket.token, at(6)).await {
                        Ok(_) => break,
                        Err(QueueError::Unavailable(_)) if refused < 200 => refused += 1,
                        Err(e) => panic!("status during the move: {e}"),
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                user += 4;
            }
            (tokens, refused)
        }));
    }
    let mut tokens: Vec<(i64, QueueToken)> = Vec::new();
    let mut refused = 0;
    for w in workers {
        let (t, r) = w.await.expect("worker");
        tokens.extend(t);
        refused += r;
    }
    let (moved, took) = mover.await.expect("mover");
    let (admitted_during, skipped) = tickers.await.expect("ticker");
    println!(
        "CLUSTER slot {slot} moved {} → {} → {} in {took:?} ({moved:?} keys) under {} entries ({refused} calls refused and retried), {admitted_during} admitted meanwhile ({skipped} ticks refused)",
        home.url,
        away.url,
        home.url,
        tokens.len()
    );
    assert!(
        moved.iter().all(|&n| n > 100),
        "the line's keys moved: {moved:?}"
    );
    assert_eq!(cluster.owner(slot).id, home.id, "the slot is home again");

    // Every place 1..=N taken exactly once, one per fan.
    let total = 100 + tokens.len() as u64;
    let places: HashSet<u64> = tokens.iter().map(|(_, t)| t.seq()).collect();
    assert_eq!(places.len(), tokens.len(), "no place given twice");
    assert!(
        places.iter().all(|&p| (101..=total).contains(&p)),
        "places within 1..={total}"
    );
    let stats = b.stats(CONCERT, at(10)).await.expect("stats");
    assert_eq!(
        stats.waiting + stats.admitted_total,
        total,
        "every fan is waiting or was admitted: {stats:?}"
    );
    // Everyone is eventually admitted, in place order, and reads ACTIVE.
    a.tick(CONCERT, at(20)).await.expect("tick");
    for (_, token) in tokens.iter().step_by(7) {
        let ticket = b
            .status(token, at(21))
            .await
            .expect("status after the move");
        assert_eq!(ticket.status, TicketStatus::Active, "place {}", token.seq());
    }
    // Entering again keeps the place (the users hash moved intact).
    for (user, token) in tokens.iter().step_by(50) {
        let again = a
            .enter(CONCERT, UserId(*user), at(22))
            .await
            .expect("enter again");
        assert!(!again.created);
        assert_eq!(&again.ticket.token, token);
    }
}
