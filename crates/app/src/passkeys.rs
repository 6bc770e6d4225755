//! Passkeys (WebAuthn, `webauthn-rs`): the ceremonies that register one — for a new
//! account (a passkey sign-up) or for the caller's — and that sign in with one.
//!
//! Each ceremony has two calls. The start answers the browser's options and a ceremony
//! id; the server's half of the ceremony (the challenge) is stored in the database, so
//! the finish may reach any instance, and is taken from it once: a finish replayed, or
//! sent after `accounts.passkey_ceremony_seconds`, finds nothing. Sign-in asks for a
//! discoverable credential (the authenticator offers the fan's passkeys; no name or
//! email is typed), so registration asks authenticators for a resident key.
//!
//! A credential is stored under the SHA-256 of its id; its signature counter is kept up
//! to date, and an assertion whose counter went backwards (a cloned key) is refused.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use frontrow_domain::credentials::port::PasskeyRepository;
use frontrow_domain::credentials::{
    CredentialError, NewPasskey, PasskeyCeremony, StoredPasskey, random_id,
};
use frontrow_domain::error::StoreError;
use frontrow_domain::model::{User, UserId};
use frontrow_domain::ports::Clock;
use rand::RngCore;
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, DiscoverableKey, Passkey,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Url, Uuid,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};
use webauthn_rs_proto::{AuthenticatorSelectionCriteria, ResidentKeyRequirement};

use crate::accounts::AccountsSettings;

/// Why a ceremony failed.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// Unknown, expired, already finished, or of another kind or account.
    #[error("no such passkey ceremony under way: start again")]
    CeremonyUnknown,
    /// The authenticator's answer does not verify (signature, challenge, origin, counter).
    #[error("the passkey was not accepted: {0}")]
    Rejected(String),
    /// The body is not the WebAuthn answer this ceremony needs (the ceremony is spent).
    #[error("not a WebAuthn answer of this ceremony: {0}")]
    Malformed(String),
    /// The credential names no passkey known here.
    #[error("this passkey is not known here")]
    UnknownPasskey,
    #[error(transparent)]
    Credential(#[from] CredentialError),
}

impl From<StoreError> for PasskeyError {
    fn from(e: StoreError) -> Self {
        PasskeyError::Credential(CredentialError::Unavailable(e))
    }
}

/// What a finished registration made.
#[derive(Debug)]
pub enum Registered {
    /// A new account (a passkey sign-up).
    Account(User),
    /// A passkey added to an existing account.
    Added(UserId),
}

/// The relying party of the settings.
///
/// # Errors
/// When the origin is not a URL or its host is not the relying party id (or under it).
pub fn relying_party(settings: &AccountsSettings) -> Result<Webauthn, String> {
    let origin = Url::parse(&settings.passkey_origin).map_err(|e| e.to_string())?;
    let local = origin.host_str() == Some("localhost");
    WebauthnBuilder::new(&settings.passkey_rp_id, &origin)
        .map(|b| b.rp_name(&settings.passkey_rp_name).allow_any_port(local))
        .and_then(WebauthnBuilder::build)
        .map_err(|e| e.to_string())
}

/// 32 hex digits of randomness nobody knows (a dummy password).
pub fn random_secret() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The key a credential id is stored under.
fn key_hash(cred_id: &[u8]) -> String {
    hex::encode(Sha256::digest(cred_id))
}

fn opaque<T: serde::Serialize>(v: &T) -> Result<String, PasskeyError> {
    serde_json::to_string(v).map_err(|e| StoreError::new(e.to_string()).into())
}

/// The browser's answer as the WebAuthn type it must be.
fn answer<T: serde::de::DeserializeOwned>(body: serde_json::Value) -> Result<T, PasskeyError> {
    serde_json::from_value(body).map_err(|e| PasskeyError::Malformed(e.to_string()))
}

fn read<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, PasskeyError> {
    serde_json::from_str(s).map_err(|e| StoreError::new(format!("corrupt passkey row: {e}")).into())
}

/// The passkey ceremonies.
pub struct Passkeys {
    webauthn: Webauthn,
    store: Arc<dyn PasskeyRepository>,
    clock: Arc<dyn Clock>,
    ceremony_ttl: chrono::Duration,
}

impl Passkeys {
    /// # Errors
    /// When the settings name no valid relying party.
    pub fn new(
        settings: &AccountsSettings,
        store: Arc<dyn PasskeyRepository>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Passkeys> {
        Ok(Passkeys {
            webauthn: relying_party(settings).map_err(anyhow::Error::msg)?,
            store,
            clock,
            ceremony_ttl: chrono::Duration::seconds(
                i64::try_from(settings.passkey_ceremony_seconds).unwrap_or(300),
            ),
        })
    }

    /// How long a ceremony may take, in seconds.
    pub fn ceremony_seconds(&self) -> u64 {
        u64::try_from(self.ceremony_ttl.num_seconds()).unwrap_or(0)
    }

    async fn save(
        &self,
        user: Option<UserId>,
        name: Option<String>,
        state: String,
    ) -> Result<String, PasskeyError> {
        let now: DateTime<Utc> = self.clock.now();
        let ceremony = PasskeyCeremony {
            id: random_id(),
            user,
            name,
            state,
            expires_at: now + self.ceremony_ttl,
        };
        self.store.save_ceremony(&ceremony, now).await?;
        Ok(ceremony.id)
    }

    /// Starts registering a passkey: for a new account named `name` (`user` `None`), or
    /// for `user`, whose authenticator shows it as `label`.
    ///
    /// # Errors
    /// `Rejected` when the library refuses the options; `Credential(Unavailable)`.
    pub async fn start_registration(
        &self,
        user: Option<UserId>,
        name: &str,
        label: &str,
    ) -> Result<(String, CreationChallengeResponse), PasskeyError> {
        let (handle, exclude) = match user {
            None => (Uuid::new_v4(), None),
            Some(u) => {
                let keys = self.store.passkeys_of(u).await?;
                let handle = keys
                    .first()
                    .and_then(|k| Uuid::parse_str(&k.user_handle).ok())
                    .unwrap_or_else(Uuid::new_v4);
                let ids = keys
                    .iter()
                    .map(|k| read::<Passkey>(&k.credential).map(|p| p.cred_id().clone()))
                    .collect::<Result<Vec<_>, _>>()?;
                (handle, Some(ids))
            }
        };
        let (mut options, state) = self
            .webauthn
            .start_passkey_registration(handle, label, name, exclude)
            .map_err(|e| PasskeyError::Rejected(e.to_string()))?;
        // Sign-in is by discoverable credential: ask for one to be kept on the device.
        let uv = options
            .public_key
            .authenticator_selection
            .as_ref()
            .map(|s| s.user_verification)
            .unwrap_or_default();
        options.public_key.authenticator_selection = Some(AuthenticatorSelectionCriteria {
            authenticator_attachment: None,
            resident_key: Some(ResidentKeyRequirement::Required),
            require_resident_key: true,
            user_verification: uv,
        });
        let state = opaque(&(handle, state))?;
        let name = user.is_none().then(|| name.to_owned());
        let id = self.save(user, name, state).await?;
        Ok((id, options))
    }

    /// Finishes a registration started by `caller` (`None`: a passkey sign-up) with the
    /// browser's `body` (a `RegisterPublicKeyCredential`). The ceremony is looked up
    /// first, so any body for an unknown ceremony is `CeremonyUnknown`.
    ///
    /// # Errors
    /// `CeremonyUnknown`; `Malformed`; `Rejected`; `Credential(PasskeyTaken)` when the
    /// passkey is registered already; `Credential(Unavailable)`.
    pub async fn finish_registration(
        &self,
        ceremony: &str,
        caller: Option<UserId>,
        body: serde_json::Value,
    ) -> Result<Registered, PasskeyError> {
        let now = self.clock.now();
        let c = self
            .store
            .take_ceremony(ceremony, now)
            .await?
            .ok_or(PasskeyError::CeremonyUnknown)?;
        // A sign-in ceremony, or one begun by someone else, is not this one.
        let is_signup = c.user.is_none() && c.name.is_some();
        if c.user != caller || (caller.is_none() && !is_signup) {
            return Err(PasskeyError::CeremonyUnknown);
        }
        let answer: RegisterPublicKeyCredential = answer(body)?;
        let (handle, state): (Uuid, PasskeyRegistration) = read(&c.state)?;
        let passkey = self
            .webauthn
            .finish_passkey_registration(&answer, &state)
            .map_err(|e| PasskeyError::Rejected(e.to_string()))?;
        let key = NewPasskey {
            key_hash: key_hash(passkey.cred_id().as_ref()),
            user_handle: handle.to_string(),
            credential: opaque(&passkey)?,
        };
        match (c.user, c.name) {
            (Some(user), _) => {
                self.store.add_passkey(user, &key, now).await?;
                Ok(Registered::Added(user))
            }
            (None, name) => {
                let name = name.unwrap_or_default();
                let user = self.store.create_with_passkey(&name, &key, now).await?;
                Ok(Registered::Account(user))
            }
        }
    }

    /// Starts a sign-in with a discoverable passkey.
    ///
    /// # Errors
    /// `Rejected` when the library refuses the options; `Credential(Unavailable)`.
    pub async fn start_sign_in(&self) -> Result<(String, RequestChallengeResponse), PasskeyError> {
        let (mut options, state) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(|e| PasskeyError::Rejected(e.to_string()))?;
        // A button press, not the browser's autofill (conditional) prompt.
        options.mediation = None;
        let id = self.save(None, None, opaque(&state)?).await?;
        Ok((id, options))
    }

    /// Finishes a sign-in with the browser's `body` (a `PublicKeyCredential`): the
    /// account whose passkey signed the challenge. The ceremony is looked up first.
    ///
    /// # Errors
    /// `CeremonyUnknown`; `Malformed`; `UnknownPasskey`; `Rejected`;
    /// `Credential(Unavailable)`.
    pub async fn finish_sign_in(
        &self,
        ceremony: &str,
        body: serde_json::Value,
    ) -> Result<UserId, PasskeyError> {
        let now = self.clock.now();
        let c = self
            .store
            .take_ceremony(ceremony, now)
            .await?
            .ok_or(PasskeyError::CeremonyUnknown)?;
        if c.user.is_some() || c.name.is_some() {
            return Err(PasskeyError::CeremonyUnknown);
        }
        let answer: PublicKeyCredential = answer(body)?;
        let answer = &answer;
        let state: DiscoverableAuthentication = read(&c.state)?;
        let (handle, cred_id) = self
            .webauthn
            .identify_discoverable_authentication(answer)
            .map_err(|e| PasskeyError::Rejected(e.to_string()))?;
        let stored: StoredPasskey = self
            .store
            .passkey(&key_hash(cred_id))
            .await?
            .filter(|k| k.user_handle == handle.to_string())
            .ok_or(PasskeyError::UnknownPasskey)?;
        let mut passkey: Passkey = read(&stored.credential)?;
        let result = self
            .webauthn
            .finish_discoverable_authentication(answer, state, &[DiscoverableKey::from(&passkey)])
            .map_err(|e| PasskeyError::Rejected(e.to_string()))?;
        if passkey.update_credential(&result).is_some() {
            self.store
                .touch_passkey(&stored.key_hash, &opaque(&passkey)?, now)
                .await?;
        }
        Ok(stored.user)
    }
}
