//! The box office over HTTP, on each database (SQLite with the memory queue; MariaDB and
//! PostgreSQL with Redis):
//! - 500 concurrent best-available parties of 1–6 (strict: no lone seat) over a
//!   1,000-seat hall with aisles: no seat in two orders, every answer the whole party
//!   together or 409, no 409 while a block for that party was still free (checked with
//!   the domain's own planner on the final map), no lone seat created, every order paid
//!   once under two concurrent payments with one key;
//! - a standing area of 500 and 2,000 concurrent requests of 1–4: never more held than
//!   500, and filled to exactly 500;
//! - a fan's ticket limit across concurrent orders;
//! - bad input answered 4xx problem+json with nothing held;
//! - the database itself refusing a second live reservation of a seat, a negative
//!   balance, and an oversold standing area, whatever the code does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use frontrow_app::settings::SeatClaimSetting;
use frontrow_domain::model::SeatId;
use frontrow_domain::seating::{self, Ask, Cell, Row};
use frontrow_tests::app::{AppOptions, Db, TestApp, TestUser, assert_problem, spawn_app_with};
use frontrow_tests::db::{Backend, fresh_store};
use frontrow_tests::required_env;
use futures::future::join_all;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Response;
use sea_orm::ConnectionTrait;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

const PARTIES: usize = 500;
/// 40 rows of 12 + aisle + 13 seats = 1,000 seats, in two sections of 20 rows.
const ROWS_PER_SECTION: usize = 20;

fn hall() -> Value {
    let row = |label: String| {
        let mut seats: Vec<Value> = (1..=12).map(|n| json!(n)).collect();
        seats.push(Value::Null);
        seats.extend((13..=25).map(|n| json!(n)));
        json!({ "label": label, "seats": seats })
    };
    json!({
        "categories": [
            { "name": "Front", "price": 200 },
            { "name": "Back", "price": 100 },
            { "name": "Floor", "price": 50 }
        ],
        "sections": [
            { "name": "Lower", "category": "Front",
              "rows": (0..ROWS_PER_SECTION).map(|r| row(format!("L{r}"))).collect::<Vec<_>>() },
            { "name": "Upper", "category": "Back",
              "rows": (0..ROWS_PER_SECTION).map(|r| row(format!("U{r}"))).collect::<Vec<_>>() },
            { "name": "Pit", "category": "Floor", "capacity": 500 }
        ]
    })
}

/// The seat's place in its row in `hall()` (the aisle after seat 12).
fn x_of(number: u32) -> u32 {
    if number <= 12 { number - 1 } else { number }
}

async fn spawn(db: Db, per_fan: u32) -> TestApp {
    spawn_beside(db, per_fan, SeatClaimSetting::Conditional, None).await
}

/// An instance claiming seats by `claim`; beside `other` (its database and line) if given.
async fn spawn_beside(
    db: Db,
    per_fan: u32,
    claim: SeatClaimSetting,
    other: Option<&TestApp>,
) -> TestApp {
    let prefix = other.map(|o| o.settings.redis.key_prefix.clone());
    spawn_app_with(AppOptions {
        db,
        redis: (db != Db::Sqlite)
            .then(|| required_env("FRONTROW_TEST_REDIS_URL", "a Redis server")),
        database_url: other.map(|o| o.settings.database.url.expose_secret().to_owned()),
        tweak: Box::new(move |s| {
            if let Some(p) = prefix {
                s.redis.key_prefix = p;
            }
            s.database.seat_claim = claim;
            s.http.workers = 2;
            s.database.max_connections = 32;
            s.booking.max_tickets_per_fan = per_fan;
            s.booking.hold_ttl_seconds = 600;
            s.http.client_request_timeout_ms = 30_000;
        }),
    })
    .await
}

async fn create_hall(app: &TestApp) -> (i64, i64) {
    let res = app
        .create_concert_raw(&json!({
            "title": "Hall", "venue": "Hall",
            "schedules": [{ "starts_at": "2030-01-01T20:00:00Z", "layout": hall() }]
        }))
        .await;
    assert_eq!(res.status().as_u16(), 201, "{}", res.text().await.unwrap());
    let v: Value = res.json().await.unwrap();
    (
        v["id"].as_i64().unwrap(),
        v["schedules"][0]["id"].as_i64().unwrap(),
    )
}

async fn admitted_fans(app: &TestApp, concert: i64, n: usize) -> Vec<(TestUser, String)> {
    let users =
        join_all((0..n).map(|i| async move { app.create_user(&format!("party{i}")).await })).await;
    join_all(users.into_iter().map(|u| async move {
        let q = app.admitted(&u, concert, Duration::from_secs(120)).await;
        (u, q)
    }))
    .await
}

async fn order(app: &TestApp, fan: &(TestUser, String), body: &Value) -> Response {
    app.client
        .post(app.url("/api/v1/orders"))
        .bearer_auth(&fan.0.token)
        .header("X-Queue-Token", &fan.1)
        .json(body)
        .send()
        .await
        .expect("request")
}

async fn pay(app: &TestApp, fan: &(TestUser, String), order: i64, key: &str) -> Response {
    app.client
        .post(app.url(&format!("/api/v1/orders/{order}/payment")))
        .bearer_auth(&fan.0.token)
        .header("X-Queue-Token", &fan.1)
        .header("Idempotency-Key", key)
        .send()
        .await
        .expect("request")
}

/// The final map as the planner's rows: free = available.
fn rows_of(map: &Value) -> Vec<Row> {
    let mut rows: HashMap<(String, String), Vec<Cell>> = HashMap::new();
    for s in map.as_array().unwrap() {
        let key = (
            s["section"].as_str().unwrap().to_owned(),
            s["row"].as_str().unwrap().to_owned(),
        );
        rows.entry(key).or_default().push(Cell {
            id: SeatId(s["id"].as_i64().unwrap()),
            x: x_of(u32::try_from(s["number"].as_u64().unwrap()).unwrap()),
            free: s["status"] == "AVAILABLE",
            eligible: true,
        });
    }
    let mut out: Vec<Row> = rows
        .into_values()
        .enumerate()
        .map(|(i, mut cells)| {
            cells.sort_by_key(|c| c.x);
            Row {
                section_rank: 0,
                row_no: u32::try_from(i).unwrap(),
                cells,
            }
        })
        .collect();
    out.sort_by_key(|r| r.row_no);
    out
}

/// The parties order through `apps` in turn (several instances share a database: their
/// planners do not know each other's claims, so the database decides between them).
async fn best_available_parties(apps: &[&TestApp], db: Db) {
    let app = apps[0];
    let (concert, schedule) = create_hall(app).await;
    let fans = admitted_fans(app, concert, PARTIES).await;
    let mut rng = StdRng::seed_from_u64(21);
    let sizes: Vec<u32> = (0..PARTIES).map(|_| rng.random_range(1..=6)).collect();
    let answers = join_all(fans.iter().zip(&sizes).enumerate().map(
        |(i, (fan, size))| async move {
            let res = order(
                apps[i % apps.len()],
                fan,
                &json!({ "schedule_id": schedule,
                     "best_available": { "count": size, "strict": true } }),
            )
            .await;
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap();
            (status, body)
        },
    ))
    .await;

    let mut sold: HashSet<i64> = HashSet::new();
    let mut refused = Vec::new();
    let mut placed = Vec::new();
    for ((status, body), (size, fan)) in answers.iter().zip(sizes.iter().zip(&fans)) {
        match status {
            201 => {
                let seats: Vec<i64> = body["positions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["seat_id"].as_i64().unwrap())
                    .collect();
                assert_eq!(seats.len() as u32, *size, "the whole party: {body}");
                assert_eq!(body["together"], true, "{body}");
                assert_eq!(body["lone_seats_left"], 0, "{body}");
                for s in &seats {
                    assert!(sold.insert(*s), "seat {s} in two orders ({})", db.name());
                }
                placed.push((
                    fan,
                    body["id"].as_i64().unwrap(),
                    body["total"].as_i64().unwrap(),
                ));
            }
            409 => refused.push(*size),
            other => panic!("party of {size}: {other} {body}"),
        }
    }
    let map = app.seats(schedule).await;
    let held = map
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] != "AVAILABLE")
        .count();
    assert_eq!(held, sold.len(), "the map agrees with the orders");
    let rows = rows_of(&map);
    let lone: u32 = rows.iter().map(seating::lone_seats).sum();
    assert_eq!(lone, 0, "strict parties left lone seats");
    for size in &refused {
        let ask = Ask {
            count: *size as usize,
            allow_split: false,
            strict: true,
        };
        assert!(
            seating::pick(&rows, ask).is_none(),
            "a party of {size} was refused while a block was free ({})",
            db.name()
        );
    }
    // Parties arriving together were placed in groups (one transaction for several).
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    let counter = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from /metrics"))
    };
    let (groups, grouped) = (
        counter("frontrow_order_groups_total"),
        counter("frontrow_orders_grouped_total"),
    );
    assert!(
        groups >= 1.0 && grouped > groups,
        "orders arriving together were placed one transaction each: {grouped} orders in {groups} groups"
    );
    println!(
        "ORDERS {}: {} parties seated ({} seats), {} refused, {grouped} orders placed in {groups} groups",
        db.name(),
        placed.len(),
        sold.len(),
        refused.len()
    );

    // Every order paid, twice at once with one key (on two instances when there are):
    // one debit each.
    join_all(placed.iter().map(|(fan, id, total)| async move {
        let res = app.charge(&fan.0, *total).await;
        assert_eq!(res.status().as_u16(), 200);
        let key = format!("pay-{id}");
        let other = apps[apps.len() - 1];
        let (a, b) = futures::join!(pay(app, fan, *id, &key), pay(other, fan, *id, &key));
        let (a, b) = (a.status().as_u16(), b.status().as_u16());
        assert!(a == 200 && b == 200, "payments answered {a} and {b}");
        assert_eq!(app.balance(&fan.0).await, 0, "debited exactly once");
    }))
    .await;
    let map = app.seats(schedule).await;
    let sold_now = map
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "SOLD")
        .count();
    assert_eq!(sold_now, sold.len());
}

#[tokio::test]
async fn best_available_seats_parties_together_exactly_once_on_sqlite() {
    best_available_parties(&[&spawn(Db::Sqlite, 8).await], Db::Sqlite).await;
}

#[tokio::test]
async fn best_available_seats_parties_together_exactly_once_on_mariadb() {
    best_available_parties(&[&spawn(Db::MariaDb, 8).await], Db::MariaDb).await;
}

#[tokio::test]
async fn best_available_seats_parties_together_exactly_once_on_postgres() {
    best_available_parties(&[&spawn(Db::Postgres, 8).await], Db::Postgres).await;
}

/// Two instances on one database and line, claiming by `claim`: their parties collide in
/// the database, which gives every seat once either way.
async fn two_instances(db: Db, claim: SeatClaimSetting) {
    let a = spawn_beside(db, 8, claim, None).await;
    let b = spawn_beside(db, 8, claim, Some(&a)).await;
    best_available_parties(&[&a, &b], db).await;
}

#[tokio::test]
async fn two_instances_skipping_locked_seats_seat_parties_exactly_once_on_mariadb() {
    two_instances(Db::MariaDb, SeatClaimSetting::SkipLocked).await;
}

#[tokio::test]
async fn two_instances_skipping_locked_seats_seat_parties_exactly_once_on_postgres() {
    two_instances(Db::Postgres, SeatClaimSetting::SkipLocked).await;
}

#[tokio::test]
async fn two_instances_claiming_conditionally_seat_parties_exactly_once_on_postgres() {
    two_instances(Db::Postgres, SeatClaimSetting::Conditional).await;
}

async fn standing_area(db: Db) {
    let app = &spawn(db, 100).await;
    let (concert, schedule) = create_hall(app).await;
    let fans = admitted_fans(app, concert, 500).await;
    let mut rng = StdRng::seed_from_u64(5);
    let asks: Vec<(usize, u32)> = (0..2_000)
        .map(|i| (i % fans.len(), rng.random_range(1..=4)))
        .collect();
    let answers = join_all(asks.iter().map(|(f, q)| {
        let fans = &fans;
        async move {
            let res = order(
                app,
                &fans[*f],
                &json!({ "schedule_id": schedule, "standing": [{ "area": "Pit", "quantity": q }] }),
            )
            .await;
            res.status().as_u16()
        }
    }))
    .await;
    let mut held = 0;
    for (status, (_, q)) in answers.iter().zip(&asks) {
        match status {
            201 => held += q,
            409 => {}
            other => panic!("standing request answered {other}"),
        }
    }
    assert!(
        held <= 500,
        "{held} places held in an area of 500 ({})",
        db.name()
    );
    // Fill what is left one place at a time: exactly 500, never one more.
    let mut i = 0;
    loop {
        let res = order(
            app,
            &fans[i % fans.len()],
            &json!({ "schedule_id": schedule, "standing": [{ "area": "Pit", "quantity": 1 }] }),
        )
        .await;
        match res.status().as_u16() {
            201 => held += 1,
            409 => break,
            other => panic!("top-up answered {other}"),
        }
        i += 1;
    }
    assert_eq!(
        held,
        500,
        "the area fills to exactly its capacity ({})",
        db.name()
    );
    let v: Value = app
        .get(&format!("/api/v1/schedules/{schedule}/availability"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["standing"][0]["available"], 0, "{v}");
}

#[tokio::test]
async fn a_standing_area_is_never_oversold_on_sqlite() {
    standing_area(Db::Sqlite).await;
}

#[tokio::test]
async fn a_standing_area_is_never_oversold_on_mariadb() {
    standing_area(Db::MariaDb).await;
}

#[tokio::test]
async fn a_standing_area_is_never_oversold_on_postgres() {
    standing_area(Db::Postgres).await;
}

async fn limits_and_bad_input(db: Db) {
    let app = &spawn(db, 8).await;
    let (concert, schedule) = create_hall(app).await;
    let (_, other_schedule) = create_hall(app).await;
    let fans = admitted_fans(app, concert, 1).await;
    let fan = &fans[0];
    let other_seat = app.seats(other_schedule).await[0]["id"].as_i64().unwrap();
    let seat = app.seats(schedule).await[0]["id"].as_i64().unwrap();

    for (body, status) in [
        (
            json!({ "schedule_id": schedule, "seats": [99_999_999] }),
            422,
        ),
        (
            json!({ "schedule_id": schedule, "seats": [other_seat] }),
            422,
        ),
        (
            json!({ "schedule_id": schedule, "seats": [seat, seat] }),
            422,
        ),
        (
            json!({ "schedule_id": schedule, "best_available": { "count": 0 } }),
            422,
        ),
        (
            json!({ "schedule_id": schedule, "best_available": { "count": 100 } }),
            422,
        ),
        (
            json!({ "schedule_id": schedule, "standing": [{ "area": "Pit", "quantity": -1 }] }),
            422,
        ),
        (
            json!({ "schedule_id": schedule, "standing": [{ "area": "Nope", "quantity": 1 }] }),
            422,
        ),
        (json!({ "schedule_id": schedule }), 422),
        (
            json!({ "schedule_id": schedule, "seats": [seat], "best_available": { "count": 1 } }),
            422,
        ),
        (json!([schedule, seat]), 422),
        (json!({ "schedule_id": 99_999_999, "seats": [seat] }), 404),
    ] {
        let res = order(app, fan, &body).await;
        let p = assert_problem(res, status).await;
        assert!(p["detail"].as_str().is_some(), "{body}: {p}");
    }
    let map = app.seats(schedule).await;
    assert!(
        map.as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "AVAILABLE"),
        "a refused order held something"
    );

    // The fan's limit of 8 across ten concurrent orders of 2: exactly four held.
    let answers = join_all((0..10).map(|_| async {
        order(
            app,
            fan,
            &json!({ "schedule_id": schedule, "standing": [{ "area": "Pit", "quantity": 2 }] }),
        )
        .await
        .status()
        .as_u16()
    }))
    .await;
    assert_eq!(
        answers.iter().filter(|s| **s == 201).count(),
        4,
        "{answers:?}"
    );
    assert_eq!(
        answers.iter().filter(|s| **s == 409).count(),
        6,
        "{answers:?}"
    );
    let mine: Value = app
        .get("/api/v1/orders", Some(&fan.0.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine.as_array().unwrap().len(), 4);
    // Cancelling one gives its places back to the fan's allowance and the area.
    let id = mine[0]["id"].as_i64().unwrap();
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/orders/{id}")))
        .bearer_auth(&fan.0.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 204);
    let res = order(
        app,
        fan,
        &json!({ "schedule_id": schedule, "best_available": { "count": 2 } }),
    )
    .await;
    assert_eq!(res.status().as_u16(), 201);
}

#[tokio::test]
async fn limits_hold_and_bad_orders_hold_nothing_on_sqlite() {
    limits_and_bad_input(Db::Sqlite).await;
}

#[tokio::test]
async fn limits_hold_and_bad_orders_hold_nothing_on_mariadb() {
    limits_and_bad_input(Db::MariaDb).await;
}

#[tokio::test]
async fn limits_hold_and_bad_orders_hold_nothing_on_postgres() {
    limits_and_bad_input(Db::Postgres).await;
}

/// Writes that break an invariant, sent straight to the database: each must fail.
async fn the_database_guards(backend: Backend) {
    let store = fresh_store(backend).await;
    let db = store.connection();
    let run = |sql: &'static str| async move { db.execute_unprepared(sql).await };
    for sql in [
        "INSERT INTO users (id, name, created_at) VALUES (1, 'a', 0)",
        "INSERT INTO wallets (user_id, balance, version) VALUES (1, 10, 0)",
        "INSERT INTO concerts (id, title, venue) VALUES (1, 't', 'v')",
        "INSERT INTO schedules (id, concert_id, starts_at, total_seats) VALUES (1, 1, 0, 1)",
        "INSERT INTO seats (id, schedule_id, row_no, number, label, price, status, version) \
         VALUES (1, 1, 0, 1, 'A-1', 5, 'HELD', 0)",
        "INSERT INTO reservations (user_id, concert_id, schedule_id, seat_id, price, status, version, \
         created_at, expires_at, live_seat_id) VALUES (1, 1, 1, 1, 5, 'HELD', 0, 0, 9, 1)",
        "INSERT INTO standing_areas (schedule_id, name, section_rank, category, price, capacity, held, sold) \
         VALUES (1, 'Pit', 0, 'Floor', 5, 10, 0, 0)",
    ] {
        run(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    for (sql, what) in [
        (
            "INSERT INTO reservations (user_id, concert_id, schedule_id, seat_id, price, status, version, \
             created_at, expires_at, live_seat_id) VALUES (1, 1, 1, 1, 5, 'HELD', 0, 0, 9, 1)",
            "a second live reservation of one seat",
        ),
        (
            "UPDATE wallets SET balance = -1 WHERE user_id = 1",
            "a negative balance",
        ),
        (
            "UPDATE standing_areas SET held = 11 WHERE name = 'Pit'",
            "more held than the capacity",
        ),
        (
            "UPDATE standing_areas SET held = 6, sold = 5 WHERE name = 'Pit'",
            "held + sold over the capacity",
        ),
    ] {
        assert!(
            run(sql).await.is_err(),
            "{} accepted {what}",
            backend.name()
        );
    }
    // A payment per reservation, once.
    run("INSERT INTO payments (user_id, reservation_id, idempotency_key, amount, balance_after, paid_at) \
         VALUES (1, 1, 'k1', 5, 5, 0)")
        .await
        .unwrap();
    assert!(
        run("INSERT INTO payments (user_id, reservation_id, idempotency_key, amount, balance_after, paid_at) \
             VALUES (1, 1, 'k2', 5, 0, 0)")
            .await
            .is_err(),
        "{} accepted a second payment of one reservation",
        backend.name()
    );
}

#[tokio::test]
async fn the_database_refuses_double_sales_and_negative_balances_on_sqlite() {
    the_database_guards(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_database_refuses_double_sales_and_negative_balances_on_mariadb() {
    the_database_guards(Backend::MySql).await;
}

#[tokio::test]
async fn the_database_refuses_double_sales_and_negative_balances_on_postgres() {
    the_database_guards(Backend::Postgres).await;
}

async fn presale(db: Db) {
    let app = &spawn(db, 8).await;
    let row = |label: &str| json!({ "label": label, "seats": (1..=10).collect::<Vec<u32>>() });
    let res = app
        .create_concert_raw(&json!({
            "title": "Presale", "venue": "Club",
            "schedules": [{ "starts_at": "2030-01-01T20:00:00Z", "layout": {
                "categories": [
                    { "name": "Club", "price": 300, "hidden": true },
                    { "name": "Std", "price": 100 }
                ],
                "sections": [
                    { "name": "Club", "category": "Club", "rows": [row("C1"), row("C2")] },
                    { "name": "Main", "category": "Std", "rows": [row("A"), row("B")] }
                ]
            } }]
        }))
        .await;
    assert_eq!(res.status().as_u16(), 201);
    let v: Value = res.json().await.unwrap();
    let concert = v["id"].as_i64().unwrap();
    let schedule = v["schedules"][0]["id"].as_i64().unwrap();
    let fans = admitted_fans(app, concert, 50).await;
    let codes = |body: Value| async move {
        app.client
            .post(app.url(&format!("/api/v1/admin/schedules/{schedule}/presale-codes")))
            .header("X-Admin-Key", frontrow_tests::app::ADMIN_KEY)
            .json(&body)
            .send()
            .await
            .unwrap()
    };
    let window = |extra: Value| {
        let mut b = json!({ "categories": ["Club"],
            "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z" });
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    assert_eq!(
        codes(window(json!({ "codes": ["ONE-TICKET"], "max_tickets": 1 })))
            .await
            .status()
            .as_u16(),
        201
    );
    assert_eq!(
        codes(window(
            json!({ "codes": ["BOUND-CODE"], "max_tickets": 4, "user_id": fans[0].0.id })
        ))
        .await
        .status()
        .as_u16(),
        201
    );
    let bulk: Value = codes(window(json!({ "count": 5, "max_tickets": 2 })))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bulk.as_array().unwrap().len(), 5);
    assert_problem(
        codes(window(json!({ "codes": ["ONE-TICKET"], "max_tickets": 1 }))).await,
        422,
    )
    .await;
    let csv = app
        .client
        .get(app.url(&format!(
            "/api/v1/admin/schedules/{schedule}/presale-codes.csv"
        )))
        .header("X-Admin-Key", frontrow_tests::app::ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 1 + 7, "{csv}");

    // Without a code the hidden seats are not for sale.
    let club_seat = app.seats(schedule).await[0]["id"].as_i64().unwrap();
    let p = assert_problem(
        order(
            app,
            &fans[1],
            &json!({ "schedule_id": schedule, "seats": [club_seat] }),
        )
        .await,
        403,
    )
    .await;
    assert_eq!(p["type"], "/problems/not-on-sale");
    assert_problem(
        order(
            app,
            &fans[1],
            &json!({ "schedule_id": schedule, "best_available": { "count": 1, "category": "Club" } }),
        )
        .await,
        409,
    )
    .await;
    // A bound code reads as unknown to anyone else.
    for code in ["BOUND-CODE", "NO-SUCH-CODE"] {
        let p = assert_problem(
            order(
                app,
                &fans[1],
                &json!({ "schedule_id": schedule, "presale_code": code,
                         "best_available": { "count": 1, "category": "Club" } }),
            )
            .await,
            403,
        )
        .await;
        assert_eq!(p["type"], "/problems/presale-code-invalid", "{code}");
    }
    let mine = order(
        app,
        &fans[0],
        &json!({ "schedule_id": schedule, "presale_code": "BOUND-CODE",
                 "best_available": { "count": 2, "category": "Club" } }),
    )
    .await;
    assert_eq!(mine.status().as_u16(), 201);

    // Fifty concurrent uses of a one-ticket code: exactly one hold.
    let answers = join_all(fans.iter().skip(1).map(|f| async move {
        let res = order(
            app,
            f,
            &json!({ "schedule_id": schedule, "presale_code": "ONE-TICKET",
                     "best_available": { "count": 1, "category": "Club" } }),
        )
        .await;
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap();
        (status, body)
    }))
    .await;
    let won: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == 201)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(won.len(), 1, "{answers:?}");
    assert!(
        answers.iter().all(|(s, _)| *s == 201 || *s == 409),
        "{answers:?}"
    );
    // Its cancellation gives the ticket back to the code.
    let winner = answers.iter().position(|(s, _)| *s == 201).unwrap() + 1;
    let id = won[0]["id"].as_i64().unwrap();
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/orders/{id}")))
        .bearer_auth(&fans[winner].0.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 204);
    let again = order(
        app,
        &fans[(winner % 49) + 1],
        &json!({ "schedule_id": schedule, "presale_code": "ONE-TICKET",
                 "best_available": { "count": 1, "category": "Club" } }),
    )
    .await;
    assert_eq!(again.status().as_u16(), 201);
}

#[tokio::test]
async fn presale_codes_open_hidden_seats_exactly_as_far_as_they_go_on_sqlite() {
    presale(Db::Sqlite).await;
}

#[tokio::test]
async fn presale_codes_open_hidden_seats_exactly_as_far_as_they_go_on_mariadb() {
    presale(Db::MariaDb).await;
}

#[tokio::test]
async fn presale_codes_open_hidden_seats_exactly_as_far_as_they_go_on_postgres() {
    presale(Db::Postgres).await;
}

async fn keyed_top_up(db: Db) {
    let app = &spawn(db, 8).await;
    let fan = app.create_user("topper").await;
    let charge = |amount: i64, key: &'static str| {
        let fan = &fan;
        async move {
            app.client
                .post(app.url("/api/v1/wallet/charge"))
                .bearer_auth(&fan.token)
                .header("Idempotency-Key", key)
                .json(&json!({ "amount": amount }))
                .send()
                .await
                .unwrap()
        }
    };
    let answers = join_all((0..50).map(|_| async {
        let res = charge(700, "top-up-1").await;
        let status = res.status().as_u16();
        let v: Value = res.json().await.unwrap();
        (status, v["balance"].as_i64())
    }))
    .await;
    assert!(
        answers.iter().all(|a| *a == (200, Some(700))),
        "every replay answers the first balance: {answers:?}"
    );
    assert_eq!(
        app.balance(&fan).await,
        700,
        "credited once ({})",
        db.name()
    );
    assert_problem(charge(5, "top-up-1").await, 422).await;
    assert_eq!(charge(300, "top-up-2").await.status().as_u16(), 200);
    assert_eq!(app.balance(&fan).await, 1_000);
}

#[tokio::test]
async fn a_top_up_retried_with_one_key_credits_once_on_sqlite() {
    keyed_top_up(Db::Sqlite).await;
}

#[tokio::test]
async fn a_top_up_retried_with_one_key_credits_once_on_mariadb() {
    keyed_top_up(Db::MariaDb).await;
}

#[tokio::test]
async fn a_top_up_retried_with_one_key_credits_once_on_postgres() {
    keyed_top_up(Db::Postgres).await;
}

/// A hold that ended unseen: its seat reads free, yet its expired reservation still holds
/// the seat's live index — what a claim meets when a hold expires between an order's read
/// of its seats and its claim. The next order takes the seat all the same (its attempt
/// meets the unique index, and the next one ends the stale reservation first).
async fn a_hold_expired_unseen(db: Db) {
    let app = spawn(db, 8).await;
    let (concert, schedule) = create_hall(&app).await;
    let fans = admitted_fans(&app, concert, 2).await;
    let map = app.seats(schedule).await;
    let seat = map[0]["id"].as_i64().unwrap();
    let body = json!({ "schedule_id": schedule, "seats": [seat] });
    let first = order(&app, &fans[0], &body).await;
    assert_eq!(
        first.status().as_u16(),
        201,
        "{}",
        first.text().await.unwrap()
    );
    let conn = sea_orm::Database::connect(app.settings.database.url.expose_secret())
        .await
        .unwrap();
    for sql in [
        format!(
            "UPDATE orders SET expires_at = 1 WHERE id IN (SELECT order_id FROM reservations WHERE seat_id = {seat})"
        ),
        format!("UPDATE reservations SET expires_at = 1 WHERE seat_id = {seat}"),
        format!(
            "UPDATE seats SET status = 'AVAILABLE', held_by = NULL, held_until = NULL WHERE id = {seat}"
        ),
    ] {
        conn.execute_unprepared(&sql).await.unwrap();
    }
    let second = order(&app, &fans[1], &body).await;
    assert_eq!(
        second.status().as_u16(),
        201,
        "{}: {}",
        db.name(),
        second.text().await.unwrap()
    );
    let rows = conn
        .query_all_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            format!(
                "SELECT status, live_seat_id FROM reservations WHERE seat_id = {seat} ORDER BY id"
            ),
        ))
        .await
        .unwrap();
    let got: Vec<(String, Option<i64>)> = rows
        .iter()
        .map(|r| {
            (
                r.try_get::<String>("", "status").unwrap(),
                r.try_get::<Option<i64>>("", "live_seat_id").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("EXPIRED".to_owned(), None),
            ("HELD".to_owned(), Some(seat))
        ],
        "{}",
        db.name()
    );
    app.stop().await;
}

#[tokio::test]
async fn a_hold_expired_unseen_gives_its_seat_to_the_next_order_on_sqlite() {
    a_hold_expired_unseen(Db::Sqlite).await;
}
#[tokio::test]
async fn a_hold_expired_unseen_gives_its_seat_to_the_next_order_on_mariadb() {
    a_hold_expired_unseen(Db::MariaDb).await;
}
#[tokio::test]
async fn a_hold_expired_unseen_gives_its_seat_to_the_next_order_on_postgres() {
    a_hold_expired_unseen(Db::Postgres).await;
}
