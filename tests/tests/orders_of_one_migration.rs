//! The step that makes every live one-seat reservation of the time before orders an order
//! of one, on each database: a schema one step back, reservations held and paid the old
//! way, the step run, and then each is an order — the held one payable as an order, the
//! paid one with its payment (a retry with its key replays), its ticket, and refunded once
//! when its show is cancelled; an ended reservation stays out of it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, Utc};
use frontrow_domain::boxoffice::model::{OrderStatus, PayOrder};
use frontrow_domain::model::{
    HoldRequest, Money, NewConcert, NewSchedule, OrderId, PaymentRequest, ReservationId,
    ReservationStatus, ScheduleId, SeatId, UserId,
};
use frontrow_seaorm::StorePorts;
use frontrow_tests::db::{Backend, fresh_store, migrate_down_to_before};

/// The migration under test.
const ORDERS_OF_ONE: &str = "m20261207_000001_orders_of_one";

const PRICE: i64 = 5_000;

fn money(minor_units: i64) -> Money {
    Money::new(minor_units).unwrap()
}

fn hold(user: UserId, schedule: ScheduleId, seat: SeatId, now: DateTime<Utc>) -> HoldRequest {
    HoldRequest {
        user_id: user,
        schedule_id: schedule,
        seat_id: seat,
        now,
        expires_at: now + Duration::minutes(5),
        max_held_per_user: 4,
    }
}

async fn order_of(p: &StorePorts, r: ReservationId) -> OrderId {
    p.seats
        .reservation(r)
        .await
        .unwrap()
        .unwrap()
        .order_id
        .unwrap_or_else(|| panic!("reservation {r} is in no order"))
}

async fn migration(backend: Backend) {
    let store = fresh_store(backend).await;
    migrate_down_to_before(&store, ORDERS_OF_ONE).await;
    let p = store.ports();
    let now = Utc::now();
    let concert = p
        .catalog
        .create_concert(NewConcert {
            title: "Before orders".into(),
            venue: "Hall".into(),
            schedules: vec![NewSchedule {
                starts_at: now + Duration::days(30),
                rows: 1,
                seats_per_row: 4,
                price: money(PRICE),
                layout: None,
            }],
        })
        .await
        .unwrap();
    let schedule = concert.schedules[0].id;
    let seats: Vec<SeatId> = p
        .catalog
        .list_seats(schedule, now)
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    let fan = p.users.create("fan", now).await.unwrap().id;
    p.wallets.charge(fan, money(3 * PRICE), now).await.unwrap();
    // The old way: a paid one, a held one, a cancelled one.
    let paid = p
        .seats
        .hold(hold(fan, schedule, seats[0], now))
        .await
        .unwrap()
        .id;
    let first = p
        .payments
        .pay(PaymentRequest {
            user_id: fan,
            reservation_id: paid,
            idempotency_key: "old-key".into(),
            now,
        })
        .await
        .unwrap();
    let held = p
        .seats
        .hold(hold(fan, schedule, seats[1], now))
        .await
        .unwrap()
        .id;
    let gone = p
        .seats
        .hold(hold(fan, schedule, seats[2], now))
        .await
        .unwrap()
        .id;
    p.seats.cancel(fan, gone, now).await.unwrap();

    store.migrate_up().await.unwrap();

    // The paid one: a paid order of one, its payment replayed under the old key.
    let o = p
        .orders
        .order(order_of(&p, paid).await)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(o.status, OrderStatus::Paid);
    assert_eq!(o.seats.len(), 1);
    assert_eq!(o.seats[0].seat_id, seats[0]);
    assert_eq!(o.total, money(PRICE));
    let replay = p
        .orders
        .pay(PayOrder {
            user_id: fan,
            order_id: o.id,
            idempotency_key: "old-key".into(),
            now,
        })
        .await
        .unwrap();
    assert!(replay.replayed);
    assert_eq!(replay.balance, first.balance);
    let tickets = p.tickets.tickets_of(fan, 10).await.unwrap();
    assert_eq!(tickets.len(), 1, "the paid reservation's ticket");
    // The held one: an order of one, held until the same instant, payable once.
    let r = p.seats.reservation(held).await.unwrap().unwrap();
    let h = p.orders.order(r.order_id.unwrap()).await.unwrap().unwrap();
    assert_eq!(h.status, OrderStatus::Held);
    assert_eq!(h.expires_at, r.expires_at);
    let receipt = p
        .orders
        .pay(PayOrder {
            user_id: fan,
            order_id: h.id,
            idempotency_key: "new-key".into(),
            now,
        })
        .await
        .unwrap();
    assert_eq!(receipt.amount, money(PRICE));
    assert_eq!(receipt.balance, money(PRICE));
    // The cancelled one stays a reservation of no order.
    let c = p.seats.reservation(gone).await.unwrap().unwrap();
    assert_eq!((c.status, c.order_id), (ReservationStatus::Cancelled, None));
    // Running the step again changes nothing.
    migrate_down_to_before(&store, ORDERS_OF_ONE).await;
    store.migrate_up().await.unwrap();
    assert_eq!(p.orders.orders_of(fan, 10).await.unwrap().len(), 2);
    // The show cancelled: both refunded once, the wallet whole again.
    p.returns
        .cancel_schedule(schedule, now)
        .await
        .unwrap()
        .unwrap();
    p.returns
        .cancel_schedule(schedule, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.wallets.balance(fan).await.unwrap(), money(3 * PRICE));
    store.close().await.unwrap();
}

#[tokio::test]
async fn live_reservations_become_orders_of_one_on_sqlite() {
    migration(Backend::Sqlite).await;
}

#[tokio::test]
async fn live_reservations_become_orders_of_one_on_mariadb() {
    migration(Backend::MySql).await;
}

#[tokio::test]
async fn live_reservations_become_orders_of_one_on_postgres() {
    migration(Backend::Postgres).await;
}
