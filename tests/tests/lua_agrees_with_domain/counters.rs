//! `sync.lua` (what keeps an instance's view current) and `stats.lua` (the line's
//! counters) against the domain's line model.

use frontrow_domain::lifecycle::{CloseReason, LineLife};
use frontrow_domain::line::{Line, Standing};
use frontrow_domain::model::{ConcertId, UserId};
use frontrow_domain::ports::Queue;
use frontrow_domain::queue::{QueuePolicy, QueueStats, QueueToken};
use frontrow_tests::queues::{contract_settings, on_redis};

use super::{Via, assert_readings_via, at, fill, model_standing, own_queue};

/// Three a second, admitted for two seconds.
fn three_a_second() -> QueuePolicy {
    QueuePolicy {
        admit_per_second: 3,
        active_ttl_seconds: 2,
        ..contract_settings().default_policy
    }
}

/// An instance that read the line once (its view from `snapshot.lua`) and then only
/// follows it through `sync.lua` (no second snapshot: every change came as an event
/// in order) answers every fan as the model does after each change another instance
/// makes: leaves while waiting and while admitted, admissions past gone places,
/// batches that end, a late entry, and the line closing.
#[tokio::test]
async fn a_view_following_the_sync_script_answers_as_the_model_on_redis() {
    let h = on_redis();
    let concert = ConcertId(81);
    let (mut line, mut tokens) =
        fill(h.first.as_ref(), concert, three_a_second(), 20, (2, 5)).await;
    let own = own_queue(h.redis.as_ref().unwrap());
    let follower: &dyn Queue = &own;
    let open = LineLife::Open;
    assert_readings_via(follower, Via::Status, (&line, open), &tokens, 0).await;
    // (now, who leaves before the tick)
    let steps: [(i64, &[usize]); 5] = [
        (0, &[]),
        (1_000, &[0, 10]),
        (1_500, &[4]),
        (2_000, &[]),
        (4_500, &[19]),
    ];
    for (now, leavers) in steps {
        for &i in leavers {
            h.first.leave(&tokens[i], at(now)).await.unwrap();
            line.leave(tokens[i].seq());
        }
        let report = h.first.tick(concert, at(now)).await.unwrap();
        line.admit(report.admitted, Some(now + 2_000));
        assert_readings_via(follower, Via::Status, (&line, open), &tokens, now).await;
    }
    let late = h.first.enter(concert, UserId(99), at(4_500)).await.unwrap();
    assert_eq!(late.ticket.token.seq(), line.enter());
    tokens.push(late.ticket.token);
    let life = h
        .first
        .close(concert, CloseReason::Operator, at(4_600))
        .await
        .unwrap();
    assert_eq!(life, open.close(CloseReason::Operator, at(4_600)));
    assert_readings_via(follower, Via::Status, (&line, life), &tokens, 4_600).await;
    assert_eq!(own.snapshots_read(), 1, "one snapshot, then the stream");
}

/// The model's counters at `now_ms`: who waits, who is admitted in a batch still
/// running, and the totals the test kept.
fn model_stats(
    line: &Line,
    tokens: &[QueueToken],
    now_ms: i64,
    (admitted_total, expired_total): (u64, u64),
) -> (u64, u64, u64, u64) {
    let active = tokens
        .iter()
        .filter(|t| matches!(model_standing(line, t, now_ms), Standing::Active { .. }))
        .count() as u64;
    (line.waiting(), active, admitted_total, expired_total)
}

fn counted(stats: &QueueStats) -> (u64, u64, u64, u64) {
    (
        stats.waiting,
        stats.active,
        stats.admitted_total,
        stats.expired_total,
    )
}

/// `stats.lua` counts as the model does: waiting fans, admitted ones whose batch runs
/// (a batch ending exactly now has ended, before any tick expires it), an admitted fan
/// who left, and the totals; an empty line counts nothing.
#[tokio::test]
async fn the_stats_script_counts_as_the_model_does_on_redis() {
    let h = on_redis();
    let empty = h.second.stats(ConcertId(90), at(0)).await.unwrap();
    assert_eq!(counted(&empty), (Line::default().waiting(), 0, 0, 0));

    let concert = ConcertId(91);
    let (mut line, tokens) = fill(h.first.as_ref(), concert, three_a_second(), 10, (9, 1)).await;
    let (mut admitted, mut expired) = (0, 0);
    // (number, end) of every admitted fan no tick has expired yet.
    let mut unexpired: Vec<(u64, i64)> = Vec::new();
    // (now, tick first?, who leaves first)
    let steps: [(i64, bool, Option<usize>); 8] = [
        (0, true, None),
        (1_000, true, None),
        (1_999, false, None),
        (2_000, false, None),
        (2_500, false, Some(4)),
        (3_000, false, None),
        (3_000, true, None),
        (3_500, false, None),
    ];
    for (now, tick, leaver) in steps {
        if let Some(i) = leaver {
            h.first.leave(&tokens[i], at(now)).await.unwrap();
            line.leave(tokens[i].seq());
            unexpired.retain(|&(n, _)| n != tokens[i].seq());
        }
        if tick {
            let report = h.first.tick(concert, at(now)).await.unwrap();
            // The tick expires every batch that ended, with the fans still in it.
            let ended = unexpired.iter().filter(|&&(_, until)| until <= now).count() as u64;
            unexpired.retain(|&(_, until)| until > now);
            assert_eq!(report.expired_active, ended, "tick at {now} ms");
            expired += ended;
            admitted += report.admitted;
            if let Some((first, last)) = line.admit(report.admitted, Some(now + 2_000)) {
                unexpired.extend(
                    (first..=last)
                        .filter(|&p| line.standing(p, now) != Standing::Expired)
                        .map(|p| (p, now + 2_000)),
                );
            }
        }
        let stats = h.second.stats(concert, at(now)).await.unwrap();
        assert_eq!(
            counted(&stats),
            model_stats(&line, &tokens, now, (admitted, expired)),
            "stats at {now} ms"
        );
    }
    assert_eq!(admitted, 9, "the line moved");
}
