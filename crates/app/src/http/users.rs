//! Handlers of the `users` tag: registering a fan.

use actix_web::{HttpResponse, post, web};

use super::AppState;
use super::auth::Auth;
use super::dto::{CreateUser, UserCreated};
use super::error::ApiError;
use super::responses::{JsonBodyProblems, Unavailable};

/// Registers a fan (with an empty wallet) and returns their access token.
#[utoipa::path(
    tag = "users",
    request_body = CreateUser,
    responses(
        (status = 201, description = "User created", body = UserCreated),
        JsonBodyProblems,
        Unavailable,
    )
)]
#[post("/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    auth: web::Data<Auth>,
    body: web::Json<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    let user = state.accounts.register(&body.name).await?;
    let access_token = auth.issue(user.id)?;
    Ok(HttpResponse::Created().json(UserCreated {
        id: user.id.0,
        name: user.name,
        access_token,
    }))
}
