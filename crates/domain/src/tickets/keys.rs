//! Keys of ticket codes: the issuer's Ed25519 keys (one signs, every published one
//! verifies, so keys rotate) and the holders' P-256 keys that sign rotating codes.
//! Everything a scanner holds is public.

use std::collections::HashMap;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use p256::ecdsa::signature::Verifier as _;
use sha2::{Digest, Sha256};

use super::code::{self, Claims, SIGNATURE_LEN, StaticCode};

/// Names an issuing key: the first four bytes of SHA-256 of its public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 4]);

impl KeyId {
    /// The id of an Ed25519 public key.
    pub fn of(public: &[u8; 32]) -> KeyId {
        let d = Sha256::digest(public);
        KeyId([d[0], d[1], d[2], d[3]])
    }

    /// The `kid` of the JWKS: eight hex digits.
    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }

    /// The id written by [`KeyId::to_hex`].
    pub fn from_hex(s: &str) -> Option<KeyId> {
        let b = hex::decode(s).ok()?;
        Some(KeyId(b.try_into().ok()?))
    }
}

/// A public issuing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub kid: KeyId,
    pub key: [u8; 32],
}

/// The key that signs new codes.
pub struct TicketSigner {
    key: SigningKey,
    kid: KeyId,
}

impl std::fmt::Debug for TicketSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl TicketSigner {
    /// The signer of a 32-byte Ed25519 secret key.
    pub fn from_secret(secret: &[u8; 32]) -> TicketSigner {
        let key = SigningKey::from_bytes(secret);
        let kid = KeyId::of(key.verifying_key().as_bytes());
        TicketSigner { key, kid }
    }

    /// A signer with a fresh random key.
    pub fn generate() -> TicketSigner {
        use rand::RngCore;
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        Self::from_secret(&secret)
    }

    pub fn kid(&self) -> KeyId {
        self.kid
    }

    /// This key's public half.
    pub fn public(&self) -> PublicKey {
        PublicKey {
            kid: self.kid,
            key: self.key.verifying_key().to_bytes(),
        }
    }

    /// The code text of `claims` (their `kid` set to this key's).
    pub fn sign(&self, mut claims: Claims) -> String {
        claims.kid = self.kid;
        let signed = code::claims_bytes(&claims);
        let sig = self.key.sign(&signed).to_bytes();
        code::encode_static(&signed, &sig)
    }
}

/// The public issuing keys a scanner trusts, by id.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: HashMap<KeyId, VerifyingKey>,
}

impl KeySet {
    /// The set of these public keys; keys that are not Ed25519 points are left out.
    pub fn new(keys: &[PublicKey]) -> KeySet {
        KeySet {
            keys: keys
                .iter()
                .filter_map(|k| Some((k.kid, VerifyingKey::from_bytes(&k.key).ok()?)))
                .collect(),
        }
    }

    /// Every key, by id order.
    pub fn public_keys(&self) -> Vec<PublicKey> {
        let mut out: Vec<PublicKey> = self
            .keys
            .iter()
            .map(|(kid, k)| PublicKey {
                kid: *kid,
                key: k.to_bytes(),
            })
            .collect();
        out.sort_by_key(|k| k.kid);
        out
    }

    /// True when the code is signed by a key of this set under its `kid`.
    pub fn verifies(&self, code: &StaticCode) -> bool {
        let Some(key) = self.keys.get(&code.claims.kid) else {
            return false;
        };
        let sig = ed25519_dalek::Signature::from_bytes(&code.signature);
        // Strict: no small-order keys, no malleable signatures.
        key.verify_strict(&code.signed, &sig).is_ok()
    }

    /// [`KeySet::verifies`] of each code, in order, checking runs of codes signed by one
    /// key together (Ed25519 batch verification). A run that fails is checked code by code,
    /// so each answer is that code's own. Runs grow after a run that passes and shrink
    /// after one that fails; below [`MIN_RUN`] the next [`COOL_DOWN`] codes are checked one
    /// by one before a run is tried again, so a stream with many bad codes costs about what
    /// checking them one by one does.
    ///
    /// A run passes when the weighted sum of its equations holds, with weights drawn from
    /// a hash of the whole run: a forger cannot make a bad signature pass, and an honest
    /// issuer's signatures pass both ways. (The batch equation is not cofactored: only the
    /// holder of the secret key could craft a signature with a torsion component that one
    /// check accepts and the other refuses.)
    pub fn verify_many(&self, codes: &[&StaticCode]) -> Vec<bool> {
        let mut out = vec![false; codes.len()];
        let mut run = MAX_RUN;
        let mut single_until = 0;
        let mut at = 0;
        while at < codes.len() {
            let kid = codes[at].claims.kid;
            let Some(key) = self.keys.get(&kid) else {
                at += 1;
                continue;
            };
            if at < single_until || key.is_weak() {
                out[at] = self.verifies(codes[at]);
                at += 1;
                continue;
            }
            // The longest run (up to `run`) of codes under this key.
            let end = at
                + codes[at..]
                    .iter()
                    .take(run)
                    .take_while(|c| c.claims.kid == kid)
                    .count();
            let chunk = &codes[at..end];
            if chunk.len() > 1 && batch_verifies(key, chunk) {
                out[at..end].fill(true);
                run = (run * 2).min(MAX_RUN);
            } else {
                for (i, c) in chunk.iter().enumerate() {
                    out[at + i] = self.verifies(c);
                }
                if run > MIN_RUN {
                    run /= 2;
                } else {
                    single_until = end + COOL_DOWN;
                }
            }
            at = end;
        }
        out
    }
}

/// The longest run [`KeySet::verify_many`] checks at once.
pub const MAX_RUN: usize = 64;
/// The shortest run tried: shorter ones save too little to be worth a failed try.
pub const MIN_RUN: usize = 8;
/// Codes checked one by one after a run of [`MIN_RUN`] failed.
pub const COOL_DOWN: usize = 64;

fn batch_verifies(key: &VerifyingKey, chunk: &[&StaticCode]) -> bool {
    let messages: Vec<&[u8]> = chunk.iter().map(|c| c.signed.as_slice()).collect();
    let signatures: Vec<ed25519_dalek::Signature> = chunk
        .iter()
        .map(|c| ed25519_dalek::Signature::from_bytes(&c.signature))
        .collect();
    let keys = vec![*key; chunk.len()];
    ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
}

/// A holder's P-256 public key, stored compressed (33 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderKey {
    compressed: [u8; 33],
    key: p256::ecdsa::VerifyingKey,
}

/// Not a P-256 public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a P-256 public key (SEC1, compressed or uncompressed)")]
pub struct BadHolderKey;

impl HolderKey {
    /// The key in SEC1 form (33 bytes compressed, or 65 uncompressed as WebCrypto's
    /// `raw` export gives it).
    ///
    /// # Errors
    /// `BadHolderKey` when the bytes are no point of the curve.
    pub fn from_sec1(bytes: &[u8]) -> Result<HolderKey, BadHolderKey> {
        let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes).map_err(|_| BadHolderKey)?;
        let point = key.to_encoded_point(true);
        let compressed: [u8; 33] = point.as_bytes().try_into().map_err(|_| BadHolderKey)?;
        Ok(HolderKey { compressed, key })
    }

    pub fn compressed(&self) -> &[u8; 33] {
        &self.compressed
    }

    /// True when `signature` (raw r‖s, as WebCrypto's ECDSA gives it) signs `message`
    /// with SHA-256.
    pub fn verifies(&self, message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool {
        match p256::ecdsa::Signature::from_slice(signature) {
            Ok(sig) => self.key.verify(message, &sig).is_ok(),
            Err(_) => false,
        }
    }
}
