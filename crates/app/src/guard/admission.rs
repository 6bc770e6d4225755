//! The admission pass: while a fan is `ACTIVE`, the status answer carries an ES256 JWT
//! (`iss`, `sub` = the frontrow user id, `concert`, `iat`, `exp` = the end of the
//! admission, `jti`) that another service (checkout, merchandise) verifies offline with
//! the public key published at `/.well-known/jwks.json` — as AWS's virtual waiting room
//! hands out its signed tokens.
//!
//! The key is a P-256 private key from `admission.signing_key` (PKCS#8 PEM), shared by
//! every instance; without one a key is generated at start, with a warning, and passes
//! verify only against that instance until it restarts.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use frontrow_domain::queue::{Ticket, TicketStatus};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::SecretKey;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::settings::AdmissionSettings;

/// Most passes kept for reuse (about 64 MB at ~600 B each).
const PASSES_CACHED: u64 = 100_000;
/// How long a kept pass is reused at most (a pass's own `exp` is the admission's end).
const PASS_CACHE_SECONDS: u64 = 3_600;

/// Signs admission passes; publishes the public key.
pub struct AdmissionSigner {
    encoding: EncodingKey,
    /// (queue token, end of the admission) → its pass: an admitted fan polls every half
    /// second or so and an ES256 signature costs far more than the rest of a status
    /// answer, so each admission is signed once (one `jti` per admission).
    passes: moka::sync::Cache<(String, i64), String>,
    kid: String,
    jwk: serde_json::Value,
    issuer: String,
}

/// A kept pass is dropped when its admission ends (its `exp`), at most
/// `PASS_CACHE_SECONDS` after it was signed: an instance keeps no pass of a sale that
/// ended.
struct PassExpiry;

impl moka::Expiry<(String, i64), String> for PassExpiry {
    fn expire_after_create(
        &self,
        key: &(String, i64),
        _pass: &String,
        _now: std::time::Instant,
    ) -> Option<std::time::Duration> {
        let left = key.1.saturating_sub(chrono::Utc::now().timestamp());
        let left = u64::try_from(left)
            .unwrap_or(0)
            .clamp(1, PASS_CACHE_SECONDS);
        Some(std::time::Duration::from_secs(left))
    }
}

/// The claims of a pass.
#[derive(Debug, Serialize)]
struct PassClaims<'a> {
    iss: &'a str,
    sub: String,
    concert: i64,
    iat: i64,
    exp: i64,
    jti: String,
}

impl AdmissionSigner {
    /// The signer the settings describe: their key, or a generated one (with a warning).
    ///
    /// # Errors
    /// When `admission.signing_key` is not a PKCS#8 PEM P-256 private key.
    pub fn from_settings(s: &AdmissionSettings) -> anyhow::Result<AdmissionSigner> {
        match s.signing_key.as_ref().map(ExposeSecret::expose_secret) {
            Some(pem) if !pem.trim().is_empty() => Self::from_pem(pem, &s.issuer),
            _ => {
                tracing::warn!(
                    "admission.signing_key is not set: admission passes are signed with a key \
                     generated now, valid on this instance until it stops; set \
                     FRONTROW__ADMISSION__SIGNING_KEY (a PKCS#8 PEM P-256 key) in production"
                );
                Ok(Self::generate(&s.issuer))
            }
        }
    }

    /// A signer with a fresh random key.
    pub fn generate(issuer: &str) -> AdmissionSigner {
        let mut bytes = [0u8; 32];
        loop {
            rand::rng().fill_bytes(&mut bytes);
            // All but a 2^-32 sliver of 32-byte strings are valid P-256 scalars.
            if let Ok(key) = SecretKey::from_slice(&bytes)
                && let Ok(signer) = Self::from_key(&key, issuer)
            {
                return signer;
            }
        }
    }

    /// A signer with the key in `pem` (PKCS#8).
    ///
    /// # Errors
    /// When `pem` is not a PKCS#8 PEM P-256 private key.
    pub fn from_pem(pem: &str, issuer: &str) -> anyhow::Result<AdmissionSigner> {
        let key = SecretKey::from_pkcs8_pem(pem.trim()).map_err(|e| {
            anyhow::anyhow!(
                "admission.signing_key (FRONTROW__ADMISSION__SIGNING_KEY) is not a PKCS#8 PEM \
                 P-256 private key: {e}"
            )
        })?;
        Self::from_key(&key, issuer)
    }

    /// The PKCS#8 PEM of a fresh key (tests; operators use
    /// `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`).
    pub fn generate_pem() -> anyhow::Result<SecretString> {
        let mut bytes = [0u8; 32];
        loop {
            rand::rng().fill_bytes(&mut bytes);
            if let Ok(key) = SecretKey::from_slice(&bytes) {
                let pem = key
                    .to_pkcs8_pem(LineEnding::LF)
                    .map_err(|e| anyhow::anyhow!("cannot encode the key: {e}"))?;
                return Ok(SecretString::from(pem.as_str()));
            }
        }
    }

    fn from_key(key: &SecretKey, issuer: &str) -> anyhow::Result<AdmissionSigner> {
        let der = key
            .to_pkcs8_der()
            .map_err(|e| anyhow::anyhow!("cannot encode the admission key: {e}"))?;
        let encoding = EncodingKey::from_ec_der(der.as_bytes());
        let point = key.public_key().to_encoded_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            anyhow::bail!("the admission key has no affine public point");
        };
        let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
        // RFC 7638 thumbprint: the required members in lexicographic order, no spaces.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        let jwk = serde_json::json!({
            "kty": "EC", "crv": "P-256", "x": x, "y": y,
            "kid": kid, "alg": "ES256", "use": "sig",
        });
        Ok(AdmissionSigner {
            encoding,
            passes: moka::sync::Cache::builder()
                .max_capacity(PASSES_CACHED)
                .expire_after(PassExpiry)
                .build(),
            kid,
            jwk,
            issuer: issuer.to_owned(),
        })
    }

    /// The key id of passes (the RFC 7638 thumbprint of the public key).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The JWKS document: `{"keys": [the public key]}`.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [self.jwk] })
    }

    /// The pass of `ticket` while it is active; `None` otherwise.
    pub fn pass(&self, ticket: &Ticket) -> Option<String> {
        if ticket.status != TicketStatus::Active {
            return None;
        }
        let until = ticket.active_until?;
        let key = (ticket.token.as_str().to_owned(), until.timestamp());
        if let Some(pass) = self.passes.get(&key) {
            return Some(pass);
        }
        let pass = self.sign(ticket, until)?;
        self.passes.insert(key, pass.clone());
        Some(pass)
    }

    fn sign(&self, ticket: &Ticket, until: chrono::DateTime<chrono::Utc>) -> Option<String> {
        let claims = PassClaims {
            iss: &self.issuer,
            sub: ticket.user_id.0.to_string(),
            concert: ticket.concert_id.0,
            iat: chrono::Utc::now().timestamp(),
            exp: until.timestamp(),
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        match jsonwebtoken::encode(&header, &claims, &self.encoding) {
            Ok(token) => Some(token),
            Err(e) => {
                tracing::error!(error = %e, "cannot sign an admission pass");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use frontrow_domain::model::{ConcertId, UserId};
    use frontrow_domain::queue::{QueueToken, TokenKey};
    use jsonwebtoken::jwk::JwkSet;
    use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};

    use super::*;

    fn ticket(status: TicketStatus) -> Ticket {
        Ticket {
            token: QueueToken::issue(&TokenKey::derive(b"test"), ConcertId(3), 1, UserId(7)),
            concert_id: ConcertId(3),
            user_id: UserId(7),
            status,
            position: None,
            eta_seconds: None,
            active_until: Some(Utc::now() + chrono::Duration::seconds(600)),
            opens_at: None,
            inventory: None,
            eta_range: None,
        }
    }

    #[test]
    fn one_admission_is_signed_once() {
        let signer = AdmissionSigner::generate("frontrow");
        let t = ticket(TicketStatus::Active);
        let first = signer.pass(&t).expect("a pass");
        assert_eq!(
            signer.pass(&t),
            Some(first.clone()),
            "the same admission, the same pass"
        );
        let mut later = t.clone();
        later.active_until = t.active_until.map(|u| u + chrono::Duration::seconds(60));
        assert_ne!(
            signer.pass(&later),
            Some(first),
            "a new admission, a new pass"
        );
    }

    #[test]
    fn a_pass_verifies_with_nothing_but_the_jwks_document() {
        let signer = AdmissionSigner::generate("frontrow");
        let pass = signer.pass(&ticket(TicketStatus::Active)).expect("a pass");
        let jwks: JwkSet = serde_json::from_value(signer.jwks()).expect("a JWKS");
        let kid = decode_header(&pass).expect("header").kid.expect("kid");
        let jwk = jwks.find(&kid).expect("the key of the pass");
        let key = DecodingKey::from_jwk(jwk).expect("a key");
        let mut v = Validation::new(Algorithm::ES256);
        v.set_issuer(&["frontrow"]);
        let claims = decode::<serde_json::Value>(&pass, &key, &v)
            .expect("verifies")
            .claims;
        assert_eq!(claims["sub"], "7");
        assert_eq!(claims["concert"], 3);
        assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    }

    #[test]
    fn only_an_active_ticket_gets_a_pass() {
        let signer = AdmissionSigner::generate("frontrow");
        assert!(signer.pass(&ticket(TicketStatus::Waiting)).is_none());
        assert!(signer.pass(&ticket(TicketStatus::Expired)).is_none());
    }

    #[test]
    fn a_configured_key_keeps_its_kid_and_garbage_is_refused() {
        let pem = AdmissionSigner::generate_pem().expect("pem");
        let a = AdmissionSigner::from_pem(pem.expose_secret(), "x").expect("loads");
        let b = AdmissionSigner::from_pem(pem.expose_secret(), "x").expect("loads");
        assert_eq!(a.kid(), b.kid());
        assert!(AdmissionSigner::from_pem("not a key", "x").is_err());
    }
}
