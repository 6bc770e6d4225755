//! The repository contract (`UserRepository`, `CatalogRepository`, `SeatRepository`,
//! `WalletRepository`, `PaymentRepository`) checked on SQLite, MariaDB and PostgreSQL:
//! every error variant of every port, and the contention invariants under real
//! concurrency, with wall times printed as `CONTENTION <backend> <case> …`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};
use frontrow_domain::error::ExtendError;
use frontrow_domain::error::{CancelError, HoldError, PaymentError, WalletError};
use frontrow_domain::model::ExtendRequest;
use frontrow_domain::model::{
    ConcertDetail, ConcertId, HoldRequest, Money, NewConcert, NewSchedule, PaymentRequest,
    Reservation, ReservationId, ReservationStatus, ScheduleId, SeatId, SeatStatus, SoldPlace,
    UserId,
};
use frontrow_seaorm::entity::{ledger_entry, payment, reservation, wallet};
use frontrow_seaorm::{SeaOrmStore, StorePorts};
use frontrow_tests::db::{Backend, fresh_store};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

const PRICE: i64 = 5_000;
const LIMIT: u32 = 4;

fn money(minor_units: i64) -> Money {
    Money::new(minor_units).unwrap()
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 12, 0, 0).unwrap()
}

struct Ctx {
    backend: &'static str,
    store: SeaOrmStore,
    p: StorePorts,
}

async fn concert(c: &Ctx, rows: u32, per_row: u32, schedules: usize) -> ConcertDetail {
    let new = NewConcert {
        title: "Night Show".into(),
        venue: "Arena".into(),
        schedules: (0..schedules)
            .map(|i| NewSchedule {
                starts_at: t0() + Duration::days(30 + i as i64),
                rows,
                seats_per_row: per_row,
                price: money(PRICE),
                layout: None,
            })
            .collect(),
    };
    c.p.catalog.create_concert(new).await.unwrap()
}

async fn seat_ids(c: &Ctx, schedule: ScheduleId) -> Vec<SeatId> {
    let seats =
        c.p.catalog
            .list_seats(schedule, t0())
            .await
            .unwrap()
            .unwrap();
    seats.into_iter().map(|s| s.id).collect()
}

async fn user(c: &Ctx, funds: i64) -> UserId {
    let u = c.p.users.create("fan", t0()).await.unwrap();
    if funds > 0 {
        c.p.wallets.charge(u.id, money(funds), t0()).await.unwrap();
    }
    u.id
}

async fn users(c: &Ctx, n: usize, funds: i64) -> Vec<UserId> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let p = c.p.clone();
            tokio::spawn(async move {
                let u = p.users.create("fan", t0()).await.unwrap();
                if funds > 0 {
                    p.wallets.charge(u.id, money(funds), t0()).await.unwrap();
                }
                u.id
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn hold_req(user: UserId, schedule: ScheduleId, seat: SeatId, now: DateTime<Utc>) -> HoldRequest {
    HoldRequest {
        user_id: user,
        schedule_id: schedule,
        seat_id: seat,
        now,
        expires_at: now + Duration::minutes(5),
        max_held_per_user: LIMIT,
    }
}

fn pay_req(user: UserId, r: ReservationId, key: &str, now: DateTime<Utc>) -> PaymentRequest {
    PaymentRequest {
        user_id: user,
        reservation_id: r,
        idempotency_key: key.into(),
        now,
    }
}

async fn hold(c: &Ctx, u: UserId, s: ScheduleId, seat: SeatId, now: DateTime<Utc>) -> Reservation {
    c.p.seats.hold(hold_req(u, s, seat, now)).await.unwrap()
}

async fn status_of(c: &Ctx, r: ReservationId) -> ReservationStatus {
    c.p.seats.reservation(r).await.unwrap().unwrap().status
}

async fn seat_status(c: &Ctx, s: ScheduleId, seat: SeatId, now: DateTime<Utc>) -> SeatStatus {
    let seats = c.p.catalog.list_seats(s, now).await.unwrap().unwrap();
    seats.into_iter().find(|x| x.id == seat).unwrap().status
}

/// Every wallet's balance equals the sum of its ledger entries.
async fn assert_ledger_matches_balances(c: &Ctx) {
    let db = c.store.connection();
    for w in wallet::Entity::find().all(db).await.unwrap() {
        let entries = ledger_entry::Entity::find()
            .filter(ledger_entry::Column::UserId.eq(w.user_id))
            .all(db)
            .await
            .unwrap();
        let sum: i64 = entries.iter().map(|e| e.delta).sum();
        assert_eq!(
            sum, w.balance,
            "ledger of user {} disagrees with its wallet",
            w.user_id
        );
    }
}

// ---------------------------------------------------------------------------------------

async fn assert_store_basics(c: &Ctx) {
    c.store.ping().await.unwrap();
    assert_eq!(c.store.backend(), c.backend);
    let stats = c.store.pool_stats();
    assert!(stats.max >= 16 && stats.size <= stats.max, "{stats:?}");
    let status = c.store.migrate_status().await.unwrap();
    assert_eq!(status.len(), 18);
    assert!(
        status
            .iter()
            .any(|(name, _)| name.contains("add_users_external_subject")),
        "{status:?}"
    );
    assert!(status.iter().all(|(_, applied)| *applied));
    c.store.migrate_down(None).await.unwrap();
    assert!(
        c.store
            .migrate_status()
            .await
            .unwrap()
            .iter()
            .all(|(_, a)| !*a)
    );
    c.store.migrate_up().await.unwrap();
    assert!(
        c.store
            .migrate_status()
            .await
            .unwrap()
            .iter()
            .all(|(_, a)| *a)
    );
}

/// A user known by an identity provider's subject: created once with an empty wallet,
/// found again on every later sight, one user even when many first sights race.
async fn assert_users_by_external_subject(c: &Ctx) {
    let u =
        c.p.users
            .by_external_subject("https://idp.example|alice", "Alice", t0())
            .await
            .unwrap();
    assert_eq!(u.name, "Alice");
    assert_eq!(c.p.users.get(u.id).await.unwrap(), Some(u.clone()));
    assert_eq!(c.p.wallets.balance(u.id).await.unwrap(), Money::ZERO);
    let again =
        c.p.users
            .by_external_subject(
                "https://idp.example|alice",
                "Renamed",
                t0() + Duration::days(1),
            )
            .await
            .unwrap();
    assert_eq!(again, u, "the same user, unchanged");
    let bob =
        c.p.users
            .by_external_subject("https://idp.example|bob", "Alice", t0())
            .await
            .unwrap();
    assert_ne!(bob.id, u.id);
    // Built-in users have no subject and never collide with each other.
    let a = c.p.users.create("Ada", t0()).await.unwrap();
    let b = c.p.users.create("Ada", t0()).await.unwrap();
    assert_ne!(a.id, b.id);
    // The longest subject the domain allows fits.
    let long = "s".repeat(frontrow_domain::accounts::MAX_SUBJECT_BYTES);
    let l =
        c.p.users
            .by_external_subject(&long, "Long", t0())
            .await
            .unwrap();
    assert_eq!(
        c.p.users
            .by_external_subject(&long, "Long", t0())
            .await
            .unwrap()
            .id,
        l.id
    );

    let started = Instant::now();
    let racers = (0..16).map(|_| {
        let users = c.p.users.clone();
        tokio::spawn(async move {
            users
                .by_external_subject("https://idp.example|carol", "Carol", t0())
                .await
                .unwrap()
                .id
        })
    });
    let ids: HashSet<UserId> = futures::future::join_all(racers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(ids.len(), 1, "16 first sights at once make one user");
    println!(
        "CONTENTION {} first-sight-race 16 callers {:?}",
        c.backend,
        started.elapsed()
    );
}

async fn assert_users_and_wallets(c: &Ctx) {
    let u = c.p.users.create("Ada", t0()).await.unwrap();
    assert_eq!(u.name, "Ada");
    assert_eq!(u.created_at, t0());
    assert_eq!(c.p.users.get(u.id).await.unwrap(), Some(u.clone()));
    assert_eq!(c.p.users.get(UserId(999_999)).await.unwrap(), None);

    assert_eq!(c.p.wallets.balance(u.id).await.unwrap(), Money::ZERO);
    assert_eq!(
        c.p.wallets.charge(u.id, money(700), t0()).await.unwrap(),
        money(700)
    );
    assert_eq!(
        c.p.wallets.charge(u.id, money(300), t0()).await.unwrap(),
        money(1_000)
    );
    assert_eq!(c.p.wallets.balance(u.id).await.unwrap(), money(1_000));

    let missing = UserId(999_999);
    assert!(matches!(
        c.p.wallets.balance(missing).await,
        Err(WalletError::UserNotFound)
    ));
    assert!(matches!(
        c.p.wallets.charge(missing, money(1), t0()).await,
        Err(WalletError::UserNotFound)
    ));
    assert!(matches!(
        c.p.wallets.charge(u.id, money(i64::MAX / 2), t0()).await,
        Err(WalletError::BalanceLimit)
    ));
    assert_eq!(c.p.wallets.balance(u.id).await.unwrap(), money(1_000));
    // Up to the limit exactly is fine.
    let top = i64::MAX / 2 - 1_000;
    assert_eq!(
        c.p.wallets.charge(u.id, money(top), t0()).await.unwrap(),
        money(i64::MAX / 2)
    );
    assert!(matches!(
        c.p.wallets.charge(u.id, money(1), t0()).await,
        Err(WalletError::BalanceLimit)
    ));
    assert_ledger_matches_balances(c).await;
}

async fn assert_catalog(c: &Ctx) {
    let d = concert(c, 3, 4, 2).await;
    assert_eq!(d.concert.title, "Night Show");
    assert_eq!(d.schedules.len(), 2);
    assert!(d.schedules[0].starts_at < d.schedules[1].starts_at);
    assert!(
        d.schedules
            .iter()
            .all(|s| s.total_seats == 12 && s.available_seats == 12)
    );

    let concerts = c.p.catalog.list_concerts().await.unwrap();
    assert_eq!(concerts, vec![d.concert.clone()]);
    assert_eq!(
        c.p.catalog.concert(d.concert.id).await.unwrap(),
        Some(d.concert.clone())
    );
    assert_eq!(c.p.catalog.concert(ConcertId(999_999)).await.unwrap(), None);
    assert_eq!(
        c.p.catalog.get_concert(d.concert.id, t0()).await.unwrap(),
        Some(d.clone())
    );
    assert_eq!(
        c.p.catalog
            .get_concert(ConcertId(999_999), t0())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        c.p.catalog
            .list_schedules(ConcertId(999_999), t0())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        c.p.catalog
            .list_seats(ScheduleId(999_999), t0())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        c.p.catalog.get_schedule(ScheduleId(999_999)).await.unwrap(),
        None
    );
    let s =
        c.p.catalog
            .get_schedule(d.schedules[0].id)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        (s.concert_id, s.starts_at),
        (d.concert.id, d.schedules[0].starts_at)
    );

    let sched = d.schedules[0].id;
    let seats = c.p.catalog.list_seats(sched, t0()).await.unwrap().unwrap();
    let labels: Vec<_> = seats.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "A-1", "A-2", "A-3", "A-4", "B-1", "B-2", "B-3", "B-4", "C-1", "C-2", "C-3", "C-4"
        ]
    );
    assert!(
        seats
            .iter()
            .all(|s| s.price == money(PRICE) && s.status == SeatStatus::Available)
    );

    // A hold lowers availability until it expires; then the seat reads Available again.
    let u = user(c, 0).await;
    let r = hold(c, u, sched, seats[0].id, t0()).await;
    let summaries =
        c.p.catalog
            .list_schedules(d.concert.id, t0())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(summaries[0].available_seats, 11);
    assert_eq!(summaries[1].available_seats, 12);
    assert_eq!(
        seat_status(c, sched, seats[0].id, t0()).await,
        SeatStatus::Held
    );
    let later = r.expires_at;
    assert_eq!(
        seat_status(c, sched, seats[0].id, later).await,
        SeatStatus::Available
    );
    let summaries =
        c.p.catalog
            .list_schedules(d.concert.id, later)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(summaries[0].available_seats, 12);
}

async fn assert_large_seat_map(c: &Ctx) {
    let started = Instant::now();
    let d = concert(c, 100, 500, 1).await;
    let ms = started.elapsed().as_millis();
    println!(
        "TIMING {} create-concert 100x500 seats in {ms} ms",
        c.backend
    );
    assert_eq!(d.schedules[0].total_seats, 50_000);
    let seats =
        c.p.catalog
            .list_seats(d.schedules[0].id, t0())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(seats.len(), 50_000);
    assert_eq!(seats[49_999].label, "CV-500");
}

async fn assert_hold_errors(c: &Ctx) {
    let d = concert(c, 2, 5, 2).await;
    let (s1, s2) = (d.schedules[0].id, d.schedules[1].id);
    let seats = seat_ids(c, s1).await;
    let (a, b) = (user(c, 0).await, user(c, 0).await);

    // SeatNotFound: unknown seat, or a seat of another schedule.
    let e = c.p.seats.hold(hold_req(a, s1, SeatId(999_999), t0())).await;
    assert!(matches!(e, Err(HoldError::SeatNotFound)), "{e:?}");
    let e = c.p.seats.hold(hold_req(a, s2, seats[0], t0())).await;
    assert!(matches!(e, Err(HoldError::SeatNotFound)), "{e:?}");

    let r = hold(c, a, s1, seats[0], t0()).await;
    assert_eq!(r.status, ReservationStatus::Held);
    assert_eq!(
        (r.seat_label.as_str(), r.price, r.concert_id),
        ("A-1", money(PRICE), d.concert.id)
    );
    assert_eq!(c.p.seats.reservation(r.id).await.unwrap(), Some(r.clone()));
    assert_eq!(
        c.p.seats.reservation(ReservationId(999_999)).await.unwrap(),
        None
    );

    // SeatTaken: held by someone else, or by the same user.
    let e = c.p.seats.hold(hold_req(b, s1, seats[0], t0())).await;
    assert!(matches!(e, Err(HoldError::SeatTaken)), "{e:?}");
    let e = c.p.seats.hold(hold_req(a, s1, seats[0], t0())).await;
    assert!(matches!(e, Err(HoldError::SeatTaken)), "{e:?}");

    // LimitReached after LIMIT unexpired holds in one schedule; other schedules are apart.
    for seat in &seats[1..LIMIT as usize] {
        hold(c, a, s1, *seat, t0()).await;
    }
    let e = c.p.seats.hold(hold_req(a, s1, seats[5], t0())).await;
    assert!(
        matches!(e, Err(HoldError::LimitReached { limit: LIMIT })),
        "{e:?}"
    );
    let other = seat_ids(c, s2).await;
    hold(c, a, s2, other[0], t0()).await;

    // An expired hold frees the seat: the next hold takes it and expires the old one.
    let later = r.expires_at;
    let r2 = hold(c, b, s1, seats[0], later).await;
    assert_eq!(status_of(c, r.id).await, ReservationStatus::Expired);
    assert_eq!(status_of(c, r2.id).await, ReservationStatus::Held);

    // SeatTaken: sold.
    c.p.wallets.charge(b, money(PRICE), later).await.unwrap();
    c.p.payments
        .pay(pay_req(b, r2.id, "k", later))
        .await
        .unwrap();
    let far = later + Duration::hours(1);
    let e = c.p.seats.hold(hold_req(a, s1, seats[0], far)).await;
    assert!(matches!(e, Err(HoldError::SeatTaken)), "{e:?}");
    assert_eq!(seat_status(c, s1, seats[0], far).await, SeatStatus::Sold);
}

async fn assert_cancel(c: &Ctx) {
    let d = concert(c, 1, 5, 1).await;
    let s = d.schedules[0].id;
    let seats = seat_ids(c, s).await;
    let (a, b) = (user(c, PRICE).await, user(c, 0).await);

    let r = hold(c, a, s, seats[0], t0()).await;
    let e = c.p.seats.cancel(a, ReservationId(999_999), t0()).await;
    assert!(matches!(e, Err(CancelError::NotFound)), "{e:?}");
    let e = c.p.seats.cancel(b, r.id, t0()).await;
    assert!(matches!(e, Err(CancelError::NotFound)), "{e:?}");

    let cancelled = c.p.seats.cancel(a, r.id, t0()).await.unwrap();
    assert_eq!(cancelled.status, ReservationStatus::Cancelled);
    assert_eq!(status_of(c, r.id).await, ReservationStatus::Cancelled);
    assert_eq!(
        seat_status(c, s, seats[0], t0()).await,
        SeatStatus::Available
    );
    let e = c.p.seats.cancel(a, r.id, t0()).await;
    assert!(
        matches!(
            e,
            Err(CancelError::NotHeld {
                status: ReservationStatus::Cancelled
            })
        ),
        "{e:?}"
    );
    // The freed seat can be held again at once.
    hold(c, b, s, seats[0], t0()).await;

    let paid = hold(c, a, s, seats[1], t0()).await;
    c.p.payments
        .pay(pay_req(a, paid.id, "k1", t0()))
        .await
        .unwrap();
    let e = c.p.seats.cancel(a, paid.id, t0()).await;
    assert!(
        matches!(
            e,
            Err(CancelError::NotHeld {
                status: ReservationStatus::Confirmed
            })
        ),
        "{e:?}"
    );

    let stale = hold(c, a, s, seats[2], t0()).await;
    let e = c.p.seats.cancel(a, stale.id, stale.expires_at).await;
    assert!(
        matches!(
            e,
            Err(CancelError::NotHeld {
                status: ReservationStatus::Expired
            })
        ),
        "{e:?}"
    );
    c.p.seats
        .release_expired(stale.expires_at, 100)
        .await
        .unwrap();
    let e = c.p.seats.cancel(a, stale.id, stale.expires_at).await;
    assert!(
        matches!(
            e,
            Err(CancelError::NotHeld {
                status: ReservationStatus::Expired
            })
        ),
        "{e:?}"
    );
}

async fn assert_release_expired(c: &Ctx) {
    let d = concert(c, 1, 10, 1).await;
    let s = d.schedules[0].id;
    let seats = seat_ids(c, s).await;
    let us = users(c, 3, 0).await;
    let mut held = Vec::new();
    for (i, seat) in seats.iter().take(6).enumerate() {
        held.push(hold(c, us[i % 3], s, *seat, t0() + Duration::seconds(i as i64)).await);
    }
    // Nothing has expired yet.
    assert_eq!(c.p.seats.release_expired(t0(), 100).await.unwrap(), 0);
    // Holds made at t0..t0+2s expire at or before t0+5min+2s.
    let cut = t0() + Duration::minutes(5) + Duration::seconds(2);
    assert_eq!(c.p.seats.release_expired(cut, 2).await.unwrap(), 2);
    assert_eq!(c.p.seats.release_expired(cut, 100).await.unwrap(), 1);
    assert_eq!(c.p.seats.release_expired(cut, 100).await.unwrap(), 0);
    for (i, r) in held.iter().enumerate() {
        let want = if i <= 2 {
            ReservationStatus::Expired
        } else {
            ReservationStatus::Held
        };
        assert_eq!(status_of(c, r.id).await, want, "reservation {i}");
        let seat = seat_status(c, s, r.seat_id, t0()).await;
        let want = if i <= 2 {
            SeatStatus::Available
        } else {
            SeatStatus::Held
        };
        assert_eq!(seat, want, "seat {i}");
    }
    // A swept hold cannot be paid, and its seat is free for a new hold.
    c.p.wallets.charge(us[0], money(PRICE), cut).await.unwrap();
    let e =
        c.p.payments
            .pay(pay_req(us[0], held[0].id, "late", t0()))
            .await;
    assert!(matches!(e, Err(PaymentError::HoldExpired)), "{e:?}");
    hold(c, us[1], s, held[0].seat_id, cut).await;
}

async fn assert_payment_errors(c: &Ctx) {
    let d = concert(c, 1, 10, 1).await;
    let s = d.schedules[0].id;
    let seats = seat_ids(c, s).await;
    let a = user(c, PRICE * 2).await;
    let b = user(c, PRICE).await;
    let poor = user(c, PRICE - 1).await;

    let r = hold(c, a, s, seats[0], t0()).await;
    let e =
        c.p.payments
            .pay(pay_req(a, ReservationId(999_999), "x", t0()))
            .await;
    assert!(matches!(e, Err(PaymentError::ReservationNotFound)), "{e:?}");
    let e = c.p.payments.pay(pay_req(b, r.id, "x", t0())).await;
    assert!(matches!(e, Err(PaymentError::ReservationNotFound)), "{e:?}");

    let now = t0() + Duration::seconds(10);
    let receipt = c.p.payments.pay(pay_req(a, r.id, "k1", now)).await.unwrap();
    assert_eq!(receipt.reservation_id, r.id);
    assert_eq!(receipt.concert_id, d.concert.id);
    assert_eq!(
        (receipt.amount, receipt.balance),
        (money(PRICE), money(PRICE))
    );
    assert_eq!(receipt.paid_at, now);
    assert!(!receipt.replayed);
    let confirmed = c.p.seats.reservation(r.id).await.unwrap().unwrap();
    assert_eq!(confirmed.status, ReservationStatus::Confirmed);
    assert_eq!(confirmed.paid_at, Some(now));
    assert_eq!(seat_status(c, s, seats[0], now).await, SeatStatus::Sold);

    // Replay: same receipt, nothing changes (even after the hold would have expired).
    let again =
        c.p.payments
            .pay(pay_req(a, r.id, "k1", r.expires_at))
            .await
            .unwrap();
    assert_eq!(again, PaymentReceipt2::replay_of(&receipt));
    assert_eq!(c.p.wallets.balance(a).await.unwrap(), money(PRICE));

    // AlreadyPaid under another key; KeyReused for another reservation.
    let e = c.p.payments.pay(pay_req(a, r.id, "k2", now)).await;
    assert!(matches!(e, Err(PaymentError::AlreadyPaid)), "{e:?}");
    let r2 = hold(c, a, s, seats[1], now).await;
    let e = c.p.payments.pay(pay_req(a, r2.id, "k1", now)).await;
    assert!(matches!(e, Err(PaymentError::KeyReused)), "{e:?}");
    // The same key is free for another user.
    let rb = hold(c, b, s, seats[2], now).await;
    c.p.payments
        .pay(pay_req(b, rb.id, "k1", now))
        .await
        .unwrap();

    // Cancelled.
    c.p.seats.cancel(a, r2.id, now).await.unwrap();
    let e = c.p.payments.pay(pay_req(a, r2.id, "k3", now)).await;
    assert!(matches!(e, Err(PaymentError::Cancelled)), "{e:?}");

    // HoldExpired: at the expiry instant, unswept.
    let r3 = hold(c, a, s, seats[3], now).await;
    let e =
        c.p.payments
            .pay(pay_req(a, r3.id, "k4", r3.expires_at))
            .await;
    assert!(matches!(e, Err(PaymentError::HoldExpired)), "{e:?}");

    // InsufficientBalance: nothing changes.
    let rp = hold(c, poor, s, seats[4], now).await;
    let e = c.p.payments.pay(pay_req(poor, rp.id, "k5", now)).await;
    assert!(
        matches!(e, Err(PaymentError::InsufficientBalance { balance, amount }) if balance == money(PRICE - 1) && amount == money(PRICE)),
        "{e:?}"
    );
    assert_eq!(c.p.wallets.balance(poor).await.unwrap(), money(PRICE - 1));
    assert_eq!(status_of(c, rp.id).await, ReservationStatus::Held);
    assert_eq!(seat_status(c, s, seats[4], now).await, SeatStatus::Held);
    // Topped up, the same key now pays.
    c.p.wallets.charge(poor, money(1), now).await.unwrap();
    let ok =
        c.p.payments
            .pay(pay_req(poor, rp.id, "k5", now))
            .await
            .unwrap();
    assert_eq!(ok.balance, Money::ZERO);
    assert_ledger_matches_balances(c).await;
}

/// Helper to compare a replayed receipt with the original.
struct PaymentReceipt2;
impl PaymentReceipt2 {
    fn replay_of(
        r: &frontrow_domain::model::PaymentReceipt,
    ) -> frontrow_domain::model::PaymentReceipt {
        frontrow_domain::model::PaymentReceipt {
            replayed: true,
            ..r.clone()
        }
    }
}

// --- contention ------------------------------------------------------------------------

async fn assert_hold_one_seat_under_contention(c: &Ctx) {
    const N: usize = 1_000;
    let d = concert(c, 1, 1, 1).await;
    let s = d.schedules[0].id;
    let seat = seat_ids(c, s).await[0];
    let us = users(c, N, 0).await;
    let started = Instant::now();
    let tasks: Vec<_> = us
        .iter()
        .map(|u| {
            let p = c.p.clone();
            let req = hold_req(*u, s, seat, t0());
            tokio::spawn(async move { p.seats.hold(req).await })
        })
        .collect();
    let (mut ok, mut taken, mut other) = (0, 0, Vec::new());
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(HoldError::SeatTaken) => taken += 1,
            Err(e) => other.push(e.to_string()),
        }
    }
    let ms = started.elapsed().as_millis();
    println!(
        "CONTENTION {} hold-one-seat {N} -> {ok} ok {taken} taken in {ms} ms",
        c.backend
    );
    assert!(
        other.is_empty(),
        "unexpected errors: {:?}",
        &other[..other.len().min(5)]
    );
    assert_eq!((ok, taken), (1, N - 1));
    let rows = reservation::Entity::find()
        .filter(reservation::Column::SeatId.eq(seat.0))
        .count(c.store.connection())
        .await
        .unwrap();
    assert_eq!(rows, 1);
}

async fn assert_pay_one_key_under_contention(c: &Ctx) {
    const N: usize = 200;
    let d = concert(c, 1, 1, 1).await;
    let s = d.schedules[0].id;
    let seat = seat_ids(c, s).await[0];
    let u = user(c, PRICE * 3).await;
    let r = hold(c, u, s, seat, t0()).await;
    let started = Instant::now();
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let p = c.p.clone();
            let req = pay_req(u, r.id, "one-key", t0());
            tokio::spawn(async move { p.payments.pay(req).await })
        })
        .collect();
    let mut receipts = Vec::new();
    for t in tasks {
        receipts.push(t.await.unwrap().expect("every call gets the receipt"));
    }
    let ms = started.elapsed().as_millis();
    let fresh = receipts.iter().filter(|r| !r.replayed).count();
    let distinct: HashSet<_> = receipts
        .iter()
        .map(|r| {
            (
                r.reservation_id,
                r.concert_id,
                r.amount,
                r.balance,
                r.paid_at,
            )
        })
        .collect();
    let db = c.store.connection();
    let ledger = ledger_entry::Entity::find()
        .filter(ledger_entry::Column::UserId.eq(u.0))
        .filter(ledger_entry::Column::Kind.eq("PAYMENT"))
        .count(db)
        .await
        .unwrap();
    let payments = payment::Entity::find()
        .filter(payment::Column::UserId.eq(u.0))
        .count(db)
        .await
        .unwrap();
    println!(
        "CONTENTION {} pay-one-key {N} -> {} receipts ({fresh} fresh, {} distinct) {ledger} debit in {ms} ms",
        c.backend,
        receipts.len(),
        distinct.len()
    );
    assert_eq!(fresh, 1);
    assert_eq!(distinct.len(), 1);
    assert_eq!((ledger, payments), (1, 1));
    assert_eq!(c.p.wallets.balance(u).await.unwrap(), money(PRICE * 2));
    assert_ledger_matches_balances(c).await;
}

async fn assert_no_double_charge_with_different_keys(c: &Ctx) {
    const N: usize = 50;
    let d = concert(c, 1, 1, 1).await;
    let s = d.schedules[0].id;
    let seat = seat_ids(c, s).await[0];
    let u = user(c, PRICE * 10).await;
    let r = hold(c, u, s, seat, t0()).await;
    let started = Instant::now();
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let p = c.p.clone();
            let req = pay_req(u, r.id, &format!("key-{i}"), t0());
            tokio::spawn(async move { p.payments.pay(req).await })
        })
        .collect();
    let (mut ok, mut already, mut other) = (0, 0, Vec::new());
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(PaymentError::AlreadyPaid) => already += 1,
            Err(e) => other.push(e.to_string()),
        }
    }
    let ms = started.elapsed().as_millis();
    println!(
        "CONTENTION {} pay-many-keys {N} -> {ok} ok {already} already-paid in {ms} ms",
        c.backend
    );
    assert!(other.is_empty(), "unexpected errors: {other:?}");
    assert_eq!((ok, already), (1, N - 1));
    assert_eq!(c.p.wallets.balance(u).await.unwrap(), money(PRICE * 9));
    assert_ledger_matches_balances(c).await;
}

async fn assert_many_users_many_seats(c: &Ctx) {
    const N: usize = 1_000;
    let d = concert(c, 10, 100, 1).await;
    let s = d.schedules[0].id;
    let seats = seat_ids(c, s).await;
    let us = users(c, N, 0).await;
    let started = Instant::now();
    let tasks: Vec<_> = us
        .iter()
        .zip(&seats)
        .map(|(u, seat)| {
            let p = c.p.clone();
            let req = hold_req(*u, s, *seat, t0());
            tokio::spawn(async move { p.seats.hold(req).await })
        })
        .collect();
    let (mut ok, mut errors) = (0, Vec::new());
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => errors.push(e.to_string()),
        }
    }
    let ms = started.elapsed().as_millis();
    println!(
        "CONTENTION {} hold-distinct-seats {N} -> {ok} ok {} err in {ms} ms",
        c.backend,
        errors.len()
    );
    assert!(
        errors.is_empty(),
        "errors: {:?}",
        &errors[..errors.len().min(5)]
    );
    assert_eq!(ok, N);
    let summary =
        c.p.catalog
            .list_schedules(d.concert.id, t0())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(summary[0].available_seats, 0);
}

async fn assert_hold_limit_under_contention(c: &Ctx) {
    // One user fires 20 holds of 20 different seats at once: exactly LIMIT win.
    let d = concert(c, 2, 10, 1).await;
    let s = d.schedules[0].id;
    let seats = seat_ids(c, s).await;
    let u = user(c, 0).await;
    let tasks: Vec<_> = seats
        .iter()
        .map(|seat| {
            let p = c.p.clone();
            let req = hold_req(u, s, *seat, t0());
            tokio::spawn(async move { p.seats.hold(req).await })
        })
        .collect();
    let (mut ok, mut limited) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(HoldError::LimitReached { limit }) => {
                assert_eq!(limit, LIMIT);
                limited += 1
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    println!(
        "CONTENTION {} hold-limit 20 -> {ok} ok {limited} limited",
        c.backend
    );
    assert_eq!((ok, limited), (LIMIT as usize, 20 - LIMIT as usize));
    let held = reservation::Entity::find()
        .filter(reservation::Column::UserId.eq(u.0))
        .filter(reservation::Column::Status.eq("HELD"))
        .count(c.store.connection())
        .await
        .unwrap();
    assert_eq!(held, u64::from(LIMIT));
}

async fn assert_sales(c: &Ctx) {
    let d = concert(c, 1, 5, 1).await;
    let other = concert(c, 1, 2, 1).await;
    let s = d.schedules[0].id;
    let seats = seat_ids(c, s).await;
    let labels: Vec<String> =
        c.p.catalog
            .list_seats(s, t0())
            .await
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|x| x.label)
            .collect();
    let (a, b, idle) = (user(c, PRICE).await, user(c, PRICE).await, user(c, 0).await);
    assert!(c.p.payments.sales(d.concert.id).await.unwrap().is_empty());

    let ra = hold(c, a, s, seats[0], t0()).await;
    let rb = hold(c, b, s, seats[1], t0()).await;
    hold(c, idle, s, seats[2], t0()).await;
    let paid_a = t0() + Duration::seconds(10);
    let paid_b = t0() + Duration::seconds(5);
    c.p.payments
        .pay(pay_req(a, ra.id, "a", paid_a))
        .await
        .unwrap();
    c.p.payments
        .pay(pay_req(b, rb.id, "b", paid_b))
        .await
        .unwrap();
    // A sale of another concert is not this concert's.
    let os = other.schedules[0].id;
    let o = user(c, PRICE).await;
    let ro = hold(c, o, os, seat_ids(c, os).await[0], t0()).await;
    c.p.payments
        .pay(pay_req(o, ro.id, "o", paid_a))
        .await
        .unwrap();

    let sales = c.p.payments.sales(d.concert.id).await.unwrap();
    let got: Vec<_> = sales
        .iter()
        .map(|x| {
            let SoldPlace::Seat {
                reservation_id,
                seat_id,
                label,
            } = &x.place
            else {
                panic!("a standing place among seats: {x:?}")
            };
            (
                *reservation_id,
                x.schedule_id,
                *seat_id,
                label.as_str(),
                x.user_id,
                x.price,
                x.paid_at,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                rb.id,
                s,
                seats[1],
                labels[1].as_str(),
                b,
                money(PRICE),
                paid_b
            ),
            (
                ra.id,
                s,
                seats[0],
                labels[0].as_str(),
                a,
                money(PRICE),
                paid_a
            ),
        ],
        "{}: paid seats in payment order, held ones left out",
        c.backend
    );
    assert!(
        c.p.payments
            .sales(ConcertId(999_999))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn assert_extend(c: &Ctx) {
    let d = concert(c, 1, 5, 1).await;
    let s = d.schedules[0].id;
    let seats = seat_ids(c, s).await;
    let (a, b) = (user(c, PRICE).await, user(c, PRICE).await);
    let ext = |u: UserId, r: ReservationId, now: DateTime<Utc>| ExtendRequest {
        user_id: u,
        reservation_id: r,
        by: Duration::minutes(5),
        now,
    };

    // A live hold is extended once: its expiry and its seat's hold move together.
    let r = hold(c, a, s, seats[0], t0()).await;
    let at = t0() + Duration::minutes(1);
    let e = c.p.seats.extend(ext(a, r.id, at)).await.unwrap();
    assert_eq!(e.expires_at, t0() + Duration::minutes(10), "{}", c.backend);
    assert_eq!(e.extended_at, Some(at));
    assert_eq!(e.status, ReservationStatus::Held);
    let read = c.p.seats.reservation(r.id).await.unwrap().unwrap();
    assert_eq!(
        (read.expires_at, read.extended_at),
        (e.expires_at, Some(at))
    );
    let later = t0() + Duration::minutes(7);
    assert_eq!(seat_status(c, s, seats[0], later).await, SeatStatus::Held);
    c.p.seats.release_expired(later, 100).await.unwrap();
    assert_eq!(status_of(c, r.id).await, ReservationStatus::Held);
    let e2 = c.p.seats.hold(hold_req(b, s, seats[0], later)).await;
    assert!(matches!(e2, Err(HoldError::SeatTaken)), "{e2:?}");
    let again = c.p.seats.extend(ext(a, r.id, later)).await;
    assert!(
        matches!(again, Err(ExtendError::AlreadyExtended)),
        "{again:?}"
    );
    c.p.payments
        .pay(pay_req(a, r.id, "k", later))
        .await
        .unwrap();
    let paid = c.p.seats.extend(ext(a, r.id, later)).await;
    assert!(
        matches!(
            paid,
            Err(ExtendError::NotHeld {
                status: ReservationStatus::Confirmed
            })
        ),
        "{paid:?}"
    );

    // Not found: another user's or unknown; not held: expired or cancelled.
    let rb = hold(c, b, s, seats[1], t0()).await;
    let e = c.p.seats.extend(ext(a, rb.id, t0())).await;
    assert!(matches!(e, Err(ExtendError::NotFound)), "{e:?}");
    let e = c.p.seats.extend(ext(a, ReservationId(999_999), t0())).await;
    assert!(matches!(e, Err(ExtendError::NotFound)), "{e:?}");
    let e =
        c.p.seats
            .extend(ext(b, rb.id, t0() + Duration::minutes(6)))
            .await;
    assert!(
        matches!(
            e,
            Err(ExtendError::NotHeld {
                status: ReservationStatus::Expired
            })
        ),
        "{e:?}"
    );
    let rc = hold(c, b, s, seats[2], t0()).await;
    c.p.seats.cancel(b, rc.id, t0()).await.unwrap();
    let e = c.p.seats.extend(ext(b, rc.id, t0())).await;
    assert!(
        matches!(
            e,
            Err(ExtendError::NotHeld {
                status: ReservationStatus::Cancelled
            })
        ),
        "{e:?}"
    );
}

// --- one test per assertion per backend ----------------------------------------------

async fn run<F, Fut>(backend: Backend, f: F)
where
    F: FnOnce(Arc<Ctx>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let store = fresh_store(backend).await;
    let ctx = Arc::new(Ctx {
        backend: backend.name(),
        p: store.ports(),
        store,
    });
    f(ctx.clone()).await;
    ctx.store.close().await.ok();
}

async fn assert_seat_counts(c: &Ctx) {
    use frontrow_domain::queue::SeatCounts;
    let d = concert(c, 2, 5, 2).await; // 10 seats per schedule, 20 in all
    let (s1, s2) = (d.schedules[0].id, d.schedules[1].id);
    let (seats1, seats2) = (seat_ids(c, s1).await, seat_ids(c, s2).await);
    let counts = |now| async move { c.p.seats.seat_counts(d.concert.id, now).await.unwrap() };
    assert_eq!(
        counts(t0()).await,
        SeatCounts {
            free: 20,
            held: 0,
            holders: 0
        }
    );
    let us = users(c, 3, PRICE).await;
    let a = hold(c, us[0], s1, seats1[0], t0()).await;
    hold(c, us[0], s2, seats2[0], t0()).await;
    hold(c, us[1], s1, seats1[1], t0() + Duration::minutes(2)).await;
    let sold = hold(c, us[2], s2, seats2[1], t0()).await;
    c.p.payments
        .pay(pay_req(us[2], sold.id, "k", t0()))
        .await
        .unwrap();
    assert_eq!(
        counts(t0() + Duration::seconds(1)).await,
        SeatCounts {
            free: 16,
            held: 3,
            holders: 2
        }
    );
    // A cancelled hold frees its seat; an expired one counts as free before any sweep.
    c.p.seats.cancel(us[0], a.id, t0()).await.unwrap();
    assert_eq!(
        counts(t0() + Duration::minutes(5) + Duration::seconds(1)).await,
        SeatCounts {
            free: 18,
            held: 1,
            holders: 1
        }
    );
    assert_eq!(
        c.p.seats
            .seat_counts(ConcertId(d.concert.id.0 + 1_000), t0())
            .await
            .unwrap(),
        SeatCounts::default()
    );
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        contract!(@backend on_sqlite, Backend::Sqlite, $($name),*);
        contract!(@backend on_mariadb, Backend::MySql, $($name),*);
        contract!(@backend on_postgres, Backend::Postgres, $($name),*);
    };
    (@backend $module:ident, $backend:expr, $($name:ident),*) => {
        mod $module {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    run($backend, |c| async move { super::$name(&c).await }).await;
                }
            )*
        }
    };
}

contract!(
    assert_store_basics,
    assert_users_and_wallets,
    assert_users_by_external_subject,
    assert_catalog,
    assert_large_seat_map,
    assert_hold_errors,
    assert_cancel,
    assert_release_expired,
    assert_payment_errors,
    assert_hold_one_seat_under_contention,
    assert_pay_one_key_under_contention,
    assert_no_double_charge_with_different_keys,
    assert_many_users_many_seats,
    assert_hold_limit_under_contention,
    assert_seat_counts,
    assert_sales,
    assert_extend,
);
