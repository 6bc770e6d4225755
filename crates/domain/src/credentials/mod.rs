//! Real accounts: sign-up and sign-in by email and password, the sessions they open
//! (one per device, listed and revoked by their owner), and the stored side of passkeys.
//!
//! **No answer tells a known email from an unknown one.** An account is found by its
//! email *and* password together: the password's hash is salted by the email
//! ([`PasswordHasher::hash`]), so the pair always hashes alike and the hash is the key
//! the account is looked up by. Several accounts may share an address, each with its
//! own password; sign-up with a pair nobody has makes an account, sign-up with a pair
//! an account has signs in to it, and neither says whether the address was known.
//! Sign-in answers [`CredentialError::InvalidCredentials`] for an unknown email and a
//! wrong password alike, and both cost the same hash work.

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
    /// Another account signs in with this email and password (only adding a password
    /// to an account can meet it: sign-up signs in to that account instead).
    #[error("another account signs in with this email and password: choose another password")]
    CredentialsTaken,
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

/// The most hashes of an address tried at one sign-in besides the one its key would
/// find: hashes made under other argon2 parameters, or before hashes were salted by the
/// email. Bounds the work one request can ask for.
pub const MAX_OLDER_HASHES: u64 = 4;

/// A PHC string's setting: everything before its last `$` (algorithm, version,
/// parameters, salt). Two hashes of one setting and different tags are of different
/// passwords, so a stored hash of the key's own setting needs no verification.
pub fn phc_setting(hash: &str) -> &str {
    hash.rsplit_once('$').map_or(hash, |(setting, _)| setting)
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

/// What an email and password lead to.
enum Found {
    Account(User),
    /// No account: `key` is the hash a new account of the pair is stored under.
    Nobody {
        key: String,
    },
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

    /// Signs up: makes an account (with an empty wallet) for an email and password no
    /// account has, or signs in to the account that has them, and opens a session. The
    /// answer is the same either way, so it never tells whether the email was known.
    ///
    /// # Errors
    /// `InvalidName`, `InvalidEmail`, `InvalidPassword` (checked in that order, before
    /// any work), `Unavailable`.
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
        let user = match self.find_account(&email, password).await? {
            Found::Account(user) => user,
            Found::Nobody { key } => {
                match self
                    .users
                    .create_with_password(name, &email, &key, self.clock.now())
                    .await
                {
                    Ok(user) => user,
                    // The same email and password signed up at the same moment: one
                    // account, and both callers signed in to it.
                    Err(CredentialError::CredentialsTaken) => self
                        .users
                        .user_with_password(&key)
                        .await?
                        .ok_or(CredentialError::CredentialsTaken)?,
                    Err(e) => return Err(e),
                }
            }
        };
        let session = self.open_session(user.id, agent).await?;
        Ok((user, session))
    }

    /// Opens a session for the account of `email` and `password`.
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
        let Ok(email) = Email::parse(email) else {
            self.hasher.verify(password, None).await?;
            return Err(CredentialError::InvalidCredentials);
        };
        match self.find_account(&email, password).await? {
            Found::Account(user) => self.open_session(user.id, agent).await,
            Found::Nobody { .. } => Err(CredentialError::InvalidCredentials),
        }
    }

    /// The account of `email` and `password`: by the key they hash to, else among the
    /// address's older hashes (at most [`MAX_OLDER_HASHES`]; one that matches is
    /// replaced by the key). Costs one hash when the key finds the account and two or
    /// more otherwise, whether or not the address is known (an address with no older
    /// hash is verified against the dummy).
    async fn find_account(&self, email: &Email, password: &str) -> Result<Found, CredentialError> {
        let key = self.hasher.hash(email, password).await?;
        if let Some(user) = self.users.user_with_password(&key).await? {
            return Ok(Found::Account(user));
        }
        let older = self
            .users
            .older_passwords_of(email, phc_setting(&key), MAX_OLDER_HASHES)
            .await?;
        if older.is_empty() {
            self.hasher.verify(password, None).await?;
        }
        for (user, hash) in older {
            if self.hasher.verify(password, Some(hash.clone())).await? {
                // Keyed from now on. Should another account have the key meanwhile (it
                // signed up with the same pair), this one keeps its old hash and is
                // still the one signed in to now.
                self.users.rehash(user.id, &hash, &key).await?;
                return Ok(Found::Account(user));
            }
        }
        Ok(Found::Nobody { key })
    }

    /// Gives an account made without one (a name-only sign-up, an identity-provider
    /// user, a passkey sign-up) an email and password to sign in with.
    ///
    /// # Errors
    /// `InvalidEmail`, `InvalidPassword`, `AlreadyHasPassword`, `CredentialsTaken` (another
    /// account has this email and password), `UserNotFound`, `Unavailable`.
    #[tracing::instrument(skip_all, fields(user = user.0), err(level = "debug"))]
    pub async fn attach_password(
        &self,
        user: UserId,
        email: &str,
        password: &str,
    ) -> Result<(), CredentialError> {
        let email = Email::parse(email)?;
        check_password(password)?;
        let hash = self.hasher.hash(&email, password).await?;
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
