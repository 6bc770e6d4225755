//! Checks of `docker/` against the code it describes, where the two can drift apart
//! silently: the compose app's `FRONTROW__…` variables are real, valid settings and point
//! at compose services; Prometheus scrapes the port and path the app serves metrics on;
//! the Grafana dashboard queries only series the app registers. No Docker engine needed.

// Test helpers outside `#[test]` fns: a broken premise fails loudly (unwrap/expect).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::Path;

use frontrow_app::settings_table::help as settings_help;
use frontrow_app::telemetry::{HTTP_DURATION, METRICS, QUEUE_ETA_ERROR};
use frontrow_app::{Application, Settings};
use regex::Regex;
use secrecy::{ExposeSecret, SecretString};
use serde_yaml::Value;

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docker")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn yaml(rel: &str) -> Value {
    serde_yaml::from_str(&read(rel)).unwrap_or_else(|e| panic!("docker/{rel}: {e}"))
}

/// The compose app's `FRONTROW__…` variables, each `${VAR:-default}` resolved to its
/// default (what a plain `docker compose up` uses).
fn app_env() -> BTreeMap<String, String> {
    let compose = yaml("compose.yaml");
    let env = compose["services"]["app"]["environment"]
        .as_mapping()
        .expect("services.app.environment is a map");
    let default = Regex::new(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}").unwrap();
    env.iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s.clone(),
                other => serde_yaml::to_string(other).unwrap().trim().to_owned(),
            };
            let v = default.replace_all(&v, "$1").into_owned();
            (k.as_str().expect("variable name").to_owned(), v)
        })
        .filter(|(k, _)| k.starts_with("FRONTROW__"))
        .collect()
}

/// The settings the compose app starts with (no config files, only its variables).
fn compose_settings() -> Settings {
    let vars = app_env().into_iter().collect();
    Settings::load_with_env(Path::new("/nonexistent"), Some(vars))
        .unwrap_or_else(|e| panic!("docker/compose.yaml's app environment: {e}"))
}

#[test]
fn compose_sets_only_documented_settings_the_app_accepts() {
    let compose = yaml("compose.yaml");
    let services = compose["services"].as_mapping().expect("services");
    for name in ["app", "redis", "mysql", "prometheus", "grafana"] {
        assert!(
            services.contains_key(name),
            "compose has no `{name}` service"
        );
    }
    // The Dockerfile's ENV and HEALTHCHECK name settings too (its comments may not).
    let variable = Regex::new(r"FRONTROW__[A-Z_]+[A-Z]").unwrap();
    let dockerfile = read("Dockerfile")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let in_dockerfile = variable
        .find_iter(&dockerfile)
        .map(|m| m.as_str().to_owned());
    for key in app_env().into_keys().chain(in_dockerfile) {
        assert!(
            settings_help().contains(&format!("{key} ")),
            "{key} is not a setting of `frontrow --help`"
        );
    }
    let settings = compose_settings();
    // The app's database and queue are the compose services of those names.
    let host = Regex::new(r"^[a-z]+://(?:[^@/]*@)?([^:/]+)").unwrap();
    let redis = settings
        .redis_url()
        .expect("compose sets FRONTROW__REDIS__URL");
    let database = settings.database.url.expose_secret().to_owned();
    for url in [redis, database.as_str()] {
        let name = &host.captures(url).expect("a URL with a host")[1];
        assert!(
            services.contains_key(name),
            "{url} names no compose service"
        );
    }
}

#[test]
fn the_settings_check_catches_unknown_keys_and_bad_values() {
    let load = |k: &str, v: &str| {
        let vars = [(k.to_owned(), v.to_owned())].into_iter().collect();
        Settings::load_with_env(Path::new("/nonexistent"), Some(vars))
    };
    assert!(load("FRONTROW__QUEUE__TICK_INTERVAL_MS", "50").is_ok());
    assert!(load("FRONTROW__QUEUE__TICK_INTERVALL_MS", "50").is_err());
    assert!(load("FRONTROW__QUEUE__TICK_INTERVAL_MS", "fast").is_err());
    assert!(load("FRONTROW__HTTP__BIND", "8080").is_err());
}

fn http_get(port: u16, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    answer
}

#[tokio::test]
async fn prometheus_scrapes_the_port_and_path_the_app_serves_metrics_on() {
    let prom = yaml("prometheus/prometheus.yml");
    let jobs = prom["scrape_configs"]
        .as_sequence()
        .expect("scrape_configs");
    let (job, target) = jobs
        .iter()
        .find_map(|job| {
            let configs = job["static_configs"].as_sequence()?;
            configs
                .iter()
                .filter_map(|c| c["targets"].as_sequence())
                .flatten()
                .filter_map(Value::as_str)
                .find(|t| t.starts_with("app:"))
                .map(|t| (job, t.to_owned()))
        })
        .expect("a scrape job targets the compose service `app`");
    let bind = compose_settings().http.bind;
    assert_eq!(
        target.rsplit(':').next(),
        bind.rsplit(':').next(),
        "Prometheus scrapes {target}, the app listens on {bind}"
    );
    // Prometheus's default path when the job names none.
    let path = job["metrics_path"]
        .as_str()
        .unwrap_or("/metrics")
        .to_owned();

    // The app on compose's settings, but on SQLite and the memory queue, on a free port.
    let db = std::env::temp_dir().join(format!("frontrow-docker-{}.db", uuid::Uuid::new_v4()));
    let mut settings = compose_settings();
    settings.http.bind = "127.0.0.1:0".into();
    settings.database.url = SecretString::from(format!("sqlite://{}?mode=rwc", db.display()));
    settings.redis.url = None;
    let app = Application::build(settings).await.expect("app builds");
    let (port, stop) = (app.port(), app.shutdown_handle());
    let server = tokio::spawn(app.run_until_stopped());
    let answer = tokio::task::spawn_blocking(move || http_get(port, &path))
        .await
        .unwrap();
    stop.stop().await;
    server.await.unwrap().expect("clean stop");
    let _ = std::fs::remove_file(&db);
    let status = answer.lines().next().unwrap_or_default();
    assert!(status.contains(" 200 "), "scrape answered {status}");
    assert!(answer.contains("frontrow_db_pool_connections"), "{answer}");
}

/// Names in `text` that look like the app's series but are none of them.
fn unknown_series(text: &str) -> BTreeSet<String> {
    let known: BTreeSet<String> = METRICS
        .iter()
        .map(|m| m.to_string())
        .chain(["_bucket", "_sum", "_count"].map(|s| format!("{HTTP_DURATION}{s}")))
        .chain(["_bucket", "_sum", "_count"].map(|s| format!("{QUEUE_ETA_ERROR}{s}")))
        .collect();
    let series = Regex::new(r"\b(?:frontrow|http)_[a-z_]+").unwrap();
    series
        .find_iter(text)
        .map(|m| m.as_str().to_owned())
        .filter(|name| !known.contains(name))
        .collect()
}

/// Every PromQL string of a dashboard: panel targets (`expr`) and variables (`query`).
fn queries(v: &serde_json::Value, key: &str, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) if ["expr", "query", "definition"].contains(&key) => {
            out.push(s.clone());
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| queries(i, key, out)),
        serde_json::Value::Object(map) => map.iter().for_each(|(k, v)| queries(v, k, out)),
        _ => {}
    }
}

#[test]
fn dashboard_queries_name_only_series_the_app_registers() {
    let path = "grafana/dashboards/frontrow.json";
    let dashboard: serde_json::Value =
        serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("docker/{path}: {e}"));
    let mut found = Vec::new();
    queries(&dashboard, "", &mut found);
    let all = found.join("\n");
    assert!(all.contains("frontrow_queue_waiting"), "no queries found");
    let unknown = unknown_series(&all);
    assert!(unknown.is_empty(), "docker/{path} queries {unknown:?}");
}

#[test]
fn the_series_check_catches_unknown_names() {
    let expr = "sum(rate(frontrow_holds_total[1m])) / rate(frontrow_holdz_total[1m]) \
                + http_request_duration_seconds_bucket + http_requests";
    let unknown: Vec<String> = unknown_series(expr).into_iter().collect();
    assert_eq!(unknown, ["frontrow_holdz_total", "http_requests"]);
}
