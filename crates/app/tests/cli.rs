//! The `frontrow` binary's command line: help documents every setting, a wrong setting
//! stops start-up with one clear line and a non-zero exit, migrate and demo work.

#![allow(clippy::expect_used)]

use std::process::{Command, Output};

fn frontrow(args: &[&str], env: &[(&str, &str)], dir: &std::path::Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_frontrow"));
    cmd.args(args).current_dir(dir).env("RUST_LOG", "error");
    for (k, _) in std::env::vars() {
        if k.starts_with("FRONTROW_") && !k.starts_with("FRONTROW_TEST_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run frontrow")
}

fn temp_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("frontrow-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn help_documents_every_setting() {
    let out = frontrow(&["--help"], &[], &temp_dir());
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in ["serve", "migrate", "demo"] {
        assert!(help.contains(cmd), "help lacks {cmd}");
    }
    for key in [
        "HTTP__BIND",
        "HTTP__WORKERS",
        "HTTP__SHUTDOWN_TIMEOUT_SECONDS",
        "HTTP__KEEP_ALIVE_SECONDS",
        "DATABASE__URL",
        "DATABASE__MAX_CONNECTIONS",
        "DATABASE__CONNECT_TIMEOUT_MS",
        "DATABASE__ACQUIRE_TIMEOUT_MS",
        "REDIS__URL",
        "REDIS__KEY_PREFIX",
        "REDIS__TIMEOUT_MS",
        "AUTH__JWT_SECRET",
        "AUTH__ADMIN_KEY",
        "AUTH__TOKEN_TTL_SECONDS",
        "BOOKING__HOLD_TTL_SECONDS",
        "BOOKING__MAX_CHARGE",
        "BOOKING__SWEEP_INTERVAL_MS",
        "BOOKING__SEAT_MAP_CACHE_MS",
        "BOOKING__HOLD_EXTENSION_SECONDS",
        "BOOKING__MAX_TICKETS_PER_ORDER",
        "BOOKING__MAX_TICKETS_PER_FAN",
        "QUEUE__MAX_ACTIVE",
        "QUEUE__ADMIT_PER_SECOND",
        "QUEUE__ACTIVE_TTL_SECONDS",
        "QUEUE__IDLE_TIMEOUT_SECONDS",
        "QUEUE__TICK_INTERVAL_MS",
        "TELEMETRY__JSON",
        "TELEMETRY__LOG_FILTER",
    ] {
        assert!(
            help.contains(&format!("FRONTROW__{key}")),
            "help lacks FRONTROW__{key}"
        );
    }
}

#[test]
fn a_wrong_setting_stops_start_up_with_one_line_naming_the_key() {
    let dir = temp_dir();
    for (key, value, needle) in [
        (
            "FRONTROW__HTTP__BIND",
            "not-an-address",
            "FRONTROW__HTTP__BIND",
        ),
        ("FRONTROW__QUEUE__MAX_ACTIVE", "lots", "max_active"),
        ("FRONTROW__HTTP__BOGUS", "1", "bogus"),
        (
            "FRONTROW__DATABASE__URL",
            "oracle://x",
            "FRONTROW__DATABASE__URL",
        ),
        ("FRONTROW__AUTH__JWT_SECRET", "short", "jwt_secret"),
    ] {
        let out = frontrow(&["serve"], &[(key, value)], &dir);
        assert!(!out.status.success(), "{key}={value} started");
        assert_eq!(out.status.code(), Some(2), "{key}: exit code");
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{key}: one line expected, got {err}");
        assert!(
            lines[0].to_lowercase().contains(&needle.to_lowercase()),
            "{key}: {err}"
        );
    }
}

#[test]
fn migrate_and_demo_work_on_a_fresh_sqlite_file() {
    let dir = temp_dir();
    let db = format!("sqlite://{}?mode=rwc", dir.join("cli.db").display());
    let env = [("FRONTROW__DATABASE__URL", db.as_str())];
    let out = frontrow(&["migrate", "status"], &env, &dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(
        status.lines().count() >= 5 && status.lines().all(|l| l.starts_with("pending")),
        "{status}"
    );

    let out = frontrow(&["migrate", "up"], &env, &dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = frontrow(&["migrate", "status"], &env, &dir);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .all(|l| l.starts_with("applied"))
    );

    let out = frontrow(&["demo"], &env, &dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = String::from_utf8_lossy(&out.stdout).to_string();
    let again = frontrow(&["demo"], &env, &dir);
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        first,
        "demo is idempotent"
    );

    let out = frontrow(&["migrate", "down", "--steps", "1"], &env, &dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = frontrow(&["migrate", "status"], &env, &dir);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("pending"))
            .count(),
        1
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Serves canned draw documents: concert 1 a correct draw, concert 2 the same with two
/// receipts swapped, concert 3 a seed that does not match its commitment.
fn serve_draws() -> (String, std::thread::JoinHandle<()>) {
    use frontrow_domain::draw::{ALGORITHM, Seed, receipt};
    use std::io::{BufRead, BufReader, Write};

    let seed = Seed::random();
    let receipts: Vec<String> = (0..300).map(|i| receipt(&format!("1.{i}.{i}.x"))).collect();
    let drawn: Vec<String> = seed
        .order(&receipts)
        .into_iter()
        .map(|i| receipts[i].clone())
        .collect();
    let mut swapped = drawn.clone();
    swapped.swap(10, 11);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let handle = std::thread::spawn(move || {
        for stream in listener.incoming().take(64) {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            if BufReader::new(&stream).read_line(&mut line).is_err() {
                continue;
            }
            let path = line
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_owned();
            let concert: u32 = path
                .split('/')
                .nth(4)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let commitment = if concert == 3 {
                Seed::random().commitment()
            } else {
                seed.commitment()
            };
            let list = if concert == 2 { &swapped } else { &drawn };
            let body = if path.contains("/receipts") {
                let offset: usize = path
                    .split("offset=")
                    .nth(1)
                    .and_then(|o| o.parse().ok())
                    .unwrap_or(0);
                let page: Vec<&String> = list.iter().skip(offset).take(100).collect();
                serde_json::json!({"seed": seed.to_hex(), "total": list.len(),
                                   "offset": offset, "receipts": page})
            } else {
                serde_json::json!({"commitment": commitment, "algorithm": ALGORITHM,
                                   "opens_at": "2030-01-01T00:00:00Z", "entrants": list.len(),
                                   "seed": seed.to_hex()})
            };
            let (status, body) = if (1..=3).contains(&concert) {
                ("200 OK", body.to_string())
            } else {
                ("404 Not Found", "{}".to_owned())
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (base, handle)
}

#[test]
fn verify_draw_exits_zero_only_when_the_draw_checks_out() {
    let (base, _server) = serve_draws();
    let dir = temp_dir();
    let ok = frontrow(&["verify-draw", &base, "1"], &[], &dir);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("300 receipts"));
    for (concert, why) in [("2", "order"), ("3", "commitment"), ("4", "404")] {
        let bad = frontrow(&["verify-draw", &base, concert], &[], &dir);
        assert!(!bad.status.success(), "concert {concert} verified");
        let err = String::from_utf8_lossy(&bad.stderr).to_lowercase();
        assert!(err.contains(why), "concert {concert}: {err}");
    }
    let unreachable = frontrow(&["verify-draw", "http://127.0.0.1:9", "1"], &[], &dir);
    assert!(!unreachable.status.success());
}
