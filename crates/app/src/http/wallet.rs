//! Handlers of the `wallet` tag: the caller's balance and charges.

use actix_web::{HttpRequest, HttpResponse, get, post, web};

use super::AppState;
use super::auth::AuthUser;
use super::dto::{BalanceView, ChargeBody};
use super::error::ApiError;
use super::responses::{BadRequest, JsonBodyProblems, NotFound, Unauthorized, Unavailable};

/// The caller's wallet balance.
#[utoipa::path(
    tag = "wallet",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Balance in minor units", body = BalanceView),
        Unauthorized,
        NotFound,
        Unavailable,
    )
)]
#[get("/wallet")]
pub async fn get_wallet(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let balance = state.accounts.balance(user.0).await?;
    Ok(HttpResponse::Ok().json(BalanceView::from(balance)))
}

/// Adds money to the caller's wallet (one ledger entry). With an `Idempotency-Key`, a
/// retry with the same key and amount answers the first charge's balance and charges
/// nothing; the same key with another amount is 422.
#[utoipa::path(
    tag = "wallet",
    request_body = ChargeBody,
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 128 printable ASCII characters (spaces only between others), unique per top-up", min_length = 1, max_length = 128, pattern = r"^[\x21-\x7E]([\t\x20-\x7E]{0,126}[\x21-\x7E])?$"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "New balance (or the first charge's, replayed)", body = BalanceView),
        BadRequest,
        JsonBodyProblems,
        Unauthorized,
        NotFound,
        Unavailable,
    )
)]
#[post("/wallet/charge")]
pub async fn charge_wallet(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    body: web::Json<ChargeBody>,
) -> Result<HttpResponse, ApiError> {
    let balance = match super::auth::idempotency_key(&req)? {
        None => state.accounts.charge(user.0, body.amount).await?,
        Some(key) => {
            let (balance, replayed) = state.accounts.charge_once(user.0, body.amount, key).await?;
            if replayed {
                metrics::counter!(crate::telemetry::PAYMENT_REPLAYS).increment(1);
            }
            balance
        }
    };
    Ok(HttpResponse::Ok().json(BalanceView::from(balance)))
}
