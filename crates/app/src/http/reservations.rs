//! Handlers of the `reservations` tag: hold a seat, read, cancel and pay a reservation.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use frontrow_domain::booking::BookingError;
use frontrow_domain::model::{ReservationId, ScheduleId, SeatId};

use super::AppState;
use super::auth::{AuthUser, QueueTokenHeader};
use super::dto::{HoldBody, PaymentView, ReservationView};
use super::error::ApiError;
use super::responses::{
    BadRequest, Conflict, Forbidden, Gone, JsonBodyProblems, NotFound, PaymentRequired,
    Unauthorized, Unavailable, Unprocessable,
};
use crate::telemetry::{HOLD_CONFLICTS, HOLDS, PAYMENT_REPLAYS, PAYMENTS};

/// Holds a seat (needs an `ACTIVE` queue token of the schedule's concert).
#[utoipa::path(
    tag = "reservations",
    request_body = HoldBody,
    security(("bearer" = [], "queue_token" = [])),
    responses(
        (status = 201, description = "Seat held", body = ReservationView),
        JsonBodyProblems,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        Unavailable,
    )
)]
#[post("/reservations")]
pub async fn hold_seat(
    state: web::Data<AppState>,
    user: AuthUser,
    token: QueueTokenHeader,
    body: web::Json<HoldBody>,
) -> Result<HttpResponse, ApiError> {
    let result = state
        .booking
        .hold(
            user.0,
            token.0.as_deref(),
            ScheduleId(body.schedule_id),
            SeatId(body.seat_id),
        )
        .await;
    match result {
        Ok(r) => {
            metrics::counter!(HOLDS).increment(1);
            Ok(
                HttpResponse::Created().json(ReservationView::with_extension(
                    r,
                    state.now(),
                    state.booking.hold_extension(),
                )),
            )
        }
        Err(e) => {
            if matches!(e, BookingError::SeatTaken) {
                metrics::counter!(HOLD_CONFLICTS).increment(1);
            }
            Err(e.into())
        }
    }
}

/// One of the caller's reservations.
#[utoipa::path(
    tag = "reservations",
    params(("reservation_id" = i64, Path, description = "Reservation id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The reservation", body = ReservationView),
        Unauthorized,
        NotFound,
        Unavailable,
    )
)]
#[get("/reservations/{reservation_id}")]
pub async fn get_reservation(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let r = state
        .booking
        .reservation(user.0, ReservationId(path.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(ReservationView::with_extension(
        r,
        state.now(),
        state.booking.hold_extension(),
    )))
}

/// Cancels a held reservation, freeing the seat.
#[utoipa::path(
    tag = "reservations",
    params(("reservation_id" = i64, Path, description = "Reservation id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Cancelled"),
        Unauthorized,
        NotFound,
        Conflict,
        Unavailable,
    )
)]
#[delete("/reservations/{reservation_id}")]
pub async fn cancel_reservation(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    state
        .booking
        .cancel(user.0, ReservationId(path.into_inner()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Pays a held reservation from the wallet. `Idempotency-Key` makes retries safe: a
/// replay returns the first answer and charges once.
#[utoipa::path(
    tag = "reservations",
    params(
        ("reservation_id" = i64, Path, description = "Reservation id"),
        ("Idempotency-Key" = String, Header, description = "1 to 128 printable ASCII characters (spaces only between others), unique per payment attempt", min_length = 1, max_length = 128, pattern = r"^[\x21-\x7E]([\t\x20-\x7E]{0,126}[\x21-\x7E])?$"),
    ),
    security(("bearer" = [], "queue_token" = [])),
    responses(
        (status = 200, description = "Paid (or the replay of the first payment with this key)", body = PaymentView),
        BadRequest,
        Unauthorized,
        PaymentRequired,
        Forbidden,
        NotFound,
        Conflict,
        Gone,
        Unprocessable,
        Unavailable,
    )
)]
#[post("/reservations/{reservation_id}/payment")]
pub async fn pay_reservation(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    token: QueueTokenHeader,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let key = super::auth::required_idempotency_key(&req)?.to_owned();
    let receipt = state
        .booking
        .pay(
            user.0,
            token.0.as_deref(),
            ReservationId(path.into_inner()),
            &key,
        )
        .await?;
    if receipt.replayed {
        metrics::counter!(PAYMENT_REPLAYS).increment(1);
    } else {
        metrics::counter!(PAYMENTS).increment(1);
    }
    Ok(HttpResponse::Ok().json(PaymentView::from(receipt)))
}

/// Keeps a live hold longer, once, by the configured extension (for fans who need more
/// time to pay: WCAG 2.2.1 Timing Adjustable). The answer carries the new `expires_at`.
#[utoipa::path(
    tag = "reservations",
    params(("reservation_id" = i64, Path, description = "Reservation id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Extended: the reservation with its new expiry", body = ReservationView),
        Unauthorized,
        NotFound,
        (status = 409, description = "Already extended, holds cannot be extended here, or already paid", body = super::error::Problem, content_type = "application/problem+json"),
        Gone,
        Unavailable,
    )
)]
#[post("/reservations/{reservation_id}/extend")]
pub async fn extend_reservation(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let r = state
        .booking
        .extend(user.0, ReservationId(path.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(ReservationView::with_extension(
        r,
        state.now(),
        state.booking.hold_extension(),
    )))
}
