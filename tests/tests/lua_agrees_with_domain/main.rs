//! The Lua scripts and the domain agree: each test drives one script through the
//! Redis adapter and the domain's rule (the line model `frontrow_domain::line`, the
//! life rules of `lifecycle`, the draw's places, GCRA) with the same inputs, and
//! asserts the same outcome. The Lua keeps only what must be atomic in Redis; the rules
//! are the domain's, and these tests keep the two from drifting apart. Here: `enter`,
//! `leave`, `tick`, `admission` and `snapshot`; the other scripts in the modules below.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod counters;
mod draw;
mod gcra;
mod life;
mod sweep;

use chrono::{DateTime, TimeZone, Utc};
use frontrow_domain::lifecycle::LineLife;
use frontrow_domain::line::admission::{TokenBucket, admissions, heartbeat, quiet};
use frontrow_domain::line::{EtaInputs, Line, Standing};
use frontrow_domain::model::{ConcertId, UserId};
use frontrow_domain::ports::Queue;
use frontrow_domain::queue::{QueuePolicy, QueueToken, Ticket, TicketStatus};
use frontrow_redis::RedisQueue;
use frontrow_tests::queues::{contract_settings, on_redis};
use frontrow_tests::redis::TestRedis;

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_900_000_000_000 + ms).unwrap()
}

/// Another instance on the harness's Redis and prefix, as its concrete type (for the
/// test-support steps).
fn own_queue(redis: &TestRedis) -> RedisQueue {
    RedisQueue::connect(
        &redis.url,
        &redis.prefix,
        contract_settings(),
        std::time::Duration::from_secs(5),
    )
    .unwrap()
}

/// The model's standing of `token` at `now_ms`, its times shifted as `at` shifts them.
fn model_standing(line: &Line, token: &QueueToken, now_ms: i64) -> Standing {
    match line.standing(token.seq(), now_ms) {
        Standing::Active { until_ms } => Standing::Active {
            until_ms: at(until_ms).timestamp_millis(),
        },
        other => other,
    }
}

/// What a fan reads, as the tests compare it: status, position, end of admission.
type Reading = (TicketStatus, Option<u64>, Option<DateTime<Utc>>);

fn reading(ticket: &Ticket) -> Reading {
    (ticket.status, ticket.position, ticket.active_until)
}

/// What the model says `token` reads at `now_ms` on a line living `life`.
fn model_reading(line: &Line, token: &QueueToken, now_ms: i64, life: LineLife) -> Reading {
    let policy = QueuePolicy::default();
    let eta = EtaInputs {
        rate: 0.0,
        rate_sd: 0.0,
        policy: &policy,
        opens_ms: None,
    };
    reading(
        &model_standing(line, token, now_ms)
            .ticket(token, eta)
            .with_life(life),
    )
}

/// How a test reads a fan's ticket.
#[derive(Debug, Clone, Copy)]
enum Via {
    /// `admission.lua`: Redis's authoritative answer.
    Admission,
    /// The instance's view, kept current by `snapshot.lua` and `sync.lua`.
    Status,
}

/// Every fan's reading through `via` against the model's on a line living `life`.
async fn assert_readings_via(
    q: &dyn Queue,
    via: Via,
    (line, life): (&Line, LineLife),
    tokens: &[QueueToken],
    now_ms: i64,
) {
    for t in tokens {
        let ticket = match via {
            Via::Admission => q.admission(t, at(now_ms)).await,
            Via::Status => q.status(t, at(now_ms)).await,
        };
        assert_eq!(
            reading(&ticket.unwrap()),
            model_reading(line, t, now_ms, life),
            "number {} at {now_ms} ms via {via:?}",
            t.seq()
        );
    }
}

/// Every fan's authoritative reading (`admission.lua`) against the model's on a line
/// living `life`.
async fn assert_readings(
    q: &dyn Queue,
    line: (&Line, LineLife),
    tokens: &[QueueToken],
    now_ms: i64,
) {
    assert_readings_via(q, Via::Admission, line, tokens, now_ms).await;
}

/// `fans` users enter at 0 under `policy` (the model issuing the same places), then
/// every `step`-th from `from` leaves.
async fn fill(
    q: &dyn Queue,
    concert: ConcertId,
    policy: QueuePolicy,
    fans: i64,
    (from, step): (usize, usize),
) -> (Line, Vec<QueueToken>) {
    q.set_policy(concert, policy).await.unwrap();
    let mut line = Line::default();
    let mut tokens = Vec::new();
    for u in 1..=fans {
        let entered = q.enter(concert, UserId(u), at(0)).await.unwrap();
        assert_eq!(entered.ticket.token.seq(), line.enter());
        tokens.push(entered.ticket.token);
    }
    for t in tokens.iter().skip(from).step_by(step) {
        q.leave(t, at(0)).await.unwrap();
        line.leave(t.seq());
    }
    (line, tokens)
}

/// `enter.lua` numbers places as the model issues them (a fan already in line keeps
/// theirs), and `leave.lua` marks gone what the model marks gone: positions and the
/// waiting count agree after every step.
#[tokio::test]
async fn enter_and_leave_scripts_agree_with_the_model_on_redis() {
    let h = on_redis();
    let concert = ConcertId(31);
    let mut line = Line::default();
    let mut tokens = Vec::new();
    for u in 1..=30 {
        let entered = h.first.enter(concert, UserId(u), at(0)).await.unwrap();
        assert_eq!(entered.ticket.token.seq(), line.enter());
        tokens.push(entered.ticket.token);
    }
    let again = h.second.enter(concert, UserId(7), at(5)).await.unwrap();
    assert_eq!(again.ticket.token, tokens[6]);
    for i in [0usize, 3, 4, 4, 17, 29, 3] {
        h.second.leave(&tokens[i], at(10)).await.unwrap();
        line.leave(tokens[i].seq());
        let stats = h.first.stats(concert, at(10)).await.unwrap();
        assert_eq!(stats.waiting, line.waiting());
    }
    assert_readings(h.first.as_ref(), (&line, LineLife::Open), &tokens, 10).await;
}

/// `tick.lua`'s token bucket, admission count and head move past gone places agree
/// with the model's (`TokenBucket`, `admissions`, `Line::admit`), tick after tick, with
/// fans leaving in line and while admitted.
#[tokio::test]
async fn the_tick_script_admits_what_the_model_admits_on_redis() {
    let h = on_redis();
    let concert = ConcertId(32);
    let policy = QueuePolicy {
        max_active: 12,
        admit_per_second: 5,
        active_ttl_seconds: 3,
        ..contract_settings().default_policy
    };
    let (mut line, tokens) = fill(h.first.as_ref(), concert, policy, 60, (1, 4)).await;
    let mut bucket = TokenBucket::default();
    // (fans active, with their end) as the model counts them.
    let mut active: Vec<(u64, i64)> = Vec::new();
    let steps = [
        0i64, 150, 400, 1_300, 1_350, 2_900, 3_100, 3_300, 5_000, 5_200, 9_000,
    ];
    for (step, &now) in steps.iter().enumerate() {
        if step == 4 {
            // An admitted fan and a waiting one leave.
            for t in [&tokens[0], &tokens[50]] {
                h.second.leave(t, at(now)).await.unwrap();
                if line.leave(t.seq()) {
                    active.retain(|&(n, _)| n != t.seq());
                }
            }
        }
        let report = h.first.tick(concert, at(now)).await.unwrap();
        active.retain(|&(_, until)| until > now);
        bucket.refill(now, policy.admit_per_second);
        let n = admissions(
            &bucket,
            &policy,
            active.len() as u64,
            None,
            line.waiting(),
            true,
        );
        let until = now + 3_000;
        let admitted = line.admit(n, Some(until));
        bucket.take(n);
        if let Some((first, last)) = admitted {
            active.extend(
                (first..=last)
                    .filter(|&p| line.standing(p, now) != Standing::Expired)
                    .map(|p| (p, until)),
            );
        }
        assert_eq!(report.admitted, n, "tick at {now} ms");
        assert_readings(h.second.as_ref(), (&line, LineLife::Open), &tokens, now).await;
    }
    assert!(line.waiting() < 40, "the line moved");
}

/// `tick.lua` drops as idle exactly the fans the model calls quiet: heartbeats one
/// millisecond either side of the idle timeout.
#[tokio::test]
async fn the_tick_script_drops_the_fans_the_model_calls_quiet_on_redis() {
    let h = on_redis();
    let concert = ConcertId(33);
    let policy = QueuePolicy {
        paused: true,
        ..contract_settings().default_policy
    };
    h.first.set_policy(concert, policy).await.unwrap();
    let idle_ms = contract_settings().idle_timeout_seconds * 1000;
    let tick_ms = 100_000i64;
    let cutoff = tick_ms - idle_ms as i64;
    // Fans who entered (their last heartbeat) around the cutoff.
    let entered_at = [cutoff - 2, cutoff - 1, cutoff, cutoff + 1, cutoff + 2];
    let mut tokens = Vec::new();
    for (u, &ms) in entered_at.iter().enumerate() {
        let e = h
            .first
            .enter(concert, UserId(u as i64 + 1), at(ms))
            .await
            .unwrap();
        tokens.push(e.ticket.token);
    }
    let idle32 = u32::try_from(idle_ms).unwrap();
    let now_ms = at(tick_ms).timestamp_millis();
    let expect: Vec<bool> = entered_at
        .iter()
        .map(|&ms| quiet(now_ms, heartbeat(at(ms).timestamp_millis()), idle32))
        .collect();
    assert_eq!(expect, [true, true, true, false, false]);
    // At most `max_expire_per_tick` (3) a tick: two ticks drop them all.
    for _ in 0..2 {
        h.first.tick(concert, at(tick_ms)).await.unwrap();
    }
    for (t, dropped) in tokens.iter().zip(expect) {
        let ticket = h.second.admission(t, at(tick_ms)).await.unwrap();
        assert_eq!(
            ticket.status == TicketStatus::Expired,
            dropped,
            "{}",
            t.seq()
        );
    }
}

/// `snapshot.lua` gives a new instance what the model needs to resume the line past
/// the places no standing needs (admission batches that ended are trimmed): its
/// answers equal the model's, and those of the instance that followed the stream.
#[tokio::test]
async fn a_view_resumed_from_the_snapshot_script_answers_as_the_model_on_redis() {
    let h = on_redis();
    let concert = ConcertId(34);
    let policy = QueuePolicy {
        active_ttl_seconds: 1,
        ..contract_settings().default_policy
    };
    let (mut line, tokens) = fill(h.first.as_ref(), concert, policy, 300, (0, 7)).await;
    // 100 a second, one second's burst, one second active: the first two batches have
    // ended (and are trimmed) by the third tick.
    for now in [0, 1_000, 2_500] {
        let report = h.first.tick(concert, at(now)).await.unwrap();
        line.admit(report.admitted, Some(now + 1_000));
    }
    let now = 2_600;
    for t in &tokens {
        // The second instance never read this line: its view starts from a snapshot.
        let resumed = h.second.status(t, at(now)).await.unwrap();
        let followed = h.first.status(t, at(now)).await.unwrap();
        let model = model_reading(&line, t, now, LineLife::Open);
        assert_eq!(reading(&resumed), model, "number {}", t.seq());
        assert_eq!(reading(&followed), model, "number {}", t.seq());
    }
    assert!(line.head() > 200, "two hundred were admitted");
}
