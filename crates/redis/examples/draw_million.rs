//! How long the on-sale draw takes: N fans pre-queued on a real Redis, then
//! the tick at the opening that freezes the pre-queue, claims the draw, orders the
//! entrants by the seed (in Rust), stores their places and reveals the seed. Checks the
//! result: the receipts verify against the revealed seed and the commitment, and a
//! second instance reads every place from its own view.
//!
//! `cargo run --release -p frontrow-redis --example draw_million -- redis://127.0.0.1:6379 [fans]`
//! Uses its own key prefix and deletes it at the end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use deadpool_redis::redis;
use frontrow_domain::draw::verify;
use frontrow_domain::model::ConcertId;
use frontrow_domain::ports::Queue;
use frontrow_domain::queue::{QueuePolicy, QueueSettings};
use frontrow_redis::RedisQueue;

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_900_000_000_000 + ms).unwrap()
}

#[tokio::main]
async fn main() {
    // The drawing instance logs how the draw's time splits (read, order, store).
    tracing_subscriber::fmt()
        .with_env_filter("frontrow_redis=info")
        .init();
    let mut args = std::env::args().skip(1);
    let url = args.next().expect("usage: draw_million <redis-url> [fans]");
    let fans: u64 = args.next().map_or(1_000_000, |n| n.parse().expect("fans"));
    let prefix = format!("draw-bench:{}:", uuid::Uuid::new_v4().simple());
    let settings = QueueSettings {
        idle_timeout_seconds: 3_600,
        ..QueueSettings::default()
    };
    let timeout = Duration::from_secs(30);
    let q = RedisQueue::connect(&url, &prefix, settings, timeout).unwrap();
    let concert = ConcertId(1);
    let policy = QueuePolicy {
        sale_opens_at: Some(at(60_000)),
        paused: true,
        ..QueuePolicy::default()
    };
    q.set_policy(concert, policy).await.unwrap();

    let started = Instant::now();
    q.bulk_fill(concert, 1, fans, at(0)).await.unwrap();
    println!(
        "pre-queued {fans} fans in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let before = q.draw(concert).await.unwrap().expect("draw");
    assert_eq!(before.entrants, fans);

    // The tick at the opening performs the draw.
    let started = Instant::now();
    q.tick(concert, at(60_001)).await.unwrap();
    let draw_time = started.elapsed();
    let after = q.draw(concert).await.unwrap().expect("draw");
    assert!(after.seed.is_some(), "the draw ran in that tick");
    println!(
        "draw of {fans} entrants (freeze, claim, order in Rust, store, reveal; one tick): {:.3} s",
        draw_time.as_secs_f64()
    );

    // Another instance loads the stored draw and lists the receipts; they verify.
    let other = RedisQueue::connect(&url, &prefix, QueueSettings::default(), timeout).unwrap();
    let started = Instant::now();
    let receipts = other
        .draw_receipts(concert, 0, fans)
        .await
        .unwrap()
        .expect("drawn");
    println!(
        "a second instance loads the draw and lists {} receipts in {:.3} s",
        receipts.len(),
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    verify(&after, &receipts).expect("the draw verifies");
    println!(
        "verify (commitment + recomputed order): ok in {:.3} s",
        started.elapsed().as_secs_f64()
    );

    // Where the ordering time goes, one step at a time on this thread.
    let signer = frontrow_domain::queue::TokenKey::derive(b"bench")
        .for_line(concert, 1)
        .signer();
    let t = Instant::now();
    let tokens: Vec<String> = (1..=fans)
        .map(|n| {
            signer
                .issue(concert, n, frontrow_domain::model::UserId(n as i64))
                .as_str()
                .to_owned()
        })
        .collect();
    let issue_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let receipts: Vec<String> = tokens
        .iter()
        .map(|t| frontrow_domain::draw::receipt(t))
        .collect();
    let receipt_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let order = frontrow_domain::draw::Seed::random().order(&receipts);
    println!(
        "steps for {fans}: sign tokens {issue_s:.3} s, SHA-256 receipts {receipt_s:.3} s, order (HMAC + sort) {:.3} s ({} drawn)",
        t.elapsed().as_secs_f64(),
        order.len()
    );

    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    for key in keys {
        let _: () = redis::cmd("DEL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}
