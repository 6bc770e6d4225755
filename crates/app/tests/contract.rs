//! The API keeps its word, black-box on a real app (SQLite, memory queue): a JSON body
//! documented as an object is refused when it is anything else, a wrong method on a
//! known path is a 405 with `Allow`, a token from the future is refused, and `/metrics`
//! describes every family (optionally on a listener of its own).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use frontrow_app::{Application, Settings, ShutdownHandle};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::{Method, Response};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

const JWT_SECRET: &str = "contract-jwt-secret-0123456789";

struct TestApp {
    base: String,
    metrics: Option<String>,
    client: reqwest::Client,
    stop: ShutdownHandle,
    server: JoinHandle<anyhow::Result<()>>,
}

async fn spawn(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = std::env::temp_dir().join("frontrow-contract");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join(format!("{}.db", uuid::Uuid::new_v4().simple()));
    let mut s = Settings::default();
    s.http.bind = "127.0.0.1:0".into();
    s.http.workers = 1;
    s.http.shutdown_timeout_seconds = 2;
    s.database.url = SecretString::from(format!("sqlite://{}?mode=rwc", db.display()));
    s.redis.url = None;
    s.auth.jwt_secret = SecretString::from(JWT_SECRET);
    s.limits.enabled = false;
    tweak(&mut s);
    let app = Application::build(s).await.expect("app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let metrics = app.metrics_port().map(|p| format!("http://127.0.0.1:{p}"));
    let stop = app.shutdown_handle();
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        base,
        metrics,
        client: reqwest::Client::new(),
        stop,
        server,
    }
}

impl TestApp {
    async fn send(&self, method: Method, path: &str, body: &str, token: Option<&str>) -> Response {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("content-type", "application/json");
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.body(body.to_owned()).send().await.expect("answered")
    }

    async fn post(&self, path: &str, body: &str, token: Option<&str>) -> Response {
        self.send(Method::POST, path, body, token).await
    }

    /// A new fan's id and access token.
    async fn user(&self) -> (i64, String) {
        let body = serde_json::json!({
            "name": "fan",
            "email": format!("{}@example.test", uuid::Uuid::new_v4().simple()),
            "password": "correct horse battery",
        });
        let res = self.post("/api/v1/users", &body.to_string(), None).await;
        assert_eq!(res.status(), 201);
        let v: Value = res.json().await.unwrap();
        (
            v["id"].as_i64().unwrap(),
            v["access_token"].as_str().unwrap().to_owned(),
        )
    }

    async fn balance(&self, token: &str) -> i64 {
        let res = self
            .client
            .get(format!("{}/api/v1/wallet", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json::<Value>().await.unwrap()["balance"]
            .as_i64()
            .unwrap()
    }

    async fn stop(self) {
        self.stop.stop().await;
        self.server.await.unwrap().expect("clean stop");
    }
}

/// The problem document of `res`, checked to be one with `status`.
async fn problem(res: Response, status: u16) -> Value {
    assert_eq!(res.status(), status);
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(ct, "application/problem+json");
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["status"], status);
    p
}

#[tokio::test]
async fn a_json_body_that_is_no_object_is_a_422_naming_the_expected_shape() {
    let app = spawn(|_| {}).await;
    let p = problem(app.post("/api/v1/users", r#"["Ada"]"#, None).await, 422).await;
    assert!(p["detail"].as_str().unwrap().contains("CreateUser"), "{p}");

    let (_, token) = app.user().await;
    for body in ["[7]", " \r\n\t[7]", "7", "-7", r#""7""#, "true", "null"] {
        let res = app.post("/api/v1/wallet/charge", body, Some(&token)).await;
        let p = problem(res, 422).await;
        assert_eq!(p["type"], "/problems/validation-error", "{body}");
        let detail = p["detail"].as_str().unwrap();
        assert!(
            detail.contains("expected a JSON object") && detail.contains("ChargeBody"),
            "{body}: {detail}"
        );
    }
    assert_eq!(app.balance(&token).await, 0, "nothing was credited");

    for (path, body) in [
        ("/api/v1/reservations", "[1, 1]"),
        ("/api/v1/orders", r#"[1, [], null]"#),
    ] {
        let p = problem(app.post(path, body, Some(&token)).await, 422).await;
        assert!(
            p["detail"]
                .as_str()
                .unwrap()
                .contains("expected a JSON object"),
            "{path}: {p}"
        );
    }
    // Malformed JSON stays a 400; an object, whitespace first or not, still works.
    problem(
        app.post("/api/v1/wallet/charge", "x7", Some(&token)).await,
        400,
    )
    .await;
    let res = app
        .post("/api/v1/wallet/charge", "\n  {\"amount\": 7}", Some(&token))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.balance(&token).await, 7);
    app.stop().await;
}

#[tokio::test]
async fn whole_numbers_written_as_decimals_are_the_integers_the_schema_says() {
    let app = spawn(|_| {}).await;
    let (_, token) = app.user().await;
    // `7.0` and `7e0` are integers to JSON Schema: accepted as 7.
    for body in [r#"{"amount": 7.0}"#, r#"{"amount": 0.7e1}"#] {
        let res = app.post("/api/v1/wallet/charge", body, Some(&token)).await;
        assert_eq!(res.status(), 200, "{body}");
    }
    assert_eq!(app.balance(&token).await, 14);
    // A fraction is not an integer: refused, nothing credited.
    let p = problem(
        app.post("/api/v1/wallet/charge", r#"{"amount": 7.5}"#, Some(&token))
            .await,
        422,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("7.5"), "{p}");
    assert_eq!(app.balance(&token).await, 14);
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_method_on_a_known_path_is_a_405_with_allow() {
    let app = spawn(|_| {}).await;
    let trace = Method::from_bytes(b"TRACE").unwrap();
    for (method, path, allow) in [
        (trace.clone(), "/api/v1/wallet/charge", "POST"),
        (Method::PATCH, "/api/v1/wallet/charge", "POST"),
        (Method::PUT, "/api/v1/orders", "GET, POST"),
        (Method::PATCH, "/api/v1/orders/12", "DELETE, GET"),
        (Method::POST, "/healthz", "GET"),
        (Method::DELETE, "/metrics", "GET"),
        (trace, "/api/v1/concerts/3", "GET"),
        (Method::POST, "/swagger-ui/", "GET"),
    ] {
        let res = app.send(method.clone(), path, "", None).await;
        let got = res
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(got.as_deref(), Some(allow), "{method} {path}");
        let p = problem(res, 405).await;
        assert_eq!(p["type"], "/problems/method-not-allowed");
    }
    // Unknown paths stay 404; the documented routes are still served.
    let p = problem(
        app.send(Method::GET, "/api/v1/nowhere", "", None).await,
        404,
    )
    .await;
    assert_eq!(p["type"], "/problems/route-not-found");
    let res = app
        .send(Method::GET, "/api-docs/openapi.json", "", None)
        .await;
    let doc: Value = res.json().await.unwrap();
    assert!(doc["paths"]["/api/v1/wallet/charge"]["post"].is_object());
    app.stop().await;
}

fn hs256(claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn access_tokens_from_the_future_are_a_401() {
    let app = spawn(|_| {}).await;
    let (id, _) = app.user().await;
    let now = chrono::Utc::now().timestamp();
    let sub = id.to_string();
    for (why, claims, want) in [
        (
            "nbf 10 minutes ahead",
            json!({"sub": sub, "iat": now, "exp": now + 600, "nbf": now + 600}),
            401,
        ),
        (
            "iat 10 minutes ahead",
            json!({"sub": sub, "iat": now + 600, "exp": now + 1200}),
            401,
        ),
        (
            "nbf within the leeway",
            json!({"sub": sub, "iat": now, "exp": now + 600, "nbf": now + 2}),
            200,
        ),
        (
            "iat within the leeway",
            json!({"sub": sub, "iat": now + 2, "exp": now + 600}),
            200,
        ),
    ] {
        let res = app
            .client
            .get(format!("{}/api/v1/wallet", app.base))
            .bearer_auth(hs256(&claims))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), want, "{why}");
        if want == 401 {
            problem(res, 401).await;
        }
    }
    app.stop().await;
}

/// The family of a sample name: a histogram's series end in `_bucket`, `_sum`, `_count`.
fn family<'a>(name: &'a str, types: &std::collections::BTreeMap<&str, &str>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && types.get(base) == Some(&"histogram")
        {
            return base;
        }
    }
    name
}

#[tokio::test]
async fn every_metric_family_has_help_and_type_and_the_pools_partition() {
    let app = spawn(|_| {}).await;
    let (_, token) = app.user().await;
    app.post("/api/v1/wallet/charge", r#"{"amount": 5}"#, Some(&token))
        .await;
    app.post("/api/v1/wallet/charge", "[5]", Some(&token)).await;
    app.send(Method::PATCH, "/healthz", "", None).await;
    let text = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut help = BTreeSet::new();
    let mut types = std::collections::BTreeMap::new();
    let mut samples = BTreeSet::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("#"), Some("HELP"), Some(name)) => {
                help.insert(name);
            }
            (Some("#"), Some("TYPE"), Some(name)) => {
                types.insert(name, words.next().unwrap_or_default());
            }
            (Some(w), _, _) if !w.starts_with('#') => {
                samples.insert(w.split('{').next().unwrap());
            }
            _ => {}
        }
    }
    assert!(!samples.is_empty(), "{text}");
    for sample in &samples {
        let f = family(sample, &types);
        assert!(help.contains(f), "{f} has no # HELP:\n{text}");
        assert!(types.contains_key(f), "{f} has no # TYPE:\n{text}");
    }
    // Registered at start: every unlabelled counter, the pools, the rate limits.
    for name in [
        "frontrow_holds_total",
        "frontrow_payments_total",
        "frontrow_orders_total",
        "frontrow_orders_contended_total",
        "frontrow_jwks_fetch_errors_total",
        "frontrow_redis_connects_total",
        "frontrow_rate_limited_total",
        "frontrow_db_pool_max",
        "frontrow_order_groups_total",
        "frontrow_orders_grouped_total",
        "http_requests_total",
        "http_request_duration_seconds",
    ] {
        assert!(types.contains_key(name), "{name} missing:\n{text}");
    }
    assert_eq!(types["frontrow_redis_connects_total"], "counter");
    // The pool's states partition it: idle and in_use, and no `max` among them.
    let states: BTreeSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("frontrow_db_pool_connections{"))
        .map(|l| l.split('"').nth(1).unwrap())
        .collect();
    assert_eq!(states, BTreeSet::from(["idle", "in_use"]), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn metrics_can_be_served_on_their_own_listener_only() {
    let app = spawn(|s| s.telemetry.metrics_bind = Some("127.0.0.1:0".into())).await;
    let metrics = app.metrics.clone().expect("a metrics listener");
    let public = app.send(Method::GET, "/metrics", "", None).await;
    problem(public, 404).await;
    let res = app
        .client
        .get(format!("{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("# HELP http_requests_total")
    );
    let res = app
        .client
        .get(format!("{metrics}/healthz"))
        .send()
        .await
        .unwrap();
    problem(res, 404).await;
    app.stop().await;
}
