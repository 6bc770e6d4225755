//! Handlers of the `queue` tag: enter the waiting room, poll the token (its heartbeat),
//! leave. The operator's side is in `admin`.

use actix_web::{HttpResponse, delete, get, post, web};
use frontrow_domain::model::ConcertId;

use super::AppState;
use super::auth::{AuthUser, QueueTokenHeader};
use super::dto::TicketView;
use super::error::ApiError;
use super::responses::{NotFound, Unauthorized, Unavailable};

/// Enters the concert's waiting room: 201 with a new place, 200 with the existing one.
#[utoipa::path(
    tag = "queue",
    params(("concert_id" = i64, Path, description = "Concert id")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "New place in line", body = TicketView),
        (status = 200, description = "The place this user already has", body = TicketView),
        Unauthorized,
        NotFound,
        Unavailable,
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
        Unauthorized,
        Unavailable,
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
        Unauthorized,
        Unavailable,
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
