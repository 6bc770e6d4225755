//! Returns over mocked ports: the rules of a return and of a ticket's status, bad input
//! that never reaches the store, and every store refusal mapped to its own error.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::model::{CancelReport, Refund, RefundKind, ReturnReceipt, SchedulePolicy, TicketStatus};
use super::port::{MockReturnsRepository, ReturnError, WaitlistError};
use super::rules::{self, Refusal};
use super::*;
use crate::model::{ConcertId, Money, OrderId, ScheduleId, UserId};
use crate::ports::{MockCatalogRepository, MockClock, MockQueue};
use crate::tickets::model::{FirstScan, Place, Ticket, TicketId};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
}

fn ticket(starts_in: Duration) -> Ticket {
    Ticket {
        id: TicketId(5),
        order_id: OrderId(2),
        user_id: UserId(1),
        schedule_id: ScheduleId(7),
        place: Place::Area(3),
        label: "Pit".into(),
        category: "Floor".into(),
        starts_at: now() + starts_in,
        issued_at: now(),
        generation: 0,
        holder: None,
        admitted: None,
        revoked_at: None,
    }
}

fn returns(repo: MockReturnsRepository) -> Returns {
    let mut clock = MockClock::new();
    clock.expect_now().returning(now);
    let clock: Arc<dyn Clock> = Arc::new(clock);
    let room = WaitingRoom::new(
        Arc::new(MockQueue::new()),
        Arc::new(MockCatalogRepository::new()),
        clock.clone(),
    );
    Returns::new(Arc::new(repo), room, clock, ReturnsPolicy::default())
}

#[test]
fn a_ticket_is_returnable_until_the_cutoff_and_not_at_it() {
    let t = ticket(Duration::hours(25));
    let until = rules::return_until(t.starts_at, Duration::hours(24));
    assert_eq!(until, now() + Duration::hours(1));
    assert_eq!(rules::check_return(&t, false, false, until, now()), Ok(()));
    assert_eq!(
        rules::check_return(&t, false, false, until, until),
        Err(Refusal::TooLate { until })
    );
}

#[test]
fn refusals_come_in_the_order_a_fan_needs_them() {
    let mut t = ticket(Duration::hours(1));
    let until = now() - Duration::hours(1);
    t.admitted = Some(FirstScan {
        at: now(),
        gate: "North".into(),
    });
    assert_eq!(
        rules::check_return(&t, false, false, until, now()),
        Err(Refusal::CheckedIn)
    );
    t.revoked_at = Some(now());
    assert_eq!(
        rules::check_return(&t, false, false, until, now()),
        Err(Refusal::Revoked)
    );
    assert_eq!(
        rules::check_return(&t, false, true, until, now()),
        Err(Refusal::ShowCancelled)
    );
    assert_eq!(
        rules::check_return(&t, true, true, until, now()),
        Err(Refusal::AlreadyReturned)
    );
}

#[test]
fn a_tickets_status_says_what_happened_to_it() {
    let t = ticket(Duration::hours(48));
    let policy = SchedulePolicy {
        schedule_id: ScheduleId(7),
        cutoff: Some(Duration::hours(47)),
        cancelled_at: None,
    };
    let s = rules::ticket_state(&t, false, Some(&policy), Duration::hours(24), now());
    assert_eq!(s.status, TicketStatus::Valid);
    assert!(s.returnable);
    assert_eq!(s.return_until, Some(now() + Duration::hours(1)));
    // The operator's cutoff wins over the default; past it the ticket stays valid.
    let late = SchedulePolicy {
        cutoff: Some(Duration::hours(49)),
        ..policy
    };
    let s = rules::ticket_state(&t, false, Some(&late), Duration::hours(24), now());
    assert_eq!((s.status, s.returnable), (TicketStatus::Valid, false));
    let s = rules::ticket_state(&t, true, Some(&policy), Duration::hours(24), now());
    assert_eq!(
        (s.status, s.returnable, s.return_until),
        (TicketStatus::Returned, false, None)
    );
    let cancelled = SchedulePolicy {
        cancelled_at: Some(now()),
        ..policy
    };
    let mut revoked = t.clone();
    revoked.revoked_at = Some(now());
    let s = rules::ticket_state(
        &revoked,
        false,
        Some(&cancelled),
        Duration::hours(24),
        now(),
    );
    assert_eq!(s.status, TicketStatus::Cancelled);
    let s = rules::ticket_state(&revoked, false, None, Duration::hours(24), now());
    assert_eq!(s.status, TicketStatus::Revoked);
    let mut admitted = t;
    admitted.admitted = Some(FirstScan {
        at: now(),
        gate: "N".into(),
    });
    let s = rules::ticket_state(&admitted, false, None, Duration::hours(24), now());
    assert_eq!((s.status, s.returnable), (TicketStatus::CheckedIn, false));
}

#[test]
fn statuses_and_kinds_read_back_what_they_write() {
    for w in model::WaitlistStatus::ALL {
        assert_eq!(model::WaitlistStatus::parse(w.as_str()), Some(w));
    }
    assert_eq!(model::WaitlistStatus::parse("waiting"), None);
    for k in [RefundKind::Return, RefundKind::ShowCancelled] {
        assert_eq!(RefundKind::parse(k.as_str()), Some(k));
    }
    assert_eq!(RefundKind::parse(""), None);
}

#[tokio::test]
async fn bad_input_never_reaches_the_store() {
    let r = returns(MockReturnsRepository::new());
    assert!(matches!(
        r.return_ticket(UserId(1), TicketId(1), "   ").await,
        Err(ReturnsError::InvalidIdempotencyKey { .. })
    ));
    let long = "k".repeat(MAX_IDEMPOTENCY_KEY_LEN + 1);
    assert!(matches!(
        r.return_ticket(UserId(1), TicketId(1), &long).await,
        Err(ReturnsError::InvalidIdempotencyKey { .. })
    ));
    for q in [0, 9] {
        assert!(matches!(
            r.join(UserId(1), ScheduleId(7), q).await,
            Err(ReturnsError::Invalid(_))
        ));
    }
    assert!(matches!(
        r.set_cutoff(ScheduleId(7), Some(MAX_CUTOFF_MINUTES + 1))
            .await,
        Err(ReturnsError::Invalid(_))
    ));
}

#[tokio::test]
async fn a_return_carries_the_clock_and_the_default_cutoff() {
    let mut repo = MockReturnsRepository::new();
    repo.expect_return_ticket().returning(|req| {
        assert_eq!(req.now, now());
        assert_eq!(req.default_cutoff, Duration::hours(24));
        assert_eq!(req.idempotency_key, "k1");
        Ok(ReturnReceipt {
            refund: Refund {
                id: 1,
                user_id: req.user_id,
                order_id: OrderId(2),
                ticket_id: Some(req.ticket_id),
                kind: RefundKind::Return,
                amount: Money::from_u32(100),
                balance: Money::from_u32(100),
                created_at: req.now,
            },
            schedule_id: ScheduleId(7),
            replayed: false,
        })
    });
    let got = returns(repo)
        .return_ticket(UserId(1), TicketId(5), " k1 ")
        .await
        .unwrap();
    assert_eq!(got.refund.amount, Money::from_u32(100));
}

#[tokio::test]
async fn every_store_refusal_has_its_own_error() {
    let cases = [
        (ReturnError::NotFound, "NotFound"),
        (ReturnError::KeyReused, "KeyReused"),
        (
            ReturnError::Refused(Refusal::AlreadyReturned),
            "AlreadyReturned",
        ),
        (
            ReturnError::Refused(Refusal::ShowCancelled),
            "ShowCancelled",
        ),
        (ReturnError::Refused(Refusal::Revoked), "Revoked"),
        (ReturnError::Refused(Refusal::CheckedIn), "CheckedIn"),
        (
            ReturnError::Refused(Refusal::TooLate { until: now() }),
            "TooLate",
        ),
    ];
    for (e, name) in cases {
        let got = ReturnsError::from(e);
        assert!(format!("{got:?}").starts_with(name), "{got:?} for {name}");
    }
    let cases = [
        (WaitlistError::ScheduleNotFound, "ScheduleNotFound"),
        (WaitlistError::NotSoldOut, "NotSoldOut"),
        (WaitlistError::AlreadyJoined, "AlreadyJoined"),
        (WaitlistError::NotJoined, "NotJoined"),
        (WaitlistError::ShowCancelled, "ShowCancelled"),
    ];
    for (e, name) in cases {
        let got = ReturnsError::from(e);
        assert!(format!("{got:?}").starts_with(name), "{got:?} for {name}");
    }
}

#[tokio::test]
async fn unknown_schedules_and_entries_are_not_found() {
    let mut repo = MockReturnsRepository::new();
    repo.expect_cancel_schedule().returning(|_, _| Ok(None));
    repo.expect_entry().returning(|_, _| Ok(None));
    repo.expect_set_cutoff().returning(|_, _| Ok(false));
    let r = returns(repo);
    assert!(matches!(
        r.cancel_show(ScheduleId(9)).await,
        Err(ReturnsError::ScheduleNotFound)
    ));
    assert!(matches!(
        r.entry(UserId(1), ScheduleId(9)).await,
        Err(ReturnsError::NotJoined)
    ));
    assert!(matches!(
        r.set_cutoff(ScheduleId(9), Some(60)).await,
        Err(ReturnsError::ScheduleNotFound)
    ));
}

#[tokio::test]
async fn a_cancel_that_leaves_schedules_keeps_the_line_open() {
    let mut repo = MockReturnsRepository::new();
    repo.expect_cancel_schedule().returning(|s, at| {
        Ok(Some(CancelReport {
            schedule_id: s,
            concert_id: ConcertId(1),
            cancelled_at: at,
            first: true,
            orders_refunded: 3,
            amount_refunded: Money::from_u32(300),
            tickets_revoked: 6,
            held_orders_cancelled: 1,
            waitlist_closed: 2,
            concert_cancelled: false,
        }))
    });
    // MockQueue has no expectations: closing the line would panic.
    let got = returns(repo).cancel_show(ScheduleId(7)).await.unwrap();
    assert_eq!(got.orders_refunded, 3);
}
