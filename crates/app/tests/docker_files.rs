//! Checks of the container and observability files in `docker/` against the code they
//! describe: the compose file's services and settings, the Prometheus scrape target,
//! the Grafana dashboard's metric names and labels, and the Dockerfile's build and
//! runtime stages. Nothing here needs a Docker engine.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use frontrow_app::settings::SETTINGS_HELP;
use frontrow_app::telemetry;
use serde_yaml::Value;

const SERVICES: [&str; 5] = ["app", "redis", "mysql", "prometheus", "grafana"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn docker_dir() -> PathBuf {
    repo_root().join("docker")
}

fn read(rel: &str) -> String {
    let path = docker_dir().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn yaml(rel: &str) -> Value {
    serde_yaml::from_str(&read(rel)).unwrap_or_else(|e| panic!("docker/{rel} is not YAML: {e}"))
}

fn compose() -> Value {
    yaml("compose.yaml")
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    compose
        .get("services")
        .and_then(|s| s.get(name))
        .unwrap_or_else(|| panic!("compose.yaml has no service {name:?}"))
}

fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => panic!("expected a scalar, got {other:?}"),
    }
}

/// A list of strings given either as a YAML sequence or as one space-separated string.
fn words(v: &Value) -> Vec<String> {
    match v {
        Value::Sequence(items) => items.iter().map(str_of).collect(),
        Value::String(s) => s.split_whitespace().map(str::to_owned).collect(),
        other => panic!("expected a list or a string, got {other:?}"),
    }
}

/// Names of a `depends_on`, in its list or its map form.
fn depends_on(svc: &Value) -> BTreeMap<String, Option<String>> {
    match svc.get("depends_on") {
        None => BTreeMap::new(),
        Some(Value::Sequence(items)) => items.iter().map(|i| (str_of(i), None)).collect(),
        Some(Value::Mapping(m)) => m
            .iter()
            .map(|(k, v)| (str_of(k), v.get("condition").map(str_of)))
            .collect(),
        Some(other) => panic!("depends_on is neither a list nor a map: {other:?}"),
    }
}

/// Compose's interpolation of `${VAR:-default}`, `${VAR-default}` and `$$`, resolved to
/// the defaults (the values a plain `docker compose up` uses with nothing exported).
fn interpolate(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let end = inner
                .find('}')
                .unwrap_or_else(|| panic!("unclosed ${{ in {value:?}"));
            let expr = &inner[..end];
            let default = expr
                .split_once(":-")
                .or_else(|| expr.split_once('-'))
                .map(|(_, d)| d)
                .unwrap_or_else(|| {
                    panic!("{value:?}: ${{{expr}}} has no default, so the stack needs it exported")
                });
            out.push_str(default);
            rest = &inner[end + 1..];
        } else {
            panic!("{value:?}: use ${{VAR:-default}} (or $$ for a literal $)");
        }
    }
    out.push_str(rest);
    out
}

/// A service's environment (map or `KEY=value` list), interpolated.
fn environment(svc: &Value) -> BTreeMap<String, String> {
    match svc.get("environment") {
        None => BTreeMap::new(),
        Some(Value::Mapping(m)) => m
            .iter()
            .map(|(k, v)| (str_of(k), interpolate(&str_of(v))))
            .collect(),
        Some(Value::Sequence(items)) => items
            .iter()
            .map(|i| {
                let s = str_of(i);
                let (k, v) = s
                    .split_once('=')
                    .unwrap_or_else(|| panic!("environment entry {s:?} has no ="));
                (k.to_owned(), interpolate(v))
            })
            .collect(),
        Some(other) => panic!("environment is neither a map nor a list: {other:?}"),
    }
}

fn app_env() -> BTreeMap<String, String> {
    environment(service(&compose(), "app"))
}

/// `mysql://user:pass@host:port/db` → (user, pass, host, port, db).
fn split_url(url: &str) -> (String, String, String, String, String) {
    let (_, rest) = url.split_once("://").expect("a URL with a scheme");
    let (auth, rest) = rest.rsplit_once('@').unwrap_or(("", rest));
    let (user, pass) = auth.split_once(':').unwrap_or((auth, ""));
    let (hostport, db) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, ""));
    (
        user.into(),
        pass.into(),
        host.into(),
        port.into(),
        db.into(),
    )
}

fn port_of_bind(bind: &str) -> String {
    bind.rsplit_once(':')
        .map(|(_, p)| p.to_owned())
        .unwrap_or_else(|| panic!("bind {bind:?} has no port"))
}

// ---------------------------------------------------------------- compose

#[test]
fn compose_has_the_five_services_wired_together() {
    let c = compose();
    let services = c
        .get("services")
        .and_then(Value::as_mapping)
        .expect("compose.yaml has a services map");
    for name in SERVICES {
        assert!(
            services.contains_key(name),
            "compose.yaml lacks service {name}"
        );
    }

    // Redis persists its queue with an append-only file.
    let redis = service(&c, "redis");
    assert!(
        str_of(redis.get("image").expect("redis image")).starts_with("redis:7"),
        "redis should run redis:7"
    );
    let cmd = words(redis.get("command").expect("redis has a command"));
    let pos = cmd
        .iter()
        .position(|w| w == "--appendonly")
        .unwrap_or_else(|| panic!("redis command {cmd:?} lacks --appendonly"));
    assert_eq!(
        cmd.get(pos + 1).map(String::as_str),
        Some("yes"),
        "redis: {cmd:?}"
    );

    // The app starts once its stores are healthy, and those have health checks.
    let app = service(&c, "app");
    let deps = depends_on(app);
    for dep in ["redis", "mysql"] {
        let cond = deps
            .get(dep)
            .unwrap_or_else(|| panic!("app does not depend on {dep}: {deps:?}"));
        assert_eq!(
            cond.as_deref(),
            Some("service_healthy"),
            "app should wait for {dep} to be healthy"
        );
        assert!(
            service(&c, dep).get("healthcheck").is_some(),
            "{dep} has no healthcheck, so service_healthy never holds"
        );
    }

    // The app is built from the repository root with docker/Dockerfile.
    let build = app.get("build").expect("app has a build section");
    let context = docker_dir().join(str_of(build.get("context").expect("build context")));
    assert!(
        context.join("Cargo.toml").is_file() && context.join("Cargo.lock").is_file(),
        "build context {} is not the workspace root",
        context.display()
    );
    let dockerfile = str_of(build.get("dockerfile").expect("build dockerfile"));
    assert!(
        context.join(&dockerfile).is_file(),
        "{dockerfile} is not a file of the build context"
    );

    // Every relative bind mount points at a file or directory of docker/.
    for (name, svc) in services {
        let name = str_of(name);
        for vol in svc
            .get("volumes")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let spec = str_of(vol);
            let source = spec.split(':').next().unwrap_or_default();
            if source.starts_with("./") || source.starts_with("../") {
                assert!(
                    docker_dir().join(source).exists(),
                    "{name}: bind mount source {source} does not exist"
                );
            }
        }
    }
}

#[test]
fn compose_urls_point_at_the_compose_services() {
    let c = compose();
    let env = app_env();

    let db = env
        .get("FRONTROW__DATABASE__URL")
        .expect("app sets FRONTROW__DATABASE__URL");
    assert!(db.starts_with("mysql://"), "{db}");
    let (user, pass, host, port, name) = split_url(db);
    assert_eq!(host, "mysql", "database host should be the mysql service");
    assert_eq!(port, "3306");
    let mysql = environment(service(&c, "mysql"));
    assert_eq!(mysql.get("MYSQL_DATABASE"), Some(&name), "{mysql:?}");
    assert_eq!(mysql.get("MYSQL_USER"), Some(&user), "{mysql:?}");
    assert_eq!(mysql.get("MYSQL_PASSWORD"), Some(&pass), "{mysql:?}");
    assert_eq!(name, "frontrow");

    let redis = env
        .get("FRONTROW__REDIS__URL")
        .expect("app sets FRONTROW__REDIS__URL");
    let (_, _, host, port, _) = split_url(redis);
    assert_eq!(host, "redis", "redis host should be the redis service");
    assert_eq!(port, "6379");

    assert_eq!(
        env.get("FRONTROW__HTTP__BIND").map(String::as_str),
        Some("0.0.0.0:8080")
    );
    assert_eq!(
        env.get("FRONTROW__TELEMETRY__JSON").map(String::as_str),
        Some("true")
    );
    for key in ["FRONTROW__AUTH__JWT_SECRET", "FRONTROW__AUTH__ADMIN_KEY"] {
        let raw = service(&c, "app")
            .get("environment")
            .and_then(|e| e.get(key))
            .map(str_of)
            .unwrap_or_else(|| panic!("app does not set {key}"));
        assert!(
            raw.contains("${"),
            "{key} should come from the environment (with a default), not be fixed: {raw}"
        );
    }
}

// ---------------------------------------------------------------- settings

/// `FRONTROW__*` variables set by the compose file's app service and the Dockerfile.
fn frontrow_vars() -> BTreeMap<String, String> {
    let mut vars: BTreeMap<String, String> = dockerfile_env()
        .into_iter()
        .filter(|(k, _)| k.starts_with("FRONTROW__"))
        .collect();
    vars.extend(
        app_env()
            .into_iter()
            .filter(|(k, _)| k.starts_with("FRONTROW__")),
    );
    assert!(
        vars.len() >= 5,
        "expected the compose file to configure the app: {vars:?}"
    );
    vars
}

/// Runs `frontrow migrate status` with exactly `vars` (over an in-memory SQLite
/// database and no config files): settings load before any command runs, and an unknown
/// key or a bad value stops the binary with exit code 2 and "invalid setting".
fn load_settings_in_binary(vars: &BTreeMap<String, String>) -> Result<(), String> {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_frontrow"))
        .env_clear()
        .envs(vars)
        .env("FRONTROW__DATABASE__URL", "sqlite::memory:")
        .env_remove("FRONTROW__REDIS__URL")
        .arg("--config-dir")
        .arg(tmp.join("docker-files-test-no-config"))
        .args(["migrate", "status"])
        .current_dir(tmp)
        .output()
        .expect("run the frontrow binary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(2) || stderr.contains("invalid setting") {
        Err(format!("{}: {stderr}", out.status))
    } else {
        Ok(())
    }
}

#[test]
fn every_frontrow_variable_is_a_documented_setting() {
    let documented: BTreeSet<&str> = SETTINGS_HELP
        .split_whitespace()
        .filter(|w| w.starts_with("FRONTROW"))
        .collect();
    for key in frontrow_vars().keys() {
        assert!(
            documented.contains(key.as_str()),
            "{key} is not a setting listed by `frontrow --help`"
        );
    }
    // The binary's --help shows that same list.
    let out = Command::new(env!("CARGO_BIN_EXE_frontrow"))
        .arg("--help")
        .output()
        .expect("run frontrow --help");
    let help = String::from_utf8_lossy(&out.stdout);
    for key in frontrow_vars().keys() {
        assert!(help.contains(key.as_str()), "--help does not mention {key}");
    }
}

#[test]
fn the_app_accepts_every_value_the_compose_file_and_dockerfile_set() {
    let vars = frontrow_vars();
    if let Err(e) = load_settings_in_binary(&vars) {
        panic!("the app refuses the docker settings {vars:?}: {e}");
    }
}

#[test]
fn the_settings_check_catches_unknown_keys_and_bad_values() {
    // Controls for the test above: it would notice a typo or an invalid value.
    let mut typo = frontrow_vars();
    typo.insert("FRONTROW__QUEUE__ADMIT_PER_SECONDS".into(), "100".into());
    let e = load_settings_in_binary(&typo).expect_err("an unknown key is refused");
    assert!(e.contains("admit_per_seconds"), "{e}");

    let mut short = frontrow_vars();
    short.insert("FRONTROW__AUTH__JWT_SECRET".into(), "short".into());
    let e = load_settings_in_binary(&short).expect_err("a short secret is refused");
    assert!(e.contains("jwt_secret"), "{e}");
}

// ---------------------------------------------------------------- prometheus

#[test]
fn prometheus_scrapes_the_app_metrics_endpoint() {
    let prom = yaml("prometheus/prometheus.yml");
    let app_port = port_of_bind(&app_env()["FRONTROW__HTTP__BIND"]);
    let want = format!("app:{app_port}");
    let jobs = prom
        .get("scrape_configs")
        .and_then(Value::as_sequence)
        .expect("prometheus.yml has scrape_configs");
    let job = jobs
        .iter()
        .find(|job| {
            job.get("static_configs")
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
                .filter_map(|sc| sc.get("targets"))
                .flat_map(words)
                .any(|t| t == want)
        })
        .unwrap_or_else(|| panic!("no scrape job targets {want}"));
    let path = job
        .get("metrics_path")
        .map(str_of)
        .unwrap_or_else(|| "/metrics".into());
    assert_eq!(
        path, "/metrics",
        "the app serves Prometheus text at /metrics"
    );
    let interval = job
        .get("scrape_interval")
        .or_else(|| prom.get("global").and_then(|g| g.get("scrape_interval")))
        .map(str_of);
    assert_eq!(interval.as_deref(), Some("5s"));

    // The compose file mounts this file where the prometheus image reads it.
    let c = compose();
    let mounts = words(service(&c, "prometheus").get("volumes").expect("volumes"));
    assert!(
        mounts
            .iter()
            .any(|m| m.starts_with("./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml")),
        "{mounts:?}"
    );
}

// ---------------------------------------------------------------- grafana

fn provisioned_datasource_uid() -> String {
    let ds = yaml("grafana/provisioning/datasources/prometheus.yaml");
    let list = ds
        .get("datasources")
        .and_then(Value::as_sequence)
        .expect("datasources list");
    let prom = list
        .iter()
        .find(|d| d.get("type").map(str_of).as_deref() == Some("prometheus"))
        .expect("a prometheus datasource");
    let url = str_of(prom.get("url").expect("datasource url"));
    let (_, _, host, port, _) = split_url(&url);
    assert_eq!(
        (host.as_str(), port.as_str()),
        ("prometheus", "9090"),
        "{url}"
    );
    str_of(prom.get("uid").expect("the datasource has a fixed uid"))
}

fn dashboard() -> serde_json::Value {
    serde_json::from_str(&read("grafana/dashboards/frontrow.json"))
        .unwrap_or_else(|e| panic!("frontrow.json is not JSON: {e}"))
}

/// Every panel, rows' nested panels included.
fn panels(d: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels array") {
        out.push(p.clone());
        if let Some(nested) = p["panels"].as_array() {
            out.extend(nested.iter().cloned());
        }
    }
    out
}

/// Every PromQL expression of the dashboard: panel targets and query variables.
fn exprs(d: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = panels(d)
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["expr"].as_str().map(str::to_owned))
        .collect();
    for var in d["templating"]["list"].as_array().into_iter().flatten() {
        match &var["query"] {
            serde_json::Value::String(q) => out.push(q.clone()),
            q => out.extend(q["query"].as_str().map(str::to_owned)),
        }
    }
    out
}

#[derive(Debug, PartialEq)]
enum Tok {
    Ident(String),
    Other(char),
}

/// Just enough of PromQL's lexer: identifiers and punctuation, with string literals,
/// numbers and durations skipped.
fn lex(expr: &str) -> Vec<Tok> {
    let chars: Vec<char> = expr.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            toks.push(Tok::Ident(chars[start..i].iter().collect()));
        } else {
            if !c.is_whitespace() {
                toks.push(Tok::Other(c));
            }
            i += 1;
        }
    }
    toks
}

/// The metrics the app exposes, each with its labels.
fn exposed() -> BTreeMap<String, BTreeSet<&'static str>> {
    use telemetry::*;
    let http = ["method", "route", "status"];
    let mut m: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    m.insert(HTTP_REQUESTS.into(), http.into());
    for suffix in ["_bucket", "_sum", "_count"] {
        let mut labels: BTreeSet<_> = http.into();
        if suffix == "_bucket" {
            labels.insert("le");
        }
        m.insert(format!("{HTTP_DURATION}{suffix}"), labels);
    }
    for name in [
        QUEUE_WAITING,
        QUEUE_ACTIVE,
        QUEUE_ADMITTED,
        QUEUE_EXPIRED,
        QUEUE_ADMIT_RATE,
    ] {
        m.insert(name.into(), ["concert"].into());
    }
    for name in [DB_POOL, REDIS_POOL] {
        m.insert(name.into(), ["state"].into());
    }
    for name in [
        HOLDS,
        HOLD_CONFLICTS,
        PAYMENTS,
        PAYMENT_REPLAYS,
        HOLDS_EXPIRED,
    ] {
        m.insert(name.into(), BTreeSet::new());
    }
    m
}

/// Labels Prometheus attaches to every scraped series.
const TARGET_LABELS: [&str; 3] = ["job", "instance", "service"];

/// Checks one expression; returns the metric names it uses.
fn check_expr(expr: &str, exposed: &BTreeMap<String, BTreeSet<&'static str>>) -> Vec<String> {
    let toks = lex(expr);
    let mut used = Vec::new();
    let mut labels_in_scope: BTreeSet<&str> = TARGET_LABELS.into();
    for (i, t) in toks.iter().enumerate() {
        let Tok::Ident(name) = t else { continue };
        if !(name.starts_with("frontrow_") || name.starts_with("http_")) {
            continue;
        }
        let labels = exposed.get(name).unwrap_or_else(|| {
            panic!("dashboard uses {name}, which the app does not expose (in {expr:?})")
        });
        used.push(name.clone());
        labels_in_scope.extend(labels.iter().copied());
        // Label matchers of this selector.
        if toks.get(i + 1) == Some(&Tok::Other('{')) {
            for m in toks[i + 2..].iter().take_while(|t| **t != Tok::Other('}')) {
                if let Tok::Ident(label) = m {
                    assert!(
                        labels.contains(label.as_str()) || TARGET_LABELS.contains(&label.as_str()),
                        "{name} has no label {label:?} (in {expr:?})"
                    );
                }
            }
        }
    }
    // Grouping labels must exist on some series of the expression.
    for (i, t) in toks.iter().enumerate() {
        if matches!(t, Tok::Ident(k) if k == "by" || k == "without")
            && toks.get(i + 1) == Some(&Tok::Other('('))
        {
            for g in toks[i + 2..].iter().take_while(|t| **t != Tok::Other(')')) {
                if let Tok::Ident(label) = g {
                    assert!(
                        labels_in_scope.contains(label.as_str()),
                        "grouping by {label:?}, a label none of its metrics has (in {expr:?})"
                    );
                }
            }
        }
    }
    used
}

#[test]
fn the_promql_checker_catches_unknown_metrics_and_labels() {
    let exposed = exposed();
    let ok = check_expr(
        r#"histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket{status=~"5.."}[1m])))"#,
        &exposed,
    );
    assert_eq!(ok, ["http_request_duration_seconds_bucket"]);
    for bad in [
        "rate(frontrow_queue_admitted[1m])",
        "sum by (route) (frontrow_queue_waiting)",
        r#"frontrow_payments_total{concert="1"}"#,
        "http_request_duration_seconds_bucket_total",
    ] {
        let caught = std::panic::catch_unwind(|| check_expr(bad, &exposed)).is_err();
        assert!(caught, "{bad:?} should be refused");
    }
}

#[test]
fn dashboard_queries_only_metrics_the_app_exposes() {
    let d = dashboard();
    let exposed = exposed();
    let all = exprs(&d);
    assert!(!all.is_empty(), "the dashboard has no queries");
    let used: BTreeSet<String> = all.iter().flat_map(|e| check_expr(e, &exposed)).collect();

    // The panels the dashboard exists for.
    use telemetry::*;
    for needed in [
        QUEUE_WAITING,
        QUEUE_ACTIVE,
        QUEUE_ADMITTED,
        QUEUE_ADMIT_RATE,
        HTTP_REQUESTS,
        HOLD_CONFLICTS,
        PAYMENTS,
        PAYMENT_REPLAYS,
    ] {
        assert!(used.contains(needed), "no panel shows {needed}");
    }
    let joined = all.join("\n");
    assert!(
        joined.contains(&format!("rate({QUEUE_ADMITTED}")),
        "admission rate should be rate({QUEUE_ADMITTED}[…])"
    );
    for q in ["0.5", "0.95", "0.99"] {
        assert!(
            all.iter()
                .any(|e| e.contains(&format!("histogram_quantile({q}"))
                    && e.contains(&format!("{HTTP_DURATION}_bucket"))),
            "no p{} latency panel over {HTTP_DURATION}_bucket",
            &q[2..]
        );
    }
}

#[test]
fn dashboard_is_valid_grafana_json_on_the_provisioned_datasource() {
    let d = dashboard();
    let uid = provisioned_datasource_uid();
    let schema = d["schemaVersion"].as_u64().expect("schemaVersion");
    assert!((36..=41).contains(&schema), "schemaVersion {schema}");
    assert!(
        d["uid"].as_str().is_some_and(|u| !u.is_empty()),
        "dashboard uid"
    );
    assert!(
        d["title"].as_str().is_some_and(|t| !t.is_empty()),
        "dashboard title"
    );
    let all = panels(&d);
    assert!(all.len() >= 7, "only {} panels", all.len());
    let mut ids = BTreeSet::new();
    for p in &all {
        let title = p["title"].as_str().unwrap_or("?");
        let id = p["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("panel {title} has no id"));
        assert!(ids.insert(id), "panel id {id} is used twice");
        let grid = &p["gridPos"];
        for k in ["h", "w", "x", "y"] {
            assert!(grid[k].is_u64(), "panel {title}: gridPos.{k}");
        }
        assert!(
            grid["x"].as_u64().unwrap_or(0) + grid["w"].as_u64().unwrap_or(0) <= 24,
            "panel {title} is wider than the grid"
        );
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], uid.as_str(), "panel {title}");
        let targets = p["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("panel {title} has no targets"));
        assert!(!targets.is_empty(), "panel {title} has no targets");
        for t in targets {
            assert!(
                t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()),
                "panel {title}: a target without expr"
            );
            assert!(
                t["refId"].is_string(),
                "panel {title}: a target without refId"
            );
            if !t["datasource"].is_null() {
                assert_eq!(t["datasource"]["uid"], uid.as_str(), "panel {title}");
            }
        }
    }
    for var in d["templating"]["list"].as_array().into_iter().flatten() {
        if var["type"] == "query" {
            assert_eq!(
                var["datasource"]["uid"],
                uid.as_str(),
                "variable {}",
                var["name"]
            );
        }
    }
}

#[test]
fn grafana_provisioning_loads_the_dashboard_directory() {
    let providers = yaml("grafana/provisioning/dashboards/frontrow.yaml");
    let path = providers
        .get("providers")
        .and_then(Value::as_sequence)
        .and_then(|p| p.first())
        .and_then(|p| p.get("options"))
        .and_then(|o| o.get("path"))
        .map(str_of)
        .expect("a file provider with options.path");
    let c = compose();
    let mounts = words(
        service(&c, "grafana")
            .get("volumes")
            .expect("grafana volumes"),
    );
    assert!(
        mounts
            .iter()
            .any(|m| m.starts_with(&format!("./grafana/dashboards:{path}"))),
        "grafana does not mount docker/grafana/dashboards at {path}: {mounts:?}"
    );
    assert!(
        mounts
            .iter()
            .any(|m| m.starts_with("./grafana/provisioning:/etc/grafana/provisioning")),
        "grafana does not mount the provisioning directory: {mounts:?}"
    );
}

// ---------------------------------------------------------------- Dockerfile

/// The Dockerfile's instructions, continuation lines joined, comments dropped.
fn instructions() -> Vec<(String, String)> {
    let text = read("Dockerfile");
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        let (op, args) = current
            .split_once(char::is_whitespace)
            .unwrap_or((&current, ""));
        out.push((op.to_ascii_uppercase(), args.trim().to_owned()));
        current.clear();
    }
    out
}

/// Instructions grouped by stage (each starting at its FROM).
fn stages() -> Vec<Vec<(String, String)>> {
    let mut stages: Vec<Vec<(String, String)>> = Vec::new();
    for ins in instructions() {
        if ins.0 == "FROM" {
            stages.push(Vec::new());
        }
        if let Some(stage) = stages.last_mut() {
            stage.push(ins);
        }
    }
    stages
}

/// `ENV` of the runtime stage.
fn dockerfile_env() -> BTreeMap<String, String> {
    let stages = stages();
    let runtime = stages.last().expect("a stage");
    let mut env = BTreeMap::new();
    for (op, args) in runtime {
        if op == "ENV" {
            for pair in args.split_whitespace() {
                let (k, v) = pair
                    .split_once('=')
                    .unwrap_or_else(|| panic!("use ENV KEY=value: {args}"));
                env.insert(k.to_owned(), v.trim_matches('"').to_owned());
            }
        }
    }
    env
}

fn exec_form(args: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|e| panic!("{args} is not exec (JSON) form: {e}"))
}

#[test]
fn dockerfile_builds_the_app_and_runs_it_unprivileged() {
    let stages = stages();
    assert!(stages.len() >= 2, "expected a builder and a runtime stage");

    let builder = &stages[0];
    let from = &builder[0].1;
    assert!(from.starts_with("rust:1.95"), "builder FROM {from}");
    let builder_name = from
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .find(|w| w[0].eq_ignore_ascii_case("as"))
        .map(|w| w[1].to_owned())
        .expect("the builder stage is named");
    let build = builder
        .iter()
        .find(|(op, args)| op == "RUN" && args.contains("cargo build"))
        .map(|(_, args)| args.clone())
        .expect("the builder runs cargo build");
    assert!(build.contains("--release"), "{build}");
    assert!(
        build.contains("-p frontrow-app") || build.contains("--package frontrow-app"),
        "{build}"
    );

    let runtime = stages.last().expect("a runtime stage");
    assert!(
        runtime[0].1.starts_with("debian:bookworm-slim"),
        "runtime FROM {}",
        runtime[0].1
    );
    let get = |op: &str| -> Vec<String> {
        runtime
            .iter()
            .filter(|(o, _)| o == op)
            .map(|(_, a)| a.clone())
            .collect()
    };

    // The binary the tests run is the one the image copies and starts.
    let bin = Path::new(env!("CARGO_BIN_EXE_frontrow"))
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("binary name")
        .to_owned();
    assert!(
        get("COPY")
            .iter()
            .any(|a| a.contains(&format!("--from={builder_name}"))
                && a.ends_with(&format!("/usr/local/bin/{bin}"))),
        "the runtime stage copies {bin} from {builder_name} to /usr/local/bin: {:?}",
        get("COPY")
    );
    assert_eq!(
        get("ENTRYPOINT").last().map(|a| exec_form(a)),
        Some(vec![bin.clone()])
    );
    assert_eq!(
        get("CMD").last().map(|a| exec_form(a)),
        Some(vec!["serve".to_owned()])
    );

    let user = get("USER")
        .last()
        .cloned()
        .expect("the runtime stage sets USER");
    let user = user.split(':').next().unwrap_or_default();
    assert!(user != "root" && user != "0", "USER {user}");

    assert!(
        get("RUN").iter().any(|r| r.contains("ca-certificates")),
        "the runtime stage installs ca-certificates"
    );

    let env = dockerfile_env();
    let bind = env
        .get("FRONTROW__HTTP__BIND")
        .expect("the image sets FRONTROW__HTTP__BIND");
    let port = port_of_bind(bind);
    assert!(bind.starts_with("0.0.0.0:"), "{bind}");
    assert!(
        get("EXPOSE").iter().any(|e| e
            .split_whitespace()
            .any(|p| p == port || p == format!("{port}/tcp"))),
        "EXPOSE {port}"
    );
    let health = get("HEALTHCHECK");
    assert!(
        health.iter().any(|h| h.contains("/healthz")),
        "HEALTHCHECK on /healthz: {health:?}"
    );
}

#[test]
fn dockerignore_keeps_the_workspace_in_the_context() {
    let ignore = read("Dockerfile.dockerignore");
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(
        patterns.contains(&"target"),
        "target/ should stay out of the context"
    );
    for needed in [
        "Cargo.toml",
        "Cargo.lock",
        "crates",
        "migrations",
        "tests",
        "*",
        ".",
    ] {
        assert!(
            !patterns.iter().any(|p| p.trim_matches('/') == needed),
            "the build needs {needed}, which the .dockerignore drops"
        );
    }
}

// ---------------------------------------------------------------- live checks

/// `frontrow serve` with the docker settings, on SQLite and the in-memory queue.
struct Server {
    child: std::process::Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    Ok(answer)
}

fn start_server() -> Server {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "docker-files-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).expect("server dir");
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_frontrow"))
        .env_clear()
        .envs(frontrow_vars())
        .env("FRONTROW__HTTP__BIND", format!("127.0.0.1:{port}"))
        .env(
            "FRONTROW__DATABASE__URL",
            format!("sqlite://{}?mode=rwc", dir.join("s.db").display()),
        )
        .env_remove("FRONTROW__REDIS__URL")
        .env("RUST_LOG", "warn")
        .arg("--config-dir")
        .arg(dir.join("no-config"))
        .arg("serve")
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start frontrow");
    let mut server = Server { child, port, dir };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Ok(answer) = http_get(port, "/healthz")
            && answer.starts_with("HTTP/1.1 200")
        {
            return server;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("frontrow serve exited with {status} under the docker settings");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "frontrow never answered /healthz"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The Dockerfile's HEALTHCHECK command, run here with the image's bind on `port`.
fn run_healthcheck(port: u16) -> bool {
    let stages = stages();
    let runtime = stages.last().expect("a runtime stage");
    let args = runtime
        .iter()
        .rev()
        .find(|(op, _)| op == "HEALTHCHECK")
        .map(|(_, a)| a.clone())
        .expect("a HEALTHCHECK");
    let (_, cmd) = args
        .split_once("CMD ")
        .unwrap_or_else(|| panic!("HEALTHCHECK without CMD: {args}"));
    let argv = exec_form(cmd.trim());
    // Docker runs it in the container's environment, where the bind is 0.0.0.0:<port>.
    Command::new(&argv[0])
        .args(&argv[1..])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("FRONTROW__HTTP__BIND", format!("0.0.0.0:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[test]
fn the_image_healthcheck_and_the_scraped_metrics_path_answer() {
    let server = start_server();

    // The HEALTHCHECK passes against a live server and fails where nothing listens.
    assert!(
        run_healthcheck(server.port),
        "the Dockerfile HEALTHCHECK fails against a healthy server"
    );
    assert!(
        !run_healthcheck(free_port()),
        "the Dockerfile HEALTHCHECK passes with no server"
    );

    // What Prometheus scrapes: its metrics_path, with the HTTP series the dashboard uses.
    let prom = yaml("prometheus/prometheus.yml");
    let path = prom["scrape_configs"][0]
        .get("metrics_path")
        .map(str_of)
        .unwrap_or_else(|| "/metrics".into());
    let answer = http_get(server.port, &path).expect("GET metrics");
    assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
    for name in [
        telemetry::HTTP_REQUESTS.to_owned(),
        format!("{}_bucket", telemetry::HTTP_DURATION),
    ] {
        assert!(
            answer
                .lines()
                .any(|l| l.starts_with(&name) && l.contains("route=\"/healthz\"")),
            "{path} lacks {name} for /healthz:\n{answer}"
        );
    }
}
