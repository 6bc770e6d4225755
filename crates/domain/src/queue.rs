//! The waiting room's vocabulary: tokens, tickets, policies, statistics, and the
//! rules shared by every `Queue` adapter (token format, ETA, token bucket).

use std::fmt;

use chrono::{DateTime, Utc};

use crate::model::{ConcertId, UserId};

/// An opaque, unguessable queue token: `<concert id>.<32 hex digits = 128 random bits>`.
///
/// The concert id prefix lets an adapter find the concert's keys without a lookup; it is
/// not a secret. The random part is what makes a token impossible to guess or forge.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueToken(String);

impl QueueToken {
    /// Makes a fresh token for `concert` from 128 bits of OS-seeded randomness.
    pub fn generate(concert: ConcertId) -> Self {
        let random: u128 = rand::random();
        QueueToken(format!("{}.{:032x}", concert.0, random))
    }

    /// Parses a client-supplied token. Returns `None` when it is not of the token format
    /// (which callers answer like an unknown token).
    pub fn parse(raw: &str) -> Option<Self> {
        let (concert, random) = raw.split_once('.')?;
        let concert_ok = !concert.is_empty()
            && concert.len() <= 19
            && concert.bytes().all(|b| b.is_ascii_digit())
            && concert.parse::<i64>().is_ok();
        let random_ok = random.len() == 32 && random.bytes().all(|b| b.is_ascii_hexdigit());
        (concert_ok && random_ok).then(|| QueueToken(raw.to_ascii_lowercase()))
    }

    /// The concert this token belongs to.
    pub fn concert(&self) -> ConcertId {
        let digits = self.0.split_once('.').map(|(c, _)| c).unwrap_or("0");
        ConcertId(digits.parse().unwrap_or(0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for QueueToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a token stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TicketStatus {
    /// In line; `position` is set.
    Waiting,
    /// Admitted: may book until `active_until`.
    Active,
    /// Left, timed out while waiting, finished, or its active time ran out.
    Expired,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Waiting => "WAITING",
            TicketStatus::Active => "ACTIVE",
            TicketStatus::Expired => "EXPIRED",
        }
    }
}

/// A token's standing in its concert's waiting room.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    pub token: QueueToken,
    pub concert_id: ConcertId,
    pub user_id: UserId,
    pub status: TicketStatus,
    /// 1-based place in line, only while `Waiting`.
    pub position: Option<u64>,
    /// Estimated seconds until admission, only while `Waiting` and the line moves.
    pub eta_seconds: Option<u64>,
    /// When the admission ends, only while `Active`.
    pub active_until: Option<DateTime<Utc>>,
}

impl Ticket {
    /// How many fans are ahead: `position - 1` while waiting.
    pub fn ahead(&self) -> Option<u64> {
        self.position.map(|p| p.saturating_sub(1))
    }
}

/// The result of entering a waiting room.
#[derive(Debug, Clone, PartialEq)]
pub struct Entered {
    pub ticket: Ticket,
    /// True when this call created the place; false when the user already had one.
    pub created: bool,
}

/// How fast and how far a concert's waiting room lets fans through.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueuePolicy {
    /// The most fans active (admitted, not yet expired or finished) at once.
    pub max_active: u64,
    /// Admissions per second (token bucket refill rate; the bucket holds one second's worth).
    pub admit_per_second: u64,
    /// How long an admission lasts.
    pub active_ttl_seconds: u64,
    /// While paused nobody is admitted (waiting fans keep their places).
    pub paused: bool,
}

impl QueuePolicy {
    /// Checks the policy an operator sends. Returns a message naming the bad field.
    pub fn validate(&self) -> Result<(), String> {
        const MAX: u64 = 10_000_000;
        if self.max_active == 0 || self.max_active > MAX {
            return Err(format!("max_active must be between 1 and {MAX}"));
        }
        if self.admit_per_second == 0 || self.admit_per_second > MAX {
            return Err(format!("admit_per_second must be between 1 and {MAX}"));
        }
        if self.active_ttl_seconds == 0 || self.active_ttl_seconds > 86_400 {
            return Err("active_ttl_seconds must be between 1 and 86400".into());
        }
        Ok(())
    }
}

impl Default for QueuePolicy {
    fn default() -> Self {
        QueuePolicy {
            max_active: 1_000,
            admit_per_second: 100,
            active_ttl_seconds: 600,
            paused: false,
        }
    }
}

/// Live figures of one waiting room.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct QueueStats {
    pub waiting: u64,
    pub active: u64,
    pub admitted_total: u64,
    /// Waiting tokens dropped for idleness plus active tokens that ran out.
    pub expired_total: u64,
    /// Measured admissions per second (moving average while fans are waiting).
    pub admit_rate: f64,
}

/// What one admission tick did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TickReport {
    pub admitted: u64,
    pub expired_waiting: u64,
    pub expired_active: u64,
}

/// The time constant of the admission-rate moving average.
pub const RATE_EMA_TAU_SECONDS: f64 = 10.0;

/// Folds one observation into the measured admission rate (exponential moving average
/// over time, so ticks of any length weigh by their duration).
pub fn update_rate_ema(previous: f64, admitted: u64, elapsed_seconds: f64) -> f64 {
    if elapsed_seconds <= 0.0 {
        return previous;
    }
    let instant = admitted as f64 / elapsed_seconds;
    let alpha = 1.0 - (-elapsed_seconds / RATE_EMA_TAU_SECONDS).exp();
    previous + alpha * (instant - previous)
}

/// The honest ETA for the fan at 1-based `position`: the measured rate when there is one,
/// else the configured one; `None` while paused (the line does not move).
pub fn eta_seconds(position: u64, measured_rate: f64, policy: &QueuePolicy) -> Option<u64> {
    if policy.paused {
        return None;
    }
    let rate = if measured_rate >= 0.01 {
        measured_rate
    } else {
        policy.admit_per_second as f64
    };
    if rate <= 0.0 {
        return None;
    }
    Some((position as f64 / rate).ceil() as u64)
}

/// The waiting-room defaults every adapter starts from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueSettings {
    /// Policy of a concert that no operator has configured.
    pub default_policy: QueuePolicy,
    /// A waiting token not polled for this long leaves the line.
    pub idle_timeout_seconds: u64,
    /// Upper bound of idle waiters dropped in one tick (keeps one tick short).
    pub max_expire_per_tick: u64,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            default_policy: QueuePolicy::default(),
            idle_timeout_seconds: 60,
            max_expire_per_tick: 10_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_back_and_name_their_concert() {
        let token = QueueToken::generate(ConcertId(42));
        let parsed = QueueToken::parse(token.as_str()).expect("parses");
        assert_eq!(parsed, token);
        assert_eq!(parsed.concert(), ConcertId(42));
        assert_ne!(QueueToken::generate(ConcertId(42)), token);
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        for bad in [
            "",
            "42",
            "42.",
            ".0123456789abcdef0123456789abcdef",
            "x.0123456789abcdef0123456789abcdef",
            "42.0123456789abcdef0123456789abcde",
            "42.0123456789abcdef0123456789abcdeg",
            "99999999999999999999.0123456789abcdef0123456789abcdef",
        ] {
            assert!(QueueToken::parse(bad).is_none(), "{bad:?} parsed");
        }
    }

    #[test]
    fn eta_uses_measured_rate_then_configured_rate() {
        let policy = QueuePolicy {
            admit_per_second: 10,
            ..QueuePolicy::default()
        };
        assert_eq!(eta_seconds(100, 0.0, &policy), Some(10));
        assert_eq!(eta_seconds(100, 50.0, &policy), Some(2));
        let paused = QueuePolicy {
            paused: true,
            ..policy
        };
        assert_eq!(eta_seconds(100, 50.0, &paused), None);
    }

    #[test]
    fn rate_ema_moves_towards_observed_rate() {
        let mut rate = 0.0;
        for _ in 0..1000 {
            rate = update_rate_ema(rate, 10, 0.1);
        }
        assert!((rate - 100.0).abs() < 1.0, "{rate}");
        assert_eq!(update_rate_ema(5.0, 3, 0.0), 5.0);
    }

    #[test]
    fn policy_validation_names_the_field() {
        let bad = QueuePolicy {
            max_active: 0,
            ..QueuePolicy::default()
        };
        assert!(bad.validate().unwrap_err().contains("max_active"));
        assert!(QueuePolicy::default().validate().is_ok());
    }
}
