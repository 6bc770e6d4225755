//! Handlers of the passkey ceremonies (tag `users`): registering a passkey — signing up
//! with one, or adding one to the caller's account — and signing in with one. Each is a
//! start (the browser's options) and a finish (the browser's answer).

use actix_web::{FromRequest, HttpRequest, HttpResponse, post, web};
use frontrow_domain::credentials::{Credentials, check_name};
use frontrow_domain::model::UserId;
use serde::de::DeserializeOwned;

use super::account::device;
use super::account_dto::{PasskeyAnswer, PasskeyCeremonyView, PasskeyRegistrationStart, SignedIn};
use super::auth::{Auth, SessionUser};
use super::dto::UserCreated;
use super::error::{ApiError, Problem};
use super::responses::{JsonBodyProblems, NotFound, Unauthorized, Unavailable};
use crate::passkeys::{Passkeys, Registered};

/// The caller when the request carries a bearer token (which must then verify).
async fn caller(req: &HttpRequest) -> Result<Option<UserId>, ApiError> {
    if req
        .headers()
        .contains_key(actix_web::http::header::AUTHORIZATION)
    {
        Ok(Some(SessionUser::extract(req).await?.user))
    } else {
        Ok(None)
    }
}

/// The browser's answer as the WebAuthn type it must be.
fn answer<T: DeserializeOwned>(body: PasskeyAnswer) -> Result<T, ApiError> {
    serde_json::from_value(body.0)
        .map_err(|e| ApiError::validation(format!("not a WebAuthn answer of this ceremony: {e}")))
}

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

/// Starts registering a passkey. Without a bearer token: a passkey sign-up (a new
/// account named `name`, refused 403 while `auth.signup` is off). With one: a further
/// passkey for the caller.
#[utoipa::path(
    tag = "users",
    request_body = PasskeyRegistrationStart,
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Options for `navigator.credentials.create`", body = PasskeyCeremonyView),
        (status = 403, description = "A passkey sign-up while the built-in sign-up is off (`/problems/signup-disabled`)", body = Problem, content_type = "application/problem+json"),
        JsonBodyProblems,
        Unauthorized,
        Unavailable,
    )
)]
#[post("/passkeys/registrations")]
pub async fn start_registration(
    req: HttpRequest,
    passkeys: web::Data<Passkeys>,
    credentials: web::Data<Credentials>,
    auth: web::Data<Auth>,
    body: web::Json<PasskeyRegistrationStart>,
) -> Result<HttpResponse, ApiError> {
    let (id, options) = match caller(&req).await? {
        Some(user) => {
            let p = credentials.profile(user).await?;
            let label = p.email.unwrap_or_else(|| p.name.clone());
            passkeys
                .start_registration(Some(user), &p.name, &label)
                .await?
        }
        None => {
            if !auth.signup_enabled() {
                return Err(super::users::signup_disabled());
            }
            let name = check_name(body.name.as_deref().unwrap_or(""))?;
            passkeys.start_registration(None, name, name).await?
        }
    };
    ceremony_view(id, &options, &passkeys)
}

/// Finishes a passkey registration with the browser's answer. A sign-up answers 201
/// with the new account's access token; a passkey added to the caller's account, 204.
#[utoipa::path(
    tag = "users",
    request_body(content = PasskeyAnswer, description = "The `PublicKeyCredential` from `navigator.credentials.create`, binary fields base64url-encoded"),
    params(("ceremony" = String, Path, description = "The ceremony of the start")),
    security((), ("bearer" = [])),
    responses(
        (status = 201, description = "Signed up with the passkey", body = UserCreated),
        (status = 204, description = "Passkey added to the caller's account"),
        (status = 400, description = "The authenticator's answer does not verify (`/problems/passkey-rejected`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "This passkey is registered already (`/problems/passkey-taken`)", body = Problem, content_type = "application/problem+json"),
        JsonBodyProblems,
        Unauthorized,
        NotFound,
        Unavailable,
    )
)]
#[post("/passkeys/registrations/{ceremony}")]
pub async fn finish_registration(
    req: HttpRequest,
    passkeys: web::Data<Passkeys>,
    credentials: web::Data<Credentials>,
    auth: web::Data<Auth>,
    path: web::Path<String>,
    body: web::Json<PasskeyAnswer>,
) -> Result<HttpResponse, ApiError> {
    let user = caller(&req).await?;
    let answer = answer(body.into_inner())?;
    match passkeys.finish_registration(&path, user, &answer).await? {
        Registered::Added(_) => Ok(HttpResponse::NoContent().finish()),
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
    }
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
    request_body(content = PasskeyAnswer, description = "The `PublicKeyCredential` from `navigator.credentials.get`, binary fields base64url-encoded"),
    params(("ceremony" = String, Path, description = "The ceremony of the start")),
    responses(
        (status = 201, description = "Signed in: a new session", body = SignedIn),
        (status = 400, description = "The authenticator's answer does not verify (`/problems/passkey-rejected`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "The passkey is not known here (`/problems/passkey-unknown`)", body = Problem, content_type = "application/problem+json"),
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
    let answer = answer(body.into_inner())?;
    let user = passkeys.finish_sign_in(&path, &answer).await?;
    let session = credentials.open_session(user, device(&req)).await?;
    let profile = credentials.profile(user).await?;
    let token = auth.issue_session(&session)?;
    Ok(HttpResponse::Created().json(SignedIn::new(profile, &session, token)))
}
