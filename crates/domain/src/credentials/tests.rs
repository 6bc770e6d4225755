//! Unit tests of the credentials use case over mocked ports.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{TimeZone, Utc};

use super::port::{MockSessionRepository, PasswordHasher};
use super::*;
use crate::ports::MockClock;

fn clock() -> Arc<MockClock> {
    let mut c = MockClock::new();
    c.expect_now()
        .returning(|| Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
    Arc::new(c)
}

/// A hasher whose hash of (`e`, `p`) is `$k:e$p` (setting `$k:e`, tag `p`), which
/// verifies a hash by its tag, and which counts its work.
#[derive(Default)]
struct Hasher {
    work: AtomicUsize,
}

#[async_trait]
impl PasswordHasher for Hasher {
    async fn hash(&self, email: &Email, password: &str) -> Result<String, StoreError> {
        self.work.fetch_add(1, Ordering::SeqCst);
        Ok(format!("$k:{}${password}", email.as_str()))
    }

    async fn verify(&self, password: &str, hash: Option<String>) -> Result<bool, StoreError> {
        self.work.fetch_add(1, Ordering::SeqCst);
        Ok(hash.is_some_and(|h| h.rsplit_once('$').is_some_and(|(_, tag)| tag == password)))
    }
}

/// Accounts in a vector: (user, email, hash), a hash being one account's.
#[derive(Default)]
struct Users {
    rows: Mutex<Vec<(User, String, String)>>,
    /// The next create finds its hash taken by an account made at that moment.
    race: AtomicBool,
    down: AtomicBool,
}

impl Users {
    fn add(&self, name: &str, email: &str, hash: &str) -> User {
        let mut rows = self.rows.lock().unwrap();
        let made = user(rows.len() as i64 + 1, name);
        rows.push((made.clone(), email.to_owned(), hash.to_owned()));
        made
    }

    fn hash_of(&self, id: UserId) -> String {
        let rows = self.rows.lock().unwrap();
        rows.iter().find(|r| r.0.id == id).unwrap().2.clone()
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::new("down"))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl CredentialRepository for Users {
    async fn create_with_password(
        &self,
        name: &str,
        email: &Email,
        hash: &str,
        _now: DateTime<Utc>,
    ) -> Result<User, CredentialError> {
        self.check()?;
        if self.race.swap(false, Ordering::SeqCst) {
            self.add("Twin", email.as_str(), hash);
        }
        if self.rows.lock().unwrap().iter().any(|r| r.2 == hash) {
            return Err(CredentialError::CredentialsTaken);
        }
        Ok(self.add(name, email.as_str(), hash))
    }

    async fn attach_password(&self, _: UserId, _: &Email, _: &str) -> Result<(), CredentialError> {
        unreachable!("not used here")
    }

    async fn user_with_password(&self, hash: &str) -> Result<Option<User>, StoreError> {
        self.check()?;
        let rows = self.rows.lock().unwrap();
        Ok(rows.iter().find(|r| r.2 == hash).map(|r| r.0.clone()))
    }

    async fn older_passwords_of(
        &self,
        email: &Email,
        setting: &str,
        limit: u64,
    ) -> Result<Vec<(User, String)>, StoreError> {
        self.check()?;
        let rows = self.rows.lock().unwrap();
        Ok(rows
            .iter()
            .filter(|r| r.1 == email.as_str() && !r.2.starts_with(setting))
            .take(limit as usize)
            .map(|r| (r.0.clone(), r.2.clone()))
            .collect())
    }

    async fn rehash(&self, user: UserId, old: &str, new: &str) -> Result<bool, StoreError> {
        let mut rows = self.rows.lock().unwrap();
        if rows.iter().any(|r| r.2 == new) {
            return Ok(false);
        }
        match rows.iter_mut().find(|r| r.0.id == user && r.2 == old) {
            Some(r) => {
                r.2 = new.to_owned();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn profile(&self, _: UserId) -> Result<Option<Profile>, StoreError> {
        unreachable!("not used here")
    }
}

fn sessions() -> MockSessionRepository {
    let mut s = MockSessionRepository::new();
    s.expect_create().returning(|_| Ok(()));
    s
}

/// The use case over `users` and a counting hasher (returned too).
fn with(users: &Arc<Users>) -> (Credentials, Arc<Hasher>) {
    let hasher = Arc::new(Hasher::default());
    let c = Credentials::new(
        users.clone(),
        Arc::new(sessions()),
        hasher.clone(),
        clock(),
        Duration::hours(24),
    );
    (c, hasher)
}

/// The hash work `f` cost.
async fn work<T>(h: &Hasher, f: impl std::future::Future<Output = T>) -> (T, usize) {
    let before = h.work.load(Ordering::SeqCst);
    let out = f.await;
    (out, h.work.load(Ordering::SeqCst) - before)
}

fn user(id: i64, name: &str) -> User {
    User {
        id: UserId(id),
        name: name.to_owned(),
        created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    }
}

#[test]
fn emails_are_trimmed_lower_cased_and_shaped() {
    assert_eq!(
        Email::parse("  Ada@Example.COM ").unwrap().as_str(),
        "ada@example.com"
    );
    for bad in [
        "",
        "ada",
        "@example.com",
        "ada@",
        "ada@example",
        "ada@.com",
        "ada@example.com.",
        "a da@example.com",
        "ada@@example.com",
        "a@b@example.com",
    ] {
        assert!(Email::parse(bad).is_err(), "{bad:?}");
    }
    let long = format!("{}@example.com", "a".repeat(MAX_EMAIL_CHARS));
    assert!(Email::parse(&long).is_err());
}

#[test]
fn passwords_and_session_ids_are_bounded() {
    assert!(check_password("1234567").is_err());
    assert!(check_password("12345678").is_ok());
    assert!(check_password(&"é".repeat(MAX_PASSWORD_CHARS)).is_ok());
    assert!(check_password(&"é".repeat(MAX_PASSWORD_CHARS + 1)).is_err());
    let id = random_id();
    assert!(is_session_id(&id));
    assert_ne!(id, random_id());
    assert!(!is_session_id(&id.to_uppercase()));
    assert!(!is_session_id(&id[1..]));
}

#[tokio::test]
async fn sign_up_checks_input_before_any_work_then_opens_a_session() {
    let users = Arc::new(Users::default());
    let (c, h) = with(&users);
    let (made, session) = c
        .sign_up(" Ada ", "Ada@Example.com", "password1", " phone ")
        .await
        .unwrap();
    assert_eq!(made.name, "Ada");
    assert_eq!((session.user, session.agent.as_str()), (made.id, "phone"));
    assert_eq!(session.expires_at - session.created_at, Duration::hours(24));
    assert_eq!(users.hash_of(made.id), "$k:ada@example.com$password1");
    for (name, email, pw, want) in [
        ("", "ada@example.com", "password1", "InvalidName"),
        ("Ada", "ada", "password1", "InvalidEmail"),
        ("Ada", "ada@example.com", "short", "InvalidPassword"),
        ("A\u{0}da", "ada@example.com", "password1", "InvalidName"),
    ] {
        let (e, cost) = work(&h, c.sign_up(name, email, pw, "")).await;
        assert_eq!(format!("{:?}", e.unwrap_err()), want);
        assert_eq!(cost, 0, "{want}: no hash work");
    }
}

#[tokio::test]
async fn sign_up_answers_alike_for_a_known_and_an_unknown_email() {
    let users = Arc::new(Users::default());
    let (c, h) = with(&users);
    let (made, first) = work(&h, c.sign_up("Ada", "ada@example.com", "password1", "")).await;
    let (ada, _) = made.unwrap();
    // A known email with another password: an account of its own, at the same cost as
    // an unknown email's (the key, then the dummy).
    let (made, known) = work(&h, c.sign_up("Eve", "ada@example.com", "password2", "")).await;
    let (eve, _) = made.unwrap();
    assert_ne!(eve.id, ada.id);
    assert_eq!(eve.name, "Eve");
    assert_eq!((first, known), (2, 2));
    // The same pair again: signed in to the account that has it, whatever the name.
    let (again, _) = c
        .sign_up("Imposter", "ADA@example.com", "password1", "")
        .await
        .unwrap();
    assert_eq!((again.id, again.name.as_str()), (ada.id, "Ada"));
    assert_eq!(users.rows.lock().unwrap().len(), 2);
    // Each password signs in to its own account.
    let s = c.sign_in("ada@example.com", "password1", "").await.unwrap();
    assert_eq!(s.user, ada.id);
    let s = c.sign_in("ada@example.com", "password2", "").await.unwrap();
    assert_eq!(s.user, eve.id);
}

#[tokio::test]
async fn two_identical_sign_ups_at_once_make_one_account() {
    let users = Arc::new(Users::default());
    users.race.store(true, Ordering::SeqCst);
    let (c, _) = with(&users);
    let (made, _) = c
        .sign_up("Ada", "ada@example.com", "password1", "")
        .await
        .unwrap();
    // The account made at the same moment is the one signed in to.
    assert_eq!(made.name, "Twin");
    assert_eq!(users.rows.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn unknown_email_and_wrong_password_answer_alike_and_cost_alike() {
    let users = Arc::new(Users::default());
    let (c, h) = with(&users);
    let (ada, _) = c
        .sign_up("Ada", "ada@example.com", "password1", "")
        .await
        .unwrap();
    let mut costs = Vec::new();
    for (email, pw) in [
        ("ada@example.com", "wrong-password"),
        ("bob@example.com", "password1"),
    ] {
        let (e, cost) = work(&h, c.sign_in(email, pw, "")).await;
        assert!(
            matches!(e, Err(CredentialError::InvalidCredentials)),
            "{email}"
        );
        costs.push(cost);
    }
    assert_eq!(costs, vec![2, 2]);
    let e = c.sign_in("not an email", "password1", "").await;
    assert!(matches!(e, Err(CredentialError::InvalidCredentials)));
    let (s, cost) = work(&h, c.sign_in("ADA@example.com ", "password1", "")).await;
    assert_eq!((s.unwrap().user, cost), (ada.id, 1));
}

#[tokio::test]
async fn an_older_hash_signs_in_once_and_is_replaced_by_the_key() {
    let users = Arc::new(Users::default());
    let legacy = users.add("Ada", "ada@example.com", "$argon2id$random-salt$password1");
    let (c, h) = with(&users);
    assert!(matches!(
        c.sign_in("ada@example.com", "password2", "").await,
        Err(CredentialError::InvalidCredentials)
    ));
    assert_eq!(users.hash_of(legacy.id), "$argon2id$random-salt$password1");
    let (s, cost) = work(&h, c.sign_in("ada@example.com", "password1", "")).await;
    assert_eq!((s.unwrap().user, cost), (legacy.id, 2));
    assert_eq!(users.hash_of(legacy.id), "$k:ada@example.com$password1");
    // Keyed now: one hash finds it, and sign-up with the pair signs in to it.
    let (s, cost) = work(&h, c.sign_in("ada@example.com", "password1", "")).await;
    assert_eq!((s.unwrap().user, cost), (legacy.id, 1));
    let (again, _) = c
        .sign_up("Ada", "ada@example.com", "password1", "")
        .await
        .unwrap();
    assert_eq!(again.id, legacy.id);
}

#[tokio::test]
async fn the_older_hashes_tried_are_bounded() {
    let users = Arc::new(Users::default());
    for i in 0..10 {
        users.add("Old", "ada@example.com", &format!("$random-{i}$pw-{i}"));
    }
    let (c, h) = with(&users);
    let (e, cost) = work(&h, c.sign_in("ada@example.com", "password1", "")).await;
    assert!(matches!(e, Err(CredentialError::InvalidCredentials)));
    assert_eq!(cost as u64, 1 + MAX_OLDER_HASHES);
}

#[tokio::test]
async fn revoking_checks_the_id_and_the_owner() {
    let mut s = MockSessionRepository::new();
    s.expect_revoke().returning(|u, _| Ok(u == UserId(1)));
    let c = Credentials::new(
        Arc::new(Users::default()),
        Arc::new(s),
        Arc::new(Hasher::default()),
        clock(),
        Duration::hours(24),
    );
    let id = random_id();
    assert!(c.revoke(UserId(1), &id).await.is_ok());
    assert!(matches!(
        c.revoke(UserId(2), &id).await,
        Err(CredentialError::SessionNotFound)
    ));
    assert!(matches!(
        c.revoke(UserId(1), "nope").await,
        Err(CredentialError::SessionNotFound)
    ));
    assert!(!c.is_active("nope", UserId(1)).await.unwrap());
}

#[tokio::test]
async fn store_failures_surface_as_unavailable() {
    let users = Arc::new(Users::default());
    users.down.store(true, Ordering::SeqCst);
    let (c, _) = with(&users);
    assert!(matches!(
        c.sign_in("ada@example.com", "password1", "").await,
        Err(CredentialError::Unavailable(_))
    ));
    assert!(matches!(
        c.sign_up("Ada", "ada@example.com", "password1", "").await,
        Err(CredentialError::Unavailable(_))
    ));
}
