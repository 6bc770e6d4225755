//! Tickets and the gate over HTTP, on each database (SQLite with the memory queue;
//! MariaDB and PostgreSQL with Redis):
//! - payment turns every seat into a ticket and a standing quantity N into N tickets;
//! - 10,000 genuine codes are admitted and 10,000 mutated ones (one character changed,
//!   another key, outside the validity window, another schedule) refused with 0 false
//!   accepts, online (the service) and offline (a gate kit: keys and list only);
//! - a second scan is `already_redeemed` with the first scan's time and gate; the same
//!   nonce twice is one check-in; of 20 concurrent scans of a ticket one is admitted;
//! - a revoked ticket is `revoked` online at once, listed in the console's revocation
//!   list, and `revoked` offline after the next incremental sync; two offline devices admitting one ticket leave two records and
//!   one duplicate flag, and uploading a batch again records nothing new;
//! - rotating codes: admitted within one 15 s window either side, refused from the
//!   second window on, refused when signed by another holder key or shown as the
//!   static code; a re-binding revokes the old holder's codes;
//! - bad input is answered 4xx problem+json.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use frontrow_app::gate::OfflineGate;
use frontrow_app::http::ticket_dto::CheckResultView;
use frontrow_domain::model::ScheduleId;
use frontrow_domain::tickets::code::{self, Claims};
use frontrow_domain::tickets::keys::TicketSigner;
use frontrow_domain::tickets::rules::window_of;
use frontrow_tests::app::{
    ADMIN_KEY, AppOptions, Db, TestApp, TestUser, assert_problem, spawn_app_with,
};
use frontrow_tests::required_env;
use futures::StreamExt;
use p256::ecdsa::SigningKey as HolderSecret;
use p256::ecdsa::signature::Signer as _;
use reqwest::Response;
use serde_json::{Value, json};

/// The issuing key of the test apps (so a test can sign codes the service would not).
const SECRET: [u8; 32] = [42; 32];
const VALID: usize = 10_000;
const FANS: usize = 10;
const PER_ORDER: u32 = 100;

async fn spawn(db: Db) -> TestApp {
    spawn_app_with(AppOptions {
        db,
        redis: (db != Db::Sqlite)
            .then(|| required_env("FRONTROW_TEST_REDIS_URL", "a Redis server")),
        database_url: None,
        tweak: Box::new(|s| {
            s.tickets.signing_keys = Some(frontrow_app::ticketing::pem_of_secret(&SECRET).unwrap());
            s.booking.max_tickets_per_order = 100;
            s.booking.max_tickets_per_fan = 1000;
            s.booking.hold_ttl_seconds = 600;
            s.database.max_connections = 32;
        }),
    })
    .await
}

/// A concert starting in an hour (codes valid now): ten seats and a standing pit.
async fn concert(app: &TestApp) -> (i64, i64) {
    let starts = Utc::now() + chrono::Duration::hours(1);
    let res = app
        .create_concert_raw(&json!({
            "title": "Doors", "venue": "Hall",
            "schedules": [{ "starts_at": starts, "layout": {
                "categories": [{ "name": "Seat", "price": 1 }, { "name": "Floor", "price": 1 }],
                "sections": [
                    { "name": "Stalls", "category": "Seat",
                      "rows": [{ "label": "A", "seats": (1..=10).collect::<Vec<_>>() }] },
                    { "name": "Pit", "category": "Floor", "capacity": 20000 }
                ]
            }}]
        }))
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let v: Value = res.json().await.unwrap();
    (
        v["id"].as_i64().unwrap(),
        v["schedules"][0]["id"].as_i64().unwrap(),
    )
}

/// Places and pays one order of `body` for `fan` (admitted anew: a payment ends the
/// fan's admission when nothing else is held).
async fn buy(app: &TestApp, fan: &TestUser, concert: i64, body: Value) {
    let q = app.admitted(fan, concert, Duration::from_secs(60)).await;
    let order = app.place_order(fan, &q, &body).await;
    app.pay_order(fan, &q, &order).await;
}

async fn tickets_of(app: &TestApp, fan: &TestUser) -> Vec<Value> {
    let res = app.get("/api/v1/tickets", Some(&fan.token)).await;
    assert_eq!(res.status(), 200);
    res.json::<Vec<Value>>().await.unwrap()
}

async fn gate_key(app: &TestApp, schedule: i64) -> String {
    let res = app
        .client
        .post(app.url(&format!("/api/v1/admin/schedules/{schedule}/gate-keys")))
        .header("X-Admin-Key", ADMIN_KEY)
        .json(&json!({ "label": "North gates" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let v: Value = res.json().await.unwrap();
    v["key"].as_str().unwrap().to_owned()
}

/// The schedule's check-in figures, as the console reads them.
async fn checkin_stats(app: &TestApp, schedule: i64) -> Value {
    app.client
        .get(app.url(&format!("/api/v1/admin/schedules/{schedule}/checkins")))
        .header("X-Admin-Key", ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn scan_raw(app: &TestApp, key: &str, code: &str, gate: &str, nonce: &str) -> Response {
    app.client
        .post(app.url("/api/v1/checkins"))
        .header("X-Gate-Key", key)
        .json(&json!({
            "code": code, "gate": gate, "device": "d1", "nonce": nonce,
            "scanned_at": Utc::now(),
        }))
        .send()
        .await
        .unwrap()
}

async fn scan(app: &TestApp, key: &str, code: &str, gate: &str, nonce: &str) -> Value {
    let res = scan_raw(app, key, code, gate, nonce).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    res.json().await.unwrap()
}

async fn batch(app: &TestApp, key: &str, scans: &[Value]) -> Value {
    let res = app
        .client
        .post(app.url("/api/v1/checkins/batch"))
        .header("X-Gate-Key", key)
        .json(&json!({ "scans": scans }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    res.json().await.unwrap()
}

async fn kit(app: &TestApp, key: &str, schedule: i64, since: Option<DateTime<Utc>>) -> Value {
    let mut r = app
        .client
        .get(app.url(&format!("/api/v1/schedules/{schedule}/gate-kit")))
        .header("X-Gate-Key", key);
    if let Some(s) = since {
        r = r.query(&[("since", s.to_rfc3339())]);
    }
    let res = r.send().await.unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    res.json().await.unwrap()
}

fn kit_file(kit: &Value) -> PathBuf {
    let dir = std::env::temp_dir().join("frontrow-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("kit-{}.json", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, serde_json::to_vec(kit).unwrap()).unwrap();
    path
}

fn offline(path: &Path, codes: &[String], device: &str, at: DateTime<Utc>) -> Vec<CheckResultView> {
    let mut g = OfflineGate::open(path).unwrap();
    g.verify(codes, "offline", device, at)
        .unwrap()
        .into_iter()
        .map(|v| v.result)
        .collect()
}

fn stored_scans(kit: &Path) -> Vec<Value> {
    std::fs::read_to_string(frontrow_app::gate::store_path(kit))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn result(v: &Value) -> &str {
    v["result"].as_str().unwrap()
}

/// The claims of a genuine code, to sign altered copies.
fn claims_of(code_text: &str) -> Claims {
    code::parse(code_text).unwrap().inner().claims.clone()
}

/// Ten thousand refusals: one character changed, another key (under its own key id or
/// the genuine one), outside the validity window, another schedule.
fn mutations(valid: &[String]) -> Vec<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let real = TicketSigner::from_secret(&SECRET);
    let stranger = TicketSigner::from_secret(&[7; 32]);
    valid
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut c = claims_of(v);
            match i % 5 {
                0 | 1 => {
                    let mut b = v.clone().into_bytes();
                    let pos = (i * 7919) % b.len();
                    let mut with = ALPHABET[(i * 31) % ALPHABET.len()];
                    if with == b[pos] {
                        with = ALPHABET[(i * 31 + 1) % ALPHABET.len()];
                    }
                    b[pos] = with;
                    String::from_utf8(b).unwrap()
                }
                2 => {
                    let forged = stranger.sign(c);
                    if i % 2 == 0 {
                        forged
                    } else {
                        // The stranger's signature under the genuine key id.
                        let mut b = code::decode_text(&forged).unwrap();
                        b[2..6].copy_from_slice(&real.kid().0);
                        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, b)
                    }
                }
                3 => {
                    let now = Utc::now().timestamp();
                    if i % 2 == 0 {
                        c.valid_from = now - 86_400;
                        c.valid_until = now - 3_600;
                    } else {
                        c.valid_from = now + 3_600;
                        c.valid_until = now + 86_400;
                    }
                    real.sign(c)
                }
                _ => {
                    c.schedule = ScheduleId(c.schedule.0 + 1_000);
                    real.sign(c)
                }
            }
        })
        .collect()
}

async fn ten_thousand_codes(db: Db) {
    let app = spawn(db).await;
    let (concert, schedule) = concert(&app).await;
    let fans = futures::future::join_all((0..FANS).map(|i| {
        let app = &app;
        async move { app.create_user(&format!("fan{i}")).await }
    }))
    .await;
    for f in &fans {
        assert_eq!(app.charge(f, 10_000).await.status(), 200);
    }
    let per_fan = VALID / FANS;
    futures::stream::iter(fans.iter())
        .for_each_concurrent(4, |f| {
            let app = &app;
            async move {
                for _ in 0..(per_fan / PER_ORDER as usize) {
                    buy(
                        app,
                        f,
                        concert,
                        json!({
                            "schedule_id": schedule,
                            "standing": [{ "area": "Pit", "quantity": PER_ORDER }]
                        }),
                    )
                    .await;
                }
            }
        })
        .await;
    let mut valid = Vec::with_capacity(VALID);
    for f in &fans {
        let t = tickets_of(&app, f).await;
        assert_eq!(t.len(), per_fan, "standing quantity N gives N tickets");
        valid.extend(t.iter().map(|x| x["code"].as_str().unwrap().to_owned()));
    }
    let mut distinct = valid.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), VALID);
    let longest = valid.iter().map(String::len).max().unwrap();
    assert!(longest <= 130, "a code of {longest} characters");
    let mutated = mutations(&valid);
    let key = gate_key(&app, schedule).await;

    // Offline: the kit alone (keys and list).
    let path = kit_file(&kit(&app, &key, schedule, None).await);
    let now = Utc::now();
    let ok = offline(&path, &valid, "dev-a", now);
    let refused = offline(&path, &mutated, "dev-a", now);
    let admitted = |r: &[CheckResultView]| {
        r.iter()
            .filter(|x| **x == CheckResultView::Admitted)
            .count()
    };
    assert_eq!(admitted(&ok), VALID, "offline: genuine codes admitted");
    assert_eq!(admitted(&refused), 0, "offline: false accepts");
    // A second pass on the same device: every genuine code is refused now.
    let again = offline(&path, &valid[..100], "dev-a", now);
    assert!(again.iter().all(|r| *r == CheckResultView::AlreadyRedeemed));

    // Online, in batches of 250, the most (one request records its scans in order, as a gate
    // back online uploads them; the single check-in shares the path, tested under
    // concurrency in `the_doors`).
    let mut by_result = std::collections::BTreeMap::new();
    let mut online = |results: &Value, valid: bool| {
        for r in results["results"].as_array().unwrap() {
            *by_result.entry((valid, result(r).to_owned())).or_insert(0) += 1;
        }
    };
    for (n, chunk) in valid.chunks(250).enumerate() {
        let scans: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, c)| json!({
                "code": c, "gate": format!("G{}", i % 40), "device": "d", "nonce": format!("v-{n}-{i}"),
                "scanned_at": Utc::now(),
            }))
            .collect();
        online(&batch(&app, &key, &scans).await, true);
    }
    for (n, chunk) in mutated.chunks(250).enumerate() {
        let scans: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, c)| {
                json!({
                    "code": c, "gate": "G0", "device": "d", "nonce": format!("m-{n}-{i}"),
                    "scanned_at": Utc::now(),
                })
            })
            .collect();
        online(&batch(&app, &key, &scans).await, false);
    }
    assert_eq!(
        by_result.get(&(true, "admitted".to_owned())),
        Some(&VALID),
        "{by_result:?}"
    );
    let false_accepts = by_result
        .get(&(false, "admitted".to_owned()))
        .copied()
        .unwrap_or(0);
    assert_eq!(false_accepts, 0, "online false accepts: {by_result:?}");
    for r in ["invalid", "expired", "not_valid_yet", "wrong_schedule"] {
        assert!(
            by_result.contains_key(&(false, r.to_owned())),
            "no {r}: {by_result:?}"
        );
    }
    let stats = checkin_stats(&app, schedule).await;
    assert_eq!(stats["admitted"], VALID);
    assert_eq!(stats["not_scanned"], 0);
    let per_minute: u64 = stats["per_gate_minute"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["admitted"].as_u64().unwrap() + m["refused"].as_u64().unwrap())
        .sum();
    assert_eq!(per_minute, 2 * VALID as u64, "every scan recorded once");
    println!(
        "{}: {VALID} genuine admitted online and offline; {} mutated, 0 false accepts ({by_result:?})",
        db.name(),
        mutated.len()
    );
    app.stop().await;
}

#[tokio::test]
async fn ten_thousand_codes_no_false_accept_on_sqlite() {
    ten_thousand_codes(Db::Sqlite).await;
}

#[tokio::test]
async fn ten_thousand_codes_no_false_accept_on_mariadb() {
    ten_thousand_codes(Db::MariaDb).await;
}

#[tokio::test]
async fn ten_thousand_codes_no_false_accept_on_postgres() {
    ten_thousand_codes(Db::Postgres).await;
}

/// A fan with two seats and three standing places, paid.
async fn small_sale(app: &TestApp) -> (i64, i64, TestUser, Vec<Value>) {
    let (concert, schedule) = concert(app).await;
    let fan = app.create_user("fan").await;
    assert_eq!(app.charge(&fan, 1_000).await.status(), 200);
    let seats = app.seats(schedule).await;
    let ids: Vec<i64> = seats.as_array().unwrap()[..2]
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    buy(
        app,
        &fan,
        concert,
        json!({
            "schedule_id": schedule, "seats": ids,
            "standing": [{ "area": "Pit", "quantity": 3 }]
        }),
    )
    .await;
    let t = tickets_of(app, &fan).await;
    (concert, schedule, fan, t)
}

async fn the_doors(db: Db) {
    let app = spawn(db).await;
    let (_, schedule, fan, t) = small_sale(&app).await;
    assert_eq!(t.len(), 5, "two seats and three standing places");
    assert_eq!(t.iter().filter(|x| x["seat_id"].is_i64()).count(), 2);
    assert_eq!(t.iter().filter(|x| x["label"] == "Pit").count(), 3);
    let code = |i: usize| t[i]["code"].as_str().unwrap().to_owned();
    let key = gate_key(&app, schedule).await;

    // A second scan names the first one.
    let first = scan(&app, &key, &code(0), "North", "n-1").await;
    assert_eq!(result(&first), "admitted");
    assert_eq!(first["category"], "Seat");
    assert_eq!(first["label"], t[0]["label"]);
    let second = scan(&app, &key, &code(0), "South", "n-2").await;
    assert_eq!(result(&second), "already_redeemed");
    assert_eq!(second["first_gate"], "North");
    assert_eq!(second["first_scan_at"], first["scanned_at"]);
    // The same nonce twice is one check-in.
    let replay = scan(&app, &key, &code(0), "North", "n-1").await;
    assert_eq!(replay["checkin_id"], first["checkin_id"]);
    assert_eq!(result(&replay), "admitted");
    assert_eq!(replay["replayed"], true);

    // Of 20 concurrent scans of one ticket, one admits.
    let many: Vec<Value> = futures::future::join_all((0..20).map(|i| {
        let (app, key, c) = (&app, &key, code(1));
        async move { scan(app, key, &c, &format!("G{i}"), &format!("c-{i}")).await }
    }))
    .await;
    assert_eq!(many.iter().filter(|r| result(r) == "admitted").count(), 1);
    assert_eq!(
        many.iter()
            .filter(|r| result(r) == "already_redeemed")
            .count(),
        19
    );

    // A revocation: online at once; offline after the next incremental sync.
    let before = kit(&app, &key, schedule, None).await;
    let path = kit_file(&before);
    let res = app
        .client
        .post(app.url(&format!("/api/v1/admin/tickets/{}/revocation", t[2]["id"])))
        .header("X-Admin-Key", ADMIN_KEY)
        .json(&json!({ "reason": "returned" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        result(&scan(&app, &key, &code(2), "North", "r-1").await),
        "revoked"
    );
    let generated: DateTime<Utc> = before["generated_at"].as_str().unwrap().parse().unwrap();
    let update = kit(&app, &key, schedule, Some(generated)).await;
    assert_eq!(update["incremental"], true);
    assert!(
        update["revocations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["ticket_id"] == t[2]["id"])
    );
    // The console's revocation list holds it, as the kit does.
    let res = app
        .client
        .get(app.url(&format!("/api/v1/admin/schedules/{schedule}/revocations")))
        .header("X-Admin-Key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let listed: Vec<Value> = res.json().await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["ticket_id"], t[2]["id"]);
    assert_eq!(listed[0]["reason"], "returned");
    frontrow_app::gate::sync(&path, &app.address, &key)
        .await
        .unwrap();
    assert_eq!(
        offline(&path, &[code(2)], "dev", Utc::now()),
        vec![CheckResultView::Revoked]
    );
    let mine = tickets_of(&app, &fan).await;
    assert!(
        mine[2]["revoked"] == true && mine[2]["code"].is_null(),
        "{}",
        mine[2]
    );

    // Two offline devices admit one ticket: two records, one flag; a re-upload adds none.
    let a = kit_file(&before);
    let b = kit_file(&before);
    assert_eq!(
        offline(&a, &[code(3)], "dev-a", Utc::now()),
        vec![CheckResultView::Admitted]
    );
    assert_eq!(
        offline(&b, &[code(3)], "dev-b", Utc::now()),
        vec![CheckResultView::Admitted]
    );
    assert_eq!(
        offline(&a, &[code(3)], "dev-a", Utc::now()),
        vec![CheckResultView::AlreadyRedeemed]
    );
    let up_a = batch(&app, &key, &stored_scans(&a)).await;
    let up_b = batch(&app, &key, &stored_scans(&b)).await;
    assert_eq!(up_a["recorded"], 2);
    assert_eq!(up_b["recorded"], 1);
    assert_eq!(
        up_a["duplicates"].as_u64().unwrap() + up_b["duplicates"].as_u64().unwrap(),
        1
    );
    let again = batch(&app, &key, &stored_scans(&b)).await;
    assert_eq!(again["recorded"], 0);
    assert_eq!(again["results"][0]["replayed"], true);
    let stats = checkin_stats(&app, schedule).await;
    let dups = stats["duplicates"].as_array().unwrap();
    assert_eq!(dups.len(), 1, "{stats}");
    assert_eq!(dups[0]["ticket_id"], t[3]["id"]);
    assert_eq!(stats["revoked"], 1);
    assert_eq!(stats["not_scanned"], 1, "{stats}");

    // A revoked gate key opens nothing.
    let keys: Value = app
        .client
        .get(app.url(&format!("/api/v1/admin/schedules/{schedule}/gate-keys")))
        .header("X-Admin-Key", ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(keys[0].get("key").is_none(), "a listed key shows no secret");
    let res = app
        .client
        .delete(app.url(&format!(
            "/api/v1/admin/schedules/{schedule}/gate-keys/{}",
            keys[0]["id"]
        )))
        .header("X-Admin-Key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_problem(scan_raw(&app, &key, &code(4), "North", "k-1").await, 403).await;
    app.stop().await;
}

/// Devices uploading batches of the same tickets at once, while a gate scans them online:
/// every ticket admitted exactly once, every other scan `already_redeemed`; a nonce twice
/// in one batch is recorded once and answered `replayed` the second time.
async fn batches_at_once(db: Db) {
    let app = spawn(db).await;
    let (_, schedule, _, t) = small_sale(&app).await;
    let key = gate_key(&app, schedule).await;
    let codes: Vec<String> = t
        .iter()
        .map(|x| x["code"].as_str().unwrap().to_owned())
        .collect();
    let upload = |device: usize| {
        let scans: Vec<Value> = codes
            .iter()
            .enumerate()
            .map(|(i, c)| {
                json!({
                    "code": c, "gate": format!("D{device}"), "device": format!("dev-{device}"),
                    "nonce": format!("b{device}-{i}"), "scanned_at": Utc::now(),
                })
            })
            .collect();
        let (app, key) = (&app, &key);
        async move { batch(app, key, &scans).await }
    };
    let online = codes.iter().enumerate().map(|(i, c)| {
        let (app, key) = (&app, &key);
        async move { scan(app, key, c, "Online", &format!("s-{i}")).await }
    });
    let (uploads, singles) = tokio::join!(
        futures::future::join_all((0..4).map(upload)),
        futures::future::join_all(online)
    );
    let mut answers: Vec<Value> = singles;
    for u in &uploads {
        answers.extend(u["results"].as_array().unwrap().iter().cloned());
    }
    assert_eq!(answers.len(), 5 * codes.len());
    for ticket in &t {
        let of_it: Vec<&str> = answers
            .iter()
            .filter(|a| a["ticket_id"] == ticket["id"])
            .map(result)
            .collect();
        assert_eq!(of_it.len(), 5, "{answers:?}");
        assert_eq!(
            of_it.iter().filter(|r| **r == "admitted").count(),
            1,
            "ticket {}: {of_it:?}",
            ticket["id"]
        );
        assert!(
            of_it
                .iter()
                .all(|r| *r == "admitted" || *r == "already_redeemed"),
            "{of_it:?}"
        );
    }
    // A device sends its batch again while the first upload is still on its way: the
    // scans are recorded once, the other answer replays them.
    let (first, again) = tokio::join!(upload(7), upload(7));
    let recorded = first["recorded"].as_u64().unwrap() + again["recorded"].as_u64().unwrap();
    assert_eq!(recorded, codes.len() as u64, "{first} {again}");
    for (x, y) in first["results"]
        .as_array()
        .unwrap()
        .iter()
        .zip(again["results"].as_array().unwrap())
    {
        assert_eq!(result(x), "already_redeemed");
        assert_eq!((&x["nonce"], result(x)), (&y["nonce"], result(y)));
        assert_ne!(x["replayed"], y["replayed"], "{x} {y}");
    }
    // One nonce twice in one batch.
    let twice = json!({
        "code": codes[0], "gate": "D9", "device": "dev-9", "nonce": "twice",
        "scanned_at": Utc::now(),
    });
    let up = batch(&app, &key, &[twice.clone(), twice]).await;
    assert_eq!(up["recorded"], 1, "{up}");
    let (a, b) = (&up["results"][0], &up["results"][1]);
    assert_eq!(
        (&a["replayed"], &b["replayed"]),
        (&json!(false), &json!(true))
    );
    assert_eq!(result(a), "already_redeemed");
    assert_eq!(
        (&a["nonce"], &a["scanned_at"]),
        (&b["nonce"], &b["scanned_at"])
    );
    let stats = checkin_stats(&app, schedule).await;
    assert_eq!(stats["admitted"], codes.len());
    let recorded: u64 = stats["per_gate_minute"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["admitted"].as_u64().unwrap() + m["refused"].as_u64().unwrap())
        .sum();
    assert_eq!(
        recorded,
        6 * codes.len() as u64 + 1,
        "every nonce recorded once"
    );
    app.stop().await;
}

#[tokio::test]
async fn batches_uploaded_at_once_admit_each_ticket_once_on_sqlite() {
    batches_at_once(Db::Sqlite).await;
}

#[tokio::test]
async fn batches_uploaded_at_once_admit_each_ticket_once_on_mariadb() {
    batches_at_once(Db::MariaDb).await;
}

#[tokio::test]
async fn batches_uploaded_at_once_admit_each_ticket_once_on_postgres() {
    batches_at_once(Db::Postgres).await;
}

#[tokio::test]
async fn second_scans_nonces_revocations_and_duplicates_on_sqlite() {
    the_doors(Db::Sqlite).await;
}

#[tokio::test]
async fn second_scans_nonces_revocations_and_duplicates_on_mariadb() {
    the_doors(Db::MariaDb).await;
}

#[tokio::test]
async fn second_scans_nonces_revocations_and_duplicates_on_postgres() {
    the_doors(Db::Postgres).await;
}

fn holder(seed: u8) -> (HolderSecret, String) {
    let secret = HolderSecret::from_slice(&[seed; 32]).unwrap();
    let public = secret.verifying_key().to_encoded_point(false);
    let b64 = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        public.as_bytes(),
    );
    (secret, b64)
}

fn rotating(static_text: &str, window: u64, secret: &HolderSecret) -> String {
    let inner = code::decode_text(static_text).unwrap();
    let sig: p256::ecdsa::Signature = secret.sign(&code::rotating_message(&inner, window));
    code::encode_rotating(&inner, window, &sig.to_bytes().into())
}

async fn bind(app: &TestApp, fan: &TestUser, ticket: &Value, key: &str) -> Response {
    app.client
        .post(app.url(&format!("/api/v1/tickets/{}/holder-key", ticket["id"])))
        .bearer_auth(&fan.token)
        .json(&json!({ "public_key": key }))
        .send()
        .await
        .unwrap()
}

async fn rotating_codes(db: Db) {
    let app = spawn(db).await;
    let (concert, schedule) = concert(&app).await;
    let res = app
        .client
        .put(app.url(&format!("/api/v1/admin/schedules/{schedule}/ticket-policy")))
        .header("X-Admin-Key", ADMIN_KEY)
        .json(&json!({ "rotating_codes": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let fan = app.create_user("fan").await;
    assert_eq!(app.charge(&fan, 1_000).await.status(), 200);
    buy(
        &app,
        &fan,
        concert,
        json!({ "schedule_id": schedule, "standing": [{ "area": "Pit", "quantity": 2 }] }),
    )
    .await;
    let t = tickets_of(&app, &fan).await;
    assert!(
        t[0]["code"].is_null() && t[0]["needs_holder_key"] == true,
        "{}",
        t[0]
    );
    let (phone, phone_pub) = holder(3);
    let res = bind(&app, &fan, &t[0], &phone_pub).await;
    assert_eq!(res.status(), 200);
    let bound: Value = res.json().await.unwrap();
    assert_eq!(bound["rotating"], true);
    let inner = bound["code"].as_str().unwrap().to_owned();
    let key = gate_key(&app, schedule).await;

    // Offline, at a fixed instant: one window either side and no further.
    let path = kit_file(&kit(&app, &key, schedule, None).await);
    let at = Utc::now();
    let w = window_of(at);
    let codes: Vec<String> = [w - 2, w - 1, w + 1, w + 2]
        .iter()
        .map(|x| rotating(&inner, *x, &phone))
        .collect();
    let got = offline(&path, &codes, "probe", at);
    assert_eq!(
        got,
        vec![
            CheckResultView::Invalid,
            CheckResultView::Admitted,
            CheckResultView::AlreadyRedeemed,
            CheckResultView::Invalid,
        ]
    );
    let (other, other_pub) = holder(4);
    let probe = kit_file(&kit(&app, &key, schedule, None).await);
    assert_eq!(
        offline(
            &probe,
            &[rotating(&inner, w, &other), inner.clone()],
            "probe",
            at
        ),
        vec![CheckResultView::Invalid, CheckResultView::Invalid]
    );

    // Online: the current window admits; a screenshot two windows old, another holder's
    // signature and the static code are refused.
    let stale = scan(
        &app,
        &key,
        &rotating(&inner, window_of(Utc::now()) - 3, &phone),
        "N",
        "s-1",
    )
    .await;
    assert_eq!(
        (result(&stale), stale["reason"].as_str()),
        ("invalid", Some("stale_window"))
    );
    let forged = scan(
        &app,
        &key,
        &rotating(&inner, window_of(Utc::now()), &other),
        "N",
        "s-2",
    )
    .await;
    assert_eq!(forged["reason"], "holder_signature");
    let screenshot = scan(&app, &key, &inner, "N", "s-3").await;
    assert_eq!(screenshot["reason"], "rotation_required");

    // Moving the ticket to another device revokes the first device's codes.
    let res = bind(&app, &fan, &t[0], &other_pub).await;
    assert_eq!(res.status(), 200);
    let moved: Value = res.json().await.unwrap();
    let old = scan(
        &app,
        &key,
        &rotating(&inner, window_of(Utc::now()), &phone),
        "N",
        "s-4",
    )
    .await;
    assert_eq!(result(&old), "revoked");
    let new_inner = moved["code"].as_str().unwrap();
    let ok = scan(
        &app,
        &key,
        &rotating(new_inner, window_of(Utc::now()), &other),
        "N",
        "s-5",
    )
    .await;
    assert_eq!(result(&ok), "admitted", "{ok}");
    // An admitted ticket cannot move any more.
    assert_problem(bind(&app, &fan, &t[0], &phone_pub).await, 409).await;
    app.stop().await;
}

#[tokio::test]
async fn rotating_codes_hold_one_window_either_side_on_sqlite() {
    rotating_codes(Db::Sqlite).await;
}

#[tokio::test]
async fn rotating_codes_hold_one_window_either_side_on_mariadb() {
    rotating_codes(Db::MariaDb).await;
}

#[tokio::test]
async fn rotating_codes_hold_one_window_either_side_on_postgres() {
    rotating_codes(Db::Postgres).await;
}

async fn bad_input(db: Db) {
    let app = spawn(db).await;
    let (_, schedule, fan, t) = small_sale(&app).await;
    let key = gate_key(&app, schedule).await;
    let post = |path: &str, body: Value, gate: Option<&str>| {
        let mut r = app.client.post(app.url(path)).json(&body);
        if let Some(k) = gate {
            r = r.header("X-Gate-Key", k.to_owned());
        }
        r.send()
    };
    let scan_body = |nonce: &str, code: &str| {
        json!({
            "code": code, "gate": "N", "device": "d", "nonce": nonce, "scanned_at": Utc::now()
        })
    };
    let ok_code = t[0]["code"].as_str().unwrap();
    assert_problem(
        post("/api/v1/checkins", scan_body("a", ok_code), None)
            .await
            .unwrap(),
        401,
    )
    .await;
    assert_problem(
        post("/api/v1/checkins", scan_body("a", ok_code), Some("gk_nope"))
            .await
            .unwrap(),
        403,
    )
    .await;
    assert_problem(
        post("/api/v1/checkins", scan_body("", ok_code), Some(&key))
            .await
            .unwrap(),
        422,
    )
    .await;
    assert_problem(
        post(
            "/api/v1/checkins",
            scan_body(&"n".repeat(65), ok_code),
            Some(&key),
        )
        .await
        .unwrap(),
        422,
    )
    .await;
    assert_problem(
        post(
            "/api/v1/checkins",
            scan_body("a", &"A".repeat(513)),
            Some(&key),
        )
        .await
        .unwrap(),
        422,
    )
    .await;
    assert_problem(
        post("/api/v1/checkins", json!({ "code": ok_code }), Some(&key))
            .await
            .unwrap(),
        422,
    )
    .await;
    let res = app
        .client
        .post(app.url("/api/v1/checkins"))
        .header("X-Gate-Key", &key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_problem(res, 400).await;
    assert_problem(
        post("/api/v1/checkins/batch", json!({ "scans": [] }), Some(&key))
            .await
            .unwrap(),
        422,
    )
    .await;
    let many: Vec<Value> = (0..1001)
        .map(|i| scan_body(&format!("b{i}"), ok_code))
        .collect();
    assert_problem(
        post(
            "/api/v1/checkins/batch",
            json!({ "scans": many }),
            Some(&key),
        )
        .await
        .unwrap(),
        422,
    )
    .await;
    // Nothing of a refused batch was recorded: its first scan is still new.
    let first = scan(&app, &key, ok_code, "N", "b0").await;
    assert_eq!(first["replayed"], false);
    // Kits: bad since, unknown schedule, another schedule's key.
    let get_kit = |path: String, k: (&'static str, String)| {
        app.client.get(app.url(&path)).header(k.0, k.1).send()
    };
    assert_problem(
        get_kit(
            format!("/api/v1/schedules/{schedule}/gate-kit?since=yesterday"),
            ("X-Gate-Key", key.clone()),
        )
        .await
        .unwrap(),
        400,
    )
    .await;
    assert_problem(
        get_kit(
            "/api/v1/schedules/999999/gate-kit".into(),
            ("X-Gate-Key", key.clone()),
        )
        .await
        .unwrap(),
        403,
    )
    .await;
    assert_problem(
        get_kit(
            format!("/api/v1/schedules/{schedule}/gate-kit"),
            ("X-Gate-Key", "gk_unknown".into()),
        )
        .await
        .unwrap(),
        403,
    )
    .await;
    assert_problem(
        app.client
            .get(app.url(&format!("/api/v1/schedules/{schedule}/gate-kit")))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    // Operators: unknown schedule or ticket, bad label.
    let admin_post = |path: String, body: Value| {
        app.client
            .post(app.url(&path))
            .header("X-Admin-Key", ADMIN_KEY)
            .json(&body)
            .send()
    };
    assert_problem(
        admin_post(
            "/api/v1/admin/schedules/999999/gate-keys".into(),
            json!({ "label": "x" }),
        )
        .await
        .unwrap(),
        404,
    )
    .await;
    assert_problem(
        admin_post(
            format!("/api/v1/admin/schedules/{schedule}/gate-keys"),
            json!({ "label": "x".repeat(65) }),
        )
        .await
        .unwrap(),
        422,
    )
    .await;
    assert_problem(
        admin_post(
            "/api/v1/admin/tickets/999999/revocation".into(),
            json!({ "reason": "returned" }),
        )
        .await
        .unwrap(),
        404,
    )
    .await;
    assert_problem(
        admin_post(
            format!("/api/v1/admin/tickets/{}/revocation", t[0]["id"]),
            json!({ "reason": "" }),
        )
        .await
        .unwrap(),
        422,
    )
    .await;
    for path in [
        "/api/v1/admin/schedules/999999/revocations",
        "/api/v1/admin/schedules/999999/checkins",
    ] {
        let res = app
            .client
            .get(app.url(path))
            .header("X-Admin-Key", ADMIN_KEY)
            .send()
            .await
            .unwrap();
        assert_problem(res, 404).await;
    }
    let res = app
        .client
        .get(app.url(&format!("/api/v1/admin/schedules/{schedule}/revocations")))
        .send()
        .await
        .unwrap();
    assert_problem(res, 401).await;
    let res = app
        .client
        .delete(app.url(&format!(
            "/api/v1/admin/schedules/{schedule}/gate-keys/999999"
        )))
        .header("X-Admin-Key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_problem(res, 404).await;
    // Holder keys: junk, another fan's ticket, no token.
    let other = app.create_user("other").await;
    assert_problem(bind(&app, &fan, &t[1], "AAAA").await, 422).await;
    assert_problem(bind(&app, &fan, &t[1], "not base64!").await, 422).await;
    assert_problem(bind(&app, &other, &t[1], &holder(2).1).await, 404).await;
    assert_problem(app.get("/api/v1/tickets", None).await, 401).await;
    app.stop().await;
}

#[tokio::test]
async fn bad_input_is_answered_4xx_problem_json_on_sqlite() {
    bad_input(Db::Sqlite).await;
}

#[tokio::test]
async fn bad_input_is_answered_4xx_problem_json_on_mariadb() {
    bad_input(Db::MariaDb).await;
}

#[tokio::test]
async fn bad_input_is_answered_4xx_problem_json_on_postgres() {
    bad_input(Db::Postgres).await;
}
