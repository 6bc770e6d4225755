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
    /// Display name: 1 to 100 characters, not only spaces (it is trimmed), no control
    /// characters.
    #[schema(
        example = "Ada",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// Sign-in address: lower-cased; one account per address.
    #[schema(
        example = "ada@example.com",
        min_length = 3,
        max_length = 254,
        pattern = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s.\x00-\x1f\x7f-\x9f][^@\s\x00-\x1f\x7f-\x9f]*\.[^@\s\x00-\x1f\x7f-\x9f]*[^@\s.\x00-\x1f\x7f-\x9f]$"
    )]
    pub email: String,
    /// 8 to 128 characters, kept only as an argon2id hash.
    #[schema(example = "correct horse battery", min_length = 8, max_length = 128, format = Password)]
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserCreated {
    pub id: i64,
    pub name: String,
    /// HS256 JWT for `Authorization: Bearer <token>`, of the session `session_id`.
    pub access_token: String,
    /// The session this sign-up opened (`GET /sessions`, `DELETE /sessions/{id}`).
    pub session_id: String,
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
    #[schema(example = "Stalls")]
    pub section: String,
    #[schema(example = "A")]
    pub row: String,
    pub number: u32,
    #[schema(example = "Standard")]
    pub category: String,
    /// Place in the row, aisles counted: two seats are neighbours when their `x` differ by one.
    pub x: u32,
    pub accessible: bool,
}

impl From<Seat> for SeatView {
    fn from(s: Seat) -> Self {
        SeatView {
            id: s.id.0,
            label: s.label,
            price: s.price.minor_units(),
            status: s.status.as_str(),
            section: s.section,
            row: s.row,
            number: s.number,
            x: s.x,
            category: s.category,
            accessible: s.accessible,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewScheduleBody {
    pub starts_at: DateTime<Utc>,
    /// Shorthand for one rectangular section: 1 to 100 rows (without `layout`).
    #[schema(minimum = 1, maximum = 100)]
    pub rows: Option<u32>,
    /// Shorthand: 1 to 500 seats per row (without `layout`).
    #[schema(minimum = 1, maximum = 500)]
    pub seats_per_row: Option<u32>,
    /// Shorthand: price of every seat, minor units (without `layout`).
    #[schema(minimum = 0, maximum = 100_000_000)]
    pub price: Option<i64>,
    /// The venue: price categories, seated sections of rows, standing areas.
    pub layout: Option<super::order_dto::LayoutBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConcertBody {
    /// 1 to 200 characters, not only spaces (it is trimmed).
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"\S",
        example = "The Quiet Hours"
    )]
    pub title: String,
    /// 1 to 200 characters, not only spaces (it is trimmed).
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"\S",
        example = "Royal Hall"
    )]
    pub venue: String,
    /// 1 to 50 dates.
    #[schema(min_items = 1, max_items = 50)]
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
    /// When the hold was extended (a hold is extended at most once).
    pub extended_at: Option<DateTime<Utc>>,
    /// True while the hold is live, not yet extended, and holds may be extended here
    /// (`POST /reservations/{id}/extend`).
    pub extendable: bool,
    /// How much longer an extension keeps the hold; 0 when holds cannot be extended.
    pub extension_seconds: u64,
}

impl ReservationView {
    /// The view of `r` at `now` where a hold may be extended once by `extension`.
    pub fn with_extension(r: Reservation, now: DateTime<Utc>, extension: chrono::Duration) -> Self {
        let mut v = Self::at(r, now);
        let seconds = u64::try_from(extension.num_seconds()).unwrap_or(0);
        v.extension_seconds = seconds;
        v.extendable =
            seconds > 0 && v.status == ReservationStatus::Held.as_str() && v.extended_at.is_none();
        v
    }

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
            extended_at: r.extended_at,
            extendable: false,
            extension_seconds: 0,
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
    /// Minor units, 1 to `booking.max_charge` (default 100,000,000).
    #[schema(minimum = 1, maximum = 100_000_000, example = 5000)]
    pub amount: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketView {
    pub token: String,
    /// `PRE_QUEUE` | `WAITING` | `ACTIVE` | `EXPIRED` | `SOLD_OUT` | `CLOSED` (the line
    /// closed: by the operator, or the concert started).
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
    /// When the sale opens, only while `PRE_QUEUE` (the draw places the fan then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opens_at: Option<DateTime<Utc>>,
    /// What is left to buy: `AVAILABLE` | `ALL_HELD` (admission waits for holds to
    /// end) | `SOLD_OUT` (the line is closed).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "AVAILABLE")]
    pub inventory: Option<&'static str>,
    /// The fast end of the ETA range (measured rate and its spread), while waiting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_seconds_low: Option<u64>,
    /// The slow end of the ETA range, while waiting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_seconds_high: Option<u64>,
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
        signer: Option<&crate::guard::admission::AdmissionSigner>,
    ) -> Self {
        self.admission_token = signer.and_then(|s| s.pass(ticket));
        self
    }

    /// The answer for `t` in a waiting room whose idle timeout is `idle_timeout_seconds`.
    pub fn new(t: Ticket, idle_timeout_seconds: u64) -> Self {
        TicketView {
            poll_after_ms: poll_after_ms(&t, idle_timeout_seconds, chrono::Utc::now()),
            ahead: t.ahead(),
            token: t.token.to_string(),
            status: t.status.as_str(),
            position: t.position,
            eta_seconds: t.eta_seconds,
            active_until: t.active_until,
            opens_at: t.opens_at,
            inventory: t.inventory.map(|i| i.as_str()),
            eta_seconds_low: t.eta_range.map(|r| r.0),
            eta_seconds_high: t.eta_range.map(|r| r.1),
            admission_token: None,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueuePolicyBody {
    /// Fans admitted at once, 1 to 10,000,000.
    #[schema(minimum = 1, maximum = 10_000_000)]
    pub max_active: u64,
    /// Admissions per second, 1 to 10,000,000.
    #[schema(minimum = 1, maximum = 10_000_000)]
    pub admit_per_second: u64,
    /// How long an admission lasts, 1 to 86,400 s.
    #[schema(minimum = 1, maximum = 86_400)]
    pub active_ttl_seconds: u64,
    #[serde(default)]
    pub paused: bool,
    /// When the sale opens (RFC 3339): before it fans enter a pre-queue and are drawn
    /// into a random order at it. Absent: open now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale_opens_at: Option<DateTime<Utc>>,
    /// Fans admitted per free seat (1 to 1000000; default 1.5): admission stops while
    /// `free seats × admit_per_seat` admitted fans hold no seat.
    #[serde(default = "default_admit_per_seat")]
    #[schema(example = 1.5, minimum = 1, maximum = 1_000_000)]
    pub admit_per_seat: f64,
    /// Proof-of-work asked of each enter: leading zero bits of SHA-256(`X-Pow`), 0 to 32;
    /// 0 (the default) asks none; 16 takes a browser about a second or two.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 32)]
    pub pow_difficulty: u8,
}

fn default_admit_per_seat() -> f64 {
    frontrow_domain::queue::DEFAULT_ADMIT_PER_SEAT
}

impl From<QueuePolicy> for QueuePolicyBody {
    fn from(p: QueuePolicy) -> Self {
        QueuePolicyBody {
            max_active: p.max_active,
            admit_per_second: p.admit_per_second,
            active_ttl_seconds: p.active_ttl_seconds,
            paused: p.paused,
            sale_opens_at: p.sale_opens_at,
            admit_per_seat: p.admit_per_seat,
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
            sale_opens_at: p.sale_opens_at,
            admit_per_seat: p.admit_per_seat,
            pow_difficulty: p.pow_difficulty,
        }
    }
}

/// A concert's draw: commit (before the opening), then reveal (after it).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DrawView {
    /// `hex(SHA-256(seed))`, published before anyone entered.
    pub commitment: String,
    /// How the order follows from the seed and the receipts.
    pub algorithm: String,
    pub opens_at: DateTime<Utc>,
    /// Fans pre-queued so far; after the draw, the fans drawn.
    pub entrants: u64,
    /// The seed in hex, once the draw has run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
}

impl From<frontrow_domain::draw::Draw> for DrawView {
    fn from(d: frontrow_domain::draw::Draw) -> Self {
        DrawView {
            commitment: d.commitment,
            algorithm: frontrow_domain::draw::ALGORITHM.to_owned(),
            opens_at: d.opens_at,
            entrants: d.entrants,
            seed: d.seed,
        }
    }
}

/// One page of a draw's receipts, first drawn first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DrawReceiptsView {
    /// The seed in hex.
    pub seed: String,
    /// Fans drawn (the length of the whole list).
    pub total: u64,
    /// Index of the first receipt of this page in the whole list.
    pub offset: u64,
    /// `hex(SHA-256(queue token))` of each fan, in drawn order.
    pub receipts: Vec<String>,
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

/// How a group of places stands: places, left, held, sold, revenue (operators).
#[derive(Debug, Serialize, ToSchema)]
pub struct CountsView {
    pub total: u64,
    pub available: u64,
    /// Held by a fan right now.
    pub held: u64,
    pub sold: u64,
    /// Sum of the sold places' prices, minor units.
    pub revenue: i64,
}

impl From<frontrow_domain::sales::Counts> for CountsView {
    fn from(c: frontrow_domain::sales::Counts) -> Self {
        CountsView {
            total: c.total,
            available: c.available,
            held: c.held,
            sold: c.sold,
            revenue: c.revenue,
        }
    }
}

/// The seats of one category or one section (operators).
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupSalesView {
    /// The category's or the section's name.
    pub name: String,
    #[serde(flatten)]
    pub counts: CountsView,
}

/// One standing area (operators); `total` is its capacity.
#[derive(Debug, Serialize, ToSchema)]
pub struct AreaSalesView {
    pub area: String,
    pub category: String,
    /// One place's price, minor units.
    pub price: i64,
    #[serde(flatten)]
    pub counts: CountsView,
}

/// How the places of one schedule stand, seats and standing together, then per seat
/// category, per section and per standing area (operators).
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleSalesView {
    pub schedule_id: i64,
    pub starts_at: DateTime<Utc>,
    #[serde(flatten)]
    pub counts: CountsView,
    /// By seat category, in name order.
    pub categories: Vec<GroupSalesView>,
    /// By section, in name order.
    pub sections: Vec<GroupSalesView>,
    /// By standing area, in the venue's order.
    pub standing: Vec<AreaSalesView>,
}

/// How the places of a concert stand, per schedule and in total (operators).
#[derive(Debug, Serialize, ToSchema)]
pub struct SalesSummaryView {
    pub concert_id: i64,
    pub schedules: Vec<ScheduleSalesView>,
    #[serde(flatten)]
    pub counts: CountsView,
}

impl From<frontrow_domain::sales::SalesSummary> for SalesSummaryView {
    fn from(s: frontrow_domain::sales::SalesSummary) -> Self {
        let groups = |g: Vec<frontrow_domain::sales::GroupSales>| {
            g.into_iter()
                .map(|g| GroupSalesView {
                    name: g.name,
                    counts: g.counts.into(),
                })
                .collect()
        };
        SalesSummaryView {
            concert_id: s.concert_id.0,
            schedules: s
                .schedules
                .into_iter()
                .map(|d| ScheduleSalesView {
                    schedule_id: d.schedule_id.0,
                    starts_at: d.starts_at,
                    counts: d.counts.into(),
                    categories: groups(d.categories),
                    sections: groups(d.sections),
                    standing: d
                        .standing
                        .into_iter()
                        .map(|a| AreaSalesView {
                            area: a.area,
                            category: a.category,
                            price: a.price,
                            counts: a.counts.into(),
                        })
                        .collect(),
                })
                .collect(),
            counts: s.counts.into(),
        }
    }
}
