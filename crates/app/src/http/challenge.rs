//! `GET /concerts/{concert_id}/queue/challenge`: a proof-of-work challenge for entering
//! a line whose policy asks one (see `crate::pow`).

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use frontrow_domain::model::ConcertId;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::AuthUser;
use super::error::ApiError;
use super::responses::{NotFound, Unauthorized, Unavailable};
use crate::guard::pow::PowGate;

#[derive(Debug, Serialize, ToSchema)]
pub struct ChallengeView {
    /// Bound to this user and concert; solve it before `expires_at`, use it once.
    pub challenge: String,
    /// Leading zero bits SHA-256(`<challenge>:<nonce>`) must have; 0: no proof asked.
    pub difficulty: u8,
    pub expires_at: DateTime<Utc>,
}

/// A proof-of-work challenge: find a nonce such that SHA-256 of the UTF-8 string
/// `<challenge>:<nonce>` has `difficulty` leading zero bits, and enter with
/// `X-Pow: <challenge>:<nonce>`.
#[utoipa::path(
    tag = "queue",
    params(("concert_id" = i64, Path, description = "Concert id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A challenge", body = ChallengeView),
        Unauthorized,
        NotFound,
        Unavailable,
    )
)]
#[get("/concerts/{concert_id}/queue/challenge")]
pub async fn queue_challenge(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    pow: Option<web::Data<PowGate>>,
) -> Result<HttpResponse, ApiError> {
    let concert = ConcertId(path.into_inner());
    let pow = pow.ok_or_else(|| ApiError::not_found("proof of work is not configured"))?;
    state.catalog.concert(concert).await?;
    let difficulty = state.room.policy(concert).await?.pow_difficulty;
    let c = pow.challenge(concert, user.0, difficulty, state.now());
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(ChallengeView {
            challenge: c.challenge,
            difficulty: c.difficulty,
            expires_at: c.expires_at,
        }))
}
