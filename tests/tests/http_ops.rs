//! Operability over HTTP: the OpenAPI document matches the routes served, Swagger UI is
//! served offline, `/metrics` exposes the series the dashboard reads after a booking
//! flow, request ids are echoed, health and readiness answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use frontrow_tests::app::spawn_app;
use serde_json::Value;

/// Every route frontrow serves (method, OpenAPI path).
const ROUTES: &[(&str, &str)] = &[
    ("get", "/"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("post", "/api/v1/users"),
    ("get", "/api/v1/concerts"),
    ("get", "/api/v1/concerts/{concert_id}"),
    ("get", "/api/v1/concerts/{concert_id}/schedules"),
    ("get", "/api/v1/schedules/{schedule_id}/seats"),
    ("post", "/api/v1/reservations"),
    ("get", "/api/v1/reservations/{reservation_id}"),
    ("delete", "/api/v1/reservations/{reservation_id}"),
    ("post", "/api/v1/reservations/{reservation_id}/payment"),
    ("get", "/api/v1/wallet"),
    ("post", "/api/v1/wallet/charge"),
    ("post", "/api/v1/admin/concerts"),
    ("post", "/api/v1/concerts/{concert_id}/queue"),
    ("get", "/api/v1/queue/status"),
    ("get", "/api/v1/queue/events"),
    ("delete", "/api/v1/queue"),
    ("put", "/api/v1/admin/concerts/{concert_id}/queue-policy"),
    ("get", "/api/v1/admin/concerts/{concert_id}/queue-policy"),
    ("get", "/api/v1/admin/concerts/{concert_id}/queue-stats"),
    ("post", "/api/v1/admin/concerts/{concert_id}/queue/close"),
    ("post", "/api/v1/admin/concerts/{concert_id}/queue/open"),
    ("get", "/api/v1/concerts/{concert_id}/draw"),
    ("get", "/api/v1/concerts/{concert_id}/draw/receipts"),
    ("get", "/admin"),
    ("get", "/static/{file}"),
    ("get", "/api/v1/admin/concerts/{concert_id}/sales"),
    ("get", "/api/v1/admin/concerts/{concert_id}/sales.csv"),
    ("post", "/api/v1/reservations/{reservation_id}/extend"),
    ("get", "/api/v1/concerts/{concert_id}/queue/challenge"),
    ("get", "/.well-known/jwks.json"),
    ("get", "/favicon.ico"),
    ("get", "/api/v1/schedules/{schedule_id}/availability"),
    ("post", "/api/v1/orders"),
    ("get", "/api/v1/orders"),
    ("get", "/api/v1/orders/{order_id}"),
    ("delete", "/api/v1/orders/{order_id}"),
    ("post", "/api/v1/orders/{order_id}/payment"),
    ("post", "/api/v1/orders/{order_id}/extend"),
    (
        "post",
        "/api/v1/admin/schedules/{schedule_id}/presale-codes",
    ),
    ("get", "/api/v1/admin/schedules/{schedule_id}/presale-codes"),
    (
        "get",
        "/api/v1/admin/schedules/{schedule_id}/presale-codes.csv",
    ),
    (
        "delete",
        "/api/v1/admin/schedules/{schedule_id}/presale-codes/{code}",
    ),
];

#[tokio::test]
async fn the_openapi_document_lists_exactly_the_served_routes() {
    let app = spawn_app().await;
    let res = app.get("/api-docs/openapi.json", None).await;
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                documented.insert((method.clone(), path.clone()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        documented, served,
        "documented routes differ from served routes"
    );

    // every documented route answers from its handler, not the router's 404
    for (method, path) in &documented {
        let concrete = path
            .replace("{concert_id}", "1")
            .replace("{schedule_id}", "1")
            .replace("{reservation_id}", "1")
            .replace("{order_id}", "1")
            .replace("{code}", "CODE-1");
        let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let res = app
            .client
            .request(m, app.url(&concrete))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body = res.text().await.unwrap_or_default();
        assert!(
            !body.contains("/problems/route-not-found"),
            "{method} {path} is not served: {status} {body}"
        );
        assert!(status < 500, "{method} {path} answered {status}: {body}");
    }
    // security schemes and error responses are documented
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    for s in ["bearer", "admin_key", "queue_token"] {
        assert!(schemes.contains_key(s), "missing security scheme {s}");
    }
    let hold = &doc["paths"]["/api/v1/reservations"]["post"]["responses"];
    for code in ["201", "401", "403", "404", "409", "503"] {
        assert!(hold.get(code).is_some(), "hold lacks response {code}");
    }
    app.stop().await;
}

#[tokio::test]
async fn swagger_ui_is_served_offline_and_redirects() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client.get(app.url("/swagger-ui")).send().await.unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(res.headers()["location"], "/swagger-ui/");
    let res = app.get("/swagger-ui/", None).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("swagger"), "UI page");
    let res = app.get("/swagger-ui/swagger-ui.css", None).await;
    assert_eq!(res.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn metrics_expose_the_booking_flow() {
    let app = spawn_app().await;
    let concert = app.create_concert(1, 3, 100).await;
    let a = app.create_user("a").await;
    let b = app.create_user("b").await;
    let qa = app.admitted(&a, concert.id, Duration::from_secs(10)).await;
    let qb = app.admitted(&b, concert.id, Duration::from_secs(10)).await;
    let seat = concert.seats[0].0;
    let rid = app
        .hold(&a, Some(&qa), concert.schedule_id, seat)
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        app.hold(&b, Some(&qb), concert.schedule_id, seat)
            .await
            .status(),
        409
    );
    app.charge(&a, 1_000).await;
    assert_eq!(app.pay(&a, Some(&qa), rid, Some("m1")).await.status(), 200);
    assert_eq!(app.pay(&a, Some(&qa), rid, Some("m1")).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(1_300)).await; // the ticker refreshes queue gauges each second

    let res = app.get("/metrics", None).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let has = |needle: &str| {
        text.lines()
            .any(|l| !l.starts_with('#') && l.contains(needle))
    };
    assert!(has("http_requests_total{"), "request counter");
    assert!(has(r#"route="/api/v1/reservations""#), "route label");
    assert!(has(r#"status="409""#), "status label");
    assert!(
        has("http_request_duration_seconds_bucket{"),
        "latency histogram"
    );
    assert!(has("frontrow_holds_total"), "holds");
    assert!(has("frontrow_hold_conflicts_total"), "conflicts");
    assert!(has("frontrow_payments_total"), "payments");
    assert!(has("frontrow_payment_replays_total"), "replays");
    let c = format!(r#"concert="{}""#, concert.id);
    for series in [
        "frontrow_queue_waiting{",
        "frontrow_queue_active{",
        "frontrow_queue_admitted_total{",
        "frontrow_queue_expired_total{",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(series) && l.contains(&c)),
            "{series} for concert"
        );
    }
    assert!(has("frontrow_db_pool_connections{"), "db pool");
    app.stop().await;
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    let res = app.get("/healthz", None).await;
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    let ready: Value = app.get("/readyz", None).await.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["checks"]["database"], "ok");
    assert_eq!(ready["checks"]["queue"], "ok");
    app.stop().await;
}
