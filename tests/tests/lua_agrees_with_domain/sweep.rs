//! `sweep.lua` (what keeps a line's users index to the fans still in it) against the
//! domain's line model.

use std::collections::BTreeSet;

use deadpool_redis::redis;
use frontrow_domain::line::admission::{heartbeat, quiet};
use frontrow_domain::line::{Line, Standing};
use frontrow_domain::model::ConcertId;
use frontrow_domain::ports::Queue;
use frontrow_domain::queue::{QueuePolicy, QueueToken};
use frontrow_tests::queues::{contract_settings, on_redis};
use frontrow_tests::redis::TestRedis;

use super::{at, fill, own_queue};

/// The users the line's index holds: the fields of every bucket of its users hash.
fn indexed(redis: &TestRedis) -> BTreeSet<i64> {
    let mut conn = redis::Client::open(redis.url.as_str())
        .and_then(|c| c.get_connection())
        .expect("redis");
    let mut users = BTreeSet::new();
    for key in redis.keys().iter().filter(|k| k.contains("users:")) {
        let fields: Vec<String> = redis::cmd("HKEYS").arg(key).query(&mut conn).unwrap();
        users.extend(fields.iter().map(|f| f.parse::<i64>().unwrap()));
    }
    users
}

/// The users the model still counts in line at `now_ms` (pre-queued, waiting or
/// admitted in a batch that runs): user `i + 1` holds `tokens[i]`.
fn model_kept(line: &Line, tokens: &[QueueToken], now_ms: i64) -> BTreeSet<i64> {
    (1..)
        .zip(tokens)
        .filter(|(_, t)| line.standing(t.seq(), now_ms) != Standing::Expired)
        .map(|(u, _)| u)
        .collect()
}

/// `sweep.lua` forgets exactly the fans the model calls expired at the sweep's time and
/// keeps everyone else: nobody before a batch ends, a batch's fans at its end to the
/// millisecond (not one before), the fans a tick dropped for idling (and not the ones
/// who polled), those who left already gone; each sweep counts what it forgot.
#[tokio::test]
async fn the_sweep_script_forgets_exactly_the_fans_the_model_calls_expired_on_redis() {
    let h = on_redis();
    let redis = h.redis.as_ref().unwrap();
    let q = own_queue(redis);
    let concert = ConcertId(36);
    let policy = QueuePolicy {
        max_active: 100,
        admit_per_second: 4,
        active_ttl_seconds: 3,
        ..contract_settings().default_policy
    };
    // 30 fans; every seventh from the second leaves (forgotten at once by `leave.lua`).
    let (mut line, tokens) = fill(&q, concert, policy, 30, (1, 7)).await;
    let check = |line: &Line, now_ms: i64, swept: u64, before: &BTreeSet<i64>| {
        let kept = model_kept(line, &tokens, now_ms);
        let now = indexed(redis);
        assert_eq!(now, kept, "the index at {now_ms} ms");
        assert_eq!(
            swept,
            (before.len() - now.len()) as u64,
            "counted at {now_ms} ms"
        );
        now
    };
    let mut before = indexed(redis);
    assert_eq!(before, model_kept(&line, &tokens, 0));
    // Two batches: one admitted at 0 until 3 s, one at 1 s until 4 s.
    for now in [0, 1_000] {
        let report = q.tick(concert, at(now)).await.unwrap();
        assert!(report.admitted > 0, "tick at {now} ms admitted nobody");
        line.admit(report.admitted, Some(now + 3_000));
    }
    for now in [2_999, 3_000, 3_999, 4_000] {
        let swept = q.sweep_users_fully(concert, at(now)).await.unwrap();
        before = check(&line, now, swept, &before);
    }
    // No more admissions; the fans who entered at 0 and never polled go quiet; a few
    // poll at 60 s and stay.
    q.set_policy(
        concert,
        QueuePolicy {
            paused: true,
            ..policy
        },
    )
    .await
    .unwrap();
    let idle_ms = contract_settings().idle_timeout_seconds * 1_000;
    let polled_at = i64::try_from(idle_ms).unwrap();
    let pollers: Vec<&QueueToken> = tokens
        .iter()
        .filter(|t| matches!(line.standing(t.seq(), polled_at), Standing::Waiting { .. }))
        .step_by(3)
        .collect();
    assert!(pollers.len() >= 3);
    for t in &pollers {
        q.status(t, at(polled_at)).await.unwrap();
    }
    q.flush_heartbeats().await.unwrap();
    let tick_ms = polled_at + 2_000;
    while q.tick(concert, at(tick_ms)).await.unwrap().expired_waiting > 0 {}
    let idle32 = u32::try_from(idle_ms).unwrap();
    let now_ms = at(tick_ms).timestamp_millis();
    for t in &tokens {
        let seen = if pollers.contains(&t) { polled_at } else { 0 };
        let waiting = matches!(line.standing(t.seq(), tick_ms), Standing::Waiting { .. });
        if waiting && quiet(now_ms, heartbeat(at(seen).timestamp_millis()), idle32) {
            line.leave(t.seq());
        }
    }
    let swept = q.sweep_users_fully(concert, at(tick_ms)).await.unwrap();
    let kept = check(&line, tick_ms, swept, &before);
    assert_eq!(
        kept.len(),
        pollers.len(),
        "only the fans who polled are left"
    );
}
