//! Rate limits, black-box: a limit is hit with a 429 problem and `Retry-After`, and
//! lifted after it; a real fan's cadence never meets one; sign-ups are limited across
//! instances on one Redis; `limits.enabled = false` turns them off.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use frontrow_app::Settings;
use frontrow_tests::app::{AppOptions, TestApp, assert_problem, signup_body, spawn_app_with};
use frontrow_tests::redis::redis_url;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// An app with the default limits, then `tweak`.
async fn limited_app(tweak: impl FnOnce(&mut Settings) + Send + 'static) -> TestApp {
    spawn_app_with(AppOptions {
        tweak: Box::new(move |s| {
            s.limits = frontrow_app::settings::Settings::default().limits;
            tweak(s);
        }),
        ..AppOptions::default()
    })
    .await
}

async fn sign_up(app: &TestApp) -> reqwest::Response {
    app.post_json("/api/v1/users", &signup_body("fan"), None)
        .await
}

/// The most calls a limit of `burst` refilled `per_minute` lets through in `elapsed`
/// (measured from before the first call to after the last): the burst plus what came
/// back meanwhile. A slow run only raises it, so the check never fails for slowness.
fn at_most(burst: u32, per_minute: u32, elapsed: Duration) -> usize {
    let refilled = elapsed.as_secs_f64() * f64::from(per_minute) / 60.0;
    burst as usize + refilled.floor() as usize
}

fn retry_after(res: &reqwest::Response) -> u64 {
    res.headers()
        .get("retry-after")
        .expect("Retry-After on a 429")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds")
}

#[tokio::test]
async fn sign_ups_over_the_limit_get_429_with_retry_after_and_are_lifted_after_it() {
    let app = limited_app(|s| {
        s.limits.signup_per_minute = 60;
        s.limits.signup_burst = 3;
    })
    .await;
    let started = Instant::now();
    for _ in 0..3 {
        assert_eq!(sign_up(&app).await.status(), StatusCode::CREATED);
    }
    // Sign up until refused: one a second comes back, so how many more pass depends on
    // how long the calls took, never fewer than none.
    let mut created = 3;
    let refused = loop {
        let res = sign_up(&app).await;
        if res.status() != StatusCode::CREATED {
            break res;
        }
        created += 1;
        assert!(
            created <= at_most(3, 60, started.elapsed()),
            "{created} sign-ups in {:?}",
            started.elapsed()
        );
    };
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&refused);
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    let p = assert_problem(refused, 429).await;
    assert_eq!(p["type"], "/problems/rate-limited");

    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("frontrow_rate_limited_total")
                && l.contains("class=\"signup\"")),
        "the refusal is counted"
    );

    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(sign_up(&app).await.status(), StatusCode::CREATED);
    app.stop().await;
}

#[tokio::test]
async fn one_user_entering_again_and_again_is_limited_by_user() {
    let app = limited_app(|s| {
        s.limits.signup_burst = 10;
        // The default burst, refilled once a minute: none comes back while the test runs.
        s.limits.enter_user_per_minute = 1;
    })
    .await;
    let concert = app.create_concert(1, 10, 100).await;
    let fan = app.create_user("fan").await;
    let other = app.create_user("other").await;
    let mut codes = Vec::new();
    for _ in 0..20 {
        codes.push(app.enter_queue(&fan, concert.id).await.status().as_u16());
    }
    // The default: a burst of 5 per user, far below the address's 60.
    assert_eq!(codes.iter().filter(|c| **c == 429).count(), 15, "{codes:?}");
    let refused = app.enter_queue(&fan, concert.id).await;
    let p = assert_problem(refused, 429).await;
    assert!(p["detail"].as_str().unwrap().contains("user"), "{p}");
    // Another user from the same address is not held back by the first one's count.
    assert!(
        app.enter_queue(&other, concert.id)
            .await
            .status()
            .is_success()
    );
    app.stop().await;
}

#[tokio::test]
async fn many_users_entering_from_one_address_are_limited_by_address() {
    let app = limited_app(|s| {
        s.limits.signup_burst = 100;
        s.limits.signup_per_minute = 6_000;
        s.limits.enter_burst = 10;
        // One more a minute: none comes back while the test runs.
        s.limits.enter_per_minute = 1;
    })
    .await;
    let concert = app.create_concert(1, 10, 100).await;
    let mut codes = Vec::new();
    for i in 0..15 {
        let fan = app.create_user(&format!("fan{i}")).await;
        codes.push(app.enter_queue(&fan, concert.id).await.status().as_u16());
    }
    assert_eq!(codes.iter().filter(|c| **c == 429).count(), 5, "{codes:?}");
    app.stop().await;
}

/// Twenty fans behind one address (a household, a small office) poll at the shortest
/// cadence the server ever advises, re-enter twice (page reloads) and follow the event
/// stream, with the default limits: none of them ever sees a 429.
#[tokio::test]
async fn fans_polling_at_the_advised_cadence_are_never_limited() {
    let app = limited_app(|s| {
        // Twenty sign-ups from one address is the one thing here a real household does
        // not do in a minute.
        s.limits.signup_burst = 20;
    })
    .await;
    let concert = app.create_concert(1, 10, 100).await;
    app.set_policy(
        concert.id,
        &json!({"max_active": 1, "admit_per_second": 1, "active_ttl_seconds": 600, "paused": true}),
    )
    .await;
    let mut fans = Vec::new();
    for i in 0..20 {
        fans.push(app.create_user(&format!("fan{i}")).await);
    }
    let tasks = fans.into_iter().map(|fan| {
        let client = app.client.clone();
        let base = app.address.clone();
        let concert = concert.id;
        async move {
            let mut codes = Vec::new();
            let mut token = String::new();
            for _ in 0..2 {
                let res = client
                    .post(format!("{base}/api/v1/concerts/{concert}/queue"))
                    .bearer_auth(&fan.token)
                    .send()
                    .await
                    .unwrap();
                codes.push(res.status().as_u16());
                let v: Value = res.json().await.unwrap_or_default();
                token = v["token"].as_str().unwrap_or_default().to_owned();
            }
            let events = client
                .get(format!("{base}/api/v1/queue/events?token={token}"))
                .send()
                .await
                .unwrap();
            codes.push(events.status().as_u16());
            drop(events);
            for _ in 0..12 {
                let res = client
                    .get(format!("{base}/api/v1/queue/status"))
                    .header("X-Queue-Token", &token)
                    .send()
                    .await
                    .unwrap();
                codes.push(res.status().as_u16());
                let v: Value = res.json().await.unwrap_or_default();
                let advised = v["poll_after_ms"].as_u64().unwrap_or(0);
                // The shortest advice the server gives, not the (longer) one it gave.
                assert!(advised >= frontrow_domain::queue::MIN_POLL_MS, "{v}");
                tokio::time::sleep(Duration::from_millis(frontrow_domain::queue::MIN_POLL_MS))
                    .await;
            }
            codes
        }
    });
    let codes: Vec<u16> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(codes.len(), 20 * (2 + 1 + 12));
    assert!(
        codes.iter().all(|c| *c == 200 || *c == 201),
        "every answer a success: {:?}",
        codes.iter().filter(|c| **c >= 400).collect::<Vec<_>>()
    );
    app.stop().await;
}

#[tokio::test]
async fn with_limits_off_nothing_is_limited() {
    let app = limited_app(|s| {
        s.limits.enabled = false;
        s.limits.signup_burst = 1;
    })
    .await;
    for _ in 0..30 {
        assert_eq!(sign_up(&app).await.status(), StatusCode::CREATED);
    }
    app.stop().await;
}

#[tokio::test]
async fn a_forwarded_address_counts_only_behind_a_trusted_proxy() {
    // Refilled once a minute: none comes back while the test runs.
    let untrusted = limited_app(|s| {
        s.limits.signup_burst = 2;
        s.limits.signup_per_minute = 1;
    })
    .await;
    let trusted = limited_app(|s| {
        s.limits.signup_burst = 2;
        s.limits.signup_per_minute = 1;
        s.limits.trusted_proxies = "127.0.0.1".into();
    })
    .await;
    let from = |app: &TestApp, ip: &str| {
        app.client
            .post(app.url("/api/v1/users"))
            .header("X-Forwarded-For", ip.to_owned())
            .json(&signup_body("fan"))
            .send()
    };
    // Not behind a trusted proxy: a made-up X-Forwarded-For changes nothing.
    let mut codes = Vec::new();
    for i in 0..4 {
        codes.push(
            from(&untrusted, &format!("198.51.100.{i}"))
                .await
                .unwrap()
                .status(),
        );
    }
    assert_eq!(codes.iter().filter(|c| **c == 429).count(), 2, "{codes:?}");
    // Behind one: each forwarded address has its own budget.
    for i in 0..4 {
        let res = from(&trusted, &format!("198.51.100.{i}")).await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let mut codes = Vec::new();
    for _ in 0..3 {
        codes.push(from(&trusted, "203.0.113.7").await.unwrap().status());
    }
    assert_eq!(codes.iter().filter(|c| **c == 429).count(), 1, "{codes:?}");
    untrusted.stop().await;
    trusted.stop().await;
}

#[tokio::test]
async fn two_instances_share_the_sign_up_limit_on_redis() {
    let redis = redis_url();
    let prefix = format!("t{}:", uuid::Uuid::new_v4().simple());
    let spawn = |prefix: String| {
        spawn_app_with(AppOptions {
            redis: Some(redis.clone()),
            tweak: Box::new(move |s| {
                s.redis.key_prefix = prefix;
                s.limits = frontrow_app::settings::Settings::default().limits;
                s.limits.signup_burst = 4;
                s.limits.signup_per_minute = 30;
            }),
            ..AppOptions::default()
        })
    };
    let (a, b) = (spawn(prefix.clone()).await, spawn(prefix).await);
    let started = Instant::now();
    let mut codes = Vec::new();
    for i in 0..8 {
        let app = if i % 2 == 0 { &a } else { &b };
        codes.push(sign_up(app).await.status().as_u16());
    }
    // Four in all, not four per instance (one more each 2 s the calls took).
    let elapsed = started.elapsed();
    assert_eq!(codes[..4], [201, 201, 201, 201]);
    assert!(codes.iter().all(|c| *c == 201 || *c == 429), "{codes:?}");
    let created = codes.iter().filter(|c| **c == 201).count();
    assert!(
        created <= at_most(4, 30, elapsed),
        "{codes:?} in {elapsed:?}"
    );
    let refused = sign_up(&b).await;
    let wait = retry_after(&refused);
    assert!(
        (1..=2).contains(&wait),
        "Retry-After {wait} (one sign-up per 2 s)"
    );
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let started = Instant::now();
    assert_eq!(sign_up(&a).await.status(), StatusCode::CREATED);
    // The one that came back is spent on both instances.
    let second = sign_up(&b).await.status();
    assert!(
        second == StatusCode::TOO_MANY_REQUESTS || at_most(1, 30, started.elapsed()) > 1,
        "{second}: the refill was spent through the other instance"
    );
    a.stop().await;
    b.stop().await;
}
