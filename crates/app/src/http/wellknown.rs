//! `/.well-known/jwks.json`: the public key(s) of admission passes, so another service
//! verifies a pass offline.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use super::responses::NotFound;
use crate::guard::admission::AdmissionSigner;

/// A JSON Web Key Set (RFC 7517).
#[derive(Debug, Serialize, ToSchema)]
pub struct JwksView {
    /// Public keys: `{kty: "EC", crv: "P-256", x, y, kid, alg: "ES256", use: "sig"}`.
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<serde_json::Value>,
}

/// The public keys that verify the `admission_token` of a status answer (ES256, by `kid`).
#[utoipa::path(
    tag = "queue",
    responses(
        (status = 200, description = "The JWKS document", body = JwksView, content_type = "application/json"),
        NotFound,
    )
)]
#[get("/.well-known/jwks.json")]
pub async fn jwks(signer: Option<web::Data<AdmissionSigner>>) -> Result<HttpResponse, ApiError> {
    let signer =
        signer.ok_or_else(|| ApiError::not_found("admission passes are not configured"))?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(signer.jwks()))
}
