//! Accounts' settings (`[accounts]`) and the password hasher: argon2id (RFC 9106) in PHC
//! strings, so the parameters travel with each hash and a change of them applies to new
//! hashes while old ones still verify.
//!
//! Defaults are OWASP's first argon2id choice: 19 MiB of memory, 2 passes, 1 lane, a
//! 16-byte salt and a 32-byte tag. The salt is derived from the email (the first 16
//! bytes of SHA-256 over a fixed label and the address), so one email and password
//! always hash alike and the hash is the key their account is found by; every address
//! has its own salt, which is what a salt is for (no table of hashes serves two
//! addresses). Hashing runs on the blocking pool, at most
//! one per core at a time, so a burst of sign-ins cannot take more than
//! `cores × password_memory_kib` of memory nor starve the request workers.

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use frontrow_domain::credentials::Email;
use frontrow_domain::credentials::port::PasswordHasher;
use frontrow_domain::error::StoreError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

/// The `[accounts]` settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccountsSettings {
    /// argon2id memory per hash, KiB (OWASP: 19456 with 2 passes).
    pub password_memory_kib: u32,
    /// argon2id passes over the memory.
    pub password_iterations: u32,
    /// The WebAuthn relying party id: the site's domain (`tickets.example.com`), which
    /// passkeys are bound to. Changing it orphans every passkey made under the old one.
    pub passkey_rp_id: String,
    /// The origin the fan page is served from (`https://tickets.example.com`); its host
    /// must be `passkey_rp_id` or under it. On `localhost` any port is accepted.
    pub passkey_origin: String,
    /// The name authenticators show for the site.
    pub passkey_rp_name: String,
    /// How long a passkey ceremony may take between its start and its finish.
    pub passkey_ceremony_seconds: u64,
}

impl AccountsSettings {
    /// Checks values that parse but make no sense.
    ///
    /// # Errors
    /// The key and why, for the first bad value.
    pub fn validate(&self) -> Result<(), String> {
        crate::passkeys::relying_party(self)
            .map(|_| ())
            .map_err(|e| format!("accounts.passkey_rp_id / accounts.passkey_origin: {e}"))
    }
}

/// argon2id with the configured cost.
pub struct Argon2Hasher {
    params: Params,
    /// A hash of nothing anyone knows, verified against when the email is unknown.
    dummy: String,
    /// One hash per core at a time.
    permits: Arc<Semaphore>,
}

impl Argon2Hasher {
    /// # Errors
    /// When the parameters are out of argon2's range.
    pub fn new(settings: &AccountsSettings) -> anyhow::Result<Argon2Hasher> {
        let params = Params::new(
            settings.password_memory_kib,
            settings.password_iterations,
            1,
            None,
        )
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let dummy = hash_with(
            &params,
            &crate::passkeys::random_secret(),
            &SaltString::generate(&mut OsRng),
        )?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Argon2Hasher {
            params,
            dummy,
            permits: Arc::new(Semaphore::new(cores)),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(Params) -> T + Send + 'static,
    ) -> Result<T, StoreError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| StoreError::new(e.to_string()))?;
        let params = self.params.clone();
        tokio::task::spawn_blocking(move || work(params))
            .await
            .map_err(|e| StoreError::new(e.to_string()))
    }
}

fn argon2(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The salt of `email`'s password hashes.
fn salt_of(email: &Email) -> anyhow::Result<SaltString> {
    let digest = Sha256::new()
        .chain_update(b"frontrow password salt v1\0")
        .chain_update(email.as_str().as_bytes())
        .finalize();
    SaltString::encode_b64(&digest[..16]).map_err(|e| anyhow::anyhow!("argon2 salt: {e}"))
}

fn hash_with(params: &Params, password: &str, salt: &SaltString) -> anyhow::Result<String> {
    argon2(params.clone())
        .hash_password(password.as_bytes(), salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, email: &Email, password: &str) -> Result<String, StoreError> {
        let password = password.to_owned();
        let salt = salt_of(email).map_err(|e| StoreError::new(e.to_string()))?;
        self.run(move |params| hash_with(&params, &password, &salt))
            .await?
            .map_err(|e| StoreError::new(e.to_string()))
    }

    async fn verify(&self, password: &str, hash: Option<String>) -> Result<bool, StoreError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy.clone());
        let password = password.to_owned();
        let matches = self
            .run(move |params| match PasswordHash::new(&hash) {
                // The hash's own parameters decide the work, as stored.
                Ok(parsed) => argon2(params)
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok(),
                Err(_) => false,
            })
            .await?;
        Ok(known && matches)
    }
}

#[cfg(test)]
mod tests {
    use frontrow_domain::credentials::phc_setting;

    use super::*;

    fn cheap() -> AccountsSettings {
        AccountsSettings {
            password_memory_kib: 1024,
            password_iterations: 1,
            ..crate::settings::Settings::default().accounts
        }
    }

    fn email(s: &str) -> Email {
        Email::parse(s).expect("email")
    }

    #[tokio::test]
    async fn hashes_are_argon2id_salted_by_the_email_and_verify_only_their_password() {
        let h = Argon2Hasher::new(&cheap()).expect("hasher");
        let ada = email("ada@example.com");
        let a = h.hash(&ada, "correct horse").await.expect("hash");
        assert!(a.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{a}");
        // The same pair hashes alike (the hash is the account's key); another email is
        // another salt, another password another tag on the same salt.
        assert_eq!(a, h.hash(&ada, "correct horse").await.expect("hash"));
        let other_email = h
            .hash(&email("bob@example.com"), "correct horse")
            .await
            .expect("hash");
        let other_password = h.hash(&ada, "wrong horse").await.expect("hash");
        assert_ne!(phc_setting(&a), phc_setting(&other_email));
        assert_eq!(phc_setting(&a), phc_setting(&other_password));
        assert_ne!(a, other_password);
        assert!(
            h.verify("correct horse", Some(a.clone()))
                .await
                .expect("runs")
        );
        assert!(!h.verify("wrong horse", Some(a)).await.expect("runs"));
        assert!(!h.verify("anything", None).await.expect("runs"));
        assert!(
            !h.verify("x", Some("not a hash".into()))
                .await
                .expect("runs")
        );
    }

    #[tokio::test]
    async fn a_hash_made_under_other_parameters_still_verifies() {
        let old = Argon2Hasher::new(&cheap()).expect("hasher");
        let stored = old
            .hash(&email("ada@example.com"), "pw-123456")
            .await
            .expect("hash");
        let new = Argon2Hasher::new(&AccountsSettings {
            password_iterations: 2,
            ..cheap()
        })
        .expect("hasher");
        assert!(
            new.verify("pw-123456", Some(stored.clone()))
                .await
                .expect("runs")
        );
        // ... under another setting than the new key's, so sign-in tries it.
        let key = new
            .hash(&email("ada@example.com"), "pw-123456")
            .await
            .expect("hash");
        assert_ne!(phc_setting(&stored), phc_setting(&key));
    }

    #[test]
    fn settings_bounds_are_checked() {
        assert!(
            crate::settings::Settings::default()
                .accounts
                .validate()
                .is_ok()
        );
        for (memory, passes) in [(8, 1), (1024, 0), (1024, 17)] {
            let mut all = crate::settings::Settings::default();
            all.accounts.password_memory_kib = memory;
            all.accounts.password_iterations = passes;
            assert!(all.validate().is_err(), "{memory} KiB, {passes} passes");
        }
        let bad = [
            AccountsSettings {
                passkey_origin: "not a url".into(),
                ..cheap()
            },
            AccountsSettings {
                passkey_rp_id: "example.com".into(),
                passkey_origin: "https://evil.test".into(),
                ..cheap()
            },
        ];
        for s in bad {
            assert!(s.validate().is_err(), "{s:?}");
        }
    }
}
