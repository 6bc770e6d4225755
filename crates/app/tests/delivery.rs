//! How answers travel, black-box on a real app (SQLite, memory queue): the event stream
//! carries an admitted fan's pass and is never compressed (its events arrive at once),
//! other answers are compressed when the client asks, the pages, their icon and Swagger
//! UI's files carry cache headers and validators (a 304 on `If-None-Match`), and the
//! pages answer `HEAD`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use frontrow_app::{Application, Settings, ShutdownHandle};
use reqwest::{Method, Response};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

const ADMIN_KEY: &str = "delivery-admin-key-0123456789";
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

struct TestApp {
    base: String,
    client: reqwest::Client,
    stop: ShutdownHandle,
    server: JoinHandle<anyhow::Result<()>>,
}

async fn spawn() -> TestApp {
    let dir = std::env::temp_dir().join("frontrow-delivery");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join(format!("{}.db", uuid::Uuid::new_v4().simple()));
    let mut s = Settings::default();
    s.http.bind = "127.0.0.1:0".into();
    s.http.workers = 1;
    s.http.shutdown_timeout_seconds = 2;
    s.database.url = SecretString::from(format!("sqlite://{}?mode=rwc", db.display()));
    s.redis.url = None;
    s.auth.jwt_secret = SecretString::from("delivery-jwt-secret-0123456789");
    s.auth.admin_key = SecretString::from(ADMIN_KEY);
    s.queue.tick_interval_ms = 20;
    s.limits.enabled = false;
    let app = Application::build(s).await.expect("app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let stop = app.shutdown_handle();
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        base,
        // reqwest is built without decompression here: the test sees the bytes sent.
        client: reqwest::Client::new(),
        stop,
        server,
    }
}

impl TestApp {
    async fn send(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("answered")
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.send(Method::GET, path, headers).await
    }

    /// A concert whose line admits `paused` or not, and a fan in its line: the fan's
    /// queue token.
    async fn fan_in_line(&self, paused: bool) -> (i64, String) {
        let res = self
            .client
            .post(format!("{}/api/v1/admin/concerts", self.base))
            .header("X-Admin-Key", ADMIN_KEY)
            .json(&json!({
                "title": "Delivery", "venue": "Hall",
                "schedules": [{ "starts_at": "2030-01-01T20:00:00Z", "rows": 1, "seats_per_row": 4, "price": 100 }]
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let concert = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        self.set_paused(concert, paused).await;
        let res = self
            .client
            .post(format!("{}/api/v1/users", self.base))
            .json(&json!({
                "name": "fan",
                "email": format!("{}@example.test", uuid::Uuid::new_v4().simple()),
                "password": "correct horse battery",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let access = res.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let res = self
            .client
            .post(format!("{}/api/v1/concerts/{concert}/queue", self.base))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.status());
        let token = res.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        (concert, token)
    }

    async fn set_paused(&self, concert: i64, paused: bool) {
        let res = self
            .client
            .put(format!(
                "{}/api/v1/admin/concerts/{concert}/queue-policy",
                self.base
            ))
            .header("X-Admin-Key", ADMIN_KEY)
            .json(&json!({"max_active": 10, "admit_per_second": 100, "active_ttl_seconds": 600, "paused": paused}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }

    async fn status(&self, token: &str) -> Value {
        let res = self
            .get("/api/v1/queue/status", &[("X-Queue-Token", token)])
            .await;
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    /// Polls the status until the fan is admitted.
    async fn admitted(&self, token: &str) -> Value {
        // Long enough never to be reached on a busy machine: only a hang fails here.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v = self.status(token).await;
            if v["status"] == "ACTIVE" {
                return v;
            }
            assert!(Instant::now() < deadline, "never admitted: {v}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn events(&self, token: &str, headers: &[(&str, &str)]) -> Response {
        let res = self
            .get(&format!("/api/v1/queue/events?token={token}"), headers)
            .await;
        assert_eq!(res.status(), 200);
        res
    }

    async fn stop(self) {
        self.stop.stop().await;
        self.server.await.unwrap().expect("clean stop");
    }
}

/// The next Server-Sent Event of `res` (name, JSON data), `None` when the stream ends
/// or nothing comes within `within`.
async fn next_event(
    res: &mut Response,
    buf: &mut String,
    within: Duration,
) -> Option<(String, Value)> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = v.to_owned();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                }
            }
            return Some((name, serde_json::from_str(&data).unwrap()));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, res.chunk()).await {
            Ok(Ok(Some(bytes))) => buf.push_str(&String::from_utf8_lossy(&bytes)),
            Ok(Ok(None)) | Err(_) => return None,
            Ok(Err(e)) => panic!("stream broke: {e}"),
        }
    }
}

fn header<'a>(res: &'a Response, name: &str) -> Option<&'a str> {
    res.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn the_event_stream_of_an_admitted_fan_carries_the_pass_its_status_gives() {
    let app = spawn().await;

    // Admitted before the stream opens: the first standing has the pass.
    let (_, token) = app.fan_in_line(false).await;
    let status = app.admitted(&token).await;
    let pass = status["admission_token"]
        .as_str()
        .expect("a pass in status");
    let mut res = app.events(&token, &[]).await;
    let mut buf = String::new();
    let (name, standing) = next_event(&mut res, &mut buf, Duration::from_secs(5))
        .await
        .expect("a standing");
    assert_eq!(name, "standing");
    assert_eq!(standing["status"], "ACTIVE");
    assert_eq!(
        standing["admission_token"], pass,
        "one pass per admission, the same on both"
    );

    // Admitted while the stream is open: the waiting standings have none, the
    // admission's has the pass status then gives.
    let (concert, token) = app.fan_in_line(true).await;
    let mut res = app.events(&token, &[]).await;
    let mut buf = String::new();
    let (_, first) = next_event(&mut res, &mut buf, Duration::from_secs(5))
        .await
        .expect("a standing");
    assert_eq!(first["status"], "WAITING");
    assert!(first.get("admission_token").is_none(), "{first}");
    app.set_paused(concert, false).await;
    let mut last = first;
    while let Some((name, v)) = next_event(&mut res, &mut buf, Duration::from_secs(5)).await {
        assert_eq!(name, "standing", "{v}");
        last = v;
    }
    assert_eq!(last["status"], "ACTIVE", "{last}");
    let pass = last["admission_token"]
        .as_str()
        .expect("the admission's standing carries the pass");
    assert_eq!(app.status(&token).await["admission_token"], pass);
    app.stop().await;
}

#[tokio::test]
async fn the_event_stream_is_never_compressed_and_its_first_event_arrives_at_once() {
    let app = spawn().await;
    let (_, token) = app.fan_in_line(true).await;
    let mut res = app
        .events(&token, &[("Accept-Encoding", "gzip, deflate, br, zstd")])
        .await;
    assert_eq!(header(&res, "content-type"), Some("text/event-stream"));
    assert!(
        matches!(header(&res, "content-encoding"), None | Some("identity")),
        "{:?}",
        res.headers()
    );
    // A waiting fan's stream stays open: the standing must come before it ends (a
    // buffering encoder would hold it back). The bound only catches a hang.
    let mut buf = String::new();
    let (name, v) = next_event(&mut res, &mut buf, Duration::from_secs(60))
        .await
        .expect("the first standing, unbuffered");
    assert_eq!(
        (name.as_str(), &v["status"]),
        ("standing", &json!("WAITING"))
    );
    app.stop().await;
}

#[tokio::test]
async fn json_answers_are_compressed_only_when_the_client_asks() {
    let app = spawn().await;
    app.fan_in_line(false).await;
    let plain = app.get("/api/v1/concerts", &[]).await;
    assert_eq!(plain.status(), 200);
    assert_eq!(header(&plain, "content-encoding"), None);
    let plain = plain.bytes().await.unwrap();
    assert!(serde_json::from_slice::<Value>(&plain).is_ok());

    let gz = app
        .get("/api/v1/concerts", &[("Accept-Encoding", "gzip")])
        .await;
    assert_eq!(gz.status(), 200);
    assert_eq!(header(&gz, "content-encoding"), Some("gzip"));
    assert_eq!(header(&gz, "vary"), Some("accept-encoding"));
    assert_eq!(gz.bytes().await.unwrap()[..2], GZIP_MAGIC);

    let br = app
        .get("/api/v1/concerts", &[("Accept-Encoding", "br")])
        .await;
    assert_eq!(header(&br, "content-encoding"), Some("br"));
    app.stop().await;
}

#[tokio::test]
async fn the_status_poll_is_never_compressed() {
    let app = spawn().await;
    let (_, token) = app.fan_in_line(false).await;
    let res = app
        .get(
            "/api/v1/queue/status",
            &[
                ("X-Queue-Token", &token),
                ("Accept-Encoding", "gzip, deflate, br, zstd"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-encoding"), Some("identity"));
    let v: Value = res.json().await.expect("plain JSON");
    assert_eq!(v["token"], token.as_str());
    app.stop().await;
}

#[tokio::test]
async fn pages_and_their_assets_carry_validators_and_answer_304_when_unchanged() {
    let app = spawn().await;
    for (path, cache, kind) in [
        ("/", "public, no-cache", "text/html"),
        ("/admin", "public, no-cache", "text/html"),
        ("/static/app.js", "public, max-age=600", "text/javascript"),
        ("/static/style.css", "public, max-age=600", "text/css"),
        (
            "/static/vendor/qrcode.mjs",
            "public, max-age=600",
            "text/javascript",
        ),
    ] {
        let res = app.get(path, &[]).await;
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(header(&res, "cache-control"), Some(cache), "{path}");
        assert!(
            header(&res, "content-type").unwrap().starts_with(kind),
            "{path}"
        );
        let etag = header(&res, "etag").expect("an ETag").to_owned();
        assert!(etag.starts_with("W/\""), "{path}: {etag}");
        let body = res.bytes().await.unwrap();
        assert!(!body.is_empty());

        let again = app.get(path, &[("If-None-Match", &etag)]).await;
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(header(&again, "etag"), Some(etag.as_str()));
        assert_eq!(header(&again, "cache-control"), Some(cache));
        assert!(again.bytes().await.unwrap().is_empty());

        let other = app.get(path, &[("If-None-Match", "W/\"other\"")]).await;
        assert_eq!(other.status(), 200, "{path}");

        let gz = app.get(path, &[("Accept-Encoding", "gzip")]).await;
        assert_eq!(header(&gz, "content-encoding"), Some("gzip"), "{path}");
        assert_eq!(header(&gz, "etag"), Some(etag.as_str()), "{path}");
        let gz = gz.bytes().await.unwrap();
        assert_eq!(gz[..2], GZIP_MAGIC);
        assert!(gz.len() < body.len(), "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_favicon_is_a_small_cached_icon() {
    let app = spawn().await;
    let res = app.get("/favicon.ico", &[]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), Some("image/x-icon"));
    assert_eq!(header(&res, "cache-control"), Some("public, max-age=600"));
    let etag = header(&res, "etag").expect("an ETag").to_owned();
    let body = res.bytes().await.unwrap();
    assert_eq!(body[..4], [0, 0, 1, 0], "an ICO file");
    assert!(body.len() < 4096, "{} bytes", body.len());
    let again = app.get("/favicon.ico", &[("If-None-Match", &etag)]).await;
    assert_eq!(again.status(), 304);
    app.stop().await;
}

#[tokio::test]
async fn head_on_the_pages_answers_200_with_their_headers_and_no_body() {
    let app = spawn().await;
    for path in ["/", "/admin", "/favicon.ico"] {
        let got = app.get(path, &[]).await;
        let res = app.send(Method::HEAD, path, &[]).await;
        assert_eq!(res.status(), 200, "{path}");
        for h in ["content-type", "etag", "cache-control"] {
            assert_eq!(header(&res, h), header(&got, h), "{path}: {h}");
        }
        assert!(res.bytes().await.unwrap().is_empty(), "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn swagger_ui_files_are_kept_a_week_and_revalidate_with_304() {
    let app = spawn().await;
    let res = app.get("/swagger-ui/swagger-ui-bundle.js", &[]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        header(&res, "cache-control"),
        Some("public, max-age=604800")
    );
    let etag = header(&res, "etag").expect("an ETag").to_owned();
    let size = res.bytes().await.unwrap().len();
    assert!(size > 1_000_000, "the bundle: {size} bytes");

    let again = app
        .get(
            "/swagger-ui/swagger-ui-bundle.js",
            &[("If-None-Match", &etag)],
        )
        .await;
    assert_eq!(again.status(), 304);
    assert_eq!(
        header(&again, "cache-control"),
        Some("public, max-age=604800")
    );
    assert!(again.bytes().await.unwrap().is_empty());

    let gz = app
        .get(
            "/swagger-ui/swagger-ui-bundle.js",
            &[("Accept-Encoding", "gzip")],
        )
        .await;
    assert_eq!(header(&gz, "content-encoding"), Some("gzip"));
    assert!(gz.bytes().await.unwrap().len() < size / 2);

    // Its page and initializer (which names the document) are checked on every load.
    for path in ["/swagger-ui/", "/swagger-ui/swagger-initializer.js"] {
        let res = app.get(path, &[]).await;
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(header(&res, "cache-control"), Some("public, no-cache"));
    }
    assert_eq!(
        app.get("/swagger-ui/no-such-file.js", &[]).await.status(),
        404
    );
    app.stop().await;
}
