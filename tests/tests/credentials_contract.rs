//! The contract of the account ports (`frontrow_domain::credentials::port`) on each SQL
//! backend: one account per password hash (several per email), sessions that vanish when revoked and only for their
//! owner, a passkey ceremony taken once (also by twenty at once), expired ones never.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use frontrow_domain::credentials::port::{
    CredentialRepository, PasskeyRepository, SessionRepository,
};
use frontrow_domain::credentials::{
    CredentialError, Email, NewPasskey, PasskeyCeremony, Session, random_id,
};
use frontrow_domain::model::UserId;
use frontrow_tests::db::{Backend, fresh_store};

fn at(minute: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 12, minute, 0).unwrap()
}

async fn assert_credentials_contract(backend: Backend) {
    let store = Arc::new(fresh_store(backend).await);
    let email = Email::parse("ada@example.test").unwrap();
    // Hashes shaped like the hasher's: setting (salt by email) `$` tag.
    let ada = store
        .create_with_password("Ada", &email, "$s-ada$tag-1", at(0))
        .await
        .unwrap();
    // A hash is one account's: the same again is refused, nothing written.
    assert!(matches!(
        store
            .create_with_password("Eve", &email, "$s-ada$tag-1", at(1))
            .await,
        Err(CredentialError::CredentialsTaken)
    ));
    // An email is not: another password, another account of the same address.
    let eve = store
        .create_with_password("Eve", &email, "$s-ada$tag-2", at(1))
        .await
        .unwrap();
    assert_ne!(eve.id, ada.id);
    let found = store
        .user_with_password("$s-ada$tag-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found.id, found.name.as_str()), (ada.id, "Ada"));
    assert!(
        store
            .user_with_password("$s-ada$tag-3")
            .await
            .unwrap()
            .is_none()
    );
    let nobody = Email::parse("nobody@example.test").unwrap();
    let profile = store.profile(ada.id).await.unwrap().unwrap();
    assert_eq!(profile.email.as_deref(), Some("ada@example.test"));
    assert!(store.profile(UserId(999_999)).await.unwrap().is_none());

    // Older hashes of an address: those not of the given setting, oldest first, bounded.
    let old = store
        .create_with_password("Old", &email, "$random-salt$tag-9", at(2))
        .await
        .unwrap();
    let older = |setting: &'static str, limit| {
        let store = store.clone();
        let email = email.clone();
        async move {
            store
                .older_passwords_of(&email, setting, limit)
                .await
                .unwrap()
                .into_iter()
                .map(|(u, h)| (u.id, h))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        older("$s-ada", 4).await,
        vec![(old.id, "$random-salt$tag-9".to_owned())]
    );
    assert_eq!(older("$other", 4).await.len(), 3);
    assert_eq!(
        older("$other", 2).await,
        vec![
            (ada.id, "$s-ada$tag-1".to_owned()),
            (eve.id, "$s-ada$tag-2".to_owned()),
        ]
    );
    assert!(
        store
            .older_passwords_of(&nobody, "$x", 4)
            .await
            .unwrap()
            .is_empty()
    );
    // Rehash: only from the hash the account has, never onto another account's.
    assert!(
        !store
            .rehash(old.id, "$wrong$old", "$s-ada$tag-9")
            .await
            .unwrap()
    );
    assert!(
        !store
            .rehash(old.id, "$random-salt$tag-9", "$s-ada$tag-2")
            .await
            .unwrap()
    );
    assert!(
        store
            .rehash(old.id, "$random-salt$tag-9", "$s-ada$tag-9")
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .user_with_password("$s-ada$tag-9")
            .await
            .unwrap()
            .unwrap()
            .id,
        old.id
    );
    assert!(older("$s-ada", 4).await.is_empty());

    // Attaching: only to an account without an email, never another account's hash.
    let key = NewPasskey {
        key_hash: "a".repeat(64),
        user_handle: "00000000-0000-4000-8000-000000000001".into(),
        credential: "{}".into(),
    };
    let pia = store.create_with_passkey("Pia", &key, at(2)).await.unwrap();
    assert!(matches!(
        store.attach_password(pia.id, &email, "$s-ada$tag-1").await,
        Err(CredentialError::CredentialsTaken)
    ));
    assert!(matches!(
        store.attach_password(ada.id, &nobody, "h").await,
        Err(CredentialError::AlreadyHasPassword)
    ));
    assert!(matches!(
        store.attach_password(UserId(999_999), &nobody, "h").await,
        Err(CredentialError::UserNotFound)
    ));
    let pia_email = Email::parse("pia@example.test").unwrap();
    store
        .attach_password(pia.id, &pia_email, "$s-pia$h")
        .await
        .unwrap();
    assert_eq!(
        store
            .user_with_password("$s-pia$h")
            .await
            .unwrap()
            .unwrap()
            .id,
        pia.id
    );

    // Passkeys: one owner per credential, found by its hash.
    assert!(matches!(
        store.create_with_passkey("Twin", &key, at(3)).await,
        Err(CredentialError::PasskeyTaken)
    ));
    assert!(matches!(
        store.add_passkey(ada.id, &key, at(3)).await,
        Err(CredentialError::PasskeyTaken)
    ));
    let found = store.passkey(&key.key_hash).await.unwrap().unwrap();
    assert_eq!((found.user, found.last_used_at), (pia.id, None));
    store
        .touch_passkey(&key.key_hash, "{\"n\":1}", at(4))
        .await
        .unwrap();
    let used = store.passkey(&key.key_hash).await.unwrap().unwrap();
    assert_eq!(
        (used.credential.as_str(), used.last_used_at),
        ("{\"n\":1}", Some(at(4)))
    );
    assert_eq!(store.passkeys_of(pia.id).await.unwrap().len(), 1);
    assert!(store.passkeys_of(ada.id).await.unwrap().is_empty());

    // Sessions: active until expiry or revocation, for their owner only.
    let session = |user: UserId, minute: u32| Session {
        id: random_id(),
        user,
        created_at: at(minute),
        expires_at: at(minute) + Duration::minutes(30),
        agent: "test".into(),
    };
    let (s1, s2) = (session(ada.id, 5), session(ada.id, 6));
    store.create(&s1).await.unwrap();
    store.create(&s2).await.unwrap();
    assert!(store.is_active(&s1.id, ada.id, at(10)).await.unwrap());
    assert!(!store.is_active(&s1.id, pia.id, at(10)).await.unwrap());
    assert!(
        !store.is_active(&s1.id, ada.id, at(36)).await.unwrap(),
        "expired"
    );
    let listed: Vec<String> = store
        .list(ada.id, at(10))
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, vec![s2.id.clone(), s1.id.clone()], "newest first");
    assert!(!store.revoke(pia.id, &s1.id).await.unwrap(), "not hers");
    assert!(store.is_active(&s1.id, ada.id, at(10)).await.unwrap());
    assert!(store.revoke(ada.id, &s1.id).await.unwrap());
    assert!(!store.revoke(ada.id, &s1.id).await.unwrap());
    assert!(!store.is_active(&s1.id, ada.id, at(10)).await.unwrap());
    assert_eq!(store.list(ada.id, at(10)).await.unwrap().len(), 1);

    // Ceremonies: taken once, by one of twenty at once; an expired one never.
    let ceremony = |minute: u32| PasskeyCeremony {
        id: random_id(),
        user: None,
        name: Some("Pia".into()),
        state: "state".into(),
        expires_at: at(minute) + Duration::minutes(5),
    };
    let c = ceremony(10);
    store.save_ceremony(&c, at(10)).await.unwrap();
    let takes = futures::future::join_all((0..20).map(|_| {
        let store = store.clone();
        let id = c.id.clone();
        async move { store.take_ceremony(&id, at(11)).await.unwrap() }
    }))
    .await;
    let won: Vec<_> = takes.into_iter().flatten().collect();
    assert_eq!(won, vec![c.clone()]);
    let late = ceremony(20);
    store.save_ceremony(&late, at(20)).await.unwrap();
    assert_eq!(store.take_ceremony(&late.id, at(26)).await.unwrap(), None);
    assert_eq!(store.take_ceremony("unknown", at(26)).await.unwrap(), None);
}

#[tokio::test]
async fn credentials_contract_on_sqlite() {
    assert_credentials_contract(Backend::Sqlite).await;
}

#[tokio::test]
async fn credentials_contract_on_mariadb() {
    assert_credentials_contract(Backend::MySql).await;
}

#[tokio::test]
async fn credentials_contract_on_postgres() {
    assert_credentials_contract(Backend::Postgres).await;
}
