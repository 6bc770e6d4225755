//! The operator's IdP serves its keys over https signed by a private CA: frontrow trusts
//! the system's roots plus `auth.jwks_ca_file`, and without that file the fetch fails
//! with the TLS cause in its error (not a bare "error sending request").
//!
//! A real TLS server (rustls) on loopback with a certificate of a CA made for the test
//! (rcgen); the client is the identity provider's own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use frontrow_app::guard::identity::IdentityProvider;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A private CA, and a server certificate for 127.0.0.1 and localhost signed by it.
struct Pki {
    ca_pem: String,
    server_cert: CertificateDer<'static>,
    server_key: PrivateKeyDer<'static>,
}

fn pki() -> Pki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "frontrow test private CA");
    let ca_key = KeyPair::generate().expect("CA key");
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");

    let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).expect("leaf params");
    leaf.subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf_cert = leaf
        .signed_by(&leaf_key, &ca_cert, &ca_key)
        .expect("leaf certificate");
    Pki {
        ca_pem: ca_cert.pem(),
        server_cert: leaf_cert.der().clone(),
        server_key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    }
}

/// An https server answering every request with `body` as JSON; its port.
async fn serve_https(pki: &Pki, body: &'static [u8]) -> u16 {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(vec![pki.server_cert.clone()], pki.server_key.clone_key())
    .expect("server certificate");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to answer.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = tls.write_all(head.as_bytes()).await;
                let _ = tls.write_all(body).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

const JWKS: &[u8] = include_bytes!("../../../tests/fixtures/idp/jwks.json");

fn idp(port: u16, ca_file: Option<&std::path::Path>) -> IdentityProvider {
    IdentityProvider::new(
        &format!("https://127.0.0.1:{port}/.well-known/jwks.json"),
        "https://idp.test",
        "frontrow",
        Duration::from_secs(300),
        Duration::from_secs(0),
        ca_file,
    )
    .expect("an https URL and a readable CA bundle")
}

fn write_temp(name: &str, contents: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("{name}-{}.pem", uuid::Uuid::new_v4()));
    std::fs::write(&path, contents).expect("temp file");
    path
}

#[tokio::test]
async fn the_keys_are_fetched_over_https_through_a_private_ca_given_in_jwks_ca_file() {
    let pki = pki();
    let port = serve_https(&pki, JWKS).await;
    let ca_file = write_temp("private-ca", &pki.ca_pem);
    let loaded = idp(port, Some(&ca_file)).load().await;
    let _ = std::fs::remove_file(&ca_file);
    let n = loaded.expect("the private CA is trusted");
    let expected = serde_json::from_slice::<serde_json::Value>(JWKS).expect("fixture")["keys"]
        .as_array()
        .expect("keys")
        .len();
    assert!(n >= 1 && n <= expected, "{n} of {expected} keys");
}

#[tokio::test]
async fn without_the_ca_file_the_fetch_fails_and_says_the_certificate_is_not_trusted() {
    let pki = pki();
    let port = serve_https(&pki, JWKS).await;
    let e = idp(port, None)
        .load()
        .await
        .expect_err("a private CA is not among the system's roots");
    // The whole cause chain, down to rustls: an operator sees why, not just "error sending request".
    let chain = format!("{e:#}");
    assert!(
        chain.contains("certificate") || chain.contains("UnknownIssuer"),
        "the cause chain names the certificate: {chain}"
    );
}

#[tokio::test]
async fn another_ca_in_the_file_does_not_make_the_server_trusted() {
    let server = pki();
    let port = serve_https(&server, JWKS).await;
    let other = pki();
    let ca_file = write_temp("other-ca", &other.ca_pem);
    let loaded = idp(port, Some(&ca_file)).load().await;
    let _ = std::fs::remove_file(&ca_file);
    assert!(
        loaded.is_err(),
        "a CA that did not sign the server's certificate is no help"
    );
}
