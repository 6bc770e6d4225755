//! Request and response bodies of tickets and the gate (`tickets` and `admin` tags), and
//! the gate kit a scanner (or `frontrow gate verify`) reads offline.

use chrono::{DateTime, Utc};
use frontrow_domain::returns::model::{TicketState, TicketStatus};
use frontrow_domain::tickets::model::{
    CheckResult, Checkin, CheckinOutcome, CheckinStats, GateKey, Place, Revocation, Scan,
};
use frontrow_domain::tickets::rules::{WINDOW_SECONDS, WINDOW_STEPS};
use frontrow_domain::tickets::{GateKit, IssuedTicket, Tickets};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use super::returns_dto::TicketStatusView;
use crate::ticketing::jwk;

/// A fan's ticket with its code.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedTicketView {
    pub id: i64,
    pub order_id: i64,
    pub schedule_id: i64,
    /// The seat's id, for a seat.
    pub seat_id: Option<i64>,
    /// The standing area's id, for a standing place.
    pub area_id: Option<i64>,
    /// The seat's label or the standing area's name.
    #[schema(example = "A-12")]
    pub label: String,
    pub category: String,
    pub starts_at: DateTime<Utc>,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    /// The signed code to show as a QR code (base64url). For a holder-bound ticket the
    /// code a rotating code wraps (`rotating`); `null` when the schedule requires
    /// rotating codes and no holder key is bound yet, or the ticket is revoked.
    pub code: Option<String>,
    /// Shown as a rotating code signed by the holder's key every 15 s.
    pub rotating: bool,
    /// The schedule requires rotating codes and no holder key is bound yet.
    pub needs_holder_key: bool,
    pub admitted_at: Option<DateTime<Utc>>,
    pub admitted_gate: Option<String>,
    pub revoked: bool,
    /// What became of the ticket: `valid`, `checked_in`, `returned`, `cancelled` (the
    /// show was cancelled) or `revoked`.
    pub status: TicketStatusView,
    /// It may be returned now (`POST /api/v1/tickets/{id}/return`).
    pub returnable: bool,
    /// The last moment it may be returned (the schedule's start minus its return
    /// cutoff); `null` once it cannot be returned any more for another reason than time.
    pub return_until: Option<DateTime<Utc>>,
}

impl IssuedTicketView {
    /// The view of `t`; `state` as the returns use case reads it (without one, the
    /// status the ticket itself tells and no return).
    pub fn new(t: IssuedTicket, tickets: &Tickets, state: Option<TicketState>) -> Self {
        let state = state.unwrap_or(TicketState {
            status: if t.ticket.revoked_at.is_some() {
                TicketStatus::Revoked
            } else if t.ticket.admitted.is_some() {
                TicketStatus::CheckedIn
            } else {
                TicketStatus::Valid
            },
            returnable: false,
            return_until: None,
        });
        let c = tickets.claims_of(&t.ticket);
        let (seat_id, area_id) = match t.ticket.place {
            Place::Seat(s) => (Some(s.0), None),
            Place::Area(a) => (None, Some(a)),
        };
        let revoked = t.ticket.revoked_at.is_some();
        IssuedTicketView {
            id: t.ticket.id.0,
            order_id: t.ticket.order_id.0,
            schedule_id: t.ticket.schedule_id.0,
            seat_id,
            area_id,
            label: t.ticket.label,
            category: t.ticket.category,
            starts_at: t.ticket.starts_at,
            valid_from: DateTime::from_timestamp(c.valid_from, 0).unwrap_or_default(),
            valid_until: DateTime::from_timestamp(c.valid_until, 0).unwrap_or_default(),
            needs_holder_key: t.code.is_none() && !revoked,
            code: t.code,
            rotating: t.rotating,
            admitted_at: t.ticket.admitted.as_ref().map(|a| a.at),
            admitted_gate: t.ticket.admitted.map(|a| a.gate),
            revoked,
            status: state.status.into(),
            returnable: state.returnable,
            return_until: state.return_until,
        }
    }
}

/// The fan's device key that signs the ticket's rotating codes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HolderKeyBody {
    /// A P-256 public key, SEC1 (65 bytes uncompressed as WebCrypto's `raw` export, or
    /// 33 compressed), base64url.
    #[schema(min_length = 44, max_length = 90)]
    pub public_key: String,
}

/// One scan at a gate.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckinBody {
    /// The scanned text (a ticket code, static or rotating).
    #[schema(min_length = 1, max_length = 512)]
    pub code: String,
    /// The gate's name, 1 to 64 characters.
    #[schema(min_length = 1, max_length = 64, example = "North 3")]
    pub gate: String,
    /// The scanning device, 1 to 64 characters.
    #[schema(min_length = 1, max_length = 64)]
    pub device: String,
    /// Unique per scan (a UUID): the same nonce twice records one check-in.
    #[schema(min_length = 1, max_length = 64)]
    pub nonce: String,
    /// When the device scanned it.
    pub scanned_at: DateTime<Utc>,
}

impl From<CheckinBody> for Scan {
    fn from(b: CheckinBody) -> Self {
        Scan {
            code: b.code,
            gate: b.gate,
            device: b.device,
            nonce: b.nonce,
            scanned_at: b.scanned_at,
            offline_result: None,
        }
    }
}

/// A gate's answer.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CheckResultView {
    /// Let in (`label`, `category` say where to).
    Admitted,
    /// Admitted before: `first_scan_at` and `first_gate` say when and where.
    AlreadyRedeemed,
    /// The ticket was returned, its order cancelled, or it moved to another device.
    Revoked,
    NotValidYet,
    Expired,
    /// Not a genuine code (`reason` says why).
    Invalid,
    /// A genuine ticket of another schedule.
    WrongSchedule,
}

impl From<CheckResult> for CheckResultView {
    fn from(r: CheckResult) -> Self {
        match r {
            CheckResult::Admitted => CheckResultView::Admitted,
            CheckResult::AlreadyRedeemed => CheckResultView::AlreadyRedeemed,
            CheckResult::Revoked => CheckResultView::Revoked,
            CheckResult::NotValidYet => CheckResultView::NotValidYet,
            CheckResult::Expired => CheckResultView::Expired,
            CheckResult::Invalid => CheckResultView::Invalid,
            CheckResult::WrongSchedule => CheckResultView::WrongSchedule,
        }
    }
}

impl From<CheckResultView> for CheckResult {
    fn from(r: CheckResultView) -> Self {
        match r {
            CheckResultView::Admitted => CheckResult::Admitted,
            CheckResultView::AlreadyRedeemed => CheckResult::AlreadyRedeemed,
            CheckResultView::Revoked => CheckResult::Revoked,
            CheckResultView::NotValidYet => CheckResult::NotValidYet,
            CheckResultView::Expired => CheckResult::Expired,
            CheckResultView::Invalid => CheckResult::Invalid,
            CheckResultView::WrongSchedule => CheckResult::WrongSchedule,
        }
    }
}

/// The answer to one scan, and its record.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckinView {
    pub result: CheckResultView,
    /// Why a code is `invalid`: `format`, `unknown_key`, `signature`,
    /// `rotation_required`, `holder_signature`, `stale_window`, `unknown_ticket`.
    pub reason: Option<String>,
    pub ticket_id: Option<i64>,
    /// For `admitted`: the seat's label or the standing area's name.
    pub label: Option<String>,
    /// For `admitted`: the ticket's category.
    pub category: Option<String>,
    /// For `already_redeemed`: when the first admitting scan happened.
    pub first_scan_at: Option<DateTime<Utc>>,
    /// For `already_redeemed`: the gate of the first admitting scan.
    pub first_gate: Option<String>,
    pub checkin_id: i64,
    pub nonce: String,
    pub gate: String,
    pub device: String,
    pub scanned_at: DateTime<Utc>,
    /// An offline device admitted a ticket admitted before elsewhere (recorded, flagged).
    pub duplicate: bool,
    /// What the device answered offline, for uploaded scans.
    pub offline_result: Option<CheckResultView>,
    /// This nonce was recorded before: its stored answer.
    pub replayed: bool,
}

impl From<Checkin> for CheckinView {
    fn from(c: Checkin) -> Self {
        CheckinView {
            result: c.result.into(),
            reason: c.reason.map(|r| r.as_str().to_owned()),
            ticket_id: c.ticket_id.map(|t| t.0),
            label: None,
            category: None,
            first_scan_at: c.first.as_ref().map(|f| f.at),
            first_gate: c.first.map(|f| f.gate),
            checkin_id: c.id,
            nonce: c.nonce,
            gate: c.gate,
            device: c.device,
            scanned_at: c.scanned_at,
            duplicate: c.duplicate,
            offline_result: c.offline_result.map(Into::into),
            replayed: c.replayed,
        }
    }
}

impl From<CheckinOutcome> for CheckinView {
    fn from(o: CheckinOutcome) -> Self {
        let mut v = CheckinView::from(o.checkin);
        if let Some(t) = o.ticket {
            v.label = Some(t.label);
            v.category = Some(t.category);
        }
        v
    }
}

/// One scan of an offline device, uploaded later.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchScanBody {
    #[schema(min_length = 1, max_length = 512)]
    pub code: String,
    #[schema(min_length = 1, max_length = 64)]
    pub gate: String,
    #[schema(min_length = 1, max_length = 64)]
    pub device: String,
    #[schema(min_length = 1, max_length = 64)]
    pub nonce: String,
    pub scanned_at: DateTime<Utc>,
    /// What the device answered offline.
    pub offline_result: Option<CheckResultView>,
}

/// Scans of offline devices, uploaded when back online.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    /// 1 to 250 scans, recorded in order; nonces recorded before answer their record.
    /// (250 scans of the longest fields fit the 256 KiB body limit.)
    #[schema(min_items = 1, max_items = 250)]
    pub scans: Vec<BatchScanBody>,
}

impl BatchBody {
    pub fn scans(self) -> Vec<Scan> {
        self.scans
            .into_iter()
            .map(|b| Scan {
                code: b.code,
                gate: b.gate,
                device: b.device,
                nonce: b.nonce,
                scanned_at: b.scanned_at,
                offline_result: b.offline_result.map(Into::into),
            })
            .collect()
    }
}

/// The answers to a batch, in its order.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchView {
    pub results: Vec<CheckinView>,
    /// How many were recorded by this call (not replays).
    pub recorded: usize,
    /// How many of them were flagged as duplicates.
    pub duplicates: usize,
}

/// An entry of the revocation list.
#[derive(Debug, Serialize, Deserialize, ToSchema, Clone)]
pub struct RevocationView {
    pub ticket_id: i64,
    /// Codes of this ticket with a generation up to this are refused (4294967295: all).
    pub through: u32,
    pub reason: String,
    pub revoked_at: DateTime<Utc>,
}

impl From<Revocation> for RevocationView {
    fn from(r: Revocation) -> Self {
        RevocationView {
            ticket_id: r.ticket_id.0,
            through: r.through,
            reason: r.reason,
            revoked_at: r.revoked_at,
        }
    }
}

/// The validity rules a scanner applies.
#[derive(Debug, Serialize, Deserialize, ToSchema, Clone)]
pub struct KitRulesView {
    /// A rotating code's window, in seconds.
    pub window_seconds: i64,
    /// Windows a rotating code may be off by.
    pub window_steps: u64,
    /// Tolerance on the validity window for the scanner's clock.
    pub clock_skew_seconds: i64,
}

/// What a scanner needs to verify a schedule's codes with no network.
#[derive(Debug, Serialize, Deserialize, ToSchema, Clone)]
pub struct GateKitView {
    pub schedule_id: i64,
    /// Pass this as `since` to fetch only what changed.
    pub generated_at: DateTime<Utc>,
    /// Only revocations changed since `since` (merge them into the previous list).
    pub incremental: bool,
    /// Issuing keys (JWK, OKP/Ed25519).
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<serde_json::Value>,
    pub revocations: Vec<RevocationView>,
    pub rules: KitRulesView,
}

impl From<GateKit> for GateKitView {
    fn from(k: GateKit) -> Self {
        GateKitView {
            schedule_id: k.schedule_id.0,
            generated_at: k.generated_at,
            incremental: k.incremental,
            keys: k.keys.iter().map(jwk).collect(),
            revocations: k.revocations.into_iter().map(Into::into).collect(),
            rules: KitRulesView {
                window_seconds: WINDOW_SECONDS,
                window_steps: WINDOW_STEPS,
                clock_skew_seconds: k.clock_skew.num_seconds(),
            },
        }
    }
}

/// `?since=` of the gate kit.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct KitQuery {
    /// A previous kit's `generated_at`: only revocations changed since then.
    pub since: Option<DateTime<Utc>>,
}

/// A new gate key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GateKeyBody {
    /// Who holds it (a gate, a team), 1 to 64 characters.
    #[schema(min_length = 1, max_length = 64, example = "North gates")]
    pub label: String,
}

/// A gate key (the key itself only in the answer that created it).
#[derive(Debug, Serialize, ToSchema)]
pub struct GateKeyView {
    pub id: i64,
    pub schedule_id: i64,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The key, for the `X-Gate-Key` header: shown once, stored only as a hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl GateKeyView {
    pub fn new(k: GateKey, key: Option<String>) -> Self {
        GateKeyView {
            id: k.id,
            schedule_id: k.schedule_id.0,
            label: k.label,
            created_at: k.created_at,
            revoked_at: k.revoked_at,
            key,
        }
    }
}

/// Admitting and refused scans of one gate in one minute.
#[derive(Debug, Serialize, ToSchema)]
pub struct GateMinuteView {
    pub gate: String,
    pub minute: DateTime<Utc>,
    pub admitted: u64,
    pub refused: u64,
}

/// The doors of a schedule, for the console.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckinStatsView {
    pub tickets: u64,
    pub admitted: u64,
    /// Neither admitted nor revoked.
    pub not_scanned: u64,
    pub revoked: u64,
    pub per_gate_minute: Vec<GateMinuteView>,
    /// Offline admissions of tickets admitted before elsewhere (at most 1,000).
    pub duplicates: Vec<CheckinView>,
}

impl From<CheckinStats> for CheckinStatsView {
    fn from(s: CheckinStats) -> Self {
        CheckinStatsView {
            tickets: s.tickets,
            admitted: s.admitted,
            not_scanned: s.not_scanned,
            revoked: s.revoked,
            per_gate_minute: s
                .per_gate_minute
                .into_iter()
                .map(|m| GateMinuteView {
                    gate: m.gate,
                    minute: m.minute,
                    admitted: m.admitted,
                    refused: m.refused,
                })
                .collect(),
            duplicates: s.duplicates.into_iter().map(Into::into).collect(),
        }
    }
}

/// Why tickets are revoked.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    /// 1 to 64 characters, e.g. `returned`.
    #[schema(min_length = 1, max_length = 64, example = "returned")]
    pub reason: String,
}

/// Tickets revoked by a call.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedView {
    pub revoked: Vec<i64>,
}

/// Whether a schedule's tickets must be shown as rotating codes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketPolicyBody {
    pub rotating_codes: bool,
}
