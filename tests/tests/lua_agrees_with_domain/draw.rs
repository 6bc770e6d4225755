//! `draw_open.lua`, `draw_claim.lua` and `draw_finish.lua` against the domain: the
//! opening's rule (`DrawPhase::opening`), the line model's phases, and the draw's
//! places (`Seed::order`, `drawn_places`).

use chrono::{DateTime, Utc};
use frontrow_domain::draw::{Seed, drawn_places, receipt};
use frontrow_domain::error::QueueError;
use frontrow_domain::lifecycle::LineLife;
use frontrow_domain::line::Line;
use frontrow_domain::line::phase::{DrawOpening, DrawPhase};
use frontrow_domain::model::{ConcertId, UserId};
use frontrow_domain::ports::Queue;
use frontrow_domain::queue::{QueuePolicy, QueueToken};
use frontrow_redis::ClaimedDraw;
use frontrow_tests::queues::{Harness, contract_settings, on_redis};

use super::{assert_readings, at, own_queue};

/// The opening at 1 s, admitting `admit_per_second`.
fn pre_queue(admit_per_second: u64) -> QueuePolicy {
    QueuePolicy {
        sale_opens_at: Some(at(1_000)),
        admit_per_second,
        ..contract_settings().default_policy
    }
}

/// The phase of a line as its public draw document shows it (a frozen line shows as
/// not drawn yet, like a pre-queue: this test only sets openings before freezing or
/// after the draw).
async fn phase(q: &dyn Queue, concert: ConcertId) -> DrawPhase {
    match q.draw(concert).await.unwrap() {
        None => DrawPhase::None,
        Some(d) if d.seed.is_none() => DrawPhase::Pre,
        Some(_) => DrawPhase::Drawn,
    }
}

/// `draw_open.lua` creates, moves, keeps or refuses a pre-queue as
/// `DrawPhase::opening` says for the line's phase and whether anyone entered.
#[tokio::test]
async fn the_draw_open_script_does_what_the_domains_opening_rule_says_on_redis() {
    let h = on_redis();
    let q = h.first.as_ref();
    let concert = ConcertId(51);
    let late = ConcertId(52);
    q.enter(late, UserId(1), at(0)).await.unwrap();
    // (concert, new opening): create, move, (draw), keep; refuse on the entered line.
    let steps: [(ConcertId, i64); 4] = [
        (concert, 5_000),
        (concert, 1_000),
        (concert, 90_000),
        (late, 1_000),
    ];
    let mut met = Vec::new();
    for (i, (c, opens)) in steps.into_iter().enumerate() {
        if i == 2 {
            // Fans pre-queue, the opening passes, the tick draws.
            q.enter(c, UserId(7), at(0)).await.unwrap();
            q.tick(c, at(1_000)).await.unwrap();
        }
        let before = phase(q, c).await;
        let entered = c == late || i >= 2;
        let rule = before.opening(entered);
        met.push(rule);
        let opens_before: Option<DateTime<Utc>> = q.draw(c).await.unwrap().map(|d| d.opens_at);
        let policy = QueuePolicy {
            sale_opens_at: Some(at(opens)),
            ..contract_settings().default_policy
        };
        let set = h.second.set_policy(c, policy).await;
        let opens_after = q.draw(c).await.unwrap().map(|d| d.opens_at);
        match rule {
            DrawOpening::Create | DrawOpening::Move => {
                set.unwrap();
                assert_eq!(opens_after, Some(at(opens)), "step {i}: {rule:?}");
            }
            DrawOpening::Keep => {
                set.unwrap();
                assert_eq!(opens_after, opens_before, "step {i}: kept");
            }
            DrawOpening::Refuse => {
                assert!(matches!(set, Err(QueueError::Refused(_))), "step {i}");
                assert_eq!(opens_after, None, "step {i}: no pre-queue");
            }
        }
    }
    assert_eq!(
        met,
        [
            DrawOpening::Create,
            DrawOpening::Move,
            DrawOpening::Keep,
            DrawOpening::Refuse
        ],
        "every rule was met"
    );
}

/// `fans` pre-queue at 0 (the model issuing the same numbers), the ones at `leavers`
/// leave, then a late fan enters at the opening (1 s), which freezes the pre-queue.
async fn frozen(
    h: &Harness,
    concert: ConcertId,
    fans: i64,
    leavers: &[usize],
) -> (Line, Vec<QueueToken>) {
    let q = h.first.as_ref();
    q.set_policy(concert, pre_queue(4)).await.unwrap();
    let mut line = Line::default();
    line.set_phase(DrawPhase::Pre, 0, 1_000, None);
    let mut tokens = Vec::new();
    for u in 1..=fans {
        let e = q.enter(concert, UserId(u), at(0)).await.unwrap();
        assert_eq!(e.ticket.token.seq(), line.enter());
        tokens.push(e.ticket.token);
    }
    for &i in leavers {
        h.second.leave(&tokens[i], at(0)).await.unwrap();
        line.leave(tokens[i].seq());
    }
    assert_readings(h.second.as_ref(), (&line, LineLife::Open), &tokens, 0).await;
    let k = line.issued();
    line.set_phase(DrawPhase::Frozen, k, 1_000, None);
    let late = q.enter(concert, UserId(1_000), at(1_000)).await.unwrap();
    assert_eq!(late.ticket.token.seq(), line.enter());
    tokens.push(late.ticket.token);
    assert_readings(h.second.as_ref(), (&line, LineLife::Open), &tokens, 1_000).await;
    (line, tokens)
}

/// The model's frozen pre-queue as a claim names it: numbers 1..=k, the ones that
/// left.
fn model_claim(line: &Line, tokens: &[QueueToken], k: u64) -> (u64, Vec<u64>) {
    let left = tokens
        .iter()
        .map(QueueToken::seq)
        .filter(|&n| n <= k && !line.may_wait(n))
        .collect();
    (k, left)
}

/// `draw_claim.lua` hands a frozen pre-queue's draw (numbers 1..=k, the ones that left
/// named) to one caller at a time, as the model counts them, with 0, 1 and many
/// entrants; nobody claims before the opening, nor while another caller's claim lives.
#[tokio::test]
async fn the_draw_claim_script_hands_the_model_s_frozen_pre_queue_to_one_caller_on_redis() {
    let h = on_redis();
    let own = own_queue(h.redis.as_ref().unwrap());
    for (c, fans, leavers) in [
        (61, 0, &[][..]),
        (62, 1, &[][..]),
        (63, 1, &[0][..]),
        (64, 12, &[0, 4, 5, 11][..]),
    ] {
        let concert = ConcertId(c);
        let early = own.claim_draw(concert, "early", at(0), 500).await.unwrap();
        assert_eq!(early, None, "{c}: no pre-queue yet");
        let (line, tokens) = frozen(&h, concert, fans, leavers).await;
        let k = fans as u64;
        assert_eq!(line.placing().phase(), DrawPhase::Frozen);
        let (want_k, want_left) = model_claim(&line, &tokens, k);
        let won = own.claim_draw(concert, "a", at(1_000), 500).await.unwrap();
        let Some(ClaimedDraw {
            k: got_k,
            left,
            epoch,
        }) = won
        else {
            panic!("{c}: the frozen pre-queue is claimed");
        };
        assert_eq!((got_k, left.clone()), (want_k, want_left.clone()), "{c}");
        // Another caller while the claim lives, and once it ran out.
        assert_eq!(
            own.claim_draw(concert, "b", at(1_499), 500).await.unwrap(),
            None
        );
        let taken = own.claim_draw(concert, "b", at(1_500), 500).await.unwrap();
        assert_eq!(
            taken,
            Some(ClaimedDraw {
                k: want_k,
                epoch,
                left: want_left
            }),
            "{c}"
        );
    }
}

/// `draw_finish.lua` completes only the live claim's draw, and then every fan stands
/// where the model placed by the domain's draw (`Seed::order` of the live fans'
/// receipts, `drawn_places`) stands: drawn fans first in the seed's order, those who
/// left after them, late ones behind; the first admissions take the first drawn.
#[tokio::test]
async fn the_draw_finish_script_places_fans_as_the_domain_s_draw_does_on_redis() {
    let h = on_redis();
    let own = own_queue(h.redis.as_ref().unwrap());
    for (c, fans, leavers) in [
        (71, 0, &[][..]),
        (72, 1, &[][..]),
        (73, 2, &[1][..]),
        (74, 15, &[0, 3, 7, 14][..]),
    ] {
        let concert = ConcertId(c);
        let (mut line, tokens) = frozen(&h, concert, fans, leavers).await;
        let k = fans as u64;
        // Another caller holds the claim until 2 s: a tick finds the draw due but
        // cannot perform it, and a stranger cannot complete it.
        assert!(
            own.claim_draw(concert, "a", at(1_000), 1_000)
                .await
                .unwrap()
                .is_some()
        );
        let report = h.first.tick(concert, at(1_500)).await.unwrap();
        assert_eq!(
            report.admitted, 0,
            "{c}: nobody is admitted before the draw"
        );
        assert!(!own.finish_draw(concert, "stranger", k).await.unwrap());
        assert_eq!(phase(h.second.as_ref(), concert).await, DrawPhase::Pre);
        assert_readings(h.second.as_ref(), (&line, LineLife::Open), &tokens, 1_500).await;

        // Once the claim ran out, a tick draws.
        let report = h.first.tick(concert, at(2_000)).await.unwrap();
        assert_eq!(report.admitted, 0, "{c}: the drawing tick admits nobody");
        let seed = h.second.draw(concert).await.unwrap().unwrap().seed.unwrap();
        let seed = Seed::from_hex(&seed).unwrap();
        let live: Vec<u64> = (1..=k).filter(|&n| line.may_wait(n)).collect();
        let receipts: Vec<String> = live
            .iter()
            .map(|&n| receipt(tokens[(n - 1) as usize].as_str()))
            .collect();
        let perm = drawn_places(k, &live, &seed.order(&receipts));
        line.set_phase(DrawPhase::Drawn, k, 1_000, Some(perm));
        assert_readings(h.second.as_ref(), (&line, LineLife::Open), &tokens, 2_000).await;
        assert!(
            !own.finish_draw(concert, "a", k).await.unwrap(),
            "{c}: drawn already"
        );

        // Four a second: the first four live places.
        let report = h.first.tick(concert, at(3_000)).await.unwrap();
        assert_eq!(report.admitted, 4.min(line.waiting()), "{c}");
        line.admit(report.admitted, Some(3_000 + 600_000));
        assert_readings(h.second.as_ref(), (&line, LineLife::Open), &tokens, 3_000).await;
    }
}
