//! Who is calling: user access tokens in `Authorization: Bearer` — HS256 from the
//! built-in sign-up, or RS256/ES256/EdDSA from the operator's identity provider (see
//! `crate::identity`; its `sub` is a frontrow user, created on first sight) — the
//! operator key (`X-Admin-Key`) and the queue token header (`X-Queue-Token`).
//!
//! A request's access token is verified once: the first layer that needs the caller
//! (the rate limits of the enter and booking routes, else the handler's extractor)
//! verifies it and leaves the outcome in the request's extensions for the next.

use std::future::{Ready, ready};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use frontrow_domain::credentials::{Credentials, Session};
use frontrow_domain::model::UserId;
use futures::future::LocalBoxFuture;
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use crate::guard::identity::{ExternalUser, IdentityProvider};

/// Who a verified access token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A user of the built-in accounts; `session` is the token's `sid` (none in tokens
    /// issued before sessions existed, accepted until they expire).
    Local {
        user: UserId,
        session: Option<String>,
    },
    /// A user of the identity provider (not yet mapped to a frontrow user).
    External(ExternalUser),
}

/// Signs and checks access tokens; holds the operator key.
pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    admin_key: SecretString,
    ttl_seconds: u64,
    /// The operator's identity provider, when `auth.jwks_url` is set.
    idp: Option<Arc<IdentityProvider>>,
    /// Whether `POST /users` signs fans up.
    signup: bool,
    /// Identity-provider subjects already mapped to users (only verified ones get in).
    known: moka::future::Cache<String, UserId>,
    /// The sessions a token's `sid` is checked against on every request.
    credentials: Option<Arc<Credentials>>,
    /// Sessions this instance found active within the last [`SESSION_RECHECK`]: a busy
    /// fan's requests read the sessions table at most once a second, not once each. A
    /// revocation on this instance forgets its entry at once; on another instance it
    /// takes effect within [`SESSION_RECHECK`].
    active_sessions: moka::sync::Cache<String, UserId>,
    /// Access tokens verified so far (signature and claims): one per request that
    /// carries one, however many layers ask who is calling.
    verified: AtomicU64,
}

/// How long a session found active is trusted without reading it again.
pub const SESSION_RECHECK: Duration = Duration::from_secs(1);

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
    exp: i64,
    /// Never set by `issue`, but checked when present: a token is accepted only if every
    /// time claim it carries holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    /// The session (device) the token belongs to: revoking it refuses the token at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
}

/// Seconds of clock skew forgiven on `exp`, `nbf` and `iat` of the built-in tokens.
const LEEWAY_SECONDS: u64 = 5;

impl Auth {
    pub fn new(jwt_secret: &SecretString, admin_key: SecretString, ttl_seconds: u64) -> Self {
        let secret = jwt_secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        Auth {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            admin_key,
            ttl_seconds,
            idp: None,
            signup: true,
            known: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(600))
                .build(),
            credentials: None,
            active_sessions: moka::sync::Cache::builder()
                .max_capacity(200_000)
                .time_to_live(SESSION_RECHECK)
                .build(),
            verified: AtomicU64::new(0),
        }
    }

    /// How many access tokens this instance has verified.
    pub fn tokens_verified(&self) -> u64 {
        self.verified.load(Ordering::Relaxed)
    }

    /// Forgets that `session` was active: the next request of its tokens reads the
    /// sessions table again (call it when the session is revoked here).
    pub fn forget_session(&self, session: &str) {
        self.active_sessions.invalidate(session);
    }

    /// Checks the `sid` of built-in tokens against these sessions.
    #[must_use]
    pub fn with_credentials(mut self, credentials: Arc<Credentials>) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Also accepts tokens of this identity provider.
    #[must_use]
    pub fn with_identity_provider(mut self, idp: Arc<IdentityProvider>) -> Self {
        self.idp = Some(idp);
        self
    }

    /// Turns the built-in sign-up on or off.
    #[must_use]
    pub fn with_signup(mut self, on: bool) -> Self {
        self.signup = on;
        self
    }

    pub fn signup_enabled(&self) -> bool {
        self.signup
    }

    /// Who `token` names, verified (the identity provider's keys fetched if need be).
    ///
    /// # Errors
    /// 401 when the token does not verify; 503 when the identity provider's keys were
    /// never available.
    pub async fn identify(&self, token: &str) -> Result<Identity, ApiError> {
        self.verified.fetch_add(1, Ordering::Relaxed);
        let header = decode_header(token)
            .map_err(|e| ApiError::unauthorized(format!("invalid access token: {e}")))?;
        match (header.alg, &self.idp) {
            (Algorithm::HS256, _) => self
                .verify(token)
                .map(|(user, session)| Identity::Local { user, session }),
            (_, Some(idp)) => Ok(Identity::External(idp.verify(token, &header).await?)),
            (alg, None) => Err(ApiError::unauthorized(format!(
                "access tokens signed with {alg:?} are not accepted"
            ))),
        }
    }

    /// The frontrow user of a verified identity: an identity-provider subject is looked
    /// up (and created on first sight) once, then remembered.
    async fn user_of(&self, identity: Identity, state: &AppState) -> Result<UserId, ApiError> {
        match identity {
            Identity::Local { user, session } => {
                self.check_session(user, session.as_deref()).await?;
                Ok(user)
            }
            Identity::External(ext) => {
                if let Some(u) = self.known.get(&ext.subject).await {
                    return Ok(u);
                }
                let user = state.accounts.identify(&ext.subject, &ext.name).await?;
                self.known.insert(ext.subject, user.id).await;
                Ok(user.id)
            }
        }
    }

    /// A signed access token for `user`, of no session (handler tests; tokens of fans
    /// come from [`Auth::issue_session`]).
    pub fn issue(&self, user: UserId) -> Result<String, ApiError> {
        let now = chrono::Utc::now().timestamp();
        self.sign(user, now + self.ttl_seconds as i64, None)
    }

    /// A signed access token of `session`, expiring with it.
    pub fn issue_session(&self, session: &Session) -> Result<String, ApiError> {
        self.sign(
            session.user,
            session.expires_at.timestamp(),
            Some(session.id.clone()),
        )
    }

    fn sign(&self, user: UserId, exp: i64, sid: Option<String>) -> Result<String, ApiError> {
        let claims = Claims {
            sub: user.0.to_string(),
            iat: chrono::Utc::now().timestamp(),
            exp,
            nbf: None,
            sid,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::internal(&e))
    }

    /// The lifetime of access tokens and sessions, in seconds.
    pub fn ttl_seconds(&self) -> u64 {
        self.ttl_seconds
    }

    fn verify(&self, token: &str) -> Result<(UserId, Option<String>), ApiError> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| ApiError::unauthorized(format!("invalid access token: {e}")))?;
        crate::guard::identity::issued_in_the_past(Some(data.claims.iat), LEEWAY_SECONDS)?;
        let user = data
            .claims
            .sub
            .parse::<i64>()
            .map(UserId)
            .map_err(|_| ApiError::unauthorized("invalid access token subject"))?;
        Ok((user, data.claims.sid))
    }

    /// 401 when the token's session was revoked or has expired; a token of no session
    /// (issued before sessions existed) passes until its own expiry.
    async fn check_session(&self, user: UserId, session: Option<&str>) -> Result<(), ApiError> {
        let Some(sid) = session else {
            return Ok(());
        };
        let credentials = self
            .credentials
            .as_ref()
            .ok_or_else(|| ApiError::unauthorized("sessions are not configured"))?;
        if self.active_sessions.get(sid) == Some(user) {
            return Ok(());
        }
        if credentials.is_active(sid, user).await? {
            self.active_sessions.insert(sid.to_owned(), user);
            Ok(())
        } else {
            Err(ApiError::unauthorized(
                "this access token's session was signed out or has expired: sign in again",
            ))
        }
    }

    fn admin_ok(&self, given: &str) -> bool {
        let want = self.admin_key.expose_secret().as_bytes();
        let given = given.as_bytes();
        // Constant-time comparison: no early exit on the first differing byte.
        want.len() == given.len()
            && want
                .iter()
                .zip(given)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

fn auth_of(req: &HttpRequest) -> Result<&Auth, ApiError> {
    req.app_data::<web::Data<Auth>>()
        .map(|d| d.get_ref())
        .ok_or_else(|| ApiError::unauthorized("authentication is not configured"))
}

/// The user calling, from a valid bearer token.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser(pub UserId);

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = SessionUser::from_request(req, payload);
        Box::pin(async move { caller.await.map(|c| AuthUser(c.user)) })
    }
}

/// The user calling and the session of their token (`None` for identity-provider
/// tokens and tokens of no session), verified as [`AuthUser`] is.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub user: UserId,
    pub session: Option<String>,
}

impl FromRequest for SessionUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let auth = auth_of(&req)?;
            let state = req.app_data::<web::Data<AppState>>();
            let ahead = req.extensions_mut().remove::<Verified>();
            let identity = match ahead {
                Some(Verified(outcome)) => outcome?,
                None => auth.identify(bearer_token(&req)?).await?,
            };
            if let Identity::Local { user, session } = identity {
                auth.check_session(user, session.as_deref()).await?;
                return Ok(SessionUser { user, session });
            }
            let state =
                state.ok_or_else(|| ApiError::unauthorized("accounts are not configured"))?;
            let user = auth.user_of(identity, state).await?;
            Ok(SessionUser {
                user,
                session: None,
            })
        })
    }
}

/// The outcome of verifying a request's access token, left in the request's extensions
/// by a layer before the handler ([`verify_ahead`]) and taken by its extractor.
struct Verified(Result<Identity, ApiError>);

/// Verifies the request's access token ahead of the handler (no database lookup) and
/// leaves the outcome for the handler's extractor; `f` of the identity, when the token
/// verifies. Nothing is verified, or left, for a request without `Authorization`.
pub async fn verify_ahead<T>(req: &HttpRequest, f: impl FnOnce(&Identity) -> T) -> Option<T> {
    let auth = req.app_data::<web::Data<Auth>>()?;
    req.headers().get(actix_web::http::header::AUTHORIZATION)?;
    let outcome = match bearer_token(req) {
        Ok(token) => auth.identify(token).await,
        Err(e) => Err(e),
    };
    let seen = outcome.as_ref().ok().map(f);
    req.extensions_mut().insert(Verified(outcome));
    seen
}

/// The token of `Authorization: Bearer <token>`.
fn bearer_token(req: &HttpRequest) -> Result<&str, ApiError> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <token> header"))?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::unauthorized("Authorization header is not valid text"))?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("Authorization must be 'Bearer <token>'"))
}

/// An operator, proven by the `X-Admin-Key` header.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready((|| {
            let auth = auth_of(req)?;
            let given = req
                .headers()
                .get("x-admin-key")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| ApiError::unauthorized("missing X-Admin-Key header"))?;
            if auth.admin_ok(given) {
                Ok(Admin)
            } else {
                Err(ApiError::forbidden(
                    "admin-key-invalid",
                    "X-Admin-Key is not valid",
                ))
            }
        })())
    }
}

/// The `Idempotency-Key` header, if sent; 400 when it is not visible ASCII (its length is
/// the use case's to check).
pub fn idempotency_key(req: &HttpRequest) -> Result<Option<&str>, ApiError> {
    req.headers()
        .get("idempotency-key")
        .map(|k| {
            k.to_str()
                .map_err(|_| ApiError::bad_request("Idempotency-Key must be visible ASCII"))
        })
        .transpose()
}

/// The `Idempotency-Key` header a payment needs: 400 when missing or not visible ASCII.
pub fn required_idempotency_key(req: &HttpRequest) -> Result<&str, ApiError> {
    idempotency_key(req)?
        .ok_or_else(|| ApiError::bad_request("the Idempotency-Key header is required"))
}

/// The `X-Queue-Token` header, if sent (the use cases decide what a missing one means).
#[derive(Debug, Clone)]
pub struct QueueTokenHeader(pub Option<String>);

impl FromRequest for QueueTokenHeader {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = req
            .headers()
            .get("x-queue-token")
            .map(|v| v.to_str().map(|s| s.trim().to_owned()));
        ready(match token {
            None => Ok(QueueTokenHeader(None)),
            Some(Ok(t)) if t.is_empty() => Ok(QueueTokenHeader(None)),
            Some(Ok(t)) => Ok(QueueTokenHeader(Some(t))),
            Some(Err(_)) => Err(ApiError::queue_token_invalid(
                "X-Queue-Token is not valid text",
            )),
        })
    }
}

impl QueueTokenHeader {
    /// The header's value, or 401 when it is missing.
    pub fn required(&self) -> Result<&str, ApiError> {
        self.0
            .as_deref()
            .ok_or_else(|| ApiError::queue_token_required("the X-Queue-Token header is required"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::StatusCode;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::{Value, json};

    const SECRET: &str = "test-jwt-secret-0123456789";

    fn auth() -> Auth {
        Auth::new(
            &SecretString::from(SECRET),
            SecretString::from("admin-key-0123456789"),
            600,
        )
    }

    /// An HS256 token under the test secret: `sub` 7, issued now, valid ten minutes,
    /// with `claims` over those.
    fn token(claims: Value) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut body = json!({"sub": "7", "iat": now, "exp": now + 600});
        for (k, v) in claims.as_object().expect("an object") {
            body[k] = v.clone();
        }
        encode(
            &Header::new(Algorithm::HS256),
            &body,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .expect("encodes")
    }

    fn status(auth: &Auth, token: &str) -> Result<UserId, StatusCode> {
        auth.verify(token).map(|(u, _)| u).map_err(|e| e.status)
    }

    #[test]
    fn issued_tokens_verify() {
        let a = auth();
        let t = a.issue(UserId(42)).expect("issues");
        assert_eq!(status(&a, &t), Ok(UserId(42)));
    }

    #[test]
    fn a_token_not_yet_valid_or_issued_in_the_future_is_a_401() {
        let a = auth();
        let now = chrono::Utc::now().timestamp();
        let cases = [
            ("nbf 10 minutes ahead", json!({"nbf": now + 600}), false),
            ("iat 10 minutes ahead", json!({"iat": now + 600}), false),
            ("nbf within the leeway", json!({"nbf": now + 2}), true),
            ("iat within the leeway", json!({"iat": now + 2}), true),
            ("nbf in the past", json!({"nbf": now - 60}), true),
            ("expired beyond the leeway", json!({"exp": now - 60}), false),
        ];
        for (why, claims, ok) in cases {
            let got = status(&a, &token(claims));
            if ok {
                assert_eq!(got, Ok(UserId(7)), "{why}");
            } else {
                assert_eq!(got, Err(StatusCode::UNAUTHORIZED), "{why}");
            }
        }
    }

    #[test]
    fn a_token_with_altered_signature_bytes_is_a_401() {
        let a = auth();
        let t = token(json!({}));
        let (signed, sig) = t.rsplit_once('.').expect("three parts");
        let mut bytes = URL_SAFE_NO_PAD.decode(sig).expect("base64url");
        // A byte in the middle: every bit of it is signature, none is base64 padding.
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        let forged = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(&bytes));
        assert_ne!(forged, t);
        assert_eq!(status(&a, &forged), Err(StatusCode::UNAUTHORIZED));
        // And the payload changed under the original signature.
        let (header, rest) = t.split_once('.').expect("three parts");
        let (_, sig) = rest.split_once('.').expect("three parts");
        let now = chrono::Utc::now().timestamp();
        let payload =
            URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"8","iat":{now},"exp":{}}}"#, now + 600));
        let swapped = format!("{header}.{payload}.{sig}");
        assert_eq!(status(&a, &swapped), Err(StatusCode::UNAUTHORIZED));
    }
}
