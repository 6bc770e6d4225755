//! Handlers of the `users` tag: registering a fan.

use actix_web::{HttpResponse, post, web};

use super::AppState;
use super::auth::Auth;
use super::dto::{CreateUser, UserCreated};
use super::error::{ApiError, Problem};
use super::responses::{JsonBodyProblems, Unavailable};

/// Registers a fan (with an empty wallet) and returns their access token.
#[utoipa::path(
    tag = "users",
    request_body = CreateUser,
    responses(
        (status = 201, description = "User created", body = UserCreated),
        (status = 403, description = "The built-in sign-up is turned off (setting auth.signup): sign in with the identity provider", body = Problem, content_type = "application/problem+json"),
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
    if !auth.signup_enabled() {
        return Err(ApiError::forbidden(
            "signup-disabled",
            "the built-in sign-up is turned off: use a token from the identity provider",
        ));
    }
    let user = state.accounts.register(&body.name).await?;
    let access_token = auth.issue(user.id)?;
    Ok(HttpResponse::Created().json(UserCreated {
        id: user.id.0,
        name: user.name,
        access_token,
    }))
}
