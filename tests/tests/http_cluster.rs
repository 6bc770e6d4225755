//! frontrow on a Redis Cluster, black-box over HTTP: `/readyz` naming a mode mismatch,
//! three instances sharing one waiting room, a sell-out through three instances with
//! the concerts spread over the three shards (every booking invariant checked in the
//! database), and a master killed mid-sale (503 + Retry-After, then service again once
//! its replica is promoted, without a restart; the timeline is printed with a `FAILOVER`
//! tag, run with `--no-capture` to see it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use frontrow_tests::admission::{admits_within_the_rate, fills_to_max_active_and_no_further};
use frontrow_tests::app::{AppOptions, Db, TestApp, TestConcert, TestUser, spawn_app_with};
use frontrow_tests::redis::{Cluster, redis_cluster_urls, redis_failover_urls, redis_url};
use futures::future::join_all;
use serde_json::{Value, json};

/// An app on the cluster of `nodes`, sharing `database_url` (or a fresh SQLite) and
/// `prefix` with its siblings.
async fn app_on_cluster(
    nodes: &[String],
    database_url: Option<String>,
    prefix: &str,
    tweak: impl FnOnce(&mut frontrow_app::Settings) + Send + 'static,
) -> TestApp {
    let prefix = prefix.to_owned();
    spawn_app_with(AppOptions {
        redis: Some(nodes.join(",")),
        database_url,
        tweak: Box::new(move |s| {
            s.redis.cluster = true;
            s.redis.key_prefix = prefix;
            tweak(s);
        }),
        ..AppOptions::default()
    })
    .await
}

fn new_prefix() -> String {
    format!("t{}:", uuid::Uuid::new_v4().simple())
}

async fn readyz(app: &TestApp) -> (u16, Value) {
    let res = app.get("/readyz", None).await;
    (res.status().as_u16(), res.json().await.expect("json"))
}

#[tokio::test]
async fn readyz_names_the_setting_when_the_mode_is_wrong_on_redis_cluster() {
    let nodes = redis_cluster_urls();
    // A single-node client pointed at a cluster node.
    let single_on_cluster = spawn_app_with(AppOptions {
        redis: Some(nodes[0].clone()),
        ..AppOptions::default()
    })
    .await;
    let (status, body) = readyz(&single_on_cluster).await;
    assert_eq!(status, 503, "{body}");
    let said = body["checks"]["queue"].as_str().unwrap();
    assert!(said.contains("FRONTROW__REDIS__CLUSTER=true"), "{body}");
    single_on_cluster.stop().await;

    // Cluster mode pointed at a single node.
    let single = redis_url();
    let cluster_on_single =
        app_on_cluster(std::slice::from_ref(&single), None, &new_prefix(), |_| {}).await;
    let (status, body) = readyz(&cluster_on_single).await;
    assert_eq!(status, 503, "{body}");
    let said = body["checks"]["queue"].as_str().unwrap();
    assert!(said.contains("FRONTROW__REDIS__CLUSTER=false"), "{body}");
    cluster_on_single.stop().await;

    // The right mode.
    let right = app_on_cluster(&nodes, None, &new_prefix(), |_| {}).await;
    let (status, body) = readyz(&right).await;
    assert_eq!(status, 200, "{body}");
    right.stop().await;
}

#[tokio::test]
async fn three_instances_sharing_a_queue_never_admit_past_the_policy_on_redis_cluster() {
    let nodes = redis_cluster_urls();
    let prefix = new_prefix();
    let db = frontrow_tests::app::fresh_database_url(Db::Sqlite).await;
    let mut apps = Vec::new();
    for _ in 0..3 {
        apps.push(
            app_on_cluster(&nodes, Some(db.clone()), &prefix, |s| {
                s.queue.tick_interval_ms = 10;
            })
            .await,
        );
    }
    let concert = apps[0].create_concert(1, 10, 100).await;
    let phase1 = json!({"max_active": 10, "admit_per_second": 1000, "active_ttl_seconds": 600, "paused": false, "admit_per_seat": 1000});
    assert_eq!(apps[1].set_policy(concert.id, &phase1).await.status(), 200);

    let mut tokens = Vec::new();
    for i in 0..90 {
        let app = &apps[i % 3];
        let u = app.create_user(&format!("fan{i}")).await;
        let v: Value = app.enter_queue(&u, concert.id).await.json().await.unwrap();
        tokens.push(v["token"].as_str().unwrap().to_owned());
    }
    // Phase 1: three tickers race; the active set fills to exactly max_active.
    let all: Vec<&TestApp> = apps.iter().collect();
    fills_to_max_active_and_no_further(&all, concert.id).await;

    // Phase 2: 10 admissions per second for the three tickers together.
    let phase2 = json!({"max_active": 1000, "admit_per_second": 10, "active_ttl_seconds": 600, "paused": false, "admit_per_seat": 1000});
    admits_within_the_rate(&all, concert.id, async {
        assert_eq!(apps[2].set_policy(concert.id, &phase2).await.status(), 200);
    })
    .await;
    for (i, t) in tokens.iter().enumerate() {
        assert_eq!(apps[i % 3].queue_status(t).await.status(), 200);
    }
    for app in apps {
        app.stop().await;
    }
}

/// Concerts until one sits on each master of the cluster (its `{concert:ID}` slot).
async fn concerts_on_every_shard(app: &TestApp, cluster: &Cluster) -> Vec<TestConcert> {
    let masters = cluster.masters();
    let mut found: BTreeMap<String, TestConcert> = BTreeMap::new();
    for _ in 0..64 {
        let concert = app.create_concert(2, 10, 1_000).await;
        let owner = cluster.owner(cluster.slot_of(&format!("{{concert:{}}}", concert.id)));
        found.entry(owner.id).or_insert(concert);
        if found.len() == masters.len() {
            return found.into_values().collect();
        }
    }
    panic!("64 concerts did not cover the {} masters", masters.len());
}

/// One fan: enters through one instance, polls through the next, books through the
/// third: holds free seats until one holds, pays it. Returns whether it bought.
async fn fan_buys(apps: &[TestApp], i: usize, concert: &TestConcert) -> bool {
    let (a, b, c) = (&apps[i % 3], &apps[(i + 1) % 3], &apps[(i + 2) % 3]);
    let user: TestUser = a.create_user(&format!("fan{i}-{}", concert.id)).await;
    assert_eq!(a.charge(&user, 10_000).await.status(), 200);
    let res = a.enter_queue(&user, concert.id).await;
    assert!(res.status().is_success(), "enter: {}", res.status());
    let token = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v: Value = b.queue_status(&token).await.json().await.unwrap();
        match v["status"].as_str() {
            Some("ACTIVE") => break,
            Some("WAITING") => {}
            // Admission knows the inventory: once every seat is sold the line closes.
            Some("SOLD_OUT") => return false,
            other => panic!("fan {i}: {other:?} while waiting: {v}"),
        }
        assert!(Instant::now() < deadline, "fan {i} not admitted in 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut seats: Vec<i64> = concert.seats.iter().map(|s| s.0).collect();
    let n = seats.len();
    seats.rotate_left(i % n);
    for seat in seats {
        let res = c.hold(&user, Some(&token), concert.schedule_id, seat).await;
        match res.status().as_u16() {
            201 => {
                let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
                let key = format!("buy-{i}-{id}");
                let paid = a.pay(&user, Some(&token), id, Some(&key)).await;
                assert_eq!(paid.status(), 200, "payment of a held seat");
                // The same payment retried through another instance: one charge.
                let again = b.pay(&user, Some(&token), id, Some(&key)).await;
                assert_eq!(again.status(), 200, "an idempotent retry");
                assert_eq!(b.balance(&user).await, 9_000, "charged once");
                let _ = b.leave_queue(&token).await;
                return true;
            }
            409 => continue,
            other => panic!(
                "fan {i} hold: {other} {}",
                res.text().await.unwrap_or_default()
            ),
        }
    }
    let _ = a.leave_queue(&token).await;
    false
}

#[tokio::test]
async fn a_sell_out_through_three_instances_over_three_shards_on_redis_cluster_and_postgres() {
    use sea_orm::{ConnectionTrait, Database, Statement};
    const FANS_PER_CONCERT: usize = 30; // 20 seats each
    let nodes = redis_cluster_urls();
    let cluster = Cluster::new(nodes.clone());
    let prefix = new_prefix();
    let db = frontrow_tests::app::fresh_database_url(Db::Postgres).await;
    let mut apps = Vec::new();
    for _ in 0..3 {
        apps.push(
            app_on_cluster(&nodes, Some(db.clone()), &prefix, |s| {
                s.queue.tick_interval_ms = 50;
                s.database.max_connections = 16;
            })
            .await,
        );
    }
    let concerts = concerts_on_every_shard(&apps[0], &cluster).await;
    let shards: BTreeSet<String> = concerts
        .iter()
        .map(|c| {
            cluster
                .owner(cluster.slot_of(&format!("{{concert:{}}}", c.id)))
                .id
        })
        .collect();
    assert_eq!(shards.len(), 3, "one concert per shard");
    for (n, c) in concerts.iter().enumerate() {
        // Admission through the line: 8 at a time, 40 a second.
        let policy = json!({"max_active": 8, "admit_per_second": 40, "active_ttl_seconds": 600, "paused": false});
        assert_eq!(apps[n % 3].set_policy(c.id, &policy).await.status(), 200);
    }
    let apps_ref = &apps;
    let outcomes = join_all(concerts.iter().flat_map(|c| {
        (0..FANS_PER_CONCERT).map(move |i| async move { (c.id, fan_buys(apps_ref, i, c).await) })
    }))
    .await;
    for c in &concerts {
        let bought = outcomes.iter().filter(|(id, b)| *id == c.id && *b).count();
        assert_eq!(bought, c.seats.len(), "concert {} sold out", c.id);
        let seats = apps[2].seats(c.schedule_id).await;
        assert!(
            seats
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["status"] == "SOLD"),
            "every seat of concert {} SOLD",
            c.id
        );
    }

    // The booking invariants, in the database itself.
    let conn = Database::connect(&db).await.expect("database");
    let count = |sql: &str| {
        let conn = &conn;
        let sql = sql.to_owned();
        async move {
            let row = conn
                .query_one_raw(Statement::from_string(
                    conn.get_database_backend(),
                    sql.clone(),
                ))
                .await
                .expect("query")
                .expect("a row");
            row.try_get_by_index::<i64>(0)
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        }
    };
    let total_seats: i64 = concerts.iter().map(|c| c.seats.len() as i64).sum();
    let checks = [
        (
            "SELECT COUNT(*) FROM seats WHERE status = 'SOLD'",
            total_seats,
        ),
        (
            "SELECT COUNT(*) FROM reservations WHERE status = 'CONFIRMED'",
            total_seats,
        ),
        (
            "SELECT COUNT(*) FROM (SELECT seat_id FROM reservations WHERE status = 'CONFIRMED' \
             GROUP BY seat_id HAVING COUNT(*) > 1) t",
            0,
        ),
        (
            "SELECT COUNT(*) FROM seats s WHERE s.status = 'SOLD' AND NOT EXISTS (SELECT 1 FROM \
             reservations r WHERE r.seat_id = s.id AND r.status = 'CONFIRMED')",
            0,
        ),
        // A one-seat purchase is an order of one: its payment is the order's.
        ("SELECT COUNT(*) FROM order_payments", total_seats),
        (
            "SELECT COUNT(*) FROM (SELECT order_id FROM order_payments GROUP BY order_id \
             HAVING COUNT(*) > 1) t",
            0,
        ),
        (
            "SELECT COUNT(*) FROM order_payments p JOIN orders o ON o.id = p.order_id \
             WHERE o.status <> 'PAID' OR p.amount <> o.total",
            0,
        ),
        (
            "SELECT COUNT(*) FROM reservations r WHERE r.status = 'CONFIRMED' AND NOT EXISTS \
             (SELECT 1 FROM order_payments p WHERE p.order_id = r.order_id)",
            0,
        ),
        (
            "SELECT COUNT(*) FROM ledger_entries WHERE kind = 'ORDER'",
            total_seats,
        ),
        (
            "SELECT COUNT(*) FROM wallets w LEFT JOIN (SELECT user_id, SUM(delta) AS s FROM \
             ledger_entries GROUP BY user_id) l ON l.user_id = w.user_id \
             WHERE w.balance <> COALESCE(l.s, 0)",
            0,
        ),
        ("SELECT COUNT(*) FROM wallets WHERE balance < 0", 0),
    ];
    for (sql, want) in checks {
        assert_eq!(count(sql).await, want, "{sql}");
    }
    let _ = conn.close().await;
    for app in apps {
        app.stop().await;
    }
}

/// One request's outcome in the failover test.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    at: Duration,
    status: u16,
    retry_after: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_master_killed_mid_sale_answers_503_then_recovers_without_a_restart_on_redis_cluster() {
    let nodes = redis_failover_urls();
    let cluster = Cluster::new(nodes.clone());
    let app = Arc::new(
        app_on_cluster(&nodes, None, &new_prefix(), |s| {
            // What an operator would run: a Redis call answers within 500 ms or 503.
            s.redis.timeout_ms = 500;
        })
        .await,
    );
    let concert = app.create_concert(1, 10, 100).await;
    let victim = cluster.owner(cluster.slot_of(&format!("{{concert:{}}}", concert.id)));
    let fans = join_all((0..8).map(|i| {
        let app = app.clone();
        async move { app.create_user(&format!("fan{i}")).await }
    }))
    .await;
    for fan in &fans {
        assert!(app.enter_queue(fan, concert.id).await.status().is_success());
    }

    // Fans keep entering (each enter runs a script on the concert's shard).
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let load = fans.into_iter().map(|fan| {
        let (app, stop) = (app.clone(), stop.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let res = app.enter_queue(&fan, concert.id).await;
                seen.push(Outcome {
                    at: started.elapsed(),
                    status: res.status().as_u16(),
                    retry_after: res.headers().get("retry-after").is_some(),
                });
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            seen
        })
    });
    let load: Vec<_> = load.collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A replica that has not finished its first sync refuses to take over: wait for it.
    let replica_online = || {
        let client = deadpool_redis::redis::Client::open(victim.url.as_str()).unwrap();
        let mut conn = client.get_connection().unwrap();
        let info: String = deadpool_redis::redis::cmd("INFO")
            .arg("replication")
            .query(&mut conn)
            .unwrap();
        info.lines()
            .any(|l| l.starts_with("slave0:") && l.contains("state=online"))
    };
    let synced_by = Instant::now() + frontrow_tests::wait::HANG;
    while !replica_online() {
        assert!(
            Instant::now() < synced_by,
            "the victim's replica never synced"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pid: String = {
        let client = deadpool_redis::redis::Client::open(victim.url.as_str()).unwrap();
        let mut conn = client.get_connection().unwrap();
        let info: String = deadpool_redis::redis::cmd("INFO")
            .arg("server")
            .query(&mut conn)
            .unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("process_id:"))
            .unwrap()
            .trim()
            .to_owned()
    };
    let killed_at = started.elapsed();
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());

    // Until the line answers again after failing (the bound only catches a hang).
    let deadline = Instant::now() + frontrow_tests::wait::HANG;
    let mut probe = Vec::new();
    let mut said = String::new();
    let recovered = loop {
        let res = app.get("/readyz", None).await;
        probe.push((started.elapsed(), res.status().as_u16()));
        let failed_once = probe.iter().any(|p| p.1 == 503);
        if failed_once && res.status() == 200 {
            break true;
        }
        said = res.text().await.unwrap_or_default();
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Some more load after recovery, then stop.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    stop.store(true, Ordering::SeqCst);
    let mut outcomes: Vec<Outcome> = Vec::new();
    for task in load {
        outcomes.extend(task.await.expect("load task"));
    }
    outcomes.sort_by_key(|o| o.at);

    let first_503 = outcomes
        .iter()
        .find(|o| o.at > killed_at && o.status == 503);
    let first_ok_after = first_503.and_then(|f| {
        outcomes
            .iter()
            .find(|o| o.at > f.at && (200..300).contains(&o.status))
    });
    let last_503 = outcomes.iter().rev().find(|o| o.status == 503);
    let n503 = outcomes.iter().filter(|o| o.status == 503).count();
    println!(
        "FAILOVER kill at {killed_at:?}; first 503 at {:?}; last 503 at {:?}; first success after it at {:?}; \
         {} requests, {n503} x 503; readyz: {:?}",
        first_503.map(|o| o.at),
        last_503.map(|o| o.at),
        first_ok_after.map(|o| o.at),
        outcomes.len(),
        probe
            .iter()
            .filter(|p| p.1 == 503)
            .map(|p| p.0)
            .collect::<Vec<_>>()
            .first(),
    );
    assert!(
        recovered,
        "readyz ready again: last said {said}; masters now {:?}",
        cluster.masters()
    );
    let bad: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| !((200..300).contains(&o.status) || (o.status == 503 && o.retry_after)))
        .collect();
    assert!(bad.is_empty(), "only 2xx or 503 + Retry-After: {bad:?}");
    assert!(first_503.is_some(), "the dead master was noticed (503)");
    assert!(
        first_ok_after.is_some(),
        "the line answers again after the failover"
    );
    let last_503 = last_503.unwrap();
    assert!(
        outcomes
            .iter()
            .filter(|o| o.at > last_503.at)
            .all(|o| (200..300).contains(&o.status)),
        "once back, it stays back"
    );
    // The concert's slot is served by the promoted replica.
    let now_serving = cluster.owner(cluster.slot_of(&format!("{{concert:{}}}", concert.id)));
    assert_ne!(now_serving.id, victim.id, "a replica took over");
    Arc::try_unwrap(app).ok().expect("sole owner").stop().await;
}
