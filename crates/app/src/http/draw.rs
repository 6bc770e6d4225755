//! Handlers of the `draw` tag: a concert's on-sale draw, public so anyone can check it
//! (commitment before the opening, seed and receipts after it; see
//! `frontrow_domain::draw` and `frontrow verify-draw`).

use actix_web::{HttpResponse, get, web};
use frontrow_domain::model::ConcertId;
use frontrow_domain::waiting_room::MAX_RECEIPTS_PAGE;

use super::AppState;
use super::dto::{DrawReceiptsView, DrawView};
use super::error::{ApiError, Problem};
use super::responses::{NotFound, Unavailable};

/// A concert's draw document: `commitment`, `algorithm`, `opens_at`, `entrants`, and
/// after the draw the `seed`.
#[utoipa::path(
    tag = "draw",
    params(("concert_id" = i64, Path, description = "Concert id")),
    responses(
        (status = 200, description = "The draw", body = DrawView),
        (status = 404, description = "Unknown concert, or its line has no pre-queue", body = Problem, content_type = "application/problem+json"),
        Unavailable,
    )
)]
#[get("/concerts/{concert_id}/draw")]
pub async fn get_draw(
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let draw = state.room.draw(ConcertId(path.into_inner())).await?;
    Ok(HttpResponse::Ok().json(DrawView::from(draw)))
}

/// Which page of receipts.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReceiptsQuery {
    /// Index of the first receipt (0 = the first drawn).
    #[serde(default)]
    pub offset: u64,
    /// Receipts per page, 1 to 100000 (default 100000).
    #[param(minimum = 1, maximum = 100_000)]
    pub limit: Option<u64>,
}

/// The drawn fans' receipts (`hex(SHA-256(queue token))`) in drawn order, a page at a
/// time, with the seed. A fan finds their own by hashing their token.
#[utoipa::path(
    tag = "draw",
    params(("concert_id" = i64, Path, description = "Concert id"), ReceiptsQuery),
    responses(
        (status = 200, description = "A page of receipts", body = DrawReceiptsView),
        (status = 400, description = "offset or limit is not a number, or limit is out of range", body = Problem, content_type = "application/problem+json"),
        NotFound,
        (status = 409, description = "The draw has not run yet", body = Problem, content_type = "application/problem+json"),
        Unavailable,
    )
)]
#[get("/concerts/{concert_id}/draw/receipts")]
pub async fn get_draw_receipts(
    state: web::Data<AppState>,
    path: web::Path<i64>,
    query: web::Query<ReceiptsQuery>,
) -> Result<HttpResponse, ApiError> {
    let ReceiptsQuery { offset, limit } = query.into_inner();
    let limit = limit.unwrap_or(MAX_RECEIPTS_PAGE);
    if !(1..=MAX_RECEIPTS_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_RECEIPTS_PAGE}"
        )));
    }
    let (draw, receipts) = state
        .room
        .draw_receipts(ConcertId(path.into_inner()), offset, limit)
        .await?;
    Ok(HttpResponse::Ok().json(DrawReceiptsView {
        seed: draw.seed.unwrap_or_default(),
        total: draw.entrants,
        offset,
        receipts,
    }))
}
