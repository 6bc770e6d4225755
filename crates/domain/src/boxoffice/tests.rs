//! The box office over mocked ports: admission caps the hold, best-available plans
//! again after losing a claim, and bad asks never reach the store.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};

use super::model::{OrderStatus, VenueSeat};
use super::port::MockOrderRepository;
use super::*;
use crate::model::{ConcertId, Money, Schedule};
use crate::ports::{MockCatalogRepository, MockClock, MockQueue, MockSeatRepository};
use crate::queue::{Ticket, TicketStatus};

const TOKEN: &str = "1.1.7.0123456789abcdef0123456789abcdef";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn admitted_until() -> DateTime<Utc> {
    now() + Duration::minutes(2)
}

fn office(orders: MockOrderRepository) -> BoxOffice {
    let mut catalog = MockCatalogRepository::new();
    catalog.expect_get_schedule().returning(|id| {
        Ok((id == ScheduleId(10)).then(|| Schedule {
            id,
            concert_id: ConcertId(1),
            starts_at: now(),
        }))
    });
    let mut queue = MockQueue::new();
    queue.expect_admission().returning(|t, _| {
        Ok(Ticket {
            status: TicketStatus::Active,
            active_until: Some(admitted_until()),
            ..Ticket::expired(t)
        })
    });
    let mut clock = MockClock::new();
    clock.expect_now().returning(now);
    let clock: Arc<dyn Clock> = Arc::new(clock);
    let catalog: Arc<dyn CatalogRepository> = Arc::new(catalog);
    let room = WaitingRoom::new(Arc::new(queue), catalog.clone(), clock.clone());
    BoxOffice::new(
        catalog,
        Arc::new(orders),
        Arc::new(MockSeatRepository::new()),
        room,
        clock,
        OrderPolicy::default(),
    )
}

fn order_of(req: &PlaceOrder) -> Order {
    Order {
        id: OrderId(1),
        user_id: req.user_id,
        concert_id: req.concert_id,
        schedule_id: req.schedule_id,
        status: OrderStatus::Held,
        total: Money::ZERO,
        seats: Vec::new(),
        standing: Vec::new(),
        together: req.together,
        lone_seats_left: req.lone_seats_left,
        created_at: req.now,
        expires_at: req.expires_at,
        admitted_until: req.admitted_until,
        extended_at: None,
        paid_at: None,
        offer: false,
        refunds: Vec::new(),
        show_cancelled: false,
    }
}

fn one_row(n: u32) -> Vec<VenueSeat> {
    (0..n)
        .map(|x| VenueSeat {
            id: SeatId(i64::from(x)),
            section: "Main".into(),
            section_rank: 0,
            row_no: 0,
            x,
            category: "Std".into(),
            accessible: false,
            hidden: false,
        })
        .collect()
}

fn best(count: u32) -> OrderAsk {
    OrderAsk {
        schedule_id: ScheduleId(10),
        seats: vec![],
        best_available: Some(BestAvailable {
            count,
            category: None,
            section: None,
            accessible: false,
            allow_split: false,
            strict: false,
        }),
        standing: vec![],
        presale_code: None,
    }
}

#[tokio::test]
async fn a_hold_never_outlives_the_admission() {
    let mut orders = MockOrderRepository::new();
    orders.expect_place().returning(|req| {
        assert_eq!(
            req.expires_at,
            admitted_until(),
            "5 min TTL capped at 2 min"
        );
        assert_eq!(req.admitted_until, admitted_until());
        assert_eq!(req.max_per_fan, 8);
        Ok(order_of(&req))
    });
    let ask = OrderAsk {
        schedule_id: ScheduleId(10),
        seats: vec![SeatId(3), SeatId(1)],
        best_available: None,
        standing: vec![("Pit".into(), 2)],
        presale_code: None,
    };
    let o = office(orders)
        .place(UserId(7), Some(TOKEN), ask)
        .await
        .unwrap();
    assert_eq!(o.expires_at, admitted_until());
}

#[tokio::test]
async fn best_available_plans_again_after_losing_a_claim() {
    let mut orders = MockOrderRepository::new();
    orders.expect_venue().returning(|_| Ok(Some(one_row(8))));
    let tries = Arc::new(Mutex::new(Vec::<Vec<SeatId>>::new()));
    let store = tries.clone();
    // The store: seat 3 was taken by someone else once the first claim lost it.
    orders.expect_taken_seats().returning(move |_, _| {
        Ok(if store.lock().unwrap().is_empty() {
            vec![]
        } else {
            vec![SeatId(3)]
        })
    });
    let seen = tries.clone();
    orders.expect_place().returning(move |req| {
        let mut t = seen.lock().unwrap();
        t.push(req.seats.clone());
        if t.len() == 1 {
            Err(PlaceError::SeatsTaken(vec![req.seats[0]]))
        } else {
            Ok(order_of(&req))
        }
    });
    let o = office(orders)
        .place(UserId(7), Some(TOKEN), best(2))
        .await
        .unwrap();
    assert!(o.together);
    let t = tries.lock().unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(t[0], vec![SeatId(3), SeatId(4)], "the centre first");
    assert!(
        !t[1].contains(&SeatId(3)),
        "the lost seat is not planned again"
    );
}

#[tokio::test]
async fn no_block_left_is_409_only_after_a_fresh_snapshot() {
    let mut orders = MockOrderRepository::new();
    orders.expect_venue().returning(|_| Ok(Some(one_row(4))));
    orders
        .expect_taken_seats()
        .times(1)
        .returning(|_, _| Ok(vec![SeatId(1)]));
    orders.expect_place().never();
    let e = office(orders)
        .place(UserId(7), Some(TOKEN), best(3))
        .await
        .unwrap_err();
    assert!(matches!(e, OrderError::NoSeatsLeft { count: 3 }), "{e:?}");
}

#[tokio::test]
async fn bad_asks_never_reach_the_store() {
    let office = office(MockOrderRepository::new());
    type Expect = fn(&OrderError) -> bool;
    let cases: Vec<(OrderAsk, Expect)> = vec![
        (
            OrderAsk {
                best_available: None,
                ..best(1)
            },
            |e| matches!(e, OrderError::Invalid(_)),
        ),
        (best(0), |e| matches!(e, OrderError::Invalid(_))),
        (best(9), |e| {
            matches!(e, OrderError::TooManyTickets { max: 8 })
        }),
        (
            OrderAsk {
                seats: vec![SeatId(1)],
                ..best(1)
            },
            |e| matches!(e, OrderError::Invalid(_)),
        ),
        (
            OrderAsk {
                seats: vec![SeatId(1), SeatId(1)],
                best_available: None,
                ..best(1)
            },
            |e| matches!(e, OrderError::Invalid(_)),
        ),
        (
            OrderAsk {
                best_available: None,
                standing: vec![("Pit".into(), 0)],
                ..best(1)
            },
            |e| matches!(e, OrderError::Invalid(_)),
        ),
        (
            OrderAsk {
                best_available: None,
                standing: vec![("Pit".into(), 5), ("Pit".into(), 1)],
                ..best(1)
            },
            |e| matches!(e, OrderError::Invalid(_)),
        ),
        (
            OrderAsk {
                standing: vec![("Pit".into(), 5)],
                ..best(4)
            },
            |e| matches!(e, OrderError::TooManyTickets { .. }),
        ),
        (
            OrderAsk {
                schedule_id: ScheduleId(11),
                ..best(1)
            },
            |e| matches!(e, OrderError::ScheduleNotFound),
        ),
    ];
    for (ask, expected) in cases {
        let e = office
            .place(UserId(7), Some(TOKEN), ask.clone())
            .await
            .unwrap_err();
        assert!(expected(&e), "{ask:?} gave {e:?}");
    }
    let e = office.place(UserId(7), None, best(1)).await.unwrap_err();
    assert!(matches!(e, OrderError::Gate(GateError::Missing)));
}

#[tokio::test]
async fn store_refusals_map_to_order_errors() {
    for (err, expected) in [
        (PlaceError::SeatsNotFound(vec![SeatId(9)]), "SeatsNotFound"),
        (PlaceError::AreaNotFound("Pit".into()), "AreaNotFound"),
        (
            PlaceError::AreaFull {
                area: "Pit".into(),
                available: 1,
            },
            "AreaFull",
        ),
        (
            PlaceError::FanLimit {
                limit: 8,
                already: 8,
            },
            "FanLimit",
        ),
    ] {
        let slot = Mutex::new(Some(err));
        let mut orders = MockOrderRepository::new();
        orders
            .expect_place()
            .returning(move |_| Err(slot.lock().unwrap().take().unwrap()));
        let ask = OrderAsk {
            seats: vec![SeatId(9)],
            best_available: None,
            ..best(1)
        };
        let e = office(orders)
            .place(UserId(7), Some(TOKEN), ask)
            .await
            .unwrap_err();
        let ok = match expected {
            "SeatsNotFound" => matches!(e, OrderError::SeatsNotFound(_)),
            "AreaNotFound" => matches!(e, OrderError::AreaNotFound(_)),
            "AreaFull" => matches!(e, OrderError::AreaFull { available: 1, .. }),
            _ => matches!(e, OrderError::FanLimit { limit: 8, .. }),
        };
        assert!(ok, "{e:?} is not {expected}");
    }
}
