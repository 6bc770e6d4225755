//! Real accounts: sign-up and sign-in by email and password, the sessions they open
//! (one per device, listed and revoked by their owner), and the stored side of passkeys.
//!
//! Sign-in never tells a known email from an unknown one: both answer
//! [`CredentialError::InvalidCredentials`], and an unknown email costs a hash
//! verification all the same ([`PasswordHasher::verify`] with no hash).

pub mod port;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;

use self::port::{CredentialRepository, PasswordHasher, SessionRepository};
use crate::accounts::MAX_NAME_CHARS;
use crate::error::StoreError;
use crate::model::{User, UserId};
use crate::ports::Clock;

/// The longest email address (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The longest password accepted (a bound on the work a request can ask for).
pub const MAX_PASSWORD_CHARS: usize = 128;
/// The longest device description kept with a session.
pub const MAX_AGENT_CHARS: usize = 200;

/// Errors of the credentials use case and its ports.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("name must be 1 to {MAX_NAME_CHARS} characters, none of them control characters")]
    InvalidName,
    #[error("email must be an address like fan@example.com, at most {MAX_EMAIL_CHARS} characters")]
    InvalidEmail,
    #[error("password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")]
    InvalidPassword,
    /// Another account has this email.
    #[error("an account with this email exists: sign in instead")]
    EmailTaken,
    /// Unknown email or wrong password: the same answer for both.
    #[error("the email or password is not right")]
    InvalidCredentials,
    #[error("this account has an email and password already")]
    AlreadyHasPassword,
    #[error("this passkey is registered already")]
    PasskeyTaken,
    #[error("user not found")]
    UserNotFound,
    #[error("no such session")]
    SessionNotFound,
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// An email address, trimmed and lower-cased. Checked for shape only (one `@`, a dotted
/// domain, no spaces): whether mail reaches it is not known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// # Errors
    /// `InvalidEmail` for anything not shaped like `local@domain.tld`.
    pub fn parse(raw: &str) -> Result<Email, CredentialError> {
        let trimmed = raw.trim();
        // Counted as sent: lower-casing may change the count (İ is two characters).
        let len = trimmed.chars().count();
        let s = trimmed.to_lowercase();
        let ok = (3..=MAX_EMAIL_CHARS).contains(&len)
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            && match s.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                }
                None => false,
            };
        if ok {
            Ok(Email(s))
        } else {
            Err(CredentialError::InvalidEmail)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks a password's length: [`MIN_PASSWORD_CHARS`] to [`MAX_PASSWORD_CHARS`]
/// characters, taken as typed (not trimmed).
///
/// # Errors
/// `InvalidPassword` outside those bounds.
pub fn check_password(password: &str) -> Result<(), CredentialError> {
    if (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&password.chars().count()) {
        Ok(())
    } else {
        Err(CredentialError::InvalidPassword)
    }
}

/// A display name: trimmed, 1 to [`MAX_NAME_CHARS`] characters, no control characters
/// (PostgreSQL cannot store a NUL, and no name needs one).
///
/// # Errors
/// `InvalidName` otherwise.
pub fn check_name(name: &str) -> Result<&str, CredentialError> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        Err(CredentialError::InvalidName)
    } else {
        Ok(name)
    }
}

/// Who an account is, as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub id: UserId,
    pub name: String,
    /// `None` for accounts made without one (name-only, passkey, identity provider).
    pub email: Option<String>,
}

/// One signed-in device: the `sid` of its access tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// 32 hex digits of randomness.
    pub id: String,
    pub user: UserId,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// What the device said it is (its User-Agent), cut to [`MAX_AGENT_CHARS`].
    pub agent: String,
}

/// Whether `id` has the shape of a session id (so a made-up one costs no lookup).
pub fn is_session_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// 32 lower-case hex digits of randomness (sessions, ceremonies).
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A WebAuthn ceremony between its start and its finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyCeremony {
    pub id: String,
    /// Registration of a passkey for this existing user; `None` with `name` for a
    /// sign-up, `None` without `name` for a sign-in.
    pub user: Option<UserId>,
    /// The name of the account a passkey sign-up creates.
    pub name: Option<String>,
    /// The WebAuthn library's state, opaque here.
    pub state: String,
    pub expires_at: DateTime<Utc>,
}

/// A passkey to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPasskey {
    /// Hex SHA-256 of the credential id.
    pub key_hash: String,
    /// The WebAuthn user handle the account's passkeys share.
    pub user_handle: String,
    /// The WebAuthn library's credential, opaque here.
    pub credential: String,
}

/// A stored passkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPasskey {
    pub key_hash: String,
    pub user: UserId,
    pub user_handle: String,
    pub credential: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Sign-up, sign-in and sessions.
#[derive(Clone)]
pub struct Credentials {
    users: Arc<dyn CredentialRepository>,
    sessions: Arc<dyn SessionRepository>,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
    /// How long a session (and the access tokens it carries) lives.
    session_ttl: Duration,
}

impl Credentials {
    pub fn new(
        users: Arc<dyn CredentialRepository>,
        sessions: Arc<dyn SessionRepository>,
        hasher: Arc<dyn PasswordHasher>,
        clock: Arc<dyn Clock>,
        session_ttl: Duration,
    ) -> Self {
        Credentials {
            users,
            sessions,
            hasher,
            clock,
            session_ttl,
        }
    }

    /// Creates an account (with an empty wallet) and opens its first session.
    ///
    /// # Errors
    /// `InvalidName`, `InvalidEmail`, `InvalidPassword` (checked in that order, before
    /// any work), `EmailTaken`, `Unavailable`.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn sign_up(
        &self,
        name: &str,
        email: &str,
        password: &str,
        agent: &str,
    ) -> Result<(User, Session), CredentialError> {
        let name = check_name(name)?;
        let email = Email::parse(email)?;
        check_password(password)?;
        let hash = self.hasher.hash(password).await?;
        let user = self
            .users
            .create_with_password(name, &email, &hash, self.clock.now())
            .await?;
        let session = self.open_session(user.id, agent).await?;
        Ok((user, session))
    }

    /// Opens a session for the owner of `email` when `password` is theirs.
    ///
    /// # Errors
    /// `InvalidCredentials` for a malformed or unknown email and for a wrong password
    /// alike (the unknown email costs the same hash work); `Unavailable`.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        agent: &str,
    ) -> Result<Session, CredentialError> {
        let found = match Email::parse(email) {
            Ok(e) => self.users.password_of(&e).await?,
            Err(_) => None,
        };
        let (user, hash) = match found {
            Some((u, h)) => (Some(u), Some(h)),
            None => (None, None),
        };
        let ok = self.hasher.verify(password, hash).await?;
        match (ok, user) {
            (true, Some(user)) => self.open_session(user, agent).await,
            _ => Err(CredentialError::InvalidCredentials),
        }
    }

    /// Gives an account made without one (a name-only sign-up, an identity-provider
    /// user, a passkey sign-up) an email and password to sign in with.
    ///
    /// # Errors
    /// `InvalidEmail`, `InvalidPassword`, `AlreadyHasPassword`, `EmailTaken`,
    /// `UserNotFound`, `Unavailable`.
    #[tracing::instrument(skip_all, fields(user = user.0), err(level = "debug"))]
    pub async fn attach_password(
        &self,
        user: UserId,
        email: &str,
        password: &str,
    ) -> Result<(), CredentialError> {
        let email = Email::parse(email)?;
        check_password(password)?;
        let hash = self.hasher.hash(password).await?;
        self.users.attach_password(user, &email, &hash).await
    }

    /// The name and email of `user`.
    ///
    /// # Errors
    /// `UserNotFound`; `Unavailable`.
    pub async fn profile(&self, user: UserId) -> Result<Profile, CredentialError> {
        self.users
            .profile(user)
            .await?
            .ok_or(CredentialError::UserNotFound)
    }

    /// A new session of `user` on the device `agent` describes.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn open_session(
        &self,
        user: UserId,
        agent: &str,
    ) -> Result<Session, CredentialError> {
        let now = self.clock.now();
        let session = Session {
            id: random_id(),
            user,
            created_at: now,
            expires_at: now + self.session_ttl,
            agent: agent.trim().chars().take(MAX_AGENT_CHARS).collect(),
        };
        self.sessions.create(&session).await?;
        Ok(session)
    }

    /// Whether session `id` of `user` is still open.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn is_active(&self, id: &str, user: UserId) -> Result<bool, CredentialError> {
        if !is_session_id(id) {
            return Ok(false);
        }
        Ok(self.sessions.is_active(id, user, self.clock.now()).await?)
    }

    /// The open sessions of `user`, newest first.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn sessions(&self, user: UserId) -> Result<Vec<Session>, CredentialError> {
        Ok(self.sessions.list(user, self.clock.now()).await?)
    }

    /// Ends session `id` of `user`: its access tokens are refused from now on.
    ///
    /// # Errors
    /// `SessionNotFound` for a malformed, unknown or other user's session; `Unavailable`.
    #[tracing::instrument(skip_all, fields(user = user.0), err(level = "debug"))]
    pub async fn revoke(&self, user: UserId, id: &str) -> Result<(), CredentialError> {
        if is_session_id(id) && self.sessions.revoke(user, id).await? {
            Ok(())
        } else {
            Err(CredentialError::SessionNotFound)
        }
    }

    /// How long a session lives.
    pub fn session_ttl(&self) -> Duration {
        self.session_ttl
    }
}

#[cfg(test)]
mod tests;
