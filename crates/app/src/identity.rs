//! Tokens from the operator's identity provider: verified against its JWKS document
//! (`auth.jwks_url`, `https://…` or `file://…`) with RS256, ES256 or EdDSA, the key chosen
//! by the token's `kid`, `iss` and `aud` checked.
//!
//! Keys are cached: refetched when older than `auth.jwks_cache_seconds`, and when a token
//! names a `kid` the cache lacks (a rotation) — but then at most once per
//! `auth.jwks_min_refresh_seconds`, so made-up `kid`s cannot turn every request into a
//! fetch. When a refetch fails the keys already known keep serving (logged).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation, decode};
use serde::Deserialize;

use crate::http::error::ApiError;

/// The largest JWKS document read.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// Where the keys come from.
enum Source {
    Https(String),
    File(PathBuf),
}

/// The keys known, and when they were fetched.
#[derive(Default)]
struct KeySet {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    fetched: Option<Instant>,
}

/// Who the identity provider says is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalUser {
    /// `<iss>|<sub>`: unique across identity providers.
    pub subject: String,
    /// A display name from the token (`name`, else `preferred_username`), maybe empty.
    pub name: String,
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
}

/// Verifies the identity provider's tokens.
pub struct IdentityProvider {
    source: Source,
    issuer: String,
    audience: String,
    max_age: Duration,
    min_refresh: Duration,
    client: reqwest::Client,
    keys: tokio::sync::RwLock<KeySet>,
    /// When the last fetch was tried; one fetch at a time.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
}

impl IdentityProvider {
    /// A verifier of tokens from `url`'s keys, for `issuer` and `audience`.
    ///
    /// # Errors
    /// When `url` is neither `https://…` nor `file://…`.
    pub fn new(
        url: &str,
        issuer: &str,
        audience: &str,
        max_age: Duration,
        min_refresh: Duration,
    ) -> anyhow::Result<IdentityProvider> {
        let source = if let Some(path) = url.strip_prefix("file://") {
            Source::File(PathBuf::from(path))
        } else if url.starts_with("https://") {
            Source::Https(url.to_owned())
        } else {
            anyhow::bail!("auth.jwks_url must start with https:// or file://");
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(IdentityProvider {
            source,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            max_age,
            min_refresh,
            client,
            keys: tokio::sync::RwLock::new(KeySet::default()),
            last_fetch: tokio::sync::Mutex::new(None),
        })
    }

    /// Fetches the keys now (at start, so a wrong URL shows in the log at once).
    ///
    /// # Errors
    /// When the document cannot be read or holds no usable key.
    pub async fn load(&self) -> anyhow::Result<usize> {
        let keys = self.fetch().await?;
        let n = keys.len();
        *self.keys.write().await = KeySet {
            keys,
            fetched: Some(Instant::now()),
        };
        *self.last_fetch.lock().await = Some(Instant::now());
        Ok(n)
    }

    /// The user `token` names, when it verifies.
    ///
    /// # Errors
    /// 401 when the algorithm, key, signature, `iss`, `aud` or expiry is wrong; 503 when
    /// no key was ever fetched and the provider cannot be reached.
    pub async fn verify(&self, token: &str, header: &Header) -> Result<ExternalUser, ApiError> {
        if !matches!(
            header.alg,
            Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA
        ) {
            return Err(ApiError::unauthorized(format!(
                "access tokens signed with {:?} are not accepted",
                header.alg
            )));
        }
        let kid = header
            .kid
            .as_deref()
            .ok_or_else(|| ApiError::unauthorized("the access token names no key (kid)"))?;
        let (key, alg) = self.key(kid).await?;
        if alg != header.alg {
            return Err(ApiError::unauthorized(format!(
                "key {kid} signs with {alg:?}, the token says {:?}",
                header.alg
            )));
        }
        let mut v = Validation::new(alg);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.leeway = 30;
        let claims = decode::<Claims>(token, &key, &v)
            .map_err(|e| ApiError::unauthorized(format!("invalid access token: {e}")))?
            .claims;
        if claims.sub.is_empty() {
            return Err(ApiError::unauthorized("the access token has an empty sub"));
        }
        Ok(ExternalUser {
            subject: format!("{}|{}", claims.iss, claims.sub),
            name: claims
                .name
                .or(claims.preferred_username)
                .unwrap_or_default(),
        })
    }

    /// The key `kid`, refetching the set when it is stale or lacks `kid`.
    async fn key(&self, kid: &str) -> Result<(DecodingKey, Algorithm), ApiError> {
        {
            let set = self.keys.read().await;
            let fresh = set.fetched.is_some_and(|at| at.elapsed() < self.max_age);
            if fresh && let Some(k) = set.keys.get(kid) {
                return Ok(k.clone());
            }
        }
        self.refresh().await?;
        let set = self.keys.read().await;
        set.keys
            .get(kid)
            .cloned()
            .ok_or_else(|| ApiError::unauthorized(format!("unknown key id {kid:?}")))
    }

    /// Refetches the keys unless a fetch was tried within `min_refresh` (or the set is
    /// fresh again because another caller just refetched).
    async fn refresh(&self) -> Result<(), ApiError> {
        let mut last = self.last_fetch.lock().await;
        if last.is_some_and(|at| at.elapsed() < self.min_refresh) {
            return self.ever_fetched().await;
        }
        *last = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => {
                *self.keys.write().await = KeySet {
                    keys,
                    fetched: Some(Instant::now()),
                };
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot refresh the identity provider's keys");
                self.ever_fetched().await
            }
        }
    }

    async fn ever_fetched(&self) -> Result<(), ApiError> {
        if self.keys.read().await.fetched.is_some() {
            Ok(())
        } else {
            let mut e = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service-unavailable",
                "Service unavailable",
                "the identity provider's keys are not available; retry shortly",
            );
            e.retry_after = Some(
                u32::try_from(self.min_refresh.as_secs())
                    .unwrap_or(30)
                    .max(1),
            );
            Err(e)
        }
    }

    async fn fetch(&self) -> anyhow::Result<HashMap<String, (DecodingKey, Algorithm)>> {
        let bytes = match &self.source {
            Source::File(path) => {
                let bytes = tokio::fs::read(path).await?;
                anyhow::ensure!(bytes.len() <= MAX_JWKS_BYTES, "JWKS document too large");
                bytes
            }
            Source::Https(url) => {
                let res = self.client.get(url).send().await?.error_for_status()?;
                anyhow::ensure!(
                    res.content_length().unwrap_or(0) <= MAX_JWKS_BYTES as u64,
                    "JWKS document too large"
                );
                let bytes = res.bytes().await?;
                anyhow::ensure!(bytes.len() <= MAX_JWKS_BYTES, "JWKS document too large");
                bytes.to_vec()
            }
        };
        let set: JwkSet = serde_json::from_slice(&bytes)?;
        let keys: HashMap<_, _> = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                let alg = algorithm_of(jwk)?;
                let key = DecodingKey::from_jwk(jwk).ok()?;
                Some((kid, (key, alg)))
            })
            .collect();
        anyhow::ensure!(
            !keys.is_empty(),
            "the JWKS document has no usable signing key (RS256, ES256 or EdDSA with a kid)"
        );
        Ok(keys)
    }
}

/// The one algorithm a key verifies: from its `alg` when given, else from its type;
/// `None` for keys of other algorithms or meant for encryption.
fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        _ => return None,
    };
    match jwk.common.key_algorithm {
        None => Some(by_type),
        Some(KeyAlgorithm::RS256) if by_type == Algorithm::RS256 => Some(by_type),
        Some(KeyAlgorithm::ES256) if by_type == Algorithm::ES256 => Some(by_type),
        Some(KeyAlgorithm::EdDSA) if by_type == Algorithm::EdDSA => Some(by_type),
        Some(_) => None,
    }
}
