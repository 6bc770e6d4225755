//! Handlers of the booking flow: users, catalog, reservations, payment, wallet, and the
//! operator's concert creation.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use frontrow_domain::{
    BookingError, ConcertId, HoldError, NewConcert, NewSchedule, ReservationId, ScheduleId, SeatId,
};

use super::AppState;
use super::auth::{Admin, Auth, AuthUser, QueueTokenHeader};
use super::dto::*;
use super::error::{ApiError, Problem};
use super::read_cache::ReadKey;
use crate::telemetry::{HOLD_CONFLICTS, HOLDS, PAYMENT_REPLAYS, PAYMENTS};

/// Registers a fan (with an empty wallet) and returns their access token.
#[utoipa::path(
    tag = "users",
    request_body = CreateUser,
    responses(
        (status = 201, description = "User created", body = UserCreated),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    auth: web::Data<Auth>,
    body: web::Json<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    let user = state.booking.register(&body.name).await?;
    let access_token = auth.issue(user.id)?;
    Ok(HttpResponse::Created().json(UserCreated {
        id: user.id.0,
        name: user.name,
        access_token,
    }))
}

/// Lists concerts.
#[utoipa::path(
    tag = "catalog",
    responses(
        (status = 200, description = "All concerts", body = [ConcertView]),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/concerts")]
pub async fn list_concerts(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let list: Vec<ConcertView> = state
        .booking
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
        (status = 404, description = "Unknown concert", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/concerts/{concert_id}")]
pub async fn get_concert(
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    cached_json(&state, ReadKey::Concert(id), || async {
        Ok(ConcertDetailView::from(
            state.booking.concert(ConcertId(id)).await?,
        ))
    })
    .await
}

/// A 200 JSON answer from the read cache, or from `load` (then cached).
async fn cached_json<T, F, Fut>(
    state: &AppState,
    key: ReadKey,
    load: F,
) -> Result<HttpResponse, ApiError>
where
    T: serde::Serialize,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T, BookingError>>,
{
    let body = state
        .reads
        .get_or_load(key, || async {
            let value = load().await?;
            serde_json::to_vec(&value)
                .map(web::Bytes::from)
                .map_err(|e| {
                    ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        "Internal error",
                        format!("cannot encode JSON: {e}"),
                    )
                })
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}

/// A concert's schedules with their available seats.
#[utoipa::path(
    tag = "catalog",
    params(("concert_id" = i64, Path, description = "Concert id")),
    responses(
        (status = 200, description = "Schedules, earliest first", body = [ScheduleView]),
        (status = 404, description = "Unknown concert", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/concerts/{concert_id}/schedules")]
pub async fn list_schedules(
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    cached_json(&state, ReadKey::Schedules(id), || async {
        let list = state.booking.schedules(ConcertId(id)).await?;
        Ok(list.into_iter().map(ScheduleView::from).collect::<Vec<_>>())
    })
    .await
}

/// The seat map of a schedule.
#[utoipa::path(
    tag = "catalog",
    params(("schedule_id" = i64, Path, description = "Schedule id")),
    responses(
        (status = 200, description = "Seats by row and number", body = [SeatView]),
        (status = 404, description = "Unknown schedule", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/schedules/{schedule_id}/seats")]
pub async fn list_seats(
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    cached_json(&state, ReadKey::Seats(id), || async {
        let list = state.booking.seats(ScheduleId(id)).await?;
        Ok(list.into_iter().map(SeatView::from).collect::<Vec<_>>())
    })
    .await
}

/// Holds a seat (needs an `ACTIVE` queue token of the schedule's concert).
#[utoipa::path(
    tag = "reservations",
    request_body = HoldBody,
    security(("bearer" = []), ("queue_token" = [])),
    responses(
        (status = 201, description = "Seat held", body = ReservationView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing/invalid access or queue token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Queue token not admitted, expired, or another user's/concert's", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown schedule or seat", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Seat taken, or hold limit reached", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong field types", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database or waiting room unavailable", body = Problem, content_type = "application/problem+json"),
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
            state.reads.invalidate_all();
            metrics::counter!(HOLDS).increment(1);
            Ok(HttpResponse::Created().json(ReservationView::at(r, state.now())))
        }
        Err(e) => {
            if matches!(e, BookingError::Hold(HoldError::SeatTaken)) {
                // The client saw the seat free: make the next seat map fresh.
                state.reads.invalidate_all();
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
        (status = 401, description = "Missing/invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown, or another user's", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
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
    Ok(HttpResponse::Ok().json(ReservationView::at(r, state.now())))
}

/// Cancels a held reservation, freeing the seat.
#[utoipa::path(
    tag = "reservations",
    params(("reservation_id" = i64, Path, description = "Reservation id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Cancelled"),
        (status = 401, description = "Missing/invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown, or another user's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not held (confirmed, cancelled or expired)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
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
    state.reads.invalidate_all();
    Ok(HttpResponse::NoContent().finish())
}

/// Pays a held reservation from the wallet. `Idempotency-Key` makes retries safe: a
/// replay returns the first answer and charges once.
#[utoipa::path(
    tag = "reservations",
    params(
        ("reservation_id" = i64, Path, description = "Reservation id"),
        ("Idempotency-Key" = String, Header, description = "1 to 128 characters, unique per payment attempt"),
    ),
    security(("bearer" = []), ("queue_token" = [])),
    responses(
        (status = 200, description = "Paid (or the replay of the first payment with this key)", body = PaymentView),
        (status = 400, description = "Missing Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing/invalid access or queue token", body = Problem, content_type = "application/problem+json"),
        (status = 402, description = "Insufficient balance", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Queue token not admitted, expired, or another user's/concert's", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown, or another user's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already paid under another key", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Hold expired or reservation cancelled", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Key reused for another reservation, or invalid key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database or waiting room unavailable", body = Problem, content_type = "application/problem+json"),
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
    let key = req
        .headers()
        .get("idempotency-key")
        .ok_or_else(|| ApiError::bad_request("the Idempotency-Key header is required"))?
        .to_str()
        .map_err(|_| ApiError::bad_request("Idempotency-Key must be visible ASCII"))?
        .to_owned();
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
        state.reads.invalidate_all();
        metrics::counter!(PAYMENTS).increment(1);
    }
    Ok(HttpResponse::Ok().json(PaymentView::from(receipt)))
}

/// The caller's wallet balance.
#[utoipa::path(
    tag = "wallet",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Balance in minor units", body = BalanceView),
        (status = 401, description = "Missing/invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "User no longer exists", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/wallet")]
pub async fn get_wallet(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let balance = state.booking.balance(user.0).await?;
    Ok(HttpResponse::Ok().json(BalanceView { balance }))
}

/// Adds money to the caller's wallet (one ledger entry).
#[utoipa::path(
    tag = "wallet",
    request_body = ChargeBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "New balance", body = BalanceView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing/invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "User no longer exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Amount out of bounds", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/wallet/charge")]
pub async fn charge_wallet(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<ChargeBody>,
) -> Result<HttpResponse, ApiError> {
    let balance = state.booking.charge(user.0, body.amount).await?;
    Ok(HttpResponse::Ok().json(BalanceView { balance }))
}

/// Creates a concert with its schedules and seat maps (operators).
#[utoipa::path(
    tag = "admin",
    request_body = NewConcertBody,
    security(("admin_key" = [])),
    responses(
        (status = 201, description = "Created, with every id", body = ConcertDetailView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing X-Admin-Key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Wrong X-Admin-Key", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid concert", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/admin/concerts")]
pub async fn create_concert(
    state: web::Data<AppState>,
    _admin: Admin,
    body: web::Json<NewConcertBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let new = NewConcert {
        title: body.title,
        venue: body.venue,
        schedules: body
            .schedules
            .into_iter()
            .map(|s| NewSchedule {
                starts_at: s.starts_at,
                rows: s.rows,
                seats_per_row: s.seats_per_row,
                price: s.price,
            })
            .collect(),
    };
    let detail = state.booking.create_concert(new).await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(ConcertDetailView::from(detail)))
}
