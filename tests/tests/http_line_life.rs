//! Black-box tests of a line's life over HTTP, on the in-memory queue and on Redis: a
//! sold-out line closes and retires by itself and its late pollers read `SOLD_OUT`; an
//! operator closes (enter: 409 `queue-closed`, waiting fans read `CLOSED`) and reopens.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use frontrow_tests::app::{ADMIN_KEY, AppOptions, TestApp, assert_problem, spawn_app_with};
use frontrow_tests::required_env;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

async fn app_on(redis: bool) -> TestApp {
    spawn_app_with(AppOptions {
        redis: redis.then(|| required_env("FRONTROW_TEST_REDIS_URL", "a Redis server")),
        // Retire at the first tick after closing.
        tweak: Box::new(|s| s.queue.retire_after_seconds = 0),
        ..AppOptions::default()
    })
    .await
}

async fn admin_post(app: &TestApp, path: &str) -> Value {
    let res = app
        .client
        .post(app.url(path))
        .header("X-Admin-Key", ADMIN_KEY)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.expect("json")
}

async fn status_of(app: &TestApp, token: &str) -> String {
    let res = app.queue_status(token).await;
    assert_eq!(res.status(), 200, "a late poll is answered, not an error");
    let v: Value = res.json().await.expect("json");
    v["status"].as_str().expect("status").to_owned()
}

/// Polls until the token reads `want` (the ticker closes and retires the line).
async fn until_status(app: &TestApp, token: &str, want: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = status_of(app, token).await;
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "still {got}, not {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_sold_out_line_closes_retires_and_answers_late_pollers(redis: bool) {
    let app = app_on(redis).await;
    let concert = app.create_concert(1, 1, 100).await;
    let buyer = app.create_user("buyer").await;
    let late = app.create_user("late").await;
    assert_eq!(app.charge(&buyer, 100).await.status(), 200);
    let token = app.admitted(&buyer, concert.id, WAIT).await;
    let waiting: Value = app
        .enter_queue(&late, concert.id)
        .await
        .json()
        .await
        .unwrap();
    let waiting = waiting["token"].as_str().unwrap().to_owned();
    let held: Value = app
        .hold(
            &buyer,
            Some(&token),
            concert.schedule_id,
            concert.seats[0].0,
        )
        .await
        .json()
        .await
        .unwrap();
    let paid = app
        .pay(
            &buyer,
            Some(&token),
            held["id"].as_i64().unwrap(),
            Some("k1"),
        )
        .await;
    assert_eq!(paid.status(), 200);

    // Sold out with no hold left: the line closes, then retires; the fan still in line
    // reads SOLD_OUT throughout, never an error.
    until_status(&app, &waiting, "SOLD_OUT").await;
    let probe = app.create_user("probe").await;
    let deadline = Instant::now() + WAIT;
    loop {
        let res = app.enter_queue(&probe, concert.id).await;
        if res.status() == 409 {
            let problem = assert_problem(res, 409).await;
            assert!(
                problem["type"].as_str().unwrap().ends_with("queue-closed"),
                "{problem}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the line did not close");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The buyer's admission ended with the payment (EXPIRED); once the line retires,
    // every token of it reads how it ended.
    until_status(&app, &token, "SOLD_OUT").await;
    assert_eq!(status_of(&app, &waiting).await, "SOLD_OUT");
    app.stop().await;
}

async fn an_operator_closes_and_reopens_a_line(redis: bool) {
    let app = app_on(redis).await;
    let concert = app.create_concert(1, 4, 100).await;
    let paused =
        json!({"max_active": 1, "admit_per_second": 100, "active_ttl_seconds": 60, "paused": true});
    assert_eq!(app.set_policy(concert.id, &paused).await.status(), 200);
    let fan = app.create_user("fan").await;
    let v: Value = app
        .enter_queue(&fan, concert.id)
        .await
        .json()
        .await
        .unwrap();
    let token = v["token"].as_str().unwrap().to_owned();

    let life = admin_post(
        &app,
        &format!("/api/v1/admin/concerts/{}/queue/close", concert.id),
    )
    .await;
    assert_eq!(
        (life["state"].as_str(), life["reason"].as_str()),
        (Some("CLOSED"), Some("OPERATOR"))
    );
    assert_eq!(status_of(&app, &token).await, "CLOSED");
    let other = app.create_user("other").await;
    let problem = assert_problem(app.enter_queue(&other, concert.id).await, 409).await;
    assert!(
        problem["type"].as_str().unwrap().ends_with("queue-closed"),
        "{problem}"
    );

    // Retire after 0 s: the line retires at a tick; the fan still reads CLOSED.
    until_status(&app, &token, "CLOSED").await;
    let life = admin_post(
        &app,
        &format!("/api/v1/admin/concerts/{}/queue/open", concert.id),
    )
    .await;
    assert_eq!(life["state"], "OPEN");
    let res = app.enter_queue(&other, concert.id).await;
    assert_eq!(res.status(), 201, "a reopened line takes fans again");
    let res = app
        .client
        .post(app.url("/api/v1/admin/concerts/999999/queue/close"))
        .header("X-Admin-Key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_problem(res, 404).await;
    app.stop().await;
}

#[tokio::test]
async fn a_sold_out_line_closes_retires_and_answers_late_pollers_in_memory() {
    a_sold_out_line_closes_retires_and_answers_late_pollers(false).await;
}

#[tokio::test]
async fn a_sold_out_line_closes_retires_and_answers_late_pollers_on_redis() {
    a_sold_out_line_closes_retires_and_answers_late_pollers(true).await;
}

#[tokio::test]
async fn an_operator_closes_and_reopens_a_line_in_memory() {
    an_operator_closes_and_reopens_a_line(false).await;
}

#[tokio::test]
async fn an_operator_closes_and_reopens_a_line_on_redis() {
    an_operator_closes_and_reopens_a_line(true).await;
}
