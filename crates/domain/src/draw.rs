//! The on-sale draw: at the opening every pre-queued fan is placed in a random order that
//! anyone can check afterwards (commit, then reveal).
//!
//! When the pre-queue is created a secret 32-byte seed is drawn and only its SHA-256
//! (the commitment) is published. At the opening the entrants are ordered by
//! `hex(HMAC-SHA256(key = seed, message = receipt))` ascending, where a fan's receipt is
//! `hex(SHA-256(queue token))` (so the list names nobody); then the seed is revealed.
//! Whoever holds the receipts and the seed recomputes the order ([`verify`]); the
//! commitment proves the seed was fixed before anyone entered.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The algorithm as the draw document states it.
pub const ALGORITHM: &str = "receipt = hex(SHA-256(queue token)); commitment = hex(SHA-256(seed)); \
     order = receipts sorted by hex(HMAC-SHA256(key = seed bytes, message = receipt)) ascending";

/// The secret of one draw.
#[derive(Clone, PartialEq, Eq)]
pub struct Seed([u8; 32]);

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seed(..)")
    }
}

impl Seed {
    /// A fresh seed from the operating system's generator.
    pub fn random() -> Self {
        Seed(rand::random())
    }

    /// Parses 64 hex digits.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let bytes = hex::decode(hex).ok()?;
        Some(Seed(bytes.try_into().ok()?))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// `hex(SHA-256(seed))`, published before the draw.
    pub fn commitment(&self) -> String {
        hex::encode(Sha256::digest(self.0))
    }

    /// The order of `receipts`: indices into it, first drawn first. Ties (equal
    /// receipts, which a correct service never lists) keep their listed order.
    pub fn order(&self, receipts: &[String]) -> Vec<usize> {
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        let mut keys: Vec<([u8; 32], usize)> = vec![([0; 32], 0); receipts.len()];
        // A million entrants are a million HMACs: spread them over the cores.
        for_chunks(&mut keys, |first, chunk| {
            for (j, slot) in chunk.iter_mut().enumerate() {
                let i = first + j;
                let mut mac = keyed.clone();
                mac.update(receipts[i].as_bytes());
                *slot = (mac.finalize().into_bytes().into(), i);
            }
        });
        // Bytes compare as their fixed-length lowercase hex does.
        keys.sort_unstable();
        keys.into_iter().map(|(_, i)| i).collect()
    }
}

/// Runs `work(index of the chunk's first item, chunk)` over `items` split in one chunk
/// per available core (on scoped threads; on one core, in place).
pub fn for_chunks<T: Send>(items: &mut [T], work: impl Fn(usize, &mut [T]) + Sync) {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if cores < 2 || items.len() < 10_000 {
        work(0, items);
        return;
    }
    let size = items.len().div_ceil(cores);
    std::thread::scope(|scope| {
        for (c, chunk) in items.chunks_mut(size).enumerate() {
            let work = &work;
            scope.spawn(move || work(c * size, chunk));
        }
    });
}

/// The places of the pre-queued numbers 1..=`k` once drawn, `perm[n - 1]` for number
/// n: the numbers still in line (`live`, ascending) take places 1..=`live.len()` in
/// `order` (indices into `live`, first drawn first, as [`Seed::order`] gives them); the
/// numbers that left take the places after them in number order (so a gone place never
/// stands between two drawn fans).
pub fn drawn_places(k: u64, live: &[u64], order: &[usize]) -> Vec<u32> {
    let slots = usize::try_from(k).unwrap_or(usize::MAX);
    let mut perm = vec![0u32; slots];
    for (rank, &i) in order.iter().enumerate() {
        if let Some(slot) = live
            .get(i)
            .and_then(|&n| usize::try_from(n.checked_sub(1)?).ok())
            .and_then(|at| perm.get_mut(at))
        {
            *slot = rank as u32 + 1;
        }
    }
    let mut next = order.len() as u32;
    for slot in perm.iter_mut().filter(|p| **p == 0) {
        next += 1;
        *slot = next;
    }
    perm
}

/// A fan's receipt: `hex(SHA-256(token))`.
pub fn receipt(token: &str) -> String {
    hex::encode(receipt_digest(token))
}

/// A fan's receipt as bytes: `SHA-256(token)`.
pub fn receipt_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The public document of a concert's draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draw {
    /// `hex(SHA-256(seed))`, fixed when the pre-queue was created.
    pub commitment: String,
    /// When the sale opens (the draw runs then).
    pub opens_at: DateTime<Utc>,
    /// Fans pre-queued so far; after the draw, the fans drawn.
    pub entrants: u64,
    /// The seed in hex, only once the draw is done.
    pub seed: Option<String>,
}

/// Why a draw does not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DrawMismatch {
    #[error("the draw has not been revealed yet (no seed)")]
    NotRevealed,
    #[error("the seed is not 64 hex digits")]
    BadSeed,
    #[error("SHA-256 of the seed is {actual}, the commitment is {committed}")]
    Commitment { committed: String, actual: String },
    #[error("{listed} receipts listed, the document counts {entrants} entrants")]
    Count { listed: u64, entrants: u64 },
    #[error("the receipts leave the seed's order at number {index} (0-based)")]
    Order { index: usize },
}

/// Checks a revealed draw: the seed matches the commitment, and `receipts` (as listed,
/// first drawn first) are in the order the seed gives them.
///
/// # Errors
/// The first mismatch found.
pub fn verify(draw: &Draw, receipts: &[String]) -> Result<(), DrawMismatch> {
    let hex_seed = draw.seed.as_deref().ok_or(DrawMismatch::NotRevealed)?;
    let seed = Seed::from_hex(hex_seed).ok_or(DrawMismatch::BadSeed)?;
    let actual = seed.commitment();
    if !actual.eq_ignore_ascii_case(&draw.commitment) {
        return Err(DrawMismatch::Commitment {
            committed: draw.commitment.clone(),
            actual,
        });
    }
    if receipts.len() as u64 != draw.entrants {
        return Err(DrawMismatch::Count {
            listed: receipts.len() as u64,
            entrants: draw.entrants,
        });
    }
    let order = seed.order(receipts);
    match order.iter().enumerate().find(|(i, j)| *i != **j) {
        Some((index, _)) => Err(DrawMismatch::Order { index }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drawn(seed: &Seed, n: usize) -> Vec<String> {
        let receipts: Vec<String> = (0..n).map(|i| receipt(&format!("1.{i}.7.x"))).collect();
        seed.order(&receipts)
            .into_iter()
            .map(|i| receipts[i].clone())
            .collect()
    }

    fn doc(seed: &Seed, n: usize) -> Draw {
        Draw {
            commitment: seed.commitment(),
            opens_at: Utc::now(),
            entrants: n as u64,
            seed: Some(seed.to_hex()),
        }
    }

    #[test]
    fn a_revealed_draw_verifies_and_any_change_is_caught() {
        let seed = Seed::random();
        let list = drawn(&seed, 50);
        assert_eq!(verify(&doc(&seed, 50), &list), Ok(()));

        let mut swapped = list.clone();
        swapped.swap(3, 4);
        assert_eq!(
            verify(&doc(&seed, 50), &swapped),
            Err(DrawMismatch::Order { index: 3 })
        );
        let other = Seed::random();
        let mut forged = doc(&seed, 50);
        forged.seed = Some(other.to_hex());
        assert!(matches!(
            verify(&forged, &list),
            Err(DrawMismatch::Commitment { .. })
        ));
        assert!(matches!(
            verify(&doc(&seed, 49), &list),
            Err(DrawMismatch::Count { .. })
        ));
        let mut hidden = doc(&seed, 50);
        hidden.seed = None;
        assert_eq!(verify(&hidden, &list), Err(DrawMismatch::NotRevealed));
        hidden.seed = Some("zz".into());
        assert_eq!(verify(&hidden, &list), Err(DrawMismatch::BadSeed));
    }

    #[test]
    fn drawn_fans_take_the_first_places_and_those_who_left_the_next() {
        // Numbers 1..=5, 2 and 4 left; the seed orders the live ones 5, 1, 3.
        assert_eq!(drawn_places(5, &[1, 3, 5], &[2, 0, 1]), [2, 4, 3, 5, 1]);
        assert_eq!(drawn_places(0, &[], &[]), Vec::<u32>::new());
        assert_eq!(drawn_places(1, &[1], &[0]), [1]);
        assert_eq!(drawn_places(3, &[], &[]), [1, 2, 3], "everyone left");
    }

    #[test]
    fn the_order_is_the_documented_hex_hmac_order() {
        let seed = Seed::from_hex(&"11".repeat(32)).expect("hex");
        let receipts: Vec<String> = ["a", "b", "c", "d"].map(receipt).to_vec();
        let hexes: Vec<String> = receipts
            .iter()
            .map(|r| {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&[0x11; 32]).expect("key");
                mac.update(r.as_bytes());
                hex::encode(mac.finalize().into_bytes())
            })
            .collect();
        let mut by_hex: Vec<usize> = (0..4).collect();
        by_hex.sort_by(|a, b| hexes[*a].cmp(&hexes[*b]));
        assert_eq!(seed.order(&receipts), by_hex);
        assert_eq!(Seed::from_hex(&seed.to_hex()), Some(seed.clone()));

        // Enough entrants to be spread over threads: the same order as one by one.
        let many: Vec<String> = (0..25_000).map(|i| receipt(&i.to_string())).collect();
        let mut one_by_one: Vec<(String, usize)> = many
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&[0x11; 32]).expect("key");
                mac.update(r.as_bytes());
                (hex::encode(mac.finalize().into_bytes()), i)
            })
            .collect();
        one_by_one.sort();
        let want: Vec<usize> = one_by_one.into_iter().map(|(_, i)| i).collect();
        assert_eq!(seed.order(&many), want);
    }
}
