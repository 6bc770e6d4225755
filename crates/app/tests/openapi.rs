//! The served OpenAPI document tells the truth: the bounds the server enforces are in
//! the schemas, a route that needs both the access token and the queue token says so in
//! one security requirement, and every link joins documented operations.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::{test, web};
use chrono::Utc;
use frontrow_app::http::auth::Auth;
use frontrow_app::http::{AppState, build_app};
use frontrow_domain::accounts::Accounts;
use frontrow_domain::booking::Booking;
use frontrow_domain::catalog::Catalog;
use frontrow_domain::model::Money;
use frontrow_domain::ports::{
    CatalogRepository, Clock, MockCatalogRepository, MockClock, MockPaymentRepository, MockQueue,
    MockSeatRepository, MockUserRepository, MockWalletRepository,
};
use frontrow_domain::waiting_room::WaitingRoom;
use secrecy::SecretString;
use serde_json::Value;

/// The document as the app serves it (every port mocked: nothing is called).
async fn served_doc() -> Value {
    let mut clock = MockClock::new();
    clock.expect_now().returning(Utc::now);
    let clock: Arc<dyn Clock> = Arc::new(clock);
    let catalog: Arc<dyn CatalogRepository> = Arc::new(MockCatalogRepository::new());
    let room = WaitingRoom::new(Arc::new(MockQueue::new()), catalog.clone(), clock.clone());
    let auth = Auth::new(
        &SecretString::from("openapi-test-secret-0123"),
        SecretString::from("openapi-test-admin-key"),
        3600,
    );
    let state = AppState {
        accounts: Accounts::new(
            Arc::new(MockUserRepository::new()),
            Arc::new(MockWalletRepository::new()),
            clock.clone(),
            Money::from_u32(1_000),
        ),
        catalog: Catalog::new(catalog.clone(), clock.clone()),
        sales: frontrow_domain::sales::Sales::new(
            catalog.clone(),
            Arc::new(MockPaymentRepository::new()),
            Arc::new(frontrow_domain::boxoffice::port::MockOrderRepository::new()),
            clock.clone(),
        ),
        boxoffice: frontrow_domain::boxoffice::BoxOffice::new(
            catalog.clone(),
            Arc::new(frontrow_domain::boxoffice::port::MockOrderRepository::new()),
            room.clone(),
            clock.clone(),
            frontrow_domain::boxoffice::OrderPolicy::default(),
        ),
        booking: Booking::new(
            Arc::new(MockSeatRepository::new()),
            frontrow_domain::boxoffice::BoxOffice::new(
                catalog,
                Arc::new(frontrow_domain::boxoffice::port::MockOrderRepository::new()),
                room.clone(),
                clock.clone(),
                frontrow_domain::boxoffice::OrderPolicy::default(),
            ),
            clock.clone(),
        ),
        room,
        clock,
        probes: vec![],
        queue_idle_timeout_seconds: 60,
        metrics: frontrow_app::telemetry::metrics_handle(),
    };
    let app = test::init_service(build_app(web::Data::new(state), web::Data::new(auth))).await;
    let req = test::TestRequest::get()
        .uri("/api-docs/openapi.json")
        .to_request();
    test::call_and_read_body_json(&app, req).await
}

/// Every operation: operationId → (method, path, operation).
fn operations(doc: &Value) -> BTreeMap<String, (String, String, Value)> {
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if let Some(id) = op["operationId"].as_str() {
                out.insert(id.to_owned(), (method.clone(), path.clone(), op.clone()));
            }
        }
    }
    out
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    &doc["components"]["schemas"][name]
}

#[actix_web::test]
async fn the_bounds_the_server_enforces_are_in_the_schemas() {
    let doc = served_doc().await;
    let field = |s: &str, f: &str| schema(&doc, s)["properties"][f].clone();
    let bounds = |v: &Value, lo: &str, hi: &str| (v[lo].as_f64(), v[hi].as_f64());

    assert_eq!(
        bounds(&field("CreateUser", "name"), "minLength", "maxLength"),
        (Some(1.0), Some(100.0))
    );
    for f in ["title", "venue"] {
        assert_eq!(
            bounds(&field("NewConcertBody", f), "minLength", "maxLength"),
            (Some(1.0), Some(200.0)),
            "{f}"
        );
    }
    assert_eq!(
        bounds(
            &field("NewConcertBody", "schedules"),
            "minItems",
            "maxItems"
        ),
        (Some(1.0), Some(50.0))
    );
    assert_eq!(
        bounds(&field("ChargeBody", "amount"), "minimum", "maximum"),
        (Some(1.0), Some(100_000_000.0))
    );
    for (f, hi) in [
        ("max_active", 10_000_000.0),
        ("admit_per_second", 10_000_000.0),
        ("active_ttl_seconds", 86_400.0),
        ("admit_per_seat", 1_000_000.0),
    ] {
        assert_eq!(
            bounds(&field("QueuePolicyBody", f), "minimum", "maximum"),
            (Some(1.0), Some(hi)),
            "{f}"
        );
    }
    assert_eq!(
        field("QueuePolicyBody", "pow_difficulty")["maximum"].as_f64(),
        Some(32.0)
    );
    assert_eq!(
        bounds(&field("BestAvailableBody", "count"), "minimum", "maximum"),
        (Some(1.0), Some(8.0))
    );
    assert_eq!(field("OrderBody", "seats")["maxItems"].as_f64(), Some(8.0));
    assert_eq!(
        bounds(&field("LayoutBody", "categories"), "minItems", "maxItems"),
        (Some(1.0), Some(32.0))
    );
    let codes = field("NewPresaleCodesBody", "codes");
    assert_eq!(codes["maxItems"].as_f64(), Some(10_000.0));
    assert_eq!(codes["items"]["pattern"], "^[A-Za-z0-9-]{4,64}$");
    assert_eq!(
        bounds(
            &field("NewPresaleCodesBody", "max_tickets"),
            "minimum",
            "maximum"
        ),
        (Some(1.0), Some(1000.0))
    );

    let ops = operations(&doc);
    let param = |op: &str, name: &str| -> Value {
        ops[op].2["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{op} has no parameter {name}"))
    };
    for op in [
        "pay_order",
        "pay_reservation",
        "charge_wallet",
        "return_ticket",
    ] {
        let key = param(op, "Idempotency-Key");
        assert_eq!(key["in"], "header", "{op}");
        assert_eq!(
            bounds(&key["schema"], "minLength", "maxLength"),
            (Some(1.0), Some(128.0)),
            "{op}"
        );
        assert!(key["schema"]["pattern"].is_string(), "{op}");
    }
    assert_eq!(
        bounds(
            &param("get_draw_receipts", "limit")["schema"],
            "minimum",
            "maximum"
        ),
        (Some(1.0), Some(100_000.0))
    );
}

#[actix_web::test]
async fn routes_that_need_both_tokens_ask_for_both_in_one_requirement() {
    let doc = served_doc().await;
    let ops = operations(&doc);
    let both = serde_json::json!([{"bearer": [], "queue_token": []}]);
    for op in ["place_order", "pay_order", "hold_seat", "pay_reservation"] {
        assert_eq!(ops[op].2["security"], both, "{op}");
    }
    for op in ["queue_status", "leave_queue"] {
        assert_eq!(
            ops[op].2["security"],
            serde_json::json!([{"queue_token": []}]),
            "{op}"
        );
    }
    // No operation offers the queue token as an alternative to anything: where it is
    // asked for, it is the one requirement (alternatives are fine elsewhere, e.g. a
    // gate kit for a gate key or the admin key).
    for (id, (_, _, op)) in &ops {
        let requirements: Vec<_> = op["security"].as_array().into_iter().flatten().collect();
        for requirement in &requirements {
            let names: Vec<&String> = requirement.as_object().unwrap().keys().collect();
            assert!(!names.is_empty(), "{id} has an empty requirement");
        }
        let queue = requirements.iter().any(|r| r.get("queue_token").is_some());
        assert!(
            !queue || requirements.len() == 1,
            "{id} offers the queue token among {} alternatives",
            requirements.len()
        );
    }
}

#[actix_web::test]
async fn every_link_joins_documented_answers_and_fills_every_path_parameter() {
    let doc = served_doc().await;
    let ops = operations(&doc);
    let mut links = 0;
    for (from, (_, _, op)) in &ops {
        for (status, response) in op["responses"].as_object().unwrap() {
            let Some(map) = response["links"].as_object() else {
                continue;
            };
            assert!(status.starts_with('2'), "{from} links from a {status}");
            for (name, link) in map {
                links += 1;
                // Each link is a Reference Object to its object under `x-links`.
                let pointer = link["$ref"].as_str().unwrap().trim_start_matches('#');
                let link = doc
                    .pointer(pointer)
                    .unwrap_or_else(|| panic!("{from}: no {pointer}"));
                let to = link["operationId"].as_str().unwrap();
                let (_, _, target) = ops
                    .get(to)
                    .unwrap_or_else(|| panic!("{from} {status} {name}: no operation {to}"));
                let given: Vec<&str> = link["parameters"]
                    .as_object()
                    .map(|m| m.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                for p in target["parameters"].as_array().into_iter().flatten() {
                    // The sign-up's links hand over the access token; which concert to
                    // enter is the fan's choice.
                    if p["in"] == "path" && from != "create_user" {
                        let want = format!("path.{}", p["name"].as_str().unwrap());
                        assert!(
                            given.contains(&want.as_str()),
                            "{from} {status} {name} → {to} leaves {want} to chance"
                        );
                    }
                }
                if link.get("requestBody").is_some() {
                    assert!(
                        target.get("requestBody").is_some(),
                        "{from} → {to}: no body"
                    );
                }
            }
        }
    }
    // The fan's way is walkable end to end.
    for (from, status, name) in [
        ("create_user", "201", "EnterQueue"),
        ("enter_queue", "201", "Status"),
        ("enter_queue", "201", "PlaceOrder"),
        ("place_order", "201", "Pay"),
        ("hold_seat", "201", "Pay"),
    ] {
        assert!(
            ops[from].2["responses"][status]["links"][name].is_object(),
            "{from} {status} has no link {name}"
        );
    }
    assert!(links >= 40, "{links} links");
}
