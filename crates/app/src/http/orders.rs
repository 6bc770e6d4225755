//! Handlers of the `orders` tag: a party's order of seats and standing places — held
//! together, paid once, cancelled or extended as a whole — and a fan's list of orders.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use frontrow_domain::boxoffice::OrderError;
use frontrow_domain::model::{OrderId, ScheduleId};

use super::AppState;
use super::auth::{AuthUser, QueueTokenHeader};
use super::error::ApiError;
use super::order_dto::{AvailabilityView, OrderBody, OrderPaymentView, OrderView};
use super::responses::{
    BadRequest, Conflict, Forbidden, Gone, JsonBodyProblems, NotFound, PaymentRequired,
    Unauthorized, Unavailable, Unprocessable,
};
use crate::telemetry::{
    ORDER_CONFLICTS, ORDER_PAYMENTS, ORDERS, ORDERS_CONTENDED, PAYMENT_REPLAYS,
};

/// Holds everything a party asks for — picked seats or best-available seats together,
/// and standing places — in one transaction with one expiry, or nothing (409 naming what
/// was unavailable). Needs an `ACTIVE` queue token of the schedule's concert; the hold
/// never outlives that admission.
#[utoipa::path(
    tag = "orders",
    request_body = OrderBody,
    security(("bearer" = [], "queue_token" = [])),
    responses(
        (status = 201, description = "Held: every position, one expiry", body = OrderView),
        JsonBodyProblems,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        Unavailable,
    )
)]
#[post("/orders")]
pub async fn place_order(
    state: web::Data<AppState>,
    user: AuthUser,
    token: QueueTokenHeader,
    body: web::Json<OrderBody>,
) -> Result<HttpResponse, ApiError> {
    let result = state
        .boxoffice
        .place(user.0, token.0.as_deref(), body.into_inner().into())
        .await;
    match result {
        Ok(o) => {
            metrics::counter!(ORDERS).increment(1);
            Ok(HttpResponse::Created().json(OrderView::new(o, state.now())))
        }
        Err(e) => {
            if matches!(
                e,
                OrderError::SeatsTaken(_)
                    | OrderError::NoSeatsLeft { .. }
                    | OrderError::AreaFull { .. }
            ) {
                metrics::counter!(ORDER_CONFLICTS).increment(1);
            } else if matches!(e, OrderError::Contended { .. }) {
                metrics::counter!(ORDERS_CONTENDED).increment(1);
            }
            Err(e.into())
        }
    }
}

/// The caller's orders, newest first (at most 200).
#[utoipa::path(
    tag = "orders",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's orders", body = [OrderView]),
        Unauthorized,
        Unavailable,
    )
)]
#[get("/orders")]
pub async fn list_orders(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let now = state.now();
    let orders: Vec<OrderView> = state
        .boxoffice
        .orders(user.0)
        .await?
        .into_iter()
        .map(|o| OrderView::new(o, now))
        .collect();
    Ok(HttpResponse::Ok().json(orders))
}

/// One of the caller's orders.
#[utoipa::path(
    tag = "orders",
    params(("order_id" = i64, Path, description = "Order id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The order", body = OrderView),
        Unauthorized,
        NotFound,
        Unavailable,
    )
)]
#[get("/orders/{order_id}")]
pub async fn get_order(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let o = state
        .boxoffice
        .order(user.0, OrderId(path.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(OrderView::new(o, state.now())))
}

/// Cancels a held order: its seats and places are free again at once.
#[utoipa::path(
    tag = "orders",
    params(("order_id" = i64, Path, description = "Order id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Cancelled"),
        Unauthorized,
        NotFound,
        Conflict,
        Unavailable,
    )
)]
#[delete("/orders/{order_id}")]
pub async fn cancel_order(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    state
        .boxoffice
        .cancel(user.0, OrderId(path.into_inner()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Pays a held order from the wallet: one debit of the total, every position sold, in
/// one transaction. `Idempotency-Key` makes retries safe: a replay returns the first
/// answer and charges once. Needs the buyer's `ACTIVE` queue token, except for a
/// waiting-list offer (`waitlist_offer`): that order is the fan's turn already and is
/// paid without queueing again.
#[utoipa::path(
    tag = "orders",
    params(
        ("order_id" = i64, Path, description = "Order id"),
        ("Idempotency-Key" = String, Header, description = "1 to 128 printable ASCII characters (spaces only between others), unique per payment attempt", min_length = 1, max_length = 128, pattern = r"^[\x21-\x7E]([\t\x20-\x7E]{0,126}[\x21-\x7E])?$"),
    ),
    security(("bearer" = [], "queue_token" = [])),
    responses(
        (status = 200, description = "Paid (or the replay of the first payment with this key)", body = OrderPaymentView),
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
#[post("/orders/{order_id}/payment")]
pub async fn pay_order(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    token: QueueTokenHeader,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let key = super::auth::required_idempotency_key(&req)?.to_owned();
    let receipt = state
        .boxoffice
        .pay(user.0, token.0.as_deref(), OrderId(path.into_inner()), &key)
        .await?;
    if receipt.replayed {
        metrics::counter!(PAYMENT_REPLAYS).increment(1);
    } else {
        metrics::counter!(ORDER_PAYMENTS).increment(1);
    }
    Ok(HttpResponse::Ok().json(OrderPaymentView::from(receipt)))
}

/// Keeps a held order longer, once, by the configured extension — never past the end of
/// the buyer's admission (409 when no time is left to add).
#[utoipa::path(
    tag = "orders",
    params(("order_id" = i64, Path, description = "Order id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Extended: the order with its new expiry", body = OrderView),
        Unauthorized,
        NotFound,
        Conflict,
        Unavailable,
    )
)]
#[post("/orders/{order_id}/extend")]
pub async fn extend_order(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let o = state
        .boxoffice
        .extend(user.0, OrderId(path.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(OrderView::new(o, state.now())))
}

/// What is left of a schedule, per price category and per standing area.
#[utoipa::path(
    tag = "catalog",
    params(("schedule_id" = i64, Path, description = "Schedule id")),
    responses(
        (status = 200, description = "Availability", body = AvailabilityView),
        NotFound,
        Unavailable,
    )
)]
#[get("/schedules/{schedule_id}/availability")]
pub async fn get_availability(
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let a = state
        .boxoffice
        .availability(ScheduleId(path.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(AvailabilityView::from(a)))
}
