//! Black-box tests of the waiting room over HTTP, on the in-memory queue and on Redis:
//! enter/status/leave, admission, gating of booking (every 401/403), and Redis outages
//! (503 with Retry-After, then recovery without a restart).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use frontrow_tests::admission::{admits_within_the_rate, fills_to_max_active_and_no_further};
use frontrow_tests::app::{AppOptions, TestApp, assert_problem, spawn_app_with};
use frontrow_tests::redis::{OwnRedis, server_port};
use frontrow_tests::required_env;
use frontrow_tests::wait;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

fn redis_url() -> String {
    required_env("FRONTROW_TEST_REDIS_URL", "a Redis server")
}

async fn app_on(
    redis: bool,
    tweak: impl FnOnce(&mut frontrow_app::Settings) + Send + 'static,
) -> TestApp {
    spawn_app_with(AppOptions {
        redis: redis.then(redis_url),
        tweak: Box::new(tweak),
        ..AppOptions::default()
    })
    .await
}

async fn enter_and_gate_flow(redis: bool) {
    // Admission paused at first: everyone waits.
    let app = app_on(redis, |_| {}).await;
    let concert = app.create_concert(1, 4, 100).await;
    let other = app.create_concert(1, 1, 100).await;
    let paused =
        json!({"max_active": 1, "admit_per_second": 100, "active_ttl_seconds": 60, "paused": true});
    assert_eq!(app.set_policy(concert.id, &paused).await.status(), 200);

    let a = app.create_user("a").await;
    let b = app.create_user("b").await;
    let res = app.enter_queue(&a, concert.id).await;
    assert_eq!(res.status(), 201);
    let ta: Value = res.json().await.unwrap();
    assert_eq!(ta["status"], "WAITING");
    assert_eq!(ta["position"], 1);
    assert_eq!(ta["ahead"], 0);
    assert!(ta["active_until"].is_null());
    let qa = ta["token"].as_str().unwrap().to_owned();
    assert!(qa.len() >= 32, "token too short: {qa}");

    let res = app.enter_queue(&a, concert.id).await;
    assert_eq!(res.status(), 200, "re-entering answers 200");
    let again: Value = res.json().await.unwrap();
    assert_eq!(again["token"], ta["token"]);
    assert_eq!(again["position"], 1);

    let tb: Value = app.enter_queue(&b, concert.id).await.json().await.unwrap();
    assert_eq!(tb["position"], 2);
    assert_eq!(tb["ahead"], 1);
    let qb = tb["token"].as_str().unwrap().to_owned();
    assert_ne!(qa, qb);

    let st: Value = app.queue_status(&qb).await.json().await.unwrap();
    assert_eq!(st["status"], "WAITING");
    assert_eq!(st["position"], 2);

    // gating while waiting: 403; without token 401; forged 401
    let seat = concert.seats[0].0;
    let p = assert_problem(
        app.hold(&a, Some(&qa), concert.schedule_id, seat).await,
        403,
    )
    .await;
    assert_eq!(p["type"], "/problems/not-admitted");
    assert_problem(app.hold(&a, None, concert.schedule_id, seat).await, 401).await;
    let forged = format!("{}.{}", concert.id, "0".repeat(32));
    assert_problem(
        app.hold(&a, Some(&forged), concert.schedule_id, seat).await,
        401,
    )
    .await;
    assert_problem(
        app.hold(&a, Some("garbage"), concert.schedule_id, seat)
            .await,
        401,
    )
    .await;
    assert_problem(app.queue_status(&forged).await, 401).await;
    assert_problem(app.queue_status("garbage").await, 401).await;
    let res = app
        .client
        .get(app.url("/api/v1/queue/status"))
        .send()
        .await
        .unwrap();
    assert_problem(res, 401).await;

    // resume with room for one: a (head of line) is admitted, b still waits
    let open = json!({"max_active": 1, "admit_per_second": 100, "active_ttl_seconds": 60, "paused": false});
    assert_eq!(app.set_policy(concert.id, &open).await.status(), 200);
    let deadline = Instant::now() + WAIT;
    loop {
        let st: Value = app.queue_status(&qa).await.json().await.unwrap();
        if st["status"] == "ACTIVE" {
            assert!(st["position"].is_null());
            assert!(st["active_until"].is_string());
            break;
        }
        assert!(Instant::now() < deadline, "a never admitted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let st: Value = app.queue_status(&qb).await.json().await.unwrap();
    assert_eq!(st["status"], "WAITING", "max_active = 1 keeps b waiting");
    assert_eq!(st["position"], 1);

    // another user's token: 403; another concert's: 403
    let p = assert_problem(
        app.hold(&b, Some(&qa), concert.schedule_id, seat).await,
        403,
    )
    .await;
    assert_eq!(p["type"], "/problems/queue-token-other-user");
    let p = assert_problem(
        app.hold(&a, Some(&qa), other.schedule_id, other.seats[0].0)
            .await,
        403,
    )
    .await;
    assert_eq!(p["type"], "/problems/queue-token-other-concert");

    // admitted: hold and pay; paying the last hold frees the slot, so b gets in
    let res = app.hold(&a, Some(&qa), concert.schedule_id, seat).await;
    assert_eq!(res.status(), 201);
    let rid = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    app.charge(&a, 500).await;
    assert_eq!(
        app.pay(&a, Some(&qa), rid, Some("pay-1")).await.status(),
        200
    );
    let st: Value = app.queue_status(&qa).await.json().await.unwrap();
    assert_eq!(
        st["status"], "EXPIRED",
        "payment with no hold left frees the slot"
    );
    let p = assert_problem(
        app.hold(&a, Some(&qa), concert.schedule_id, concert.seats[1].0)
            .await,
        403,
    )
    .await;
    assert_eq!(p["type"], "/problems/queue-token-expired");
    let qb_active = app.admitted(&b, concert.id, WAIT).await;
    assert_eq!(qb_active, qb, "b keeps its token");

    // leaving frees the slot too
    assert_eq!(app.leave_queue(&qb).await.status(), 204);
    let st: Value = app.queue_status(&qb).await.json().await.unwrap();
    assert_eq!(st["status"], "EXPIRED");
    assert_problem(app.leave_queue(&forged).await, 401).await;
    // entering after expiry gives a new place
    let res = app.enter_queue(&b, concert.id).await;
    assert_eq!(res.status(), 201);
    assert_ne!(res.json::<Value>().await.unwrap()["token"], json!(qb));

    let stats = app.queue_stats(concert.id).await;
    assert!(stats["admitted_total"].as_u64().unwrap() >= 2, "{stats}");
    for k in ["waiting", "active", "expired_total", "admit_rate"] {
        assert!(stats.get(k).is_some(), "stats lack {k}");
    }
    assert_problem(app.enter_queue(&a, 999_999).await, 404).await;
    app.stop().await;
}

#[tokio::test]
async fn queue_and_gate_over_http_on_memory() {
    enter_and_gate_flow(false).await;
}

#[tokio::test]
async fn queue_and_gate_over_http_on_redis() {
    enter_and_gate_flow(true).await;
}

#[tokio::test]
async fn admin_policy_rejects_bad_values_and_bad_keys() {
    let app = app_on(false, |_| {}).await;
    let concert = app.create_concert(1, 1, 100).await;
    for bad in [
        json!({"max_active": 0, "admit_per_second": 1, "active_ttl_seconds": 1}),
        json!({"max_active": 1, "admit_per_second": 0, "active_ttl_seconds": 1}),
        json!({"max_active": 1, "admit_per_second": 1, "active_ttl_seconds": 0}),
        json!({"max_active": -1, "admit_per_second": 1, "active_ttl_seconds": 1}),
        json!({"max_active": "many", "admit_per_second": 1, "active_ttl_seconds": 1}),
        json!({"max_active": 1, "admit_per_second": 1, "active_ttl_seconds": 1, "admit_per_seat": 0.5}),
        json!({"max_active": 1, "admit_per_second": 1, "active_ttl_seconds": 1, "sale_opens_at": "soon"}),
    ] {
        assert_problem(app.set_policy(concert.id, &bad).await, 422).await;
    }
    let good =
        json!({"max_active": 5, "admit_per_second": 2, "active_ttl_seconds": 30, "paused": false});
    assert_problem(app.set_policy(999_999, &good).await, 404).await;
    let res = app
        .client
        .put(app.url(&format!(
            "/api/v1/admin/concerts/{}/queue-policy",
            concert.id
        )))
        .json(&good)
        .send()
        .await
        .unwrap();
    assert_problem(res, 401).await;
    let res = app
        .client
        .get(app.url(&format!(
            "/api/v1/admin/concerts/{}/queue-stats",
            concert.id
        )))
        .send()
        .await
        .unwrap();
    assert_problem(res, 401).await;
    let v: Value = app
        .set_policy(concert.id, &good)
        .await
        .json()
        .await
        .unwrap();
    // The policy in force: what was sent, and defaults for the fields left out.
    for (k, sent) in good.as_object().unwrap() {
        assert_eq!(&v[k], sent, "{k}");
    }
    assert_eq!(v["pow_difficulty"], 0);
    assert_eq!(v["admit_per_seat"], 1.5);
    app.stop().await;
}

#[tokio::test]
async fn a_redis_outage_answers_503_with_retry_after_and_recovers_on_redis() {
    let dir =
        std::env::temp_dir().join(format!("frontrow-redis-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut redis = OwnRedis::start(server_port(false), dir.clone());
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let app = spawn_app_with(AppOptions {
        redis: Some(url),
        tweak: Box::new(|s| s.redis.view_max_lag_ms = 600),
        ..AppOptions::default()
    })
    .await;
    let concert = app.create_concert(1, 2, 100).await;
    let a = app.create_user("a").await;
    let qa = app.admitted(&a, concert.id, WAIT).await;
    assert_eq!(app.get("/readyz", None).await.status(), 200);

    redis.stop();
    // Statuses come from the instance's view of the line: it may answer while it is
    // younger than view_max_lag_ms, never after.
    // Sleeping past the bound only makes the view older: never too short.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let res = wait::returns("a status with Redis gone", app.queue_status(&qa)).await;
    assert!(
        res.headers().get("retry-after").is_some(),
        "503 needs Retry-After"
    );
    assert_problem(res, 503).await;
    let res = app.enter_queue(&a, concert.id).await;
    assert_problem(res, 503).await;
    let res = app
        .hold(&a, Some(&qa), concert.schedule_id, concert.seats[0].0)
        .await;
    assert!(res.headers().get("retry-after").is_some());
    assert_problem(res, 503).await;
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert!(
        body["checks"]["queue"]
            .as_str()
            .unwrap()
            .starts_with("unavailable"),
        "{body}"
    );
    assert_eq!(body["checks"]["database"], "ok");

    // Redis comes back (empty: the line is gone, the database still holds the truth).
    redis.restart();
    wait::until(
        "ready again after Redis returned",
        Duration::from_millis(100),
        || async {
            match app.get("/readyz", None).await.status().as_u16() {
                200 => Ok(()),
                other => Err(format!("/readyz {other}")),
            }
        },
    )
    .await;
    let q2 = app.admitted(&a, concert.id, WAIT).await;
    assert_eq!(
        app.hold(&a, Some(&q2), concert.schedule_id, concert.seats[0].0)
            .await
            .status(),
        201
    );
    app.stop().await;
    drop(redis);
    let _ = std::fs::remove_dir_all(dir);
}

/// Two app instances sharing one Redis key prefix and one database.
async fn two_instances_on_one_redis(tick_interval_ms: u64) -> (TestApp, TestApp) {
    let redis = redis_url();
    let prefix = format!("t{}:", uuid::Uuid::new_v4().simple());
    let db = frontrow_tests::app::fresh_database_url(frontrow_tests::app::Db::Sqlite).await;
    let spawn = |prefix: String| {
        spawn_app_with(AppOptions {
            redis: Some(redis.clone()),
            database_url: Some(db.clone()),
            tweak: Box::new(move |s| {
                s.redis.key_prefix = prefix;
                s.queue.tick_interval_ms = tick_interval_ms;
            }),
            ..AppOptions::default()
        })
    };
    (spawn(prefix.clone()).await, spawn(prefix).await)
}

#[tokio::test]
async fn two_instances_sharing_a_queue_never_admit_past_the_policy_on_redis() {
    let (a, b) = two_instances_on_one_redis(10).await;
    let concert = a.create_concert(1, 10, 100).await;
    // Fans who never buy: no inventory bound, only the policy's.
    let phase1 = json!({"max_active": 10, "admit_per_second": 1000, "active_ttl_seconds": 600, "paused": false, "admit_per_seat": 1000});
    assert_eq!(a.set_policy(concert.id, &phase1).await.status(), 200);

    let mut tokens = Vec::new();
    for i in 0..80 {
        let app = if i % 2 == 0 { &a } else { &b };
        let u = app.create_user(&format!("fan{i}")).await;
        let v: Value = app.enter_queue(&u, concert.id).await.json().await.unwrap();
        tokens.push(v["token"].as_str().unwrap().to_owned());
    }
    // Phase 1: both tickers race; the active set fills to exactly max_active, never more.
    fills_to_max_active_and_no_further(&[&a, &b], concert.id).await;

    // Phase 2: room for everyone but 10 admissions per second: both tickers together
    // stay within the bucket (10/s, one second of burst).
    let phase2 = json!({"max_active": 1000, "admit_per_second": 10, "active_ttl_seconds": 600, "paused": false, "admit_per_seat": 1000});
    admits_within_the_rate(&[&a, &b], concert.id, async {
        assert_eq!(b.set_policy(concert.id, &phase2).await.status(), 200);
    })
    .await;
    // keep the waiters' heartbeats honest: every token still reads
    for t in &tokens {
        assert_eq!(a.queue_status(t).await.status(), 200);
    }
    a.stop().await;
    b.stop().await;
}

/// Reads Server-Sent Events from a streaming response: (event name, JSON data) pairs,
/// until the stream ends (then `true`) or `within` passes (`false`); `first` is told
/// when the first event has arrived.
async fn read_events(
    res: reqwest::Response,
    within: Duration,
    first: tokio::sync::oneshot::Sender<()>,
) -> (Vec<(String, Value)>, bool) {
    let mut first = Some(first);
    let mut res = res;
    let mut buf = String::new();
    let mut events = Vec::new();
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, res.chunk()).await {
            Ok(Ok(Some(bytes))) => buf.push_str(&String::from_utf8_lossy(&bytes)),
            Ok(Ok(None)) => return (events, true),
            Err(_) => return (events, false),
            Ok(Err(e)) => panic!("stream broke: {e}"),
        }
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = v.to_owned();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                }
            }
            events.push((name, serde_json::from_str(&data).unwrap()));
            if let Some(first) = first.take() {
                let _ = first.send(());
            }
        }
    }
}

async fn events_push_the_standing_and_the_admission(redis: bool) {
    let app = app_on(redis, |_| {}).await;
    let concert = app.create_concert(1, 4, 100).await;
    let paused = json!({"max_active": 10, "admit_per_second": 100, "active_ttl_seconds": 60, "paused": true});
    assert_eq!(app.set_policy(concert.id, &paused).await.status(), 200);
    let fan = app.create_user("sse").await;
    let entered: Value = app
        .enter_queue(&fan, concert.id)
        .await
        .json()
        .await
        .unwrap();
    let token = entered["token"].as_str().unwrap().to_owned();
    assert!(
        entered["poll_after_ms"].as_u64().unwrap() >= 500,
        "{entered}"
    );

    let bad = app
        .get(
            "/api/v1/queue/events?token=1.1.1.00000000000000000000000000000000",
            None,
        )
        .await;
    assert_problem(bad, 401).await;
    let missing = app.get("/api/v1/queue/events", None).await;
    assert_problem(missing, 400).await;

    let res = app
        .get(&format!("/api/v1/queue/events?token={token}"), None)
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let resume = json!({"max_active": 10, "admit_per_second": 100, "active_ttl_seconds": 60, "paused": false});
    let app2 = &app;
    let (seen_first, first) = tokio::sync::oneshot::channel();
    let ((events, ended), _) = tokio::join!(read_events(res, wait::HANG, seen_first), async move {
        // Admitted only once the waiting standing is in: the order is what is checked.
        first.await.expect("the stream sends a first event");
        assert_eq!(app2.set_policy(concert.id, &resume).await.status(), 200);
    });
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"standing"), "{events:?}");
    assert_eq!(events[0].1["status"], "WAITING");
    let (last_name, last) = events.last().unwrap();
    assert_eq!(
        (last_name.as_str(), &last["status"]),
        ("standing", &json!("ACTIVE")),
        "{events:?}"
    );
    assert!(ended, "the stream ends by itself once the fan is admitted");
    app.stop().await;
}

#[tokio::test]
async fn events_push_the_standing_and_the_admission_on_memory() {
    events_push_the_standing_and_the_admission(false).await;
}

#[tokio::test]
async fn events_push_the_standing_and_the_admission_on_redis() {
    events_push_the_standing_and_the_admission(true).await;
}

/// Statuses come from each instance's local view: two instances must tell every fan the
/// same gap-free position, and an admission must reach both within the view's lag.
#[tokio::test]
async fn two_instances_tell_the_same_positions_on_redis() {
    let (a, b) = two_instances_on_one_redis(20).await;
    let concert = a.create_concert(1, 10, 100).await;
    let paused = json!({"max_active": 15, "admit_per_second": 1000, "active_ttl_seconds": 600, "paused": true});
    assert_eq!(a.set_policy(concert.id, &paused).await.status(), 200);

    let mut tokens = Vec::new();
    for i in 0..60 {
        let app = if i % 2 == 0 { &a } else { &b };
        let u = app.create_user(&format!("fan{i}")).await;
        let v: Value = app.enter_queue(&u, concert.id).await.json().await.unwrap();
        tokens.push(v["token"].as_str().unwrap().to_owned());
    }
    // Ten fans leave, through either instance.
    for t in tokens.iter().step_by(6) {
        assert_eq!(b.leave_queue(t).await.status(), 204);
    }
    // Each instance catches up within its view's lag: read until both tell every fan
    // the same gap-free position (a slow machine only makes this take longer).
    wait::until(
        "both instances tell the positions after the leaves",
        Duration::from_millis(50),
        || async {
            let mut expected = 0;
            for (i, t) in tokens.iter().enumerate() {
                let mut seen = Vec::new();
                for app in [&a, &b] {
                    let v: Value = app.queue_status(t).await.json().await.unwrap();
                    seen.push((v["status"].clone(), v["position"].clone()));
                }
                let right = if i % 6 == 0 {
                    seen[0].0 == "EXPIRED"
                } else {
                    expected += 1;
                    seen[0] == (json!("WAITING"), json!(expected))
                };
                if !right || seen[0] != seen[1] {
                    return Err(format!("fan {i} (#{expected} waiting): {seen:?}"));
                }
            }
            Ok(())
        },
    )
    .await;

    let open = json!({"max_active": 15, "admit_per_second": 1000, "active_ttl_seconds": 600, "paused": false});
    assert_eq!(b.set_policy(concert.id, &open).await.status(), 200);
    wait::until(
        "both instances tell the 15 admissions",
        Duration::from_millis(50),
        || async {
            let mut active = [0, 0];
            for (i, t) in tokens.iter().enumerate() {
                for (n, app) in [&a, &b].into_iter().enumerate() {
                    let v: Value = app.queue_status(t).await.json().await.unwrap();
                    if v["status"] == "ACTIVE" {
                        active[n] += 1;
                        // Never, not even while an instance catches up.
                        assert!(i <= 17, "fan {i} admitted ahead of the ones before it");
                    }
                }
            }
            if active == [15, 15] {
                Ok(())
            } else {
                Err(format!("active per instance {active:?}"))
            }
        },
    )
    .await;
    a.stop().await;
    b.stop().await;
}
