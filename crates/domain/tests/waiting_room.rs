//! The waiting room's use cases through the domain's public API, over hand-written fakes of
//! its ports: a line's life after each tick, entering a line that sold out, the draw and
//! its archive. Each test here kills mutants `scripts/mutants.sh room` found alive
//! (docs/src/testing.md, "Mutation testing").

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fakes;

use std::sync::Arc;

use fakes::{FakeArchive, FakeCatalog, FakeQueue, FakeSeats, FixedClock, at, down, ticket};
use frontrow_domain::draw::{Draw, Seed, receipt};
use frontrow_domain::lifecycle::{CloseReason, LineLife};
use frontrow_domain::model::{ConcertId, ScheduleId, UserId};
use frontrow_domain::queue::{
    Entered, QueueStats, QueueToken, SeatCounts, TickReport, TicketStatus, TokenKey,
};
use frontrow_domain::waiting_room::{MAX_PENDING_RELEASES, WaitingRoom, WaitingRoomError};

const CONCERT: ConcertId = ConcertId(1);
const FAN: UserId = UserId(7);

fn token(seq: u64) -> QueueToken {
    QueueToken::issue(&TokenKey::derive(b"test"), CONCERT, seq, FAN)
}

/// A well-formed token, unsigned (the room only checks signatures at the gate's queue).
fn unsigned(seq: u64) -> QueueToken {
    QueueToken::parse_unchecked(&format!("1.{seq}.7.0123456789abcdef0123456789abcdef")).unwrap()
}

/// A room over `queue` for concert 1 with schedules starting at `starts` (seconds),
/// the clock at `now`, and seats counted as `counts` when given.
fn room(
    queue: &Arc<FakeQueue>,
    starts: &[i64],
    now: i64,
    counts: Option<SeatCounts>,
) -> WaitingRoom {
    let schedules: Vec<(ScheduleId, _)> = starts
        .iter()
        .enumerate()
        .map(|(i, s)| (ScheduleId(10 + i as i64), at(*s)))
        .collect();
    let catalog = FakeCatalog::with(CONCERT, &schedules);
    let room = WaitingRoom::new(queue.clone(), catalog, FixedClock::at(at(now)));
    match counts {
        None => room,
        Some(c) => {
            let seats = FakeSeats::with(&[]);
            seats.counts.lock().unwrap().insert(CONCERT, c);
            room.with_inventory(seats)
        }
    }
}

fn ticking(life: LineLife) -> Arc<FakeQueue> {
    Arc::new(FakeQueue {
        concerts: vec![CONCERT],
        tick: Some(Box::new(move || {
            Ok(TickReport {
                admitted: 2,
                life,
                ..TickReport::default()
            })
        })),
        ..FakeQueue::default()
    })
}

const FREE: SeatCounts = SeatCounts {
    free: 3,
    held: 1,
    holders: 1,
};
const SOLD_OUT: SeatCounts = SeatCounts {
    free: 0,
    held: 0,
    holders: 0,
};

mod life {
    use super::*;

    #[tokio::test]
    async fn a_tick_caps_admission_by_the_free_seats_and_reports_each_concert() {
        let queue = ticking(LineLife::Open);
        let reports = room(&queue, &[3_600], 0, Some(FREE))
            .tick_all()
            .await
            .unwrap();
        assert_eq!(reports.len(), 1);
        assert_eq!((reports[0].0, reports[0].1.admitted), (CONCERT, 2));
        // Three free seats at 1.5 fans each; the one holder is not counted against them.
        assert_eq!(
            queue.calls(),
            ["tick Some(AdmissionCap { seats: 4, holders: 1, inventory: Available })"]
        );
        let uncounted = ticking(LineLife::Open);
        room(&uncounted, &[3_600], 0, None)
            .tick_all()
            .await
            .unwrap();
        assert_eq!(uncounted.calls(), ["tick None"]);
    }

    #[tokio::test]
    async fn an_open_line_closes_when_sold_out_or_when_its_last_show_started() {
        let queue = ticking(LineLife::Open);
        room(&queue, &[3_600], 0, Some(SOLD_OUT))
            .tick_all()
            .await
            .unwrap();
        assert_eq!(queue.calls()[1..], ["close S"]);
        let queue = ticking(LineLife::Open);
        room(&queue, &[0, 60], 60, Some(FREE))
            .tick_all()
            .await
            .unwrap();
        assert_eq!(queue.calls()[1..], ["close E"]);
        // One show still to come, or no show at all: the line stays open.
        for starts in [&[0, 61][..], &[]] {
            let queue = ticking(LineLife::Open);
            room(&queue, starts, 60, Some(FREE))
                .tick_all()
                .await
                .unwrap();
            assert_eq!(queue.calls().len(), 1, "{starts:?}: {:?}", queue.calls());
        }
    }

    #[tokio::test]
    async fn a_sold_out_line_reopens_when_a_seat_is_free_again() {
        let sold = LineLife::Closed {
            reason: CloseReason::SoldOut,
            since: at(0),
        };
        let queue = ticking(sold);
        room(&queue, &[3_600], 10, Some(FREE))
            .tick_all()
            .await
            .unwrap();
        assert_eq!(queue.calls()[1..], ["reopen"]);
    }

    #[tokio::test]
    async fn a_closed_line_retires_after_its_grace_period_and_a_retired_one_rests() {
        let closed = LineLife::Closed {
            reason: CloseReason::Operator,
            since: at(100),
        };
        let queue = ticking(closed);
        let waited = room(&queue, &[3_600], 159, Some(FREE)).with_retirement(60);
        waited.tick_all().await.unwrap();
        assert_eq!(queue.calls().len(), 1, "{:?}", queue.calls());
        let queue = ticking(closed);
        let waited = room(&queue, &[3_600], 160, Some(FREE)).with_retirement(60);
        waited.tick_all().await.unwrap();
        assert_eq!(queue.calls()[1..], [format!("retire {}", at(100))]);
        // The default grace is an hour.
        let queue = ticking(closed);
        room(&queue, &[3_600], 3_699, Some(FREE))
            .tick_all()
            .await
            .unwrap();
        assert_eq!(queue.calls().len(), 1);
        let queue = ticking(closed);
        room(&queue, &[3_600], 3_700, Some(FREE))
            .tick_all()
            .await
            .unwrap();
        assert_eq!(queue.calls()[1..], [format!("retire {}", at(100))]);
        let queue = ticking(LineLife::Retired {
            reason: CloseReason::SoldOut,
        });
        room(&queue, &[0], 10_000, Some(FREE))
            .tick_all()
            .await
            .unwrap();
        assert_eq!(queue.calls().len(), 1);
    }

    #[tokio::test]
    async fn the_operator_closes_reopens_and_reads_a_known_concerts_line() {
        let queue = Arc::new(FakeQueue {
            life: Some(Box::new(|| Ok(LineLife::Open))),
            stats: Some(Box::new(|| {
                Ok(QueueStats {
                    waiting: 5,
                    ..QueueStats::default()
                })
            })),
            ..FakeQueue::default()
        });
        let room = room(&queue, &[3_600], 42, None);
        assert_eq!(
            room.close(CONCERT).await.unwrap(),
            LineLife::Closed {
                reason: CloseReason::Operator,
                since: at(42)
            }
        );
        assert_eq!(room.reopen(CONCERT).await.unwrap(), LineLife::Open);
        assert_eq!(room.life(CONCERT).await.unwrap(), LineLife::Open);
        assert_eq!(room.stats(CONCERT).await.unwrap().waiting, 5);
        assert_eq!(queue.calls(), ["close O", "reopen"]);
        let unknown = ConcertId(2);
        assert!(matches!(
            room.close(unknown).await,
            Err(WaitingRoomError::ConcertNotFound)
        ));
        assert!(matches!(
            room.reopen(unknown).await,
            Err(WaitingRoomError::ConcertNotFound)
        ));
        assert!(matches!(
            room.life(unknown).await,
            Err(WaitingRoomError::ConcertNotFound)
        ));
        assert!(matches!(
            room.stats(unknown).await,
            Err(WaitingRoomError::ConcertNotFound)
        ));
        assert_eq!(queue.calls().len(), 2);
    }

    #[tokio::test]
    async fn a_concerts_policy_is_read_from_its_line() {
        let policy = frontrow_domain::queue::QueuePolicy {
            max_active: 7,
            paused: true,
            ..Default::default()
        };
        let queue = Arc::new(FakeQueue {
            policy: Some(Box::new(move || Ok(policy))),
            ..FakeQueue::default()
        });
        assert_eq!(
            room(&queue, &[3_600], 0, None)
                .policy(CONCERT)
                .await
                .unwrap(),
            policy
        );
    }

    #[test]
    fn a_closed_line_says_why_in_words() {
        for (reason, words) in [
            (CloseReason::SoldOut, "the concert is sold out"),
            (CloseReason::Operator, "the operator closed the line"),
            (CloseReason::Ended, "the concert has started"),
        ] {
            assert_eq!(
                WaitingRoomError::LineClosed(reason).to_string(),
                format!("the sale is over: {words}")
            );
        }
    }
}

mod entering {
    use frontrow_domain::error::QueueError;

    use super::*;

    /// A queue whose first `enter` finds the line closed for `reason`; later ones let in.
    fn closed_once(reason: CloseReason) -> Arc<FakeQueue> {
        Arc::new(FakeQueue {
            enter: Some(Box::new(move |n| {
                if n == 1 {
                    return Err(QueueError::Closed(reason));
                }
                Ok(Entered {
                    ticket: ticket(&token(1), TicketStatus::Waiting),
                    created: true,
                })
            })),
            ..FakeQueue::default()
        })
    }

    #[tokio::test]
    async fn a_fan_reopens_a_sold_out_line_when_seats_came_back_before_the_show() {
        for starts in [&[3_600][..], &[0, 3_600], &[]] {
            let queue = closed_once(CloseReason::SoldOut);
            let entered = room(&queue, starts, 60, Some(FREE))
                .enter(CONCERT, FAN)
                .await
                .unwrap();
            assert!(entered.created);
            assert_eq!(queue.calls(), ["enter", "reopen", "enter"], "{starts:?}");
        }
    }

    #[tokio::test]
    async fn a_sold_out_line_stays_closed_without_free_seats_or_after_the_show() {
        for (starts, counts) in [
            (&[3_600][..], Some(SOLD_OUT)),
            (&[0, 30], Some(FREE)),
            (&[3_600], None),
        ] {
            let queue = closed_once(CloseReason::SoldOut);
            let e = room(&queue, starts, 60, counts)
                .enter(CONCERT, FAN)
                .await
                .unwrap_err();
            assert!(
                matches!(e, WaitingRoomError::LineClosed(CloseReason::SoldOut)),
                "{e:?}"
            );
            assert_eq!(queue.calls(), ["enter"]);
        }
        let queue = closed_once(CloseReason::Operator);
        let e = room(&queue, &[3_600], 60, Some(FREE))
            .enter(CONCERT, FAN)
            .await
            .unwrap_err();
        assert!(matches!(
            e,
            WaitingRoomError::LineClosed(CloseReason::Operator)
        ));
    }

    #[tokio::test]
    async fn status_and_leave_reach_the_queue_only_with_a_well_formed_token() {
        let queue = Arc::new(FakeQueue {
            status: Some(Box::new(|t| Ok(ticket(t, TicketStatus::Active)))),
            ..FakeQueue::default()
        });
        let room = room(&queue, &[3_600], 0, None);
        let t = token(3);
        assert_eq!(
            room.status(t.as_str()).await.unwrap().status,
            TicketStatus::Active
        );
        room.leave(t.as_str()).await.unwrap();
        assert_eq!(queue.calls(), [format!("leave {t}")]);
        assert!(matches!(
            room.status("nope").await,
            Err(WaitingRoomError::UnknownToken)
        ));
        assert!(matches!(
            room.leave("nope").await,
            Err(WaitingRoomError::UnknownToken)
        ));
        assert_eq!(queue.calls().len(), 1);
    }

    #[tokio::test]
    async fn failed_releases_wait_in_order_up_to_their_bound() {
        let queue = Arc::new(FakeQueue {
            leave: Some(Box::new(|_| Err(down()))),
            ..FakeQueue::default()
        });
        let room = room(&queue, &[3_600], 0, None);
        for seq in 1..=2 {
            assert!(room.complete(&unsigned(seq)).await.is_err());
        }
        let report = room.retry_releases().await;
        assert_eq!((report.retried, report.done, report.pending), (2, 0, 2));
        for seq in 3..=(MAX_PENDING_RELEASES as u64 + 1) {
            assert!(room.complete(&unsigned(seq)).await.is_err());
        }
        queue.calls.lock().unwrap().clear();
        let report = room.retry_releases().await;
        assert_eq!(report.pending, MAX_PENDING_RELEASES as u64);
        // The oldest was dropped for the newest.
        let calls = queue.calls();
        assert_eq!(calls[0], format!("leave {}", unsigned(2)));
        assert_eq!(
            calls.last().unwrap(),
            &format!("leave {}", unsigned(MAX_PENDING_RELEASES as u64 + 1))
        );
    }
}

mod draws {
    use super::*;

    const ENTRANTS: u64 = 3;

    fn revealed(seed: &Seed) -> Draw {
        Draw {
            commitment: seed.commitment(),
            opens_at: at(0),
            entrants: ENTRANTS,
            seed: Some(seed.to_hex()),
        }
    }

    fn receipts() -> Vec<String> {
        (1..=ENTRANTS).map(|i| receipt(&format!("t{i}"))).collect()
    }

    /// A queue holding `draw` whose receipts come two to a page; each page read is
    /// recorded as `page <offset>`.
    fn drawn(draw: Option<Draw>, receipts: Vec<String>) -> Arc<FakeQueue> {
        let pages = Arc::new(std::sync::Mutex::new(Vec::new()));
        let read = pages.clone();
        Arc::new(FakeQueue {
            concerts: vec![CONCERT],
            draw: Some(Box::new(move || Ok(draw.clone()))),
            draw_receipts: Some(Box::new(move |offset, limit| {
                read.lock().unwrap().push(offset);
                let page = receipts
                    .iter()
                    .skip(usize::try_from(offset).unwrap())
                    .take(usize::try_from(limit.min(2)).unwrap())
                    .cloned()
                    .collect();
                Ok(Some(page))
            })),
            pages: Some(pages),
            ..FakeQueue::default()
        })
    }

    #[tokio::test]
    async fn a_revealed_draw_is_archived_once_with_every_receipt() {
        let seed = Seed::from_hex(&"11".repeat(32)).unwrap();
        let queue = drawn(Some(revealed(&seed)), receipts());
        let archive = Arc::new(FakeArchive::default());
        let room = room(&queue, &[3_600], 0, None).with_draw_archive(archive.clone());
        assert_eq!(room.keep_draws().await.unwrap(), 1);
        // Three receipts two to a page: two reads, none past the last receipt.
        assert_eq!(*queue.pages.as_ref().unwrap().lock().unwrap(), [0, 2]);
        assert_eq!(room.keep_draws().await.unwrap(), 0);
        let stored = archive.stored.lock().unwrap().clone();
        assert_eq!(stored, [(CONCERT, revealed(&seed), 3)]);
        // Another instance finds it archived already: nothing stored again.
        let other = room_over(&queue, archive.clone());
        assert_eq!(other.keep_draws().await.unwrap(), 0);
        assert_eq!(archive.stored.lock().unwrap().len(), 1);
    }

    fn room_over(queue: &Arc<FakeQueue>, archive: Arc<FakeArchive>) -> WaitingRoom {
        room(queue, &[3_600], 0, None).with_draw_archive(archive)
    }

    #[tokio::test]
    async fn an_unrevealed_or_incomplete_draw_is_not_archived() {
        let seed = Seed::random();
        let hidden = Draw {
            seed: None,
            ..revealed(&seed)
        };
        for queue in [
            drawn(Some(hidden), receipts()),
            drawn(None, receipts()),
            drawn(Some(revealed(&seed)), receipts()[..2].to_vec()),
            drawn(Some(revealed(&seed)), vec!["not hex".into(); 3]),
        ] {
            let archive = Arc::new(FakeArchive::default());
            assert_eq!(
                room_over(&queue, archive.clone())
                    .keep_draws()
                    .await
                    .unwrap(),
                0
            );
            assert!(archive.stored.lock().unwrap().is_empty());
        }
        // Without an archive there is nothing to keep.
        let queue = drawn(Some(revealed(&seed)), receipts());
        assert_eq!(
            room(&queue, &[3_600], 0, None).keep_draws().await.unwrap(),
            0
        );
    }

    #[tokio::test]
    async fn a_draw_is_read_from_the_queue_then_from_the_archive() {
        let seed = Seed::random();
        let live = drawn(Some(revealed(&seed)), receipts());
        let archive = Arc::new(FakeArchive::default());
        let room_live = room_over(&live, archive.clone());
        assert_eq!(room_live.draw(CONCERT).await.unwrap(), revealed(&seed));
        let (doc, page) = room_live.draw_receipts(CONCERT, 1, 5).await.unwrap();
        assert_eq!((doc, page), (revealed(&seed), receipts()[1..3].to_vec()));
        room_live.keep_draws().await.unwrap();
        // The queue lost it (retired, or lost its data): the archive answers.
        let gone = drawn(None, vec![]);
        let room_gone = room_over(&gone, archive.clone());
        assert_eq!(room_gone.draw(CONCERT).await.unwrap(), revealed(&seed));
        let (_, page) = room_gone.draw_receipts(CONCERT, 1, 5).await.unwrap();
        assert_eq!(page, receipts()[1..].to_vec());
        // The queue cannot answer: the archive still does.
        let broken = Arc::new(FakeQueue {
            draw: Some(Box::new(|| Err(down()))),
            ..FakeQueue::default()
        });
        assert_eq!(
            room_over(&broken, archive).draw(CONCERT).await.unwrap(),
            revealed(&seed)
        );
        let bare = room(&broken, &[3_600], 0, None);
        assert!(matches!(
            bare.draw(CONCERT).await,
            Err(WaitingRoomError::QueueUnavailable(_))
        ));
        let none = room(&gone, &[3_600], 0, None);
        assert!(matches!(
            none.draw(CONCERT).await,
            Err(WaitingRoomError::NoDraw)
        ));
        assert!(matches!(
            none.draw(ConcertId(2)).await,
            Err(WaitingRoomError::ConcertNotFound)
        ));
        assert!(matches!(
            none.draw_receipts(ConcertId(2), 0, 1).await,
            Err(WaitingRoomError::ConcertNotFound)
        ));
    }

    #[tokio::test]
    async fn a_page_of_receipts_is_at_most_the_bound_and_none_before_the_draw() {
        let seed = Seed::random();
        let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = asked.clone();
        let queue = Arc::new(FakeQueue {
            draw: Some(Box::new(move || Ok(Some(revealed(&seed))))),
            draw_receipts: Some(Box::new(move |offset, limit| {
                seen.lock().unwrap().push((offset, limit));
                Ok(None)
            })),
            ..FakeQueue::default()
        });
        let room = room(&queue, &[3_600], 0, None);
        assert!(matches!(
            room.draw_receipts(CONCERT, 7, u64::MAX).await,
            Err(WaitingRoomError::NotDrawnYet)
        ));
        assert_eq!(
            *asked.lock().unwrap(),
            [(7, frontrow_domain::waiting_room::MAX_RECEIPTS_PAGE)]
        );
    }
}
