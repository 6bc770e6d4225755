//! Faults on the wire: the fault proxy (`frontrow_tests::fault`) between the app and
//! Redis, PostgreSQL or MariaDB, switched during a sale. With added latency or a thin
//! link the line still answers (every call succeeds); with the link stalled,
//! blackholed or reset a call answers 503 with `Retry-After` or succeeds from what the
//! instance holds, never another 5xx and never a hang; once the link is back every
//! call succeeds again without a restart. Across all of it: every fan who entered keeps
//! their place, nobody is overtaken, no seat is sold twice and no payment is taken
//! twice (a payment answered 503 is retried with its idempotency key).
//!
//! Each run prints its fault table, one `FAULT|link|fault|codes|slowest ms (call)|recovery
//! ms` line per fault (`scripts/fault-table.sh` turns them into the table of
//! `docs/src/operator/season.md`). Times are printed, never asserted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use frontrow_tests::app::{AppOptions, Db, TestApp, TestUser, fresh_database_url, spawn_app_with};
use frontrow_tests::fault::{Fault, FaultProxy, ProxiedCluster, host_port};
use frontrow_tests::required_env;
use frontrow_tests::wait;
use serde_json::{Value, json};

const PRICE: i64 = 100;
const FANS: usize = 24;
/// `redis.timeout_ms` of these apps (debug builds on shared cores need some slack).
const REDIS_TIMEOUT_MS: u64 = 1_000;
/// `database.acquire_timeout_ms` and `connect_timeout_ms` of these apps.
const DB_TIMEOUT_MS: u64 = 2_000;

#[derive(Debug, Clone, Copy)]
enum Link {
    Redis,
    RedisCluster,
    Postgres,
    MariaDb,
}

impl Link {
    fn name(self) -> &'static str {
        match self {
            Link::Redis => "app-Redis",
            Link::RedisCluster => "app-Redis Cluster (3 masters)",
            Link::Postgres => "app-PostgreSQL",
            Link::MariaDb => "app-MariaDB",
        }
    }
}

fn faults() -> Vec<(&'static str, Fault)> {
    vec![
        (
            "latency 200 ms round trip",
            Fault::Latency(Duration::from_millis(100)),
        ),
        ("bandwidth 64 KB/s", Fault::Bandwidth(64 * 1024)),
        ("stall", Fault::Stall),
        ("blackhole", Fault::Blackhole),
        ("reset (link cut)", Fault::Reset),
    ]
}

/// One call's outcome: status, whether a 503 carried `Retry-After`, and its duration.
struct Seen {
    what: &'static str,
    status: u16,
    retry_after: bool,
    ms: u128,
}

async fn timed(what: &'static str, call: impl Future<Output = reqwest::Response>) -> (Seen, Value) {
    let start = Instant::now();
    let res = wait::returns(what, call).await;
    let ms = start.elapsed().as_millis();
    let status = res.status().as_u16();
    let retry_after = res.headers().get("retry-after").is_some();
    let body = res.json().await.unwrap_or(Value::Null);
    (
        Seen {
            what,
            status,
            retry_after,
            ms,
        },
        body,
    )
}

/// The proxy (or proxies) the faults are switched on.
enum Switch {
    One(FaultProxy),
    Cluster(ProxiedCluster),
}

impl Switch {
    fn set(&self, fault: Fault) {
        match self {
            Switch::One(p) => p.set(fault),
            Switch::Cluster(c) => c.set(fault),
        }
    }
}

/// A sale in progress through one app: fans in line in the order they entered.
struct Sale {
    app: TestApp,
    concert: i64,
    schedule: i64,
    seats: Vec<i64>,
    fans: Vec<TestUser>,
    /// Each fan's token, once an enter was answered.
    tokens: Vec<Option<String>>,
    /// Fans whose first enter was answered with a place, in answer order.
    clean: Vec<usize>,
    /// Fans who paid (seat index = buyer's number of purchase).
    buyers: Vec<usize>,
    next_fan: usize,
}

impl Sale {
    async fn new(app: TestApp) -> Sale {
        let concert = app.create_concert(1, FANS as u32, PRICE).await;
        let policy = json!({"max_active": 2, "admit_per_second": 100, "active_ttl_seconds": 600, "paused": false});
        assert_eq!(app.set_policy(concert.id, &policy).await.status(), 200);
        let mut fans = Vec::new();
        for i in 0..FANS {
            let fan = app.create_user(&format!("fan{i}")).await;
            assert_eq!(app.charge(&fan, 10 * PRICE).await.status(), 200);
            fans.push(fan);
        }
        Sale {
            concert: concert.id,
            schedule: concert.schedule_id,
            seats: concert.seats.iter().map(|s| s.0).collect(),
            app,
            fans,
            tokens: vec![None; FANS],
            clean: Vec::new(),
            buyers: Vec::new(),
            next_fan: 0,
        }
    }

    /// The next fan enters; returns what was seen.
    async fn enter_next(&mut self) -> Seen {
        let i = self.next_fan;
        self.next_fan += 1;
        let (seen, body) = timed("enter", self.app.enter_queue(&self.fans[i], self.concert)).await;
        if seen.status == 201 {
            self.tokens[i] = body["token"].as_str().map(str::to_owned);
            self.clean.push(i);
        }
        seen
    }

    /// Fans whose enter was not answered enter again (their place, if the first enter
    /// reached the line, is given back to them).
    async fn enter_again(&mut self) {
        for i in 0..self.next_fan {
            if self.tokens[i].is_none() {
                let res = self.app.enter_queue(&self.fans[i], self.concert).await;
                assert!(res.status().is_success(), "re-enter: {}", res.status());
                let v: Value = res.json().await.unwrap();
                self.tokens[i] = v["token"].as_str().map(str::to_owned);
            }
        }
    }

    /// The first fan who is ACTIVE and has not bought yet.
    async fn active_fan(&self) -> usize {
        wait::until("an admitted fan", Duration::from_millis(50), || async {
            for &i in &self.clean {
                if self.buyers.contains(&i) {
                    continue;
                }
                let token = self.tokens[i].as_deref().unwrap();
                let v: Value = self.app.queue_status(token).await.json().await.unwrap();
                if v["status"] == "ACTIVE" {
                    return Ok(i);
                }
            }
            Err("none active".to_owned())
        })
        .await
    }

    /// `fan` holds the next seat and pays (key `pay-<fan>`); what was seen, and whether
    /// the payment is still to be retried.
    async fn buy(&self, fan: usize) -> (Vec<Seen>, Option<i64>) {
        let token = self.tokens[fan].as_deref();
        let seat = self.seats[self.buyers.len()];
        let (held, body) = timed(
            "hold",
            self.app.hold(&self.fans[fan], token, self.schedule, seat),
        )
        .await;
        if held.status != 201 && held.status != 200 {
            return (vec![held], None);
        }
        let rid = body["id"].as_i64().unwrap();
        let key = format!("pay-{fan}");
        let (paid, _) = timed("pay", self.app.pay(&self.fans[fan], token, rid, Some(&key))).await;
        let retry = (paid.status != 200).then_some(rid);
        (vec![held, paid], retry)
    }
}

async fn sale_under_faults(link: Link) {
    let redis_url = required_env("FRONTROW_TEST_REDIS_URL", "a Redis server");
    let (db, db_url) = match link {
        Link::Redis | Link::RedisCluster => (Db::Sqlite, fresh_database_url(Db::Sqlite).await),
        Link::Postgres => (Db::Postgres, fresh_database_url(Db::Postgres).await),
        Link::MariaDb => (Db::MariaDb, fresh_database_url(Db::MariaDb).await),
    };
    let (proxy, redis, database_url) = match link {
        Link::RedisCluster => {
            let cluster = ProxiedCluster::start(3).await;
            let seeds = cluster.seeds();
            (Switch::Cluster(cluster), seeds, db_url)
        }
        Link::Redis => {
            let proxy = FaultProxy::start(&host_port(&redis_url)).await;
            let url = proxy.url_for(&redis_url);
            (Switch::One(proxy), url, db_url)
        }
        Link::Postgres | Link::MariaDb => {
            let proxy = FaultProxy::start(&host_port(&db_url)).await;
            let url = proxy.url_for(&db_url);
            (Switch::One(proxy), redis_url, url)
        }
    };
    let cluster = matches!(link, Link::RedisCluster);
    let app = spawn_app_with(AppOptions {
        db,
        redis: Some(redis),
        database_url: Some(database_url),
        tweak: Box::new(move |s| {
            s.redis.cluster = cluster;
            // A cluster call may take several round trips (a redirection, a reconnect).
            s.redis.timeout_ms = if cluster {
                2 * REDIS_TIMEOUT_MS
            } else {
                REDIS_TIMEOUT_MS
            };
            s.database.acquire_timeout_ms = DB_TIMEOUT_MS;
            s.database.connect_timeout_ms = DB_TIMEOUT_MS;
        }),
    })
    .await;
    let mut sale = Sale::new(app).await;
    for _ in 0..4 {
        assert_eq!(sale.enter_next().await.status, 201);
    }

    let mut table = Vec::new();
    let mut to_retry: Vec<(usize, i64)> = Vec::new();
    for (name, fault) in faults() {
        let buyer = sale.active_fan().await;
        let waiting = sale.tokens[*sale.clean.last().unwrap()].clone().unwrap();
        proxy.set(fault);
        let mut seen = Vec::new();
        seen.push(sale.enter_next().await);
        let (s, _) = timed("status", sale.app.queue_status(&waiting)).await;
        seen.push(s);
        let (s, _) = timed(
            "seats",
            sale.app
                .get(&format!("/api/v1/schedules/{}/seats", sale.schedule), None),
        )
        .await;
        seen.push(s);
        let (bought, retry) = sale.buy(buyer).await;
        let held = bought
            .first()
            .is_some_and(|s| s.status == 201 || s.status == 200);
        seen.extend(bought);
        seen.push(sale.enter_next().await);
        let (s, _) = timed("status", sale.app.queue_status(&waiting)).await;
        seen.push(s);

        let degraded_only = matches!(fault, Fault::Latency(_) | Fault::Bandwidth(_));
        for s in &seen {
            assert!(
                s.status < 500 || (s.status == 503 && s.retry_after),
                "{name}: {} answered {} (retry-after {})",
                s.what,
                s.status,
                s.retry_after
            );
            if degraded_only {
                assert!(s.status < 300, "{name}: {} answered {}", s.what, s.status);
            }
        }

        // The link is back: time until every call succeeds again (no restart).
        proxy.set(Fault::None);
        let back = Instant::now();
        let fan = sale.fans[0].clone();
        wait::until("recovery", Duration::from_millis(20), || async {
            let ready = sale.app.get("/readyz", None).await.status();
            let status = sale.app.queue_status(&waiting).await.status();
            let wallet = sale
                .app
                .get("/api/v1/wallet", Some(&fan.token))
                .await
                .status();
            if ready == 200 && status == 200 && wallet == 200 {
                Ok(())
            } else {
                Err(format!("readyz {ready}, status {status}, wallet {wallet}"))
            }
        })
        .await;
        let recovery = back.elapsed().as_millis();
        sale.enter_again().await;
        if held {
            if let Some(rid) = retry {
                to_retry.push((buyer, rid));
            }
            sale.buyers.push(buyer);
        }
        for &(fan, rid) in &to_retry {
            let res = sale
                .app
                .pay(
                    &sale.fans[fan],
                    sale.tokens[fan].as_deref(),
                    rid,
                    Some(&format!("pay-{fan}")),
                )
                .await;
            assert_eq!(res.status(), 200, "the retried payment of fan {fan}");
        }
        to_retry.clear();

        let mut codes: BTreeMap<u16, usize> = BTreeMap::new();
        for s in &seen {
            *codes.entry(s.status).or_default() += 1;
        }
        let codes = codes
            .iter()
            .map(|(c, n)| format!("{c}×{n}"))
            .collect::<Vec<_>>()
            .join(" ");
        let slowest = seen.iter().max_by_key(|s| s.ms).unwrap();
        table.push(format!(
            "FAULT|{}|{name}|{codes}|{} ({})|{recovery}",
            link.name(),
            slowest.ms,
            slowest.what
        ));
    }
    // A stall that begins while a call is on the wire (its bytes held in the proxy):
    // the call answers while the link is still stalled.
    proxy.set(Fault::Latency(Duration::from_millis(300)));
    let fan = sale.fans[sale.next_fan].clone();
    let app = &sale.app;
    let call = async {
        match link {
            Link::Redis | Link::RedisCluster => {
                timed("enter", app.enter_queue(&fan, sale.concert)).await
            }
            Link::Postgres | Link::MariaDb => {
                timed("wallet", app.get("/api/v1/wallet", Some(&fan.token))).await
            }
        }
    };
    let stall = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        proxy.set(Fault::Stall);
    };
    let ((mid, _), ()) = tokio::join!(call, stall);
    assert!(
        mid.status < 300 || (mid.status == 503 && mid.retry_after),
        "a call caught by a stall answered {}",
        mid.status
    );
    proxy.set(Fault::None);
    let back = Instant::now();
    wait::until("recovery", Duration::from_millis(20), || async {
        let ready = sale.app.get("/readyz", None).await.status();
        if ready == 200 {
            Ok(())
        } else {
            Err(format!("readyz {ready}"))
        }
    })
    .await;
    table.push(format!(
        "FAULT|{}|stall during a call|{}×1|{} ({})|{}",
        link.name(),
        mid.status,
        mid.ms,
        mid.what,
        back.elapsed().as_millis()
    ));
    for line in &table {
        println!("{line}");
    }

    // Nobody lost their place, nobody overtaken: every fan who entered is known, and the
    // fans still waiting stand in the order their enters were answered.
    for i in 0..sale.next_fan {
        let token = sale.tokens[i].as_deref().expect("every fan entered");
        assert_eq!(
            sale.app.queue_status(token).await.status(),
            200,
            "fan {i}'s place"
        );
    }
    let mut positions = Vec::new();
    for &i in &sale.clean {
        let token = sale.tokens[i].as_deref().unwrap();
        let v: Value = sale.app.queue_status(token).await.json().await.unwrap();
        if v["status"] == "WAITING" {
            positions.push(v["position"].as_u64().unwrap());
        }
    }
    assert!(positions.len() >= 2, "fans still waiting: {positions:?}");
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "waiting fans out of the order they entered: {positions:?}"
    );
    // No seat sold twice, no payment taken twice.
    let seats = sale.app.seats(sale.schedule).await;
    let sold = seats
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "SOLD")
        .count();
    assert_eq!(sold, sale.buyers.len(), "one sold seat per buyer");
    for &b in &sale.buyers {
        assert_eq!(
            sale.app.balance(&sale.fans[b]).await,
            9 * PRICE,
            "fan {b} paid once"
        );
    }
    drop(proxy);
    sale.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_survives_faults_between_the_app_and_redis_on_redis() {
    sale_under_faults(Link::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_survives_faults_between_the_app_and_a_redis_cluster_on_redis_cluster() {
    sale_under_faults(Link::RedisCluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_survives_faults_between_the_app_and_postgres_on_redis_and_postgres() {
    sale_under_faults(Link::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_survives_faults_between_the_app_and_mariadb_on_redis_and_mariadb() {
    sale_under_faults(Link::MariaDb).await;
}
