//! A season of sales, one concert after another, against running frontrow instances on
//! Redis: per concert `--fans` fans enter (the `--seats` buyers first), the buyers are
//! admitted, hold a seat each and pay, every other fan polls until the line answers
//! `SOLD_OUT` (or leaves once admitted), then the driver waits for the line to retire
//! (a buyer's token turns from `EXPIRED` to `SOLD_OUT`) and checks that late pollers read
//! `SOLD_OUT`. After each concert it records Redis `used_memory` and the keys under the
//! instances' prefix (summed over `--redis` nodes) and each instance's RSS
//! (`--server-pids`); the retained bytes per finished concert are the least-squares
//! slope over the second half of the season. Any lost place, late poller not reading
//! `SOLD_OUT`, unsold seat, unexpected answer or key bound exceeded is printed as a
//! `season: FAILED: …` line and the exit status is 1.
//!
//! usage: season --targets http://127.0.0.1:8080[,…] --admin-key K --jwt-secret S \
//!          --redis redis://…[,…] --server-pids 1,2 --concerts 100 --out season.json

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures_lite::stream_for_each;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Client;
use serde_json::{Value, json};

#[derive(Parser, Debug, Clone)]
struct Args {
    /// The instances, comma-separated; requests go round-robin over them.
    #[arg(long)]
    targets: String,
    #[arg(long)]
    admin_key: String,
    /// The HS256 secret of access tokens (the fans who only wait are signed here).
    #[arg(long)]
    jwt_secret: String,
    /// Redis nodes (one, or every master of a cluster), comma-separated.
    #[arg(long)]
    redis: String,
    /// The instances' Redis key prefix (`redis.key_prefix`).
    #[arg(long, default_value = "frontrow:")]
    key_prefix: String,
    /// The instances' process ids, comma-separated (their RSS is recorded).
    #[arg(long, default_value = "")]
    server_pids: String,
    #[arg(long, default_value_t = 100)]
    concerts: usize,
    #[arg(long, default_value_t = 1_000)]
    fans: usize,
    /// Seats per concert (a multiple of 10), one buyer each.
    #[arg(long, default_value_t = 100)]
    seats: usize,
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Quiet time after each concert before the instances' RSS is sampled (three samples
    /// 200 ms apart, the smallest kept): what a concert's requests hold only while they
    /// run is not counted as retained.
    #[arg(long, default_value_t = 1_000)]
    settle_ms: u64,
    /// Give up on one concert after this long.
    #[arg(long, default_value_t = 120)]
    concert_timeout_s: u64,
    /// Fail when the Redis keys retained per finished concert exceed this.
    #[arg(long)]
    max_redis_keys_per_concert: Option<f64>,
    /// Fail when, after any concert, more keys than one per finished concert (the
    /// retired lines' `life` hashes) plus this many are under the prefix.
    #[arg(long)]
    max_extra_keys: Option<u64>,
    #[arg(long)]
    out: String,
}

/// A few helpers to run requests concurrently without pulling a stream crate in.
mod futures_lite {
    use std::future::Future;
    use std::sync::Arc;

    use tokio::sync::Semaphore;

    /// Runs `f` on every item, at most `limit` at once; returns the results in order.
    pub async fn stream_for_each<T, R, F, Fut>(items: Vec<T>, limit: usize, f: F) -> Vec<R>
    where
        T: Send + 'static,
        R: Send + 'static,
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
    {
        let sem = Arc::new(Semaphore::new(limit.max(1)));
        let f = Arc::new(f);
        let mut tasks = Vec::with_capacity(items.len());
        for item in items {
            let (sem, f) = (sem.clone(), f.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = sem.acquire_owned().await;
                f(item).await
            }));
        }
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            if let Ok(r) = t.await {
                out.push(r);
            }
        }
        out
    }
}

struct Api {
    client: Client,
    targets: Vec<String>,
    next: AtomicUsize,
    admin_key: String,
    jwt: EncodingKey,
    /// Answers that were neither expected nor a 503/429 to retry.
    errors: AtomicU64,
    /// 503 and 429 answers, retried.
    retried: AtomicU64,
}

impl Api {
    fn base(&self) -> &str {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.targets.len();
        &self.targets[i]
    }

    fn bearer(&self, user: i64) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = json!({ "sub": user.to_string(), "iat": now, "exp": now + 86_400 });
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.jwt,
        )?)
    }

    /// Sends the request built by `make` (on the next target) until it is not a 503 or
    /// 429; returns the status and the JSON body (`Null` when there is none).
    async fn call(
        &self,
        make: impl Fn(&Client, &str) -> reqwest::RequestBuilder,
    ) -> anyhow::Result<(u16, Value)> {
        for _ in 0..50 {
            let res = make(&self.client, self.base()).send().await;
            let res = match res {
                Ok(r) => r,
                Err(_) => {
                    self.retried.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            let status = res.status().as_u16();
            if status == 503 || status == 429 {
                self.retried.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let body = res.json::<Value>().await.unwrap_or(Value::Null);
            return Ok((status, body));
        }
        bail!("no answer but 503/429 after 50 tries")
    }
}

/// One fan's token and role in a concert.
#[derive(Clone)]
struct Fan {
    token: String,
    /// The buyer's access token and the seat it buys.
    buys: Option<(String, i64)>,
}

#[derive(Debug, Default, Clone, serde::Serialize)]
struct Row {
    concert: usize,
    seconds: f64,
    sold: usize,
    sold_out_seen: usize,
    lost: usize,
    late_not_sold_out: usize,
    /// Keys of the retired line left in Redis (its `life`).
    keys_left: u64,
    redis_used_memory: u64,
    /// Keys under the instances' prefix (summed over the nodes): what the app keeps in
    /// Redis, whatever else shares the server.
    redis_keys: u64,
    /// RSS of all instances, and of each.
    rss: u64,
    rss_each: Vec<u64>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("season: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("season: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> anyhow::Result<bool> {
    let api = Arc::new(Api {
        client: Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(args.concurrency)
            .build()?,
        targets: args.targets.split(',').map(str::to_owned).collect(),
        next: AtomicUsize::new(0),
        admin_key: args.admin_key.clone(),
        jwt: EncodingKey::from_secret(args.jwt_secret.as_bytes()),
        errors: AtomicU64::new(0),
        retried: AtomicU64::new(0),
    });
    let pids: Vec<u32> = args
        .server_pids
        .split(',')
        .filter_map(|p| p.trim().parse().ok())
        .collect();
    let nodes: Vec<String> = args.redis.split(',').map(str::to_owned).collect();
    let buyers = make_buyers(&api, args.seats, args.concerts).await?;
    let mut rows = Vec::new();
    let mut baseline = None;
    for n in 1..=args.concerts {
        let mut row = concert(&api, &args, &buyers, n).await?;
        row.redis_used_memory = redis_sum(&nodes, "used_memory").await?;
        row.redis_keys = prefixed_keys(&nodes, &format!("{}*", args.key_prefix)).await?;
        tokio::time::sleep(Duration::from_millis(args.settle_ms)).await;
        row.rss_each = pids.iter().map(|&p| rss_bytes(&[p])).collect();
        for _ in 0..2 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            for (i, &p) in pids.iter().enumerate() {
                row.rss_each[i] = row.rss_each[i].min(rss_bytes(&[p]));
            }
        }
        row.rss = row.rss_each.iter().sum();
        eprintln!(
            "concert {n}: {:.1} s, sold {}, redis {} B / {} keys, rss {} B",
            row.seconds, row.sold, row.redis_used_memory, row.redis_keys, row.rss
        );
        if baseline.is_none() {
            baseline = Some(row.clone());
        }
        rows.push(row);
    }
    // Requests each instance answered over the season (its `http_requests_total`), read
    // once at the end: the report gives them per concert.
    let mut requests = Vec::new();
    for target in &api.targets {
        let text = api
            .client
            .get(format!("{target}/metrics"))
            .send()
            .await?
            .text()
            .await?;
        let total: f64 = text
            .lines()
            .filter(|l| l.starts_with("http_requests_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        requests.push(total as u64);
    }
    let half: Vec<&Row> = rows.iter().skip(rows.len() / 2).collect();
    let slope = |f: &dyn Fn(&Row) -> u64| {
        let pts: Vec<(f64, f64)> = half
            .iter()
            .map(|r| (r.concert as f64, f(r) as f64))
            .collect();
        least_squares_slope(&pts)
    };
    let redis_per = slope(&|r| r.redis_used_memory);
    let keys_per = slope(&|r| r.redis_keys);
    let rss_per = slope(&|r| r.rss);
    let errors = api.errors.load(Ordering::Relaxed);
    let lost: usize = rows.iter().map(|r| r.lost).sum();
    let late: usize = rows.iter().map(|r| r.late_not_sold_out).sum();
    let unsold: usize = rows
        .iter()
        .map(|r| args.seats - r.sold.min(args.seats))
        .sum();
    let summary = json!({
        "concerts": args.concerts, "fans": args.fans, "seats": args.seats,
        "targets": api.targets.len(), "redis_nodes": nodes.len(),
        "retained_redis_bytes_per_concert": redis_per,
        "retained_redis_keys_per_concert": keys_per,
        "retained_rss_bytes_per_concert_all_instances": rss_per,
        "retained_rss_bytes_per_concert_per_instance": rss_per / pids.len().max(1) as f64,
        "retained_rss_bytes_per_concert_each_instance": (0..pids.len())
            .map(|i| slope(&|r| r.rss_each.get(i).copied().unwrap_or(0)))
            .collect::<Vec<f64>>(),
        "unexpected_answers": errors, "retried_503_429": api.retried.load(Ordering::Relaxed),
        "requests_per_instance": requests,
        "lost_places": lost, "late_pollers_not_sold_out": late, "unsold_seats": unsold,
        "rows": rows,
    });
    std::fs::write(&args.out, serde_json::to_vec_pretty(&summary)?)
        .with_context(|| format!("cannot write {}", args.out))?;
    eprintln!(
        "retained per finished concert (slope over concerts {}..{}): redis {redis_per:.0} B, {keys_per:.2} keys; rss {rss_per:.0} B over {} instance(s)",
        args.concerts / 2 + 1,
        args.concerts,
        pids.len()
    );
    let mut failures = Vec::new();
    if let Some(max) = args.max_redis_keys_per_concert
        && keys_per > max
    {
        failures.push(format!(
            "{keys_per:.2} Redis keys retained per finished concert (bound {max})"
        ));
    }
    if let Some(extra) = args.max_extra_keys {
        for r in &rows {
            if r.redis_keys > r.concert as u64 + extra {
                failures.push(format!(
                    "after concert {}: {} keys under the prefix, more than one per finished concert + {extra}",
                    r.concert, r.redis_keys
                ));
            }
        }
    }
    if errors > 0 {
        failures.push(format!("{errors} unexpected answers"));
    }
    if lost > 0 {
        failures.push(format!("{lost} fans lost their place"));
    }
    if late > 0 {
        failures.push(format!("{late} late pollers did not read SOLD_OUT"));
    }
    if unsold > 0 {
        failures.push(format!("{unsold} seats not sold"));
    }
    for f in &failures {
        eprintln!("season: FAILED: {f}");
    }
    Ok(failures.is_empty())
}

/// The buyers, one per seat, made once and reused for every concert, wallets topped up.
async fn make_buyers(api: &Arc<Api>, seats: usize, concerts: usize) -> anyhow::Result<Vec<String>> {
    let tokens = stream_for_each((0..seats).collect(), 16, {
        let api = api.clone();
        move |i| {
            let api = api.clone();
            async move {
                let name = format!("season-{}-{i}", std::process::id());
                let user = json!({
                    "name": name,
                    "email": format!("{name}@season.test"),
                    "password": "season-load-test",
                });
                let (s, v) = api
                    .call(|c, b| c.post(format!("{b}/api/v1/users")).json(&user))
                    .await?;
                let token = v["access_token"]
                    .as_str()
                    .with_context(|| format!("sign-up answered {s}: {v}"))?
                    .to_owned();
                let amount = (100 * concerts as i64).max(100);
                let (s, v) = api
                    .call(|c, b| {
                        c.post(format!("{b}/api/v1/wallet/charge"))
                            .bearer_auth(&token)
                            .json(&json!({ "amount": amount }))
                    })
                    .await?;
                if s != 200 {
                    bail!("charge answered {s}: {v}");
                }
                anyhow::Ok(token)
            }
        }
    })
    .await;
    tokens.into_iter().collect()
}

async fn concert(api: &Arc<Api>, args: &Args, buyers: &[String], n: usize) -> anyhow::Result<Row> {
    let started = Instant::now();
    let body = json!({
        "title": format!("Season night {n}"), "venue": "Arena",
        "schedules": [{ "starts_at": "2031-01-01T20:00:00Z", "rows": 10,
                        "seats_per_row": args.seats / 10, "price": 100 }]
    });
    let key = api.admin_key.clone();
    let (s, v) = api
        .call(|c, b| {
            c.post(format!("{b}/api/v1/admin/concerts"))
                .header("X-Admin-Key", &key)
                .json(&body)
        })
        .await?;
    let (Some(id), Some(schedule)) = (v["id"].as_i64(), v["schedules"][0]["id"].as_i64()) else {
        bail!("create concert answered {s}: {v}");
    };
    let policy = json!({"max_active": 1000, "admit_per_second": 1000, "active_ttl_seconds": 120, "paused": false});
    api.call(|c, b| {
        c.put(format!("{b}/api/v1/admin/concerts/{id}/queue-policy"))
            .header("X-Admin-Key", &key)
            .json(&policy)
    })
    .await?;
    let (_, seats) = api
        .call(|c, b| c.get(format!("{b}/api/v1/schedules/{schedule}/seats")))
        .await?;
    let seat_ids: Vec<i64> = seats
        .as_array()
        .context("seat map")?
        .iter()
        .filter_map(|s| s["id"].as_i64())
        .collect();

    // The buyers enter first, then everyone else.
    let mut fans = Vec::with_capacity(args.fans);
    for (i, buyer) in buyers.iter().enumerate() {
        let token = enter(api, id, buyer.clone()).await?;
        fans.push(Fan {
            token,
            buys: Some((buyer.clone(), seat_ids[i % seat_ids.len()])),
        });
    }
    let base = 1_000_000_000 + (n as i64) * 100_000;
    let others: Vec<i64> = (0..args.fans.saturating_sub(buyers.len()) as i64)
        .map(|i| base + i)
        .collect();
    let entered = stream_for_each(others, args.concurrency, {
        let api = api.clone();
        move |user| {
            let api = api.clone();
            async move { enter(&api, id, api.bearer(user)?).await }
        }
    })
    .await;
    for token in entered {
        fans.push(Fan {
            token: token?,
            buys: None,
        });
    }

    let mut row = Row {
        concert: n,
        ..Row::default()
    };
    let mut pending = fans.clone();
    let deadline = Instant::now() + Duration::from_secs(args.concert_timeout_s);
    while !pending.is_empty() {
        if Instant::now() > deadline {
            bail!("concert {n}: {} fans still in line", pending.len());
        }
        let outcomes = stream_for_each(pending.clone(), args.concurrency, {
            let api = api.clone();
            move |fan: Fan| {
                let api = api.clone();
                async move { step(&api, schedule, fan).await }
            }
        })
        .await;
        let mut next = Vec::new();
        for (fan, outcome) in pending.into_iter().zip(outcomes) {
            match outcome? {
                Step::Waiting => next.push(fan),
                Step::Bought => row.sold += 1,
                Step::SoldOut => row.sold_out_seen += 1,
                Step::Left => {}
                Step::Lost => row.lost += 1,
            }
        }
        pending = next;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The line retires: a buyer's token (EXPIRED since the payment) reads SOLD_OUT, on
    // every instance (each learns it at its next read of the line; until then its view
    // may still answer the buyer EXPIRED).
    let probe = fans[0].token.clone();
    for target in &api.targets {
        loop {
            if Instant::now() > deadline {
                bail!("concert {n}: the line did not retire (as {target} tells)");
            }
            let v = api
                .client
                .get(format!("{target}/api/v1/queue/status"))
                .header("X-Queue-Token", &probe)
                .send()
                .await?
                .json::<Value>()
                .await
                .unwrap_or(Value::Null);
            if v["status"] == "SOLD_OUT" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Retiring unlinks the users hash's buckets in batches after the line reads retired:
    // wait until only the line's `life` key is left.
    let nodes: Vec<String> = args.redis.split(',').map(str::to_owned).collect();
    loop {
        let left = line_keys(&nodes, &args.key_prefix, id).await?;
        if left <= 1 {
            row.keys_left = left;
            break;
        }
        if Instant::now() > deadline {
            bail!("concert {n}: {left} keys of its line are still in Redis");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for fan in fans.iter().step_by((fans.len() / 20).max(1)) {
        let (s, v) = status(api, &fan.token).await?;
        if s != 200 || v["status"] != "SOLD_OUT" {
            eprintln!("concert {n}: a late poller read {s} {v}");
            row.late_not_sold_out += 1;
        }
    }
    row.seconds = started.elapsed().as_secs_f64();
    Ok(row)
}

async fn enter(api: &Api, concert: i64, bearer: String) -> anyhow::Result<String> {
    let (s, v) = api
        .call(|c, b| {
            c.post(format!("{b}/api/v1/concerts/{concert}/queue"))
                .bearer_auth(&bearer)
        })
        .await?;
    v["token"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("enter answered {s}: {v}"))
}

async fn status(api: &Api, token: &str) -> anyhow::Result<(u16, Value)> {
    api.call(|c, b| {
        c.get(format!("{b}/api/v1/queue/status"))
            .header("X-Queue-Token", token)
    })
    .await
}

enum Step {
    Waiting,
    Bought,
    SoldOut,
    Left,
    Lost,
}

/// One poll of one fan, and what an admitted fan then does.
async fn step(api: &Api, schedule: i64, fan: Fan) -> anyhow::Result<Step> {
    let (s, v) = status(api, &fan.token).await?;
    if s != 200 {
        api.errors.fetch_add(1, Ordering::Relaxed);
        return Ok(Step::Lost);
    }
    match (v["status"].as_str().unwrap_or_default(), &fan.buys) {
        ("WAITING" | "PRE_QUEUE", _) => Ok(Step::Waiting),
        ("SOLD_OUT" | "CLOSED", _) => Ok(Step::SoldOut),
        ("ACTIVE", Some((bearer, seat))) => {
            let (s, held) = api
                .call(|c, b| {
                    c.post(format!("{b}/api/v1/reservations"))
                        .bearer_auth(bearer)
                        .header("X-Queue-Token", &fan.token)
                        .json(&json!({ "schedule_id": schedule, "seat_id": seat }))
                })
                .await?;
            let Some(reservation) = held["id"].as_i64() else {
                eprintln!("hold answered {s}: {held}");
                api.errors.fetch_add(1, Ordering::Relaxed);
                return Ok(Step::Lost);
            };
            let key = format!("season-{reservation}");
            let (s, paid) = api
                .call(|c, b| {
                    c.post(format!("{b}/api/v1/reservations/{reservation}/payment"))
                        .bearer_auth(bearer)
                        .header("X-Queue-Token", &fan.token)
                        .header("Idempotency-Key", &key)
                })
                .await?;
            if s != 200 {
                eprintln!("payment answered {s}: {paid}");
                api.errors.fetch_add(1, Ordering::Relaxed);
                return Ok(Step::Lost);
            }
            Ok(Step::Bought)
        }
        ("ACTIVE", None) => {
            api.call(|c, b| {
                c.delete(format!("{b}/api/v1/queue"))
                    .header("X-Queue-Token", &fan.token)
            })
            .await?;
            Ok(Step::Left)
        }
        (other, _) => {
            eprintln!("a fan still in line read {other}");
            Ok(Step::Lost)
        }
    }
}

async fn info(node: &str, section: &str) -> anyhow::Result<String> {
    let client = redis::Client::open(node)?;
    let mut con = client.get_multiplexed_async_connection().await?;
    Ok(redis::cmd("INFO")
        .arg(section)
        .query_async::<String>(&mut con)
        .await?)
}

fn field(info: &str, name: &str) -> Option<u64> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
}

async fn redis_sum(nodes: &[String], name: &str) -> anyhow::Result<u64> {
    let mut total = 0;
    for node in nodes {
        total += field(&info(node, "memory").await?, name).unwrap_or(0);
    }
    Ok(total)
}

/// Keys of one concert's line (its hash tag), on every node.
async fn line_keys(nodes: &[String], prefix: &str, concert: i64) -> anyhow::Result<u64> {
    prefixed_keys(nodes, &format!("{prefix}{{concert:{concert}}}:*")).await
}

/// Keys matching `pattern` on every node.
async fn prefixed_keys(nodes: &[String], pattern: &str) -> anyhow::Result<u64> {
    let mut total = 0;
    for node in nodes {
        let client = redis::Client::open(node.as_str())?;
        let mut con = client.get_multiplexed_async_connection().await?;
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(10_000)
                .query_async(&mut con)
                .await?;
            total += keys.len() as u64;
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    Ok(total)
}

/// Sum of VmRSS (bytes) of `pids` (0 when none is given or readable).
fn rss_bytes(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| {
            let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map(|kb| kb * 1024)
        })
        .sum()
}

fn least_squares_slope(pts: &[(f64, f64)]) -> f64 {
    let n = pts.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (sx, sy) = pts.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = pts.iter().fold((0.0, 0.0), |(a, b), (x, y)| {
        (a + (x - mx) * (y - my), b + (x - mx) * (x - mx))
    });
    if den == 0.0 { 0.0 } else { num / den }
}
