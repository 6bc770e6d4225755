//! The waiting room's vocabulary: tokens, tickets, policies, statistics, and the
//! rules shared by every `Queue` adapter (token format, ETA, token bucket).

use std::fmt;

use chrono::{DateTime, Utc};

use crate::model::{ConcertId, UserId};

/// The key that signs queue tokens. Every app instance of one deployment must share it
/// (it is derived from the access-token secret by default), so any instance can check
/// any token without a lookup.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenKey([u8; 32]);

impl TokenKey {
    /// A key derived from a secret (any length) with HMAC-SHA256 under a fixed label, so
    /// the same secret can serve other purposes without the keys being related.
    pub fn derive(secret: &[u8]) -> Self {
        TokenKey(hmac_sha256(secret, b"frontrow queue token key v1"))
    }

    /// The key of one incarnation of one concert's line: an adapter whose line can be
    /// lost and started over (a Redis that lost its data) signs with it, so tokens of
    /// the lost line, whose places are numbered again from 1, no longer verify.
    pub fn for_line(&self, concert: ConcertId, epoch: u64) -> Self {
        TokenKey(hmac_sha256(
            &self.0,
            format!("line {} {epoch}", concert.0).as_bytes(),
        ))
    }

    /// A signer keyed once, for issuing many tokens in a row (a draw re-derives every
    /// entrant's token): the same tokens as [`QueueToken::issue`], without setting up
    /// the key each time.
    pub fn signer(&self) -> TokenSigner {
        use hmac::Mac;
        TokenSigner(
            <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.0)
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length")),
        )
    }
}

/// See [`TokenKey::signer`].
#[derive(Clone)]
pub struct TokenSigner(hmac::Hmac<sha2::Sha256>);

impl TokenSigner {
    /// `QueueToken::issue` with this signer's key.
    pub fn issue(&self, concert: ConcertId, seq: u64, user: UserId) -> QueueToken {
        use hmac::Mac;
        let body = format!("{}.{}.{}", concert.0, seq, user.0);
        let mut mac = self.0.clone();
        mac.update(body.as_bytes());
        let tag = mac.finalize().into_bytes();
        let raw = format!("{body}.{}", hex::encode(&tag[..16]));
        QueueToken {
            raw,
            concert,
            seq,
            user,
        }
    }

    /// Whether this signer's key signed `token` (a parsed one: [`QueueToken::verify`]
    /// checks a raw one). The tag is compared in constant time. A signer kept per line
    /// checks a poll with two SHA-256 blocks, without setting up the key again.
    pub fn signed(&self, token: &QueueToken) -> bool {
        use hmac::Mac;
        let Some((body, tag)) = token.raw.rsplit_once('.') else {
            return false;
        };
        let mut tag_bytes = [0u8; 16];
        if hex::decode_to_slice(tag, &mut tag_bytes).is_err() {
            return false;
        }
        let mut mac = self.0.clone();
        mac.update(body.as_bytes());
        mac.verify_truncated_left(&tag_bytes).is_ok()
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    // HMAC accepts keys of any length: `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// A self-describing, signed queue token: `<concert>.<seq>.<user>.<mac>`.
///
/// `seq` is the fan's place in the order of entry (1, 2, … per concert; a new entry
/// after an expiry gets a new number), `mac` the first 128 bits of HMAC-SHA256 over the
/// rest under the deployment's [`TokenKey`], in hex. Any instance can check a token and
/// read the concert, the place and the user from it without a lookup; nobody without
/// the key can make one. It is not secret from its holder.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueToken {
    raw: String,
    concert: ConcertId,
    seq: u64,
    user: UserId,
}

impl QueueToken {
    /// Signs the token of entry number `seq` of `user` in `concert`'s line.
    pub fn issue(key: &TokenKey, concert: ConcertId, seq: u64, user: UserId) -> Self {
        key.signer().issue(concert, seq, user)
    }

    /// Parses a client-supplied token and checks its signature. Returns `None` when it
    /// is not of the token format or was not signed with `key` (which callers answer like
    /// an unknown token).
    pub fn verify(key: &TokenKey, raw: &str) -> Option<Self> {
        let token = Self::parse_unchecked(raw)?;
        key.signer().signed(&token).then_some(token)
    }

    /// Reads the fields without checking the signature (for adapters re-reading tokens
    /// they stored themselves).
    pub fn parse_unchecked(raw: &str) -> Option<Self> {
        let mut parts = raw.split('.');
        let (concert, seq, user, mac) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || mac.len() != 32 || !mac.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return None;
        }
        let number = |s: &str| -> Option<i64> {
            if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        };
        let concert = ConcertId(number(concert)?);
        let seq = u64::try_from(number(seq)?).ok().filter(|s| *s > 0)?;
        let user = UserId(number(user)?);
        Some(QueueToken {
            raw: raw.to_ascii_lowercase(),
            concert,
            seq,
            user,
        })
    }

    /// The concert this token belongs to.
    pub fn concert(&self) -> ConcertId {
        self.concert
    }

    /// The fan's entry number in the concert's line.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The fan the token was issued to.
    pub fn user(&self) -> UserId {
        self.user
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }
}

impl fmt::Display for QueueToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
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
    /// In the pre-queue: the sale has not opened yet; no position until the draw.
    PreQueue,
    /// The concert sold out: the line is closed (waiting and pre-queued fans, and new
    /// entrants, read this).
    SoldOut,
    /// The line closed for another reason (the operator closed it, or the concert
    /// started): waiting and pre-queued fans read this.
    Closed,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Waiting => "WAITING",
            TicketStatus::Active => "ACTIVE",
            TicketStatus::Expired => "EXPIRED",
            TicketStatus::PreQueue => "PRE_QUEUE",
            TicketStatus::SoldOut => "SOLD_OUT",
            TicketStatus::Closed => "CLOSED",
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
    /// When the sale opens, only while `PreQueue`.
    pub opens_at: Option<DateTime<Utc>>,
    /// What is left to buy, when the adapter's last admission step knew it.
    pub inventory: Option<Inventory>,
    /// The range around `eta_seconds` the measured rate's spread gives.
    pub eta_range: Option<(u64, u64)>,
}

impl Ticket {
    /// The ticket of `token` with nothing known yet: expired, no position, no end.
    pub fn expired(token: &QueueToken) -> Self {
        Ticket {
            token: token.clone(),
            concert_id: token.concert(),
            user_id: token.user(),
            status: TicketStatus::Expired,
            position: None,
            eta_seconds: None,
            active_until: None,
            opens_at: None,
            inventory: None,
            eta_range: None,
        }
    }

    /// Applies what the line's state says on top of the fan's own standing: a closed
    /// line turns waiting and pre-queued fans `SoldOut`; the inventory is attached.
    pub fn with_inventory(mut self, inventory: Option<Inventory>) -> Self {
        self.inventory = inventory;
        if inventory == Some(Inventory::SoldOut)
            && matches!(self.status, TicketStatus::Waiting | TicketStatus::PreQueue)
        {
            self.status = TicketStatus::SoldOut;
            self.position = None;
            self.eta_seconds = None;
            self.eta_range = None;
            self.opens_at = None;
        }
        self
    }

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
    /// When the sale opens: before it, entering puts fans in the pre-queue, and at it
    /// they are drawn into a random order ahead of later arrivals. `None`: open now.
    pub sale_opens_at: Option<DateTime<Utc>>,
    /// Fans admitted per free seat (some admitted fans buy nothing): admission stops
    /// when `free seats × admit_per_seat` fans without a hold are active.
    pub admit_per_seat: f64,
    /// Proof-of-work asked of each enter: leading zero bits of SHA-256 (0 = none).
    pub pow_difficulty: u8,
}

/// The highest proof-of-work difficulty a policy may ask (2^32 hashes on average).
pub const MAX_POW_DIFFICULTY: u8 = 32;

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
        if !(1.0..=MAX_ADMIT_PER_SEAT).contains(&self.admit_per_seat) {
            return Err(format!(
                "admit_per_seat must be between 1 and {MAX_ADMIT_PER_SEAT}"
            ));
        }
        if self.pow_difficulty > MAX_POW_DIFFICULTY {
            return Err(format!(
                "pow_difficulty must be between 0 and {MAX_POW_DIFFICULTY}"
            ));
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
            sale_opens_at: None,
            admit_per_seat: DEFAULT_ADMIT_PER_SEAT,
            pow_difficulty: 0,
        }
    }
}

/// The default of [`QueuePolicy::admit_per_seat`].
pub const DEFAULT_ADMIT_PER_SEAT: f64 = 1.5;
/// The largest [`QueuePolicy::admit_per_seat`]: in effect no inventory bound (load tests
/// of the line whose fans never buy set it).
pub const MAX_ADMIT_PER_SEAT: f64 = 1_000_000.0;

/// What is left to buy across a concert's schedules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Inventory {
    /// Some seat is free.
    Available,
    /// No seat is free but some are held: admission waits for holds to end.
    AllHeld,
    /// Every seat is sold: the line is closed.
    SoldOut,
}

impl Inventory {
    pub fn as_str(self) -> &'static str {
        match self {
            Inventory::Available => "AVAILABLE",
            Inventory::AllHeld => "ALL_HELD",
            Inventory::SoldOut => "SOLD_OUT",
        }
    }

    /// The one-letter code adapters store.
    pub fn code(self) -> &'static str {
        match self {
            Inventory::Available => "A",
            Inventory::AllHeld => "H",
            Inventory::SoldOut => "S",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "A" => Some(Inventory::Available),
            "H" => Some(Inventory::AllHeld),
            "S" => Some(Inventory::SoldOut),
            _ => None,
        }
    }
}

/// A concert's seats as the seat repository counts them at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeatCounts {
    /// Seats neither sold nor held (an expired hold counts as free).
    pub free: u64,
    /// Seats under an unexpired hold.
    pub held: u64,
    /// Distinct users holding at least one seat.
    pub holders: u64,
}

/// The inventory bound of one admission step: at most `seats` fans active without a
/// hold (the tick counts active fans and subtracts `holders`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionCap {
    /// `floor(free seats × admit_per_seat)`.
    pub seats: u64,
    /// Fans holding a seat (they are active but no longer compete for the free ones).
    pub holders: u64,
    pub inventory: Inventory,
}

impl AdmissionCap {
    /// The cap for `counts` under `policy`.
    pub fn new(counts: SeatCounts, policy: &QueuePolicy) -> Self {
        let inventory = match (counts.free, counts.held) {
            (0, 0) => Inventory::SoldOut,
            (0, _) => Inventory::AllHeld,
            _ => Inventory::Available,
        };
        AdmissionCap {
            seats: (counts.free as f64 * policy.admit_per_seat).floor() as u64,
            holders: counts.holders,
            inventory,
        }
    }

    /// How many more fans may be admitted while `active` are.
    pub fn room(&self, active: u64) -> u64 {
        let without_hold = active.saturating_sub(self.holders);
        self.seats.saturating_sub(without_hold)
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
    /// The line's life as the tick found it.
    pub life: crate::lifecycle::LineLife,
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

/// The range an ETA may fall in: the rate plus or minus twice its measured standard
/// deviation (at least 10 % of it), the slow end never below a quarter of the rate.
/// `None` while paused.
pub fn eta_range(
    position: u64,
    measured_rate: f64,
    rate_sd: f64,
    policy: &QueuePolicy,
) -> Option<(u64, u64)> {
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
    let spread = (2.0 * rate_sd.max(0.0)).max(0.1 * rate);
    let fast = rate + spread;
    let slow = (rate - spread).max(rate / 4.0);
    Some((
        (position as f64 / fast).floor() as u64,
        (position as f64 / slow).ceil() as u64,
    ))
}

/// Folds one observation into the variance of the admission rate around its moving
/// average (same time constant as [`update_rate_ema`]).
pub fn update_rate_var(previous_var: f64, rate: f64, admitted: u64, elapsed_seconds: f64) -> f64 {
    if elapsed_seconds <= 0.0 {
        return previous_var;
    }
    let instant = admitted as f64 / elapsed_seconds;
    let alpha = 1.0 - (-elapsed_seconds / RATE_EMA_TAU_SECONDS).exp();
    let d = instant - rate;
    previous_var + alpha * (d * d - previous_var)
}

/// Shortest and longest advised pause between two status polls.
pub const MIN_POLL_MS: u64 = 500;
pub const MAX_POLL_MS: u64 = 20_000;

/// How long a fan should wait before polling again at `now`: short near the front (the
/// fan must see its admission quickly), long far back (a million fans far back then cost
/// little), and never more than a quarter of the idle timeout (a live fan is never
/// dropped for idleness).
pub fn poll_after_ms(ticket: &Ticket, idle_timeout_seconds: u64, now: DateTime<Utc>) -> u64 {
    let ceiling = (idle_timeout_seconds.saturating_mul(1000) / 4).clamp(MIN_POLL_MS, MAX_POLL_MS);
    match (ticket.status, ticket.eta_seconds) {
        // A quarter of the time left, so the fan checks about four times on the way.
        (TicketStatus::Waiting, Some(eta)) => (eta.saturating_mul(250)).clamp(MIN_POLL_MS, ceiling),
        // Paused: the line does not move; check back at a relaxed pace.
        (TicketStatus::Waiting, None) => ceiling.min(5_000),
        // Before the opening: until it, then promptly (the draw places the fan).
        (TicketStatus::PreQueue, _) => match ticket.opens_at {
            Some(at) => {
                let left = (at - now).num_milliseconds().max(0) as u64;
                (left / 2).clamp(MIN_POLL_MS, ceiling)
            }
            None => MIN_POLL_MS,
        },
        // Active or expired: nothing will change by itself soon.
        _ => ceiling,
    }
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
    /// Signs and checks queue tokens; shared by every instance of a deployment.
    pub token_key: TokenKey,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            default_policy: QueuePolicy::default(),
            idle_timeout_seconds: 60,
            max_expire_per_tick: 10_000,
            token_key: TokenKey::derive(b"frontrow-dev-secret-change-me"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> TokenKey {
        TokenKey::derive(b"test secret")
    }

    #[test]
    fn issued_tokens_verify_and_describe_themselves() {
        let token = QueueToken::issue(&key(), ConcertId(42), 7, UserId(9));
        let parsed = QueueToken::verify(&key(), token.as_str()).expect("verifies");
        assert_eq!(parsed, token);
        assert_eq!(
            (parsed.concert(), parsed.seq(), parsed.user()),
            (ConcertId(42), 7, UserId(9))
        );
        assert_ne!(
            QueueToken::issue(&key(), ConcertId(42), 8, UserId(9)),
            token
        );
    }

    #[test]
    fn a_signer_issues_the_same_tokens() {
        let signer = key().signer();
        for (seq, user) in [(1, 9), (7, 12), (1_000_000, -3)] {
            assert_eq!(
                signer.issue(ConcertId(42), seq, UserId(user)),
                QueueToken::issue(&key(), ConcertId(42), seq, UserId(user))
            );
        }
    }

    #[test]
    fn forged_or_malformed_tokens_do_not_verify() {
        let real = QueueToken::issue(&key(), ConcertId(42), 7, UserId(9));
        let other_key = TokenKey::derive(b"another secret");
        assert!(QueueToken::verify(&other_key, real.as_str()).is_none());
        let moved = real.as_str().replacen("42.7.", "42.1.", 1);
        assert!(QueueToken::parse_unchecked(&moved).is_some());
        assert!(
            QueueToken::verify(&key(), &moved).is_none(),
            "a changed seq keeps no MAC"
        );
        for bad in [
            "",
            "42",
            "42.1.9",
            "42.1.9.",
            "42.0.9.0123456789abcdef0123456789abcdef",
            "x.1.9.0123456789abcdef0123456789abcdef",
            "42.1.9.0123456789abcdef0123456789abcde",
            "42.1.9.0123456789abcdef0123456789abcdeg",
            "42.1.9.0123456789abcdef0123456789abcdef.1",
            "99999999999999999999.1.9.0123456789abcdef0123456789abcdef",
        ] {
            assert!(
                QueueToken::verify(&key(), bad).is_none(),
                "{bad:?} verified"
            );
        }
    }

    #[test]
    fn a_kept_signer_checks_tokens_like_verify() {
        let signer = key().signer();
        let real = QueueToken::issue(&key(), ConcertId(42), 7, UserId(9));
        assert!(signer.signed(&real));
        // The tag is read case-insensitively, like `verify` does.
        let upper = format!(
            "42.7.9.{}",
            real.as_str()
                .rsplit_once('.')
                .expect("tag")
                .1
                .to_uppercase()
        );
        let upper = QueueToken::verify(&key(), &upper).expect("upper-case tag verifies");
        assert!(signer.signed(&upper));
        // One flipped bit of the tag, or another key: not signed.
        let (body, tag) = real.as_str().rsplit_once('.').expect("tag");
        let flipped = if tag.ends_with('0') { '1' } else { '0' };
        let forged = format!("{body}.{}{flipped}", &tag[..31]);
        let forged = QueueToken::parse_unchecked(&forged).expect("well formed");
        assert!(!signer.signed(&forged));
        assert!(!TokenKey::derive(b"another secret").signer().signed(&real));
    }

    #[test]
    fn poll_cadence_is_short_at_the_front_and_long_far_back() {
        let mut t = Ticket {
            token: QueueToken::issue(&key(), ConcertId(1), 1, UserId(1)),
            concert_id: ConcertId(1),
            user_id: UserId(1),
            status: TicketStatus::Waiting,
            position: Some(1),
            eta_seconds: Some(1),
            active_until: None,
            opens_at: None,
            inventory: None,
            eta_range: None,
        };
        assert_eq!(poll_after_ms(&t, 60, DateTime::UNIX_EPOCH), MIN_POLL_MS);
        t.eta_seconds = Some(10_000);
        assert_eq!(
            poll_after_ms(&t, 60, DateTime::UNIX_EPOCH),
            15_000,
            "a quarter of the idle timeout"
        );
        assert_eq!(poll_after_ms(&t, 600, DateTime::UNIX_EPOCH), MAX_POLL_MS);
        t.eta_seconds = Some(8);
        assert_eq!(poll_after_ms(&t, 60, DateTime::UNIX_EPOCH), 2_000);
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
    fn eta_range_brackets_the_eta_and_widens_with_the_spread() {
        let policy = QueuePolicy::default();
        let (low, high) = eta_range(100, 10.0, 0.0, &policy).expect("range");
        assert!(low <= 10 && high >= 10, "{low}..{high}");
        let (wl, wh) = eta_range(100, 10.0, 3.0, &policy).expect("range");
        assert!(wl < low && wh > high, "{wl}..{wh}");
        let paused = QueuePolicy {
            paused: true,
            ..policy
        };
        assert_eq!(eta_range(100, 10.0, 0.0, &paused), None);
        let mut var = 0.0;
        for i in 0..100 {
            var = update_rate_var(var, 10.0, if i % 2 == 0 { 0 } else { 2 }, 0.1);
        }
        assert!(var > 50.0, "{var}");
    }

    #[test]
    fn the_cap_counts_fans_without_a_hold_against_free_seats() {
        let policy = QueuePolicy::default();
        let cap = AdmissionCap::new(
            SeatCounts {
                free: 50,
                held: 0,
                holders: 0,
            },
            &policy,
        );
        assert_eq!((cap.seats, cap.inventory), (75, Inventory::Available));
        assert_eq!(cap.room(0), 75);
        assert_eq!(cap.room(75), 0);
        let held = AdmissionCap::new(
            SeatCounts {
                free: 0,
                held: 3,
                holders: 2,
            },
            &policy,
        );
        assert_eq!((held.room(2), held.inventory), (0, Inventory::AllHeld));
        let sold = AdmissionCap::new(SeatCounts::default(), &policy);
        assert_eq!(sold.inventory, Inventory::SoldOut);
        for i in [Inventory::Available, Inventory::AllHeld, Inventory::SoldOut] {
            assert_eq!(Inventory::from_code(i.code()), Some(i));
        }
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
        let bad = QueuePolicy {
            admit_per_seat: 0.5,
            ..QueuePolicy::default()
        };
        assert!(bad.validate().unwrap_err().contains("admit_per_seat"));
        assert!(QueuePolicy::default().validate().is_ok());
        let hard = QueuePolicy {
            pow_difficulty: MAX_POW_DIFFICULTY + 1,
            ..QueuePolicy::default()
        };
        assert!(hard.validate().unwrap_err().contains("pow_difficulty"));
    }
}
