//! Offline verification rate of the gate, per core: one thread checks genuine and
//! mutated codes with the domain's rules (`rules::precheck` with a revocation list, then
//! a device's local redemption), and, in the same run, the floor of that work: the bare
//! Ed25519 `verify_strict` of the same codes' signed bytes. Prints one JSON object.
//!
//!     cargo run --release -p frontrow-crowd --bin gate_offline -- [codes]

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use chrono::{Duration, Utc};
use frontrow_domain::model::{ScheduleId, SeatId};
use frontrow_domain::tickets::code::{self, Claims};
use frontrow_domain::tickets::keys::{KeyId, KeySet, TicketSigner};
use frontrow_domain::tickets::model::{Place, TicketId};
use frontrow_domain::tickets::rules::{self, Gate, Precheck};

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(60_000);
    let now = Utc::now();
    let signer = TicketSigner::from_secret(&[5; 32]);
    let keys = KeySet::new(&[signer.public()]);
    let genuine: Vec<String> = (0..n)
        .map(|i| {
            signer.sign(Claims {
                ticket: TicketId(i64::try_from(i).unwrap_or(0) + 1_000_000),
                schedule: ScheduleId(77),
                place: Place::Seat(SeatId(i64::try_from(i).unwrap_or(0) + 5_000_000)),
                valid_from: (now - Duration::hours(6)).timestamp(),
                valid_until: (now + Duration::hours(12)).timestamp(),
                kid: KeyId([0; 4]),
                generation: 0,
                holder: None,
            })
        })
        .collect();
    // Every tenth code with one character changed.
    let scanned: Vec<String> = genuine
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i % 10 == 0 {
                let mut b = c.clone().into_bytes();
                let p = (i * 13) % b.len();
                b[p] = if b[p] == b'A' { b'B' } else { b'A' };
                String::from_utf8(b).unwrap_or_default()
            } else {
                c.clone()
            }
        })
        .collect();
    // A revocation list of 1 % of the tickets (none of them mutated).
    let revoked: HashMap<TicketId, u32> = (0..n / 100)
        .map(|i| {
            (
                TicketId(i64::try_from(i * 100 + 1).unwrap_or(0) + 1_000_000),
                u32::MAX,
            )
        })
        .collect();

    // Floor: the signature check alone, on pre-decoded bytes.
    let pk = ed25519_dalek::VerifyingKey::from_bytes(&signer.public().key)?;
    let decoded: Vec<(Vec<u8>, ed25519_dalek::Signature)> = genuine
        .iter()
        .filter_map(|c| {
            let s = code::parse(c).ok()?;
            let inner = s.inner();
            Some((
                inner.signed.clone(),
                ed25519_dalek::Signature::from_bytes(&inner.signature),
            ))
        })
        .collect();
    let t = Instant::now();
    let floor_ok = decoded
        .iter()
        .filter(|(m, s)| pk.verify_strict(m, s).is_ok())
        .count();
    let floor_s = t.elapsed().as_secs_f64();

    // The gate: parse, verify, rules, revocation list, local redemption.
    let gate = Gate {
        keys: &keys,
        schedule: ScheduleId(77),
        now,
        skew: Duration::minutes(2),
    };
    let mut seen: HashSet<TicketId> = HashSet::with_capacity(n);
    let mut admitted = 0usize;
    let t = Instant::now();
    for c in &scanned {
        if let Precheck::Admissible(claims) =
            rules::precheck(c, gate, |id| revoked.get(&id).copied())
            && seen.insert(claims.ticket)
        {
            admitted += 1;
        }
    }
    let gate_s = t.elapsed().as_secs_f64();
    // Mutated codes (every tenth) and revoked tickets (index ≡ 1 mod 100) are refused.
    let expected = scanned.len() - scanned.len().div_ceil(10) - revoked.len();
    println!(
        "{}",
        serde_json::json!({
            "codes": n,
            "code_chars": genuine.first().map_or(0, String::len),
            "floor_verify_strict_per_s": (decoded.len() as f64 / floor_s).round(),
            "floor_ok": floor_ok,
            "gate_codes_per_s": (scanned.len() as f64 / gate_s).round(),
            "gate_admitted": admitted,
            "gate_admitted_expected": expected,
            "gate_vs_floor": ((floor_s / gate_s) * 1000.0).round() / 1000.0,
        })
    );
    anyhow::ensure!(
        admitted == expected,
        "admitted {admitted}, expected {expected}"
    );
    Ok(())
}
