//! Real accounts over HTTP, on each database: sign-up by name, email and password,
//! sign-up and sign-in with no account enumeration, sessions listed and revoked with effect on the
//! next request, an account made before emails keeping its wallet, and every bad input
//! a documented 4xx problem.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use frontrow_tests::app::{
    AppOptions, Db, PASSWORD, TestApp, assert_problem, fresh_database_url, signup_body,
    spawn_app_with,
};
use frontrow_tests::db::migrate_down_to_before;
use reqwest::{Method, Response};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

async fn app_on(db: Db) -> TestApp {
    spawn_app_with(AppOptions {
        db,
        ..AppOptions::default()
    })
    .await
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
    bearer: Option<&str>,
) -> Response {
    let mut r = app.client.request(method, app.url(path));
    if let Some(b) = body {
        r = r.json(&b);
    }
    if let Some(t) = bearer {
        r = r.bearer_auth(t);
    }
    r.send().await.expect("request")
}

async fn json_of(res: Response, status: u16) -> Value {
    let got = res.status().as_u16();
    let body = res.text().await.unwrap();
    assert_eq!(got, status, "{body}");
    if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).unwrap()
    }
}

/// Asserts a problem answer whose status the OpenAPI document lists for the route.
async fn documented_problem(
    doc: &Value,
    method: &str,
    route: &str,
    res: Response,
    status: u16,
) -> Value {
    let p = assert_problem(res, status).await;
    let listed = &doc["paths"][route][method]["responses"][status.to_string()];
    assert!(
        listed.is_object(),
        "{method} {route} answered {status}, not in the OpenAPI document"
    );
    p
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> Response {
    send(
        app,
        Method::POST,
        "/api/v1/sessions",
        Some(json!({"email": email, "password": password})),
        None,
    )
    .await
}

async fn accounts_flow(db: Db) {
    let app = app_on(db).await;
    let doc = json_of(app.get("/api-docs/openapi.json", None).await, 200).await;

    // Sign-up answers 201 with a token of a new session; the token works.
    let mut body = signup_body("Ada");
    body["email"] = json!("  Ada.Lovelace@Example.TEST ");
    let made = json_of(app.post_json("/api/v1/users", &body, None).await, 201).await;
    let first = made["access_token"].as_str().unwrap().to_owned();
    assert_eq!(made["name"], "Ada");
    let me = json_of(app.get("/api/v1/users/me", Some(&first)).await, 200).await;
    assert_eq!(
        me["email"], "ada.lovelace@example.test",
        "trimmed, lower case"
    );
    assert_eq!(me["id"], made["id"]);

    // Sign-in with the address as typed any case: a second session of the same user.
    let second = json_of(
        sign_in(&app, "ADA.LOVELACE@example.test", PASSWORD).await,
        201,
    )
    .await;
    assert_eq!(second["user_id"], made["id"]);
    assert_eq!(second["name"], "Ada");
    let second_token = second["access_token"].as_str().unwrap().to_owned();
    assert_ne!(second["session_id"], made["session_id"]);

    // Wrong password and unknown email: one answer, word for word.
    let wrong = documented_problem(
        &doc,
        "post",
        "/api/v1/sessions",
        sign_in(&app, "ada.lovelace@example.test", "not the password").await,
        401,
    )
    .await;
    let unknown = documented_problem(
        &doc,
        "post",
        "/api/v1/sessions",
        sign_in(&app, "nobody@example.test", PASSWORD).await,
        401,
    )
    .await;
    let malformed = assert_problem(sign_in(&app, "not an email", PASSWORD).await, 401).await;
    assert_eq!(wrong["type"], "/problems/invalid-credentials");
    assert_eq!(wrong, unknown);
    assert_eq!(wrong, malformed);

    // The same email again, with another password: 201 like any sign-up (the answer
    // never tells whether the email is known), an account of its own; the first
    // account's password still signs in to the first account.
    let mut again = signup_body("Imposter");
    again["email"] = json!("ada.lovelace@example.test");
    again["password"] = json!("another password");
    let other = json_of(app.post_json("/api/v1/users", &again, None).await, 201).await;
    assert_ne!(other["id"], made["id"]);
    assert_eq!(other["name"], "Imposter");
    let fresh = json_of(
        app.post_json("/api/v1/users", &signup_body("Bea"), None)
            .await,
        201,
    )
    .await;
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        keys(&other),
        keys(&fresh),
        "a known and an unknown email answer alike"
    );
    // The same email and password: signed in to the account that has them.
    let mut same = signup_body("Someone else");
    same["email"] = json!("ada.lovelace@example.test");
    let same = json_of(app.post_json("/api/v1/users", &same, None).await, 201).await;
    assert_eq!((&same["id"], &same["name"]), (&made["id"], &json!("Ada")));
    let still = json_of(
        sign_in(&app, "ada.lovelace@example.test", PASSWORD).await,
        201,
    )
    .await;
    assert_eq!(still["user_id"], made["id"]);
    let third_token = still["access_token"].as_str().unwrap().to_owned();

    // Sessions: four (sign-up, sign-in, sign-up with the same pair, sign-in), newest
    // first, the caller's marked.
    let list = json_of(app.get("/api/v1/sessions", Some(&second_token)).await, 200).await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 4);
    assert_eq!(list[0]["id"], still["session_id"]);
    let current: Vec<_> = list.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], second["session_id"]);

    // Revoking the first device from the second: refused on its very next request.
    assert_eq!(app.get("/api/v1/wallet", Some(&first)).await.status(), 200);
    let first_id = made["session_id"].as_str().unwrap();
    let res = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/sessions/{first_id}"),
        None,
        Some(&second_token),
    )
    .await;
    assert_eq!(res.status(), 204);
    assert_problem(app.get("/api/v1/wallet", Some(&first)).await, 401).await;
    assert_eq!(
        app.get("/api/v1/wallet", Some(&second_token))
            .await
            .status(),
        200
    );
    // Twice: 404. Another user's session: 404, and it stays open.
    let res = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/sessions/{first_id}"),
        None,
        Some(&second_token),
    )
    .await;
    documented_problem(&doc, "delete", "/api/v1/sessions/{session_id}", res, 404).await;
    let bob = app.create_user("Bob").await;
    let third_id = still["session_id"].as_str().unwrap();
    let res = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/sessions/{third_id}"),
        None,
        Some(&bob.token),
    )
    .await;
    assert_problem(res, 404).await;
    assert_eq!(
        app.get("/api/v1/wallet", Some(&third_token)).await.status(),
        200
    );
    // Signing out: revoking one's own session.
    let second_id = second["session_id"].as_str().unwrap();
    let res = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/sessions/{second_id}"),
        None,
        Some(&second_token),
    )
    .await;
    assert_eq!(res.status(), 204);
    assert_problem(app.get("/api/v1/sessions", Some(&second_token)).await, 401).await;
    let list = json_of(app.get("/api/v1/sessions", Some(&third_token)).await, 200).await;
    assert_eq!(list.as_array().unwrap().len(), 2);

    // Bad input: 4xx problems the document lists, and nothing made.
    for bad in [
        json!({"name": "Eve", "email": "eve@example.test"}),
        json!({"name": "Eve", "email": "eve@example.test", "password": "short"}),
        json!({"name": "Eve", "email": "eve", "password": PASSWORD}),
        json!({"name": "", "email": "eve@example.test", "password": PASSWORD}),
        json!({"name": "Eve", "email": "eve@example.test", "password": "x".repeat(129)}),
        json!({"name": "Eve", "email": 5, "password": PASSWORD}),
        json!({"name": "Eve", "email": "eve@example.test", "password": PASSWORD, "admin": true}),
    ] {
        let res = app.post_json("/api/v1/users", &bad, None).await;
        documented_problem(&doc, "post", "/api/v1/users", res, 422).await;
    }
    assert_problem(sign_in(&app, "eve@example.test", PASSWORD).await, 401).await;
    let res = send(
        &app,
        Method::POST,
        "/api/v1/sessions",
        Some(json!({"email": "eve@example.test"})),
        None,
    )
    .await;
    documented_problem(&doc, "post", "/api/v1/sessions", res, 422).await;
    let res = app
        .client
        .post(app.url("/api/v1/sessions"))
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    documented_problem(&doc, "post", "/api/v1/sessions", res, 400).await;
    documented_problem(
        &doc,
        "get",
        "/api/v1/sessions",
        app.get("/api/v1/sessions", None).await,
        401,
    )
    .await;
    let res = send(
        &app,
        Method::POST,
        "/api/v1/users/me/password",
        Some(json!({"email": "x@example.test", "password": PASSWORD})),
        Some(&third_token),
    )
    .await;
    let p = documented_problem(&doc, "post", "/api/v1/users/me/password", res, 409).await;
    assert_eq!(p["type"], "/problems/password-already-set");
    // Passkey finishes with no such ceremony or no WebAuthn answer.
    // A passkey finish: an unknown ceremony is 404 whatever the body; a known one with a
    // body that is no WebAuthn answer is 422, and spent: the same finish again is 404.
    let route = "/api/v1/passkeys/authentications/{ceremony}";
    let finish = |id: &str| format!("/api/v1/passkeys/authentications/{id}");
    let res = send(&app, Method::POST, &finish("nope"), Some(json!({})), None).await;
    documented_problem(&doc, "post", route, res, 404).await;
    let start = json_of(
        send(
            &app,
            Method::POST,
            "/api/v1/passkeys/authentications",
            None,
            None,
        )
        .await,
        200,
    )
    .await;
    let ceremony = start["ceremony"].as_str().unwrap();
    let res = send(
        &app,
        Method::POST,
        &finish(ceremony),
        Some(json!({"id": 5})),
        None,
    )
    .await;
    documented_problem(&doc, "post", route, res, 422).await;
    let res = send(&app, Method::POST, &finish(ceremony), Some(json!({})), None).await;
    documented_problem(&doc, "post", route, res, 404).await;
    let res = send(
        &app,
        Method::POST,
        "/api/v1/passkeys/registrations",
        Some(json!({"name": " "})),
        None,
    )
    .await;
    documented_problem(&doc, "post", "/api/v1/passkeys/registrations", res, 422).await;
    app.stop().await;
}

/// Twenty identical sign-ups (one email, one password) at once: one account, all twenty
/// signed in to it; a twenty-first with another password: an account of its own.
async fn one_account_per_email_and_password_under_concurrency(db: Db) {
    let app = app_on(db).await;
    let mut body = signup_body("Twin");
    body["email"] = json!("twin@example.test");
    let answers =
        futures::future::join_all((0..20).map(|_| app.post_json("/api/v1/users", &body, None)))
            .await;
    let mut ids = std::collections::BTreeSet::new();
    for res in answers {
        ids.insert(json_of(res, 201).await["id"].as_i64().unwrap());
    }
    assert_eq!(ids.len(), 1, "one account: {ids:?}");
    body["password"] = json!("another password");
    let other = json_of(app.post_json("/api/v1/users", &body, None).await, 201).await;
    assert!(!ids.contains(&other["id"].as_i64().unwrap()));
    let s = json_of(sign_in(&app, "twin@example.test", PASSWORD).await, 201).await;
    assert!(ids.contains(&s["user_id"].as_i64().unwrap()));
    let token = s["access_token"].as_str().unwrap();
    assert_eq!(
        json_of(app.get("/api/v1/wallet", Some(token)).await, 200).await["balance"],
        0
    );
    app.stop().await;
}

/// An account made by the name-only sign-up, before emails existed: after the migration
/// its old token still works until it expires, its wallet is intact, and it can attach
/// an email and password to sign in with from any device. An account whose password was
/// hashed the old way (a random salt) signs in and is rehashed to the keyed form.
async fn an_account_made_before_emails_keeps_its_wallet(db: Db) {
    use frontrow_seaorm::{DbOptions, SeaOrmStore};
    let url = fresh_database_url(db).await;
    let opts = DbOptions {
        max_connections: 2,
        connect_timeout: std::time::Duration::from_secs(5),
        acquire_timeout: std::time::Duration::from_secs(30),
        seat_claim: frontrow_seaorm::SeatClaim::default(),
    };
    let store = SeaOrmStore::connect(&url, &opts).await.unwrap();
    store.migrate_up().await.unwrap();
    migrate_down_to_before(&store, "m20261208_000001_sign_in_keys").await;
    let conn = Database::connect(&url).await.unwrap();
    conn.execute_unprepared("INSERT INTO users (name, created_at) VALUES ('Old fan', 0)")
        .await
        .unwrap();
    // And an account with a password hashed the old way (a random salt), made before
    // accounts were found by email and password together.
    let old_hash = {
        use argon2::password_hash::rand_core::OsRng;
        use argon2::password_hash::{PasswordHasher, SaltString};
        argon2::Argon2::default()
            .hash_password(PASSWORD.as_bytes(), &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string()
    };
    conn.execute_unprepared(&format!(
        "INSERT INTO users (name, created_at, email, password_hash) \
         VALUES ('Ada', 0, 'ada@example.test', '{old_hash}')"
    ))
    .await
    .unwrap();
    conn.execute_unprepared("INSERT INTO wallets (user_id, balance, version) VALUES (1, 5000, 0)")
        .await
        .unwrap();
    let _ = conn.close().await;
    store.close().await.unwrap();

    let app = spawn_app_with(AppOptions {
        db,
        database_url: Some(url.clone()),
        ..AppOptions::default()
    })
    .await;
    // A token of the name-only sign-up: HS256, no session.
    let now = chrono::Utc::now().timestamp();
    let legacy = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "1", "iat": now, "exp": now + 600}),
        &jsonwebtoken::EncodingKey::from_secret(b"test-jwt-secret-0123456789"),
    )
    .unwrap();
    assert_eq!(
        json_of(app.get("/api/v1/wallet", Some(&legacy)).await, 200).await["balance"],
        5000
    );
    let me = json_of(app.get("/api/v1/users/me", Some(&legacy)).await, 200).await;
    assert_eq!(me, json!({"id": 1, "name": "Old fan", "email": null}));
    let res = send(
        &app,
        Method::POST,
        "/api/v1/users/me/password",
        Some(json!({"email": "old@example.test", "password": PASSWORD})),
        Some(&legacy),
    )
    .await;
    assert_eq!(res.status(), 204);
    let s = json_of(sign_in(&app, "old@example.test", PASSWORD).await, 201).await;
    assert_eq!(s["user_id"], 1);
    let token = s["access_token"].as_str().unwrap();
    assert_eq!(
        json_of(app.get("/api/v1/wallet", Some(token)).await, 200).await["balance"],
        5000
    );
    assert_eq!(
        json_of(app.get("/api/v1/orders", Some(token)).await, 200)
            .await
            .as_array()
            .map(Vec::len),
        Some(0)
    );

    // The old-way hash signs in, and is replaced by the keyed one then: sign-up with the
    // same pair finds the account after that, a wrong password still does not.
    assert_problem(
        sign_in(&app, "ada@example.test", "not the password").await,
        401,
    )
    .await;
    let s = json_of(sign_in(&app, "ada@example.test", PASSWORD).await, 201).await;
    assert_eq!(s["user_id"], 2);
    let conn = Database::connect(&url).await.unwrap();
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT password_hash FROM users WHERE id = 2",
        ))
        .await
        .unwrap()
        .unwrap();
    let now_hash: String = row.try_get("", "password_hash").unwrap();
    assert_ne!(now_hash, old_hash, "rehashed at sign-in");
    let _ = conn.close().await;
    let again = json_of(
        app.post_json(
            "/api/v1/users",
            &json!({"name": "Ada", "email": "ada@example.test", "password": PASSWORD}),
            None,
        )
        .await,
        201,
    )
    .await;
    assert_eq!(again["id"], 2);
    app.stop().await;
}

/// With `auth.signup` off, neither sign-up way makes an account; sign-in still works
/// for accounts that exist.
async fn sign_up_off_closes_both_ways_in(db: Db) {
    let app = spawn_app_with(AppOptions {
        db,
        tweak: Box::new(|s| s.auth.signup = false),
        ..AppOptions::default()
    })
    .await;
    let p = assert_problem(
        app.post_json("/api/v1/users", &signup_body("Ada"), None)
            .await,
        403,
    )
    .await;
    assert_eq!(p["type"], "/problems/signup-disabled");
    let res = send(
        &app,
        Method::POST,
        "/api/v1/passkeys/registrations",
        Some(json!({"name": "Ada"})),
        None,
    )
    .await;
    let p = assert_problem(res, 403).await;
    assert_eq!(p["type"], "/problems/signup-disabled");
    assert_problem(sign_in(&app, "ada@example.test", PASSWORD).await, 401).await;
    app.stop().await;
}

/// A passkey ceremony's start names this site and asks for a discoverable credential.
async fn passkey_starts_describe_the_site(db: Db) {
    let app = app_on(db).await;
    let reg = json_of(
        send(
            &app,
            Method::POST,
            "/api/v1/passkeys/registrations",
            Some(json!({"name": "Ada"})),
            None,
        )
        .await,
        200,
    )
    .await;
    let pk = &reg["options"]["publicKey"];
    assert_eq!(pk["rp"]["id"], "localhost");
    assert_eq!(pk["user"]["displayName"], "Ada");
    assert_eq!(pk["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(reg["ceremony"].as_str().unwrap().len(), 32);
    let auth = json_of(
        send(
            &app,
            Method::POST,
            "/api/v1/passkeys/authentications",
            None,
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(auth["options"]["publicKey"]["rpId"], "localhost");
    assert_ne!(auth["ceremony"], reg["ceremony"]);
    assert!(auth["options"]["mediation"].is_null());
    app.stop().await;
}

/// Sign-in attempts are limited per address (the `signin` class), apart from sign-ups.
#[tokio::test]
async fn sign_in_attempts_over_the_limit_get_429_with_retry_after_on_sqlite() {
    let app = spawn_app_with(AppOptions {
        tweak: Box::new(|s| {
            s.limits.enabled = true;
            s.limits.signin_per_minute = 1;
            s.limits.signin_burst = 3;
        }),
        ..AppOptions::default()
    })
    .await;
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(
            sign_in(&app, "nobody@example.test", PASSWORD)
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(codes, [401, 401, 401, 429]);
    let res = send(
        &app,
        Method::POST,
        "/api/v1/passkeys/authentications",
        None,
        None,
    )
    .await;
    assert!(res.headers().contains_key("retry-after"));
    let p = assert_problem(res, 429).await;
    assert_eq!(p["type"], "/problems/rate-limited");
    // A sign-up is another class: not refused by the sign-ins.
    assert_eq!(
        app.post_json("/api/v1/users", &signup_body("Ada"), None)
            .await
            .status(),
        201
    );
    app.stop().await;
}

macro_rules! on_each_db {
    ($($name:ident => $body:ident;)*) => {
        mod on_sqlite {
            use super::*;
            $( #[tokio::test] async fn $name() { $body(Db::Sqlite).await } )*
        }
        mod on_mariadb {
            use super::*;
            $( #[tokio::test] async fn $name() { $body(Db::MariaDb).await } )*
        }
        mod on_postgres {
            use super::*;
            $( #[tokio::test] async fn $name() { $body(Db::Postgres).await } )*
        }
    };
}

on_each_db! {
    sign_up_sign_in_and_sessions_revoked_at_once => accounts_flow;
    twenty_identical_sign_ups_make_one_account => one_account_per_email_and_password_under_concurrency;
    an_account_made_before_emails_keeps_its_wallet_and_can_attach_a_password => an_account_made_before_emails_keeps_its_wallet;
    with_sign_up_off_neither_password_nor_passkey_signs_up => sign_up_off_closes_both_ways_in;
    passkey_ceremonies_start_for_this_site => passkey_starts_describe_the_site;
}
