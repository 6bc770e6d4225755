//! Handlers of the `admin` tag (operators, `X-Admin-Key`): creating concerts, and each
//! concert's admission policy and live waiting-room figures.

use actix_web::{HttpResponse, get, post, put, web};
use frontrow_domain::catalog::MAX_PRICE;
use frontrow_domain::model::{ConcertId, Money, NewConcert, NewSchedule};
use frontrow_domain::queue::QueuePolicy;

use super::AppState;
use super::auth::Admin;
use super::dto::{ConcertDetailView, NewConcertBody, QueuePolicyBody, QueueStatsView};
use super::error::ApiError;
use super::responses::{
    Forbidden, JsonBodyProblems, NotFound, Unauthorized, Unavailable, Unprocessable,
};

/// Creates a concert with its schedules and seat maps (operators).
#[utoipa::path(
    tag = "admin",
    request_body = NewConcertBody,
    security(("admin_key" = [])),
    responses(
        (status = 201, description = "Created, with every id", body = ConcertDetailView),
        JsonBodyProblems,
        Unauthorized,
        Forbidden,
        Unavailable,
    )
)]
#[post("/admin/concerts")]
pub async fn create_concert(
    state: web::Data<AppState>,
    _admin: Admin,
    body: web::Json<NewConcertBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let schedules = body
        .schedules
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let price = Money::new(s.price).map_err(|_| {
                ApiError::validation(format!(
                    "schedules[{i}].price must be between 0 and {MAX_PRICE}"
                ))
            })?;
            Ok(NewSchedule {
                starts_at: s.starts_at,
                rows: s.rows,
                seats_per_row: s.seats_per_row,
                price,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let new = NewConcert {
        title: body.title,
        venue: body.venue,
        schedules,
    };
    let detail = state.catalog.create_concert(new).await?;
    Ok(HttpResponse::Created().json(ConcertDetailView::from(detail)))
}

/// Sets a concert's admission policy (operators).
#[utoipa::path(
    tag = "admin",
    params(("concert_id" = i64, Path, description = "Concert id")),
    request_body = QueuePolicyBody,
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The policy now in force", body = QueuePolicyBody),
        JsonBodyProblems,
        Unauthorized,
        Forbidden,
        NotFound,
        Unprocessable,
        Unavailable,
    )
)]
#[put("/admin/concerts/{concert_id}/queue-policy")]
pub async fn put_queue_policy(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<i64>,
    body: web::Json<QueuePolicyBody>,
) -> Result<HttpResponse, ApiError> {
    let policy = state
        .room
        .set_policy(
            ConcertId(path.into_inner()),
            QueuePolicy::from(body.into_inner()),
        )
        .await?;
    Ok(HttpResponse::Ok().json(QueuePolicyBody::from(policy)))
}

/// A concert's admission policy (operators).
#[utoipa::path(
    tag = "admin",
    params(("concert_id" = i64, Path, description = "Concert id")),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The policy in force", body = QueuePolicyBody),
        Unauthorized,
        Forbidden,
        NotFound,
        Unavailable,
    )
)]
#[get("/admin/concerts/{concert_id}/queue-policy")]
pub async fn get_queue_policy(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let policy = state.room.policy(ConcertId(path.into_inner())).await?;
    Ok(HttpResponse::Ok().json(QueuePolicyBody::from(policy)))
}

/// Live figures of a concert's waiting room (operators).
#[utoipa::path(
    tag = "admin",
    params(("concert_id" = i64, Path, description = "Concert id")),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "Live figures", body = QueueStatsView),
        Unauthorized,
        Forbidden,
        NotFound,
        Unavailable,
    )
)]
#[get("/admin/concerts/{concert_id}/queue-stats")]
pub async fn get_queue_stats(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let stats = state.room.stats(ConcertId(path.into_inner())).await?;
    Ok(HttpResponse::Ok().json(QueueStatsView::from(stats)))
}
