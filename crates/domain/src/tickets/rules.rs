//! The gate's rules as pure functions, the same online (the service) and offline (a
//! scanner with a gate kit): one answer per code, decided in a fixed order — the code's
//! form and signatures, the schedule, the revocation list, the validity window, then
//! whether it was admitted before.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::code::{self, Claims, Scanned};
use super::keys::KeySet;
use super::model::{CheckResult, FirstScan, GateMinute, InvalidReason, Ticket, TicketId};
use crate::model::ScheduleId;

/// Length of a rotating code's window.
pub const WINDOW_SECONDS: i64 = 15;
/// How many windows before or after the scanner's own a rotating code may be.
pub const WINDOW_STEPS: u64 = 1;

/// The window `t` falls in.
pub fn window_of(t: DateTime<Utc>) -> u64 {
    u64::try_from(t.timestamp().div_euclid(WINDOW_SECONDS)).unwrap_or(0)
}

/// What the gate checks a code against.
#[derive(Debug, Clone, Copy)]
pub struct Gate<'a> {
    pub keys: &'a KeySet,
    pub schedule: ScheduleId,
    pub now: DateTime<Utc>,
    /// Tolerance on the validity window for scanner clocks.
    pub skew: Duration,
}

/// A code's fate before redemption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precheck {
    /// Genuine, for this schedule, unrevoked and valid now: admitted unless it was
    /// admitted before.
    Admissible(Claims),
    /// Refused, whoever scanned it before.
    Refused {
        result: CheckResult,
        reason: Option<InvalidReason>,
        /// The ticket, when the code is genuine.
        claims: Option<Claims>,
    },
}

impl Precheck {
    fn invalid(reason: InvalidReason) -> Precheck {
        Precheck::Refused {
            result: CheckResult::Invalid,
            reason: Some(reason),
            claims: None,
        }
    }

    /// The ticket the code names, when it is genuine.
    pub fn claims(&self) -> Option<&Claims> {
        match self {
            Precheck::Admissible(c) => Some(c),
            Precheck::Refused { claims, .. } => claims.as_ref(),
        }
    }
}

/// Checks a scanned text up to (not including) redemption. `revoked_through` gives the
/// revocation list's entry for a ticket: codes of generations up to it are refused.
pub fn precheck(
    text: &str,
    gate: Gate<'_>,
    revoked_through: impl Fn(TicketId) -> Option<u32>,
) -> Precheck {
    let Ok(scanned) = code::parse(text) else {
        return Precheck::invalid(InvalidReason::Format);
    };
    let genuine = gate.keys.verifies(scanned.inner());
    precheck_scanned(&scanned, genuine, gate, &revoked_through)
}

/// [`precheck`] of many texts, in order, with the same answers: the issuer's signatures
/// are checked together ([`KeySet::verify_many`]), which is what makes a scanner's
/// backlog (or a benchmark) fast.
pub fn precheck_many<S: AsRef<str>>(
    texts: &[S],
    gate: Gate<'_>,
    revoked_through: impl Fn(TicketId) -> Option<u32>,
) -> Vec<Precheck> {
    let parsed: Vec<Option<Scanned>> = texts.iter().map(|t| code::parse(t.as_ref()).ok()).collect();
    let inners: Vec<&code::StaticCode> = parsed.iter().flatten().map(Scanned::inner).collect();
    let mut genuine = gate.keys.verify_many(&inners).into_iter();
    parsed
        .iter()
        .map(|p| match p {
            None => Precheck::invalid(InvalidReason::Format),
            Some(scanned) => precheck_scanned(
                scanned,
                genuine.next().unwrap_or(false),
                gate,
                &revoked_through,
            ),
        })
        .collect()
}

/// The rest of [`precheck`] once the issuer's signature of `scanned` is known to be
/// `genuine` or not.
fn precheck_scanned(
    scanned: &Scanned,
    genuine: bool,
    gate: Gate<'_>,
    revoked_through: &impl Fn(TicketId) -> Option<u32>,
) -> Precheck {
    let inner = scanned.inner();
    if !genuine {
        let known = gate
            .keys
            .public_keys()
            .iter()
            .any(|k| k.kid == inner.claims.kid);
        return Precheck::invalid(if known {
            InvalidReason::Signature
        } else {
            InvalidReason::UnknownKey
        });
    }
    let claims = &inner.claims;
    match (scanned, &claims.holder) {
        (Scanned::Static(_), None) => {}
        (Scanned::Static(_), Some(_)) => {
            return Precheck::invalid(InvalidReason::RotationRequired);
        }
        (Scanned::Rotating { .. }, None) => {
            return Precheck::invalid(InvalidReason::HolderSignature);
        }
        (
            Scanned::Rotating {
                window, signature, ..
            },
            Some(holder),
        ) => {
            let msg = code::rotating_message(&code::static_bytes(inner), *window);
            if !holder.verifies(&msg, signature) {
                return Precheck::invalid(InvalidReason::HolderSignature);
            }
            if window.abs_diff(window_of(gate.now)) > WINDOW_STEPS {
                return Precheck::invalid(InvalidReason::StaleWindow);
            }
        }
    }
    let refused = |result| Precheck::Refused {
        result,
        reason: None,
        claims: Some(claims.clone()),
    };
    if claims.schedule != gate.schedule {
        return refused(CheckResult::WrongSchedule);
    }
    if revoked_through(claims.ticket).is_some_and(|g| claims.generation <= g) {
        return refused(CheckResult::Revoked);
    }
    let now = gate.now.timestamp();
    let skew = gate.skew.num_seconds();
    if now.saturating_add(skew) < claims.valid_from {
        return refused(CheckResult::NotValidYet);
    }
    if now.saturating_sub(skew) >= claims.valid_until {
        return refused(CheckResult::Expired);
    }
    Precheck::Admissible(claims.clone())
}

/// An admissible code's answer given the ticket's first admitting scan, if any.
pub fn redeem(first: Option<&FirstScan>) -> CheckResult {
    match first {
        None => CheckResult::Admitted,
        Some(_) => CheckResult::AlreadyRedeemed,
    }
}

/// Why the store refused to admit a genuine code of `ticket` (of `generation`), or
/// `None` when it may be admitted now. `None` for `ticket` means no such ticket.
pub fn stored_refusal(
    ticket: Option<&Ticket>,
    generation: u32,
) -> Option<(CheckResult, Option<InvalidReason>)> {
    let Some(t) = ticket else {
        return Some((CheckResult::Invalid, Some(InvalidReason::UnknownTicket)));
    };
    if t.revoked_at.is_some() || generation < t.generation {
        return Some((CheckResult::Revoked, None));
    }
    if generation > t.generation {
        // Signed by us for a generation never issued: a key has leaked or a row is lost.
        return Some((CheckResult::Invalid, Some(InvalidReason::UnknownTicket)));
    }
    t.admitted.as_ref().map(|f| (redeem(Some(f)), None))
}

/// An offline scan that admitted a ticket the service had already admitted: both are
/// kept, this one flagged.
pub fn is_duplicate(offline_result: Option<CheckResult>, result: CheckResult) -> bool {
    offline_result == Some(CheckResult::Admitted) && result == CheckResult::AlreadyRedeemed
}

/// Check-ins per gate and minute (by the device's scan time), sorted by gate then minute.
pub fn per_gate_minute<'a>(
    rows: impl IntoIterator<Item = (&'a str, DateTime<Utc>, CheckResult)>,
) -> Vec<GateMinute> {
    let mut buckets: BTreeMap<(String, i64), (u64, u64)> = BTreeMap::new();
    for (gate, at, result) in rows {
        let minute = at.timestamp().div_euclid(60) * 60;
        let e = buckets.entry((gate.to_owned(), minute)).or_default();
        if result == CheckResult::Admitted {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    buckets
        .into_iter()
        .filter_map(|((gate, minute), (admitted, refused))| {
            Some(GateMinute {
                gate,
                minute: DateTime::from_timestamp(minute, 0)?,
                admitted,
                refused,
            })
        })
        .collect()
}
