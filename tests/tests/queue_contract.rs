//! The `Queue` contract (the docs of `frontrow_domain::ports::Queue`), one generic suite
//! run unchanged against `MemoryQueue` and `RedisQueue` (on the Redis of
//! `scripts/test.sh`, and on its Redis Cluster, one key prefix per test). Time is driven
//! through `now`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use frontrow_domain::draw::{receipt, verify};
use frontrow_domain::error::QueueError;
use frontrow_domain::model::{ConcertId, UserId};
use frontrow_domain::ports::Queue;
use frontrow_domain::queue::{
    AdmissionCap, Inventory, QueuePolicy, QueueSettings, QueueToken, TicketStatus, TokenKey,
    eta_seconds,
};
use frontrow_redis::RedisQueue;
use frontrow_tests::queues::{contract_settings, on_memory, on_redis, on_redis_cluster};
use frontrow_tests::redis::TestRedis;
use frontrow_tests::wait;
use futures::{StreamExt, stream};

const CONCERT: ConcertId = ConcertId(7);
const OTHER: ConcertId = ConcertId(8);
const T0: i64 = 1_900_000_000_000;

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(T0 + ms)
        .single()
        .expect("valid time")
}

fn settings() -> QueueSettings {
    contract_settings()
}

fn policy(max_active: u64, admit_per_second: u64, active_ttl_seconds: u64) -> QueuePolicy {
    QueuePolicy {
        max_active,
        admit_per_second,
        active_ttl_seconds,
        paused: false,
        ..QueuePolicy::default()
    }
}

async fn enter(q: &dyn Queue, user: i64, now: DateTime<Utc>) -> QueueToken {
    q.enter(CONCERT, UserId(user), now)
        .await
        .expect("enter")
        .ticket
        .token
}

async fn position(q: &dyn Queue, token: &QueueToken, now: DateTime<Utc>) -> Option<u64> {
    q.status(token, now).await.expect("status").position
}

async fn status(q: &dyn Queue, token: &QueueToken, now: DateTime<Utc>) -> TicketStatus {
    q.status(token, now).await.expect("status").status
}

async fn assert_entering_twice_keeps_the_place(q: &dyn Queue) {
    let first = q.enter(CONCERT, UserId(1), at(0)).await.expect("enter");
    assert!(first.created);
    assert_eq!(first.ticket.status, TicketStatus::Waiting);
    assert_eq!(first.ticket.position, Some(1));
    assert_eq!(first.ticket.user_id, UserId(1));
    assert_eq!(first.ticket.concert_id, CONCERT);
    assert_eq!(first.ticket.token.concert(), CONCERT);
    assert!(first.ticket.eta_seconds.is_some());
    assert!(first.ticket.active_until.is_none());

    let second = q.enter(CONCERT, UserId(2), at(1)).await.expect("enter");
    assert!(second.created);
    assert_eq!(second.ticket.position, Some(2));

    let again = q.enter(CONCERT, UserId(1), at(2)).await.expect("enter");
    assert!(!again.created, "re-entering while waiting creates nothing");
    assert_eq!(again.ticket.token, first.ticket.token);
    assert_eq!(again.ticket.position, Some(1));
    assert_eq!(position(q, &second.ticket.token, at(3)).await, Some(2));

    // Still the same token once admitted.
    q.tick(CONCERT, at(10)).await.expect("tick");
    let active = q.enter(CONCERT, UserId(1), at(11)).await.expect("enter");
    assert!(!active.created);
    assert_eq!(active.ticket.token, first.ticket.token);
    assert_eq!(active.ticket.status, TicketStatus::Active);
    assert_eq!(
        active.ticket.active_until,
        Some(at(10 + 600_000)),
        "admitted at the tick for the policy's TTL"
    );
}

async fn assert_ten_thousand_entries_are_numbered_without_gaps(q: &dyn Queue) {
    const N: i64 = 10_000;
    let mut tokens = Vec::new();
    for user in 0..N {
        let entered = q.enter(CONCERT, UserId(user), at(0)).await.expect("enter");
        assert_eq!(entered.ticket.position, Some(user as u64 + 1));
        tokens.push(entered.ticket.token);
    }
    let distinct: HashSet<&QueueToken> = tokens.iter().collect();
    assert_eq!(distinct.len(), N as usize, "no duplicate token");

    let positions: Vec<u64> = stream::iter(&tokens)
        .map(|t| async move { position(q, t, at(1)).await.expect("waiting") })
        .buffered(64)
        .collect()
        .await;
    let expected: Vec<u64> = (1..=N as u64).collect();
    assert_eq!(positions, expected, "positions 1..=10000 in entry order");

    // Leaving closes the gap behind.
    for t in tokens.iter().step_by(2) {
        q.leave(t, at(2)).await.expect("leave");
    }
    for (i, t) in tokens.iter().skip(1).step_by(2).take(200).enumerate() {
        assert_eq!(position(q, t, at(3)).await, Some(i as u64 + 1));
    }
    assert_eq!(
        q.stats(CONCERT, at(3)).await.expect("stats").waiting,
        N as u64 / 2
    );
}

/// Runs `call` for each input as a task of its own on the (multi-thread) runtime, all
/// released at once by a barrier and each yielding a random number of times first: the
/// calls run in parallel on the runtime's threads in an order no two runs share. (An
/// adapter that never awaits, as the in-memory one, would otherwise run every call to
/// its end before the next began, and a race in it could never show.)
async fn in_parallel<I, T, F, Fut>(inputs: Vec<I>, call: F) -> Vec<T>
where
    I: Send + 'static,
    T: Send + 'static,
    F: Fn(I) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let start = Arc::new(tokio::sync::Barrier::new(inputs.len()));
    let call = Arc::new(call);
    let tasks: Vec<_> = inputs
        .into_iter()
        .map(|input| {
            let (start, call) = (start.clone(), call.clone());
            let yields = rand::random_range(0..4);
            tokio::spawn(async move {
                start.wait().await;
                for _ in 0..yields {
                    tokio::task::yield_now().await;
                }
                call(input).await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

async fn assert_concurrent_double_entries_yield_one_token_per_user(q: Arc<dyn Queue>) {
    const USERS: i64 = 1_000;
    let calls: Vec<i64> = (0..USERS).flat_map(|u| [u, u]).collect();
    let results: Vec<(i64, QueueToken, bool)> = {
        let q = q.clone();
        in_parallel(calls, move |u| {
            let q = q.clone();
            async move {
                let e = q.enter(CONCERT, UserId(u), at(0)).await.expect("enter");
                (u, e.ticket.token, e.created)
            }
        })
        .await
    };
    let q = q.as_ref();
    let mut per_user: HashMap<i64, (HashSet<QueueToken>, u32)> = HashMap::new();
    for (u, token, created) in results {
        let entry = per_user.entry(u).or_default();
        entry.0.insert(token);
        entry.1 += u32::from(created);
    }
    assert_eq!(per_user.len(), USERS as usize);
    for (u, (tokens, created)) in &per_user {
        assert_eq!(tokens.len(), 1, "user {u} got {} tokens", tokens.len());
        assert_eq!(*created, 1, "user {u}: exactly one call creates the place");
    }
    let all: HashSet<&QueueToken> = per_user.values().flat_map(|(t, _)| t).collect();
    assert_eq!(all.len(), USERS as usize);
    assert_eq!(
        q.stats(CONCERT, at(1)).await.expect("stats").waiting,
        USERS as u64
    );
    let positions: BTreeSet<u64> = stream::iter(all)
        .map(|t| async move { position(q, t, at(1)).await.expect("waiting") })
        .buffer_unordered(64)
        .collect()
        .await;
    assert_eq!(positions, (1..=USERS as u64).collect());
}

/// The first fans of many lines arrive at once: each line is created exactly once and
/// loses none of them (two callers creating the same line each their own would keep
/// only one's fans). Redis creates a line inside one script; the in-memory queue must
/// do it under one lock.
async fn assert_first_entries_of_fresh_lines_at_once_lose_nobody(q: Arc<dyn Queue>) {
    const LINES: i64 = 200;
    const FANS: i64 = 8;
    // A line's fans side by side, so the runtime's threads take them up together.
    let calls: Vec<(i64, i64)> = (0..LINES)
        .flat_map(|l| (0..FANS).map(move |f| (l, f)))
        .collect();
    {
        let q = q.clone();
        in_parallel(calls, move |(line, fan)| {
            let q = q.clone();
            async move {
                q.enter(ConcertId(1_000 + line), UserId(fan), at(0))
                    .await
                    .expect("enter")
            }
        })
        .await;
    }
    for line in 0..LINES {
        let stats = q
            .stats(ConcertId(1_000 + line), at(1))
            .await
            .expect("stats");
        assert_eq!(stats.waiting, FANS as u64, "line {line}: fans lost");
    }
}

async fn assert_unknown_tokens_are_rejected(q: &dyn Queue) {
    let real = enter(q, 1, at(0)).await;
    q.enter(OTHER, UserId(1), at(0)).await.expect("enter");
    // Signed with another key; moved to another concert or place (the MAC no longer
    // matches); correctly signed but for a place never issued.
    let forged = QueueToken::issue(&TokenKey::derive(b"not ours"), CONCERT, 1, UserId(1));
    let elsewhere =
        QueueToken::parse_unchecked(&real.as_str().replacen("7.", "8.", 1)).expect("format");
    let nowhere =
        QueueToken::parse_unchecked(&real.as_str().replacen("7.", "999.", 1)).expect("format");
    let never = QueueToken::issue(&settings().token_key, CONCERT, 1_000_000, UserId(1));
    for token in [&forged, &elsewhere, &nowhere, &never] {
        assert!(
            matches!(q.status(token, at(1)).await, Err(QueueError::UnknownToken)),
            "status of {token}"
        );
        assert!(
            matches!(q.leave(token, at(1)).await, Err(QueueError::UnknownToken)),
            "leave of {token}"
        );
    }
    assert_eq!(status(q, &real, at(1)).await, TicketStatus::Waiting);
}

async fn assert_leaving_expires_the_token(q: &dyn Queue) {
    q.set_policy(CONCERT, policy(10, 1, 600))
        .await
        .expect("set policy");
    let a = enter(q, 1, at(0)).await;
    let b = enter(q, 2, at(0)).await;
    let c = enter(q, 3, at(0)).await;
    assert_eq!(q.tick(CONCERT, at(0)).await.expect("tick").admitted, 1);
    assert_eq!(status(q, &a, at(1)).await, TicketStatus::Active);

    q.leave(&b, at(1)).await.expect("leave waiting");
    let left = q.status(&b, at(2)).await.expect("status");
    assert_eq!(left.status, TicketStatus::Expired);
    assert_eq!(
        (left.position, left.eta_seconds, left.active_until),
        (None, None, None)
    );
    assert_eq!(position(q, &c, at(2)).await, Some(1));
    q.leave(&b, at(3)).await.expect("leaving twice is a no-op");

    q.leave(&a, at(3)).await.expect("leave active");
    assert_eq!(status(q, &a, at(4)).await, TicketStatus::Expired);
    let stats = q.stats(CONCERT, at(4)).await.expect("stats");
    assert_eq!((stats.waiting, stats.active), (1, 0));

    let back = q.enter(CONCERT, UserId(2), at(5)).await.expect("enter");
    assert!(back.created, "after leaving, entering issues a new token");
    assert_ne!(back.ticket.token, b);
    assert_eq!(back.ticket.position, Some(2));
}

async fn assert_tick_admits_in_order_within_the_limits(q: &dyn Queue) {
    q.set_policy(CONCERT, policy(5, 3, 60)).await.expect("set");
    let mut tokens = Vec::new();
    for user in 0..10 {
        tokens.push(enter(q, user, at(0)).await);
    }
    let admitted = |ms| async move { q.tick(CONCERT, at(ms)).await.expect("tick").admitted };
    assert_eq!(admitted(0).await, 3, "a full bucket: one second of burst");
    assert_eq!(admitted(0).await, 0, "the bucket is empty");
    assert_eq!(admitted(500).await, 1, "half a second refills 1.5");
    assert_eq!(admitted(1_000).await, 1, "max_active caps the bucket's 2");
    assert_eq!(admitted(5_000).await, 0, "max_active reached");

    for (i, token) in tokens.iter().enumerate() {
        let ticket = q.status(token, at(5_000)).await.expect("status");
        if i < 5 {
            assert_eq!(ticket.status, TicketStatus::Active, "token {i}");
            assert!(ticket.position.is_none());
        } else {
            assert_eq!(ticket.status, TicketStatus::Waiting, "token {i}");
            assert_eq!(ticket.position, Some(i as u64 - 4));
        }
    }
    assert_eq!(
        q.status(&tokens[0], at(5_000))
            .await
            .expect("status")
            .active_until,
        Some(at(60_000))
    );

    // However long the pause, the burst is one second's worth.
    q.set_policy(CONCERT, policy(100, 3, 60))
        .await
        .expect("set");
    for user in 10..20 {
        enter(q, user, at(5_000)).await;
    }
    assert_eq!(admitted(50_000).await, 3);
    let stats = q.stats(CONCERT, at(50_000)).await.expect("stats");
    assert_eq!(
        (stats.active, stats.waiting, stats.admitted_total),
        (8, 12, 8)
    );
}

async fn assert_concurrent_ticks_admit_no_more_than_one_ticker(
    a: Arc<dyn Queue>,
    b: Arc<dyn Queue>,
) {
    a.set_policy(CONCERT, policy(50, 20, 3_600))
        .await
        .expect("set");
    for user in 0..200 {
        enter(a.as_ref(), user, at(0)).await;
    }
    let mut total = 0;
    for step in 0..12 {
        let now = at(step * 250);
        let tickers: Vec<Arc<dyn Queue>> = (0..10)
            .map(|i| if i % 2 == 0 { a.clone() } else { b.clone() })
            .collect();
        let reports =
            in_parallel(tickers, move |q| async move { q.tick(CONCERT, now).await }).await;
        for report in reports {
            total += report.expect("tick").admitted;
        }
        let one_ticker = (20 + 5 * step as u64).min(50);
        assert_eq!(total, one_ticker, "step {step}");
        let stats = b.stats(CONCERT, now).await.expect("stats");
        assert!(stats.active <= 50);
        assert_eq!(stats.admitted_total, total);
    }
}

async fn assert_idle_waiters_leave_the_line(q: &dyn Queue) {
    let mut paused = policy(10, 10, 60);
    paused.paused = true;
    q.set_policy(CONCERT, paused).await.expect("set");
    let mut tokens = Vec::new();
    for user in 0..6 {
        tokens.push(enter(q, user, at(0)).await);
    }
    // Polling (status, or entering again) is the heartbeat.
    q.status(&tokens[4], at(30_000)).await.expect("status");
    q.enter(CONCERT, UserId(5), at(30_000))
        .await
        .expect("enter");

    let report = q.tick(CONCERT, at(59_999)).await.expect("tick");
    assert_eq!(report.expired_waiting, 0);
    let report = q.tick(CONCERT, at(60_000)).await.expect("tick");
    assert_eq!(report.expired_waiting, 3, "bounded by max_expire_per_tick");
    let report = q.tick(CONCERT, at(60_000)).await.expect("tick");
    assert_eq!(report.expired_waiting, 1);
    assert_eq!(report.admitted, 0);

    assert_eq!(
        status(q, &tokens[0], at(60_001)).await,
        TicketStatus::Expired
    );
    assert_eq!(position(q, &tokens[4], at(60_001)).await, Some(1));
    assert_eq!(position(q, &tokens[5], at(60_001)).await, Some(2));
    let stats = q.stats(CONCERT, at(60_001)).await.expect("stats");
    assert_eq!((stats.waiting, stats.expired_total), (2, 4));

    let back = q
        .enter(CONCERT, UserId(0), at(60_002))
        .await
        .expect("enter");
    assert!(back.created);
    assert_ne!(back.ticket.token, tokens[0]);
    assert_eq!(back.ticket.position, Some(3));
}

async fn assert_active_ttl_expiry_frees_capacity(q: &dyn Queue) {
    q.set_policy(CONCERT, policy(2, 100, 10))
        .await
        .expect("set");
    let mut tokens = Vec::new();
    for user in 0..4 {
        tokens.push(enter(q, user, at(0)).await);
    }
    assert_eq!(q.tick(CONCERT, at(0)).await.expect("tick").admitted, 2);
    assert_eq!(q.tick(CONCERT, at(5_000)).await.expect("tick").admitted, 0);

    let before = q.status(&tokens[0], at(9_999)).await.expect("status");
    assert_eq!(before.status, TicketStatus::Active);
    assert_eq!(before.active_until, Some(at(10_000)));
    let after = q.status(&tokens[0], at(10_000)).await.expect("status");
    assert_eq!(
        after.status,
        TicketStatus::Expired,
        "past active_until reads Expired"
    );
    assert_eq!(after.active_until, None);
    assert_eq!(q.stats(CONCERT, at(10_000)).await.expect("stats").active, 0);

    let report = q.tick(CONCERT, at(10_000)).await.expect("tick");
    assert_eq!((report.expired_active, report.admitted), (2, 2));
    assert_eq!(
        status(q, &tokens[2], at(10_001)).await,
        TicketStatus::Active
    );
    let stats = q.stats(CONCERT, at(10_001)).await.expect("stats");
    assert_eq!(
        (stats.active, stats.expired_total, stats.admitted_total),
        (2, 2, 4)
    );

    // An expired user enters again at the back.
    let back = q
        .enter(CONCERT, UserId(0), at(10_002))
        .await
        .expect("enter");
    assert!(back.created);
    assert_eq!(back.ticket.position, Some(1));
}

async fn assert_pause_stops_admission_and_resume_restarts_it(q: &dyn Queue) {
    let mut p = policy(10, 10, 60);
    p.paused = true;
    q.set_policy(CONCERT, p).await.expect("set");
    let token = enter(q, 1, at(0)).await;
    enter(q, 2, at(0)).await;
    assert_eq!(q.tick(CONCERT, at(0)).await.expect("tick").admitted, 0);
    assert_eq!(q.tick(CONCERT, at(5_000)).await.expect("tick").admitted, 0);
    let waiting = q.status(&token, at(5_000)).await.expect("status");
    assert_eq!(waiting.position, Some(1));
    assert_eq!(waiting.eta_seconds, None, "no ETA while paused");

    p.paused = false;
    q.set_policy(CONCERT, p).await.expect("set");
    assert!(
        q.status(&token, at(5_001))
            .await
            .expect("status")
            .eta_seconds
            .is_some()
    );
    assert_eq!(q.tick(CONCERT, at(6_000)).await.expect("tick").admitted, 2);
    assert_eq!(status(q, &token, at(6_001)).await, TicketStatus::Active);
}

async fn assert_stats_count_the_room(q: &dyn Queue) {
    let zero = q.stats(CONCERT, at(0)).await.expect("stats");
    assert_eq!(zero, Default::default(), "zeros when nobody ever entered");
    q.set_policy(CONCERT, policy(3, 100, 10))
        .await
        .expect("set");
    for user in 0..5 {
        enter(q, user, at(0)).await;
    }
    q.tick(CONCERT, at(0)).await.expect("tick");
    let stats = q.stats(CONCERT, at(1)).await.expect("stats");
    assert_eq!(
        (
            stats.waiting,
            stats.active,
            stats.admitted_total,
            stats.expired_total
        ),
        (2, 3, 3, 0)
    );
    q.tick(CONCERT, at(10_000)).await.expect("tick");
    let stats = q.stats(CONCERT, at(10_000)).await.expect("stats");
    assert_eq!(
        (
            stats.waiting,
            stats.active,
            stats.admitted_total,
            stats.expired_total
        ),
        (0, 2, 5, 3)
    );
}

async fn assert_eta_follows_the_measured_rate(q: &dyn Queue) {
    // Configured for 10/s, but max_active 5 with a 1 s TTL lets only 5/s through.
    let p = policy(5, 10, 1);
    q.set_policy(CONCERT, p).await.expect("set");
    let mut tokens = Vec::new();
    for user in 0..400 {
        tokens.push(enter(q, user, at(0)).await);
    }
    let last = tokens.last().expect("tokens").clone();
    for second in 0..40 {
        q.tick(CONCERT, at(second * 1_000)).await.expect("tick");
        q.status(&last, at(second * 1_000))
            .await
            .expect("heartbeat");
    }
    let now = at(40_000);
    let rate = q.stats(CONCERT, now).await.expect("stats").admit_rate;
    assert!(rate > 4.5 && rate <= 5.0 + 1e-9, "measured rate {rate}");
    let ticket = q.status(&last, now).await.expect("status");
    let pos = ticket.position.expect("waiting");
    assert_eq!(ticket.eta_seconds, eta_seconds(pos, rate, &p));
    assert!(
        ticket.eta_seconds > eta_seconds(pos, 0.0, &p),
        "slower than configured"
    );

    // The rate only moves while fans wait: an empty line keeps it.
    for t in &tokens {
        q.leave(t, now).await.expect("leave");
    }
    q.tick(CONCERT, at(41_000)).await.expect("tick");
    q.tick(CONCERT, at(60_000)).await.expect("tick");
    let kept = q
        .stats(CONCERT, at(60_000))
        .await
        .expect("stats")
        .admit_rate;
    assert!((kept - rate).abs() < 1e-9, "{kept} != {rate}");
}

async fn assert_policy_is_the_default_until_set(q: &dyn Queue) {
    assert_eq!(
        q.policy(CONCERT).await.expect("policy"),
        settings().default_policy
    );
    assert!(q.concerts().await.expect("concerts").is_empty());
    let p = QueuePolicy {
        max_active: 7,
        admit_per_second: 3,
        active_ttl_seconds: 42,
        paused: true,
        pow_difficulty: 9,
        ..QueuePolicy::default()
    };
    q.set_policy(OTHER, p).await.expect("set");
    assert_eq!(q.policy(OTHER).await.expect("policy"), p);
    assert_eq!(
        q.policy(CONCERT).await.expect("policy"),
        settings().default_policy
    );
    enter(q, 1, at(0)).await;
    assert_eq!(q.concerts().await.expect("concerts"), vec![CONCERT, OTHER]);
    q.ping().await.expect("ping");
}

async fn assert_pre_queue_is_drawn_once_at_the_opening(a: &dyn Queue, b: &dyn Queue) {
    let opens = at(10_000);
    let pre = QueuePolicy {
        sale_opens_at: Some(opens),
        ..policy(1_000, 50, 600)
    };
    a.set_policy(CONCERT, pre).await.expect("set policy");
    assert_eq!(
        a.policy(CONCERT).await.expect("policy").sale_opens_at,
        Some(opens)
    );
    let before = a
        .draw(CONCERT)
        .await
        .expect("draw")
        .expect("a pre-queue has a draw");
    assert_eq!(before.seed, None, "the seed stays secret before the draw");
    assert_eq!(before.opens_at, opens);
    assert!(
        a.draw_receipts(CONCERT, 0, 10)
            .await
            .expect("receipts")
            .is_none()
    );

    let mut tokens = Vec::new();
    for user in 0..200 {
        let q = if user % 2 == 0 { a } else { b };
        let entered = q
            .enter(CONCERT, UserId(user), at(user))
            .await
            .expect("enter");
        assert!(entered.created);
        assert_eq!(entered.ticket.status, TicketStatus::PreQueue);
        assert_eq!(entered.ticket.position, None);
        assert_eq!(entered.ticket.opens_at, Some(opens));
        tokens.push(entered.ticket.token);
    }
    let again = b.enter(CONCERT, UserId(4), at(300)).await.expect("enter");
    assert!(!again.created, "entering twice keeps the pre-queued token");
    assert_eq!(again.ticket.token, tokens[4]);
    b.leave(&tokens[7], at(400)).await.expect("leave");
    assert_eq!(status(a, &tokens[7], at(401)).await, TicketStatus::Expired);
    assert_eq!(
        a.draw(CONCERT).await.expect("draw").expect("draw").entrants,
        199
    );
    // Nobody is admitted before the opening, however often the ticker runs.
    assert_eq!(a.tick(CONCERT, at(5_000)).await.expect("tick").admitted, 0);
    assert_eq!(
        status(b, &tokens[0], at(5_001)).await,
        TicketStatus::PreQueue
    );

    // A fan arriving after the opening is behind every pre-queued fan.
    let late = a
        .enter(CONCERT, UserId(1_000), at(10_001))
        .await
        .expect("enter");
    assert_eq!(late.ticket.status, TicketStatus::Waiting);
    assert_eq!(late.ticket.position, Some(200));
    // Both instances tick: the draw runs once.
    a.tick(CONCERT, at(10_002)).await.expect("tick");
    b.tick(CONCERT, at(10_003)).await.expect("tick");
    let draw = b.draw(CONCERT).await.expect("draw").expect("draw");
    assert_eq!(draw.commitment, before.commitment);
    assert_eq!(draw.entrants, 199);
    assert!(draw.seed.is_some(), "revealed after the draw");
    let receipts = a
        .draw_receipts(CONCERT, 0, 1_000)
        .await
        .expect("receipts")
        .expect("drawn");
    assert_eq!(verify(&draw, &receipts), Ok(()));
    assert_eq!(
        b.draw_receipts(CONCERT, 10, 5)
            .await
            .expect("receipts")
            .expect("drawn"),
        receipts[10..15].to_vec()
    );

    // Positions 1..=199 in the drawn order (some already admitted by the first tick),
    // the late fan after them; both instances agree.
    let now = at(10_004);
    let mut by_receipt: HashMap<String, usize> = HashMap::new();
    for (i, r) in receipts.iter().enumerate() {
        by_receipt.insert(r.clone(), i);
    }
    let admitted = a.stats(CONCERT, now).await.expect("stats").admitted_total;
    assert!(admitted > 0, "admission starts once drawn");
    for (user, token) in tokens.iter().enumerate() {
        if user == 7 {
            assert!(!by_receipt.contains_key(&receipt(token.as_str())));
            continue;
        }
        let rank = by_receipt[&receipt(token.as_str())] as u64;
        let (ta, tb) = (
            a.status(token, now).await.expect("status"),
            b.status(token, now).await.expect("status"),
        );
        assert_eq!(ta.position, tb.position);
        if rank < admitted {
            assert_eq!(ta.status, TicketStatus::Active, "drawn rank {rank}");
        } else {
            assert_eq!(ta.position, Some(rank + 1 - admitted), "drawn rank {rank}");
        }
    }
    assert_eq!(
        position(a, &late.ticket.token, now).await,
        Some(200 - admitted)
    );
    let newer = a
        .enter(CONCERT, UserId(1_001), at(10_005))
        .await
        .expect("enter");
    assert_eq!(newer.ticket.position, Some(201 - admitted));
}

async fn assert_a_pre_queue_cannot_start_on_an_entered_line(q: &dyn Queue) {
    enter(q, 1, at(0)).await;
    let late = QueuePolicy {
        sale_opens_at: Some(at(60_000)),
        ..policy(10, 10, 600)
    };
    assert!(matches!(
        q.set_policy(CONCERT, late).await,
        Err(QueueError::Refused(_))
    ));
    assert!(q.draw(CONCERT).await.expect("draw").is_none());
    assert!(q.draw(OTHER).await.expect("draw").is_none());
}

fn cap(seats: u64, holders: u64, inventory: Inventory) -> Option<AdmissionCap> {
    Some(AdmissionCap {
        seats,
        holders,
        inventory,
    })
}

async fn assert_admission_is_capped_by_the_inventory(q: &dyn Queue) {
    q.set_policy(CONCERT, policy(1_000, 100, 600))
        .await
        .expect("set");
    let mut tokens = Vec::new();
    for user in 0..10 {
        tokens.push(enter(q, user, at(0)).await);
    }
    let first = q
        .tick_capped(CONCERT, at(1), cap(3, 0, Inventory::Available))
        .await
        .expect("tick");
    assert_eq!(first.admitted, 3);
    // One of the three holds a seat: room for one more fan without a hold.
    let second = q
        .tick_capped(CONCERT, at(2), cap(3, 1, Inventory::Available))
        .await
        .expect("tick");
    assert_eq!(second.admitted, 1);
    let waiting = q.status(&tokens[9], at(3)).await.expect("status");
    assert_eq!(waiting.inventory, Some(Inventory::Available));
    assert_eq!(waiting.position, Some(6));

    let held = q
        .tick_capped(CONCERT, at(4), cap(0, 3, Inventory::AllHeld))
        .await
        .expect("tick");
    assert_eq!(held.admitted, 0);
    let waiting = q.status(&tokens[9], at(5)).await.expect("status");
    assert_eq!(waiting.status, TicketStatus::Waiting);
    assert_eq!(waiting.inventory, Some(Inventory::AllHeld));

    // A hold ran out: a seat is free again, admission reopens for that many.
    let back = q
        .tick_capped(CONCERT, at(6), cap(1, 2, Inventory::Available))
        .await
        .expect("tick");
    assert_eq!(
        back.admitted, 0,
        "4 active, 2 holding: 2 without a hold > 1 seat"
    );
    let back = q
        .tick_capped(CONCERT, at(7), cap(3, 2, Inventory::Available))
        .await
        .expect("tick");
    assert_eq!(back.admitted, 1);

    let sold = q
        .tick_capped(CONCERT, at(8), cap(0, 0, Inventory::SoldOut))
        .await
        .expect("tick");
    assert_eq!(sold.admitted, 0);
    let closed = q.status(&tokens[9], at(9)).await.expect("status");
    assert_eq!(closed.status, TicketStatus::SoldOut);
    assert_eq!(closed.position, None);
    assert_eq!(status(q, &tokens[0], at(9)).await, TicketStatus::Active);
    let newcomer = q.enter(CONCERT, UserId(99), at(10)).await.expect("enter");
    assert_eq!(newcomer.ticket.status, TicketStatus::SoldOut);
}

async fn assert_eta_ranges_bracket_the_eta(q: &dyn Queue) {
    q.set_policy(CONCERT, policy(1_000, 10, 600))
        .await
        .expect("set");
    let mut last = None;
    for user in 0..50 {
        last = Some(enter(q, user, at(0)).await);
    }
    let token = last.expect("entered");
    let mut told = u64::MAX;
    for step in 1..=20 {
        q.tick(CONCERT, at(step * 300)).await.expect("tick");
        let t = q.status(&token, at(step * 300 + 1)).await.expect("status");
        if t.status != TicketStatus::Waiting {
            break;
        }
        let position = t.position.expect("position");
        assert!(position <= told, "the position told never goes up");
        told = position;
        let eta = t.eta_seconds.expect("eta");
        let (low, high) = t.eta_range.expect("range");
        assert!(low <= eta && eta <= high, "{low} <= {eta} <= {high}");
    }
}

async fn assert_pre_queued_fans_who_poll_stay_and_idle_ones_leave(q: &dyn Queue) {
    let pre = QueuePolicy {
        sale_opens_at: Some(at(300_000)),
        ..policy(10, 10, 600)
    };
    q.set_policy(CONCERT, pre).await.expect("set policy");
    let polling = enter(q, 1, at(0)).await;
    let idle = enter(q, 2, at(0)).await;
    for t in [30_000, 60_000, 90_000] {
        assert_eq!(status(q, &polling, at(t)).await, TicketStatus::PreQueue);
        q.tick(CONCERT, at(t + 1)).await.expect("tick");
    }
    q.tick(CONCERT, at(95_000)).await.expect("tick");
    assert_eq!(status(q, &idle, at(95_001)).await, TicketStatus::Expired);
    assert_eq!(
        status(q, &polling, at(95_001)).await,
        TicketStatus::PreQueue
    );
    assert_eq!(
        q.draw(CONCERT).await.expect("draw").expect("draw").entrants,
        1
    );
}

/// An instance that read a line before anyone entered it (its ticker does, every tick)
/// knows the first entrant's token at once, however soon after the entry it is asked:
/// that entry started the line's first incarnation, which its read could not know.
async fn assert_the_first_entrant_is_known_by_an_instance_that_read_the_empty_line(
    first: &dyn Queue,
    second: &dyn Queue,
) {
    for n in 0..10 {
        let concert = ConcertId(9_100 + n);
        second
            .tick(concert, at(0))
            .await
            .expect("a tick of an empty line");
        let entered = first.enter(concert, UserId(1), at(1)).await.expect("enter");
        let ticket = second
            .status(&entered.ticket.token, at(2))
            .await
            .unwrap_or_else(|e| panic!("line {n}: the first entrant's token: {e:?}"));
        assert_eq!(ticket.status, TicketStatus::Waiting, "line {n}");
        assert_eq!(ticket.position, Some(1), "line {n}");
    }
}

macro_rules! queue_contract {
    ($adapter:ident) => {
        mod $adapter {
            use super::*;

            macro_rules! case {
                ($name:ident, $assert:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        let h = $adapter();
                        $assert(h.first.as_ref()).await;
                    }
                };
            }

            case!(
                entering_twice_keeps_the_place,
                assert_entering_twice_keeps_the_place
            );
            case!(
                ten_thousand_entries_are_numbered_without_gaps,
                assert_ten_thousand_entries_are_numbered_without_gaps
            );
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn first_entries_of_fresh_lines_at_once_lose_nobody() {
                let h = super::$adapter();
                assert_first_entries_of_fresh_lines_at_once_lose_nobody(h.first.clone()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_double_entries_yield_one_token_per_user() {
                let h = super::$adapter();
                assert_concurrent_double_entries_yield_one_token_per_user(h.first.clone()).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn the_first_entrant_is_known_by_an_instance_that_read_the_empty_line() {
                let h = super::$adapter();
                assert_the_first_entrant_is_known_by_an_instance_that_read_the_empty_line(
                    h.first.as_ref(),
                    h.second.as_ref(),
                )
                .await;
            }
            case!(
                unknown_tokens_are_rejected,
                assert_unknown_tokens_are_rejected
            );
            case!(leaving_expires_the_token, assert_leaving_expires_the_token);
            case!(
                tick_admits_in_order_within_the_limits,
                assert_tick_admits_in_order_within_the_limits
            );
            case!(
                idle_waiters_leave_the_line,
                assert_idle_waiters_leave_the_line
            );
            case!(
                active_ttl_expiry_frees_capacity,
                assert_active_ttl_expiry_frees_capacity
            );
            case!(
                pause_stops_admission_and_resume_restarts_it,
                assert_pause_stops_admission_and_resume_restarts_it
            );
            case!(stats_count_the_room, assert_stats_count_the_room);
            case!(
                eta_follows_the_measured_rate,
                assert_eta_follows_the_measured_rate
            );
            case!(
                policy_is_the_default_until_set,
                assert_policy_is_the_default_until_set
            );

            case!(
                a_pre_queue_cannot_start_on_an_entered_line,
                assert_a_pre_queue_cannot_start_on_an_entered_line
            );
            case!(
                admission_is_capped_by_the_inventory,
                assert_admission_is_capped_by_the_inventory
            );
            case!(
                eta_ranges_bracket_the_eta,
                assert_eta_ranges_bracket_the_eta
            );
            case!(
                pre_queued_fans_who_poll_stay_and_idle_ones_leave,
                assert_pre_queued_fans_who_poll_stay_and_idle_ones_leave
            );

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn pre_queue_is_drawn_once_at_the_opening() {
                let h = $adapter();
                assert_pre_queue_is_drawn_once_at_the_opening(h.first.as_ref(), h.second.as_ref())
                    .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_ticks_admit_no_more_than_one_ticker() {
                let h = $adapter();
                assert_concurrent_ticks_admit_no_more_than_one_ticker(
                    h.first.clone(),
                    h.second.clone(),
                )
                .await;
            }
        }
    };
}

queue_contract!(on_memory);
queue_contract!(on_redis);
queue_contract!(on_redis_cluster);

/// Each call gives up with `Unavailable` instead of waiting for a server that will not
/// answer: on a silent server only the command timeout can end it, so returning at all
/// (within the hang bound, far above the 300 ms timeout) is what is checked, not how fast.
async fn assert_unavailable_fast(q: &RedisQueue) {
    let result = wait::returns("ping", q.ping()).await;
    assert!(
        matches!(result, Err(QueueError::Unavailable(_))),
        "{result:?}"
    );
    let result = wait::returns("enter", q.enter(CONCERT, UserId(1), at(0))).await;
    assert!(
        matches!(result, Err(QueueError::Unavailable(_))),
        "{result:?}"
    );
    let result = wait::returns("tick", q.tick(CONCERT, at(0))).await;
    assert!(
        matches!(result, Err(QueueError::Unavailable(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn redis_queue_on_a_dead_port_is_unavailable_instead_of_waiting() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let q = RedisQueue::connect(
        &format!("redis://127.0.0.1:{port}"),
        "dead:",
        settings(),
        Duration::from_millis(300),
    )
    .expect("connect does not need the server");
    assert_unavailable_fast(&q).await;
}

/// A TCP relay to `upstream` (or a server that never answers when `upstream` is
/// `None`) that the test can cut: plain threads, so no runtime features are needed.
struct Relay {
    port: u16,
    stop: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(port: u16, upstream: Option<String>) -> Relay {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let streams: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (flag, held) = (stop.clone(), streams.clone());
        std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = client.set_nonblocking(false);
                let mut held = held.lock().expect("lock");
                if let Some(up) = &upstream
                    && let Ok(server) = TcpStream::connect(up)
                {
                    for (from, to) in [(&client, &server), (&server, &client)] {
                        if let (Ok(mut r), Ok(mut w)) = (from.try_clone(), to.try_clone()) {
                            std::thread::spawn(move || {
                                let _ = std::io::copy(&mut r, &mut w);
                                let _ = w.shutdown(Shutdown::Both);
                            });
                        }
                    }
                    held.push(server);
                }
                held.push(client);
            }
        });
        Relay {
            port,
            stop,
            streams,
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Closes the listener and every relayed connection.
    fn cut(&self) {
        self.stop.store(true, Ordering::SeqCst);
        for s in self.streams.lock().expect("lock").drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
    }
}

#[tokio::test]
async fn redis_queue_on_a_silent_server_is_unavailable_instead_of_waiting() {
    let silent = Relay::start(0, None);
    let q = RedisQueue::connect(
        &silent.url(),
        "silent:",
        settings(),
        Duration::from_millis(300),
    )
    .expect("connect");
    assert_unavailable_fast(&q).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_queue_recovers_when_the_server_comes_back_on_redis() {
    let test = TestRedis::new();
    let upstream = test
        .url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let relay = Relay::start(0, Some(upstream.clone()));
    // A command timeout of seconds: through a relay of plain threads on a busy machine
    // a call can take longer than the app's default, and this test is about coming back,
    // not about how soon a call gives up.
    let q = RedisQueue::connect(
        &relay.url(),
        &test.prefix,
        settings(),
        Duration::from_secs(3),
    )
    .expect("connect");
    wait::until(
        "the queue is up through the relay",
        Duration::from_millis(50),
        || async { q.ping().await.map_err(|e| e.to_string()) },
    )
    .await;
    assert_eq!(q.pool_status(), (1, 1));

    relay.cut();
    for _ in 0..2 {
        assert!(matches!(
            wait::returns("ping after the cut", q.ping()).await,
            Err(QueueError::Unavailable(_))
        ));
    }

    let back = Relay::start(relay.port, Some(upstream));
    wait::until(
        "the queue reconnects by itself",
        Duration::from_millis(50),
        || async { q.ping().await.map_err(|e| e.to_string()) },
    )
    .await;
    q.enter(CONCERT, UserId(1), at(0))
        .await
        .expect("enter after recovery");
    drop(back);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_answers_within_its_lag_bound_and_unavailable_past_it_on_redis() {
    // The view's age is the adapter's own `Instant`: a wide bound keeps the one answer
    // expected before it from racing a descheduled test thread.
    const MAX_LAG: Duration = Duration::from_secs(5);
    let test = TestRedis::new();
    let upstream = test
        .url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let relay = Relay::start(0, Some(upstream));
    // Reads the events once an hour by itself: only statuses bring it up to date.
    let q = RedisQueue::connect(
        &relay.url(),
        &test.prefix,
        settings(),
        Duration::from_millis(300),
    )
    .expect("valid redis url")
    .with_background_sync(Duration::from_secs(3600), MAX_LAG);
    let token = enter(&q, 1, at(0)).await;
    let second = enter(&q, 2, at(0)).await;
    assert_eq!(position(&q, &second, at(1)).await, Some(2));
    // Another instance's write; a view older than the fresh bound catches up on a status.
    let other = RedisQueue::connect(&test.url, &test.prefix, settings(), Duration::from_secs(5))
        .expect("valid redis url");
    other.leave(&token, at(1)).await.expect("leave");
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(position(&q, &second, at(2)).await, Some(1));

    // Redis gone: the view answers while it is younger than the bound, then refuses.
    relay.cut();
    assert_eq!(position(&q, &second, at(3)).await, Some(1));
    // Sleeping past the bound only makes the view older: this wait cannot be too short
    // on a slow machine. (The answer just above has MAX_LAG of margin.)
    tokio::time::sleep(MAX_LAG + Duration::from_millis(100)).await;
    assert!(matches!(
        q.status(&second, at(4)).await,
        Err(QueueError::Unavailable(_))
    ));
}

#[tokio::test]
async fn tokens_of_a_line_redis_lost_do_not_verify_in_the_new_one_on_redis() {
    let test = TestRedis::new();
    let q = RedisQueue::connect(&test.url, &test.prefix, settings(), Duration::from_secs(5))
        .expect("valid redis url");
    let old = enter(&q, 1, at(0)).await;
    test.cleanup(); // Redis lost the line (a restart without persistence)
    let new = enter(&q, 2, at(1)).await;
    assert_eq!(new.seq(), old.seq(), "places are numbered from 1 again");
    assert!(matches!(
        q.status(&old, at(2)).await,
        Err(QueueError::UnknownToken)
    ));
    assert!(matches!(
        q.admission(&old, at(2)).await,
        Err(QueueError::UnknownToken)
    ));
    assert!(matches!(
        q.leave(&old, at(2)).await,
        Err(QueueError::UnknownToken)
    ));
    assert_eq!(position(&q, &new, at(2)).await, Some(1));
}
