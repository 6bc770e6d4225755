//! Handlers of the `wallet` tag: the caller's balance and charges.

use actix_web::{HttpResponse, get, post, web};

use super::AppState;
use super::auth::AuthUser;
use super::dto::{BalanceView, ChargeBody};
use super::error::ApiError;
use super::responses::{JsonBodyProblems, NotFound, Unauthorized, Unavailable};

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

/// Adds money to the caller's wallet (one ledger entry).
#[utoipa::path(
    tag = "wallet",
    request_body = ChargeBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "New balance", body = BalanceView),
        JsonBodyProblems,
        Unauthorized,
        NotFound,
        Unavailable,
    )
)]
#[post("/wallet/charge")]
pub async fn charge_wallet(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<ChargeBody>,
) -> Result<HttpResponse, ApiError> {
    let balance = state.accounts.charge(user.0, body.amount).await?;
    Ok(HttpResponse::Ok().json(BalanceView::from(balance)))
}
