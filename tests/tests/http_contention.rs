//! The booking invariants under concurrency, over HTTP, on each database: SQLite with the
//! in-memory queue (the single-node default, so the quick tier has it), MariaDB and
//! PostgreSQL with the Redis queue:
//! - 1,000 concurrent holds of one seat: exactly one 201, 999 × 409, one reservation;
//! - 200 concurrent payments with one Idempotency-Key: one debit, 200 identical answers;
//! - 1,000 users each holding a different seat at once: 1,000 × 201.
//!
//! Wall times are printed with a `CONTENTION` tag (run with `--nocapture` to see them).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use frontrow_tests::app::{AppOptions, Db, TestApp, TestUser, spawn_app_with};
use frontrow_tests::required_env;
use futures::future::join_all;
use serde_json::Value;

const FANS: usize = 1_000;

async fn admitted_fans(app: &TestApp, concert: i64, n: usize) -> Vec<(TestUser, String)> {
    let users =
        join_all((0..n).map(|i| async move { app.create_user(&format!("fan{i}")).await })).await;
    join_all(users.into_iter().map(|u| async move {
        let q = app.admitted(&u, concert, Duration::from_secs(60)).await;
        (u, q)
    }))
    .await
}

async fn contention(db: Db) {
    let owned = spawn_app_with(AppOptions {
        db,
        redis: (db != Db::Sqlite)
            .then(|| required_env("FRONTROW_TEST_REDIS_URL", "a Redis server")),
        database_url: None,
        tweak: Box::new(|s| {
            s.http.workers = 2;
            s.database.max_connections = 64;
            s.booking.max_tickets_per_fan = 4;
            // 1,000 connections opened at once on two shared cores: some wait longer
            // than actix's 5 s for their headers to be read, and would be answered 408
            // before reaching the handler this test is about.
            s.http.client_request_timeout_ms = 30_000;
        }),
    })
    .await;
    // 40 × 25 = 1,000 seats.
    let app = &owned;
    let concert = app.create_concert(40, 25, 1_000).await;
    assert_eq!(concert.seats.len(), FANS);
    let fans = admitted_fans(app, concert.id, FANS).await;
    let concert = &concert;

    // (a) 1,000 concurrent holds of one seat
    let hot = concert.seats[0].0;
    let started = Instant::now();
    let answers = join_all(fans.iter().map(|(u, q)| async move {
        let res = app.hold(u, Some(q), concert.schedule_id, hot).await;
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or_default();
        (status, body["id"].as_i64())
    }))
    .await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    let hot_ms = started.elapsed().as_millis();
    let won = statuses.iter().filter(|s| **s == 201).count();
    let lost = statuses.iter().filter(|s| **s == 409).count();
    println!(
        "CONTENTION {} hold-one-seat {FANS} -> {won} x 201, {lost} x 409 in {hot_ms} ms",
        db.name()
    );
    assert_eq!((won, lost), (1, FANS - 1), "statuses: {statuses:?}");
    let seats = app.seats(concert.schedule_id).await;
    assert_eq!(seats[0]["status"], "HELD");
    let held = seats
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] != "AVAILABLE")
        .count();
    assert_eq!(held, 1, "exactly one seat is held");
    let winner = fans
        .iter()
        .zip(&statuses)
        .find(|(_, s)| **s == 201)
        .map(|(f, _)| f.clone())
        .unwrap();

    // (b) 200 concurrent payments with one key
    let (wu, wq) = &winner;
    let rid = answers
        .iter()
        .find_map(|a| a.1)
        .expect("the 201 carries the reservation id");
    let res = app.hold(wu, Some(wq), concert.schedule_id, hot).await;
    assert_eq!(
        res.status(),
        409,
        "the winner cannot hold its own seat twice"
    );
    app.charge(wu, 5_000).await;
    let started = Instant::now();
    let answers = join_all((0..200).map(|_| async {
        let res = app.pay(wu, Some(wq), rid, Some("one-key")).await;
        (res.status().as_u16(), res.text().await.unwrap_or_default())
    }))
    .await;
    let pay_ms = started.elapsed().as_millis();
    let first = &answers[0];
    let identical = answers.iter().filter(|a| *a == first).count();
    println!(
        "CONTENTION {} pay-one-key 200 -> status {} x {identical} identical, balance {} in {pay_ms} ms",
        db.name(),
        first.0,
        app.balance(wu).await
    );
    assert_eq!(first.0, 200, "{}", first.1);
    assert_eq!(identical, 200, "all answers identical");
    assert_eq!(app.balance(wu).await, 4_000, "charged exactly once");

    // (c) 1,000 users holding different seats at once (seat 0 is sold: use a fresh concert)
    let concert2 = &app.create_concert(40, 25, 1_000).await;
    // entering a second concert: each fan needs a token for it
    let fans2: Vec<(TestUser, String)> = join_all(fans.iter().map(|(u, _)| async {
        let q = app.admitted(u, concert2.id, Duration::from_secs(60)).await;
        (u.clone(), q)
    }))
    .await;
    let started = Instant::now();
    let statuses = join_all(fans2.iter().zip(&concert2.seats).map(
        |((u, q), (seat, _))| async move {
            app.hold(u, Some(q), concert2.schedule_id, *seat)
                .await
                .status()
                .as_u16()
        },
    ))
    .await;
    let spread_ms = started.elapsed().as_millis();
    let ok = statuses.iter().filter(|s| **s == 201).count();
    println!(
        "CONTENTION {} hold-distinct-seats {FANS} -> {ok} x 201 in {spread_ms} ms",
        db.name()
    );
    assert_eq!(
        ok,
        FANS,
        "statuses: {:?}",
        statuses.iter().filter(|s| **s != 201).collect::<Vec<_>>()
    );
    let detail: Value = app
        .get(&format!("/api/v1/concerts/{}", concert2.id), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["schedules"][0]["available_seats"], 0);
    owned.stop().await;
}

#[tokio::test]
async fn contention_invariants_hold_on_sqlite() {
    contention(Db::Sqlite).await;
}

#[tokio::test]
async fn contention_invariants_hold_on_mariadb() {
    contention(Db::MariaDb).await;
}

#[tokio::test]
async fn contention_invariants_hold_on_postgres() {
    contention(Db::Postgres).await;
}
