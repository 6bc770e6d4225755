//! The simulator's verdict, tested against a fake waiting room (not frontrow) that
//! misbehaves on purpose: a run against the honest room passes, and each fault —
//! admitting from the back of the line, losing a fan's place, answering 500, refusing
//! some fans' entry for good — fails the run and is named in its verdict. A load tool
//! that cannot fail proves nothing; this is what shows it can.
//!
//! The room speaks the routes the simulator uses (enter, status, leave, the admin
//! policy and stats), hands out self-describing tokens `<concert>.<seq>.<user>.<mac>`
//! (so the entry order is exact) and admits from the front on a 100 ms tick.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bug {
    None,
    /// Every 10th tick admits the last fan in line instead of the first.
    Overtake,
    /// Every 25th fan is told EXPIRED (its place dropped) while it waits and polls.
    Lose,
    /// Every 40th status poll is answered 500.
    ServerError,
    /// Every 50th fan's enter is refused with 503 for good.
    Refuse,
    /// Every 30th fan's first enter is answered 408 (the server's request timeout), as
    /// actix-web does when it gives up waiting for a request; the next one is served.
    TimeOutOnce,
}

#[derive(Default)]
struct Line {
    waiting: Vec<String>,
    /// Token → admitted at (ms since the epoch).
    active: HashMap<String, i64>,
    seq_of: HashMap<String, u64>,
    token_of: HashMap<String, String>,
    seq: u64,
    polls: u64,
    policy: Value,
    /// Fans whose enter was answered 408 once already.
    timed_out: std::collections::HashSet<String>,
}

struct Room {
    bug: Bug,
    line: Mutex<Line>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Room {
    fn ticket(&self, line: &Line, token: &str) -> Value {
        if let Some(i) = line.waiting.iter().position(|t| t == token) {
            return json!({"token": token, "status": "WAITING", "position": i + 1,
                          "active_until": null, "poll_after_ms": 200});
        }
        if let Some(at) = line.active.get(token) {
            let ttl = line.policy["active_ttl_seconds"].as_i64().unwrap_or(600);
            let until = chrono::DateTime::from_timestamp_millis(at + ttl * 1000).unwrap();
            return json!({"token": token, "status": "ACTIVE", "position": null,
                          "active_until": until.to_rfc3339(), "poll_after_ms": 200});
        }
        json!({"token": token, "status": "EXPIRED", "position": null, "active_until": null})
    }

    fn tick(&self, n: u64) {
        let mut line = self.line.lock().unwrap();
        if line.policy["paused"].as_bool().unwrap_or(false) {
            return;
        }
        let per_tick = (line.policy["admit_per_second"].as_u64().unwrap_or(50) / 10).max(1);
        for _ in 0..per_tick {
            if line.waiting.is_empty() {
                break;
            }
            let i = if self.bug == Bug::Overtake && n.is_multiple_of(10) {
                line.waiting.len() - 1
            } else {
                0
            };
            let token = line.waiting.remove(i);
            line.active.insert(token, now_ms());
        }
    }
}

fn token_of(req: &HttpRequest) -> String {
    req.headers()
        .get("x-queue-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn enter(room: web::Data<Room>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let payload = bearer
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .split('.')
        .nth(1);
    let claims: Value = payload
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let user = claims["sub"].as_str().unwrap_or_default().to_owned();
    if room.bug == Bug::Refuse && user.parse::<u64>().unwrap_or(0).is_multiple_of(50) {
        return HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "0"))
            .json(json!({"status": 503}));
    }
    let mut line = room.line.lock().unwrap();
    if room.bug == Bug::TimeOutOnce
        && user.parse::<u64>().unwrap_or(0).is_multiple_of(30)
        && line.timed_out.insert(user.clone())
    {
        return HttpResponse::RequestTimeout()
            .insert_header(("Connection", "close"))
            .finish();
    }
    if let Some(token) = line.token_of.get(&user).cloned() {
        return HttpResponse::Ok().json(room.ticket(&line, &token));
    }
    line.seq += 1;
    let token = format!("{}.{}.{user}.mac", path.into_inner(), line.seq);
    let seq = line.seq;
    line.seq_of.insert(token.clone(), seq);
    line.token_of.insert(user, token.clone());
    line.waiting.push(token.clone());
    HttpResponse::Created().json(room.ticket(&line, &token))
}

async fn status(room: web::Data<Room>, req: HttpRequest) -> HttpResponse {
    let token = token_of(&req);
    let mut line = room.line.lock().unwrap();
    line.polls += 1;
    if room.bug == Bug::ServerError && line.polls.is_multiple_of(40) {
        return HttpResponse::InternalServerError().json(json!({"status": 500}));
    }
    let Some(seq) = line.seq_of.get(&token).copied() else {
        return HttpResponse::Unauthorized().json(json!({"status": 401}));
    };
    if room.bug == Bug::Lose && seq.is_multiple_of(25) {
        line.waiting.retain(|t| *t != token);
    }
    HttpResponse::Ok().json(room.ticket(&line, &token))
}

async fn leave(room: web::Data<Room>, req: HttpRequest) -> HttpResponse {
    let token = token_of(&req);
    let mut line = room.line.lock().unwrap();
    line.waiting.retain(|t| *t != token);
    line.active.remove(&token);
    HttpResponse::NoContent().finish()
}

async fn get_policy(room: web::Data<Room>) -> HttpResponse {
    HttpResponse::Ok().json(room.line.lock().unwrap().policy.clone())
}

async fn put_policy(room: web::Data<Room>, body: web::Json<Value>) -> HttpResponse {
    let mut line = room.line.lock().unwrap();
    for (k, v) in body.as_object().unwrap() {
        line.policy[k] = v.clone();
    }
    HttpResponse::Ok().json(line.policy.clone())
}

async fn stats(room: web::Data<Room>) -> HttpResponse {
    let line = room.line.lock().unwrap();
    HttpResponse::Ok().json(json!({
        "waiting": line.waiting.len(), "active": line.active.len(),
        "admitted_total": line.active.len(), "expired_total": 0, "admit_rate": 0.0,
    }))
}

/// Starts the room on a free port, in a thread of its own; returns its base URL.
fn start_room(bug: Bug) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let room = web::Data::new(Room {
                bug,
                line: Mutex::new(Line {
                    policy: json!({"max_active": 1_000_000, "admit_per_second": 200,
                                   "active_ttl_seconds": 600, "paused": false,
                                   "admit_per_seat": 1_000_000.0}),
                    ..Line::default()
                }),
            });
            let ticking = room.clone();
            actix_web::rt::spawn(async move {
                let mut n = 0;
                loop {
                    actix_web::rt::time::sleep(Duration::from_millis(100)).await;
                    n += 1;
                    ticking.tick(n);
                }
            });
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(room.clone())
                    .route("/api/v1/concerts/{id}/queue", web::post().to(enter))
                    .route("/api/v1/queue/status", web::get().to(status))
                    .route("/api/v1/queue", web::delete().to(leave))
                    .route(
                        "/api/v1/admin/concerts/{id}/queue-policy",
                        web::get().to(get_policy),
                    )
                    .route(
                        "/api/v1/admin/concerts/{id}/queue-policy",
                        web::put().to(put_policy),
                    )
                    .route(
                        "/api/v1/admin/concerts/{id}/queue-stats",
                        web::get().to(stats),
                    )
            })
            .workers(1)
            .bind(("127.0.0.1", 0))
            .unwrap();
            tx.send(server.addrs()[0]).unwrap();
            server.run().await.unwrap();
        });
    });
    format!("http://{}", rx.recv().unwrap())
}

/// A small crowd against a room with `bug`; the exit code and the report.
fn crowd(bug: Bug, extra: &[&str]) -> (i32, Value) {
    crowd_on(bug, false, extra)
}

/// An address nothing listens on: every connection to it is refused.
fn dead_instance() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

/// A small crowd against a room with `bug`, and beside it an instance that is down
/// when `one_down`; the exit code and the report.
fn crowd_on(bug: Bug, one_down: bool, extra: &[&str]) -> (i32, Value) {
    let room = start_room(bug);
    let url = if one_down {
        format!("{room},{}", dead_instance())
    } else {
        room
    };
    let out = std::env::temp_dir().join(format!(
        "frontrow-crowd-{bug:?}-{}.json",
        std::process::id()
    ));
    let run = Command::new(env!("CARGO_BIN_EXE_frontrow-crowd"))
        .args(["--fans", "400", "--arrival-rate", "400", "--targets", &url])
        .args(["--concert", "5", "--poll-ms", "200", "--connections", "8"])
        .args([
            "--duration-s",
            "30",
            "--settle-ms",
            "300",
            "--progress-s",
            "0",
        ])
        .args(extra)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("the simulator runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let report: Value = serde_json::from_slice(&std::fs::read(&out).unwrap_or_default())
        .unwrap_or_else(|e| {
            panic!(
                "no report ({e}): {stdout}\n{}",
                String::from_utf8_lossy(&run.stderr)
            )
        });
    let _ = std::fs::remove_file(&out);
    assert!(stdout.contains("| result |"), "{stdout}");
    (run.status.code().unwrap_or(-1), report)
}

fn failed_checks(report: &Value) -> Vec<String> {
    report["failed_checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

fn assert_fails_with(bug: Bug, extra: &[&str], what: &str) -> Value {
    let (code, report) = crowd(bug, extra);
    let failed = failed_checks(&report);
    assert_eq!(code, 1, "{bug:?}: {failed:?}");
    assert!(
        failed.iter().any(|c| c.starts_with(what)),
        "{bug:?}: {what:?} not among {failed:?}"
    );
    report
}

#[test]
fn an_honest_room_passes() {
    let (code, report) = crowd(Bug::None, &[]);
    assert_eq!(failed_checks(&report), Vec::<String>::new());
    assert_eq!(code, 0);
    assert_eq!(report["never_entered"], 0);
    assert_eq!(report["entry_order"], "exact");
    assert!(report["positions_checked"].as_u64().unwrap() > 0 || report["census_waiting"] == 0);
}

#[test]
fn a_room_that_admits_from_the_back_fails_for_overtakes() {
    // 100 admissions a second against 400 arrivals: the line stays long (about 300 at
    // its peak), so the fan admitted from its back has many ahead of it, however slowly
    // the run goes.
    let report = assert_fails_with(Bug::Overtake, &["--policy", "1000000,100,600"], "overtakes");
    assert!(report["overtakes"].as_u64().unwrap() > 0);
}

#[test]
fn a_room_that_drops_waiting_fans_fails_for_lost_places() {
    let report = assert_fails_with(Bug::Lose, &[], "places lost");
    assert!(report["expired_waiting"].as_u64().unwrap() > 0);
}

#[test]
fn a_room_that_answers_500_fails_for_5xx() {
    assert_fails_with(Bug::ServerError, &[], "5xx answers");
}

#[test]
fn a_room_that_refuses_fans_fails_for_503s_and_for_the_fans_left_out_even_when_503s_are_allowed() {
    assert_fails_with(Bug::Refuse, &[], "503 answers");
    let report = assert_fails_with(Bug::Refuse, &["--allow-503"], "fans who never got a place");
    let failed = failed_checks(&report);
    assert!(!failed.iter().any(|c| c.starts_with("503")), "{failed:?}");
    let allowed = report["allowed"].as_array().unwrap();
    assert!(
        allowed[0]
            .as_str()
            .unwrap()
            .ends_with("× 503 (--allow-503)"),
        "{allowed:?}"
    );
}

#[test]
fn an_instance_down_fails_the_run_unless_requests_may_move_to_another() {
    // Half the requests go to an address nothing listens on: transport errors.
    let (code, report) = crowd_on(Bug::None, true, &[]);
    assert_eq!(code, 1);
    assert!(
        failed_checks(&report)
            .iter()
            .any(|c| c.starts_with("transport errors")),
        "{:?}",
        failed_checks(&report)
    );
    // With --failover they move to the room that is up, and the verdict says how many.
    let (code, report) = crowd_on(Bug::None, true, &["--failover"]);
    assert_eq!(failed_checks(&report), Vec::<String>::new());
    assert_eq!(code, 0);
    let moved = report["failovers"].as_u64().unwrap();
    assert!(moved > 0);
    assert!(
        report["allowed"][0]
            .as_str()
            .unwrap()
            .starts_with(&format!("{moved} requests moved to another instance")),
        "{}",
        report["allowed"]
    );
}

#[test]
fn a_request_timed_out_by_the_room_is_retried_and_counted_as_a_fault_unless_allowed() {
    // Seen once in the full tier: one enter answered 408 under a heavy load left a fan
    // without a place (the simulator took it for a refusal). Now it is retried on a new
    // connection, as a browser does, and fails the run unless 503s are allowed.
    assert_fails_with(Bug::TimeOutOnce, &[], "408 answers");
    let (code, report) = crowd(Bug::TimeOutOnce, &["--allow-503"]);
    assert_eq!(failed_checks(&report), Vec::<String>::new());
    assert_eq!(code, 0);
    assert_eq!(report["never_entered"], 0);
    let allowed = report["allowed"].as_array().unwrap();
    assert!(
        allowed
            .iter()
            .any(|a| a.as_str().unwrap().ends_with("× 408 (--allow-503)")
                && !a.as_str().unwrap().starts_with("0 ")),
        "{allowed:?}"
    );
}
