//! Keeping a hold longer over HTTP (`POST /reservations/{id}/extend`, WCAG 2.2.1): once,
//! by the configured extension, for the holder only, never for an ended hold.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::{DateTime, Utc};
use frontrow_tests::app::{AppOptions, TestApp, TestUser, assert_problem, spawn_app_with};
use serde_json::Value;

async fn extend(app: &TestApp, user: Option<&TestUser>, reservation: i64) -> reqwest::Response {
    let mut r = app
        .client
        .post(app.url(&format!("/api/v1/reservations/{reservation}/extend")));
    if let Some(u) = user {
        r = r.bearer_auth(&u.token);
    }
    r.send().await.unwrap()
}

fn instant(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_hold_is_extended_once_by_the_configured_time() {
    // An admission of an hour: the whole extension fits in it (a hold never outlives
    // its buyer's admission; that cap is the next test's).
    let app = spawn_app_with(AppOptions {
        tweak: Box::new(|s| s.queue.active_ttl_seconds = 3600),
        ..AppOptions::default()
    })
    .await;
    let c = app.create_concert(1, 3, 100).await;
    let fan = app.create_user("Ada").await;
    let other = app.create_user("Eve").await;
    let q = app.admitted(&fan, c.id, Duration::from_secs(10)).await;
    let held: Value = app
        .hold(&fan, Some(&q), c.schedule_id, c.seats[0].0)
        .await
        .json()
        .await
        .unwrap();
    let id = held["id"].as_i64().unwrap();
    assert_eq!(held["extendable"], Value::Bool(true));
    assert_eq!(held["extension_seconds"], 300);
    assert!(held["extended_at"].is_null());

    assert_problem(extend(&app, None, id).await, 401).await;
    assert_problem(extend(&app, Some(&other), id).await, 404).await;
    assert_problem(extend(&app, Some(&fan), 999_999).await, 404).await;
    assert_problem(extend(&app, Some(&fan), -1).await, 404).await;

    let res = extend(&app, Some(&fan), id).await;
    assert_eq!(res.status(), 200);
    let e: Value = res.json().await.unwrap();
    assert_eq!(
        instant(&e["expires_at"]) - instant(&held["expires_at"]),
        chrono::Duration::seconds(300)
    );
    assert_eq!(e["extendable"], Value::Bool(false));
    assert!(!e["extended_at"].is_null());
    let read: Value = app
        .get(&format!("/api/v1/reservations/{id}"), Some(&fan.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["expires_at"], e["expires_at"]);

    let again = assert_problem(extend(&app, Some(&fan), id).await, 409).await;
    assert!(
        again["type"]
            .as_str()
            .unwrap()
            .ends_with("/hold-already-extended"),
        "{again}"
    );
    // Paid: nothing to extend.
    assert_eq!(app.charge(&fan, 100).await.status(), 200);
    assert_eq!(app.pay(&fan, Some(&q), id, Some("k")).await.status(), 200);
    let paid = assert_problem(extend(&app, Some(&fan), id).await, 409).await;
    assert!(
        paid["type"].as_str().unwrap().ends_with("/already-paid"),
        "{paid}"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_ended_hold_is_gone_and_a_zero_extension_refuses() {
    let app = spawn_app_with(AppOptions {
        tweak: Box::new(|s| {
            s.booking.hold_ttl_seconds = 1;
            s.booking.hold_extension_seconds = 0;
        }),
        ..AppOptions::default()
    })
    .await;
    let c = app.create_concert(1, 2, 100).await;
    let fan = app.create_user("Ada").await;
    let q = app.admitted(&fan, c.id, Duration::from_secs(10)).await;
    let held: Value = app
        .hold(&fan, Some(&q), c.schedule_id, c.seats[0].0)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(held["extendable"], Value::Bool(false));
    assert_eq!(held["extension_seconds"], 0);
    let id = held["id"].as_i64().unwrap();
    let off = assert_problem(extend(&app, Some(&fan), id).await, 409).await;
    assert!(
        off["type"]
            .as_str()
            .unwrap()
            .ends_with("/hold-extension-not-allowed"),
        "{off}"
    );
    app.stop().await;

    let app = spawn_app_with(AppOptions {
        tweak: Box::new(|s| s.booking.hold_ttl_seconds = 1),
        ..AppOptions::default()
    })
    .await;
    let c = app.create_concert(1, 2, 100).await;
    let fan = app.create_user("Ada").await;
    let q = app.admitted(&fan, c.id, Duration::from_secs(10)).await;
    let held: Value = app
        .hold(&fan, Some(&q), c.schedule_id, c.seats[0].0)
        .await
        .json()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_problem(
        extend(&app, Some(&fan), held["id"].as_i64().unwrap()).await,
        410,
    )
    .await;
    app.stop().await;
}
