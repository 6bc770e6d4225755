//! The ticket issuing keys: Ed25519 private keys from `tickets.signing_keys` (PKCS#8
//! PEM, one or more; the first signs new codes, all verify and are published at
//! `/.well-known/ticket-keys`, so a key is rotated by putting the new one first and
//! dropping the old one once its codes are past). The same keys on every instance;
//! without any a key is generated at start, with a warning, and codes verify only on
//! this instance until it restarts.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding};
use frontrow_domain::tickets::TicketPolicy;
use frontrow_domain::tickets::keys::{KeyId, KeySet, PublicKey, TicketSigner};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The `tickets` settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TicketSettings {
    /// PKCS#8 PEM Ed25519 private keys, concatenated; the first signs. Unset: generated.
    #[serde(serialize_with = "crate::settings::redacted")]
    pub signing_keys: Option<SecretString>,
    /// Codes are valid from this many minutes before the schedule starts.
    pub valid_before_start_minutes: u32,
    /// …until this many minutes after it starts.
    pub valid_after_start_minutes: u32,
    /// Scanner clocks may be this far off.
    pub clock_skew_seconds: u32,
}

impl TicketSettings {
    /// The validity rules of the settings.
    pub fn policy(&self) -> TicketPolicy {
        TicketPolicy {
            valid_before_start: Duration::minutes(i64::from(self.valid_before_start_minutes)),
            valid_after_start: Duration::minutes(i64::from(self.valid_after_start_minutes)),
            clock_skew: Duration::seconds(i64::from(self.clock_skew_seconds)),
        }
    }
}

const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";

/// The signer and the published keys the settings describe.
///
/// # Errors
/// When `tickets.signing_keys` holds anything but PKCS#8 PEM Ed25519 private keys.
pub fn keys_from_settings(s: &TicketSettings) -> anyhow::Result<(TicketSigner, KeySet)> {
    let text = s
        .signing_keys
        .as_ref()
        .map(|k| k.expose_secret().trim().to_owned())
        .unwrap_or_default();
    if text.is_empty() {
        tracing::warn!(
            "tickets.signing_keys is not set: ticket codes are signed with a key generated \
             now, valid on this instance until it stops; set FRONTROW__TICKETS__SIGNING_KEYS \
             (PKCS#8 PEM Ed25519 keys) in production"
        );
        let signer = TicketSigner::generate();
        let keys = KeySet::new(&[signer.public()]);
        return Ok((signer, keys));
    }
    let mut secrets = Vec::new();
    for (i, block) in text.split(PEM_BEGIN).skip(1).enumerate() {
        let pem = format!("{PEM_BEGIN}{block}");
        let key = SigningKey::from_pkcs8_pem(pem.trim()).map_err(|e| {
            anyhow::anyhow!(
                "tickets.signing_keys (FRONTROW__TICKETS__SIGNING_KEYS), key {}: not a PKCS#8 \
                 PEM Ed25519 private key: {e}",
                i + 1
            )
        })?;
        secrets.push(key.to_bytes());
    }
    let Some(first) = secrets.first() else {
        anyhow::bail!(
            "tickets.signing_keys (FRONTROW__TICKETS__SIGNING_KEYS) holds no PEM private key"
        );
    };
    let signer = TicketSigner::from_secret(first);
    let public: Vec<PublicKey> = secrets
        .iter()
        .map(|s| TicketSigner::from_secret(s).public())
        .collect();
    Ok((signer, KeySet::new(&public)))
}

/// The PKCS#8 PEM of an Ed25519 secret key (tests; operators use
/// `openssl genpkey -algorithm ED25519`).
///
/// # Errors
/// When the key cannot be encoded.
pub fn pem_of_secret(secret: &[u8; 32]) -> anyhow::Result<SecretString> {
    let pem = SigningKey::from_bytes(secret)
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("cannot encode the key: {e}"))?;
    Ok(SecretString::from(pem.as_str()))
}

/// A public key as a JWK (RFC 8037: OKP, Ed25519).
pub fn jwk(k: &PublicKey) -> serde_json::Value {
    serde_json::json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": URL_SAFE_NO_PAD.encode(k.key),
        "kid": k.kid.to_hex(),
        "alg": "EdDSA",
        "use": "sig",
    })
}

/// The public key of a JWK written by [`jwk`]; `None` for anything else.
pub fn from_jwk(v: &serde_json::Value) -> Option<PublicKey> {
    if v["kty"] != "OKP" || v["crv"] != "Ed25519" {
        return None;
    }
    let x = URL_SAFE_NO_PAD.decode(v["x"].as_str()?).ok()?;
    let key: [u8; 32] = x.try_into().ok()?;
    let kid = KeyId::from_hex(v["kid"].as_str()?)?;
    // A kid that does not name the key would let a kit re-label keys.
    (KeyId::of(&key) == kid).then_some(PublicKey { kid, key })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn several_pem_keys_are_published_and_the_first_signs() {
        let a = pem_of_secret(&[1; 32]).unwrap();
        let b = pem_of_secret(&[2; 32]).unwrap();
        let s = TicketSettings {
            signing_keys: Some(SecretString::from(format!(
                "{}\n{}",
                a.expose_secret(),
                b.expose_secret()
            ))),
            ..crate::settings::Settings::default().tickets
        };
        let (signer, keys) = keys_from_settings(&s).unwrap();
        assert_eq!(signer.kid(), TicketSigner::from_secret(&[1; 32]).kid());
        let published = keys.public_keys();
        assert_eq!(published.len(), 2);
        for k in &published {
            assert_eq!(from_jwk(&jwk(k)).as_ref(), Some(k));
        }
    }

    #[test]
    fn a_bad_key_is_refused_naming_the_setting() {
        let s = TicketSettings {
            signing_keys: Some(SecretString::from(
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
            )),
            ..crate::settings::Settings::default().tickets
        };
        let e = keys_from_settings(&s).err().unwrap().to_string();
        assert!(e.contains("tickets.signing_keys"), "{e}");
    }
}
