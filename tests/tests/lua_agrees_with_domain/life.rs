//! `close.lua`, `retire.lua`, `purge.lua` and `reopen.lua` against the domain's life
//! rules (`LineLife::close`, `LineLife::retire`) and line model.

use frontrow_domain::error::QueueError;
use frontrow_domain::lifecycle::{CloseReason, LineLife};
use frontrow_domain::line::{Line, Standing};
use frontrow_domain::model::{ConcertId, UserId};
use frontrow_domain::queue::{QueuePolicy, QueueToken};
use frontrow_tests::queues::{Harness, contract_settings, on_redis};

use super::{assert_readings, at, fill, model_standing};

/// `fans` enter at 0 (nobody leaves) and the first two are admitted until 10 s.
async fn admitted_two(h: &Harness, concert: ConcertId, fans: i64) -> (Line, Vec<QueueToken>) {
    let policy = QueuePolicy {
        admit_per_second: 2,
        active_ttl_seconds: 10,
        ..contract_settings().default_policy
    };
    let nobody_leaves = (fans as usize, 1);
    let (mut line, tokens) = fill(h.first.as_ref(), concert, policy, fans, nobody_leaves).await;
    let report = h.first.tick(concert, at(0)).await.unwrap();
    assert_eq!(report.admitted, 2);
    line.admit(2, Some(10_000));
    (line, tokens)
}

/// Whether the model has anyone admitted in a batch still running at `now_ms`.
fn running(line: &Line, tokens: &[QueueToken], now_ms: i64) -> bool {
    tokens
        .iter()
        .any(|t| matches!(model_standing(line, t, now_ms), Standing::Active { .. }))
}

/// `close.lua` closes an open line and keeps a closed one's first reason and time, as
/// `LineLife::close` does; on the closed line waiting fans read how it ended, admitted
/// ones keep their time (`admission.lua`), nobody enters and no tick admits.
#[tokio::test]
async fn the_close_script_closes_as_the_domain_rule_does_on_redis() {
    let h = on_redis();
    let concert = ConcertId(41);
    let (line, tokens) = admitted_two(&h, concert, 6).await;
    let mut life = LineLife::Open;
    for (reason, ms) in [
        (CloseReason::SoldOut, 1_000),
        (CloseReason::Operator, 2_000),
        (CloseReason::Ended, 3_000),
    ] {
        let closed = h.first.close(concert, reason, at(ms)).await.unwrap();
        life = life.close(reason, at(ms));
        assert_eq!(closed, life, "closing for {reason:?}");
        assert_eq!(h.second.life(concert).await.unwrap(), life);
    }
    assert_readings(h.second.as_ref(), (&line, life), &tokens, 3_000).await;
    let refused = h.second.enter(concert, UserId(99), at(3_000)).await;
    assert!(matches!(
        refused,
        Err(QueueError::Closed(CloseReason::SoldOut))
    ));
    let report = h.first.tick(concert, at(5_000)).await.unwrap();
    assert_eq!((report.admitted, report.life), (0, life));

    // A line nobody entered closes too, and an empty one has nobody to tell.
    let empty = ConcertId(42);
    let closed = h
        .first
        .close(empty, CloseReason::Operator, at(7))
        .await
        .unwrap();
    assert_eq!(closed, LineLife::Open.close(CloseReason::Operator, at(7)));
}

/// `retire.lua` retires a line exactly when `LineLife::retire` says it is due: closed
/// at or before the cutoff, with nobody left in an admission batch still running (a
/// batch ending at `now` has ended), and once retired it stays so.
#[tokio::test]
async fn the_retire_script_retires_when_the_domain_rule_says_it_is_due_on_redis() {
    let h = on_redis();
    let concert = ConcertId(43);
    let (mut line, tokens) = admitted_two(&h, concert, 5).await;
    let mut life = h
        .first
        .close(concert, CloseReason::Ended, at(1_000))
        .await
        .unwrap();
    // (now, closed before, the fan who leaves first)
    let steps: [(i64, i64, Option<usize>); 6] = [
        // closed after the cutoff, by a second, by a millisecond
        (0, 0, None),
        (2_000, 999, None),
        // due, but two fans buy in a running batch; then one of them leaves
        (2_000, 1_000, None),
        (2_000, 1_000, Some(0)),
        // the batch runs until 10 s, and has ended at 10 s
        (9_999, 5_000, None),
        (10_000, 5_000, None),
    ];
    for (now, before, leaver) in steps {
        if let Some(i) = leaver {
            h.second.leave(&tokens[i], at(now)).await.unwrap();
            line.leave(tokens[i].seq());
        }
        let due = life.retire(at(before), running(&line, &tokens, now));
        let retired = h.first.retire(concert, at(now), at(before)).await.unwrap();
        assert_eq!(
            retired,
            due.is_some(),
            "retire at {now} ms, closed before {before} ms"
        );
        if let Some(after) = due {
            life = after;
        }
        assert_eq!(h.second.life(concert).await.unwrap(), life);
    }
    assert_eq!(
        life,
        LineLife::Retired {
            reason: CloseReason::Ended
        }
    );
    // Retired stays retired, whatever the times.
    assert_eq!(life.retire(at(0), true), Some(life));
    assert!(h.first.retire(concert, at(0), at(0)).await.unwrap());
    assert_readings(h.second.as_ref(), (&line, life), &tokens, 10_000).await;
}

/// `purge.lua` (after `retire.lua`) leaves nothing of a retired line but its life, as
/// the domain's `LineLife::Retired` keeps nothing else: a SCAN of the test's prefix
/// finds that one key. A purge cut short (a users bucket left behind, the mark not
/// set) is finished by the next reopen, which then leaves no key at all.
#[tokio::test]
async fn a_purged_retired_line_leaves_no_key_but_its_life_on_redis() {
    let h = on_redis();
    let redis = h.redis.as_ref().unwrap();
    let concert = ConcertId(44);
    // Users in many buckets of the users hash.
    fill(
        h.first.as_ref(),
        concert,
        contract_settings().default_policy,
        40,
        (3, 5),
    )
    .await;
    h.first.tick(concert, at(0)).await.unwrap();
    let before = redis.keys();
    assert!(
        before.len() > 40,
        "a users bucket per user, and the line's keys: {before:?}"
    );
    let life = h
        .first
        .close(concert, CloseReason::SoldOut, at(1))
        .await
        .unwrap();
    // Every admitted fan's batch has ended by 700 s (600 s to buy).
    let due = life.retire(at(1), false);
    assert!(due.is_some());
    assert!(h.first.retire(concert, at(700_000), at(1)).await.unwrap());
    let life_key = format!("{}{{concert:{}}}:life", redis.prefix, concert.0);
    assert_eq!(redis.keys(), std::slice::from_ref(&life_key));

    // A purge cut short: the mark is not set and a bucket is back.
    let mut conn = deadpool_redis::redis::Client::open(redis.url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let bucket = format!("{}{{concert:{}}}:users:7", redis.prefix, concert.0);
    deadpool_redis::redis::pipe()
        .cmd("HDEL")
        .arg(&life_key)
        .arg("purged")
        .cmd("HSET")
        .arg(&bucket)
        .arg(7)
        .arg(1)
        .exec(&mut conn)
        .unwrap();
    assert_eq!(redis.keys().len(), 2);
    assert_eq!(h.second.reopen(concert).await.unwrap(), LineLife::Open);
    assert_eq!(
        redis.keys(),
        Vec::<String>::new(),
        "nothing of the retired line is left"
    );
}

/// `reopen.lua` opens a closed line as it was (every fan keeps its standing, the next
/// entry numbers on, as the model says) and a retired one anew: its old tokens are
/// unknown and the first entry is number 1 of a fresh model line.
#[tokio::test]
async fn the_reopen_script_reopens_a_closed_line_as_it_was_and_a_retired_one_anew_on_redis() {
    let h = on_redis();
    let concert = ConcertId(45);
    let (mut line, mut tokens) = admitted_two(&h, concert, 6).await;
    let closed = h
        .first
        .close(concert, CloseReason::SoldOut, at(1_000))
        .await
        .unwrap();
    assert_readings(h.second.as_ref(), (&line, closed), &tokens, 1_000).await;
    assert_eq!(h.first.reopen(concert).await.unwrap(), LineLife::Open);
    assert_eq!(h.second.life(concert).await.unwrap(), LineLife::Open);
    assert_readings(h.second.as_ref(), (&line, LineLife::Open), &tokens, 1_000).await;
    let late = h
        .second
        .enter(concert, UserId(60), at(1_000))
        .await
        .unwrap();
    assert_eq!(late.ticket.token.seq(), line.enter());
    tokens.push(late.ticket.token);
    assert_readings(h.first.as_ref(), (&line, LineLife::Open), &tokens, 1_000).await;

    // Closed again, retired once the batch ended, reopened: a new incarnation.
    h.first
        .close(concert, CloseReason::Operator, at(2_000))
        .await
        .unwrap();
    assert!(
        h.first
            .retire(concert, at(10_000), at(2_000))
            .await
            .unwrap()
    );
    assert_eq!(h.second.reopen(concert).await.unwrap(), LineLife::Open);
    for t in &tokens {
        let old = h.first.admission(t, at(10_000)).await;
        assert!(matches!(old, Err(QueueError::UnknownToken)), "{}", t.seq());
    }
    let mut anew = Line::default();
    let first = h.first.enter(concert, UserId(1), at(10_000)).await.unwrap();
    assert_eq!(first.ticket.token.seq(), anew.enter());
    assert!(first.created);
    assert_readings(
        h.second.as_ref(),
        (&anew, LineLife::Open),
        &[first.ticket.token],
        10_000,
    )
    .await;
}
