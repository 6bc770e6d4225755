//! The box office over mocked ports: admission caps the hold, best-available plans
//! again after losing a claim, and bad asks never reach the store.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};

use super::model::{OrderStatus, VenueSeat};
use super::port::MockOrderRepository;
use super::*;
use crate::model::{ConcertId, Money, Schedule};
use crate::ports::{MockCatalogRepository, MockClock, MockQueue};
use crate::queue::{Ticket, TicketStatus};

const TOKEN: &str = "1.1.7.0123456789abcdef0123456789abcdef";

pub(crate) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn admitted_until() -> DateTime<Utc> {
    now() + Duration::minutes(2)
}

pub(crate) fn office(orders: MockOrderRepository) -> BoxOffice {
    office_with(orders, OrderPolicy::default())
}

fn office_with(orders: MockOrderRepository, policy: OrderPolicy) -> BoxOffice {
    let queue = admitting(TicketStatus::Active, Some(admitted_until()));
    build(orders, queue, policy)
}

/// A queue whose gate finds every token `status`, admitted until `active_until`.
fn admitting(status: TicketStatus, active_until: Option<DateTime<Utc>>) -> MockQueue {
    let mut queue = MockQueue::new();
    queue.expect_admission().returning(move |t, _| {
        Ok(Ticket {
            status,
            active_until,
            ..Ticket::expired(t)
        })
    });
    queue
}

fn build(orders: MockOrderRepository, queue: MockQueue, policy: OrderPolicy) -> BoxOffice {
    let mut catalog = MockCatalogRepository::new();
    catalog.expect_get_schedule().returning(|id| {
        Ok((id == ScheduleId(10)).then(|| Schedule {
            id,
            concert_id: ConcertId(1),
            starts_at: now(),
        }))
    });
    let mut clock = MockClock::new();
    clock.expect_now().returning(now);
    let clock: Arc<dyn Clock> = Arc::new(clock);
    let catalog: Arc<dyn CatalogRepository> = Arc::new(catalog);
    let room = WaitingRoom::new(Arc::new(queue), catalog.clone(), clock.clone());
    BoxOffice::new(catalog, Arc::new(orders), room, clock, policy)
}

pub(crate) fn order_of(req: &PlaceOrder) -> Order {
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

/// A store where another instance wins every claim and whose snapshot never shows its
/// seats taken, counting the claims made; a claim past the `most` expected fails the
/// test at once (a request that should have answered keeps claiming).
fn always_lost(claims: Arc<Mutex<u32>>, most: u32) -> MockOrderRepository {
    let mut orders = MockOrderRepository::new();
    orders.expect_venue().returning(|_| Ok(Some(one_row(8))));
    orders.expect_taken_seats().returning(|_, _| Ok(vec![]));
    orders.expect_place().returning(move |req| {
        let mut n = claims.lock().unwrap();
        *n += 1;
        assert!(*n <= most, "claim {n} of at most {most}");
        Err(PlaceError::SeatsTaken(req.seats.clone()))
    });
    orders
}

#[tokio::test]
async fn claims_lost_until_the_deadline_are_contended_not_sold_out() {
    // Blocks are always left, so the answer is "try again", never "no seats". A short
    // deadline instead of the box office's ten seconds: the answer is the same.
    let claims = Arc::new(Mutex::new(0));
    let office = office(always_lost(claims.clone(), u32::MAX))
        .with_plan_deadline(StdDuration::from_millis(50));
    let got = office.place(UserId(7), Some(TOKEN), best(2)).await;
    assert!(
        matches!(got, Err(OrderError::Contended { count: 2 })),
        "{got:?}"
    );
    assert!(*claims.lock().unwrap() >= 1);
}

#[tokio::test]
async fn a_claim_lost_past_the_deadline_is_answered_contended_without_another_try() {
    // With no time left, the first lost claim is the answer: one claim, not a retry.
    let claims = Arc::new(Mutex::new(0));
    let office = office(always_lost(claims.clone(), 1)).with_plan_deadline(StdDuration::ZERO);
    let got = office.place(UserId(7), Some(TOKEN), best(2)).await;
    assert!(
        matches!(got, Err(OrderError::Contended { count: 2 })),
        "{got:?}"
    );
    assert_eq!(*claims.lock().unwrap(), 1);
}

#[tokio::test]
async fn with_no_time_left_a_fresh_snapshot_with_nothing_in_flight_is_sold_out() {
    // Seat 1 of four is taken: no block of three, read from the store by this request,
    // and no claim of this instance in flight that could free one.
    let mut orders = MockOrderRepository::new();
    orders.expect_venue().returning(|_| Ok(Some(one_row(4))));
    orders
        .expect_taken_seats()
        .times(1)
        .returning(|_, _| Ok(vec![SeatId(1)]));
    orders.expect_place().never();
    let e = office(orders)
        .with_plan_deadline(StdDuration::ZERO)
        .place(UserId(7), Some(TOKEN), best(3))
        .await
        .unwrap_err();
    assert!(matches!(e, OrderError::NoSeatsLeft { count: 3 }), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_time_left_seats_in_a_claim_in_flight_are_contended_even_on_a_fresh_snapshot() {
    // Party A is at the store with both seats of a row of two. A cancelled order makes
    // the planner read the store again, so party B plans on a snapshot of its own
    // (fresh) and finds only A's pending seats: with no time left to wait for A's claim,
    // B is told to retry, not that the seats are gone.
    let (at_store, a_is_at_store) = std::sync::mpsc::channel::<()>();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let released = Mutex::new(released);
    let reads = Arc::new(Mutex::new(0));
    let counted = reads.clone();
    let mut orders = MockOrderRepository::new();
    orders.expect_venue().returning(|_| Ok(Some(one_row(2))));
    orders.expect_taken_seats().returning(move |_, _| {
        *counted.lock().unwrap() += 1;
        Ok(vec![])
    });
    orders.expect_place().times(1).returning(move |req| {
        at_store.send(()).unwrap();
        released
            .lock()
            .unwrap()
            .recv_timeout(std::time::Duration::from_secs(30))
            .unwrap();
        Ok(order_of(&req))
    });
    orders
        .expect_cancel()
        .times(1)
        .returning(|_, _, _| Ok(held_order(false)));
    let office = office(orders);
    let mut a = {
        let office = office.clone();
        tokio::spawn(async move { office.place(UserId(7), Some(TOKEN), best(2)).await })
    };
    let at_store = tokio::task::spawn_blocking(move || a_is_at_store.recv());
    tokio::select! {
        reached = at_store => reached.unwrap().unwrap(),
        answered = &mut a => panic!("A answered without reaching the store: {answered:?}"),
    }
    office.cancel(UserId(1), OrderId(1)).await.unwrap();
    let b = office
        .clone()
        .with_plan_deadline(StdDuration::ZERO)
        .place(UserId(7), Some(TOKEN), best(2))
        .await;
    release.send(()).unwrap();
    assert!(
        matches!(b, Err(OrderError::Contended { count: 2 })),
        "{b:?}"
    );
    assert_eq!(*reads.lock().unwrap(), 2, "B read the store itself");
    assert!(a.await.unwrap().is_ok());
}

#[test]
fn the_box_office_keeps_trying_for_ten_seconds_unless_told_otherwise() {
    let office = office(MockOrderRepository::new());
    assert_eq!(office.plan_deadline, StdDuration::from_secs(10));
    assert_eq!(PLAN_DEADLINE, StdDuration::from_secs(10));
    let office = office.with_plan_deadline(StdDuration::from_millis(3));
    assert_eq!(office.plan_deadline, StdDuration::from_millis(3));
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

fn held_order(offer: bool) -> Order {
    Order {
        offer,
        ..order_of(&PlaceOrder {
            user_id: UserId(1),
            concert_id: ConcertId(1),
            schedule_id: ScheduleId(10),
            seats: vec![],
            standing: vec![],
            now: now(),
            expires_at: admitted_until(),
            admitted_until: admitted_until(),
            max_per_fan: 8,
            together: true,
            lone_seats_left: 0,
            presale_code: None,
        })
    }
}

#[tokio::test]
async fn a_waiting_list_offer_is_paid_without_a_queue_token_and_nothing_else_is() {
    for offer in [true, false] {
        let mut orders = MockOrderRepository::new();
        orders
            .expect_order_head()
            .returning(move |_| Ok(Some(held_order(offer).head())));
        orders.expect_pay().returning(|req| {
            Ok(model::OrderReceipt {
                order_id: req.order_id,
                concert_id: ConcertId(1),
                schedule_id: ScheduleId(10),
                amount: Money::ZERO,
                balance: Money::ZERO,
                paid_at: req.now,
                replayed: false,
            })
        });
        let got = office(orders).pay(UserId(1), None, OrderId(1), "k").await;
        if offer {
            assert!(got.is_ok(), "{got:?}");
        } else {
            assert!(
                matches!(got, Err(OrderError::Gate(GateError::Missing))),
                "{got:?}"
            );
        }
    }
}

#[test]
fn generated_codes_are_three_dashed_groups_of_four_unambiguous_letters() {
    for _ in 0..50 {
        let code = generate_code();
        let groups: Vec<&str> = code.split('-').collect();
        assert_eq!(groups.len(), 3, "{code}");
        for g in groups {
            assert_eq!(g.len(), 4, "{code}");
            assert!(g.bytes().all(|b| CODE_ALPHABET.contains(&b)), "{code}");
        }
        assert!(valid_code(&code), "{code}");
    }
}

#[test]
fn a_typed_code_is_4_to_64_letters_digits_and_dashes() {
    for (code, ok) in [
        ("ABC", false),
        ("ABCD", true),
        ("AB-D", true),
        ("ab12", true),
        ("AB_D", false),
        ("AB D", false),
        ("", false),
    ] {
        assert_eq!(valid_code(code), ok, "{code:?}");
    }
    assert!(valid_code(&"A".repeat(64)));
    assert!(!valid_code(&"A".repeat(65)));
}

fn new_codes(codes: &[&str]) -> model::NewPresaleCodes {
    model::NewPresaleCodes {
        schedule_id: ScheduleId(10),
        codes: codes.iter().map(|c| (*c).to_owned()).collect(),
        categories: vec!["VIP".into()],
        sections: vec![],
        starts_at: now(),
        ends_at: now() + Duration::days(1),
        max_tickets: 4,
        user_id: None,
        now: now() - Duration::days(9),
    }
}

/// The codes the store is asked to create, as the store echoes them back.
fn created(new: &model::NewPresaleCodes) -> Vec<model::PresaleCode> {
    new.codes
        .iter()
        .map(|c| model::PresaleCode {
            code: c.clone(),
            schedule_id: new.schedule_id,
            categories: new.categories.clone(),
            sections: new.sections.clone(),
            starts_at: new.starts_at,
            ends_at: new.ends_at,
            max_tickets: new.max_tickets,
            used: 0,
            user_id: new.user_id,
            cancelled: false,
            created_at: new.now,
        })
        .collect()
}

fn echoing_store() -> MockOrderRepository {
    let mut orders = MockOrderRepository::new();
    orders
        .expect_create_presale_codes()
        .returning(|new| Ok(created(&new)));
    orders
}

#[tokio::test]
async fn presale_codes_are_created_as_given_plus_as_many_generated() {
    let office = office(echoing_store());
    let made = office
        .create_presale_codes(new_codes(&["FANS-2026"]), 2)
        .await
        .unwrap();
    assert_eq!(made.len(), 3);
    assert_eq!(made[0].code, "FANS-2026");
    assert!(made[1..].iter().all(|c| c.code.len() == 14), "{made:?}");
    // The store gets the clock's time, not the caller's.
    assert!(made.iter().all(|c| c.created_at == now()));
    let one = office
        .create_presale_codes(new_codes(&["SOLO"]), 0)
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    let generated = office
        .create_presale_codes(new_codes(&[]), 1)
        .await
        .unwrap();
    assert_eq!(generated.len(), 1);
    let many: Vec<String> = (0..MAX_CODES_PER_BATCH)
        .map(|i| format!("C{i:05}"))
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let all = office
        .create_presale_codes(new_codes(&many), 0)
        .await
        .unwrap();
    assert_eq!(all.len(), MAX_CODES_PER_BATCH);
}

#[tokio::test]
async fn bad_presale_batches_never_reach_the_store() {
    let office = office(MockOrderRepository::new());
    let ok = || new_codes(&["AAAA", "BBBB"]);
    let too_many: Vec<String> = (0..=MAX_CODES_PER_BATCH)
        .map(|i| format!("C{i:05}"))
        .collect();
    let cases: Vec<(model::NewPresaleCodes, u32, &str)> = vec![
        (new_codes(&[]), 0, "1 to"),
        (
            new_codes(&["AAAA"]),
            u32::try_from(MAX_CODES_PER_BATCH).unwrap(),
            "1 to",
        ),
        (
            model::NewPresaleCodes {
                codes: too_many,
                ..ok()
            },
            0,
            "1 to",
        ),
        (new_codes(&["AB_D"]), 0, "letters, digits and dashes"),
        (new_codes(&["AAAA", "BBBB", "AAAA"]), 0, "given twice"),
        (
            model::NewPresaleCodes {
                categories: vec![],
                ..ok()
            },
            0,
            "at least one category or section",
        ),
        (
            model::NewPresaleCodes {
                ends_at: now(),
                ..ok()
            },
            0,
            "ends_at",
        ),
        (
            model::NewPresaleCodes {
                max_tickets: 0,
                ..ok()
            },
            0,
            "max_tickets",
        ),
        (
            model::NewPresaleCodes {
                max_tickets: 1_001,
                ..ok()
            },
            0,
            "max_tickets",
        ),
    ];
    for (new, generate, says) in cases {
        match office.create_presale_codes(new, generate).await {
            Err(OrderError::Invalid(why)) => assert!(why.contains(says), "{why} lacks {says}"),
            other => panic!("expected Invalid({says}), got {other:?}"),
        }
    }
}

#[tokio::test]
async fn presale_bounds_are_inclusive() {
    let office = office(echoing_store());
    for new in [
        model::NewPresaleCodes {
            categories: vec![],
            sections: vec!["Balcony".into()],
            ..new_codes(&["AAAA"])
        },
        model::NewPresaleCodes {
            max_tickets: 1,
            ..new_codes(&["AAAA"])
        },
        model::NewPresaleCodes {
            max_tickets: 1_000,
            ends_at: now() + Duration::seconds(1),
            ..new_codes(&["AAAA"])
        },
    ] {
        assert!(office.create_presale_codes(new, 0).await.is_ok());
    }
}

#[tokio::test]
async fn presale_store_refusals_map_to_order_errors() {
    use super::port::PresaleError;
    for (err, check) in [
        (
            PresaleError::ScheduleNotFound,
            (|e| matches!(e, OrderError::ScheduleNotFound)) as fn(&OrderError) -> bool,
        ),
        (
            PresaleError::Duplicate("AAAA".into()),
            |e| matches!(e, OrderError::Invalid(why) if why.contains("exists already")),
        ),
        (PresaleError::Unavailable(StoreError::new("down")), |e| {
            matches!(e, OrderError::Store(_))
        }),
    ] {
        let slot = Mutex::new(Some(err));
        let mut orders = MockOrderRepository::new();
        orders
            .expect_create_presale_codes()
            .returning(move |_| Err(slot.lock().unwrap().take().unwrap()));
        let e = office(orders)
            .create_presale_codes(new_codes(&["AAAA"]), 0)
            .await
            .unwrap_err();
        assert!(check(&e), "{e:?}");
    }
}

#[tokio::test]
async fn presale_codes_are_listed_and_cancelled_through_the_store() {
    let mut orders = MockOrderRepository::new();
    orders
        .expect_presale_codes()
        .returning(|s| Ok((s == ScheduleId(10)).then(|| created(&new_codes(&["AAAA", "BBBB"])))));
    orders
        .expect_cancel_presale_code()
        .returning(|_, code| Ok(code == "AAAA"));
    let office = office(orders);
    let listed = office.presale_codes(ScheduleId(10)).await.unwrap();
    assert_eq!(listed, created(&new_codes(&["AAAA", "BBBB"])));
    assert!(matches!(
        office.presale_codes(ScheduleId(11)).await,
        Err(OrderError::ScheduleNotFound)
    ));
    assert!(
        office
            .cancel_presale_code(ScheduleId(10), "AAAA")
            .await
            .is_ok()
    );
    assert!(matches!(
        office.cancel_presale_code(ScheduleId(10), "ZZZZ").await,
        Err(OrderError::NotFound)
    ));
}

#[tokio::test]
async fn reads_and_the_sweep_answer_what_the_store_says() {
    let mut orders = MockOrderRepository::new();
    orders
        .expect_orders_of()
        .withf(|_, limit| *limit == MAX_ORDERS_LISTED)
        .returning(|_, _| Ok(vec![held_order(false), held_order(true)]));
    orders.expect_availability().returning(|s, _| {
        Ok((s == ScheduleId(10)).then(|| Availability {
            categories: vec![model::CategoryAvailability {
                category: "Std".into(),
                price: Money::ZERO,
                total: 10,
                available: 3,
            }],
            areas: vec![],
        }))
    });
    orders
        .expect_release_expired()
        .returning(|_, limit| Ok(limit / 2));
    let office = office(orders);
    assert_eq!(
        office.orders(UserId(1)).await.unwrap(),
        vec![held_order(false), held_order(true)]
    );
    assert_eq!(
        office
            .availability(ScheduleId(10))
            .await
            .unwrap()
            .categories[0]
            .available,
        3
    );
    assert!(matches!(
        office.availability(ScheduleId(11)).await,
        Err(OrderError::ScheduleNotFound)
    ));
    assert_eq!(office.release_expired(10).await.unwrap(), 5);
}

#[tokio::test]
async fn the_policy_read_is_the_one_configured_and_zero_extension_refuses() {
    let policy = OrderPolicy {
        hold_ttl: Duration::minutes(3),
        max_tickets_per_order: 2,
        max_tickets_per_fan: 6,
        hold_extension: Duration::zero(),
    };
    let fixed = office_with(MockOrderRepository::new(), policy);
    assert_eq!(fixed.policy(), policy);
    assert!(matches!(
        fixed.extend(UserId(1), OrderId(1)).await,
        Err(OrderError::ExtensionNotAllowed)
    ));
    let mut orders = MockOrderRepository::new();
    orders
        .expect_extend()
        .withf(|_, _, by, at| *by == Duration::minutes(5) && *at == now())
        .returning(|_, _, _, _| Ok(held_order(false)));
    let extended = office(orders).extend(UserId(1), OrderId(1)).await.unwrap();
    assert_eq!(extended, held_order(false));
}

mod planning {
    //! The seat planner's own rules (snapshots, filters, the bounded set of planners).

    use std::time::{Duration as StdDuration, Instant};

    use super::super::planner::{Filter, Planners, SeatPlan};
    use super::*;
    use crate::seating::Ask;

    const HOUR: StdDuration = StdDuration::from_secs(3_600);

    /// Two sections of one row of four; seat 13 (section "Side") is hidden.
    fn two_sections() -> Vec<VenueSeat> {
        (0..8)
            .map(|i: u32| VenueSeat {
                id: SeatId(i64::from(10 + i)),
                section: if i < 4 { "Side" } else { "Centre" }.into(),
                section_rank: i / 4,
                row_no: 0,
                x: i % 4,
                category: "Std".into(),
                accessible: i == 5,
                hidden: i == 3,
            })
            .collect()
    }

    fn ask(count: usize) -> Ask {
        Ask {
            count,
            allow_split: false,
            strict: false,
        }
    }

    #[test]
    fn a_snapshot_is_trusted_for_its_ttl_and_read_by_one_request_at_a_time() {
        let mut p = SeatPlan::new(&two_sections());
        assert!(p.stale(HOUR), "never read");
        assert!(p.begin_refresh(HOUR));
        assert!(!p.begin_refresh(HOUR), "someone is reading it already");
        p.refresh_failed();
        assert!(p.begin_refresh(HOUR), "a failed read lets the next one try");
        let read = Instant::now();
        p.refresh(&[], read);
        assert!(!p.stale(HOUR));
        assert!(p.stale(StdDuration::ZERO));
        assert!(!p.begin_refresh(HOUR), "fresh: nobody reads it again");
        assert!(p.fresh_since(read));
        assert!(!p.fresh_since(read + HOUR));
        p.expire();
        assert!(p.stale(HOUR));
        assert!(!p.fresh_since(read));
    }

    #[test]
    fn sections_filter_and_a_code_opening_a_section_reaches_its_hidden_seat() {
        let mut p = SeatPlan::new(&two_sections());
        let centre = Filter {
            section: Some("Centre".into()),
            ..Filter::default()
        };
        let a = p.plan(ask(4), &centre).unwrap();
        assert_eq!(a.seats, (14..18).map(SeatId).collect::<Vec<_>>());
        p.settle(&a.seats, false);
        let side = Filter {
            section: Some("Side".into()),
            ..Filter::default()
        };
        // Seat 13 is hidden: the public gets at most three seats of Side.
        assert!(p.plan(ask(4), &side).is_none());
        let b = p.plan(ask(3), &side).unwrap();
        assert!(!b.seats.contains(&SeatId(13)), "{b:?}");
        p.settle(&b.seats, false);
        let opened = Filter {
            opened_sections: vec!["Side".into()],
            ..side
        };
        let c = p.plan(ask(4), &opened).unwrap();
        assert_eq!(c.seats, (10..14).map(SeatId).collect::<Vec<_>>());
        p.settle(&c.seats, false);
        let accessible = Filter {
            accessible: true,
            ..Filter::default()
        };
        assert_eq!(p.plan(ask(1), &accessible).unwrap().seats, vec![SeatId(15)]);
    }

    #[test]
    fn the_first_planner_kept_wins_and_a_forgotten_one_is_gone() {
        let planners = Planners::default();
        let first = planners.insert(ScheduleId(1), SeatPlan::new(&two_sections()));
        let second = planners.insert(ScheduleId(1), SeatPlan::new(&two_sections()));
        assert!(Arc::ptr_eq(&first, &second));
        assert!(Arc::ptr_eq(&planners.get(ScheduleId(1)).unwrap(), &first));
        planners.forget(ScheduleId(1));
        assert!(planners.get(ScheduleId(1)).is_none());
    }
}

fn picked(code: Option<&str>) -> OrderAsk {
    OrderAsk {
        seats: vec![SeatId(1)],
        best_available: None,
        presale_code: code.map(str::to_owned),
        ..best(1)
    }
}

#[tokio::test]
async fn a_presale_code_counts_only_when_the_fan_may_use_it_now() {
    let mut orders = MockOrderRepository::new();
    orders.expect_presale_code().returning(|_, code| {
        let mut c = created(&new_codes(&[code]))[0].clone();
        c.starts_at = now() - Duration::hours(1);
        c.cancelled = code == "DEAD";
        Ok(Some(c))
    });
    orders
        .expect_place()
        .withf(|req| req.presale_code.as_deref() == Some("GOOD"))
        .times(1)
        .returning(|req| Ok(order_of(&req)));
    let office = office(orders);
    assert!(
        office
            .place(UserId(7), Some(TOKEN), picked(Some("GOOD")))
            .await
            .is_ok()
    );
    assert!(matches!(
        office
            .place(UserId(7), Some(TOKEN), picked(Some("DEAD")))
            .await,
        Err(OrderError::CodeInvalid)
    ));
}

#[tokio::test]
async fn without_an_admission_end_a_hold_lasts_its_ttl() {
    let mut orders = MockOrderRepository::new();
    orders.expect_place().returning(|req| {
        assert_eq!(req.expires_at, now() + Duration::minutes(5));
        assert_eq!(req.admitted_until, now() + Duration::minutes(5));
        Ok(order_of(&req))
    });
    let queue = admitting(TicketStatus::Active, None);
    let office = build(orders, queue, OrderPolicy::default());
    let o = office
        .place(UserId(7), Some(TOKEN), picked(None))
        .await
        .unwrap();
    assert_eq!(o.expires_at, now() + Duration::minutes(5));
}

/// A held order of the fan the test token admits (user 7).
fn fans_order() -> Order {
    Order {
        user_id: UserId(7),
        ..held_order(false)
    }
}

fn receipt_of(req: &PayOrder) -> model::OrderReceipt {
    model::OrderReceipt {
        order_id: req.order_id,
        concert_id: ConcertId(1),
        schedule_id: ScheduleId(10),
        amount: Money::ZERO,
        balance: Money::ZERO,
        paid_at: req.now,
        replayed: false,
    }
}

#[tokio::test]
async fn paying_frees_the_slot_only_when_no_order_is_left() {
    for (live, freed) in [(0, true), (1, false), (2, false)] {
        let mut orders = MockOrderRepository::new();
        orders
            .expect_order_head()
            .returning(|_| Ok(Some(fans_order().head())));
        orders.expect_pay().returning(|req| Ok(receipt_of(&req)));
        orders
            .expect_live_orders_for_concert()
            .returning(move |_, _, _| Ok(live));
        let mut queue = admitting(TicketStatus::Active, Some(admitted_until()));
        queue
            .expect_leave()
            .times(usize::from(freed))
            .returning(|_, _| Ok(()));
        let office = build(orders, queue, OrderPolicy::default());
        let paid = office.pay(UserId(7), Some(TOKEN), OrderId(1), "k").await;
        assert!(paid.is_ok(), "{live} live: {paid:?}");
    }
}

#[tokio::test]
async fn an_order_held_here_is_paid_without_reading_its_head_and_only_by_its_fan() {
    let mut orders = MockOrderRepository::new();
    orders.expect_place().times(2).returning(|req| {
        Ok(Order {
            id: OrderId(req.seats[0].0),
            ..order_of(&req)
        })
    });
    // Read once: after the payment the head is forgotten, and a replay reads it.
    orders.expect_order_head().times(1).returning(|_| {
        Ok(Some(model::OrderHead {
            status: OrderStatus::Paid,
            ..fans_order().head()
        }))
    });
    orders
        .expect_pay()
        .times(2)
        .returning(|req| Ok(receipt_of(&req)));
    orders
        .expect_live_orders_for_concert()
        .returning(|_, _, _| Ok(1));
    let office = office(orders);
    let mut ask = best(1);
    ask.best_available = None;
    ask.seats = vec![SeatId(3)];
    let placed = office.place(UserId(7), Some(TOKEN), ask.clone()).await;
    let id = placed.expect("held").id;
    // A second order held after it: both heads are remembered, not only the last.
    ask.seats = vec![SeatId(4)];
    let second = office.place(UserId(7), Some(TOKEN), ask).await;
    assert_eq!(second.expect("held").id, OrderId(4));
    // Another fan is told the order does not exist, from the remembered head too.
    let other = office.pay(UserId(8), Some(TOKEN), id, "k").await;
    assert!(matches!(other, Err(OrderError::NotFound)), "{other:?}");
    let paid = office.pay(UserId(7), Some(TOKEN), id, "k").await;
    assert!(paid.is_ok(), "{paid:?}");
    let again = office.pay(UserId(7), Some(TOKEN), id, "k").await;
    assert!(again.is_ok(), "{again:?}");
}

#[tokio::test]
async fn another_fans_order_cannot_be_paid() {
    let mut orders = MockOrderRepository::new();
    orders
        .expect_order_head()
        .returning(|_| Ok(Some(fans_order().head())));
    orders.expect_pay().never();
    let got = office(orders)
        .pay(UserId(8), Some(TOKEN), OrderId(1), "k")
        .await;
    assert!(matches!(got, Err(OrderError::NotFound)), "{got:?}");
}

#[tokio::test]
async fn an_expired_admission_pays_nothing_new_and_replays_what_a_retry_paid() {
    // The gate says the admission ran out; the second read of the order decides: paid
    // by a concurrent retry (a replay) or still held (refused, never paid).
    for paid_meanwhile in [true, false] {
        let reads = Mutex::new(0);
        let mut orders = MockOrderRepository::new();
        orders.expect_order_head().returning(move |_| {
            let mut n = reads.lock().unwrap();
            *n += 1;
            let mut o = fans_order();
            if paid_meanwhile && *n > 1 {
                o.status = OrderStatus::Paid;
            }
            Ok(Some(o.head()))
        });
        orders
            .expect_pay()
            .times(usize::from(paid_meanwhile))
            .returning(|req| {
                Ok(model::OrderReceipt {
                    replayed: true,
                    ..receipt_of(&req)
                })
            });
        let queue = admitting(TicketStatus::Expired, None);
        let office = build(orders, queue, OrderPolicy::default());
        let got = office.pay(UserId(7), Some(TOKEN), OrderId(1), "k").await;
        if paid_meanwhile {
            assert!(got.is_ok_and(|r| r.replayed));
        } else {
            assert!(
                matches!(got, Err(OrderError::Gate(GateError::Expired))),
                "{got:?}"
            );
        }
    }
}

#[tokio::test]
async fn an_order_of_exactly_the_most_tickets_is_taken() {
    let mut orders = MockOrderRepository::new();
    orders.expect_place().returning(|req| Ok(order_of(&req)));
    let ask = OrderAsk {
        best_available: None,
        standing: vec![("Pit".into(), 8)],
        ..best(1)
    };
    assert!(
        office(orders)
            .place(UserId(7), Some(TOKEN), ask)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_request_finding_no_seat_in_an_older_snapshot_reads_the_store_again() {
    // The first request reads a full house and is refused; seats are freed elsewhere;
    // the next request, which began after that snapshot, must not be refused on it.
    let reads = Arc::new(Mutex::new(0));
    let counted = reads.clone();
    let mut orders = MockOrderRepository::new();
    orders.expect_venue().returning(|_| Ok(Some(one_row(4))));
    orders.expect_taken_seats().returning(move |_, _| {
        let mut n = counted.lock().unwrap();
        *n += 1;
        Ok(if *n == 1 {
            (0..4).map(SeatId).collect()
        } else {
            vec![]
        })
    });
    orders.expect_place().returning(|req| Ok(order_of(&req)));
    let office = office(orders);
    let first = office.place(UserId(7), Some(TOKEN), best(2)).await;
    assert!(
        matches!(first, Err(OrderError::NoSeatsLeft { count: 2 })),
        "{first:?}"
    );
    let second = office.place(UserId(7), Some(TOKEN), best(2)).await;
    assert!(second.is_ok(), "{second:?}");
    assert_eq!(*reads.lock().unwrap(), 2);
}

#[tokio::test]
async fn another_fans_order_reads_as_not_found() {
    let mut orders = MockOrderRepository::new();
    orders.expect_order().returning(|_| Ok(Some(fans_order())));
    let office = office(orders);
    assert_eq!(
        office.order(UserId(7), OrderId(1)).await.unwrap(),
        fans_order()
    );
    assert!(matches!(
        office.order(UserId(8), OrderId(1)).await,
        Err(OrderError::NotFound)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_party_waits_for_a_claim_in_flight_that_may_yet_free_its_seats() {
    // Party A plans both seats of a row of two and is still at the store when party B
    // asks: B must wait for A's claim, which fails, and then get the seats.
    let (at_store, a_is_at_store) = std::sync::mpsc::channel::<()>();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let released = Mutex::new(released);
    let claims = Mutex::new(0);
    let mut orders = MockOrderRepository::new();
    orders.expect_venue().returning(|_| Ok(Some(one_row(2))));
    orders.expect_taken_seats().returning(|_, _| Ok(vec![]));
    orders.expect_place().returning(move |req| {
        let mut n = claims.lock().unwrap();
        *n += 1;
        if *n > 1 {
            return Ok(order_of(&req));
        }
        drop(n);
        at_store.send(()).unwrap();
        // A's store call holds its worker thread until the test lets it fail.
        released
            .lock()
            .unwrap()
            .recv_timeout(std::time::Duration::from_secs(30))
            .unwrap();
        Err(PlaceError::FanLimit {
            limit: 8,
            already: 8,
        })
    });
    let office = office(orders);
    let mut a = {
        let office = office.clone();
        tokio::spawn(async move { office.place(UserId(7), Some(TOKEN), best(2)).await })
    };
    // A must reach the store; if it answers first, the test fails at once (no hang).
    let at_store = tokio::task::spawn_blocking(move || a_is_at_store.recv());
    tokio::select! {
        reached = at_store => reached.unwrap().unwrap(),
        answered = &mut a => panic!("A answered without reaching the store: {answered:?}"),
    }
    let b = {
        let office = office.clone();
        tokio::spawn(async move { office.place(UserId(7), Some(TOKEN), best(2)).await })
    };
    // Give B time to find both seats pending (it must keep waiting, not answer).
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    release.send(()).unwrap();
    let a = a.await.unwrap();
    assert!(matches!(a, Err(OrderError::FanLimit { .. })), "{a:?}");
    let b = b.await.unwrap();
    assert!(b.is_ok(), "{b:?}");
}

#[tokio::test]
async fn each_schedules_concert_is_read_once_for_all_its_orders() {
    let mut orders = MockOrderRepository::new();
    orders.expect_place().returning(|req| {
        assert_eq!(req.concert_id, ConcertId(1));
        Ok(order_of(&req))
    });
    let mut catalog = MockCatalogRepository::new();
    for schedule in [ScheduleId(10), ScheduleId(11)] {
        catalog
            .expect_get_schedule()
            .withf(move |id| *id == schedule)
            .times(1)
            .returning(|id| {
                Ok(Some(Schedule {
                    id,
                    concert_id: ConcertId(1),
                    starts_at: now(),
                }))
            });
    }
    let mut clock = MockClock::new();
    clock.expect_now().returning(now);
    let clock: Arc<dyn Clock> = Arc::new(clock);
    let queue = admitting(TicketStatus::Active, Some(admitted_until()));
    // The room reads no schedule here; its own catalog would say so.
    let room = WaitingRoom::new(
        Arc::new(queue),
        Arc::new(MockCatalogRepository::new()),
        clock.clone(),
    );
    let office = BoxOffice::new(
        Arc::new(catalog),
        Arc::new(orders),
        room,
        clock,
        OrderPolicy::default(),
    );
    // Two schedules in turn: the second must not make the first one's concert forgotten.
    for schedule in [10, 11, 10, 11, 10] {
        let ask = OrderAsk {
            schedule_id: ScheduleId(schedule),
            seats: vec![SeatId(1)],
            best_available: None,
            standing: vec![],
            presale_code: None,
        };
        office.place(UserId(7), Some(TOKEN), ask).await.unwrap();
    }
}
