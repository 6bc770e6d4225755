//! Handler tests over mocked ports (`actix_web::test`): the HTTP mapping of use-case
//! errors, independent of any database or Redis.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use actix_web::{test, web};
use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use frontrow_app::http::auth::Auth;
use frontrow_app::http::{AppState, Probe, build_app};
use frontrow_domain::*;
use secrecy::SecretString;
use serde_json::{Value, json};

const TOKEN: &str = "1.1.7.0123456789abcdef0123456789abcdef";

struct Mocks {
    catalog: MockCatalogRepository,
    seats: MockSeatRepository,
    payments: MockPaymentRepository,
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
        })
    });
    Mocks {
        catalog,
        seats: MockSeatRepository::new(),
        payments: MockPaymentRepository::new(),
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
    let ports = Ports {
        clock: clock.clone(),
        users: Arc::new(MockUserRepository::new()),
        catalog: Arc::new(m.catalog),
        seats: Arc::new(m.seats),
        wallets: Arc::new(MockWalletRepository::new()),
        payments: Arc::new(m.payments),
        queue: Arc::new(m.queue),
    };
    let auth = Auth::new(
        &SecretString::from("handler-test-secret-0123"),
        SecretString::from("handler-test-admin-key"),
        3600,
    );
    let bearer = auth.issue(UserId(7)).unwrap();
    let state = AppState {
        booking: Booking::new(ports.clone(), BookingPolicy::default()),
        room: WaitingRoom::new(ports.queue.clone(), ports.catalog.clone(), clock.clone()),
        clock,
        probes: vec![Arc::new(FailingProbe)],
        queue_idle_timeout_seconds: 60,
        metrics: frontrow_app::telemetry::metrics_handle(),
        reads: Arc::new(frontrow_app::http::read_cache::ReadCache::new(
            std::time::Duration::ZERO,
        )),
    };
    (web::Data::new(state), web::Data::new(auth), bearer)
}

async fn call(m: Mocks, req: test::TestRequest) -> (u16, Option<String>, Option<String>, Value) {
    let (state, auth, bearer) = state(m);
    let app = test::init_service(build_app(state, auth).0).await;
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

fn hold_request() -> test::TestRequest {
    test::TestRequest::post()
        .uri("/api/v1/reservations")
        .set_json(json!({"schedule_id": 10, "seat_id": 5}))
}

#[actix_web::test]
async fn a_taken_seat_is_409_seat_taken() {
    let mut m = admitted();
    m.seats
        .expect_hold()
        .returning(|_| Err(HoldError::SeatTaken));
    let (status, ct, _, body) = call(m, hold_request()).await;
    assert_eq!(status, 409);
    assert_eq!(ct.as_deref(), Some("application/problem+json"));
    assert_eq!(body["type"], "/problems/seat-taken");
}

#[actix_web::test]
async fn a_database_outage_is_503_with_retry_after_and_no_internals() {
    let mut m = admitted();
    m.seats.expect_hold().returning(|_| {
        Err(HoldError::Unavailable(StoreError::new(
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
async fn payment_errors_map_to_their_statuses() {
    for (err, code, kind) in [
        (
            PaymentError::InsufficientBalance {
                balance: 1,
                amount: 5,
            },
            402,
            "insufficient-balance",
        ),
        (PaymentError::HoldExpired, 410, "hold-expired"),
        (PaymentError::Cancelled, 410, "reservation-cancelled"),
        (PaymentError::AlreadyPaid, 409, "already-paid"),
        (PaymentError::KeyReused, 422, "idempotency-key-reused"),
        (PaymentError::ReservationNotFound, 404, "not-found"),
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
                price: 5,
                status: ReservationStatus::Held,
                created_at: Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap(),
                expires_at: Utc.with_ymd_and_hms(2030, 1, 1, 0, 5, 0).unwrap(),
                paid_at: None,
            }))
        });
        let mut slot = Some(err);
        m.payments
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
    let app = test::init_service(build_app(state, auth).0).await;
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
