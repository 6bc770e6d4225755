//! Operations endpoints: liveness, readiness (each dependency named), Prometheus metrics
//! (with the API, or alone on `telemetry.metrics_bind`: see [`metrics_app`]).

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpRequest, HttpResponse, get, route, web};

use super::AppState;
use super::dto::{HealthView, ReadyView};

/// The process is alive.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Alive", body = HealthView)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthView { status: "ok" })
}

/// The database and the waiting room answer; 503 names the failing part otherwise.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = ReadyView),
        (status = 503, description = "A dependency fails", body = ReadyView),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let mut checks = BTreeMap::new();
    let mut ready = true;
    for probe in &state.probes {
        let outcome = tokio::time::timeout(Duration::from_secs(2), probe.check()).await;
        let text = match outcome {
            Ok(Ok(())) => "ok".to_owned(),
            Ok(Err(e)) => {
                ready = false;
                format!("unavailable: {e}")
            }
            Err(_) => {
                ready = false;
                "unavailable: no answer within 2 s".to_owned()
            }
        };
        checks.insert(probe.name().to_owned(), text);
    }
    let view = ReadyView {
        status: if ready { "ready" } else { "unavailable" },
        checks,
    };
    if ready {
        HttpResponse::Ok().json(view)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "1"))
            .json(view)
    }
}

/// Prometheus metrics in text format.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain; version=0.0.4"))
)]
#[get("/metrics")]
pub async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if req.app_data::<MetricsElsewhere>().is_some() {
        return super::error::route_not_found(req).await;
    }
    for probe in &state.probes {
        probe.record_metrics();
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::telemetry::render(&state.metrics))
}

/// Marks the API's app when `/metrics` is served on its own listener: the public one
/// then answers it 404, as a route it does not have.
#[derive(Debug, Clone, Copy)]
pub struct MetricsElsewhere;

/// The app of the metrics listener (`telemetry.metrics_bind`): `/metrics` and nothing
/// else.
pub fn metrics_app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        .service(metrics)
        .default_service(web::to(super::error::route_not_found))
}

/// The fans' pages: concerts, the waiting room, the seat map, checkout (one page over
/// this API; its scripts are under `/static/`).
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "The fans' web page", body = String, content_type = "text/html"),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag"),
    )
)]
#[route("/", method = "GET", method = "HEAD")]
pub async fn index(req: HttpRequest) -> Result<HttpResponse, super::error::ApiError> {
    super::pages::serve(&req, "index.html")
}
