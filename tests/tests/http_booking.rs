//! Black-box tests of the booking flow over HTTP (SQLite + in-memory queue): the happy
//! path, every error answer, and that nothing a client sends yields a 5xx.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use frontrow_tests::app::{
    AppOptions, TestApp, assert_problem, signup_body, spawn_app, spawn_app_with,
};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

async fn admitted_user(
    app: &TestApp,
    concert: i64,
    name: &str,
) -> (frontrow_tests::app::TestUser, String) {
    let u = app.create_user(name).await;
    let q = app.admitted(&u, concert, WAIT).await;
    (u, q)
}

#[tokio::test]
async fn a_fan_holds_pays_and_owns_a_seat() {
    let app = spawn_app().await;
    let concert = app.create_concert(2, 5, 7_500).await;
    assert_eq!(concert.seats.len(), 10);

    // catalog
    let list: Value = app
        .get("/api/v1/concerts", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == concert.id)
    );
    let detail: Value = app
        .get(&format!("/api/v1/concerts/{}", concert.id), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["schedules"][0]["available_seats"], 10);
    let scheds: Value = app
        .get(&format!("/api/v1/concerts/{}/schedules", concert.id), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(scheds[0]["id"], concert.schedule_id);
    let seats = app.seats(concert.schedule_id).await;
    assert_eq!(seats[0]["label"], "A-1");
    assert_eq!(seats[5]["label"], "B-1");
    assert_eq!(seats[0]["status"], "AVAILABLE");

    let (fan, q) = admitted_user(&app, concert.id, "Ada").await;
    let (seat, price) = concert.seats[3];
    let res = app.hold(&fan, Some(&q), concert.schedule_id, seat).await;
    assert_eq!(res.status(), 201);
    let r: Value = res.json().await.unwrap();
    assert_eq!(r["status"], "HELD");
    assert_eq!(r["seat_id"], seat);
    assert_eq!(r["price"], price);
    assert!(r["expires_at"].is_string());
    let rid = r["id"].as_i64().unwrap();

    let seats = app.seats(concert.schedule_id).await;
    assert_eq!(seats[3]["status"], "HELD");

    // not enough money yet
    assert_problem(app.pay(&fan, Some(&q), rid, Some("k1")).await, 402).await;
    assert_eq!(app.charge(&fan, 10_000).await.status(), 200);
    let res = app.pay(&fan, Some(&q), rid, Some("k2")).await;
    assert_eq!(res.status(), 200);
    let paid: Value = res.json().await.unwrap();
    assert_eq!(paid["status"], "CONFIRMED");
    assert_eq!(paid["amount"], price);
    assert_eq!(paid["balance"], 10_000 - price);
    assert_eq!(app.balance(&fan).await, 10_000 - price);

    // replay answers the same and charges once
    let again: Value = app
        .pay(&fan, Some(&q), rid, Some("k2"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again, paid);
    assert_eq!(app.balance(&fan).await, 10_000 - price);

    let r: Value = app
        .get(&format!("/api/v1/reservations/{rid}"), Some(&fan.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "CONFIRMED");
    let seats = app.seats(concert.schedule_id).await;
    assert_eq!(seats[3]["status"], "SOLD");
    // a sold reservation cannot be cancelled
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/reservations/{rid}")))
        .bearer_auth(&fan.token)
        .send()
        .await
        .unwrap();
    assert_problem(res, 409).await;
    app.stop().await;
}

#[tokio::test]
async fn holding_a_taken_seat_returns_409_and_cancel_frees_it() {
    let app = spawn_app().await;
    let concert = app.create_concert(1, 3, 100).await;
    let (a, qa) = admitted_user(&app, concert.id, "a").await;
    let (b, qb) = admitted_user(&app, concert.id, "b").await;
    let seat = concert.seats[0].0;
    let res = app.hold(&a, Some(&qa), concert.schedule_id, seat).await;
    assert_eq!(res.status(), 201);
    let rid = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let p = assert_problem(
        app.hold(&b, Some(&qb), concert.schedule_id, seat).await,
        409,
    )
    .await;
    assert_eq!(p["type"], "/problems/seat-taken");
    // the holder cannot hold it twice either
    assert_problem(
        app.hold(&a, Some(&qa), concert.schedule_id, seat).await,
        409,
    )
    .await;

    // b cannot see or cancel a's reservation
    assert_problem(
        app.get(&format!("/api/v1/reservations/{rid}"), Some(&b.token))
            .await,
        404,
    )
    .await;
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/reservations/{rid}")))
        .bearer_auth(&b.token)
        .send()
        .await
        .unwrap();
    assert_problem(res, 404).await;
    assert_problem(app.pay(&b, Some(&qb), rid, Some("x")).await, 404).await;

    let res = app
        .client
        .delete(app.url(&format!("/api/v1/reservations/{rid}")))
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let r: Value = app
        .get(&format!("/api/v1/reservations/{rid}"), Some(&a.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "CANCELLED");
    assert_problem(app.pay(&a, Some(&qa), rid, Some("y")).await, 410).await;
    assert_eq!(
        app.hold(&b, Some(&qb), concert.schedule_id, seat)
            .await
            .status(),
        201
    );
    app.stop().await;
}

#[tokio::test]
async fn an_expired_hold_answers_410_and_frees_the_seat() {
    let app = spawn_app_with(AppOptions {
        tweak: Box::new(|s| {
            s.booking.hold_ttl_seconds = 1;
            s.booking.sweep_interval_ms = 200;
        }),
        ..AppOptions::default()
    })
    .await;
    let concert = app.create_concert(1, 2, 100).await;
    let (a, qa) = admitted_user(&app, concert.id, "a").await;
    let (b, qb) = admitted_user(&app, concert.id, "b").await;
    let seat = concert.seats[0].0;
    let rid = app
        .hold(&a, Some(&qa), concert.schedule_id, seat)
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    app.charge(&a, 1_000).await;
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let p = assert_problem(app.pay(&a, Some(&qa), rid, Some("late")).await, 410).await;
    assert_eq!(p["type"], "/problems/hold-expired");
    assert_eq!(
        app.balance(&a).await,
        1_000,
        "an expired hold is never charged"
    );
    let r: Value = app
        .get(&format!("/api/v1/reservations/{rid}"), Some(&a.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "EXPIRED");
    let seats = app.seats(concert.schedule_id).await;
    assert_eq!(seats[0]["status"], "AVAILABLE");
    assert_eq!(
        app.hold(&b, Some(&qb), concert.schedule_id, seat)
            .await
            .status(),
        201
    );
    app.stop().await;
}

#[tokio::test]
async fn a_user_may_hold_at_most_the_configured_number_of_seats() {
    let app = spawn_app_with(AppOptions {
        tweak: Box::new(|s| s.booking.max_tickets_per_fan = 2),
        ..AppOptions::default()
    })
    .await;
    let concert = app.create_concert(1, 5, 100).await;
    let (a, qa) = admitted_user(&app, concert.id, "a").await;
    for i in 0..2 {
        assert_eq!(
            app.hold(&a, Some(&qa), concert.schedule_id, concert.seats[i].0)
                .await
                .status(),
            201
        );
    }
    let p = assert_problem(
        app.hold(&a, Some(&qa), concert.schedule_id, concert.seats[2].0)
            .await,
        409,
    )
    .await;
    assert_eq!(p["type"], "/problems/hold-limit-reached");
    app.stop().await;
}

#[tokio::test]
async fn a_key_reused_for_another_reservation_is_422_and_paying_twice_is_409() {
    let app = spawn_app().await;
    let concert = app.create_concert(1, 3, 100).await;
    let (a, qa) = admitted_user(&app, concert.id, "a").await;
    app.charge(&a, 1_000).await;
    let r1 = app
        .hold(&a, Some(&qa), concert.schedule_id, concert.seats[0].0)
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let r2 = app
        .hold(&a, Some(&qa), concert.schedule_id, concert.seats[1].0)
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(app.pay(&a, Some(&qa), r1, Some("same")).await.status(), 200);
    assert_problem(app.pay(&a, Some(&qa), r2, Some("same")).await, 422).await;
    assert_problem(app.pay(&a, Some(&qa), r1, Some("other")).await, 409).await;
    assert_eq!(app.balance(&a).await, 900);
    app.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_problem_document_never_a_5xx() {
    let app = spawn_app().await;
    let concert = app.create_concert(1, 2, 100).await;
    let (a, qa) = admitted_user(&app, concert.id, "a").await;

    // users
    assert_problem(app.post_json("/api/v1/users", &json!({}), None).await, 422).await;
    assert_problem(
        app.post_json("/api/v1/users", &json!({"name": 5}), None)
            .await,
        422,
    )
    .await;
    assert_problem(
        app.post_json(
            "/api/v1/users",
            &{
                let mut b = signup_body("x");
                b["name"] = json!("  ");
                b
            },
            None,
        )
        .await,
        422,
    )
    .await;
    let res = app
        .client
        .post(app.url("/api/v1/users"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_problem(res, 400).await;
    let res = app
        .client
        .post(app.url("/api/v1/users"))
        .body("name=x")
        .send()
        .await
        .unwrap();
    assert_problem(res, 415).await;
    let huge = json!({ "name": "x".repeat(300 * 1024) });
    assert_problem(app.post_json("/api/v1/users", &huge, None).await, 413).await;

    // auth
    assert_problem(app.get("/api/v1/wallet", None).await, 401).await;
    assert_problem(app.get("/api/v1/wallet", Some("garbage")).await, 401).await;
    let res = app
        .client
        .get(app.url("/api/v1/wallet"))
        .header("Authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_problem(res, 401).await;
    let forged = format!("{}x", &a.token[..a.token.len() - 1]);
    assert_problem(app.get("/api/v1/wallet", Some(&forged)).await, 401).await;

    // catalog ids
    assert_problem(app.get("/api/v1/concerts/999999", None).await, 404).await;
    assert_problem(app.get("/api/v1/concerts/abc", None).await, 404).await;
    assert_problem(
        app.get("/api/v1/concerts/99999999999999999999999", None)
            .await,
        404,
    )
    .await;
    assert_problem(
        app.get("/api/v1/concerts/999999/schedules", None).await,
        404,
    )
    .await;
    assert_problem(app.get("/api/v1/schedules/999999/seats", None).await, 404).await;
    assert_problem(app.get("/api/v1/nope", None).await, 404).await;

    // holds
    let res = app
        .client
        .post(app.url("/api/v1/reservations"))
        .bearer_auth(&a.token)
        .header("X-Queue-Token", &qa)
        .json(&json!({"schedule_id": "x", "seat_id": 1}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 422).await;
    assert_problem(app.hold(&a, Some(&qa), 999_999, 1).await, 404).await;
    assert_problem(
        app.hold(&a, Some(&qa), concert.schedule_id, 999_999).await,
        404,
    )
    .await;
    assert_problem(
        app.get("/api/v1/reservations/999999", Some(&a.token)).await,
        404,
    )
    .await;

    // payment
    let rid = app
        .hold(&a, Some(&qa), concert.schedule_id, concert.seats[0].0)
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let p = assert_problem(app.pay(&a, Some(&qa), rid, None).await, 400).await;
    assert!(p["detail"].as_str().unwrap().contains("Idempotency-Key"));
    assert_problem(
        app.pay(&a, Some(&qa), rid, Some(&"k".repeat(200))).await,
        422,
    )
    .await;
    assert_problem(app.pay(&a, Some(&qa), 999_999, Some("k")).await, 404).await;

    // wallet
    assert_problem(app.charge(&a, 0).await, 422).await;
    assert_problem(app.charge(&a, -5).await, 422).await;
    assert_problem(app.charge(&a, i64::MAX).await, 422).await;
    assert_problem(
        app.post_json(
            "/api/v1/wallet/charge",
            &json!({"amount": 1.5}),
            Some(&a.token),
        )
        .await,
        422,
    )
    .await;
    assert_problem(
        app.post_json(
            "/api/v1/wallet/charge",
            &json!({"amount": "10"}),
            Some(&a.token),
        )
        .await,
        422,
    )
    .await;

    // admin
    let res = app
        .client
        .post(app.url("/api/v1/admin/concerts"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 401).await;
    let res = app
        .client
        .post(app.url("/api/v1/admin/concerts"))
        .header("X-Admin-Key", "wrong-key-wrong-key")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 403).await;
    for bad in [
        json!({"title": "t", "venue": "v", "schedules": []}),
        json!({"title": "", "venue": "v", "schedules": [{"starts_at": "2030-01-01T00:00:00Z", "rows": 1, "seats_per_row": 1, "price": 1}]}),
        json!({"title": "t", "venue": "v", "schedules": [{"starts_at": "2030-01-01T00:00:00Z", "rows": 0, "seats_per_row": 1, "price": 1}]}),
        json!({"title": "t", "venue": "v", "schedules": [{"starts_at": "2030-01-01T00:00:00Z", "rows": 1000, "seats_per_row": 1000, "price": 1}]}),
        json!({"title": "t", "venue": "v", "schedules": [{"starts_at": "2030-01-01T00:00:00Z", "rows": -1, "seats_per_row": 1, "price": 1}]}),
        json!({"title": "t", "venue": "v", "schedules": [{"starts_at": "yesterday", "rows": 1, "seats_per_row": 1, "price": 1}]}),
        json!({"title": "t", "venue": "v", "schedules": [{"starts_at": "2030-01-01T00:00:00Z", "rows": 1, "seats_per_row": 1, "price": -1}]}),
        json!({"title": "t", "venue": "v"}),
    ] {
        assert_problem(app.create_concert_raw(&bad).await, 422).await;
    }
    app.stop().await;
}
