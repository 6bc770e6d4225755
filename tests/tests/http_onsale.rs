//! Black-box tests of the on-sale moment over HTTP, on the in-memory queue and
//! on Redis:
//! - 2,000 pre-queued fans are drawn into positions 1..=2,000 uncorrelated with their
//!   arrival (|Spearman ρ| < 0.1), the draw verifies from the public API alone (the same
//!   code as `frontrow verify-draw`), and later arrivals queue behind them in order;
//! - with 50 seats and `admit_per_seat` 1.5 at most 75 fans are ever active without a
//!   hold, admission waits while every free seat is held (`ALL_HELD`), a hold that
//!   expires reopens it for one fan, and once all 50 are paid every waiting fan, and
//!   every newcomer, reads `SOLD_OUT`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use frontrow_tests::app::{AppOptions, TestApp, TestUser, assert_problem, spawn_app_with};
use frontrow_tests::required_env;
use futures::future::join_all;
use futures::{StreamExt, stream};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

async fn app_on(
    redis: bool,
    tweak: impl FnOnce(&mut frontrow_app::Settings) + Send + 'static,
) -> TestApp {
    spawn_app_with(AppOptions {
        redis: redis.then(|| required_env("FRONTROW_TEST_REDIS_URL", "a Redis server")),
        tweak: Box::new(tweak),
        ..AppOptions::default()
    })
    .await
}

async fn json_of(res: reqwest::Response) -> Value {
    let status = res.status();
    let body = res.text().await.expect("body");
    assert!(status.is_success(), "{status}: {body}");
    serde_json::from_str(&body).expect("json")
}

async fn users(app: &TestApp, n: usize) -> Vec<TestUser> {
    stream::iter(0..n)
        .map(|i| async move { app.create_user(&format!("fan{i}")).await })
        .buffered(32)
        .collect()
        .await
}

fn spearman(xs: &[f64], ys: &[f64]) -> f64 {
    // Both are permutations of ranks here: ρ = Pearson of the ranks.
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in xs.iter().zip(ys) {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    sxy / (sxx * syy).sqrt()
}

async fn pre_queued_fans_are_drawn_into_a_checkable_random_order(redis: bool) {
    const FANS: usize = 2_000;
    let owned = app_on(redis, |_| {}).await;
    let app = &owned;
    let concert = app.create_concert(10, 10, 100).await;
    let later = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let policy = |opens: &str| {
        json!({"max_active": 1000, "admit_per_second": 1000, "active_ttl_seconds": 600,
               "paused": true, "sale_opens_at": opens})
    };
    let path = |rest: &str| format!("/api/v1/concerts/{}{rest}", concert.id);
    assert_eq!(
        app.set_policy(concert.id, &policy(&later)).await.status(),
        200
    );
    let before = json_of(app.get(&path("/draw"), None).await).await;
    assert_eq!(before["entrants"], 0);
    assert!(before.get("seed").is_none(), "secret before the draw");
    let commitment = before["commitment"].as_str().unwrap().to_owned();
    assert_eq!(commitment.len(), 64);
    assert!(
        before["algorithm"]
            .as_str()
            .unwrap()
            .contains("HMAC-SHA256")
    );
    assert_problem(app.get(&path("/draw/receipts"), None).await, 409).await;
    assert_problem(app.get(&path("/draw/receipts?limit=0"), None).await, 400).await;
    assert_problem(app.get(&path("/draw/receipts?offset=x"), None).await, 400).await;
    assert_problem(app.get("/api/v1/concerts/999999/draw", None).await, 404).await;
    let no_pre = app.create_concert(1, 1, 100).await;
    assert_problem(
        app.get(&format!("/api/v1/concerts/{}/draw", no_pre.id), None)
            .await,
        404,
    )
    .await;

    // Fans arrive one after the other before the opening.
    let fans = users(app, FANS + 20).await;
    let mut tokens = Vec::with_capacity(FANS);
    for fan in &fans[..FANS] {
        let v = json_of(app.enter_queue(fan, concert.id).await).await;
        assert_eq!(v["status"], "PRE_QUEUE", "{v}");
        assert!(v["position"].is_null(), "{v}");
        assert!(v["opens_at"].is_string(), "{v}");
        tokens.push(v["token"].as_str().unwrap().to_owned());
    }
    let counted = json_of(app.get(&path("/draw"), None).await).await;
    assert_eq!(counted["entrants"], FANS as u64);
    assert_eq!(counted["commitment"], commitment.as_str());

    // The sale opens now (still paused, so every position can be read).
    let now = Utc::now().to_rfc3339();
    assert_eq!(
        app.set_policy(concert.id, &policy(&now)).await.status(),
        200
    );
    let deadline = Instant::now() + WAIT;
    let drawn = loop {
        let d = json_of(app.get(&path("/draw"), None).await).await;
        if d.get("seed").is_some() {
            break d;
        }
        assert!(Instant::now() < deadline, "no draw within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(drawn["commitment"], commitment.as_str());
    assert_eq!(drawn["entrants"], FANS as u64);

    // Later arrivals queue behind every pre-queued fan, in their order.
    for (i, fan) in fans[FANS..].iter().enumerate() {
        let v = json_of(app.enter_queue(fan, concert.id).await).await;
        assert_eq!(v["status"], "WAITING");
        assert_eq!(v["position"], (FANS + i + 1) as u64);
    }

    let receipts: Vec<String> = {
        let page = json_of(app.get(&path("/draw/receipts?limit=700"), None).await).await;
        assert_eq!(page["total"], FANS as u64);
        assert_eq!(page["seed"], drawn["seed"]);
        let mut all: Vec<String> = serde_json::from_value(page["receipts"].clone()).unwrap();
        assert_eq!(all.len(), 700);
        let rest = json_of(app.get(&path("/draw/receipts?offset=700"), None).await).await;
        all.extend(serde_json::from_value::<Vec<String>>(rest["receipts"].clone()).unwrap());
        all
    };
    assert_eq!(receipts.len(), FANS);
    let rank: HashMap<&str, usize> = receipts
        .iter()
        .enumerate()
        .map(|(i, r)| (r.as_str(), i))
        .collect();

    let positions: Vec<u64> = stream::iter(&tokens)
        .map(|t| async move {
            let v = json_of(app.queue_status(t).await).await;
            assert_eq!(v["status"], "WAITING", "{v}");
            v["position"].as_u64().unwrap()
        })
        .buffered(32)
        .collect()
        .await;
    let mut sorted = positions.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (1..=FANS as u64).collect::<Vec<_>>(),
        "gap-free 1..=2000"
    );
    for (token, position) in tokens.iter().zip(&positions) {
        let receipt = frontrow_domain::draw::receipt(token);
        assert_eq!(
            rank[receipt.as_str()] as u64 + 1,
            *position,
            "a fan finds their receipt at their position"
        );
    }
    let arrival: Vec<f64> = (1..=FANS).map(|i| i as f64).collect();
    let drawn_at: Vec<f64> = positions.iter().map(|p| *p as f64).collect();
    let rho = spearman(&arrival, &drawn_at);
    println!("ONSALE draw of {FANS}: Spearman rho(arrival, position) = {rho:.4}");
    assert!(
        rho.abs() < 0.1,
        "the draw follows the arrival order: rho {rho}"
    );

    let summary = frontrow_app::verify::verify_draw(&app.address, concert.id)
        .await
        .expect("the draw verifies");
    assert!(summary.contains("2000 receipts"), "{summary}");
    // The same check fails for a concert without a draw.
    assert!(
        frontrow_app::verify::verify_draw(&app.address, no_pre.id)
            .await
            .is_err()
    );
    owned.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_queued_fans_are_drawn_into_a_checkable_random_order_in_memory() {
    pre_queued_fans_are_drawn_into_a_checkable_random_order(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_queued_fans_are_drawn_into_a_checkable_random_order_on_redis() {
    pre_queued_fans_are_drawn_into_a_checkable_random_order(true).await;
}

/// Statuses of `tokens`, concurrently.
async fn statuses(app: &TestApp, tokens: &[String]) -> Vec<Value> {
    join_all(
        tokens
            .iter()
            .map(|t| async move { json_of(app.queue_status(t).await).await }),
    )
    .await
}

async fn admitted_total(app: &TestApp, concert: i64) -> u64 {
    app.queue_stats(concert).await["admitted_total"]
        .as_u64()
        .unwrap()
}

/// Waits until `admitted_total` reaches `want`, checking it never passes it.
async fn await_admitted(app: &TestApp, concert: i64, want: u64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = admitted_total(app, concert).await;
        assert!(got <= want, "admitted {got}, more than {want}");
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "admitted {got} of {want} in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn admission_knows_the_inventory(redis: bool) {
    const SEATS: usize = 50;
    const FANS: usize = 100;
    let owned = app_on(redis, |s| {
        s.booking.hold_ttl_seconds = 10;
        s.booking.sweep_interval_ms = 200;
    })
    .await;
    let app = &owned;
    let concert = app.create_concert(1, SEATS as u32, 100).await;
    let policy = json!({"max_active": 1000, "admit_per_second": 1000, "active_ttl_seconds": 600,
                        "paused": false, "admit_per_seat": 1.5});
    assert_eq!(app.set_policy(concert.id, &policy).await.status(), 200);
    let fans = users(app, FANS + 1).await;
    let entered: Vec<String> = stream::iter(&fans[..FANS])
        .map(|f| async move {
            let v = json_of(app.enter_queue(f, concert.id).await).await;
            v["token"].as_str().unwrap().to_owned()
        })
        .buffered(16)
        .collect()
        .await;

    // 50 free seats × 1.5: 75 admitted, not one more.
    await_admitted(app, concert.id, 75).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(admitted_total(app, concert.id).await, 75);
    let now = statuses(app, &entered).await;
    let active: Vec<usize> = (0..FANS)
        .filter(|i| now[*i]["status"] == "ACTIVE")
        .collect();
    let waiting: Vec<usize> = (0..FANS)
        .filter(|i| now[*i]["status"] == "WAITING")
        .collect();
    assert_eq!((active.len(), waiting.len()), (75, 25));
    assert_eq!(now[waiting[0]]["inventory"], "AVAILABLE");
    assert!(now[waiting[0]]["eta_seconds_low"].is_u64());
    assert!(now[waiting[0]]["eta_seconds_high"].is_u64());

    // 50 admitted fans hold a seat each; the other 25 give up and leave.
    let mut held = Vec::new();
    for (n, &i) in active.iter().enumerate() {
        if n < SEATS {
            assert_eq!(app.charge(&fans[i], 100).await.status(), 200);
            let res = app
                .hold(
                    &fans[i],
                    Some(&entered[i]),
                    concert.schedule_id,
                    concert.seats[n].0,
                )
                .await;
            let v = json_of(res).await;
            held.push((i, v["id"].as_i64().unwrap()));
        } else {
            assert_eq!(app.leave_queue(&entered[i]).await.status(), 204);
        }
        assert!(
            app.queue_stats(concert.id).await["active"]
                .as_u64()
                .unwrap()
                <= 75
        );
    }
    // Every free seat is held: admission waits and the line says so.
    let deadline = Instant::now() + WAIT;
    loop {
        let v = json_of(app.queue_status(&entered[waiting[0]]).await).await;
        if v["inventory"] == "ALL_HELD" {
            assert_eq!(v["status"], "WAITING");
            break;
        }
        assert!(Instant::now() < deadline, "never ALL_HELD: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(admitted_total(app, concert.id).await, 75);

    // 49 pay (which ends their admission); the 50th gives up its place in the line and
    // lets its hold expire.
    let (last, _expiring) = held.pop().unwrap();
    for (i, reservation) in &held {
        let res = app
            .pay(&fans[*i], Some(&entered[*i]), *reservation, Some("once"))
            .await;
        assert_eq!(json_of(res).await["status"], "CONFIRMED");
    }
    assert_eq!(app.leave_queue(&entered[last]).await.status(), 204);
    assert_eq!(
        admitted_total(app, concert.id).await,
        75,
        "nothing free yet"
    );

    // The hold expires: one seat is back, admission reopens for one fan (1 × 1.5).
    await_admitted(app, concert.id, 76).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(admitted_total(app, concert.id).await, 76);
    let waiting_tokens: Vec<String> = waiting.iter().map(|i| entered[*i].clone()).collect();
    let now = statuses(app, &waiting_tokens).await;
    let lucky: Vec<usize> = (0..waiting.len())
        .filter(|k| now[*k]["status"] == "ACTIVE")
        .map(|k| waiting[k])
        .collect();
    assert_eq!(
        lucky.len(),
        1,
        "exactly one fan admitted for the seat that came back"
    );
    let (fan, token) = (&fans[lucky[0]], &entered[lucky[0]]);
    assert_eq!(app.charge(fan, 100).await.status(), 200);
    let seat = concert.seats[SEATS - 1].0;
    let r = json_of(app.hold(fan, Some(token), concert.schedule_id, seat).await).await;
    let paid = app
        .pay(fan, Some(token), r["id"].as_i64().unwrap(), Some("k"))
        .await;
    assert_eq!(json_of(paid).await["status"], "CONFIRMED");

    // Sold out: the line closes for everyone still waiting and for newcomers.
    let deadline = Instant::now() + WAIT;
    let rest: Vec<String> = waiting
        .iter()
        .filter(|i| **i != lucky[0])
        .map(|i| entered[*i].clone())
        .collect();
    loop {
        let now = statuses(app, &rest).await;
        if now.iter().all(|v| v["status"] == "SOLD_OUT") {
            assert_eq!(now[0]["inventory"], "SOLD_OUT");
            assert!(now[0]["position"].is_null());
            break;
        }
        assert!(Instant::now() < deadline, "not closed: {:?}", now[0]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A newcomer reads SOLD_OUT, or (once the ticker closed the sold-out line, which it
    // does at the tick that saw no seat and no hold left) is refused with 409.
    let res = app.enter_queue(&fans[FANS], concert.id).await;
    if res.status() == 409 {
        let problem: Value = res.json().await.unwrap();
        assert!(
            problem["type"].as_str().unwrap().ends_with("queue-closed"),
            "{problem}"
        );
    } else {
        assert_eq!(json_of(res).await["status"], "SOLD_OUT");
    }
    assert_eq!(admitted_total(app, concert.id).await, 76);
    owned.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_knows_the_inventory_in_memory() {
    admission_knows_the_inventory(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_knows_the_inventory_on_redis() {
    admission_knows_the_inventory(true).await;
}

/// A `sale_opens_at` sent once fans entered a line that has no pre-queue is valid data
/// the line's state refuses: 409 `policy-conflict`, and the line is unchanged (no draw).
async fn an_opening_after_fans_entered_is_a_conflict(redis: bool) {
    let app = app_on(redis, |_| {}).await;
    let concert = app.create_concert(1, 10, 1_000).await;
    let fan = app.create_user("early").await;
    let entered = app.enter_queue(&fan, concert.id).await;
    assert_eq!(entered.status().as_u16(), 201);
    let opens = (Utc::now() + chrono::Duration::minutes(5)).to_rfc3339();
    let res = app
        .set_policy(
            concert.id,
            &json!({"max_active": 1000, "admit_per_second": 100, "active_ttl_seconds": 600,
                    "sale_opens_at": opens}),
        )
        .await;
    let problem = assert_problem(res, 409).await;
    assert_eq!(problem["type"], "/problems/policy-conflict", "{problem}");
    // Nothing changed: still no draw for this line.
    let draw = app
        .get(&format!("/api/v1/concerts/{}/draw", concert.id), None)
        .await;
    assert_eq!(draw.status().as_u16(), 404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opening_after_fans_entered_is_a_conflict_in_memory() {
    an_opening_after_fans_entered_is_a_conflict(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opening_after_fans_entered_is_a_conflict_on_redis() {
    an_opening_after_fans_entered_is_a_conflict(true).await;
}
