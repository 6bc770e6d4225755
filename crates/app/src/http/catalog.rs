//! Handlers of the `catalog` tag: concerts, schedules and seat maps. The hot reads are
//! cached by the `CachedCatalog` decorator wired in `startup`, not here.

use actix_web::{HttpResponse, get, web};
use frontrow_domain::model::{ConcertId, ScheduleId};

use super::AppState;
use super::dto::{ConcertDetailView, ConcertView, ScheduleView, SeatView};
use super::error::ApiError;
use super::responses::{NotFound, Unavailable};

/// Lists concerts.
#[utoipa::path(
    tag = "catalog",
    responses(
        (status = 200, description = "All concerts", body = [ConcertView]),
        Unavailable,
    )
)]
#[get("/concerts")]
pub async fn list_concerts(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let list: Vec<ConcertView> = state
        .catalog
        .concerts()
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

/// One concert with its schedules.
#[utoipa::path(
    tag = "catalog",
    params(("concert_id" = i64, Path, description = "Concert id")),
    responses(
        (status = 200, description = "The concert", body = ConcertDetailView),
        NotFound,
        Unavailable,
    )
)]
#[get("/concerts/{concert_id}")]
pub async fn get_concert(
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let detail = state.catalog.concert(ConcertId(path.into_inner())).await?;
    Ok(HttpResponse::Ok().json(ConcertDetailView::from(detail)))
}

/// A concert's schedules with their available seats.
#[utoipa::path(
    tag = "catalog",
    params(("concert_id" = i64, Path, description = "Concert id")),
    responses(
        (status = 200, description = "Schedules, earliest first", body = [ScheduleView]),
        NotFound,
        Unavailable,
    )
)]
#[get("/concerts/{concert_id}/schedules")]
pub async fn list_schedules(
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let list = state
        .catalog
        .schedules(ConcertId(path.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(list.into_iter().map(ScheduleView::from).collect::<Vec<_>>()))
}

/// The seat map of a schedule.
#[utoipa::path(
    tag = "catalog",
    params(("schedule_id" = i64, Path, description = "Schedule id")),
    responses(
        (status = 200, description = "Seats by row and number", body = [SeatView]),
        NotFound,
        Unavailable,
    )
)]
#[get("/schedules/{schedule_id}/seats")]
pub async fn list_seats(
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let list = state.catalog.seats(ScheduleId(path.into_inner())).await?;
    Ok(HttpResponse::Ok().json(list.into_iter().map(SeatView::from).collect::<Vec<_>>()))
}
