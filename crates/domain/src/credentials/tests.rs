//! Unit tests of the credentials use case over mocked ports.

use chrono::{TimeZone, Utc};

use super::port::{MockCredentialRepository, MockPasswordHasher, MockSessionRepository};
use super::*;
use crate::ports::MockClock;

fn clock() -> Arc<MockClock> {
    let mut c = MockClock::new();
    c.expect_now()
        .returning(|| Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
    Arc::new(c)
}

/// A hasher whose hash of `p` is `h:p` and which checks exactly that.
fn hasher() -> MockPasswordHasher {
    let mut h = MockPasswordHasher::new();
    h.expect_hash().returning(|p| Ok(format!("h:{p}")));
    h.expect_verify()
        .returning(|p, h| Ok(h.is_some_and(|h| h == format!("h:{p}"))));
    h
}

fn creds(users: MockCredentialRepository, sessions: MockSessionRepository) -> Credentials {
    Credentials::new(
        Arc::new(users),
        Arc::new(sessions),
        Arc::new(hasher()),
        clock(),
        Duration::hours(24),
    )
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
    let mut u = MockCredentialRepository::new();
    u.expect_create_with_password()
        .withf(|n, e, h, _| n == "Ada" && e.as_str() == "ada@example.com" && h == "h:password1")
        .times(1)
        .returning(|n, _, _, _| Ok(user(1, n)));
    let mut s = MockSessionRepository::new();
    s.expect_create()
        .withf(|s| s.user == UserId(1) && s.agent == "phone")
        .times(1)
        .returning(|_| Ok(()));
    let c = creds(u, s);
    let (made, session) = c
        .sign_up(" Ada ", "ada@example.com", "password1", " phone ")
        .await
        .unwrap();
    assert_eq!(made.name, "Ada");
    assert_eq!(session.expires_at - session.created_at, Duration::hours(24));
    for (name, email, pw, want) in [
        ("", "ada@example.com", "password1", "InvalidName"),
        ("Ada", "ada", "password1", "InvalidEmail"),
        ("Ada", "ada@example.com", "short", "InvalidPassword"),
        ("A\u{0}da", "ada@example.com", "password1", "InvalidName"),
    ] {
        let e = c.sign_up(name, email, pw, "").await.unwrap_err();
        assert_eq!(format!("{e:?}"), want);
    }
}

#[tokio::test]
async fn a_taken_email_is_refused() {
    let mut u = MockCredentialRepository::new();
    u.expect_create_with_password()
        .returning(|_, _, _, _| Err(CredentialError::EmailTaken));
    let c = creds(u, MockSessionRepository::new());
    assert!(matches!(
        c.sign_up("Ada", "ada@example.com", "password1", "").await,
        Err(CredentialError::EmailTaken)
    ));
}

#[tokio::test]
async fn unknown_email_and_wrong_password_answer_alike_and_both_cost_a_verification() {
    let mut u = MockCredentialRepository::new();
    u.expect_password_of().returning(|e| {
        Ok((e.as_str() == "ada@example.com").then(|| (UserId(1), "h:password1".to_owned())))
    });
    let mut s = MockSessionRepository::new();
    s.expect_create().times(1).returning(|_| Ok(()));
    let mut h = MockPasswordHasher::new();
    // Three failed sign-ins and one good one: four verifications, the unknown and the
    // malformed email against no hash (the dummy).
    h.expect_verify()
        .times(4)
        .returning(|p, h| Ok(h.is_some_and(|h| h == format!("h:{p}"))));
    let c = Credentials::new(
        Arc::new(u),
        Arc::new(s),
        Arc::new(h),
        clock(),
        Duration::hours(1),
    );
    for (email, pw) in [
        ("ada@example.com", "wrong-password"),
        ("bob@example.com", "password1"),
        ("not an email", "password1"),
    ] {
        let e = c.sign_in(email, pw, "").await.unwrap_err();
        assert!(matches!(e, CredentialError::InvalidCredentials), "{email}");
    }
    let s = c
        .sign_in("ADA@example.com ", "password1", "")
        .await
        .unwrap();
    assert_eq!(s.user, UserId(1));
}

#[tokio::test]
async fn revoking_checks_the_id_and_the_owner() {
    let mut s = MockSessionRepository::new();
    s.expect_revoke().returning(|u, _| Ok(u == UserId(1)));
    let c = creds(MockCredentialRepository::new(), s);
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
    let mut u = MockCredentialRepository::new();
    u.expect_password_of()
        .returning(|_| Err(StoreError::new("down")));
    let c = creds(u, MockSessionRepository::new());
    assert!(matches!(
        c.sign_in("ada@example.com", "password1", "").await,
        Err(CredentialError::Unavailable(_))
    ));
}
