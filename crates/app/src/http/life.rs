//! Handlers of a concert's line's life (the `admin` tag, operators): closing it by hand
//! and reopening it. Lines also close by themselves (sold out with no hold left, or the
//! last schedule started) and retire `queue.retire_after_seconds` after closing.

use actix_web::{HttpResponse, post, web};
use chrono::{DateTime, Utc};
use frontrow_domain::lifecycle::LineLife;
use frontrow_domain::model::ConcertId;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Admin;
use super::error::ApiError;
use super::responses::{Forbidden, NotFound, Unauthorized, Unavailable};

/// Where a concert's line is in its life.
#[derive(Debug, Serialize, ToSchema)]
pub struct LineLifeView {
    /// `OPEN` | `CLOSED` | `RETIRED` (closed long enough ago that its state is gone;
    /// its fans still read how it ended).
    #[schema(example = "CLOSED")]
    pub state: &'static str,
    /// Why it closed: `SOLD_OUT` | `OPERATOR` | `ENDED` (the last schedule started).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "OPERATOR")]
    pub reason: Option<&'static str>,
    /// When it closed, while `CLOSED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
}

impl From<LineLife> for LineLifeView {
    fn from(life: LineLife) -> Self {
        LineLifeView {
            state: life.as_str(),
            reason: life.reason().map(|r| r.as_str()),
            closed_at: match life {
                LineLife::Closed { since, .. } => Some(since),
                _ => None,
            },
        }
    }
}

/// Closes a concert's line (operators): nobody enters any more (409 `queue-closed`),
/// waiting fans read `CLOSED`, admitted fans keep their time to buy. The line retires
/// `queue.retire_after_seconds` later. Closing a closed line changes nothing.
#[utoipa::path(
    tag = "admin",
    params(("concert_id" = i64, Path, description = "Concert id")),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The line's life now", body = LineLifeView),
        Unauthorized,
        Forbidden,
        NotFound,
        Unavailable,
    )
)]
#[post("/admin/concerts/{concert_id}/queue/close")]
pub async fn close_queue(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let life = state.room.close(ConcertId(path.into_inner())).await?;
    Ok(HttpResponse::Ok().json(LineLifeView::from(life)))
}

/// Reopens a concert's closed or retired line (operators): a closed line goes on where
/// it was; a retired one starts anew at its next entry (the old tokens stay ended).
#[utoipa::path(
    tag = "admin",
    params(("concert_id" = i64, Path, description = "Concert id")),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The line's life now", body = LineLifeView),
        Unauthorized,
        Forbidden,
        NotFound,
        Unavailable,
    )
)]
#[post("/admin/concerts/{concert_id}/queue/open")]
pub async fn reopen_queue(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let life = state.room.reopen(ConcertId(path.into_inner())).await?;
    Ok(HttpResponse::Ok().json(LineLifeView::from(life)))
}
