//! A rolling restart during a sale: two instances share Redis and the database; each is
//! stopped (gracefully) and replaced by a new one in turn while fans wait and poll. Every
//! fan keeps their standing and place through whichever instance answers, the replaced
//! instances admit the next fan when an admitted one leaves (nobody overtaken), and a
//! newcomer queues behind everyone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use frontrow_tests::app::{AppOptions, TestApp, TestUser, spawn_app_with};
use frontrow_tests::required_env;
use frontrow_tests::wait;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

const FANS: usize = 16;

/// A new instance on the same Redis keys and database as `like`.
async fn instance_like(like: &TestApp) -> TestApp {
    let prefix = like.settings.redis.key_prefix.clone();
    spawn_app_with(AppOptions {
        redis: like
            .settings
            .redis
            .url
            .as_ref()
            .map(|u| u.expose_secret().to_owned()),
        database_url: Some(like.settings.database.url.expose_secret().to_owned()),
        tweak: Box::new(move |s| s.redis.key_prefix = prefix),
        ..AppOptions::default()
    })
    .await
}

/// Every token's (status, position) through `app`.
async fn standings(app: &TestApp, tokens: &[String]) -> Result<Vec<(String, Option<u64>)>, String> {
    let mut out = Vec::new();
    for t in tokens {
        let res = app.queue_status(t).await;
        if res.status() != 200 {
            return Err(format!("status {}", res.status()));
        }
        let v: Value = res.json().await.map_err(|e| e.to_string())?;
        out.push((
            v["status"].as_str().unwrap().to_owned(),
            v["position"].as_u64(),
        ));
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_keeps_every_fans_place_on_redis() {
    let first = spawn_app_with(AppOptions {
        redis: Some(required_env("FRONTROW_TEST_REDIS_URL", "a Redis server")),
        ..AppOptions::default()
    })
    .await;
    let second = instance_like(&first).await;
    let concert = first.create_concert(1, 10, 100).await.id;
    let policy = json!({"max_active": 2, "admit_per_second": 100, "active_ttl_seconds": 600, "paused": false});
    assert_eq!(first.set_policy(concert, &policy).await.status(), 200);
    let mut fans: Vec<TestUser> = Vec::new();
    let mut tokens = Vec::new();
    for i in 0..FANS {
        let via = if i % 2 == 0 { &first } else { &second };
        let fan = via.create_user(&format!("fan{i}")).await;
        let v: Value = via.enter_queue(&fan, concert).await.json().await.unwrap();
        tokens.push(v["token"].as_str().unwrap().to_owned());
        fans.push(fan);
    }
    let before = wait::until("two admitted", Duration::from_millis(50), || async {
        let s = standings(&first, &tokens).await?;
        let active = s.iter().filter(|(st, _)| st == "ACTIVE").count();
        if active == 2 {
            Ok(s)
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;
    let waiting: Vec<u64> = before[2..].iter().map(|(_, p)| p.unwrap()).collect();
    assert_eq!(waiting, (1..=(FANS - 2) as u64).collect::<Vec<_>>());

    // Replace the first instance, then the second, each while the other serves.
    first.stop().await;
    assert_eq!(standings(&second, &tokens).await.unwrap(), before);
    let third = instance_like(&second).await;
    second.stop().await;
    let fourth = instance_like(&third).await;
    for instance in [&third, &fourth] {
        let after = wait::until(
            "the line through a new instance",
            Duration::from_millis(50),
            || async { standings(instance, &tokens).await },
        )
        .await;
        assert_eq!(after, before, "every fan keeps their standing and place");
    }

    // An admitted fan leaves: the new instances admit the first in line, nobody else.
    assert_eq!(third.leave_queue(&tokens[0]).await.status(), 204);
    let next = wait::until(
        "the next fan admitted",
        Duration::from_millis(50),
        || async {
            let s = standings(&fourth, &tokens[1..]).await?;
            if s[1].0 == "ACTIVE" {
                Ok(s)
            } else {
                Err(format!("{s:?}"))
            }
        },
    )
    .await;
    assert_eq!(next[0].0, "ACTIVE");
    let still: Vec<u64> = next[2..].iter().map(|(_, p)| p.unwrap()).collect();
    assert_eq!(
        still,
        (1..=(FANS - 3) as u64).collect::<Vec<_>>(),
        "nobody overtaken"
    );
    let newcomer = fourth.create_user("newcomer").await;
    let v: Value = fourth
        .enter_queue(&newcomer, concert)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["position"], (FANS - 3 + 1) as u64, "behind everyone: {v}");
    third.stop().await;
    fourth.stop().await;
}
