//! Proof-of-work on enter, black-box: missing, wrong and replayed proofs are a 403
//! `/problems/pow-required`; a solved challenge enters once, on one instance or across
//! two sharing a Redis.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use frontrow_app::guard::pow::solve;
use frontrow_tests::app::{
    AppOptions, TestApp, TestUser, assert_problem, spawn_app, spawn_app_with,
};
use frontrow_tests::redis::redis_url;
use serde_json::{Value, json};

const BITS: u8 = 10;

async fn ask_pow(app: &TestApp, concert: i64, bits: u8) {
    let res = app
        .set_policy(
            concert,
            &json!({"max_active": 100, "admit_per_second": 100, "active_ttl_seconds": 600,
                    "paused": false, "pow_difficulty": bits}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let policy: Value = res.json().await.unwrap();
    assert_eq!(policy["pow_difficulty"], bits);
}

async fn challenge(app: &TestApp, user: &TestUser, concert: i64) -> Value {
    let res = app
        .get(
            &format!("/api/v1/concerts/{concert}/queue/challenge"),
            Some(&user.token),
        )
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn enter(
    app: &TestApp,
    user: &TestUser,
    concert: i64,
    pow: Option<&str>,
) -> reqwest::Response {
    let mut r = app
        .client
        .post(app.url(&format!("/api/v1/concerts/{concert}/queue")))
        .bearer_auth(&user.token);
    if let Some(p) = pow {
        r = r.header("X-Pow", p);
    }
    r.send().await.unwrap()
}

fn solved(c: &Value) -> String {
    let ch = c["challenge"].as_str().unwrap();
    format!(
        "{ch}:{}",
        solve(ch, u8::try_from(c["difficulty"].as_u64().unwrap()).unwrap())
    )
}

#[tokio::test]
async fn enter_asks_a_proof_of_work_when_the_policy_does_and_refuses_a_replay() {
    let app = spawn_app().await;
    let concert = app.create_concert(1, 10, 100).await;
    let fan = app.create_user("fan").await;
    // Off by default: enter as before, and a challenge says difficulty 0.
    assert_eq!(challenge(&app, &fan, concert.id).await["difficulty"], 0);
    assert_eq!(enter(&app, &fan, concert.id, None).await.status(), 201);

    ask_pow(&app, concert.id, BITS).await;
    let other = app.create_user("other").await;
    let p = assert_problem(enter(&app, &other, concert.id, None).await, 403).await;
    assert_eq!(p["type"], "/problems/pow-required");

    let c = challenge(&app, &other, concert.id).await;
    assert_eq!(c["difficulty"], BITS);
    assert!(c["expires_at"].as_str().is_some());
    // Another user's solved challenge is not this user's.
    let stolen = solved(&challenge(&app, &fan, concert.id).await);
    let p = assert_problem(enter(&app, &other, concert.id, Some(&stolen)).await, 403).await;
    assert_eq!(p["type"], "/problems/pow-required");
    // A wrong nonce.
    let wrong = format!("{}:not-a-solution", c["challenge"].as_str().unwrap());
    assert_problem(enter(&app, &other, concert.id, Some(&wrong)).await, 403).await;

    let proof = solved(&c);
    assert_eq!(
        enter(&app, &other, concert.id, Some(&proof)).await.status(),
        201
    );
    let p = assert_problem(enter(&app, &other, concert.id, Some(&proof)).await, 403).await;
    assert!(
        p["detail"].as_str().unwrap().contains("already used"),
        "{p}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_challenge_of_an_unknown_concert_is_a_404() {
    let app = spawn_app().await;
    let fan = app.create_user("fan").await;
    let res = app
        .get("/api/v1/concerts/987654/queue/challenge", Some(&fan.token))
        .await;
    assert_problem(res, 404).await;
    let res = app.get("/api/v1/concerts/1/queue/challenge", None).await;
    assert_problem(res, 401).await;
    app.stop().await;
}

#[tokio::test]
async fn a_proof_of_work_replayed_on_another_instance_is_refused_on_redis() {
    let redis = redis_url();
    let prefix = format!("t{}:", uuid::Uuid::new_v4().simple());
    let db = frontrow_tests::app::fresh_database_url(frontrow_tests::app::Db::Sqlite).await;
    let spawn = |prefix: String| {
        spawn_app_with(AppOptions {
            redis: Some(redis.clone()),
            database_url: Some(db.clone()),
            tweak: Box::new(move |s| s.redis.key_prefix = prefix),
            ..AppOptions::default()
        })
    };
    let (a, b) = (spawn(prefix.clone()).await, spawn(prefix).await);
    let concert = a.create_concert(1, 10, 100).await;
    ask_pow(&a, concert.id, BITS).await;
    let fan = a.create_user("fan").await;
    // Issued by one instance, accepted by the other: the challenge is stateless.
    let proof = solved(&challenge(&a, &fan, concert.id).await);
    assert_eq!(
        enter(&b, &fan, concert.id, Some(&proof)).await.status(),
        201
    );
    let p = assert_problem(enter(&a, &fan, concert.id, Some(&proof)).await, 403).await;
    assert!(
        p["detail"].as_str().unwrap().contains("already used"),
        "{p}"
    );
    a.stop().await;
    b.stop().await;
}
