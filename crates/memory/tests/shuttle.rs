//! A model check of the in-memory queue's critical sections with shuttle: threads call
//! the queue while shuttle's scheduler picks, at every lock, which thread goes next —
//! hundreds of schedules per property, chosen at random (`check_random`) and by the PCT
//! algorithm (`check_pct`), which finds bugs needing a few specific preemptions. On the
//! Tokio runtime the queue's calls never await, so each runs to its end before another
//! starts on the same thread; only a scheduler that preempts at the locks can show how
//! two callers' steps interleave.
//!
//! Run: `cargo test -p frontrow-memory --features shuttle --test shuttle` (the feature
//! swaps the crate's locks for shuttle's; nothing else changes).

#![cfg(feature = "shuttle")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use frontrow_domain::model::{ConcertId, UserId};
use frontrow_domain::ports::Queue;
use frontrow_domain::queue::{Entered, QueuePolicy, QueueSettings, TokenKey};
use frontrow_memory::MemoryQueue;
use shuttle::future::block_on;
use shuttle::thread;

const CONCERT: ConcertId = ConcertId(7);
const SCHEDULES: usize = 300;

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_900_000_000_000 + ms)
        .single()
        .expect("valid time")
}

fn queue(max_active: u64, admit_per_second: u64) -> Arc<MemoryQueue> {
    Arc::new(MemoryQueue::new(QueueSettings {
        default_policy: QueuePolicy {
            max_active,
            admit_per_second,
            active_ttl_seconds: 600,
            paused: false,
            ..QueuePolicy::default()
        },
        idle_timeout_seconds: 60,
        max_expire_per_tick: 3,
        token_key: TokenKey::derive(b"shuttle"),
    }))
}

/// Runs `property` under both of shuttle's schedulers.
fn check(property: impl Fn() + Send + Sync + 'static) {
    let property = Arc::new(property);
    let p = property.clone();
    shuttle::check_random(move || p(), SCHEDULES);
    shuttle::check_pct(move || property(), SCHEDULES, 3);
}

/// Each of `calls` on a thread of its own; their results in order.
fn on_threads<T: Send + 'static>(calls: Vec<Box<dyn FnOnce() -> T + Send>>) -> Vec<T> {
    let handles: Vec<_> = calls.into_iter().map(thread::spawn).collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// The fans `users` entering at once, each on a thread of its own.
fn entering_at_once(q: &Arc<MemoryQueue>, users: &[i64]) -> Vec<Entered> {
    let calls = users
        .iter()
        .map(|&u| {
            let q = q.clone();
            Box::new(move || block_on(q.enter(CONCERT, UserId(u), at(0))).unwrap())
                as Box<dyn FnOnce() -> Entered + Send>
        })
        .collect();
    on_threads(calls)
}

#[test]
fn the_first_fans_of_a_new_line_are_all_kept() {
    check(|| {
        let q = queue(10, 10);
        entering_at_once(&q, &[0, 1, 2]);
        let stats = block_on(q.stats(CONCERT, at(1))).unwrap();
        assert_eq!(stats.waiting + stats.active, 3, "{stats:?}");
    });
}

#[test]
fn one_fan_entering_twice_at_once_gets_one_place() {
    check(|| {
        let q = queue(10, 10);
        let entered = entering_at_once(&q, &[1, 1]);
        let tokens: HashSet<_> = entered.iter().map(|e| e.ticket.token.clone()).collect();
        assert_eq!(tokens.len(), 1);
        assert_eq!(entered.iter().filter(|e| e.created).count(), 1);
    });
}

#[test]
fn tickers_at_once_admit_no_more_than_one_would() {
    check(|| {
        // Room for 2, a bucket of 2 a second: two tickers at the same instant, while a
        // fan enters, admit at most 2 between them.
        let q = queue(2, 2);
        for u in 0..4 {
            block_on(q.enter(CONCERT, UserId(u), at(0))).unwrap();
        }
        let calls: Vec<Box<dyn FnOnce() -> u64 + Send>> = vec![
            {
                let q = q.clone();
                Box::new(move || block_on(q.tick(CONCERT, at(10))).unwrap().admitted)
            },
            {
                let q = q.clone();
                Box::new(move || block_on(q.tick(CONCERT, at(10))).unwrap().admitted)
            },
            {
                let q = q.clone();
                Box::new(move || {
                    block_on(q.enter(CONCERT, UserId(9), at(10))).unwrap();
                    0
                })
            },
        ];
        let admitted: u64 = on_threads(calls).into_iter().sum();
        assert!(admitted <= 2, "{admitted} admitted by two tickers");
        let stats = block_on(q.stats(CONCERT, at(11))).unwrap();
        assert!(stats.active <= 2, "{stats:?}");
        assert_eq!(stats.admitted_total, admitted);
        assert_eq!(stats.waiting + stats.active, 5, "nobody lost: {stats:?}");
    });
}
