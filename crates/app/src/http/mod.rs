//! The HTTP layer: shared state, routes (registered once, for both actix and the OpenAPI
//! document), and the Swagger UI.

pub mod auth;
pub mod booking;
pub mod dto;
pub mod error;
pub mod middleware;
pub mod ops;
pub mod queue;
pub mod read_cache;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpResponse, web};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use frontrow_domain::{Booking, Clock, WaitingRoom};
use metrics_exporter_prometheus::PrometheusHandle;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::{AppExt, scope};
use utoipa_swagger_ui::SwaggerUi;

use self::auth::Auth;

/// A dependency that readiness checks and `/metrics` reports on.
#[async_trait]
pub trait Probe: Send + Sync + 'static {
    /// Name in `/readyz` (`database`, `queue`).
    fn name(&self) -> &'static str;
    /// Ok when the dependency answers.
    async fn check(&self) -> Result<(), String>;
    /// Refreshes pool gauges before a scrape.
    fn record_metrics(&self) {}
}

/// What every handler can reach.
pub struct AppState {
    pub booking: Booking,
    pub room: WaitingRoom,
    pub clock: Arc<dyn Clock>,
    pub probes: Vec<Arc<dyn Probe>>,
    pub metrics: PrometheusHandle,
    /// The waiting room's idle timeout, for the advised poll cadence.
    pub queue_idle_timeout_seconds: u64,
    /// Hot catalog reads as ready JSON; every booking write invalidates it.
    pub reads: Arc<read_cache::ReadCache>,
}

impl AppState {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("Access token from POST /api/v1/users"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "admin_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Admin-Key",
                "Operator key (setting auth.admin_key)",
            ))),
        );
        components.add_security_scheme(
            "queue_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Queue-Token",
                "Token from entering the concert's waiting room; must be ACTIVE to book",
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "frontrow",
        description = "Waiting room and booking API for concert on-sales.",
        license(name = "MIT OR Apache-2.0")
    ),
    modifiers(&SecuritySchemes),
    components(schemas(error::Problem)),
    tags(
        (name = "users"), (name = "catalog"), (name = "queue"), (name = "reservations"),
        (name = "wallet"), (name = "admin"), (name = "operations")
    )
)]
pub struct ApiDoc;

/// Builds the actix `App` with every route, and the OpenAPI document generated from the
/// same registrations (so a served route cannot be missing from the document).
pub fn build_app(
    state: web::Data<AppState>,
    auth: web::Data<Auth>,
) -> (
    App<
        impl ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<impl MessageBody>,
            Error = actix_web::Error,
            InitError = (),
        >,
    >,
    utoipa::openapi::OpenApi,
) {
    let (app, api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .app_data(state)
        .app_data(auth)
        .app_data(
            web::JsonConfig::default()
                .limit(256 * 1024)
                .error_handler(error::json_error),
        )
        .app_data(web::PathConfig::default().error_handler(error::path_error))
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        .service(ops::index)
        .service(ops::healthz)
        .service(ops::readyz)
        .service(ops::metrics)
        .service(
            scope::scope("/api/v1")
                .service(booking::create_user)
                .service(booking::list_concerts)
                .service(booking::get_concert)
                .service(booking::list_schedules)
                .service(booking::list_seats)
                .service(booking::hold_seat)
                .service(booking::get_reservation)
                .service(booking::cancel_reservation)
                .service(booking::pay_reservation)
                .service(booking::get_wallet)
                .service(booking::charge_wallet)
                .service(booking::create_concert)
                .service(queue::enter_queue)
                .service(queue::queue_status)
                .service(queue::queue_events)
                .service(queue::leave_queue)
                .service(queue::put_queue_policy)
                .service(queue::get_queue_policy)
                .service(queue::get_queue_stats),
        )
        .split_for_parts();
    let doc = api.clone();
    let app = app
        .service(SwaggerUi::new("/swagger-ui/{_:.*}").url("/api-docs/openapi.json", api))
        .route(
            "/swagger-ui",
            web::get().to(|| async {
                HttpResponse::PermanentRedirect()
                    .insert_header(("Location", "/swagger-ui/"))
                    .finish()
            }),
        )
        .default_service(web::to(error::route_not_found))
        .wrap(actix_web::middleware::from_fn(middleware::observe));
    (app, doc)
}
