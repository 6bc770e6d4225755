//! The gate at a stadium's doors: `--tickets` standing tickets (sold through the API: 100
//! per order) checked in through `--gates` gates, arrivals spread over `--minutes`
//! simulated minutes and played `--speedup` times faster (an open model: each scan is
//! sent at its arrival time, whatever the answers before it). Arrivals follow a triangular
//! curve peaking at 60 % of the window. Every `--rescan-every`-th arrival is a second scan
//! of a ticket already in (another gate: `already_redeemed`) and every
//! `--mutated-every`-th a code with one character changed (`invalid`). `--offline-gates`
//! of the gates are offline devices: their tickets are checked locally and their scans
//! uploaded at once after the online phase (`POST /checkins/batch`, 250 a call, every
//! device at the same time), among them `--offline-duplicates` tickets another gate
//! admitted online (each must be flagged a duplicate); one batch is then sent again
//! (nothing new may be recorded). The same-run baseline is `GET /healthz` played on the
//! same arrival curve. Prints (and writes as JSON) check-ins/s, p50/p99, the answers, the
//! duplicates caught and the check of the service's figures.
//!
//! usage: gate_online --base http://127.0.0.1:8080 --admin-key KEY --out result.json

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use chrono::Utc;
use clap::Parser;
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use reqwest::Client;
use serde_json::{Value, json};
use tokio::sync::{Mutex, Semaphore};

#[derive(Parser, Debug, Clone)]
struct Args {
    #[arg(long)]
    base: String,
    #[arg(long)]
    admin_key: String,
    #[arg(long, default_value_t = 60_000)]
    tickets: usize,
    #[arg(long, default_value_t = 40)]
    gates: usize,
    /// Simulated minutes over which the crowd arrives.
    #[arg(long, default_value_t = 15.0)]
    minutes: f64,
    /// How many times faster than real time the arrivals are played.
    #[arg(long, default_value_t = 10.0)]
    speedup: f64,
    #[arg(long, default_value_t = 4)]
    offline_gates: usize,
    #[arg(long, default_value_t = 200)]
    offline_duplicates: usize,
    #[arg(long, default_value_t = 100)]
    rescan_every: usize,
    #[arg(long, default_value_t = 200)]
    mutated_every: usize,
    /// Requests in flight at most (the gates' scanners together).
    #[arg(long, default_value_t = 512)]
    max_in_flight: usize,
    #[arg(long)]
    out: String,
}

/// Tickets per order (the most `booking.max_tickets_per_order` allows), one order per fan.
const PER_ORDER: usize = 100;

async fn json_of(res: reqwest::Response) -> anyhow::Result<(u16, Value)> {
    let status = res.status().as_u16();
    let text = res.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

async fn call(req: reqwest::RequestBuilder) -> anyhow::Result<(u16, Value)> {
    json_of(req.send().await?).await
}

fn millis(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        return 0.0;
    }
    (h.value_at_quantile(q) as f64 / 1000.0 * 100.0).round() / 100.0
}

/// Sells `n` standing tickets, 1,000 per fan and order; the codes in sale order.
async fn sell(client: &Client, args: &Args) -> anyhow::Result<(i64, i64, Vec<String>)> {
    let base = &args.base;
    let admin = |r: reqwest::RequestBuilder| r.header("X-Admin-Key", &args.admin_key);
    let starts = Utc::now() + chrono::Duration::hours(1);
    let (s, v) = call(
        admin(client.post(format!("{base}/api/v1/admin/concerts"))).json(&json!({
            "title": "Stadium doors", "venue": "Stadium",
            "schedules": [{ "starts_at": starts, "layout": {
                "categories": [{ "name": "Floor", "price": 1 }],
                "sections": [{ "name": "Pit", "category": "Floor", "capacity": args.tickets }]
            }}]
        })),
    )
    .await?;
    ensure!(s == 201, "create concert: {s} {v}");
    let concert = v["id"].as_i64().context("concert id")?;
    let schedule = v["schedules"][0]["id"].as_i64().context("schedule id")?;
    let (s, v) = call(admin(client.put(format!("{base}/api/v1/admin/concerts/{concert}/queue-policy")))
            .json(&json!({ "max_active": 1000, "admit_per_second": 1000, "active_ttl_seconds": 3600, "paused": false }))).await?;
    ensure!(s == 200, "queue policy: {s} {v}");
    let fans = args.tickets.div_ceil(PER_ORDER);
    let gate = Arc::new(Semaphore::new(32));
    let mut tasks = Vec::new();
    for i in 0..fans {
        let quantity = PER_ORDER.min(args.tickets - i * PER_ORDER);
        let (client, base, gate) = (client.clone(), base.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await?;
            let (s, v) = call(client.post(format!("{base}/api/v1/users")).json(
                &json!({ "name": format!("fan{i}"),
                        "email": format!("gate{i}-{}@load.test", std::process::id()),
                        "password": "load-test-password" }),
            ))
            .await?;
            ensure!(s == 201, "create user: {s} {v}");
            let token = v["access_token"].as_str().context("token")?.to_owned();
            let (s, v) = call(
                client
                    .post(format!("{base}/api/v1/wallet/charge"))
                    .bearer_auth(&token)
                    .json(&json!({ "amount": quantity })),
            )
            .await?;
            ensure!(s == 200, "charge: {s} {v}");
            let (s, v) = call(
                client
                    .post(format!("{base}/api/v1/concerts/{concert}/queue"))
                    .bearer_auth(&token),
            )
            .await?;
            ensure!((200..300).contains(&s), "enter: {s} {v}");
            let queue = v["token"].as_str().context("queue token")?.to_owned();
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let (_, v) = call(
                    client
                        .get(format!("{base}/api/v1/queue/status"))
                        .header("X-Queue-Token", &queue),
                )
                .await?;
                if v["status"] == "ACTIVE" {
                    break;
                }
                ensure!(Instant::now() < deadline, "not admitted in 120 s");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let (s, order) = call(
                client
                    .post(format!("{base}/api/v1/orders"))
                    .bearer_auth(&token)
                    .header("X-Queue-Token", &queue)
                    .json(&json!({ "schedule_id": schedule,
                        "standing": [{ "area": "Pit", "quantity": quantity }] })),
            )
            .await?;
            ensure!(s == 201, "order: {s} {order}");
            let (s, v) = call(
                client
                    .post(format!("{base}/api/v1/orders/{}/payment", order["id"]))
                    .bearer_auth(&token)
                    .header("X-Queue-Token", &queue)
                    .header(
                        "Idempotency-Key",
                        format!("gate-{i}-{}", std::process::id()),
                    ),
            )
            .await?;
            ensure!(s == 200, "payment: {s} {v}");
            let (s, v) = call(
                client
                    .get(format!("{base}/api/v1/tickets"))
                    .bearer_auth(&token),
            )
            .await?;
            ensure!(s == 200, "tickets: {s} {v}");
            let codes: Vec<String> = v
                .as_array()
                .context("tickets")?
                .iter()
                .filter_map(|t| t["code"].as_str().map(str::to_owned))
                .collect();
            ensure!(
                codes.len() == quantity,
                "{} codes for {quantity} tickets",
                codes.len()
            );
            Ok(codes)
        }));
    }
    let mut codes = Vec::with_capacity(args.tickets);
    for t in tasks {
        codes.extend(t.await??);
    }
    Ok((concert, schedule, codes))
}

/// Seconds (real time) after the start at which arrival `i` of `n` comes: the inverse of
/// a triangular distribution over `[0, span]` with its mode at 60 %.
fn arrival(i: usize, n: usize, span: f64) -> f64 {
    let u = (i as f64 + 0.5) / n as f64;
    let c = 0.6;
    let x = if u < c {
        (u * c).sqrt()
    } else {
        1.0 - ((1.0 - u) * (1.0 - c)).sqrt()
    };
    x * span
}

#[derive(Default)]
struct Phase {
    latency: Option<Histogram<u64>>,
    answers: BTreeMap<String, u64>,
    failures: u64,
    max_lag_ms: f64,
    seconds: f64,
}

/// Plays `jobs` (arrival second, job) open-loop; `send` answers with the name of the
/// answer.
async fn play<F, Fut>(jobs: Vec<(f64, usize)>, max_in_flight: usize, send: F) -> Phase
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<String>> + Send,
{
    let send = Arc::new(send);
    let out = Arc::new(Mutex::new(Phase {
        latency: Histogram::new(3).ok(),
        ..Phase::default()
    }));
    let limit = Arc::new(Semaphore::new(max_in_flight));
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(jobs.len());
    for (at, job) in jobs {
        tokio::time::sleep_until(start + Duration::from_secs_f64(at)).await;
        let permit = limit.clone().acquire_owned().await;
        let lag = start.elapsed().as_secs_f64() - at;
        let (send, out) = (send.clone(), out.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let t = Instant::now();
            let r = send(job).await;
            let us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
            let mut o = out.lock().await;
            o.max_lag_ms = o.max_lag_ms.max(lag * 1000.0);
            match r {
                Ok(name) => {
                    if let Some(h) = o.latency.as_mut() {
                        let _ = h.record(us.max(1));
                    }
                    *o.answers.entry(name).or_default() += 1;
                }
                Err(_) => o.failures += 1,
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let seconds = start.elapsed().as_secs_f64();
    let mut o = std::mem::take(&mut *out.lock().await);
    o.seconds = seconds;
    o
}

fn phase_json(p: &Phase, count: usize) -> Value {
    let h = p.latency.as_ref();
    json!({
        "requests": count,
        "seconds": (p.seconds * 100.0).round() / 100.0,
        "per_s": (count as f64 / p.seconds).round(),
        "p50_ms": h.map_or(0.0, |h| millis(h, 0.5)),
        "p99_ms": h.map_or(0.0, |h| millis(h, 0.99)),
        "max_ms": h.map_or(0.0, |h| h.max() as f64 / 1000.0),
        "answers": p.answers,
        "failures": p.failures,
        "max_start_lag_ms": (p.max_lag_ms * 10.0).round() / 10.0,
    })
}

fn mutate(code: &str, at: usize) -> String {
    let mut b = code.as_bytes().to_vec();
    let p = at % b.len();
    b[p] = if b[p] == b'A' { b'B' } else { b'A' };
    String::from_utf8(b).unwrap_or_default()
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = Client::builder()
        .pool_max_idle_per_host(args.max_in_flight)
        .timeout(Duration::from_secs(60))
        .build()?;
    let base = args.base.clone();
    eprintln!("gate_online: selling {} tickets", args.tickets);
    let t = Instant::now();
    let (_, schedule, codes) = sell(&client, &args).await?;
    eprintln!("gate_online: sold in {:.1} s", t.elapsed().as_secs_f64());
    let mut keys = Vec::with_capacity(args.gates);
    for g in 0..args.gates {
        let (s, v) = call(
            client
                .post(format!(
                    "{base}/api/v1/admin/schedules/{schedule}/gate-keys"
                ))
                .header("X-Admin-Key", &args.admin_key)
                .json(&json!({ "label": format!("Gate {g}") })),
        )
        .await?;
        ensure!(s == 201, "gate key: {s} {v}");
        keys.push(v["key"].as_str().context("key")?.to_owned());
    }
    let keys = Arc::new(keys);

    // Who enters where: ticket i at gate i % gates; the last `offline_gates` gates are
    // offline devices.
    let online_gates = args.gates - args.offline_gates;
    let offline_ticket = |i: usize| i % args.gates >= online_gates;
    let span = args.minutes * 60.0 / args.speedup;
    let mut scans: Vec<(String, usize)> = Vec::new(); // (code, gate)
    let mut expected_admitted = 0usize;
    for (i, code) in codes.iter().enumerate() {
        if offline_ticket(i) {
            continue;
        }
        scans.push((code.clone(), i % args.gates));
        expected_admitted += 1;
        if args.rescan_every > 0 && scans.len().is_multiple_of(args.rescan_every) {
            scans.push((code.clone(), (i + 1) % online_gates));
        }
        if args.mutated_every > 0 && scans.len().is_multiple_of(args.mutated_every) {
            scans.push((mutate(code, i), i % args.gates));
        }
    }
    let n = scans.len();
    let scans = Arc::new(scans);
    let jobs: Vec<(f64, usize)> = (0..n).map(|i| (arrival(i, n, span), i)).collect();

    // Same-run baseline: /healthz on the same arrival curve.
    eprintln!("gate_online: baseline, {n} GET /healthz over {span:.0} s");
    let healthz = {
        let (client, base) = (client.clone(), base.clone());
        play(jobs.clone(), args.max_in_flight, move |_| {
            let (client, base) = (client.clone(), base.clone());
            async move {
                let s = client.get(format!("{base}/healthz")).send().await?.status();
                Ok(s.as_u16().to_string())
            }
        })
        .await
    };

    eprintln!("gate_online: {n} online scans through {online_gates} gates over {span:.0} s");
    let online = {
        let (client, base, keys, scans) =
            (client.clone(), base.clone(), keys.clone(), scans.clone());
        play(jobs, args.max_in_flight, move |i| {
            let (client, base, keys, scans) = (client.clone(), base.clone(), keys.clone(), scans.clone());
            async move {
                let (code, gate) = &scans[i];
                let (s, v) = call(client
                        .post(format!("{base}/api/v1/checkins"))
                        .header("X-Gate-Key", &keys[*gate])
                        .json(&json!({ "code": code, "gate": format!("Gate {gate}"),
                            "device": format!("scanner-{gate}"), "nonce": format!("on-{i}-{}", std::process::id()),
                            "scanned_at": Utc::now() }))).await?;
                if s != 200 {
                    bail!("{s} {v}");
                }
                Ok(v["result"].as_str().unwrap_or("?").to_owned())
            }
        })
        .await
    };

    // Offline devices: their tickets checked locally (admitted), plus tickets another gate
    // admitted online, all uploaded at once.
    let mut rng = rand::rngs::StdRng::seed_from_u64(22);
    let now = Utc::now();
    let mut per_device: Vec<Vec<Value>> = vec![Vec::new(); args.offline_gates];
    for (i, code) in codes.iter().enumerate() {
        if offline_ticket(i) {
            let d = i % args.gates - online_gates;
            per_device[d].push(json!({ "code": code, "gate": format!("Gate {}", i % args.gates),
                "device": format!("offline-{d}"), "nonce": format!("off-{i}-{}", std::process::id()),
                "scanned_at": now, "offline_result": "admitted" }));
        }
    }
    let mut duplicates_sent = 0usize;
    while duplicates_sent < args.offline_duplicates {
        let i = rng.random_range(0..codes.len());
        if offline_ticket(i) {
            continue;
        }
        let d = duplicates_sent % args.offline_gates;
        per_device[d].push(json!({ "code": codes[i], "gate": format!("Gate {}", online_gates + d),
            "device": format!("offline-{d}"), "nonce": format!("dup-{duplicates_sent}-{}", std::process::id()),
            "scanned_at": now, "offline_result": "admitted" }));
        duplicates_sent += 1;
    }
    let batches: Vec<(usize, Vec<Value>)> = per_device
        .into_iter()
        .enumerate()
        .flat_map(|(d, scans)| {
            scans
                .chunks(250)
                .map(|c| (d, c.to_vec()))
                .collect::<Vec<_>>()
        })
        .collect();
    let offline_scans: usize = batches.iter().map(|(_, b)| b.len()).sum();
    eprintln!(
        "gate_online: {} offline scans in {} batches, all at once",
        offline_scans,
        batches.len()
    );
    let recorded = Arc::new(Mutex::new((0u64, 0u64)));
    let batch_jobs: Vec<(f64, usize)> = (0..batches.len()).map(|i| (0.0, i)).collect();
    let batches = Arc::new(batches);
    let upload = {
        let (client, base, keys, batches, recorded) = (
            client.clone(),
            base.clone(),
            keys.clone(),
            batches.clone(),
            recorded.clone(),
        );
        play(batch_jobs, args.max_in_flight, move |i| {
            let (client, base, keys, batches, recorded) = (
                client.clone(),
                base.clone(),
                keys.clone(),
                batches.clone(),
                recorded.clone(),
            );
            async move {
                let (d, scans) = &batches[i];
                let (s, v) = call(
                    client
                        .post(format!("{base}/api/v1/checkins/batch"))
                        .header("X-Gate-Key", &keys[online_gates + d])
                        .json(&json!({ "scans": scans })),
                )
                .await?;
                if s != 200 {
                    bail!("{s} {v}");
                }
                let mut r = recorded.lock().await;
                r.0 += v["recorded"].as_u64().unwrap_or(0);
                r.1 += v["duplicates"].as_u64().unwrap_or(0);
                Ok("200".to_owned())
            }
        })
        .await
    };
    let (batch_recorded, duplicates_caught) = *recorded.lock().await;
    // The first batch again: idempotent by nonce.
    let (s, again) = call(
        client
            .post(format!("{base}/api/v1/checkins/batch"))
            .header("X-Gate-Key", &keys[online_gates])
            .json(&json!({ "scans": batches[0].1 })),
    )
    .await?;
    ensure!(s == 200, "batch again: {s} {again}");
    let again_recorded = again["recorded"].as_u64().unwrap_or(u64::MAX);

    let (s, stats) = call(
        client
            .get(format!("{base}/api/v1/admin/schedules/{schedule}/checkins"))
            .header("X-Admin-Key", &args.admin_key),
    )
    .await?;
    ensure!(s == 200, "stats: {s} {stats}");
    let offline_tickets = codes.len() - expected_admitted;
    let admitted_online = online.answers.get("admitted").copied().unwrap_or(0);
    let checks = json!({
        "online_admitted_each_ticket_once": admitted_online == expected_admitted as u64,
        "service_admitted_every_ticket": stats["admitted"].as_u64() == Some(codes.len() as u64),
        "not_scanned_is_zero": stats["not_scanned"].as_u64() == Some(0),
        "every_offline_scan_recorded": batch_recorded == offline_scans as u64,
        "every_duplicate_caught": duplicates_caught == args.offline_duplicates as u64,
        "batch_again_records_nothing": again_recorded == 0,
        "no_failed_request": online.failures == 0 && upload.failures == 0 && healthz.failures == 0,
    });
    let online_json = phase_json(&online, n);
    let p99 = online_json["p99_ms"].as_f64().unwrap_or(f64::MAX);
    let all_ok = checks
        .as_object()
        .is_some_and(|m| m.values().all(|v| v == true));
    let result = json!({
        "tickets": codes.len(),
        "gates": args.gates,
        "online_gates": online_gates,
        "offline_gates": args.offline_gates,
        "simulated_minutes": args.minutes,
        "speedup": args.speedup,
        "real_seconds_of_arrivals": span,
        "max_in_flight": args.max_in_flight,
        "online_scans": n,
        "offline_tickets": offline_tickets,
        "online": online_json,
        "healthz": phase_json(&healthz, n),
        "offline_upload": {
            "scans": offline_scans,
            "batches": batches.len(),
            "seconds": (upload.seconds * 100.0).round() / 100.0,
            "scans_per_s": (offline_scans as f64 / upload.seconds).round(),
            "batch_p50_ms": upload.latency.as_ref().map_or(0.0, |h| millis(h, 0.5)),
            "batch_p99_ms": upload.latency.as_ref().map_or(0.0, |h| millis(h, 0.99)),
            "recorded": batch_recorded,
            "duplicates_sent": args.offline_duplicates,
            "duplicates_caught": duplicates_caught,
            "failures": upload.failures,
            "again_recorded": again_recorded,
        },
        "service_figures": {
            "tickets": stats["tickets"], "admitted": stats["admitted"],
            "not_scanned": stats["not_scanned"], "duplicates_listed": stats["duplicates"].as_array().map_or(0, Vec::len),
        },
        "checks": checks,
        "targets": { "online_p99_le_50_ms": p99 <= 50.0 },
    });
    std::fs::write(&args.out, serde_json::to_vec_pretty(&result)?)?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gate_online: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gate_online: {e:#}");
            ExitCode::FAILURE
        }
    }
}
