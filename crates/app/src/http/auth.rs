//! Who is calling: user access tokens (HS256 JWT in `Authorization: Bearer`), the
//! operator key (`X-Admin-Key`) and the queue token header (`X-Queue-Token`).

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use frontrow_domain::model::UserId;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::error::ApiError;

/// Signs and checks access tokens; holds the operator key.
pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    admin_key: SecretString,
    ttl_seconds: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
    exp: i64,
}

impl Auth {
    pub fn new(jwt_secret: &SecretString, admin_key: SecretString, ttl_seconds: u64) -> Self {
        let secret = jwt_secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 5;
        Auth {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            admin_key,
            ttl_seconds,
        }
    }

    /// A signed access token for `user`.
    pub fn issue(&self, user: UserId) -> Result<String, ApiError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user.0.to_string(),
            iat: now,
            exp: now + self.ttl_seconds as i64,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::internal(&e))
    }

    fn verify(&self, token: &str) -> Result<UserId, ApiError> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| ApiError::unauthorized(format!("invalid access token: {e}")))?;
        data.claims
            .sub
            .parse::<i64>()
            .map(UserId)
            .map_err(|_| ApiError::unauthorized("invalid access token subject"))
    }

    /// The verified subject of `token`, as a rate-limit key: no database lookup.
    ///
    /// # Errors
    /// 401 when the token does not verify.
    pub async fn subject(&self, token: &str) -> Result<String, ApiError> {
        self.verify(token).map(|u| format!("u{}", u.0))
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
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready((|| {
            let auth = auth_of(req)?;
            let header = req
                .headers()
                .get(actix_web::http::header::AUTHORIZATION)
                .ok_or_else(|| {
                    ApiError::unauthorized("missing Authorization: Bearer <token> header")
                })?;
            let value = header
                .to_str()
                .map_err(|_| ApiError::unauthorized("Authorization header is not valid text"))?;
            let token = value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| ApiError::unauthorized("Authorization must be 'Bearer <token>'"))?;
            auth.verify(token).map(AuthUser)
        })())
    }
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
