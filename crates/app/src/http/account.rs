//! Handlers of signing in (tag `users`): sign-in by email and password, the caller's
//! sessions (listed, revoked), their profile, and an email and password for an account
//! made without them.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use frontrow_domain::credentials::Credentials;

use super::account_dto::{AttachPassword, ProfileView, SessionView, SignIn, SignedIn};
use super::auth::{Auth, AuthUser, SessionUser};
use super::error::{ApiError, Problem};
use super::responses::{JsonBodyProblems, NotFound, Unauthorized, Unavailable};

/// What the device says it is, for the session list.
pub fn device(req: &HttpRequest) -> &str {
    req.headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Signs in with an email and password: a new session (this device) and its access
/// token. An unknown email and a wrong password get the same 401, after the same work.
#[utoipa::path(
    tag = "users",
    request_body = SignIn,
    responses(
        (status = 201, description = "Signed in: a new session", body = SignedIn),
        (status = 401, description = "Unknown email or wrong password (one answer for both: `/problems/invalid-credentials`)", body = Problem, content_type = "application/problem+json"),
        JsonBodyProblems,
        Unavailable,
    )
)]
#[post("/sessions")]
pub async fn sign_in(
    credentials: web::Data<Credentials>,
    auth: web::Data<Auth>,
    req: HttpRequest,
    body: web::Json<SignIn>,
) -> Result<HttpResponse, ApiError> {
    let session = credentials
        .sign_in(&body.email, &body.password, device(&req))
        .await?;
    let profile = credentials.profile(session.user).await?;
    let token = auth.issue_session(&session)?;
    Ok(HttpResponse::Created().json(SignedIn::new(profile, &session, token)))
}

/// The caller's open sessions (signed-in devices), newest first.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Open sessions; `current` marks the caller's", body = [SessionView]),
        Unauthorized,
        Unavailable,
    )
)]
#[get("/sessions")]
pub async fn list_sessions(
    credentials: web::Data<Credentials>,
    caller: SessionUser,
) -> Result<HttpResponse, ApiError> {
    let sessions = credentials.sessions(caller.user).await?;
    let current = caller.session.as_deref();
    let views: Vec<SessionView> = sessions
        .into_iter()
        .map(|s| SessionView::new(s, current))
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

/// Signs a device out: its access tokens are refused from the next request on, on
/// every instance. The caller's own session may be revoked (signing out).
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    params(("session_id" = String, Path, description = "A session of the caller")),
    responses(
        (status = 204, description = "Revoked"),
        Unauthorized,
        NotFound,
        Unavailable,
    )
)]
#[delete("/sessions/{session_id}")]
pub async fn revoke_session(
    credentials: web::Data<Credentials>,
    auth: web::Data<super::auth::Auth>,
    caller: SessionUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let session = path.into_inner();
    credentials.revoke(caller.user, &session).await?;
    auth.forget_session(&session);
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's account: id, name and email.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's account", body = ProfileView),
        Unauthorized,
        NotFound,
        Unavailable,
    )
)]
#[get("/users/me")]
pub async fn get_me(
    credentials: web::Data<Credentials>,
    caller: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let profile = credentials.profile(caller.0).await?;
    Ok(HttpResponse::Ok().json(ProfileView::from(profile)))
}

/// Gives the caller's account, made without one (a name-only sign-up, a passkey, the
/// identity provider), an email and password to sign in with. Its wallet and orders
/// stay as they are.
#[utoipa::path(
    tag = "users",
    request_body = AttachPassword,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The account signs in with this email and password from now on"),
        (status = 409, description = "The account has an email already (`/problems/password-already-set`), or another account signs in with this email and password (`/problems/credentials-taken`): choose another password", body = Problem, content_type = "application/problem+json"),
        JsonBodyProblems,
        Unauthorized,
        NotFound,
        Unavailable,
    )
)]
#[post("/users/me/password")]
pub async fn attach_password(
    credentials: web::Data<Credentials>,
    caller: AuthUser,
    body: web::Json<AttachPassword>,
) -> Result<HttpResponse, ApiError> {
    credentials
        .attach_password(caller.0, &body.email, &body.password)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
