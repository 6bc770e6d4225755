//! Handlers of the passkey ceremonies (tag `users`): signing up with a passkey, adding
//! one to the caller's account, and signing in with one. Each is a start (the browser's
//! options) and a finish (the browser's answer).

use actix_web::{HttpRequest, HttpResponse, post, web};
use frontrow_domain::credentials::{Credentials, check_name};

use super::account::device;
use super::account_dto::{
    AssertionAnswer, PasskeyAnswer, PasskeyCeremonyView, PasskeySignUp, RegistrationAnswer,
    SignedIn,
};
use super::auth::{Auth, AuthUser};
use super::dto::UserCreated;
use super::error::{ApiError, Problem};
use super::responses::{JsonBodyProblems, NotFound, Unauthorized, Unavailable};
use crate::passkeys::{PasskeyError, Passkeys, Registered};

fn ceremony_view<T: serde::Serialize>(
    id: String,
    options: &T,
    passkeys: &Passkeys,
) -> Result<HttpResponse, ApiError> {
    let options = serde_json::to_value(options).map_err(|e| ApiError::internal(&e))?;
    Ok(HttpResponse::Ok().json(PasskeyCeremonyView {
        ceremony: id,
        options,
        expires_in_seconds: passkeys.ceremony_seconds(),
    }))
}

/// Starts a passkey sign-up: a new account named `name` (refused 403 while
/// `auth.signup` is off).
#[utoipa::path(
    tag = "users",
    request_body = PasskeySignUp,
    responses(
        (status = 200, description = "Options for `navigator.credentials.create`", body = PasskeyCeremonyView),
        (status = 403, description = "The built-in sign-up is off (`/problems/signup-disabled`)", body = Problem, content_type = "application/problem+json"),
        JsonBodyProblems,
        Unavailable,
    )
)]
#[post("/passkeys/registrations")]
pub async fn start_sign_up(
    body: web::Json<PasskeySignUp>,
    passkeys: web::Data<Passkeys>,
    auth: web::Data<Auth>,
) -> Result<HttpResponse, ApiError> {
    if !auth.signup_enabled() {
        return Err(super::users::signup_disabled());
    }
    let name = check_name(&body.name)?;
    let (id, options) = passkeys.start_registration(None, name, name).await?;
    ceremony_view(id, &options, &passkeys)
}

/// Finishes a passkey sign-up with the browser's answer: the new account, signed in.
#[utoipa::path(
    tag = "users",
    request_body(content = RegistrationAnswer, description = "The `PublicKeyCredential` from `navigator.credentials.create`, binary fields base64url-encoded"),
    params(("ceremony" = String, Path, description = "The ceremony of the start")),
    responses(
        (status = 201, description = "Signed up with the passkey", body = UserCreated),
        (status = 401, description = "The answer does not verify (`/problems/passkey-rejected`)", body = Problem, content_type = "application/problem+json"),
                (status = 409, description = "This passkey is registered already (`/problems/passkey-taken`)", body = Problem, content_type = "application/problem+json"),
        JsonBodyProblems,
        NotFound,
        Unavailable,
    )
)]
#[post("/passkeys/registrations/{ceremony}")]
pub async fn finish_sign_up(
    body: web::Json<PasskeyAnswer>,
    req: HttpRequest,
    passkeys: web::Data<Passkeys>,
    credentials: web::Data<Credentials>,
    auth: web::Data<Auth>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    match passkeys
        .finish_registration(&path, None, body.into_inner().0)
        .await?
    {
        Registered::Account(user) => {
            let session = credentials.open_session(user.id, device(&req)).await?;
            let access_token = auth.issue_session(&session)?;
            Ok(HttpResponse::Created().json(UserCreated {
                id: user.id.0,
                name: user.name,
                access_token,
                session_id: session.id,
            }))
        }
        Registered::Added(_) => Err(PasskeyError::CeremonyUnknown.into()),
    }
}

/// Starts adding a passkey to the caller's account (a second device, or an account made
/// with a password).
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Options for `navigator.credentials.create`", body = PasskeyCeremonyView),
        Unauthorized,
        NotFound,
        Unavailable,
    )
)]
#[post("/users/me/passkeys")]
pub async fn start_adding(
    caller: AuthUser,
    passkeys: web::Data<Passkeys>,
    credentials: web::Data<Credentials>,
) -> Result<HttpResponse, ApiError> {
    let p = credentials.profile(caller.0).await?;
    let label = p.email.unwrap_or_else(|| p.name.clone());
    let (id, options) = passkeys
        .start_registration(Some(caller.0), &p.name, &label)
        .await?;
    ceremony_view(id, &options, &passkeys)
}

/// Finishes adding a passkey to the caller's account.
#[utoipa::path(
    tag = "users",
    request_body(content = RegistrationAnswer, description = "The `PublicKeyCredential` from `navigator.credentials.create`, binary fields base64url-encoded"),
    params(("ceremony" = String, Path, description = "The ceremony of the start")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The passkey signs in to this account from now on"),
                (status = 409, description = "This passkey is registered already (`/problems/passkey-taken`)", body = Problem, content_type = "application/problem+json"),
        JsonBodyProblems,
        Unauthorized,
        NotFound,
        Unavailable,
    )
)]
#[post("/users/me/passkeys/{ceremony}")]
pub async fn finish_adding(
    body: web::Json<PasskeyAnswer>,
    caller: AuthUser,
    passkeys: web::Data<Passkeys>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    passkeys
        .finish_registration(&path, Some(caller.0), body.into_inner().0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Starts a passkey sign-in: the authenticator offers the passkeys it keeps for this
/// site, so nothing is typed.
#[utoipa::path(
    tag = "users",
    responses(
        (status = 200, description = "Options for `navigator.credentials.get`", body = PasskeyCeremonyView),
        Unavailable,
    )
)]
#[post("/passkeys/authentications")]
pub async fn start_sign_in(passkeys: web::Data<Passkeys>) -> Result<HttpResponse, ApiError> {
    let (id, options) = passkeys.start_sign_in().await?;
    ceremony_view(id, &options, &passkeys)
}

/// Finishes a passkey sign-in with the browser's answer: a new session and its token.
#[utoipa::path(
    tag = "users",
    request_body(content = AssertionAnswer, description = "The `PublicKeyCredential` from `navigator.credentials.get`, binary fields base64url-encoded"),
    params(("ceremony" = String, Path, description = "The ceremony of the start")),
    responses(
        (status = 201, description = "Signed in: a new session", body = SignedIn),
                (status = 401, description = "The answer does not verify (`/problems/passkey-rejected`), or the passkey is not known here (`/problems/passkey-unknown`)", body = Problem, content_type = "application/problem+json"),
        JsonBodyProblems,
        NotFound,
        Unavailable,
    )
)]
#[post("/passkeys/authentications/{ceremony}")]
pub async fn finish_sign_in(
    req: HttpRequest,
    passkeys: web::Data<Passkeys>,
    credentials: web::Data<Credentials>,
    auth: web::Data<Auth>,
    path: web::Path<String>,
    body: web::Json<PasskeyAnswer>,
) -> Result<HttpResponse, ApiError> {
    let user = passkeys.finish_sign_in(&path, body.into_inner().0).await?;
    let session = credentials.open_session(user, device(&req)).await?;
    let profile = credentials.profile(user).await?;
    let token = auth.issue_session(&session)?;
    Ok(HttpResponse::Created().json(SignedIn::new(profile, &session, token)))
}
