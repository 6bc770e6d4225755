//! The JSON shapes of the API (requests and responses), with their OpenAPI schemas.
//! Conversions from domain types live here so handlers stay one-liners.

use chrono::{DateTime, Utc};
use frontrow_domain::model::{
    Concert, ConcertDetail, Money, PaymentReceipt, Reservation, ReservationStatus, ScheduleSummary,
    Seat,
};
use frontrow_domain::queue::{QueuePolicy, QueueStats, Ticket, poll_after_ms};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Display name, 1 to 100 characters.
    #[schema(example = "Ada")]
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserCreated {
    pub id: i64,
    pub name: String,
    /// HS256 JWT for `Authorization: Bearer <token>`.
    pub access_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConcertView {
    pub id: i64,
    pub title: String,
    pub venue: String,
}

impl From<Concert> for ConcertView {
    fn from(c: Concert) -> Self {
        ConcertView {
            id: c.id.0,
            title: c.title,
            venue: c.venue,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleView {
    pub id: i64,
    pub concert_id: i64,
    pub starts_at: DateTime<Utc>,
    pub total_seats: u64,
    pub available_seats: u64,
}

impl From<ScheduleSummary> for ScheduleView {
    fn from(s: ScheduleSummary) -> Self {
        ScheduleView {
            id: s.id.0,
            concert_id: s.concert_id.0,
            starts_at: s.starts_at,
            total_seats: s.total_seats,
            available_seats: s.available_seats,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConcertDetailView {
    pub id: i64,
    pub title: String,
    pub venue: String,
    pub schedules: Vec<ScheduleView>,
}

impl From<ConcertDetail> for ConcertDetailView {
    fn from(d: ConcertDetail) -> Self {
        ConcertDetailView {
            id: d.concert.id.0,
            title: d.concert.title,
            venue: d.concert.venue,
            schedules: d.schedules.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeatView {
    pub id: i64,
    #[schema(example = "A-12")]
    pub label: String,
    /// Minor units.
    pub price: i64,
    #[schema(example = "AVAILABLE")]
    pub status: &'static str,
}

impl From<Seat> for SeatView {
    fn from(s: Seat) -> Self {
        SeatView {
            id: s.id.0,
            label: s.label,
            price: s.price.minor_units(),
            status: s.status.as_str(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewScheduleBody {
    pub starts_at: DateTime<Utc>,
    /// 1 to 100.
    pub rows: u32,
    /// 1 to 500.
    pub seats_per_row: u32,
    /// Price of every seat, minor units.
    pub price: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConcertBody {
    pub title: String,
    pub venue: String,
    pub schedules: Vec<NewScheduleBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldBody {
    pub schedule_id: i64,
    pub seat_id: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReservationView {
    pub id: i64,
    /// `HELD` | `CONFIRMED` | `CANCELLED` | `EXPIRED`.
    #[schema(example = "HELD")]
    pub status: &'static str,
    pub concert_id: i64,
    pub schedule_id: i64,
    pub seat_id: i64,
    pub seat_label: String,
    pub price: i64,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
}

impl ReservationView {
    pub fn at(r: Reservation, now: DateTime<Utc>) -> Self {
        ReservationView {
            id: r.id.0,
            status: r.status_at(now).as_str(),
            concert_id: r.concert_id.0,
            schedule_id: r.schedule_id.0,
            seat_id: r.seat_id.0,
            seat_label: r.seat_label,
            price: r.price.minor_units(),
            created_at: r.created_at,
            expires_at: r.expires_at,
            paid_at: r.paid_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentView {
    pub reservation_id: i64,
    #[schema(example = "CONFIRMED")]
    pub status: &'static str,
    pub amount: i64,
    /// Wallet balance right after this payment.
    pub balance: i64,
    pub paid_at: DateTime<Utc>,
}

impl From<PaymentReceipt> for PaymentView {
    fn from(p: PaymentReceipt) -> Self {
        PaymentView {
            reservation_id: p.reservation_id.0,
            status: ReservationStatus::Confirmed.as_str(),
            amount: p.amount.minor_units(),
            balance: p.balance.minor_units(),
            paid_at: p.paid_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceView {
    /// Minor units.
    pub balance: i64,
}

impl From<Money> for BalanceView {
    fn from(balance: Money) -> Self {
        BalanceView {
            balance: balance.minor_units(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChargeBody {
    /// Minor units, 1 to the configured maximum.
    pub amount: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketView {
    pub token: String,
    /// `WAITING` | `ACTIVE` | `EXPIRED`.
    #[schema(example = "WAITING")]
    pub status: &'static str,
    /// 1-based place in line, only while waiting.
    pub position: Option<u64>,
    /// `position - 1`, only while waiting.
    pub ahead: Option<u64>,
    /// Estimated wait from the measured admission rate.
    pub eta_seconds: Option<u64>,
    /// End of the admission, only while active.
    pub active_until: Option<DateTime<Utc>>,
    /// When to poll again: short near the front, long far back, always well inside
    /// the idle timeout.
    #[schema(example = 2000)]
    pub poll_after_ms: u64,
    /// Only while `ACTIVE`: the admission pass, an ES256 JWT (`sub` = user id,
    /// `concert`, `exp` = `active_until`, `jti`) that other services verify with
    /// `/.well-known/jwks.json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admission_token: Option<String>,
}

impl TicketView {
    /// This answer with the admission pass of `ticket` when it is active.
    pub fn with_pass(
        mut self,
        ticket: &Ticket,
        signer: Option<&crate::admission::AdmissionSigner>,
    ) -> Self {
        self.admission_token = signer.and_then(|s| s.pass(ticket));
        self
    }

    /// The answer for `t` in a waiting room whose idle timeout is `idle_timeout_seconds`.
    pub fn new(t: Ticket, idle_timeout_seconds: u64) -> Self {
        TicketView {
            poll_after_ms: poll_after_ms(&t, idle_timeout_seconds),
            ahead: t.ahead(),
            token: t.token.to_string(),
            status: t.status.as_str(),
            position: t.position,
            eta_seconds: t.eta_seconds,
            active_until: t.active_until,
            admission_token: None,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueuePolicyBody {
    pub max_active: u64,
    pub admit_per_second: u64,
    pub active_ttl_seconds: u64,
    #[serde(default)]
    pub paused: bool,
    /// Proof-of-work asked of each enter: leading zero bits of SHA-256(`X-Pow`), 0 to 32;
    /// 0 (the default) asks none. 20 takes a browser about a second.
    #[serde(default)]
    pub pow_difficulty: u8,
}

impl From<QueuePolicy> for QueuePolicyBody {
    fn from(p: QueuePolicy) -> Self {
        QueuePolicyBody {
            max_active: p.max_active,
            admit_per_second: p.admit_per_second,
            active_ttl_seconds: p.active_ttl_seconds,
            paused: p.paused,
            pow_difficulty: p.pow_difficulty,
        }
    }
}

impl From<QueuePolicyBody> for QueuePolicy {
    fn from(p: QueuePolicyBody) -> Self {
        QueuePolicy {
            max_active: p.max_active,
            admit_per_second: p.admit_per_second,
            active_ttl_seconds: p.active_ttl_seconds,
            paused: p.paused,
            pow_difficulty: p.pow_difficulty,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueStatsView {
    pub waiting: u64,
    pub active: u64,
    pub admitted_total: u64,
    pub expired_total: u64,
    /// Measured admissions per second (moving average).
    pub admit_rate: f64,
}

impl From<QueueStats> for QueueStatsView {
    fn from(s: QueueStats) -> Self {
        QueueStatsView {
            waiting: s.waiting,
            active: s.active,
            admitted_total: s.admitted_total,
            expired_total: s.expired_total,
            admit_rate: (s.admit_rate * 100.0).round() / 100.0,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    #[schema(example = "ok")]
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyView {
    /// `ready` or `unavailable`.
    pub status: &'static str,
    /// Each dependency (`database`, `queue`) and `ok` or what failed.
    pub checks: std::collections::BTreeMap<String, String>,
}
