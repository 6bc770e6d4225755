//! Returns, the waiting list and cancelled shows over HTTP, on each database (SQLite with
//! the memory queue; MariaDB and PostgreSQL with Redis):
//! - 5 seats returned with 20 fans waiting (joined at once): the first 5 by position get
//!   offers in join order, a public buyer can take none of those seats (picked or
//!   best-available), a declined offer passes to the next fan at once and expired ones
//!   within one sweep (the sweep called directly with a clock 16 minutes on), and an
//!   offer is paid without a queue token;
//! - 50 concurrent replays of one return: one credit, the ticket revoked (on the gate
//!   kit's list), the seat back on sale when nobody waits;
//! - a return after check-in or after the cutoff is 409 and changes nothing;
//! - a cancelled show with 1,000 tickets, cancelled twice at once: every wallet credited
//!   exactly once, every ticket revoked, 0 places on sale, the fans' views say so;
//! - bad input is answered 4xx problem+json.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use chrono::Utc;
use frontrow_seaorm::{DbOptions, SeaOrmStore};
use frontrow_tests::app::{
    ADMIN_KEY, AppOptions, Db, TestApp, TestUser, assert_problem, spawn_app_with,
};
use frontrow_tests::required_env;
use reqwest::Response;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

const PRICE: i64 = 100;

async fn spawn(db: Db) -> TestApp {
    spawn_with(db, 32).await
}

async fn spawn_with(db: Db, connections: u32) -> TestApp {
    spawn_app_with(AppOptions {
        db,
        redis: (db != Db::Sqlite)
            .then(|| required_env("FRONTROW_TEST_REDIS_URL", "a Redis server")),
        database_url: None,
        tweak: Box::new(move |s| {
            s.booking.max_tickets_per_order = 100;
            s.booking.max_tickets_per_fan = 1000;
            s.booking.hold_ttl_seconds = 600;
            s.database.max_connections = connections;
        }),
    })
    .await
}

/// A store on the app's own database, to drive its sweep with another clock.
async fn store_of(app: &TestApp) -> SeaOrmStore {
    SeaOrmStore::connect(
        app.settings.database.url.expose_secret(),
        &DbOptions {
            max_connections: 4,
            connect_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(60),
            seat_claim: frontrow_seaorm::SeatClaim::default(),
        },
    )
    .await
    .unwrap()
}

/// A concert starting in `hours` with rows of seats at `PRICE` and a standing pit.
async fn concert(app: &TestApp, hours: i64, rows: &[u32], pit: u32) -> (i64, i64) {
    let starts = Utc::now() + chrono::Duration::hours(hours);
    let rows: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(i, n)| json!({ "label": format!("R{i}"), "seats": (1..=*n).collect::<Vec<_>>() }))
        .collect();
    let mut sections = Vec::new();
    if !rows.is_empty() {
        sections.push(json!({ "name": "Stalls", "category": "Seat", "rows": rows }));
    }
    if pit > 0 {
        sections.push(json!({ "name": "Pit", "category": "Floor", "capacity": pit }));
    }
    let res = app
        .create_concert_raw(&json!({
            "title": "Returns", "venue": "Hall",
            "schedules": [{ "starts_at": starts, "layout": {
                "categories": [{ "name": "Seat", "price": PRICE }, { "name": "Floor", "price": PRICE }],
                "sections": sections,
            }}]
        }))
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let v: Value = res.json().await.unwrap();
    (
        v["id"].as_i64().unwrap(),
        v["schedules"][0]["id"].as_i64().unwrap(),
    )
}

/// A fan with `credit` in the wallet.
async fn fan(app: &TestApp, name: &str, credit: i64) -> TestUser {
    let f = app.create_user(name).await;
    if credit > 0 {
        assert_eq!(app.charge(&f, credit).await.status(), 200);
    }
    f
}

/// Places one order of `body` for `fan` (admitted through the line) and, when `pay`,
/// pays it. Returns the order.
async fn order(app: &TestApp, fan: &TestUser, concert: i64, body: Value, pay: bool) -> Value {
    let q = app.admitted(fan, concert, Duration::from_secs(60)).await;
    let order = app.place_order(fan, &q, &body).await;
    if pay {
        app.pay_order(fan, &q, &order).await;
    }
    order
}

async fn tickets_of(app: &TestApp, fan: &TestUser) -> Vec<Value> {
    let res = app.get("/api/v1/tickets", Some(&fan.token)).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn return_raw(app: &TestApp, fan: &TestUser, ticket: i64, key: Option<&str>) -> Response {
    let mut r = app
        .client
        .post(app.url(&format!("/api/v1/tickets/{ticket}/return")))
        .bearer_auth(&fan.token);
    if let Some(k) = key {
        r = r.header("Idempotency-Key", k);
    }
    r.send().await.unwrap()
}

async fn return_ok(app: &TestApp, fan: &TestUser, ticket: i64) -> Value {
    let res = return_raw(app, fan, ticket, Some(&uuid::Uuid::new_v4().to_string())).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    res.json().await.unwrap()
}

async fn join(app: &TestApp, fan: &TestUser, schedule: i64, quantity: u32) -> Response {
    app.post_json(
        &format!("/api/v1/schedules/{schedule}/waitlist"),
        &json!({ "quantity": quantity }),
        Some(&fan.token),
    )
    .await
}

async fn entry(app: &TestApp, fan: &TestUser, schedule: i64) -> Value {
    let res = app
        .get(
            &format!("/api/v1/schedules/{schedule}/waitlist"),
            Some(&fan.token),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    res.json().await.unwrap()
}

async fn leave(app: &TestApp, fan: &TestUser, schedule: i64) -> Response {
    app.client
        .delete(app.url(&format!("/api/v1/schedules/{schedule}/waitlist")))
        .bearer_auth(&fan.token)
        .send()
        .await
        .unwrap()
}

async fn get_order(app: &TestApp, fan: &TestUser, id: i64) -> Value {
    let res = app
        .get(&format!("/api/v1/orders/{id}"), Some(&fan.token))
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn admin(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Response {
    let mut r = app
        .client
        .request(method, app.url(path))
        .header("X-Admin-Key", ADMIN_KEY);
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await.unwrap()
}

async fn set_cutoff(app: &TestApp, schedule: i64, minutes: Option<u32>) {
    let res = admin(
        app,
        reqwest::Method::PUT,
        &format!("/api/v1/admin/schedules/{schedule}/returns"),
        Some(json!({ "cutoff_minutes": minutes })),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

async fn available(app: &TestApp, schedule: i64) -> (u64, u64) {
    let res = app
        .get(&format!("/api/v1/schedules/{schedule}/availability"), None)
        .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    let sum = |k: &str| {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|c| c["available"].as_u64().unwrap())
            .sum::<u64>()
    };
    (sum("categories"), sum("standing"))
}

async fn gate_kit(app: &TestApp, schedule: i64) -> Value {
    let res = admin(
        app,
        reqwest::Method::POST,
        &format!("/api/v1/admin/schedules/{schedule}/gate-keys"),
        Some(json!({ "label": "North" })),
    )
    .await;
    assert_eq!(res.status(), 201);
    let key: Value = res.json().await.unwrap();
    let res = app
        .client
        .get(app.url(&format!("/api/v1/schedules/{schedule}/gate-kit")))
        .header("X-Gate-Key", key["key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn revoked_ids(kit: &Value) -> Vec<i64> {
    kit["revocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ticket_id"].as_i64().unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------

async fn waiting_list(db: Db) {
    let app = spawn(db).await;
    let (concert_id, schedule) = concert(&app, 48, &[10], 0).await;
    let owner = fan(&app, "owner", 10 * PRICE).await;
    let early = fan(&app, "early", 0).await;
    assert_eq!(
        assert_problem(join(&app, &early, schedule, 1).await, 409).await["type"],
        "/problems/not-sold-out"
    );
    let seats: Vec<i64> = app
        .seats(schedule)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(seats.len(), 10);
    let public = fan(&app, "public", 10 * PRICE).await;
    let q = app
        .admitted(&public, concert_id, Duration::from_secs(60))
        .await;
    order(
        &app,
        &owner,
        concert_id,
        json!({ "schedule_id": schedule, "seats": seats }),
        true,
    )
    .await;

    // 20 fans join at once: 20 distinct positions, 1 to 20.
    let mut fans = Vec::new();
    for i in 0..20 {
        fans.push(fan(&app, &format!("waiting {i}"), PRICE).await);
    }
    let joined = futures::future::join_all(fans.iter().map(|f| join(&app, f, schedule, 1))).await;
    let mut by_position: Vec<(u64, usize)> = Vec::new();
    for (i, res) in joined.into_iter().enumerate() {
        assert_eq!(res.status(), 201);
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["status"], "waiting");
        by_position.push((v["position"].as_u64().unwrap(), i));
    }
    // Positions are read after each insert: re-read them now all have joined.
    for p in &mut by_position {
        p.0 = entry(&app, &fans[p.1], schedule).await["position"]
            .as_u64()
            .unwrap();
    }
    by_position.sort_unstable();
    assert_eq!(
        by_position.iter().map(|p| p.0).collect::<Vec<_>>(),
        (1..=20).collect::<Vec<u64>>(),
        "join order is exact"
    );
    let line: Vec<&TestUser> = by_position.iter().map(|p| &fans[p.1]).collect();
    assert_eq!(
        assert_problem(join(&app, line[0], schedule, 1).await, 409).await["type"],
        "/problems/waitlist-already-joined"
    );

    // The owner returns 5 tickets: the first 5 fans get offers, in join order.
    set_cutoff(&app, schedule, Some(0)).await;
    let owned = tickets_of(&app, &owner).await;
    let mut returned_seats = Vec::new();
    for t in owned.iter().take(5) {
        assert_eq!(t["status"], "valid");
        assert_eq!(t["returnable"], true);
        let r = return_ok(&app, &owner, t["id"].as_i64().unwrap()).await;
        assert_eq!(r["refunded"], PRICE);
        returned_seats.push(t["seat_id"].as_i64().unwrap());
    }
    assert_eq!(app.balance(&owner).await, 5 * PRICE);
    let mut offers = Vec::new();
    for (k, f) in line.iter().enumerate() {
        let e = entry(&app, f, schedule).await;
        if k < 5 {
            assert_eq!(e["status"], "offered", "fan at position {}", k + 1);
            let id = e["offer"]["order_id"].as_i64().unwrap();
            let o = get_order(&app, f, id).await;
            assert_eq!(o["status"], "HELD");
            assert_eq!(o["waitlist_offer"], true);
            assert_eq!(
                o["positions"][0]["seat_id"].as_i64(),
                Some(returned_seats[k])
            );
            offers.push(id);
        } else {
            assert_eq!(e["status"], "waiting");
            assert_eq!(e["position"].as_u64(), Some(k as u64 + 1));
        }
    }
    println!(
        "waiting list on {}: offers in join order for positions 1-5",
        db.name()
    );

    // A public buyer can take none of the offered seats.
    assert_eq!(available(&app, schedule).await, (0, 0));
    // The line closed at the sell-out: nobody gets in while the returned seats are
    // offers; a buyer admitted before it closed is refused the seats themselves.
    let late = fan(&app, "late", 0).await;
    assert_eq!(
        assert_problem(app.enter_queue(&late, concert_id).await, 409).await["type"],
        "/problems/queue-closed"
    );
    for body in [
        json!({ "schedule_id": schedule, "seats": [returned_seats[0]] }),
        json!({ "schedule_id": schedule, "best_available": { "count": 1 } }),
    ] {
        let res = app
            .client
            .post(app.url("/api/v1/orders"))
            .bearer_auth(&public.token)
            .header("X-Queue-Token", &q)
            .json(&body)
            .send()
            .await
            .unwrap();
        let p = assert_problem(res, 409).await;
        let kind = p["type"].as_str().unwrap();
        assert!(
            ["/problems/seats-taken", "/problems/no-seats-left"].contains(&kind),
            "{p}"
        );
    }

    // Declined: the next fan has the offer at once.
    let started = Instant::now();
    let res = leave(&app, line[0], schedule).await;
    let declined_in = started.elapsed();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "declined");
    let e5 = entry(&app, line[5], schedule).await;
    assert_eq!(e5["status"], "offered");
    let o5 = get_order(&app, line[5], e5["offer"]["order_id"].as_i64().unwrap()).await;
    assert_eq!(
        o5["positions"][0]["seat_id"].as_i64(),
        Some(returned_seats[0])
    );

    // Accepted: paid without a queue token; the fan's ticket is issued.
    let res = app
        .client
        .post(app.url(&format!("/api/v1/orders/{}/payment", offers[1])))
        .bearer_auth(&line[1].token)
        .header("Idempotency-Key", "offer-1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(entry(&app, line[1], schedule).await["status"], "done");
    let t1 = tickets_of(&app, line[1]).await;
    assert_eq!(t1.len(), 1);
    assert_eq!(t1[0]["seat_id"].as_i64(), Some(returned_seats[1]));
    assert_eq!(app.balance(line[1]).await, 0);

    // Expired: one sweep with the clock 16 minutes on passes the four open offers
    // (positions 3, 4, 5 and 6) to the next four fans, in order.
    let store = store_of(&app).await;
    let later = Utc::now() + chrono::Duration::minutes(16);
    let started = Instant::now();
    let ended = store
        .ports()
        .orders
        .release_expired(later, 1_000)
        .await
        .unwrap();
    let swept_in = started.elapsed();
    assert_eq!(ended, 4);
    let mut passed = Vec::new();
    for (k, f) in line.iter().enumerate().skip(2) {
        let e = entry(&app, f, schedule).await;
        let want = match k {
            2..=5 => "expired",
            6..=9 => "offered",
            _ => "waiting",
        };
        assert_eq!(e["status"], want, "fan at position {}", k + 1);
        if want == "offered" {
            let o = get_order(&app, f, e["offer"]["order_id"].as_i64().unwrap()).await;
            passed.push(o["positions"][0]["seat_id"].as_i64().unwrap());
        }
    }
    passed.sort_unstable();
    let mut expired_seats = vec![
        returned_seats[0],
        returned_seats[2],
        returned_seats[3],
        returned_seats[4],
    ];
    expired_seats.sort_unstable();
    assert_eq!(
        passed, expired_seats,
        "the expired offers' seats went to the next four"
    );
    let summary: Value = admin(
        &app,
        reqwest::Method::GET,
        &format!("/api/v1/admin/schedules/{schedule}/returns"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(summary["offered"], 4);
    assert_eq!(summary["waiting"], 10);
    assert_eq!(summary["returned"], 5);
    println!(
        "waiting list on {}: a declined offer passed on in {declined_in:?} (the DELETE), \
         4 expired offers passed on in one sweep of {swept_in:?}",
        db.name()
    );
    store.close().await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn five_returns_go_to_the_first_five_of_twenty_waiting_on_sqlite() {
    waiting_list(Db::Sqlite).await;
}

#[tokio::test]
async fn five_returns_go_to_the_first_five_of_twenty_waiting_on_mariadb() {
    waiting_list(Db::MariaDb).await;
}

#[tokio::test]
async fn five_returns_go_to_the_first_five_of_twenty_waiting_on_postgres() {
    waiting_list(Db::Postgres).await;
}

// ---------------------------------------------------------------------------------------

async fn replays(db: Db) {
    let app = spawn(db).await;
    let (concert_id, schedule) = concert(&app, 48, &[10], 5).await;
    set_cutoff(&app, schedule, Some(60)).await;
    let buyer = fan(&app, "buyer", 2 * PRICE).await;
    let o = order(
        &app,
        &buyer,
        concert_id,
        json!({ "schedule_id": schedule, "best_available": { "count": 2 } }),
        true,
    )
    .await;
    assert_eq!(app.balance(&buyer).await, 0);
    assert_eq!(available(&app, schedule).await, (8, 5));
    let tickets = tickets_of(&app, &buyer).await;
    let (a, b) = (
        tickets[0]["id"].as_i64().unwrap(),
        tickets[1]["id"].as_i64().unwrap(),
    );

    // 50 concurrent replays of one key: one credit.
    let answers =
        futures::future::join_all((0..50).map(|_| return_raw(&app, &buyer, a, Some("return-a"))))
            .await;
    let mut first = 0;
    for res in answers {
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["refunded"], PRICE);
        assert_eq!(v["balance"], PRICE);
        assert_eq!(v["ticket_id"].as_i64(), Some(a));
        first += usize::from(v["replayed"] == false);
    }
    assert_eq!(first, 1, "one of the 50 answers is the return itself");
    assert_eq!(app.balance(&buyer).await, PRICE, "credited once");
    let o = get_order(&app, &buyer, o["id"].as_i64().unwrap()).await;
    assert_eq!(o["status"], "PAID");
    assert_eq!(o["refunded"], PRICE);
    assert_eq!(o["refunds"].as_array().unwrap().len(), 1);
    assert_eq!(o["refunds"][0]["kind"], "return");
    // Revoked at once: on the gate kit's list; nobody waits, so the seat is on sale.
    assert!(revoked_ids(&gate_kit(&app, schedule).await).contains(&a));
    let t = tickets_of(&app, &buyer).await;
    let ta = t.iter().find(|t| t["id"].as_i64() == Some(a)).unwrap();
    assert_eq!(ta["status"], "returned");
    assert_eq!(ta["returnable"], false);
    assert!(ta["code"].is_null());
    assert_eq!(available(&app, schedule).await, (9, 5));

    // Another key for the same ticket: already returned; this key for another ticket:
    // reused. Nothing changes.
    let res = return_raw(&app, &buyer, a, Some("return-a-again")).await;
    assert_eq!(
        assert_problem(res, 409).await["type"],
        "/problems/ticket-already-returned"
    );
    let res = return_raw(&app, &buyer, b, Some("return-a")).await;
    assert_eq!(
        assert_problem(res, 422).await["type"],
        "/problems/idempotency-key-reused"
    );
    assert_eq!(app.balance(&buyer).await, PRICE);
    let t = tickets_of(&app, &buyer).await;
    let tb = t.iter().find(|t| t["id"].as_i64() == Some(b)).unwrap();
    assert_eq!(tb["status"], "valid");

    // A standing place: the price of one place back, the place back in its area.
    let standing = fan(&app, "standing", PRICE).await;
    order(
        &app,
        &standing,
        concert_id,
        json!({ "schedule_id": schedule, "standing": [{ "area": "Pit", "quantity": 1 }] }),
        true,
    )
    .await;
    assert_eq!(available(&app, schedule).await, (9, 4));
    let place = tickets_of(&app, &standing).await[0]["id"].as_i64().unwrap();
    let r = return_ok(&app, &standing, place).await;
    assert_eq!(r["refunded"], PRICE);
    assert_eq!(app.balance(&standing).await, PRICE);
    assert_eq!(available(&app, schedule).await, (9, 5));
    assert_eq!(tickets_of(&app, &standing).await[0]["status"], "returned");
    app.stop().await;
}

#[tokio::test]
async fn fifty_replays_of_a_return_credit_once_on_sqlite() {
    replays(Db::Sqlite).await;
}

#[tokio::test]
async fn fifty_replays_of_a_return_credit_once_on_mariadb() {
    replays(Db::MariaDb).await;
}

#[tokio::test]
async fn fifty_replays_of_a_return_credit_once_on_postgres() {
    replays(Db::Postgres).await;
}

// ---------------------------------------------------------------------------------------

async fn standing_offer(db: Db) {
    // One connection: the order's take of places and the offer of a returned one run the
    // same statement text on it, so a binding of other types than the cached statement's
    // fails every time, not by chance of the pool (it did, once, on PostgreSQL).
    let app = spawn_with(db, 1).await;
    let (concert_id, schedule) = concert(&app, 48, &[], 2).await;
    set_cutoff(&app, schedule, Some(0)).await;
    let buyer = fan(&app, "buyer", 2 * PRICE).await;
    order(
        &app,
        &buyer,
        concert_id,
        json!({ "schedule_id": schedule, "standing": [{ "area": "Pit", "quantity": 2 }] }),
        true,
    )
    .await;
    let waiting = fan(&app, "waiting", PRICE).await;
    assert_eq!(join(&app, &waiting, schedule, 1).await.status(), 201);
    let place = tickets_of(&app, &buyer).await[0]["id"].as_i64().unwrap();
    return_ok(&app, &buyer, place).await;
    let e = entry(&app, &waiting, schedule).await;
    assert_eq!(e["status"], "offered");
    let offer = get_order(&app, &waiting, e["offer"]["order_id"].as_i64().unwrap()).await;
    assert_eq!(offer["positions"][0]["area"], "Pit");
    assert_eq!(offer["total"], PRICE);
    assert_eq!(
        available(&app, schedule).await,
        (0, 0),
        "held for the fan alone"
    );
    // Expired with nobody else waiting: the place is back on sale after one sweep.
    let store = store_of(&app).await;
    let later = Utc::now() + chrono::Duration::minutes(16);
    assert_eq!(
        store
            .ports()
            .orders
            .release_expired(later, 1_000)
            .await
            .unwrap(),
        1
    );
    assert_eq!(entry(&app, &waiting, schedule).await["status"], "expired");
    assert_eq!(available(&app, schedule).await, (0, 1));
    store.close().await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn a_returned_standing_place_is_offered_then_back_on_sale_on_sqlite() {
    standing_offer(Db::Sqlite).await;
}

#[tokio::test]
async fn a_returned_standing_place_is_offered_then_back_on_sale_on_mariadb() {
    standing_offer(Db::MariaDb).await;
}

#[tokio::test]
async fn a_returned_standing_place_is_offered_then_back_on_sale_on_postgres() {
    standing_offer(Db::Postgres).await;
}

// ---------------------------------------------------------------------------------------

/// A fan at the per-fan limit who returns a standing place may buy one again (and the
/// same for a seat): a returned ticket no longer counts against the allowance.
async fn allowance_back(db: Db) {
    let app = spawn_app_with(AppOptions {
        db,
        redis: (db != Db::Sqlite)
            .then(|| required_env("FRONTROW_TEST_REDIS_URL", "a Redis server")),
        database_url: None,
        tweak: Box::new(|s| {
            s.booking.max_tickets_per_fan = 2;
            s.booking.hold_ttl_seconds = 600;
        }),
    })
    .await;
    let (concert_id, schedule) = concert(&app, 48, &[4], 4).await;
    set_cutoff(&app, schedule, Some(0)).await;
    let f = fan(&app, "allowance", 10 * PRICE).await;
    let pit = |quantity: u32| json!({ "schedule_id": schedule, "standing": [{ "area": "Pit", "quantity": quantity }] });
    let seat = json!({ "schedule_id": schedule, "best_available": { "count": 1 } });
    order(&app, &f, concert_id, pit(1), true).await;
    order(&app, &f, concert_id, seat.clone(), true).await;
    let try_order = |body: Value| {
        let app = &app;
        let f = &f;
        async move {
            let q = app.admitted(f, concert_id, Duration::from_secs(60)).await;
            app.client
                .post(app.url("/api/v1/orders"))
                .bearer_auth(&f.token)
                .header("X-Queue-Token", q)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    // At the limit: a third ticket of either kind is refused.
    for body in [pit(1), seat.clone()] {
        let p = assert_problem(try_order(body).await, 409).await;
        assert!(
            p["type"]
                .as_str()
                .unwrap()
                .ends_with("ticket-limit-reached"),
            "{p}"
        );
    }
    let tickets = tickets_of(&app, &f).await;
    let of_kind = |standing: bool| {
        tickets
            .iter()
            .find(|t| t["area_id"].is_i64() == standing)
            .unwrap_or_else(|| panic!("a ticket with standing = {standing}: {tickets:?}"))["id"]
            .as_i64()
            .unwrap()
    };
    // The standing place returned: one standing place may be bought again, not two.
    return_ok(&app, &f, of_kind(true)).await;
    assert_eq!(
        try_order(pit(2)).await.status(),
        409,
        "one place back, not two"
    );
    let res = try_order(pit(1)).await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    // The seat returned: a seat again.
    let held: Value = app
        .get("/api/v1/orders", Some(&f.token))
        .await
        .json()
        .await
        .unwrap();
    let held = held
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["status"] == "HELD")
        .expect("the held standing order")["id"]
        .as_i64()
        .unwrap();
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/orders/{held}")))
        .bearer_auth(&f.token)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "cancel: {}", res.status());
    return_ok(&app, &f, of_kind(false)).await;
    let res = try_order(json!({ "schedule_id": schedule, "best_available": { "count": 2 } })).await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    app.stop().await;
}

#[tokio::test]
async fn a_returned_ticket_gives_its_place_back_to_the_fan_limit_on_sqlite() {
    allowance_back(Db::Sqlite).await;
}

#[tokio::test]
async fn a_returned_ticket_gives_its_place_back_to_the_fan_limit_on_mariadb() {
    allowance_back(Db::MariaDb).await;
}

#[tokio::test]
async fn a_returned_ticket_gives_its_place_back_to_the_fan_limit_on_postgres() {
    allowance_back(Db::Postgres).await;
}

// ---------------------------------------------------------------------------------------

async fn refusals(db: Db) {
    let app = spawn(db).await;
    // Starts in an hour: inside the default cutoff (24 h), and its codes are valid now.
    let (concert_id, schedule) = concert(&app, 1, &[10], 0).await;
    let buyer = fan(&app, "buyer", 2 * PRICE).await;
    order(
        &app,
        &buyer,
        concert_id,
        json!({ "schedule_id": schedule, "best_available": { "count": 2 } }),
        true,
    )
    .await;
    let tickets = tickets_of(&app, &buyer).await;
    let a = tickets[0]["id"].as_i64().unwrap();
    assert_eq!(tickets[0]["returnable"], false);
    assert!(tickets[0]["return_until"].is_string());
    let res = return_raw(&app, &buyer, a, Some("late")).await;
    assert_eq!(
        assert_problem(res, 409).await["type"],
        "/problems/return-cutoff-passed"
    );
    assert_eq!(app.balance(&buyer).await, 0);
    assert_eq!(tickets_of(&app, &buyer).await, tickets, "nothing changed");

    // Checked in: refused even with the cutoff at the start.
    set_cutoff(&app, schedule, Some(0)).await;
    let res = admin(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/admin/schedules/{schedule}/gate-keys"),
        Some(json!({ "label": "Doors" })),
    )
    .await;
    let key: Value = res.json().await.unwrap();
    let res = app
        .client
        .post(app.url("/api/v1/checkins"))
        .header("X-Gate-Key", key["key"].as_str().unwrap())
        .json(&json!({
            "code": tickets[1]["code"], "gate": "North", "device": "d1",
            "nonce": uuid::Uuid::new_v4().to_string(), "scanned_at": Utc::now(),
        }))
        .send()
        .await
        .unwrap();
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["result"], "admitted");
    let b = tickets[1]["id"].as_i64().unwrap();
    let res = return_raw(&app, &buyer, b, Some("after-doors")).await;
    assert_eq!(
        assert_problem(res, 409).await["type"],
        "/problems/ticket-checked-in"
    );
    assert_eq!(app.balance(&buyer).await, 0);
    let t = tickets_of(&app, &buyer).await;
    assert_eq!(t[1]["status"], "checked_in");
    assert_eq!(t[1]["returnable"], false);
    assert!(revoked_ids(&gate_kit(&app, schedule).await).is_empty());
    // The other one may go now.
    assert_eq!(t[0]["returnable"], true);
    return_ok(&app, &buyer, a).await;
    assert_eq!(app.balance(&buyer).await, PRICE);
    app.stop().await;
}

#[tokio::test]
async fn returns_after_check_in_or_the_cutoff_are_409_on_sqlite() {
    refusals(Db::Sqlite).await;
}

#[tokio::test]
async fn returns_after_check_in_or_the_cutoff_are_409_on_mariadb() {
    refusals(Db::MariaDb).await;
}

#[tokio::test]
async fn returns_after_check_in_or_the_cutoff_are_409_on_postgres() {
    refusals(Db::Postgres).await;
}

// ---------------------------------------------------------------------------------------

const FANS: usize = 20;
const PER_FAN: u32 = 50;

async fn cancelled_show(db: Db) {
    let app = spawn(db).await;
    // 1,000 seats sold to 20 fans, 10 more of which 5 are held, and a pit of 5.
    let mut rows = vec![100; 10];
    rows.push(10);
    let (concert_id, schedule) = concert(&app, 48, &rows, 5).await;
    let mut fans = Vec::new();
    let mut orders = Vec::new();
    for i in 0..FANS {
        let f = fan(&app, &format!("fan {i}"), i64::from(PER_FAN) * PRICE).await;
        let o = order(
            &app,
            &f,
            concert_id,
            json!({ "schedule_id": schedule, "best_available": { "count": PER_FAN, "allow_split": true } }),
            true,
        )
        .await;
        assert_eq!(app.balance(&f).await, 0);
        orders.push(o["id"].as_i64().unwrap());
        fans.push(f);
    }
    let holder = fan(&app, "holder", 0).await;
    let held = order(
        &app,
        &holder,
        concert_id,
        json!({ "schedule_id": schedule, "best_available": { "count": 5, "allow_split": true } }),
        false,
    )
    .await;
    assert_eq!(available(&app, schedule).await, (5, 5));

    // Cancelled twice at once.
    let path = format!("/api/v1/admin/schedules/{schedule}/cancel");
    let started = Instant::now();
    let (r1, r2) = tokio::join!(
        admin(&app, reqwest::Method::POST, &path, None),
        admin(&app, reqwest::Method::POST, &path, None)
    );
    let took = started.elapsed();
    let mut reports = Vec::new();
    for r in [r1, r2] {
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        reports.push(r.json::<Value>().await.unwrap());
    }
    let sum = |k: &str| reports.iter().map(|r| r[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(
        sum("orders_refunded"),
        FANS as u64,
        "each order refunded by one cancel"
    );
    assert_eq!(sum("tickets_revoked"), u64::from(PER_FAN) * FANS as u64);
    assert_eq!(sum("held_orders_cancelled"), 1);
    assert_eq!(
        sum("amount_refunded"),
        u64::from(PER_FAN) * FANS as u64 * PRICE as u64
    );
    assert_eq!(reports.iter().filter(|r| r["first"] == true).count(), 1);
    assert!(reports.iter().all(|r| r["line_closed"] == true));
    println!(
        "cancelled show on {}: {} tickets of {FANS} orders refunded and revoked by two \
         concurrent cancels in {took:?}",
        db.name(),
        sum("tickets_revoked")
    );

    // Every wallet credited exactly once; every ticket cancelled; the views say so.
    for (f, id) in fans.iter().zip(&orders) {
        assert_eq!(app.balance(f).await, i64::from(PER_FAN) * PRICE);
        let o = get_order(&app, f, *id).await;
        assert_eq!(o["show_cancelled"], true);
        assert_eq!(o["refunded"], i64::from(PER_FAN) * PRICE);
        assert_eq!(o["refunds"].as_array().unwrap().len(), 1);
        assert_eq!(o["refunds"][0]["kind"], "show_cancelled");
    }
    let t = tickets_of(&app, &fans[0]).await;
    assert_eq!(t.len(), PER_FAN as usize);
    assert!(
        t.iter()
            .all(|t| t["status"] == "cancelled" && t["returnable"] == false)
    );
    let h = get_order(&app, &holder, held["id"].as_i64().unwrap()).await;
    assert_eq!(h["status"], "CANCELLED");
    assert_eq!(h["show_cancelled"], true);
    assert_eq!(
        revoked_ids(&gate_kit(&app, schedule).await).len(),
        PER_FAN as usize * FANS
    );

    // Nothing on sale, and nothing sold again; the concert's only date is cancelled, so
    // its line is closed.
    assert_eq!(available(&app, schedule).await, (0, 0));
    let late = fan(&app, "late", 0).await;
    assert_eq!(
        assert_problem(app.enter_queue(&late, concert_id).await, 409).await["type"],
        "/problems/queue-closed"
    );
    let res = return_raw(&app, &fans[1], t[0]["id"].as_i64().unwrap(), Some("k")).await;
    assert_problem(res, 404).await;
    let own = tickets_of(&app, &fans[1]).await;
    let res = return_raw(&app, &fans[1], own[0]["id"].as_i64().unwrap(), Some("k")).await;
    assert_eq!(
        assert_problem(res, 409).await["type"],
        "/problems/show-cancelled"
    );
    let again = admin(&app, reqwest::Method::POST, &path, None).await;
    let again: Value = again.json().await.unwrap();
    assert_eq!(
        (again["first"].clone(), again["orders_refunded"].clone()),
        (json!(false), json!(0))
    );
    for f in &fans {
        assert_eq!(
            app.balance(f).await,
            i64::from(PER_FAN) * PRICE,
            "still once"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_cancelled_show_of_1000_tickets_refunds_each_wallet_once_on_sqlite() {
    cancelled_show(Db::Sqlite).await;
}

#[tokio::test]
async fn a_cancelled_show_of_1000_tickets_refunds_each_wallet_once_on_mariadb() {
    cancelled_show(Db::MariaDb).await;
}

#[tokio::test]
async fn a_cancelled_show_of_1000_tickets_refunds_each_wallet_once_on_postgres() {
    cancelled_show(Db::Postgres).await;
}

// ---------------------------------------------------------------------------------------

async fn bad_input(db: Db) {
    let app = spawn(db).await;
    let (concert_id, schedule) = concert(&app, 48, &[2], 0).await;
    let buyer = fan(&app, "buyer", PRICE).await;
    let other = fan(&app, "other", 0).await;
    order(
        &app,
        &buyer,
        concert_id,
        json!({ "schedule_id": schedule, "best_available": { "count": 1 } }),
        true,
    )
    .await;
    let t = tickets_of(&app, &buyer).await[0]["id"].as_i64().unwrap();

    assert_problem(return_raw(&app, &buyer, t, None).await, 400).await;
    let long = "k".repeat(129);
    assert_problem(return_raw(&app, &buyer, t, Some(&long)).await, 422).await;
    assert_problem(return_raw(&app, &other, t, Some("k")).await, 404).await;
    assert_problem(return_raw(&app, &buyer, t + 1_000, Some("k")).await, 404).await;
    let res = app
        .client
        .post(app.url(&format!("/api/v1/tickets/{t}/return")))
        .header("Idempotency-Key", "k")
        .send()
        .await
        .unwrap();
    assert_problem(res, 401).await;
    let res = app
        .client
        .post(app.url("/api/v1/tickets/nine/return"))
        .bearer_auth(&buyer.token)
        .header("Idempotency-Key", "k")
        .send()
        .await
        .unwrap();
    assert_problem(res, 404).await;

    for body in [
        json!({ "quantity": 0 }),
        json!({ "quantity": 101 }),
        json!({ "quantity": "two" }),
        json!({ "quantity": 1, "seat": 3 }),
        json!({}),
    ] {
        let res = app
            .post_json(
                &format!("/api/v1/schedules/{schedule}/waitlist"),
                &body,
                Some(&other.token),
            )
            .await;
        assert_problem(res, 422).await;
    }
    assert_problem(join(&app, &other, schedule + 1_000, 1).await, 404).await;
    assert_eq!(
        assert_problem(join(&app, &other, schedule, 1).await, 409).await["type"],
        "/problems/not-sold-out"
    );
    let res = app
        .get(
            &format!("/api/v1/schedules/{schedule}/waitlist"),
            Some(&other.token),
        )
        .await;
    assert_problem(res, 404).await;
    assert_problem(leave(&app, &other, schedule).await, 404).await;
    let res = app
        .get(&format!("/api/v1/schedules/{schedule}/waitlist"), None)
        .await;
    assert_problem(res, 401).await;

    let cancel = format!("/api/v1/admin/schedules/{schedule}/cancel");
    let res = app.client.post(app.url(&cancel)).send().await.unwrap();
    assert_problem(res, 401).await;
    let res = app
        .client
        .post(app.url(&cancel))
        .header("X-Admin-Key", "wrong")
        .send()
        .await
        .unwrap();
    assert_problem(res, 403).await;
    let res = admin(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/admin/schedules/{}/cancel", schedule + 1_000),
        None,
    )
    .await;
    assert_problem(res, 404).await;
    let returns = format!("/api/v1/admin/schedules/{schedule}/returns");
    for body in [
        json!({ "cutoff_minutes": 525_601 }),
        json!({ "cutoff_minutes": -1 }),
        json!({ "cutoff_minutes": 60, "other": 1 }),
    ] {
        let res = admin(&app, reqwest::Method::PUT, &returns, Some(body)).await;
        assert_problem(res, 422).await;
    }
    // Nothing was lost: the ticket is still the buyer's, valid, and nothing credited.
    assert_eq!(tickets_of(&app, &buyer).await[0]["status"], "valid");
    assert_eq!(app.balance(&buyer).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn bad_returns_input_is_answered_4xx_problem_json_on_sqlite() {
    bad_input(Db::Sqlite).await;
}

#[tokio::test]
async fn bad_returns_input_is_answered_4xx_problem_json_on_mariadb() {
    bad_input(Db::MariaDb).await;
}

#[tokio::test]
async fn bad_returns_input_is_answered_4xx_problem_json_on_postgres() {
    bad_input(Db::Postgres).await;
}
