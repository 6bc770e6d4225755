//! Tokens from the operator's identity provider: verified against its JWKS document
//! (`auth.jwks_url`, `https://…` or `file://…`) with RS256, ES256 or EdDSA, the key chosen
//! by the token's `kid`, `iss` and `aud` checked, and `exp`, `nbf` and `iat` with the
//! same leeway.
//!
//! Over https the document is fetched trusting the system's root certificates plus the
//! PEM bundle of `auth.jwks_ca_file` (a private CA). A failed fetch is logged with its
//! whole cause chain (a TLS failure hides two levels under "error sending request") and
//! counted in `frontrow_jwks_fetch_errors_total`.
//!
//! Keys are cached: refetched when older than `auth.jwks_cache_seconds`, and when a token
//! names a `kid` the cache lacks (a rotation) — but then at most once per
//! `auth.jwks_min_refresh_seconds`, so made-up `kid`s cannot turn every request into a
//! fetch. When a refetch fails the keys already known keep serving (logged).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation, decode};
use serde::Deserialize;

/// The largest JWKS document read.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// Seconds of clock skew forgiven between the provider and us, on `exp`, `nbf` and `iat`.
const LEEWAY_SECONDS: u64 = 30;

/// Refuses a token issued in the future (beyond `leeway` seconds of clock skew):
/// `jsonwebtoken` checks `exp` and `nbf` but not `iat`, and a token minted ahead of time
/// would otherwise outlive the lifetime its issuer meant. Used for the provider's tokens
/// and the service's own.
///
/// # Errors
/// [`IdentityError::Rejected`] when `iat` is later than now plus `leeway`.
pub fn issued_in_the_past(iat: Option<i64>, leeway: u64) -> Result<(), IdentityError> {
    let now = chrono::Utc::now().timestamp();
    match iat {
        Some(iat) if iat > now.saturating_add(leeway as i64) => Err(IdentityError::rejected(
            "invalid access token: issued in the future (iat)",
        )),
        _ => Ok(()),
    }
}

/// Why a token of the identity provider was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The token is not one of the provider's (401).
    #[error("{0}")]
    Rejected(String),
    /// The provider's keys were never fetched (503, retry after the refresh interval).
    #[error("the identity provider's keys are not available; retry shortly")]
    KeysUnavailable { retry_after_secs: u32 },
}

impl IdentityError {
    fn rejected(detail: impl Into<String>) -> IdentityError {
        IdentityError::Rejected(detail.into())
    }
}

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
    /// Checked here: `jsonwebtoken` checks `exp` and `nbf` only.
    #[serde(default)]
    iat: Option<i64>,
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
    /// A verifier of tokens from `url`'s keys, for `issuer` and `audience`; `ca_file`
    /// adds a PEM bundle of root certificates to the system's for the https fetch.
    ///
    /// # Errors
    /// When `url` is neither `https://…` nor `file://…`, or `ca_file` cannot be read or
    /// holds no certificate.
    pub fn new(
        url: &str,
        issuer: &str,
        audience: &str,
        max_age: Duration,
        min_refresh: Duration,
        ca_file: Option<&Path>,
    ) -> anyhow::Result<IdentityProvider> {
        let source = if let Some(path) = url.strip_prefix("file://") {
            Source::File(PathBuf::from(path))
        } else if url.starts_with("https://") {
            Source::Https(url.to_owned())
        } else {
            anyhow::bail!("auth.jwks_url must start with https:// or file://");
        };
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            // A redirect to plain http would hand the keys to anyone on the path.
            .https_only(true)
            .tls_built_in_webpki_certs(false)
            .tls_built_in_native_certs(true);
        if let Some(path) = ca_file {
            for cert in read_ca_bundle(path)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder.build()?;
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
    pub async fn verify(
        &self,
        token: &str,
        header: &Header,
    ) -> Result<ExternalUser, IdentityError> {
        if !matches!(
            header.alg,
            Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA
        ) {
            return Err(IdentityError::rejected(format!(
                "access tokens signed with {:?} are not accepted",
                header.alg
            )));
        }
        let kid = header
            .kid
            .as_deref()
            .ok_or_else(|| IdentityError::rejected("the access token names no key (kid)"))?;
        let (key, alg) = self.key(kid).await?;
        if alg != header.alg {
            return Err(IdentityError::rejected(format!(
                "key {kid} signs with {alg:?}, the token says {:?}",
                header.alg
            )));
        }
        let mut v = Validation::new(alg);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.validate_nbf = true;
        v.leeway = LEEWAY_SECONDS;
        let claims = decode::<Claims>(token, &key, &v)
            .map_err(|e| IdentityError::rejected(format!("invalid access token: {e}")))?
            .claims;
        issued_in_the_past(claims.iat, LEEWAY_SECONDS)?;
        if claims.sub.is_empty() {
            return Err(IdentityError::rejected("the access token has an empty sub"));
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
    async fn key(&self, kid: &str) -> Result<(DecodingKey, Algorithm), IdentityError> {
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
            .ok_or_else(|| IdentityError::rejected(format!("unknown key id {kid:?}")))
    }

    /// Refetches the keys unless a fetch was tried within `min_refresh` (or the set is
    /// fresh again because another caller just refetched).
    async fn refresh(&self) -> Result<(), IdentityError> {
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
            // `fetch` logged and counted it; the keys already known keep serving.
            Err(_) => self.ever_fetched().await,
        }
    }

    async fn ever_fetched(&self) -> Result<(), IdentityError> {
        if self.keys.read().await.fetched.is_some() {
            Ok(())
        } else {
            Err(IdentityError::KeysUnavailable {
                retry_after_secs: u32::try_from(self.min_refresh.as_secs())
                    .unwrap_or(30)
                    .max(1),
            })
        }
    }

    /// The keys of the document, a failure logged with its cause chain and counted.
    async fn fetch(&self) -> anyhow::Result<HashMap<String, (DecodingKey, Algorithm)>> {
        let result = self.fetch_once().await;
        if let Err(e) = &result {
            metrics::counter!(crate::telemetry::JWKS_FETCH_ERRORS).increment(1);
            tracing::warn!(
                error = %cause_chain(e.as_ref()),
                "cannot fetch the identity provider's keys"
            );
        }
        result
    }

    async fn fetch_once(&self) -> anyhow::Result<HashMap<String, (DecodingKey, Algorithm)>> {
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

/// The root certificates of a PEM bundle.
fn read_ca_bundle(path: &Path) -> anyhow::Result<Vec<reqwest::Certificate>> {
    use anyhow::Context;
    let what = || format!("auth.jwks_ca_file {}", path.display());
    let pem = std::fs::read(path).with_context(what)?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).with_context(what)?;
    anyhow::ensure!(!certs.is_empty(), "{}: no PEM certificate in it", what());
    Ok(certs)
}

/// `e` and every error under it (`source()`), joined by ": ".
fn cause_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
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

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use jsonwebtoken::{EncodingKey, encode};
    use serde_json::{Value, json};

    const ISSUER: &str = "https://idp.test/";
    const AUDIENCE: &str = "frontrow";

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/idp")
            .join(name)
    }

    /// The provider of the fixture keys (tests/fixtures/idp/jwks.json).
    async fn provider() -> IdentityProvider {
        let url = format!("file://{}", fixture("jwks.json").display());
        let idp = IdentityProvider::new(
            &url,
            ISSUER,
            AUDIENCE,
            Duration::from_secs(300),
            Duration::from_secs(0),
            None,
        )
        .expect("a file URL");
        idp.load().await.expect("the fixture keys load");
        idp
    }

    /// An ES256 token of the fixture key `ec-1`, `claims` over valid defaults (a null
    /// removes the claim).
    fn token(claims: Value) -> String {
        let pem = std::fs::read_to_string(fixture("es256.pem")).expect("fixture key");
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = STANDARD.decode(body).expect("PEM body");
        let now = chrono::Utc::now().timestamp();
        let mut c = json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 600,
        });
        for (k, v) in claims.as_object().expect("an object") {
            if v.is_null() {
                c.as_object_mut().expect("an object").remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("ec-1".into());
        encode(&header, &c, &EncodingKey::from_ec_der(&der)).expect("signs")
    }

    /// What a token comes to: its subject, or why not (`rejected`, `unavailable`).
    async fn status(idp: &IdentityProvider, token: &str) -> Result<String, &'static str> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| "not a JWT")?;
        idp.verify(token, &header)
            .await
            .map(|u| u.subject)
            .map_err(|e| match e {
                IdentityError::Rejected(_) => "rejected",
                IdentityError::KeysUnavailable { .. } => "unavailable",
            })
    }

    #[tokio::test]
    async fn provider_tokens_not_yet_valid_or_issued_in_the_future_are_a_401() {
        let idp = provider().await;
        let now = chrono::Utc::now().timestamp();
        let alice = Ok(format!("{ISSUER}|alice"));
        let cases = [
            ("valid", json!({}), true),
            ("nbf 10 minutes ahead", json!({"nbf": now + 600}), false),
            ("iat 10 minutes ahead", json!({"iat": now + 600}), false),
            ("nbf within the leeway", json!({"nbf": now + 20}), true),
            ("iat within the leeway", json!({"iat": now + 20}), true),
            ("nbf just past the leeway", json!({"nbf": now + 45}), false),
            ("no iat", json!({"iat": null}), true),
            ("expired beyond the leeway", json!({"exp": now - 60}), false),
        ];
        for (why, claims, ok) in cases {
            let got = status(&idp, &token(claims)).await;
            if ok {
                assert_eq!(got, alice, "{why}");
            } else {
                assert_eq!(got, Err("rejected"), "{why}");
            }
        }
    }

    #[tokio::test]
    async fn a_provider_token_with_altered_signature_bytes_is_a_401() {
        let idp = provider().await;
        let t = token(json!({}));
        assert!(status(&idp, &t).await.is_ok());
        let (signed, sig) = t.rsplit_once('.').expect("three parts");
        let sig = URL_SAFE_NO_PAD.decode(sig).expect("base64url");
        // ES256's signature is r || s, 32 bytes each: alter one of each, in the middle,
        // where no bit is base64 padding.
        for i in [10, 45] {
            let mut bytes = sig.clone();
            bytes[i] ^= 0x40;
            let forged = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(&bytes));
            assert_eq!(status(&idp, &forged).await, Err("rejected"), "byte {i}");
        }
    }

    #[tokio::test]
    async fn a_failed_fetch_is_counted_and_its_cause_chain_told() {
        let missing = std::env::temp_dir().join(format!("no-jwks-{}", uuid::Uuid::new_v4()));
        let idp = IdentityProvider::new(
            &format!("file://{}", missing.display()),
            ISSUER,
            AUDIENCE,
            Duration::from_secs(300),
            Duration::from_secs(0),
            None,
        )
        .expect("a file URL");
        let e = idp.load().await.expect_err("no such file");
        let chain = cause_chain(e.as_ref());
        assert!(chain.contains("No such file"), "{chain}");
        // Before any key was known, a token is a 503 (the keys are missing, not the token).
        assert_eq!(status(&idp, &token(json!({}))).await, Err("unavailable"));
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let path = std::env::temp_dir().join(format!("ca-{}.pem", uuid::Uuid::new_v4()));
        std::fs::write(&path, "not a certificate\n").expect("temp file");
        let r = IdentityProvider::new(
            "https://idp.test/jwks.json",
            ISSUER,
            AUDIENCE,
            Duration::from_secs(300),
            Duration::from_secs(30),
            Some(&path),
        );
        let _ = std::fs::remove_file(&path);
        let e = r.err().expect("refused");
        assert!(format!("{e:#}").contains("auth.jwks_ca_file"), "{e:#}");
    }
}
