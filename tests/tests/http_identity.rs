//! Identity, black-box: the admission pass of an active fan verifies with nothing but
//! the published JWKS document.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use frontrow_tests::app::{assert_problem, signup_body, spawn_app};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::{Value, json};

#[tokio::test]
async fn the_admission_pass_verifies_with_nothing_but_the_jwks_document() {
    let app = spawn_app().await;
    let concert = app.create_concert(1, 10, 100).await;
    let fan = app.create_user("fan").await;
    let token = app
        .admitted(&fan, concert.id, Duration::from_secs(10))
        .await;
    let standing: Value = app.queue_status(&token).await.json().await.unwrap();
    assert_eq!(standing["status"], "ACTIVE");
    let pass = standing["admission_token"]
        .as_str()
        .expect("an admission pass");

    // What a checkout service has: the JWKS document, fetched once, and the pass.
    let jwks: JwkSet = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    let header = decode_header(pass).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("its key");
    let mut v = Validation::new(Algorithm::ES256);
    v.set_issuer(&["frontrow"]);
    v.set_required_spec_claims(&["exp", "iss", "sub"]);
    let claims = decode::<Value>(pass, &DecodingKey::from_jwk(jwk).unwrap(), &v)
        .expect("the pass verifies")
        .claims;
    assert_eq!(claims["sub"], fan.id.to_string());
    assert_eq!(claims["concert"], concert.id);
    let until = chrono::DateTime::parse_from_rfc3339(standing["active_until"].as_str().unwrap())
        .unwrap()
        .timestamp();
    assert_eq!(claims["exp"], until);

    // A pass whose signature or claims were altered does not.
    let key = DecodingKey::from_jwk(jwk).unwrap();
    for forged in forged_passes(pass, &claims) {
        let (what, token) = forged;
        assert!(
            decode::<Value>(&token, &key, &v).is_err(),
            "{what}: still verifies"
        );
    }

    // A waiting fan gets none.
    app.set_policy(
        concert.id,
        &json!({"max_active": 1, "admit_per_second": 1, "active_ttl_seconds": 600, "paused": true}),
    )
    .await;
    let waiting = app.create_user("waiting").await;
    let entered: Value = app
        .enter_queue(&waiting, concert.id)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(entered["status"], "WAITING");
    assert!(entered.get("admission_token").is_none(), "{entered}");
    app.stop().await;
}

/// `pass` altered where a forger would: one byte of each half of the ES256 signature
/// (r ‖ s, 32 bytes each, bytes in the middle so no bit is base64 padding), and each
/// claim given another value under the original signature. The untouched parts are
/// kept byte for byte: re-encoding the payload with a claim set to its own value gives
/// back `pass` itself, so a failure below is the signature's doing, not the decoding's.
fn forged_passes(pass: &str, claims: &Value) -> Vec<(String, String)> {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (signed, sig) = pass.rsplit_once('.').unwrap();
    let (header, payload) = signed.split_once('.').unwrap();
    let sig_bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
    assert_eq!(sig_bytes.len(), 64, "ES256: r || s");
    let mut forged = Vec::new();
    for i in [10, 45] {
        let mut bytes = sig_bytes.clone();
        bytes[i] ^= 0x40;
        let token = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(&bytes));
        forged.push((format!("signature byte {i}"), token));
    }
    let json = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let with = |name: &str, value: &Value| {
        let was = format!("\"{name}\":{}", claims[name]);
        assert_eq!(json.matches(&was).count(), 1, "{was} in {json}");
        let body = json.replace(&was, &format!("\"{name}\":{value}"));
        format!("{header}.{}.{sig}", URL_SAFE_NO_PAD.encode(body))
    };
    let claim_names: Vec<String> = claims.as_object().unwrap().keys().cloned().collect();
    for name in &claim_names {
        assert_eq!(
            with(name, &claims[name]),
            pass,
            "{name}: the payload re-encodes"
        );
        let other = match &claims[name] {
            Value::Number(n) => json!(n.as_i64().unwrap() + 1),
            Value::String(s) => json!(format!("{s}x")),
            v => panic!("claim {name}: {v}"),
        };
        forged.push((format!("claim {name} changed"), with(name, &other)));
    }
    assert!(
        ["sub", "concert", "exp", "iss"]
            .iter()
            .all(|c| claim_names.iter().any(|n| n == c)),
        "{claim_names:?}"
    );
    forged
}

#[tokio::test]
async fn an_unknown_well_known_document_is_a_404_problem() {
    let app = spawn_app().await;
    let res = app.get("/.well-known/other.json", None).await;
    assert_problem(res, 404).await;
    app.stop().await;
}

// ---- tokens from the operator's identity provider, its keys served as a JWKS file ----

const ISSUER: &str = "https://idp.test/";
const AUDIENCE: &str = "frontrow";

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/idp")
        .join(name)
}

/// A token signed with the fixture key `pem` under `kid`, with `claims` over the defaults.
fn idp_token(alg: Algorithm, pem: &str, kid: &str, claims: Value) -> String {
    use jsonwebtoken::{EncodingKey, Header, encode};
    let pem = std::fs::read(fixture(pem)).unwrap();
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
        other => panic!("no fixture key for {other:?}"),
    }
    .unwrap();
    let now = chrono::Utc::now().timestamp();
    let mut body = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 600,
        "name": "Alice",
    });
    for (k, v) in claims.as_object().unwrap() {
        body[k] = v.clone();
    }
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    encode(&header, &body, &key).unwrap()
}

/// An app that takes the identity provider's tokens, its JWKS a file in a temp dir
/// (returned, so a test can rotate the keys).
async fn app_with_idp(signup: bool) -> (frontrow_tests::app::TestApp, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("frontrow-idp-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let jwks = dir.join("jwks.json");
    std::fs::copy(fixture("jwks.json"), &jwks).unwrap();
    let url = format!("file://{}", jwks.display());
    let app = frontrow_tests::app::spawn_app_with(frontrow_tests::app::AppOptions {
        tweak: Box::new(move |s| {
            s.auth.jwks_url = Some(url);
            s.auth.issuer = Some(ISSUER.into());
            s.auth.audience = Some(AUDIENCE.into());
            s.auth.jwks_min_refresh_seconds = 0;
            s.auth.signup = signup;
        }),
        ..Default::default()
    })
    .await;
    (app, jwks)
}

async fn wallet(app: &frontrow_tests::app::TestApp, token: &str) -> reqwest::Response {
    app.get("/api/v1/wallet", Some(token)).await
}

#[tokio::test]
async fn identity_provider_tokens_are_accepted_and_their_sub_is_one_user() {
    let (app, _) = app_with_idp(true).await;
    let rs = idp_token(Algorithm::RS256, "rs256.pem", "rsa-1", json!({}));
    let es = idp_token(Algorithm::ES256, "es256.pem", "ec-1", json!({}));
    let ed = idp_token(Algorithm::EdDSA, "ed25519.pem", "ed-1", json!({}));
    let res = app
        .post_json("/api/v1/wallet/charge", &json!({"amount": 700}), Some(&rs))
        .await;
    assert_eq!(res.status(), 200, "RS256 accepted");
    // The same sub under other keys and algorithms is the same user (same wallet).
    for token in [&es, &ed, &rs] {
        let res = wallet(&app, token).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<Value>().await.unwrap()["balance"], 700);
    }
    let bob = idp_token(Algorithm::ES256, "es256.pem", "ec-1", json!({"sub": "bob"}));
    let res = wallet(&app, &bob).await;
    assert_eq!(
        res.json::<Value>().await.unwrap()["balance"],
        0,
        "another sub, another user"
    );
    // The built-in sign-up still works beside it (auth.signup defaults to true).
    let local = app.create_user("local").await;
    assert_eq!(wallet(&app, &local.token).await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn identity_provider_tokens_with_a_wrong_iss_aud_kid_or_algorithm_are_refused() {
    let (app, _) = app_with_idp(true).await;
    let now = chrono::Utc::now().timestamp();
    let refused = [
        (
            "wrong iss",
            idp_token(
                Algorithm::ES256,
                "es256.pem",
                "ec-1",
                json!({"iss": "https://evil.test/"}),
            ),
        ),
        (
            "wrong aud",
            idp_token(
                Algorithm::ES256,
                "es256.pem",
                "ec-1",
                json!({"aud": "someone-else"}),
            ),
        ),
        (
            "unknown kid",
            idp_token(Algorithm::ES256, "es256.pem", "ec-9", json!({})),
        ),
        // Signed by a key the provider does not publish, under a published kid.
        (
            "wrong key",
            idp_token(Algorithm::ES256, "es256-rotated.pem", "ec-1", json!({})),
        ),
        // An ES256 signature presented under the RSA key's kid.
        (
            "algorithm not the key's",
            idp_token(Algorithm::ES256, "es256.pem", "rsa-1", json!({})),
        ),
        (
            "expired",
            idp_token(
                Algorithm::ES256,
                "es256.pem",
                "ec-1",
                json!({"exp": now - 120}),
            ),
        ),
        (
            "no sub",
            idp_token(Algorithm::ES256, "es256.pem", "ec-1", json!({"sub": ""})),
        ),
    ];
    for (why, token) in refused {
        let res = wallet(&app, &token).await;
        assert_eq!(res.status(), 401, "{why}");
        let p = assert_problem(res, 401).await;
        assert_eq!(p["type"], "/problems/unauthorized", "{why}");
    }
    // alg "none" and an HS256 token signed with a guessable key.
    let none = format!(
        "{}.{}.",
        b64(r#"{"alg":"none","typ":"JWT","kid":"ec-1"}"#),
        b64(&format!(
            r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"alice","exp":{}}}"#,
            now + 600
        ))
    );
    assert_eq!(wallet(&app, &none).await.status(), 401, "alg none");
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &json!({"sub": "1", "exp": now + 600}),
        &jsonwebtoken::EncodingKey::from_secret(b"guess"),
    )
    .unwrap();
    assert_eq!(
        wallet(&app, &hs).await.status(),
        401,
        "HS256 with another secret"
    );
    app.stop().await;
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[tokio::test]
async fn a_rotated_identity_provider_key_is_picked_up_by_its_kid() {
    let (app, jwks) = app_with_idp(true).await;
    let token = idp_token(Algorithm::ES256, "es256-rotated.pem", "ec-2", json!({}));
    assert_eq!(
        wallet(&app, &token).await.status(),
        401,
        "not yet published"
    );
    std::fs::copy(fixture("jwks-rotated.json"), &jwks).unwrap();
    assert_eq!(
        wallet(&app, &token).await.status(),
        200,
        "published: accepted"
    );
    app.stop().await;
}

#[tokio::test]
async fn with_sign_up_off_post_users_is_a_403_and_provider_tokens_still_work() {
    let (app, _) = app_with_idp(false).await;
    let res = app
        .post_json("/api/v1/users", &signup_body("Ada"), None)
        .await;
    let p = assert_problem(res, 403).await;
    assert_eq!(p["type"], "/problems/signup-disabled");
    let token = idp_token(Algorithm::EdDSA, "ed25519.pem", "ed-1", json!({}));
    assert_eq!(wallet(&app, &token).await.status(), 200);
    app.stop().await;
}
