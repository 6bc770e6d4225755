//! What one concert's line costs Redis, measured on a real server:
//! - memory per waiting fan (`used_memory` delta over N fans who entered through the
//!   real `enter` script, plus the same for N bulk-filled fans);
//! - Redis-side time of one tick admitting 10,000 (`INFO commandstats`, evalsha usec);
//! - Redis commands per status answer in background mode (`INFO commandstats` calls).
//!
//! `cargo run --release -p frontrow-redis --example line_costs -- redis://127.0.0.1:6379 [fans] [enter-only]`
//! Prints a Markdown table. Uses its own key prefix and deletes it at the end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use deadpool_redis::redis;
use frontrow_domain::model::{ConcertId, UserId};
use frontrow_domain::ports::Queue;
use frontrow_domain::queue::{QueuePolicy, QueueSettings};
use frontrow_redis::RedisQueue;
use futures::StreamExt;

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_900_000_000_000 + ms).unwrap()
}

async fn info(conn: &mut redis::aio::MultiplexedConnection, section: &str) -> String {
    redis::cmd("INFO")
        .arg(section)
        .query_async(conn)
        .await
        .unwrap()
}

async fn used_memory(conn: &mut redis::aio::MultiplexedConnection) -> i64 {
    let text = info(conn, "memory").await;
    text.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// command → (calls, usec)
async fn commandstats(conn: &mut redis::aio::MultiplexedConnection) -> HashMap<String, (u64, u64)> {
    let text = info(conn, "commandstats").await;
    let mut out = HashMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("cmdstat_") else {
            continue;
        };
        let Some((name, fields)) = rest.split_once(':') else {
            continue;
        };
        let mut calls = 0;
        let mut usec = 0;
        for kv in fields.split(',') {
            if let Some(v) = kv.strip_prefix("calls=") {
                calls = v.parse().unwrap_or(0);
            } else if let Some(v) = kv.strip_prefix("usec=") {
                usec = v.parse().unwrap_or(0);
            }
        }
        out.insert(name.to_owned(), (calls, usec));
    }
    out
}

fn delta(
    before: &HashMap<String, (u64, u64)>,
    after: &HashMap<String, (u64, u64)>,
) -> Vec<(String, u64, u64)> {
    let mut d: Vec<(String, u64, u64)> = after
        .iter()
        .map(|(k, &(c, u))| {
            let (c0, u0) = before.get(k).copied().unwrap_or((0, 0));
            (k.clone(), c - c0, u - u0)
        })
        .filter(|(_, c, _)| *c > 0)
        .collect();
    d.sort_by_key(|b| std::cmp::Reverse(b.1));
    d
}

/// Redis time spent in scripts (a script's usec covers the commands it ran).
fn script_usec(before: &HashMap<String, (u64, u64)>, after: &HashMap<String, (u64, u64)>) -> u64 {
    delta(before, after)
        .iter()
        .filter(|(k, _, _)| k == "evalsha" || k == "eval")
        .map(|(_, _, u)| *u)
        .sum()
}

fn paused() -> QueuePolicy {
    QueuePolicy {
        max_active: 1_000_000,
        admit_per_second: 10_000,
        active_ttl_seconds: 600,
        paused: true,
        ..QueuePolicy::default()
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let fans: u64 = args.next().map_or(200_000, |s| s.parse().unwrap());
    // `enter-only`: stop after the enters (loadtest/aof_cost.sh compares persistence
    // settings on the line's busiest write).
    let enter_only = args.next().as_deref() == Some("enter-only");
    let prefix = format!("frontrow-costs:{}:", uuid::Uuid::new_v4().simple());
    let settings = QueueSettings::default();
    let q = Arc::new(
        RedisQueue::connect(&url, &prefix, settings, Duration::from_secs(30))
            .unwrap()
            .with_background_sync(Duration::from_millis(50), Duration::from_secs(2)),
    );
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    println!("| figure | value | how |");
    println!("|---|---|---|");

    // 1. memory per waiting fan, through the real enter script
    let concert = ConcertId(1);
    q.set_policy(concert, paused()).await.unwrap();
    q.enter(concert, UserId(-1), at(0)).await.unwrap();
    let before = used_memory(&mut conn).await;
    let stats_before = commandstats(&mut conn).await;
    let started = Instant::now();
    let tokens: Vec<_> = futures::stream::iter(0..fans as i64)
        .map(|u| {
            let q = q.clone();
            async move {
                q.enter(concert, UserId(u), at(1))
                    .await
                    .unwrap()
                    .ticket
                    .token
            }
        })
        .buffer_unordered(256)
        .collect()
        .await;
    let took = started.elapsed();
    let stats_after = commandstats(&mut conn).await;
    let after = used_memory(&mut conn).await;
    let enter_usec = script_usec(&stats_before, &stats_after);
    println!(
        "| Redis memory per waiting fan (enter script) | {:.1} B | used_memory delta over {fans} enters |",
        (after - before) as f64 / fans as f64
    );
    println!(
        "| Redis time per enter | {:.1} µs | commandstats evalsha usec over {fans} enters (the enter scripts and the view reads around them) |",
        enter_usec as f64 / fans as f64
    );
    println!(
        "| enters/s (one client process, 256 in flight) | {:.0} | {fans} in {:.1} s |",
        fans as f64 / took.as_secs_f64(),
        took.as_secs_f64()
    );

    if enter_only {
        return;
    }

    // 2. commands per status answer, background mode
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = commandstats(&mut conn).await;
    let polls = 200_000usize;
    let started = Instant::now();
    futures::stream::iter(0..polls)
        .map(|i| {
            let q = q.clone();
            let t = tokens[i % tokens.len()].clone();
            async move {
                q.status(&t, at(2)).await.unwrap();
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<()>>()
        .await;
    let took = started.elapsed();
    q.flush_heartbeats().await.unwrap();
    let after = commandstats(&mut conn).await;
    let d = delta(&before, &after);
    let calls: u64 = d
        .iter()
        .filter(|(k, _, _)| k != "info")
        .map(|(_, c, _)| c)
        .sum();
    println!(
        "| Redis commands per status answer | {:.5} | {calls} commands (scripts and the commands they ran) over {polls} statuses in {:.1} s, heartbeats flushed |",
        calls as f64 / polls as f64,
        took.as_secs_f64()
    );
    let top: Vec<String> = d
        .iter()
        .take(5)
        .map(|(k, c, _)| format!("{k} {c}"))
        .collect();
    println!("| … of which | {} | |", top.join(", "));
    println!(
        "| Redis time per status answer | {:.4} µs | commandstats usec of the view reads (evalsha) and heartbeat flushes (bitfield) over {polls} statuses, each the first of its fan (later polls within half the idle timeout send nothing) |",
        (script_usec(&before, &after)
            + d.iter()
                .filter(|(k, _, _)| k == "bitfield")
                .map(|(_, _, u)| *u)
                .sum::<u64>()) as f64
            / polls as f64
    );

    // 3. one tick admitting 10,000 with `fans` waiting
    let open = QueuePolicy {
        paused: false,
        ..paused()
    };
    q.set_policy(concert, open).await.unwrap();
    q.tick(concert, at(3)).await.unwrap(); // warms the idle scan and the view
    let mut worst = 0u64;
    let mut sum = 0u64;
    let rounds = 5;
    for r in 0..rounds {
        let before = commandstats(&mut conn).await;
        let report = q.tick(concert, at(1_003 + r * 1_000)).await.unwrap();
        let after = commandstats(&mut conn).await;
        assert_eq!(report.admitted, 10_000, "{report:?}");
        // the tick script only (evalsha), not the sync/heartbeat calls around it
        let usec = delta(&before, &after)
            .iter()
            .filter(|(k, _, _)| k == "evalsha" || k == "eval")
            .map(|(_, _, u)| *u)
            .sum::<u64>();
        worst = worst.max(usec);
        sum += usec;
    }
    println!(
        "| Redis time of a tick admitting 10,000 | {:.2} ms mean, {:.2} ms worst | commandstats evalsha usec over {rounds} ticks (includes the sync script before each), {fans} waiting |",
        sum as f64 / rounds as f64 / 1000.0,
        worst as f64 / 1000.0
    );

    // cleanup
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(10_000)
            .query_async(&mut conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            let _: () = redis::cmd("UNLINK")
                .arg(&keys)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
}
