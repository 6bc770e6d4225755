//! Optional proof-of-work on enter (policy `pow_difficulty`, leading zero bits; 0 = off).
//!
//! A challenge is stateless: `<concert>.<user>.<expires ms>.<random>.<mac>`, the MAC an
//! HMAC-SHA256 under a key derived from the access-token secret (which every instance
//! shares), so any instance checks any instance's challenge. Enter then sends
//! `X-Pow: <challenge>:<nonce>`, valid when SHA-256 of that UTF-8 string has at least
//! `difficulty` leading zero bits: one hash to check, about 2^difficulty to find.
//!
//! A solved challenge is good for one enter: it is claimed once — in Redis when the
//! queue is on Redis (`SET NX PX`, so across instances), else (or should Redis not
//! answer) in a bounded in-process cache — until it expires.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use frontrow_domain::model::{ConcertId, UserId};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::stores::OnceClaims;

type HmacSha256 = Hmac<Sha256>;

/// The longest `X-Pow` header looked at.
const MAX_HEADER: usize = 512;
/// The longest nonce accepted.
const MAX_NONCE: usize = 64;
/// Hex digits of the challenge MAC kept (128 bits).
const MAC_HEX: usize = 32;

/// A challenge to solve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub challenge: String,
    pub difficulty: u8,
    pub expires_at: DateTime<Utc>,
}

/// Issues and checks proof-of-work challenges.
pub struct PowGate {
    key: [u8; 32],
    ttl: Duration,
    claims: Option<Arc<dyn OnceClaims>>,
    /// Challenges already used, when there is no Redis to remember them.
    used: moka::future::Cache<String, ()>,
}

impl PowGate {
    /// A gate whose challenges live `ttl`, their MAC keyed from `secret`; replays are
    /// remembered in `claims` (shared by every instance) when given, else in process.
    pub fn new(secret: &[u8], ttl: Duration, claims: Option<Arc<dyn OnceClaims>>) -> PowGate {
        let mut h = Sha256::new();
        h.update(b"frontrow proof-of-work challenge key\0");
        h.update(secret);
        PowGate {
            key: h.finalize().into(),
            ttl,
            claims,
            used: moka::future::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(ttl)
                .build(),
        }
    }

    fn mac(&self, body: &str) -> String {
        // A 32-byte key is always a valid HMAC key.
        let mut m = <HmacSha256 as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        m.update(body.as_bytes());
        let full = hex::encode(m.finalize().into_bytes());
        full[..MAC_HEX].to_owned()
    }

    /// A fresh challenge for `user` entering `concert`.
    pub fn challenge(
        &self,
        concert: ConcertId,
        user: UserId,
        difficulty: u8,
        now: DateTime<Utc>,
    ) -> Challenge {
        let expires_at = now + chrono::Duration::from_std(self.ttl).unwrap_or_default();
        let mut random = [0u8; 12];
        rand::rng().fill_bytes(&mut random);
        let body = format!(
            "{}.{}.{}.{}",
            concert.0,
            user.0,
            expires_at.timestamp_millis(),
            hex::encode(random)
        );
        let mac = self.mac(&body);
        Challenge {
            challenge: format!("{body}.{mac}"),
            difficulty,
            expires_at,
        }
    }

    /// Checks the `X-Pow` header of `user` entering `concert` at `difficulty`.
    ///
    /// # Errors
    /// 403 `/problems/pow-required` when the proof is missing, malformed, for another
    /// user or concert, expired, too weak, or already used.
    pub async fn check(
        &self,
        header: Option<&str>,
        concert: ConcertId,
        user: UserId,
        difficulty: u8,
        now: DateTime<Utc>,
    ) -> Result<(), PowRequired> {
        if difficulty == 0 {
            return Ok(());
        }
        let refuse = |why: &str| {
            Err(pow_required(format!(
                "{why}: this line asks a proof of work of {difficulty} bits; GET \
                 /api/v1/concerts/{}/queue/challenge, solve it, and send \
                 X-Pow: <challenge>:<nonce>",
                concert.0
            )))
        };
        let Some(header) = header.map(str::trim).filter(|h| !h.is_empty()) else {
            return refuse("X-Pow is missing");
        };
        if header.len() > MAX_HEADER {
            return refuse("X-Pow is too long");
        }
        let Some((challenge, nonce)) = header.rsplit_once(':') else {
            return refuse("X-Pow is not <challenge>:<nonce>");
        };
        if nonce.is_empty() || nonce.len() > MAX_NONCE {
            return refuse("the nonce must be 1 to 64 characters");
        }
        let Some((body, mac)) = challenge.rsplit_once('.') else {
            return refuse("not a challenge of this service");
        };
        let want = self.mac(body);
        // Constant time: no early exit on the first differing byte.
        let same = want.len() == mac.len()
            && want
                .bytes()
                .zip(mac.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same {
            return refuse("not a challenge of this service");
        }
        let parts: Vec<&str> = body.split('.').collect();
        let [c, u, exp, _] = parts[..] else {
            return refuse("not a challenge of this service");
        };
        if c != concert.0.to_string() || u != user.0.to_string() {
            return refuse("the challenge was issued for another user or concert");
        }
        let expires_ms: i64 = exp.parse().unwrap_or(0);
        let left_ms = expires_ms - now.timestamp_millis();
        if left_ms <= 0 {
            return refuse("the challenge expired");
        }
        if leading_zero_bits(&Sha256::digest(header.as_bytes())) < u32::from(difficulty) {
            return refuse("the proof is not strong enough");
        }
        if !self.claim(challenge, left_ms.unsigned_abs()).await {
            return refuse("the challenge was already used");
        }
        Ok(())
    }

    /// True for the first use of `challenge`, false for any later one.
    async fn claim(&self, challenge: &str, ttl_ms: u64) -> bool {
        if let Some(claims) = &self.claims {
            match claims.claim_once(&format!("pow:{challenge}"), ttl_ms).await {
                Ok(first) => return first,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot record a proof of work in Redis: remembering it in process")
                }
            }
        }
        self.used
            .entry(challenge.to_owned())
            .or_insert(())
            .await
            .is_fresh()
    }
}

/// A missing, wrong, expired, weak or reused proof of work (403 `pow-required`), and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PowRequired(pub String);

fn pow_required(detail: String) -> PowRequired {
    PowRequired(detail)
}

/// Leading zero bits of `digest`.
pub fn leading_zero_bits(digest: &[u8]) -> u32 {
    let mut n = 0;
    for b in digest {
        if *b == 0 {
            n += 8;
        } else {
            n += b.leading_zeros();
            break;
        }
    }
    n
}

/// Solves `challenge` at `difficulty` (tests, and the measure of what a browser does).
pub fn solve(challenge: &str, difficulty: u8) -> String {
    (0u64..)
        .map(|n| n.to_string())
        .find(|nonce| {
            let d = Sha256::digest(format!("{challenge}:{nonce}").as_bytes());
            leading_zero_bits(&d) >= u32::from(difficulty)
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate() -> PowGate {
        PowGate::new(b"secret", Duration::from_secs(60), None)
    }

    fn proof(c: &Challenge) -> String {
        format!("{}:{}", c.challenge, solve(&c.challenge, c.difficulty))
    }

    #[test]
    fn leading_zero_bits_counts_across_bytes() {
        assert_eq!(leading_zero_bits(&[0xff]), 0);
        assert_eq!(leading_zero_bits(&[0x0f]), 4);
        assert_eq!(leading_zero_bits(&[0, 0, 0x01]), 23);
        assert_eq!(leading_zero_bits(&[0, 0]), 16);
    }

    #[tokio::test]
    async fn a_solved_challenge_enters_once() {
        let g = gate();
        let now = Utc::now();
        let c = g.challenge(ConcertId(1), UserId(2), 8, now);
        let x = proof(&c);
        assert!(
            g.check(Some(&x), ConcertId(1), UserId(2), 8, now)
                .await
                .is_ok()
        );
        let again = g.check(Some(&x), ConcertId(1), UserId(2), 8, now).await;
        assert!(again.unwrap_err().0.contains("already used"));
    }

    #[tokio::test]
    async fn every_wrong_proof_is_a_403_pow_required() {
        let g = gate();
        let now = Utc::now();
        let c = g.challenge(ConcertId(1), UserId(2), 8, now);
        let good = proof(&c);
        let weak = (0u64..)
            .map(|n| format!("{}:{n}", c.challenge))
            .find(|x| leading_zero_bits(&Sha256::digest(x.as_bytes())) < 8)
            .unwrap_or_default();
        let forged = good.replacen('1', "2", 1);
        let later = now + chrono::Duration::seconds(61);
        // The header, concert, user and time, and the reason the answer must give.
        type Case<'a> = (Option<&'a str>, ConcertId, UserId, DateTime<Utc>, &'a str);
        let cases: [Case; 7] = [
            (None, ConcertId(1), UserId(2), now, "X-Pow is missing"),
            (
                Some("garbage"),
                ConcertId(1),
                UserId(2),
                now,
                "is not <challenge>:<nonce>",
            ),
            (
                Some(&weak),
                ConcertId(1),
                UserId(2),
                now,
                "not strong enough",
            ),
            (
                Some(&forged),
                ConcertId(1),
                UserId(2),
                now,
                "not a challenge of this service",
            ),
            (
                Some(&good),
                ConcertId(1),
                UserId(3),
                now,
                "another user or concert",
            ),
            (
                Some(&good),
                ConcertId(9),
                UserId(2),
                now,
                "another user or concert",
            ),
            (Some(&good), ConcertId(1), UserId(2), later, "expired"),
        ];
        for (header, concert, user, at, why) in cases {
            let PowRequired(detail) = g.check(header, concert, user, 8, at).await.unwrap_err();
            assert!(detail.contains(why), "{header:?}: {detail}");
        }
        // Off: nothing asked, nothing checked.
        assert!(g.check(None, ConcertId(1), UserId(2), 0, now).await.is_ok());
    }
}
