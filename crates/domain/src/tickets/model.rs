//! Tickets and check-ins: what a paid order becomes, what a gate answers, what it
//! records.

use std::fmt;

use chrono::{DateTime, Utc};

use super::keys::HolderKey;
use crate::model::{OrderId, ScheduleId, SeatId, UserId};

/// Identifies one ticket: one seat, or one place in a standing area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TicketId(pub i64);

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a ticket lets its holder in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Place {
    Seat(SeatId),
    /// A standing area, by its id.
    Area(i64),
}

/// The first admitting scan of a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstScan {
    pub at: DateTime<Utc>,
    pub gate: String,
}

/// A ticket as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub id: TicketId,
    pub order_id: OrderId,
    pub user_id: UserId,
    pub schedule_id: ScheduleId,
    pub place: Place,
    /// The seat's label, or the standing area's name.
    pub label: String,
    pub category: String,
    /// When the schedule starts.
    pub starts_at: DateTime<Utc>,
    pub issued_at: DateTime<Utc>,
    /// Raised by each re-binding to a new holder key.
    pub generation: u32,
    pub holder: Option<HolderKey>,
    pub admitted: Option<FirstScan>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What a gate answers for one scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckResult {
    Admitted,
    AlreadyRedeemed,
    Revoked,
    NotValidYet,
    Expired,
    Invalid,
    WrongSchedule,
}

impl CheckResult {
    pub const ALL: [CheckResult; 7] = [
        CheckResult::Admitted,
        CheckResult::AlreadyRedeemed,
        CheckResult::Revoked,
        CheckResult::NotValidYet,
        CheckResult::Expired,
        CheckResult::Invalid,
        CheckResult::WrongSchedule,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            CheckResult::Admitted => "admitted",
            CheckResult::AlreadyRedeemed => "already_redeemed",
            CheckResult::Revoked => "revoked",
            CheckResult::NotValidYet => "not_valid_yet",
            CheckResult::Expired => "expired",
            CheckResult::Invalid => "invalid",
            CheckResult::WrongSchedule => "wrong_schedule",
        }
    }

    /// The result named `s` (as written by `as_str`).
    pub fn parse(s: &str) -> Option<CheckResult> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a code is `invalid` (for the scanner's operator and the logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidReason {
    /// Not a ticket code at all (encoding, version, length).
    Format,
    /// Signed by no published key.
    UnknownKey,
    /// The issuer's signature does not match.
    Signature,
    /// The ticket must be shown as a rotating code (a screenshot of its static code).
    RotationRequired,
    /// The holder's signature does not match the key the ticket binds.
    HolderSignature,
    /// The rotating code's window is more than one step from now (a screenshot).
    StaleWindow,
    /// Signed, but no such ticket is on record.
    UnknownTicket,
}

impl InvalidReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            InvalidReason::Format => "format",
            InvalidReason::UnknownKey => "unknown_key",
            InvalidReason::Signature => "signature",
            InvalidReason::RotationRequired => "rotation_required",
            InvalidReason::HolderSignature => "holder_signature",
            InvalidReason::StaleWindow => "stale_window",
            InvalidReason::UnknownTicket => "unknown_ticket",
        }
    }
}

/// One scan as a gate device reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    pub code: String,
    pub gate: String,
    pub device: String,
    /// Unique per scan, chosen by the device: the same nonce twice is one check-in.
    pub nonce: String,
    pub scanned_at: DateTime<Utc>,
    /// What the device answered itself, when it scanned offline.
    pub offline_result: Option<CheckResult>,
}

/// A recorded check-in and the gate's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkin {
    pub id: i64,
    pub nonce: String,
    pub schedule_id: ScheduleId,
    pub ticket_id: Option<TicketId>,
    pub gate: String,
    pub device: String,
    pub scanned_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub result: CheckResult,
    pub reason: Option<InvalidReason>,
    /// For `already_redeemed`: the first admitting scan.
    pub first: Option<FirstScan>,
    /// An offline device admitted a ticket someone else had admitted first.
    pub duplicate: bool,
    pub offline_result: Option<CheckResult>,
    /// This nonce was recorded before: the stored answer, unchanged.
    pub replayed: bool,
}

/// A ticket's seat or area and category, for an `admitted` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmittedTo {
    pub label: String,
    pub category: String,
}

/// What the gate answers: the record and, when admitted, where to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckinOutcome {
    pub checkin: Checkin,
    pub ticket: Option<AdmittedTo>,
}

/// A gate key as stored: the key itself is shown once, only its hash is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateKey {
    pub id: i64,
    pub schedule_id: ScheduleId,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A revocation the gates must learn: codes of the ticket with a generation up to
/// `through` are refused (`u32::MAX`: every code of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub ticket_id: TicketId,
    pub through: u32,
    pub reason: String,
    pub revoked_at: DateTime<Utc>,
}

/// Admitting scans of one gate in one minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateMinute {
    pub gate: String,
    pub minute: DateTime<Utc>,
    pub admitted: u64,
    pub refused: u64,
}

/// The console's view of a schedule's doors.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckinStats {
    pub tickets: u64,
    pub admitted: u64,
    pub not_scanned: u64,
    pub revoked: u64,
    pub per_gate_minute: Vec<GateMinute>,
    pub duplicates: Vec<Checkin>,
}
