//! Offline verification rate of the gate, per core: one thread checks genuine and
//! mutated codes with the domain's rules and a revocation list, then a device's local
//! redemption — all codes at once (`rules::precheck_many`: batch verification, as
//! `frontrow gate verify` does) and one by one (`rules::precheck`) — and, in the same
//! run, the floor of one-by-one checking: the bare Ed25519 `verify_strict` of the same
//! codes' signed bytes. Prints one JSON object.
//!
//! ```text
//! cargo run --release -p frontrow-crowd --bin gate_offline -- [codes] [mutated per mille]
//! ```
//!
//! `mutated per mille` (default 100: every tenth code) is the share of codes with one character
//! changed.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use chrono::{Duration, Utc};
use frontrow_domain::model::{ScheduleId, SeatId};
use frontrow_domain::tickets::code::{self, Claims};
use frontrow_domain::tickets::keys::{KeyId, KeySet, TicketSigner};
use frontrow_domain::tickets::model::{Place, TicketId};
use frontrow_domain::tickets::rules::{self, Gate, Precheck};

/// Admitted codes: admissible, and not admitted before on this device.
fn redeem(prechecks: impl Iterator<Item = Precheck>, n: usize) -> usize {
    let mut seen: HashSet<TicketId> = HashSet::with_capacity(n);
    prechecks
        .filter(|p| matches!(p, Precheck::Admissible(c) if seen.insert(c.ticket)))
        .count()
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(60_000);
    let per_mille: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(100);
    anyhow::ensure!(per_mille <= 1000, "mutated ‰ is at most 1000");
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
    // Mutated codes spread evenly: code i is mutated when the running share steps up.
    let mutated = |i: usize| (i + 1) * per_mille / 1000 != i * per_mille / 1000;
    let scanned: Vec<String> = genuine
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if mutated(i) {
                let mut b = c.clone().into_bytes();
                let p = (i * 13) % b.len();
                b[p] = if b[p] == b'A' { b'B' } else { b'A' };
                String::from_utf8(b).unwrap_or_default()
            } else {
                c.clone()
            }
        })
        .collect();
    // A revocation list of 1 % of the tickets.
    let revoked: HashMap<TicketId, u32> = (0..n / 100)
        .map(|i| {
            (
                TicketId(i64::try_from(i * 100 + 1).unwrap_or(0) + 1_000_000),
                u32::MAX,
            )
        })
        .collect();
    let expected = (0..n)
        .filter(|&i| !mutated(i) && (i % 100 != 1 || i / 100 >= n / 100))
        .count();

    // Floor: the signature check alone, one by one, on pre-decoded bytes.
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

    let gate = Gate {
        keys: &keys,
        schedule: ScheduleId(77),
        now,
        skew: Duration::minutes(2),
    };
    let revoked_through = |id| revoked.get(&id).copied();
    // The gate, one code at a time: parse, verify, rules, list, local redemption.
    let t = Instant::now();
    let single_admitted = redeem(
        scanned
            .iter()
            .map(|c| rules::precheck(c, gate, revoked_through)),
        n,
    );
    let single_s = t.elapsed().as_secs_f64();
    // The gate, all codes at once (signatures in batches), as `frontrow gate verify`.
    let t = Instant::now();
    let batch_admitted = redeem(
        rules::precheck_many(&scanned, gate, revoked_through).into_iter(),
        n,
    );
    let batch_s = t.elapsed().as_secs_f64();

    let rate = |s: f64| (scanned.len() as f64 / s).round();
    println!(
        "{}",
        serde_json::json!({
            "codes": n,
            "mutated_per_mille": per_mille,
            "code_chars": genuine.first().map_or(0, String::len),
            "floor_verify_strict_per_s": (decoded.len() as f64 / floor_s).round(),
            "floor_ok": floor_ok,
            "gate_codes_per_s": rate(batch_s),
            "gate_single_codes_per_s": rate(single_s),
            "gate_admitted": batch_admitted,
            "gate_single_admitted": single_admitted,
            "gate_admitted_expected": expected,
            "gate_vs_floor": ((floor_s / batch_s) * 1000.0).round() / 1000.0,
        })
    );
    anyhow::ensure!(
        batch_admitted == expected && single_admitted == expected,
        "admitted {batch_admitted} at once and {single_admitted} one by one, expected {expected}"
    );
    Ok(())
}
