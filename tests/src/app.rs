//! `spawn_app`: a real frontrow on port 0 with its own database (SQLite file, or a fresh
//! MariaDB/PostgreSQL database) and its own Redis key prefix, plus a `TestApp` with one
//! helper per endpoint.

use std::time::{Duration, Instant};

use frontrow_app::{Application, Settings, ShutdownHandle};
use reqwest::{Response, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::required_env;

pub const ADMIN_KEY: &str = "test-admin-key-0123456789";

/// The password of every fan `TestApp::create_user` signs up.
pub const PASSWORD: &str = "correct horse battery";

/// A sign-up body for `name` with a fresh email and [`PASSWORD`].
pub fn signup_body(name: &str) -> Value {
    let email = format!("{}@example.test", uuid::Uuid::new_v4().simple());
    json!({ "name": name, "email": email, "password": PASSWORD })
}

/// Which database a spawned app uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    MariaDb,
    Postgres,
}

impl Db {
    pub fn name(self) -> &'static str {
        match self {
            Db::Sqlite => "sqlite",
            Db::MariaDb => "mariadb",
            Db::Postgres => "postgres",
        }
    }
}

/// Options of `spawn_app_with`.
pub struct AppOptions {
    pub db: Db,
    /// Use the Redis from `FRONTROW_TEST_REDIS_URL` (or this URL) instead of the memory queue.
    pub redis: Option<String>,
    /// Share an existing database (another app's) instead of a fresh one.
    pub database_url: Option<String>,
    /// Last word on the settings.
    pub tweak: Box<dyn FnOnce(&mut Settings) + Send>,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            db: Db::Sqlite,
            redis: None,
            database_url: None,
            tweak: Box::new(|_| {}),
        }
    }
}

/// Creates an empty database and returns its URL.
pub async fn fresh_database_url(db: Db) -> String {
    use sea_orm::{ConnectionTrait, Database};
    let name = format!("t{}", uuid::Uuid::new_v4().simple());
    match db {
        Db::Sqlite => {
            let dir = std::env::temp_dir().join("frontrow-tests");
            std::fs::create_dir_all(&dir).expect("temp dir");
            format!(
                "sqlite://{}?mode=rwc",
                dir.join(format!("{name}.db")).display()
            )
        }
        Db::MariaDb => {
            let admin = required_env("FRONTROW_TEST_MYSQL_URL", "a MariaDB/MySQL server");
            let conn = Database::connect(&admin).await.expect("connect to MariaDB");
            conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create database");
            let _ = conn.close().await;
            format!("{}/{name}", admin.trim_end_matches('/'))
        }
        Db::Postgres => {
            let admin = required_env("FRONTROW_TEST_POSTGRES_URL", "a PostgreSQL server");
            let base = admin.trim_end_matches('/');
            let conn = Database::connect(format!("{base}/postgres"))
                .await
                .expect("connect to PostgreSQL");
            conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create database");
            let _ = conn.close().await;
            format!("{base}/{name}")
        }
    }
}

/// Settings of a test app: port 0, fast ticks, generous admission unless tweaked.
pub fn test_settings(database_url: String, redis_url: Option<String>) -> Settings {
    let mut s = Settings::default();
    s.http.bind = "127.0.0.1:0".into();
    s.http.workers = 2;
    s.http.shutdown_timeout_seconds = 5;
    s.database.url = SecretString::from(database_url);
    s.database.max_connections = 32;
    s.database.acquire_timeout_ms = 30_000;
    s.redis.url = redis_url.map(SecretString::from);
    s.redis.key_prefix = format!("t{}:", uuid::Uuid::new_v4().simple());
    // Debug builds on two shared cores: bursts of a thousand calls queue up.
    s.redis.timeout_ms = 3_000;
    s.auth.admin_key = SecretString::from(ADMIN_KEY);
    s.auth.jwt_secret = SecretString::from("test-jwt-secret-0123456789");
    s.queue.tick_interval_ms = 20;
    s.queue.max_active = 100_000;
    s.queue.admit_per_second = 100_000;
    // Suites create hundreds of users from one address; the limits' own tests
    // (tests/tests/http_limits.rs) turn them back on.
    s.limits.enabled = false;
    // Cheap password hashes: suites sign up hundreds of fans; the accounts suite
    // (tests/tests/http_accounts.rs) measures nothing by time either way.
    s.accounts.password_memory_kib = 1024;
    s.accounts.password_iterations = 1;
    s
}

/// A running app and a client for it.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub settings: Settings,
    shutdown: ShutdownHandle,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

pub async fn spawn_app_with(opts: AppOptions) -> TestApp {
    // Errors (5xx causes) reach the test output; RUST_LOG overrides.
    frontrow_app::telemetry::init_tracing(false, "error");
    let url = match opts.database_url {
        Some(u) => u,
        None => fresh_database_url(opts.db).await,
    };
    let mut settings = test_settings(url, opts.redis);
    (opts.tweak)(&mut settings);
    let app = Application::build(settings.clone())
        .await
        .expect("application builds");
    let port = app.port();
    let shutdown = app.shutdown_handle();
    let task = tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client"),
        settings,
        shutdown,
        task: Some(task),
    }
}

/// A registered user.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: i64,
    pub token: String,
}

/// A concert created through the admin API.
#[derive(Debug, Clone)]
pub struct TestConcert {
    pub id: i64,
    pub schedule_id: i64,
    pub seats: Vec<(i64, i64)>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Stops the app gracefully and waits for it.
    pub async fn stop(mut self) {
        self.shutdown.stop().await;
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    pub async fn post_json(&self, path: &str, body: &Value, bearer: Option<&str>) -> Response {
        let mut r = self.client.post(self.url(path)).json(body);
        if let Some(t) = bearer {
            r = r.bearer_auth(t);
        }
        r.send().await.expect("request")
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Response {
        let mut r = self.client.get(self.url(path));
        if let Some(t) = bearer {
            r = r.bearer_auth(t);
        }
        r.send().await.expect("request")
    }

    /// Signs up `name` with a fresh email (`<uuid>@example.test`) and [`PASSWORD`].
    pub async fn create_user(&self, name: &str) -> TestUser {
        let res = self
            .post_json("/api/v1/users", &signup_body(name), None)
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let v: Value = res.json().await.expect("json");
        TestUser {
            id: v["id"].as_i64().expect("id"),
            token: v["access_token"].as_str().expect("token").to_owned(),
        }
    }

    pub async fn create_concert_raw(&self, body: &Value) -> Response {
        self.client
            .post(self.url("/api/v1/admin/concerts"))
            .header("X-Admin-Key", ADMIN_KEY)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// A concert with one schedule of `rows × per_row` seats at `price`.
    pub async fn create_concert(&self, rows: u32, per_row: u32, price: i64) -> TestConcert {
        let res = self
            .create_concert_raw(&json!({
                "title": "Test concert", "venue": "Test hall",
                "schedules": [{ "starts_at": "2030-01-01T20:00:00Z", "rows": rows, "seats_per_row": per_row, "price": price }]
            }))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let v: Value = res.json().await.expect("json");
        let id = v["id"].as_i64().expect("id");
        let schedule_id = v["schedules"][0]["id"].as_i64().expect("schedule id");
        let seats: Value = self
            .get(&format!("/api/v1/schedules/{schedule_id}/seats"), None)
            .await
            .json()
            .await
            .expect("seats");
        let seats = seats
            .as_array()
            .expect("array")
            .iter()
            .map(|s| {
                (
                    s["id"].as_i64().expect("id"),
                    s["price"].as_i64().expect("price"),
                )
            })
            .collect();
        TestConcert {
            id,
            schedule_id,
            seats,
        }
    }

    pub async fn set_policy(&self, concert: i64, policy: &Value) -> Response {
        self.client
            .put(self.url(&format!("/api/v1/admin/concerts/{concert}/queue-policy")))
            .header("X-Admin-Key", ADMIN_KEY)
            .json(policy)
            .send()
            .await
            .expect("request")
    }

    pub async fn queue_stats(&self, concert: i64) -> Value {
        self.client
            .get(self.url(&format!("/api/v1/admin/concerts/{concert}/queue-stats")))
            .header("X-Admin-Key", ADMIN_KEY)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json")
    }

    pub async fn enter_queue(&self, user: &TestUser, concert: i64) -> Response {
        self.client
            .post(self.url(&format!("/api/v1/concerts/{concert}/queue")))
            .bearer_auth(&user.token)
            .send()
            .await
            .expect("request")
    }

    pub async fn queue_status(&self, queue_token: &str) -> Response {
        self.client
            .get(self.url("/api/v1/queue/status"))
            .header("X-Queue-Token", queue_token)
            .send()
            .await
            .expect("request")
    }

    pub async fn leave_queue(&self, queue_token: &str) -> Response {
        self.client
            .delete(self.url("/api/v1/queue"))
            .header("X-Queue-Token", queue_token)
            .send()
            .await
            .expect("request")
    }

    /// Enters the queue and polls until ACTIVE (fails after `within`). Returns the token.
    pub async fn admitted(&self, user: &TestUser, concert: i64, within: Duration) -> String {
        let res = self.enter_queue(user, concert).await;
        assert!(res.status().is_success(), "enter: {}", res.status());
        let v: Value = res.json().await.expect("json");
        let token = v["token"].as_str().expect("token").to_owned();
        let deadline = Instant::now() + within;
        let mut status = v["status"].as_str().unwrap_or_default().to_owned();
        while status != "ACTIVE" {
            assert!(
                Instant::now() < deadline,
                "not admitted within {within:?}: {status}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
            let res = self.queue_status(&token).await;
            let code = res.status();
            let v: Value = res
                .json()
                .await
                .unwrap_or_else(|e| panic!("status answered {code} without JSON: {e}"));
            status = v["status"].as_str().unwrap_or_default().to_owned();
        }
        token
    }

    pub async fn hold(
        &self,
        user: &TestUser,
        queue_token: Option<&str>,
        schedule: i64,
        seat: i64,
    ) -> Response {
        let mut r = self
            .client
            .post(self.url("/api/v1/reservations"))
            .bearer_auth(&user.token)
            .json(&json!({ "schedule_id": schedule, "seat_id": seat }));
        if let Some(q) = queue_token {
            r = r.header("X-Queue-Token", q);
        }
        r.send().await.expect("request")
    }

    pub async fn pay(
        &self,
        user: &TestUser,
        queue_token: Option<&str>,
        reservation: i64,
        key: Option<&str>,
    ) -> Response {
        let mut r = self
            .client
            .post(self.url(&format!("/api/v1/reservations/{reservation}/payment")))
            .bearer_auth(&user.token);
        if let Some(q) = queue_token {
            r = r.header("X-Queue-Token", q);
        }
        if let Some(k) = key {
            r = r.header("Idempotency-Key", k);
        }
        r.send().await.expect("request")
    }

    /// Places the order `body` for `user`, admitted with `queue_token`; asserts 201 and
    /// returns the order.
    pub async fn place_order(&self, user: &TestUser, queue_token: &str, body: &Value) -> Value {
        let res = self
            .client
            .post(self.url("/api/v1/orders"))
            .bearer_auth(&user.token)
            .header("X-Queue-Token", queue_token)
            .json(body)
            .send()
            .await
            .expect("request");
        assert_eq!(
            res.status(),
            201,
            "{}",
            res.text().await.unwrap_or_default()
        );
        res.json().await.expect("an order")
    }

    /// Pays `order` of `user` (admitted with `queue_token`) under a fresh
    /// Idempotency-Key; asserts 200.
    pub async fn pay_order(&self, user: &TestUser, queue_token: &str, order: &Value) {
        let res = self
            .client
            .post(self.url(&format!("/api/v1/orders/{}/payment", order["id"])))
            .bearer_auth(&user.token)
            .header("X-Queue-Token", queue_token)
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
            .send()
            .await
            .expect("request");
        assert_eq!(
            res.status(),
            200,
            "{}",
            res.text().await.unwrap_or_default()
        );
    }

    pub async fn charge(&self, user: &TestUser, amount: i64) -> Response {
        self.post_json(
            "/api/v1/wallet/charge",
            &json!({ "amount": amount }),
            Some(&user.token),
        )
        .await
    }

    /// The seat map of a schedule, as JSON.
    pub async fn seats(&self, schedule: i64) -> Value {
        self.get(&format!("/api/v1/schedules/{schedule}/seats"), None)
            .await
            .json()
            .await
            .expect("seats json")
    }

    pub async fn balance(&self, user: &TestUser) -> i64 {
        let v: Value = self
            .get("/api/v1/wallet", Some(&user.token))
            .await
            .json()
            .await
            .expect("json");
        v["balance"].as_i64().expect("balance")
    }
}

/// Asserts an RFC 9457 problem answer with `status` and returns its body.
pub async fn assert_problem(res: Response, status: u16) -> Value {
    let got = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = res.text().await.unwrap_or_default();
    assert_eq!(got, status, "expected {status}, got {got}: {body}");
    assert!(
        ct.starts_with("application/problem+json"),
        "content-type {ct}: {body}"
    );
    let v: Value = serde_json::from_str(&body).expect("problem body is JSON");
    for field in ["type", "title", "status", "detail"] {
        assert!(v.get(field).is_some(), "problem lacks {field}: {body}");
    }
    assert_eq!(v["status"].as_u64(), Some(u64::from(status)));
    v
}
