//! Benchmarks of `MemoryQueue`: enter and status with 1,000 and 1,000,000 fans waiting,
//! and admitting 10,000 in one tick.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use frontrow_domain::model::{ConcertId, UserId};
use frontrow_domain::ports::Queue;
use frontrow_domain::queue::{QueuePolicy, QueueSettings};
use frontrow_memory::MemoryQueue;

const CONCERT: ConcertId = ConcertId(1);

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_900_000_000_000 + ms).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn filled(rt: &tokio::runtime::Runtime, waiting: i64, policy: QueuePolicy) -> MemoryQueue {
    let q = MemoryQueue::new(QueueSettings::default());
    rt.block_on(async {
        q.set_policy(CONCERT, policy).await.unwrap();
        for user in 0..waiting {
            q.enter(CONCERT, UserId(user), at(0)).await.unwrap();
        }
    });
    q
}

fn queue(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("memory_queue");
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    let paused = QueuePolicy {
        paused: true,
        ..QueuePolicy::default()
    };
    for waiting in [1_000i64, 1_000_000] {
        let q = filled(&rt, waiting, paused);
        // A fan at the back of the line.
        let token = rt.block_on(async {
            q.enter(CONCERT, UserId(-1), at(0))
                .await
                .unwrap()
                .ticket
                .token
        });
        group.bench_with_input(BenchmarkId::new("status", waiting), &waiting, |b, _| {
            b.to_async(&rt)
                .iter(|| async { black_box(q.status(&token, at(1)).await.unwrap()) })
        });
        let next_user = AtomicI64::new(waiting + 1);
        group.bench_with_input(BenchmarkId::new("enter", waiting), &waiting, |b, _| {
            b.to_async(&rt).iter(|| async {
                let user = UserId(next_user.fetch_add(1, Ordering::Relaxed));
                black_box(q.enter(CONCERT, user, at(1)).await.unwrap())
            })
        });
        let mut samples: Vec<Duration> = (0..10_000)
            .map(|_| {
                let start = Instant::now();
                black_box(rt.block_on(q.status(&token, at(2))).unwrap());
                start.elapsed()
            })
            .collect();
        samples.sort();
        eprintln!(
            "memory status with {waiting} waiting: p50 {:?}, p99 {:?}",
            samples[5_000], samples[9_900]
        );
    }

    group.sample_size(10);
    let open = QueuePolicy {
        max_active: 1_000_000,
        admit_per_second: 10_000,
        active_ttl_seconds: 600,
        paused: false,
        pow_difficulty: 0,
    };
    group.bench_function("admit_10000_in_one_tick", |b| {
        b.iter_batched(
            || filled(&rt, 10_000, open),
            |q| {
                let report = rt.block_on(q.tick(CONCERT, at(0))).unwrap();
                assert_eq!(report.admitted, 10_000);
                q
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, queue);
criterion_main!(benches);
