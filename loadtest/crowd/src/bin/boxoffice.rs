//! The box office at a stadium's on-sale: a 10,000-seat stadium (four sections of 25 rows
//! of 100 seats with aisles every 25, two price categories) plus a standing area of
//! 2,000; `--parties` parties (sizes 1–6, mean exactly 4) and `--standing-orders` standing
//! orders (1–4 places), all admitted first, then all ordering at once — best-available for
//! the parties — and paying as soon as they hold. Prints (and writes as JSON) seats/s,
//! p50/p99 of order and payment, the share of 409, seats left unsold, lone seats left and
//! double-sold seats (seats in two paid orders), with the verdict against the targets.
//!
//! usage: boxoffice --base http://127.0.0.1:8080 --admin-key KEY --out result.json

use std::collections::{HashMap, HashSet};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use reqwest::Client;
use serde_json::{Value, json};
use tokio::sync::{Barrier, Semaphore};
use tokio::time::Instant;

#[derive(Parser, Debug, Clone)]
struct Args {
    /// The frontrow under test: its first instance prepares the sale and the fans; every
    /// further instance (`--also`) shares its database and line and takes its turn at
    /// the orders and payments.
    #[arg(long)]
    base: String,
    /// Further instances, comma-separated base URLs.
    #[arg(long, value_delimiter = ',')]
    also: Vec<String>,
    /// Server processes whose CPU time is counted over the timed phase (first order to
    /// last payment), beside this client's and the whole machine's (Linux `/proc`).
    #[arg(long, value_delimiter = ',')]
    cpu_of: Vec<u32>,
    /// The database's processes: every process of this user id (PostgreSQL's backends,
    /// MariaDB's server), counted like the servers.
    #[arg(long)]
    cpu_of_uid: Option<u32>,
    /// After the fans are prepared, write this file and wait this long before the timed
    /// phase (a profiler attaches then).
    #[arg(long)]
    ready_file: Option<String>,
    #[arg(long, default_value_t = 0)]
    pause_ms: u64,
    #[arg(long)]
    admin_key: String,
    #[arg(long, default_value_t = 2_500)]
    parties: usize,
    #[arg(long, default_value_t = 500)]
    standing_orders: usize,
    /// Let parties split when no block seats them together.
    #[arg(long)]
    allow_split: bool,
    /// Concurrent requests while preparing fans (users, admission, wallets).
    #[arg(long, default_value_t = 200)]
    prepare_concurrency: usize,
    /// Where the result JSON goes.
    #[arg(long)]
    out: String,
}

const SECTIONS: [(&str, &str); 4] = [
    ("North", "Gold"),
    ("East", "Silver"),
    ("South", "Gold"),
    ("West", "Silver"),
];
const ROWS: usize = 25;
const SEATS_PER_ROW: u32 = 100;
const STANDING: u32 = 2_000;

fn layout() -> Value {
    let row = |r: usize| {
        let mut seats = Vec::new();
        for n in 1..=SEATS_PER_ROW {
            seats.push(json!(n));
            if n % 25 == 0 && n < SEATS_PER_ROW {
                seats.push(Value::Null);
            }
        }
        json!({ "label": format!("R{r}"), "seats": seats })
    };
    let mut sections: Vec<Value> = SECTIONS
        .iter()
        .map(|(name, cat)| {
            json!({ "name": name, "category": cat, "rows": (0..ROWS).map(row).collect::<Vec<_>>() })
        })
        .collect();
    sections.push(json!({ "name": "Field", "category": "Silver", "capacity": STANDING }));
    json!({
        "categories": [ { "name": "Gold", "price": 12000 }, { "name": "Silver", "price": 8000 } ],
        "sections": sections
    })
}

/// The seat's place in its row: an aisle after every 25 seats.
fn x_of(number: u32) -> u32 {
    number - 1 + (number - 1) / 25
}

struct Fan {
    token: String,
    queue: String,
}

fn millis(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        return 0.0;
    }
    h.value_at_quantile(q) as f64 / 1_000.0
}

async fn json_of(res: reqwest::Response) -> anyhow::Result<(u16, Value)> {
    let status = res.status().as_u16();
    let text = res.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

async fn prepare(
    client: &Client,
    args: &Args,
    concert: i64,
    n: usize,
    funds: i64,
) -> anyhow::Result<Vec<Fan>> {
    let gate = Arc::new(Semaphore::new(args.prepare_concurrency));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let (client, base, gate) = (client.clone(), args.base.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await?;
            let (s, v) = json_of(
                client
                    .post(format!("{base}/api/v1/users"))
                    .json(&json!({
                        "name": format!("fan{i}"),
                        "email": format!("fan{i}-{}@load.test", std::process::id()),
                        "password": "load-test-password",
                    }))
                    .send()
                    .await?,
            )
            .await?;
            if s != 201 {
                bail!("create user: {s} {v}");
            }
            let token = v["access_token"].as_str().context("token")?.to_owned();
            let (s, v) = json_of(
                client
                    .post(format!("{base}/api/v1/wallet/charge"))
                    .bearer_auth(&token)
                    .json(&json!({ "amount": funds }))
                    .send()
                    .await?,
            )
            .await?;
            if s != 200 {
                bail!("charge: {s} {v}");
            }
            let (s, v) = json_of(
                client
                    .post(format!("{base}/api/v1/concerts/{concert}/queue"))
                    .bearer_auth(&token)
                    .send()
                    .await?,
            )
            .await?;
            if !(200..300).contains(&s) {
                bail!("enter: {s} {v}");
            }
            let queue = v["token"].as_str().context("queue token")?.to_owned();
            let mut status = v["status"].as_str().unwrap_or_default().to_owned();
            let deadline = Instant::now() + Duration::from_secs(300);
            while status != "ACTIVE" {
                if Instant::now() > deadline {
                    bail!("not admitted in 300 s: {status}");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                let (_, v) = json_of(
                    client
                        .get(format!("{base}/api/v1/queue/status"))
                        .header("X-Queue-Token", &queue)
                        .send()
                        .await?,
                )
                .await?;
                status = v["status"].as_str().unwrap_or_default().to_owned();
            }
            Ok(Fan { token, queue })
        }));
    }
    let mut fans = Vec::with_capacity(n);
    for t in tasks {
        fans.push(t.await??);
    }
    Ok(fans)
}

#[derive(Default)]
struct Outcome {
    order_status: u16,
    order_us: u64,
    pay_status: u16,
    pay_us: u64,
    seats: Vec<i64>,
    tickets: u64,
    lone: u64,
}

/// CPU seconds spent so far by the servers, this client and the whole machine (busy).
#[derive(Debug, Clone, Copy)]
struct CpuSample {
    servers: f64,
    client: f64,
    database: Option<f64>,
    machine: f64,
}

impl CpuSample {
    /// `None` where `/proc` cannot be read (not Linux, or a server gone).
    fn take(servers: &[u32], db_uid: Option<u32>) -> Option<CpuSample> {
        // Clock ticks (USER_HZ): 100 on every Linux this runs on.
        const HZ: f64 = 100.0;
        let of = |pid: &str| -> Option<f64> {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // Fields after the command's closing parenthesis; utime is field 14 overall.
            let rest = stat.rsplit_once(')')?.1;
            let f: Vec<f64> = rest
                .split_whitespace()
                .skip(11)
                .take(4)
                .filter_map(|x| x.parse().ok())
                .collect();
            (f.len() == 4).then(|| f.iter().sum::<f64>() / HZ)
        };
        let mut total = 0.0;
        for pid in servers {
            total += of(&pid.to_string())?;
        }
        let line = std::fs::read_to_string("/proc/stat").ok()?;
        let cpu: Vec<f64> = line
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        // user, nice, system, irq, softirq (not idle, not iowait).
        let busy = [0usize, 1, 2, 5, 6]
            .iter()
            .filter_map(|i| cpu.get(*i))
            .sum::<f64>()
            / HZ;
        // A process of the database's user (its status file names the real uid first).
        let database = db_uid.map(|uid| {
            let mut sum = 0.0;
            for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                let pid = entry.file_name().to_string_lossy().into_owned();
                if !pid.bytes().all(|b| b.is_ascii_digit()) {
                    continue;
                }
                let owned = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .ok()
                    .and_then(|st| {
                        st.lines()
                            .find_map(|l| l.strip_prefix("Uid:"))
                            .and_then(|l| l.split_whitespace().next()?.parse::<u32>().ok())
                    })
                    == Some(uid);
                if owned {
                    sum += of(&pid).unwrap_or(0.0);
                }
            }
            sum
        });
        Some(CpuSample {
            servers: total,
            client: of("self")?,
            database,
            machine: busy,
        })
    }

    /// What was spent between `before` and this sample, as JSON.
    fn since(&self, before: &CpuSample) -> Value {
        let servers = self.servers - before.servers;
        let client = self.client - before.client;
        let machine = self.machine - before.machine;
        let database = self.database.zip(before.database).map(|(a, b)| a - b);
        json!({ "server": servers, "client": client, "machine": machine, "database": database,
                "rest": (machine - servers - client - database.unwrap_or(0.0)).max(0.0) })
    }
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = Client::builder()
        .pool_max_idle_per_host(4_096)
        .timeout(Duration::from_secs(120))
        .build()?;
    let base = args.base.clone();
    // The stadium.
    let (s, v) = json_of(
        client
            .post(format!("{base}/api/v1/admin/concerts"))
            .header("X-Admin-Key", &args.admin_key)
            .json(&json!({ "title": "Stadium", "venue": "Stadium",
                "schedules": [{ "starts_at": "2030-06-01T19:00:00Z", "layout": layout() }] }))
            .send()
            .await?,
    )
    .await?;
    if s != 201 {
        bail!("create concert: {s} {v}");
    }
    let concert = v["id"].as_i64().context("concert id")?;
    let schedule = v["schedules"][0]["id"].as_i64().context("schedule id")?;
    let n = args.parties + args.standing_orders;
    let (s, v) = json_of(
        client
            .put(format!("{base}/api/v1/admin/concerts/{concert}/queue-policy"))
            .header("X-Admin-Key", &args.admin_key)
            .json(&json!({ "max_active": n + 100, "admit_per_second": 100_000, "active_ttl_seconds": 1_800 }))
            .send()
            .await?,
    )
    .await?;
    if s != 200 {
        bail!("policy: {s} {v}");
    }
    let prep = Instant::now();
    let fans = prepare(&client, &args, concert, n, 12_000 * 6).await?;
    eprintln!(
        "{} fans admitted in {:.1} s",
        fans.len(),
        prep.elapsed().as_secs_f64()
    );

    // Party sizes with a mean of exactly 4, shuffled; standing quantities 1-4.
    let pattern = [1usize, 2, 3, 4, 5, 6, 4, 4, 5, 6];
    let mut sizes: Vec<usize> = (0..args.parties)
        .map(|i| pattern[i % pattern.len()])
        .collect();
    let mut rng = StdRng::seed_from_u64(42);
    sizes.shuffle(&mut rng);
    let standing: Vec<u32> = (0..args.standing_orders)
        .map(|_| rng.random_range(1..=4))
        .collect();

    let barrier = Arc::new(Barrier::new(n + 1));
    let mut tasks = Vec::with_capacity(n);
    let instances: Vec<String> = std::iter::once(base.clone())
        .chain(args.also.iter().cloned())
        .collect();
    for (i, fan) in fans.into_iter().enumerate() {
        let body = if i < args.parties {
            json!({ "schedule_id": schedule,
                    "best_available": { "count": sizes[i], "allow_split": args.allow_split } })
        } else {
            json!({ "schedule_id": schedule,
                    "standing": [{ "area": "Field", "quantity": standing[i - args.parties] }] })
        };
        let base = instances[i % instances.len()].clone();
        let (client, barrier) = (client.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let t0 = Instant::now();
            let mut out = Outcome::default();
            let res = client
                .post(format!("{base}/api/v1/orders"))
                .bearer_auth(&fan.token)
                .header("X-Queue-Token", &fan.queue)
                .json(&body)
                .send()
                .await;
            let Ok(res) = res else {
                return (out, t0);
            };
            let (s, v) = json_of(res).await.unwrap_or((0, Value::Null));
            out.order_status = s;
            out.order_us = t0.elapsed().as_micros() as u64;
            if s != 201 {
                return (out, t0);
            }
            out.lone = v["lone_seats_left"].as_u64().unwrap_or(0);
            for p in v["positions"].as_array().into_iter().flatten() {
                out.tickets += p["quantity"].as_u64().unwrap_or(1);
                if let Some(id) = p["seat_id"].as_i64() {
                    out.seats.push(id);
                }
            }
            let id = v["id"].as_i64().unwrap_or(0);
            let t1 = Instant::now();
            let res = client
                .post(format!("{base}/api/v1/orders/{id}/payment"))
                .bearer_auth(&fan.token)
                .header("X-Queue-Token", &fan.queue)
                .header("Idempotency-Key", format!("pay-{id}"))
                .send()
                .await;
            out.pay_status = match res {
                Ok(r) => r.status().as_u16(),
                Err(_) => 0,
            };
            out.pay_us = t1.elapsed().as_micros() as u64;
            (out, t0)
        }));
    }
    if let Some(f) = &args.ready_file {
        std::fs::write(f, b"ready\n")?;
    }
    tokio::time::sleep(Duration::from_millis(args.pause_ms)).await;
    let cpu0 = CpuSample::take(&args.cpu_of, args.cpu_of_uid);
    barrier.wait().await;
    let start = Instant::now();
    let mut order_h = Histogram::<u64>::new(3)?;
    let mut pay_h = Histogram::<u64>::new(3)?;
    let mut statuses: HashMap<u16, u64> = HashMap::new();
    let mut pay_statuses: HashMap<u16, u64> = HashMap::new();
    let mut sold: HashSet<i64> = HashSet::new();
    let mut double_sold = 0u64;
    let (mut seats_paid, mut standing_paid, mut lone_reported) = (0u64, 0u64, 0u64);
    let mut last_paid = Duration::ZERO;
    let mut first_order: Option<Duration> = None;
    for (i, t) in tasks.into_iter().enumerate() {
        let (out, t0) = t.await?;
        let since = t0.saturating_duration_since(start);
        first_order = Some(first_order.map_or(since, |f| f.min(since)));
        *statuses.entry(out.order_status).or_default() += 1;
        if out.order_us > 0 {
            order_h.record(out.order_us.max(1))?;
        }
        if out.order_status == 201 {
            *pay_statuses.entry(out.pay_status).or_default() += 1;
            pay_h.record(out.pay_us.max(1))?;
            if out.pay_status == 200 {
                last_paid = last_paid.max(start.elapsed());
                lone_reported += out.lone;
                if i < args.parties {
                    seats_paid += out.tickets;
                    for s in &out.seats {
                        if !sold.insert(*s) {
                            double_sold += 1;
                        }
                    }
                } else {
                    standing_paid += out.tickets;
                }
            }
        }
    }
    let wall = last_paid.saturating_sub(first_order.unwrap_or_default());

    // The final map: seats unsold, and lone seats (free seats with no free neighbour).
    let map: Value = client
        .get(format!("{base}/api/v1/schedules/{schedule}/seats"))
        .send()
        .await?
        .json()
        .await?;
    let mut rows: HashMap<(String, String), Vec<(u32, bool)>> = HashMap::new();
    let mut unsold = 0u64;
    let mut sold_on_map = 0u64;
    for s in map.as_array().into_iter().flatten() {
        let free = s["status"] == "AVAILABLE";
        unsold += u64::from(free);
        sold_on_map += u64::from(s["status"] == "SOLD");
        let key = (
            s["section"].as_str().unwrap_or_default().to_owned(),
            s["row"].as_str().unwrap_or_default().to_owned(),
        );
        let number = u32::try_from(s["number"].as_u64().unwrap_or(1)).unwrap_or(1);
        rows.entry(key).or_default().push((x_of(number), free));
    }
    let mut lone_on_map = 0u64;
    for cells in rows.values_mut() {
        cells.sort_unstable();
        for (k, (x, free)) in cells.iter().enumerate() {
            if !free {
                continue;
            }
            let left = k > 0 && cells[k - 1].0 + 1 == *x;
            let right = k + 1 < cells.len() && cells[k + 1].0 == *x + 1;
            let lf = left && cells[k - 1].1;
            let rf = right && cells[k + 1].1;
            if (left || right) && !lf && !rf {
                lone_on_map += 1;
            }
        }
    }
    let cpu = cpu0
        .zip(CpuSample::take(&args.cpu_of, args.cpu_of_uid))
        .map(|(a, b)| b.since(&a));
    let total_seats = (SECTIONS.len() * ROWS) as u64 * u64::from(SEATS_PER_ROW);
    let refused = statuses.get(&409).copied().unwrap_or(0);
    let share_409 = refused as f64 / n as f64;
    let sold_share = sold_on_map as f64 / total_seats as f64;
    let seats_per_s = (seats_paid + standing_paid) as f64 / wall.as_secs_f64().max(1e-9);
    let failures: u64 = statuses
        .iter()
        .filter(|(s, _)| **s != 201 && **s != 409)
        .map(|(_, c)| *c)
        .sum::<u64>()
        + pay_statuses
            .iter()
            .filter(|(s, _)| **s != 200)
            .map(|(_, c)| *c)
            .sum::<u64>();
    let result = json!({
        "parties": args.parties,
        "standing_orders": args.standing_orders,
        "allow_split": args.allow_split,
        "seats": total_seats,
        "standing_capacity": STANDING,
        "order_statuses": statuses.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "payment_statuses": pay_statuses.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "share_409": share_409,
        "seats_paid": seats_paid,
        "standing_paid": standing_paid,
        "seats_sold_on_map": sold_on_map,
        "sold_share": sold_share,
        "seats_unsold": unsold,
        "lone_seats_reported": lone_reported,
        "lone_seats_on_map": lone_on_map,
        "double_sold": double_sold,
        "failures": failures,
        "first_order_to_last_payment_s": wall.as_secs_f64(),
        "tickets_per_s": seats_per_s,
        "cpu_s": cpu,
        "order_ms": { "p50": millis(&order_h, 0.5), "p99": millis(&order_h, 0.99), "max": millis(&order_h, 1.0) },
        "payment_ms": { "p50": millis(&pay_h, 0.5), "p99": millis(&pay_h, 0.99), "max": millis(&pay_h, 1.0) },
        "targets": {
            "sold_out_within_5_s": sold_share >= 0.995 && wall.as_secs_f64() <= 5.0,
            "order_p99_le_250_ms": millis(&order_h, 0.99) <= 250.0,
            "zero_double_sold": double_sold == 0 && sold_on_map == seats_paid,
        }
    });
    std::fs::write(&args.out, serde_json::to_string_pretty(&result)?)?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    if double_sold > 0 || sold_on_map != seats_paid || failures > 0 {
        eprintln!(
            "FAILED: double-sold {double_sold}, map {sold_on_map} vs paid {seats_paid}, failures {failures}"
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    let result = match rt {
        Ok(rt) => rt.block_on(run(args)),
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("boxoffice: {e:#}");
            ExitCode::from(2)
        }
    }
}
