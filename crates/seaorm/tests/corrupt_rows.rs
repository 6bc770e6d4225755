//! A row holding a value the schema does not allow (written behind the adapter's back
//! with raw SQL) reads as a `StoreError`, never as another status or 1970.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use frontrow_domain::error::{CancelError, PaymentError};
use frontrow_domain::model::{
    HoldRequest, Money, NewConcert, NewSchedule, PaymentRequest, Reservation, UserId,
};
use frontrow_seaorm::{DbOptions, SeaOrmStore, StorePorts};
use sea_orm::ConnectionTrait;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 12, 0, 0).unwrap()
}

/// Removes the SQLite file (and its WAL files) when the test ends.
struct TempDb(PathBuf);

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A fresh SQLite file with one concert, one funded fan and one held seat.
async fn store_with_a_hold() -> (SeaOrmStore, StorePorts, Reservation, TempDb) {
    let path = std::env::temp_dir().join(format!(
        "frontrow-corrupt-{}-{}.db",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    let opts = DbOptions {
        max_connections: 4,
        connect_timeout: Duration::from_secs(5),
        acquire_timeout: Duration::from_secs(5),
        seat_claim: frontrow_seaorm::SeatClaim::default(),
    };
    let store = SeaOrmStore::connect(&format!("sqlite:{}", path.display()), &opts)
        .await
        .unwrap();
    store.migrate_up().await.unwrap();
    let p = store.ports();
    let detail = p
        .catalog
        .create_concert(NewConcert {
            title: "t".into(),
            venue: "v".into(),
            schedules: vec![NewSchedule {
                starts_at: t0(),
                rows: 1,
                seats_per_row: 2,
                price: Money::from_u32(100),
                layout: None,
            }],
        })
        .await
        .unwrap();
    let schedule = detail.schedules[0].id;
    let seat = p.catalog.list_seats(schedule, t0()).await.unwrap().unwrap()[0].id;
    let user = p.users.create("fan", t0()).await.unwrap().id;
    p.wallets
        .charge(user, Money::from_u32(1_000), t0())
        .await
        .unwrap();
    let r = p
        .seats
        .hold(HoldRequest {
            user_id: user,
            schedule_id: schedule,
            seat_id: seat,
            now: t0(),
            expires_at: t0() + chrono::Duration::minutes(5),
            max_held_per_user: 4,
        })
        .await
        .unwrap();
    (store, p, r, TempDb(path))
}

async fn sql(store: &SeaOrmStore, stmt: &str) {
    store.connection().execute_unprepared(stmt).await.unwrap();
}

#[tokio::test]
async fn an_unknown_reservation_status_is_a_store_error_not_another_status() {
    let (store, p, r, _db) = store_with_a_hold().await;
    sql(&store, "UPDATE reservations SET status = 'BOGUS'").await;
    assert!(p.seats.reservation(r.id).await.is_err());
    assert!(matches!(
        p.seats.cancel(r.user_id, r.id, t0()).await,
        Err(CancelError::Unavailable(_))
    ));
    let paid = p
        .payments
        .pay(PaymentRequest {
            user_id: r.user_id,
            reservation_id: r.id,
            idempotency_key: "k".into(),
            now: t0(),
        })
        .await;
    assert!(
        matches!(paid, Err(PaymentError::Unavailable(_))),
        "{paid:?}"
    );
}

#[tokio::test]
async fn an_unknown_seat_status_is_a_store_error_not_available() {
    let (store, p, r, _db) = store_with_a_hold().await;
    sql(&store, "UPDATE seats SET status = 'MAYBE'").await;
    assert!(p.catalog.list_seats(r.schedule_id, t0()).await.is_err());
}

#[tokio::test]
async fn an_instant_out_of_range_is_a_store_error_not_1970() {
    let (store, p, r, _db) = store_with_a_hold().await;
    sql(
        &store,
        "UPDATE reservations SET created_at = 9223372036854775807",
    )
    .await;
    assert!(p.seats.reservation(r.id).await.is_err());
}

#[tokio::test]
async fn a_negative_balance_is_a_store_error_not_money() {
    let (store, p, _, _db) = store_with_a_hold().await;
    // The database refuses a negative balance itself...
    assert!(
        store
            .connection()
            .execute_unprepared("UPDATE wallets SET balance = -5")
            .await
            .is_err(),
        "the balance guard let a negative balance in"
    );
    // ...and should one get past it (the guard dropped by hand), reading it is an error,
    // never money.
    sql(&store, "DROP TRIGGER trg_wallets_balance_update").await;
    sql(&store, "UPDATE wallets SET balance = -5").await;
    assert!(p.wallets.balance(UserId(1)).await.is_err());
}
