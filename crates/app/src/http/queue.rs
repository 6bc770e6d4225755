//! Handlers of the waiting room: enter, status (the heartbeat), leave, and the
//! operator's policy and live statistics.

use actix_web::{HttpResponse, delete, get, post, put, web};
use frontrow_domain::{ConcertId, QueuePolicy};

use super::AppState;
use super::auth::{Admin, AuthUser, QueueTokenHeader};
use super::dto::*;
use super::error::{ApiError, Problem};

/// Enters the concert's waiting room: 201 with a new place, 200 with the existing one.
#[utoipa::path(
    tag = "queue",
    params(("concert_id" = i64, Path, description = "Concert id")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "New place in line", body = TicketView),
        (status = 200, description = "The place this user already has", body = TicketView),
        (status = 401, description = "Missing/invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown concert", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Waiting room unavailable (see Retry-After)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/concerts/{concert_id}/queue")]
pub async fn enter_queue(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let entered = state
        .room
        .enter(ConcertId(path.into_inner()), user.0)
        .await?;
    let view = TicketView::from(entered.ticket);
    Ok(if entered.created {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// Where the token stands. Poll it: a waiting token not polled for the idle timeout
/// leaves the line.
#[utoipa::path(
    tag = "queue",
    params(("X-Queue-Token" = String, Header, description = "The token from entering")),
    security(("queue_token" = [])),
    responses(
        (status = 200, description = "The token's standing", body = TicketView),
        (status = 401, description = "Missing, unknown or forged token", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Waiting room unavailable (see Retry-After)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/queue/status")]
pub async fn queue_status(
    state: web::Data<AppState>,
    token: QueueTokenHeader,
) -> Result<HttpResponse, ApiError> {
    let ticket = state.room.status(token.required()?).await?;
    Ok(HttpResponse::Ok().json(TicketView::from(ticket)))
}

/// Leaves the line, or gives up the active slot.
#[utoipa::path(
    tag = "queue",
    params(("X-Queue-Token" = String, Header, description = "The token from entering")),
    security(("queue_token" = [])),
    responses(
        (status = 204, description = "Left"),
        (status = 401, description = "Missing, unknown or forged token", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Waiting room unavailable (see Retry-After)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/queue")]
pub async fn leave_queue(
    state: web::Data<AppState>,
    token: QueueTokenHeader,
) -> Result<HttpResponse, ApiError> {
    state.room.leave(token.required()?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Sets a concert's admission policy (operators).
#[utoipa::path(
    tag = "admin",
    params(("concert_id" = i64, Path, description = "Concert id")),
    request_body = QueuePolicyBody,
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The policy now in force", body = QueuePolicyBody),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing X-Admin-Key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Wrong X-Admin-Key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown concert", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid policy", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Waiting room unavailable", body = Problem, content_type = "application/problem+json"),
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
        (status = 401, description = "Missing X-Admin-Key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Wrong X-Admin-Key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Waiting room unavailable", body = Problem, content_type = "application/problem+json"),
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
        (status = 401, description = "Missing X-Admin-Key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Wrong X-Admin-Key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown concert", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Waiting room unavailable", body = Problem, content_type = "application/problem+json"),
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
