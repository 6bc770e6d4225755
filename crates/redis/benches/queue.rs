//! Benchmarks of `RedisQueue` on the Redis named by `FRONTROW_TEST_REDIS_URL` (start one
//! with `source scripts/services.sh; services_up redis`): the connection strategy, enter
//! and status with 1,000 and 1,000,000 fans waiting, and admitting 10,000 in one tick.
//! Keys live under a fresh prefix and are unlinked at the end.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use deadpool_redis::redis;
use frontrow_domain::model::{ConcertId, UserId};
use frontrow_domain::ports::Queue;
use frontrow_domain::queue::{QueuePolicy, QueueSettings};
use frontrow_redis::RedisQueue;

fn url() -> String {
    match std::env::var("FRONTROW_TEST_REDIS_URL") {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "FRONTROW_TEST_REDIS_URL is not set: run `source scripts/services.sh; \
             services_up redis` first (it starts a throwaway redis-server)"
        ),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_900_000_000_000 + ms).unwrap()
}

fn paused() -> QueuePolicy {
    QueuePolicy {
        paused: true,
        ..QueuePolicy::default()
    }
}

async fn unlink_prefix(url: &str, prefix: &str) {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            redis::cmd("UNLINK")
                .arg(keys)
                .query_async::<()>(&mut conn)
                .await
                .unwrap();
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
}

/// One `PING` round trip through a deadpool checkout vs a shared multiplexed connection.
fn connection(c: &mut Criterion) {
    let rt = runtime();
    let url = url();
    let pool = deadpool_redis::Config::from_url(url.clone())
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .unwrap();
    let mux = rt.block_on(async {
        redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    });
    let mut group = c.benchmark_group("connection");
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("deadpool_checkout_ping", |b| {
        b.to_async(&rt).iter(|| async {
            let mut conn = pool.get().await.unwrap();
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .unwrap()
        })
    });
    group.bench_function("shared_multiplexed_ping", |b| {
        b.to_async(&rt).iter(|| async {
            let mut conn = mux.clone();
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .unwrap()
        })
    });
    group.finish();
}

/// Prints p50/p99 of `n` sequential calls (criterion reports means of batches).
async fn percentiles<F, Fut>(label: &str, n: usize, mut call: F)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let start = Instant::now();
        call(i).await;
        samples.push(start.elapsed());
    }
    samples.sort();
    eprintln!(
        "{label}: p50 {:?}, p99 {:?} over {n} calls",
        samples[n / 2],
        samples[n * 99 / 100]
    );
}

fn queue(c: &mut Criterion) {
    let rt = runtime();
    let url = url();
    let prefix = format!("frontrow-bench:{}:", uuid::Uuid::new_v4().simple());
    let q = RedisQueue::connect(
        &url,
        &prefix,
        QueueSettings::default(),
        Duration::from_secs(30),
    )
    .unwrap();
    let next_user = AtomicI64::new(10_000_000);

    let mut group = c.benchmark_group("redis_queue");
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    for (concert, waiting) in [(ConcertId(1), 1_000u64), (ConcertId(2), 1_000_000)] {
        rt.block_on(async {
            q.set_policy(concert, paused()).await.unwrap();
            let start = Instant::now();
            q.bulk_fill(concert, 0, waiting, at(0)).await.unwrap();
            eprintln!("filled {waiting} waiting in {:?}", start.elapsed());
        });
        let token = rt.block_on(async {
            q.enter(concert, UserId(-1), at(0))
                .await
                .unwrap()
                .ticket
                .token
        });
        group.bench_with_input(BenchmarkId::new("status", waiting), &waiting, |b, _| {
            b.to_async(&rt)
                .iter(|| async { black_box(q.status(&token, at(1)).await.unwrap()) })
        });
        group.bench_with_input(BenchmarkId::new("enter", waiting), &waiting, |b, _| {
            b.to_async(&rt).iter(|| async {
                let user = UserId(next_user.fetch_add(1, Ordering::Relaxed));
                black_box(q.enter(concert, user, at(1)).await.unwrap())
            })
        });
        rt.block_on(percentiles(
            &format!("redis status with {waiting} waiting"),
            10_000,
            |_| async {
                black_box(q.status(&token, at(2)).await.unwrap());
            },
        ));
    }

    // Admit 10,000 in one tick: a fresh concert with 10,000 waiting per iteration.
    let next_concert = AtomicI64::new(100);
    group.sample_size(10);
    group.bench_function("admit_10000_in_one_tick", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let q = &q;
            let next_concert = &next_concert;
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let concert = ConcertId(next_concert.fetch_add(1, Ordering::Relaxed));
                    let policy = QueuePolicy {
                        max_active: 1_000_000,
                        admit_per_second: 10_000,
                        active_ttl_seconds: 600,
                        paused: false,
                        pow_difficulty: 0,
                    };
                    q.set_policy(concert, policy).await.unwrap();
                    q.bulk_fill(concert, 0, 10_000, at(0)).await.unwrap();
                    let start = Instant::now();
                    let report = q.tick(concert, at(0)).await.unwrap();
                    total += start.elapsed();
                    assert_eq!(report.admitted, 10_000);
                }
                total
            }
        })
    });
    group.finish();
    rt.block_on(unlink_prefix(&url, &prefix));
}

criterion_group!(benches, connection, queue);
criterion_main!(benches);
