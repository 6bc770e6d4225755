//! A concert's draw outlives its line: drawn on Redis, archived in the database
//! (SQLite, MariaDB, PostgreSQL), it is still served and checks out with
//! `frontrow verify-draw` after the line retired (its Redis keys deleted) and after
//! Redis lost every key (`FLUSHALL` on a Redis of the test's own).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::Utc;
use frontrow_tests::app::{ADMIN_KEY, AppOptions, Db, TestApp, spawn_app_with};
use frontrow_tests::redis::OwnRedis;
use frontrow_tests::wait;
use futures::{StreamExt, stream};
use serde_json::{Value, json};

const FANS: usize = 150;

async fn json_of(res: reqwest::Response) -> Value {
    let status = res.status();
    let body = res.text().await.expect("body");
    assert!(status.is_success(), "{status}: {body}");
    serde_json::from_str(&body).expect("json")
}

async fn draw_of(app: &TestApp, concert: i64) -> Value {
    json_of(
        app.get(&format!("/api/v1/concerts/{concert}/draw"), None)
            .await,
    )
    .await
}

async fn a_retired_lines_draw_stays_public_and_checkable(db: Db) {
    let redis = OwnRedis::fresh();
    let app = spawn_app_with(AppOptions {
        db,
        redis: Some(redis.url()),
        tweak: Box::new(|s| s.queue.retire_after_seconds = 0),
        ..AppOptions::default()
    })
    .await;
    let concert = app.create_concert(2, 5, 100).await.id;
    let policy = |opens: String| {
        json!({"max_active": 1000, "admit_per_second": 1000, "active_ttl_seconds": 600,
               "paused": true, "sale_opens_at": opens})
    };
    let later = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    assert_eq!(app.set_policy(concert, &policy(later)).await.status(), 200);
    let app = &app;
    let entered: Vec<Value> = stream::iter(0..FANS)
        .map(|i| async move {
            let fan = app.create_user(&format!("fan{i}")).await;
            json_of(app.enter_queue(&fan, concert).await).await
        })
        .buffered(16)
        .collect()
        .await;
    assert!(entered.iter().all(|v| v["status"] == "PRE_QUEUE"));
    assert_eq!(
        app.set_policy(concert, &policy(Utc::now().to_rfc3339()))
            .await
            .status(),
        200
    );
    let drawn = wait::until("the draw", Duration::from_millis(50), || async {
        let d = draw_of(app, concert).await;
        if d["seed"].is_string() {
            Ok(d)
        } else {
            Err(format!("{d}"))
        }
    })
    .await;
    assert_eq!(drawn["entrants"], FANS as u64);

    // The operator closes the line; it retires at a tick (after 0 s), which deletes
    // every key of it but the life record.
    let res = app
        .client
        .post(app.url(&format!("/api/v1/admin/concerts/{concert}/queue/close")))
        .header("X-Admin-Key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    wait::until("the line retired", Duration::from_millis(50), || async {
        let left = redis.keys("*:draw");
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("{left:?}"))
        }
    })
    .await;
    assert_eq!(
        draw_of(app, concert).await,
        drawn,
        "served from the database"
    );
    let verified = frontrow_app::verify::verify_draw(&app.address, concert)
        .await
        .expect("the retired line's draw verifies");
    assert!(verified.contains(&format!("{FANS} receipts")), "{verified}");

    // Redis loses everything: the draw is still there, page by page.
    redis.flushall();
    assert_eq!(draw_of(app, concert).await, drawn);
    let page = json_of(
        app.get(
            &format!("/api/v1/concerts/{concert}/draw/receipts?offset=100&limit=30"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(page["total"], FANS as u64);
    assert_eq!(page["receipts"].as_array().unwrap().len(), 30);
    assert_eq!(page["seed"], drawn["seed"]);
    frontrow_app::verify::verify_draw(&app.address, concert)
        .await
        .expect("the draw verifies after Redis lost its data");
    drop(redis);
}

#[tokio::test]
async fn a_retired_lines_draw_stays_public_and_checkable_on_redis_and_sqlite() {
    a_retired_lines_draw_stays_public_and_checkable(Db::Sqlite).await;
}

#[tokio::test]
async fn a_retired_lines_draw_stays_public_and_checkable_on_redis_and_mariadb() {
    a_retired_lines_draw_stays_public_and_checkable(Db::MariaDb).await;
}

#[tokio::test]
async fn a_retired_lines_draw_stays_public_and_checkable_on_redis_and_postgres() {
    a_retired_lines_draw_stays_public_and_checkable(Db::Postgres).await;
}
