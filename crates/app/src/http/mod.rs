//! The HTTP layer: shared state, routes (registered once, for both actix and the OpenAPI
//! document), and the Swagger UI. One handler module per OpenAPI tag, mirroring the use
//! cases: `users` and `wallet` (accounts), `catalog`, `reservations` (booking), `queue`
//! (waiting room), `admin`, `ops`.

pub mod account;
pub mod account_dto;
pub mod admin;
pub mod auth;
pub mod catalog;
pub mod challenge;
pub mod draw;
pub mod dto;
pub mod error;
pub mod gate_admin;
pub mod json_numbers;
pub mod life;
pub mod limits;
pub mod links;
pub mod methods;
pub mod middleware;
pub mod ops;
pub mod order_dto;
pub mod orders;
pub mod pages;
pub mod passkeys;
pub mod presale;
pub mod queue;
pub mod reservations;
pub mod responses;
pub mod returns;
pub mod returns_dto;
pub mod ticket_dto;
pub mod tickets;
pub mod users;
pub mod wallet;
pub mod wellknown;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpResponse, web};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use frontrow_domain::accounts::Accounts;
use frontrow_domain::booking::Booking;
use frontrow_domain::boxoffice::BoxOffice;
use frontrow_domain::catalog::Catalog;
use frontrow_domain::ports::Clock;
use frontrow_domain::waiting_room::WaitingRoom;
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

/// What every handler can reach: one value per use case.
pub struct AppState {
    pub accounts: Accounts,
    pub catalog: Catalog,
    pub booking: Booking,
    /// Orders of several tickets (the box office), behind the same waiting room.
    pub boxoffice: BoxOffice,
    /// The same waiting room `booking` checks admissions with.
    pub room: WaitingRoom,
    pub clock: Arc<dyn Clock>,
    pub probes: Vec<Arc<dyn Probe>>,
    pub metrics: PrometheusHandle,
    /// The waiting room's idle timeout, for the advised poll cadence.
    pub queue_idle_timeout_seconds: u64,
    /// Sales figures and the export of paid seats (operators).
    pub sales: frontrow_domain::sales::Sales,
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
                    .description(Some(
                        "Access token from POST /api/v1/users, or from the operator's identity provider (auth.jwks_url)",
                    ))
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
            "gate_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Gate-Key",
                "Gate key of one schedule (POST /api/v1/admin/schedules/{schedule_id}/gate-keys)",
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
        (name = "users"), (name = "catalog"), (name = "queue"), (name = "orders"), (name = "reservations"),
        (name = "wallet"), (name = "admin"), (name = "operations"), (name = "draw"), (name = "tickets"), (name = "waitlist")
    )
)]
pub struct ApiDoc;

/// Builds the actix `App` with every route, serving the OpenAPI document generated from
/// the same registrations (so a served route cannot be missing from the document) at
/// `/api-docs/openapi.json`.
pub fn build_app(
    state: web::Data<AppState>,
    auth: web::Data<Auth>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
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
        // The API first: actix tries services in order, and `/static/{file}` costs a
        // regex match for every request that reaches it.
        .service(
            scope::scope("/api/v1")
                // The fans' poll first: actix tries routes in order, and the ones with
                // path parameters cost a regex match each.
                .service(queue::queue_status)
                .service(users::create_user)
                .service(account::sign_in)
                .service(account::list_sessions)
                .service(account::revoke_session)
                .service(account::get_me)
                .service(account::attach_password)
                .service(passkeys::start_sign_up)
                .service(passkeys::finish_sign_up)
                .service(passkeys::start_adding)
                .service(passkeys::finish_adding)
                .service(passkeys::start_sign_in)
                .service(passkeys::finish_sign_in)
                .service(catalog::list_concerts)
                .service(catalog::get_concert)
                .service(catalog::list_schedules)
                .service(catalog::list_seats)
                .service(orders::place_order)
                .service(orders::list_orders)
                .service(orders::get_order)
                .service(orders::cancel_order)
                .service(orders::pay_order)
                .service(orders::extend_order)
                .service(orders::get_availability)
                .service(reservations::hold_seat)
                .service(reservations::get_reservation)
                .service(reservations::cancel_reservation)
                .service(reservations::pay_reservation)
                .service(wallet::get_wallet)
                .service(wallet::charge_wallet)
                .service(queue::enter_queue)
                .service(challenge::queue_challenge)
                .service(queue::queue_events)
                .service(queue::leave_queue)
                .service(admin::create_concert)
                .service(admin::put_queue_policy)
                .service(admin::get_queue_policy)
                .service(admin::get_queue_stats)
                .service(life::close_queue)
                .service(life::reopen_queue)
                .service(draw::get_draw)
                .service(draw::get_draw_receipts)
                .service(admin::get_sales_summary)
                .service(admin::export_sales_csv)
                .service(presale::create_presale_codes)
                .service(presale::export_presale_codes)
                .service(presale::list_presale_codes)
                .service(presale::cancel_presale_code)
                .service(reservations::extend_reservation)
                .service(tickets::list_tickets)
                .service(tickets::bind_holder_key)
                .service(tickets::checkin)
                .service(tickets::checkin_batch)
                .service(tickets::gate_kit)
                .service(gate_admin::issue_gate_key)
                .service(gate_admin::list_gate_keys)
                .service(gate_admin::revoke_gate_key)
                .service(gate_admin::checkin_stats)
                .service(gate_admin::list_revocations)
                .service(gate_admin::revoke_ticket)
                .service(gate_admin::get_ticket_policy)
                .service(gate_admin::put_ticket_policy)
                .service(returns::return_ticket)
                .service(returns::join_waitlist)
                .service(returns::get_waitlist_entry)
                .service(returns::leave_waitlist)
                .service(returns::cancel_show)
                .service(returns::get_returns)
                .service(returns::put_returns),
        )
        .service(ops::index)
        .service(ops::healthz)
        .service(ops::readyz)
        .service(ops::metrics)
        .service(pages::admin_page)
        .service(pages::static_file)
        .service(pages::favicon)
        .service(wellknown::jwks)
        .service(tickets::ticket_keys)
        .split_for_parts();
    let api = limits::document(api);
    let api = links::document(api);
    // For 405 answers: the documented routes and the Swagger UI's.
    let known = methods::KnownRoutes::from_openapi(&api)
        .with("/swagger-ui", &[actix_web::http::Method::GET])
        .with("/swagger-ui/{_:.*}", &[actix_web::http::Method::GET])
        .with("/api-docs/openapi.json", &[actix_web::http::Method::GET]);
    app.app_data(web::Data::new(known))
        .service(SwaggerUi::new("/swagger-ui/{_:.*}").url("/api-docs/openapi.json", api))
        .route(
            "/swagger-ui",
            web::get().to(|| async {
                HttpResponse::PermanentRedirect()
                    .insert_header(("Location", "/swagger-ui/"))
                    .finish()
            }),
        )
        .default_service(web::to(methods::no_route))
        // Inside `observe`, so refusals are counted and logged like any answer.
        .wrap(actix_web::middleware::from_fn(limits::enforce))
        .wrap(actix_web::middleware::from_fn(middleware::observe))
        // Swagger UI's files get cache headers; then every answer is compressed when the
        // client asks for it, but for the event stream (it must not be buffered) and
        // the status poll (small and hot), which opt out.
        .wrap(actix_web::middleware::from_fn(pages::swagger_ui_cache))
        .wrap(actix_web::middleware::Compress::default())
}
