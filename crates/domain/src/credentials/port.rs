//! The ports of real accounts: passwords and their hashes, sessions, passkeys.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{CredentialError, Email, NewPasskey, PasskeyCeremony, Profile, Session, StoredPasskey};
use crate::error::StoreError;
use crate::model::{User, UserId};

/// Users by email and password hash. The hash is unique among accounts (an account is
/// found by it); an email is not (accounts may share one, each with its own password).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait CredentialRepository: Send + Sync + 'static {
    /// Creates a user named `name` with `email`, the password hash `hash` and a wallet
    /// of balance 0, atomically.
    ///
    /// # Errors
    /// `CredentialsTaken` when another user has `hash` (also when two sign-ups race for
    /// it: exactly one wins); `Unavailable` when the database cannot be reached. Nothing
    /// is written on an error.
    async fn create_with_password(
        &self,
        name: &str,
        email: &Email,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<User, CredentialError>;

    /// Gives `user`, which has no email yet, `email` and the password hash `hash`.
    ///
    /// # Errors
    /// `UserNotFound` for an unknown user; `AlreadyHasPassword` when the user has an
    /// email already; `CredentialsTaken` when another user has `hash`; `Unavailable`
    /// when the database cannot be reached. Nothing is written on an error.
    async fn attach_password(
        &self,
        user: UserId,
        email: &Email,
        hash: &str,
    ) -> Result<(), CredentialError>;

    /// The user whose password hash is exactly `hash`, `None` when none is.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn user_with_password(&self, hash: &str) -> Result<Option<User>, StoreError>;

    /// Up to `limit` users with `email` whose password hash does not begin with
    /// `setting`, with their hashes, oldest account first.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn older_passwords_of(
        &self,
        email: &Email,
        setting: &str,
        limit: u64,
    ) -> Result<Vec<(User, String)>, StoreError>;

    /// Replaces `user`'s password hash `old` by `new`: `true` when done, `false` when the
    /// user's hash is no longer `old` or another user has `new` (nothing changes then).
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn rehash(&self, user: UserId, old: &str, new: &str) -> Result<bool, StoreError>;

    /// The name and email of `user`, `None` for an unknown user.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn profile(&self, user: UserId) -> Result<Option<Profile>, StoreError>;
}

/// Signed-in devices.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SessionRepository: Send + Sync + 'static {
    /// Stores a new session. Expired sessions of the same user may be deleted meanwhile.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached (or the user is unknown).
    async fn create(&self, session: &Session) -> Result<(), StoreError>;

    /// Whether session `id` of `user` exists and has not expired at `now`. A revoked
    /// session is gone: `false` at once, on every instance.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn is_active(
        &self,
        id: &str,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// The sessions of `user` not expired at `now`, newest first.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn list(&self, user: UserId, now: DateTime<Utc>) -> Result<Vec<Session>, StoreError>;

    /// Deletes session `id` of `user`: `true` when it existed, `false` when there was
    /// none (or it is another user's, which is left alone).
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn revoke(&self, user: UserId, id: &str) -> Result<bool, StoreError>;
}

/// Hashes passwords (argon2id in the app). CPU-heavy: implementations run it off the
/// async workers and bound how many run at once.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync + 'static {
    /// The hash of `password` salted by `email` under the current parameters: a PHC
    /// string of at most 255 bytes, the same for the same pair every time (so it is the
    /// key the pair's account is found by) and different for another email or password.
    /// Everything before its last `$` (its setting) depends on the email and the
    /// parameters alone.
    ///
    /// # Errors
    /// `StoreError` when the hash cannot be computed.
    async fn hash(&self, email: &Email, password: &str) -> Result<String, StoreError>;

    /// Whether `password` matches `hash`. With `None` the same work is done against a
    /// dummy hash of the same cost and the answer is `false`, so an unknown email takes
    /// as long as a wrong password. A hash that does not parse is `false`.
    ///
    /// # Errors
    /// `StoreError` when the work cannot be run.
    async fn verify(&self, password: &str, hash: Option<String>) -> Result<bool, StoreError>;
}

/// WebAuthn credentials and the ceremonies that make and use them. The credential and
/// the ceremony state are opaque text to the domain (the app's WebAuthn library writes
/// and reads them).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PasskeyRepository: Send + Sync + 'static {
    /// Stores a ceremony under way; ceremonies expired at `now` may be deleted meanwhile.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn save_ceremony(
        &self,
        ceremony: &PasskeyCeremony,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Removes and returns ceremony `id` when it exists and has not expired at `now`.
    /// Of callers taking the same ceremony at once, exactly one gets it.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn take_ceremony(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PasskeyCeremony>, StoreError>;

    /// Creates a user named `name` with a wallet of balance 0 and the passkey `key`,
    /// atomically.
    ///
    /// # Errors
    /// `PasskeyTaken` when the credential is registered already; `Unavailable` when the
    /// database cannot be reached. Nothing is written on an error.
    async fn create_with_passkey(
        &self,
        name: &str,
        key: &NewPasskey,
        now: DateTime<Utc>,
    ) -> Result<User, CredentialError>;

    /// Adds the passkey `key` to `user`.
    ///
    /// # Errors
    /// `PasskeyTaken` when the credential is registered already; `UserNotFound` for an
    /// unknown user; `Unavailable` when the database cannot be reached.
    async fn add_passkey(
        &self,
        user: UserId,
        key: &NewPasskey,
        now: DateTime<Utc>,
    ) -> Result<(), CredentialError>;

    /// The passkey whose key hash is `key_hash`, `None` when none is.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn passkey(&self, key_hash: &str) -> Result<Option<StoredPasskey>, StoreError>;

    /// Every passkey of `user`, oldest first.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn passkeys_of(&self, user: UserId) -> Result<Vec<StoredPasskey>, StoreError>;

    /// Replaces the stored credential of `key_hash` (its signature counter moved) and
    /// notes its use at `now`.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn touch_passkey(
        &self,
        key_hash: &str,
        credential: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}
