//! Handler tests over mocked ports (`actix_web::test`): the HTTP mapping of use-case
//! errors, independent of any database or Redis.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use actix_web::{test, web};
use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use frontrow_app::http::auth::Auth;
use frontrow_app::http::{AppState, Probe, build_app};
use frontrow_domain::accounts::Accounts;
use frontrow_domain::booking::Booking;
use frontrow_domain::boxoffice::model::{Order, OrderStatus, SeatPosition};
use frontrow_domain::boxoffice::port::{MockOrderRepository, OrderPayError, PlaceError};
use frontrow_domain::catalog::Catalog;
use frontrow_domain::error::{QueueError, StoreError};
use frontrow_domain::model::{
    ConcertId, Money, OrderId, Reservation, ReservationStatus, Schedule, ScheduleId, SeatId, UserId,
};
use frontrow_domain::ports::{
    CatalogRepository, Clock, MockCatalogRepository, MockClock, MockPaymentRepository, MockQueue,
    MockSeatRepository, MockUserRepository, MockWalletRepository,
};
use frontrow_domain::queue::{Ticket, TicketStatus};
use frontrow_domain::waiting_room::WaitingRoom;
use secrecy::SecretString;
use serde_json::{Value, json};

const TOKEN: &str = "1.1.7.0123456789abcdef0123456789abcdef";

struct Mocks {
    catalog: MockCatalogRepository,
    seats: MockSeatRepository,
    orders: MockOrderRepository,
    queue: MockQueue,
}

fn admitted() -> Mocks {
    let mut catalog = MockCatalogRepository::new();
    catalog.expect_get_schedule().returning(|id| {
        Ok(Some(Schedule {
            id,
            concert_id: ConcertId(1),
            starts_at: Utc::now(),
        }))
    });
    let mut queue = MockQueue::new();
    queue.expect_admission().returning(|t, _| {
        Ok(Ticket {
            token: t.clone(),
            concert_id: ConcertId(1),
            user_id: UserId(7),
            status: TicketStatus::Active,
            position: None,
            eta_seconds: None,
            active_until: None,
            opens_at: None,
            inventory: None,
            eta_range: None,
        })
    });
    Mocks {
        catalog,
        seats: MockSeatRepository::new(),
        orders: MockOrderRepository::new(),
        queue,
    }
}

struct FailingProbe;

#[async_trait]
impl Probe for FailingProbe {
    fn name(&self) -> &'static str {
        "database"
    }
    async fn check(&self) -> Result<(), String> {
        Err("connection refused".into())
    }
}

fn state(m: Mocks) -> (web::Data<AppState>, web::Data<Auth>, String) {
    let mut clock = MockClock::new();
    clock.expect_now().returning(Utc::now);
    let clock: Arc<dyn Clock> = Arc::new(clock);
    let catalog: Arc<dyn CatalogRepository> = Arc::new(m.catalog);
    let room = WaitingRoom::new(Arc::new(m.queue), catalog.clone(), clock.clone());
    let auth = Auth::new(
        &SecretString::from("handler-test-secret-0123"),
        SecretString::from("handler-test-admin-key"),
        3600,
    );
    let bearer = auth.issue(UserId(7)).unwrap();
    let boxoffice = frontrow_domain::boxoffice::BoxOffice::new(
        catalog.clone(),
        Arc::new(m.orders),
        room.clone(),
        clock.clone(),
        frontrow_domain::boxoffice::OrderPolicy::default(),
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
        boxoffice: boxoffice.clone(),
        booking: Booking::new(Arc::new(m.seats), boxoffice, clock.clone()),
        room,
        clock,
        probes: vec![Arc::new(FailingProbe)],
        queue_idle_timeout_seconds: 60,
        metrics: frontrow_app::telemetry::metrics_handle(),
    };
    (web::Data::new(state), web::Data::new(auth), bearer)
}

async fn call(m: Mocks, req: test::TestRequest) -> (u16, Option<String>, Option<String>, Value) {
    let (state, auth, bearer) = state(m);
    let app = test::init_service(build_app(state, auth)).await;
    let req = req
        .insert_header(("Authorization", format!("Bearer {bearer}")))
        .insert_header(("X-Queue-Token", TOKEN))
        .to_request();
    let res = test::call_service(&app, req).await;
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = test::read_body_json(res).await;
    (status, ct, retry, body)
}

/// The held order `id` of user 7: seat 5 alone.
fn order_of_one(id: OrderId) -> Order {
    let at = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    Order {
        id,
        user_id: UserId(7),
        concert_id: ConcertId(1),
        schedule_id: ScheduleId(10),
        status: OrderStatus::Held,
        total: Money::from_u32(5),
        seats: vec![SeatPosition {
            seat_id: SeatId(5),
            label: "A-5".into(),
            section: "Stalls".into(),
            row: "A".into(),
            number: 5,
            category: "Standard".into(),
            price: Money::from_u32(5),
        }],
        standing: Vec::new(),
        together: true,
        lone_seats_left: 0,
        created_at: at,
        expires_at: at + chrono::Duration::minutes(5),
        admitted_until: at + chrono::Duration::minutes(5),
        extended_at: None,
        paid_at: None,
        offer: false,
        refunds: Vec::new(),
        show_cancelled: false,
    }
}

fn hold_request() -> test::TestRequest {
    test::TestRequest::post()
        .uri("/api/v1/reservations")
        .set_json(json!({"schedule_id": 10, "seat_id": 5}))
}

#[actix_web::test]
async fn a_taken_seat_is_409_seat_taken() {
    let mut m = admitted();
    m.orders
        .expect_place()
        .returning(|_| Err(PlaceError::SeatsTaken(vec![SeatId(5)])));
    let (status, ct, _, body) = call(m, hold_request()).await;
    assert_eq!(status, 409);
    assert_eq!(ct.as_deref(), Some("application/problem+json"));
    assert_eq!(body["type"], "/problems/seat-taken");
}

/// A hold behind the booking limit with `bearer`: its status, and how many access tokens
/// the app verified for it.
async fn hold_behind_the_limits(bearer: Option<&str>) -> (u16, u64) {
    let mut m = admitted();
    m.orders
        .expect_place()
        .returning(|_| Err(PlaceError::SeatsTaken(vec![SeatId(5)])));
    let (state, auth, issued) = state(m);
    let mut settings = frontrow_app::Settings::default().limits;
    settings.enabled = true;
    let limits = frontrow_app::guard::limits::Limits::new(&settings, None).unwrap();
    let app = build_app(state, auth.clone()).app_data(web::Data::new(limits));
    let app = test::init_service(app).await;
    let req = hold_request()
        .peer_addr("203.0.113.9:4000".parse().unwrap())
        .insert_header((
            "Authorization",
            format!("Bearer {}", bearer.unwrap_or(&issued)),
        ))
        .insert_header(("X-Queue-Token", TOKEN))
        .to_request();
    let res = test::call_service(&app, req).await;
    (res.status().as_u16(), auth.tokens_verified())
}

#[actix_web::test]
async fn the_access_token_is_verified_once_for_the_limit_and_the_handler() {
    // The booking limit counts the user, the handler needs them: one verification.
    assert_eq!(hold_behind_the_limits(None).await, (409, 1));
    // A token that does not verify is refused by the handler as before, unverified again.
    assert_eq!(hold_behind_the_limits(Some("not.a.jwt")).await, (401, 1));
}

#[actix_web::test]
async fn a_database_outage_is_503_with_retry_after_and_no_internals() {
    let mut m = admitted();
    m.orders.expect_place().returning(|_| {
        Err(PlaceError::Unavailable(StoreError::new(
            "secret internal detail",
        )))
    });
    let (status, _, retry, body) = call(m, hold_request()).await;
    assert_eq!(status, 503);
    assert_eq!(retry.as_deref(), Some("1"));
    assert!(!body.to_string().contains("secret internal detail"));
}

#[actix_web::test]
async fn a_queue_outage_on_the_gate_is_503() {
    let mut m = admitted();
    m.queue = MockQueue::new();
    m.queue
        .expect_admission()
        .returning(|_, _| Err(QueueError::unavailable("redis down")));
    let (status, _, retry, body) = call(m, hold_request()).await;
    assert_eq!(status, 503, "{body}");
    assert!(retry.is_some());
}

#[actix_web::test]
async fn a_queue_that_refuses_the_call_at_the_gate_says_so_with_409_not_503() {
    let mut m = admitted();
    m.queue = MockQueue::new();
    m.queue
        .expect_admission()
        .returning(|_, _| Err(QueueError::Refused("cluster slot moved mid-call".into())));
    let (status, ct, retry, body) = call(m, hold_request()).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(ct.as_deref(), Some("application/problem+json"));
    assert_eq!(body["type"], "/problems/queue-refused");
    assert_eq!(body["detail"], "cluster slot moved mid-call");
    assert_eq!(retry, None);
}

#[actix_web::test]
async fn payment_errors_map_to_their_statuses() {
    for (err, code, kind) in [
        (
            OrderPayError::InsufficientBalance {
                balance: Money::from_u32(1),
                amount: Money::from_u32(5),
            },
            402,
            "insufficient-balance",
        ),
        (OrderPayError::Expired, 410, "hold-expired"),
        (OrderPayError::Cancelled, 410, "reservation-cancelled"),
        (OrderPayError::AlreadyPaid, 409, "already-paid"),
        (OrderPayError::KeyReused, 422, "idempotency-key-reused"),
        (OrderPayError::NotFound, 404, "not-found"),
    ] {
        let mut m = admitted();
        m.seats.expect_reservation().returning(|id| {
            Ok(Some(Reservation {
                id,
                user_id: UserId(7),
                concert_id: ConcertId(1),
                schedule_id: ScheduleId(10),
                seat_id: SeatId(5),
                seat_label: "A-5".into(),
                price: Money::from_u32(5),
                status: ReservationStatus::Held,
                created_at: Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap(),
                expires_at: Utc.with_ymd_and_hms(2030, 1, 1, 0, 5, 0).unwrap(),
                paid_at: None,
                extended_at: None,
                order_id: Some(OrderId(1)),
            }))
        });
        m.orders
            .expect_order()
            .returning(|id| Ok(Some(order_of_one(id))));
        m.orders
            .expect_order_head()
            .returning(|id| Ok(Some(order_of_one(id).head())));
        let mut slot = Some(err);
        m.orders
            .expect_pay()
            .returning(move |_| Err(slot.take().unwrap()));
        let req = test::TestRequest::post()
            .uri("/api/v1/reservations/3/payment")
            .insert_header(("Idempotency-Key", "k"));
        let (status, _, _, body) = call(m, req).await;
        assert_eq!(status, code, "{body}");
        assert_eq!(body["type"], format!("/problems/{kind}"));
    }
}

#[actix_web::test]
async fn readiness_names_the_failing_dependency() {
    let (state, auth, _) = state(admitted());
    let app = test::init_service(build_app(state, auth)).await;
    let res = test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(res.status().as_u16(), 503);
    let body: Value = test::read_body_json(res).await;
    assert_eq!(body["status"], "unavailable");
    assert!(
        body["checks"]["database"]
            .as_str()
            .unwrap()
            .contains("connection refused")
    );
}

#[actix_web::test]
async fn the_spec_documents_415_on_json_bodies_and_404_on_path_ids() {
    let (state, auth, _) = state(admitted());
    let app = test::init_service(build_app(state, auth)).await;
    let req = test::TestRequest::get()
        .uri("/api-docs/openapi.json")
        .to_request();
    let doc: Value = test::call_and_read_body_json(&app, req).await;
    let mut checked = (0, 0);
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let documents = |code: &str| op["responses"].get(code).is_some();
            if op.get("requestBody").is_some() {
                checked.0 += 1;
                for code in ["400", "415", "422"] {
                    assert!(documents(code), "{method} {path} lacks {code}");
                }
            }
            let path_params = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == "path"));
            if path_params {
                checked.1 += 1;
                assert!(documents("404"), "{method} {path} lacks 404");
            }
        }
    }
    // 21 operations take a JSON body (orders, presale codes, sign-in, an email and
    // password to attach, the passkey answers, check-ins and their batches, gate keys, a
    // holder key, revocations and the ticket policy among them), 49 a path id (the draw's
    // two, the sales summary and export, the hold extension, the pages' static files, the
    // proof-of-work challenge, an order's four routes, availability, the presale codes'
    // four, a session, the three passkey finishes, the gate kit, gate keys, check-in
    // figures, the revocation list, a ticket's holder key and revocation, the ticket policy,
    // closing and reopening a line among them); returns add a waiting-list join and a
    // return cutoff (bodies) and a ticket's return, the waiting list's three, a show's
    // cancel and its returns' two (path ids).
    assert_eq!(checked, (21, 49));
}

#[actix_web::test]
async fn a_body_of_another_type_is_415_and_a_path_id_that_does_not_parse_is_404() {
    let (state, auth, _) = state(admitted());
    let app = test::init_service(build_app(state, auth)).await;
    let req = test::TestRequest::post()
        .uri("/api/v1/users")
        .insert_header(("Content-Type", "text/plain"))
        .set_payload(r#"{"name":"Ada"}"#)
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status().as_u16(), 415);
    let req = test::TestRequest::get()
        .uri("/api/v1/admin/concerts/9223372036854775808/queue-policy")
        .insert_header(("X-Admin-Key", "handler-test-admin-key"))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status().as_u16(), 404);
}
