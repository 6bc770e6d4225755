//! A line on a Redis that writes an append-only file with `appendfsync always` survives
//! a crash of Redis (SIGKILL) and its restart from that file: every fan keeps their
//! standing and place, the app recovers without a restart, and a newcomer queues behind
//! everyone. (`docs/src/operator/season.md` says what `everysec` may lose instead.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use frontrow_tests::app::{AppOptions, spawn_app_with};
use frontrow_tests::redis::OwnRedis;
use frontrow_tests::wait;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

const FANS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_survives_a_redis_crash_with_an_append_only_file_on_redis() {
    let mut redis = OwnRedis::fresh_with(&["--appendonly", "yes", "--appendfsync", "always"]);
    let app = spawn_app_with(AppOptions {
        redis: Some(redis.url()),
        ..AppOptions::default()
    })
    .await;
    let concert = app.create_concert(1, 10, 100).await.id;
    let policy = json!({"max_active": 3, "admit_per_second": 100, "active_ttl_seconds": 600, "paused": false});
    assert_eq!(app.set_policy(concert, &policy).await.status(), 200);
    let mut tokens = Vec::new();
    for i in 0..FANS {
        let fan = app.create_user(&format!("fan{i}")).await;
        let v: Value = app.enter_queue(&fan, concert).await.json().await.unwrap();
        tokens.push(v["token"].as_str().unwrap().to_owned());
    }
    let standings = |app: &frontrow_tests::app::TestApp, tokens: Vec<String>| {
        let app = app.address.clone();
        async move {
            let client = reqwest::Client::new();
            let mut out = Vec::new();
            for t in tokens {
                let res = client
                    .get(format!("{app}/api/v1/queue/status"))
                    .header("X-Queue-Token", &t)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
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
    };
    let before = wait::until("three admitted", Duration::from_millis(50), || async {
        let s = standings(&app, tokens.clone()).await?;
        let active = s.iter().filter(|(st, _)| st == "ACTIVE").count();
        if active == 3 {
            Ok(s)
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;
    assert!(before[..3].iter().all(|(s, _)| s == "ACTIVE"), "{before:?}");
    let waiting: Vec<u64> = before[3..].iter().map(|(_, p)| p.unwrap()).collect();
    assert_eq!(waiting, (1..=(FANS - 3) as u64).collect::<Vec<_>>());

    // Redis crashes and comes back from its append-only file. A second instance,
    // started after it, knows the line from Redis alone.
    redis.restart();
    let second = spawn_app_with(AppOptions {
        redis: Some(redis.url()),
        database_url: Some(app.settings.database.url.expose_secret().to_owned()),
        tweak: Box::new({
            let prefix = app.settings.redis.key_prefix.clone();
            move |s| s.redis.key_prefix = prefix
        }),
        ..AppOptions::default()
    })
    .await;
    for instance in [&second, &app] {
        let after = wait::until("the line back", Duration::from_millis(100), || async {
            standings(instance, tokens.clone()).await
        })
        .await;
        assert_eq!(after, before, "every fan keeps their standing and place");
    }
    let newcomer = app.create_user("newcomer").await;
    let v = wait::until("a newcomer enters", Duration::from_millis(100), || async {
        let res = app.enter_queue(&newcomer, concert).await;
        match res.status().as_u16() {
            201 => Ok(res.json::<Value>().await.unwrap()),
            s => Err(format!("enter answered {s}")),
        }
    })
    .await;
    assert_eq!(v["position"], (FANS - 3 + 1) as u64, "behind everyone: {v}");
    second.stop().await;
    app.stop().await;
}
