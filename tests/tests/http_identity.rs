//! Identity, black-box: the admission pass of an active fan verifies with nothing but
//! the published JWKS document.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use frontrow_tests::app::{assert_problem, spawn_app};
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

    // A pass altered by one character does not.
    let mut forged = pass.to_owned();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert!(decode::<Value>(&forged, &DecodingKey::from_jwk(jwk).unwrap(), &v).is_err());

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

#[tokio::test]
async fn an_unknown_well_known_document_is_a_404_problem() {
    let app = spawn_app().await;
    let res = app.get("/.well-known/other.json", None).await;
    assert_problem(res, 404).await;
    app.stop().await;
}
