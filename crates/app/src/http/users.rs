//! Handlers of the `users` tag: registering a fan by name, email and password.

use actix_web::{HttpRequest, HttpResponse, post, web};
use frontrow_domain::credentials::Credentials;

use super::account::device;
use super::auth::Auth;
use super::dto::{CreateUser, UserCreated};
use super::error::{ApiError, Problem};
use super::responses::{JsonBodyProblems, Unavailable};

/// The 403 of a sign-up while the built-in sign-up is off.
pub fn signup_disabled() -> ApiError {
    ApiError::forbidden(
        "signup-disabled",
        "the built-in sign-up is turned off: use a token from the identity provider",
    )
}

/// Registers a fan (with an empty wallet), opens their first session and returns its
/// access token. An email and password an account has already sign in to that account
/// instead, with the same answer: the answer never tells whether an email is known.
#[utoipa::path(
    tag = "users",
    request_body = CreateUser,
    responses(
        (status = 201, description = "User created, signed in", body = UserCreated),
        (status = 403, description = "The built-in sign-up is turned off (setting auth.signup): sign in with the identity provider", body = Problem, content_type = "application/problem+json"),
        JsonBodyProblems,
        Unavailable,
    )
)]
#[post("/users")]
pub async fn create_user(
    // The body first: a malformed one is answered before anything else is looked at.
    body: web::Json<CreateUser>,
    credentials: web::Data<Credentials>,
    auth: web::Data<Auth>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if !auth.signup_enabled() {
        return Err(signup_disabled());
    }
    let (user, session) = credentials
        .sign_up(&body.name, &body.email, &body.password, device(&req))
        .await?;
    let access_token = auth.issue_session(&session)?;
    Ok(HttpResponse::Created().json(UserCreated {
        id: user.id.0,
        name: user.name,
        access_token,
        session_id: session.id,
    }))
}
