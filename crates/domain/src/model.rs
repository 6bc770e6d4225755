//! Entities of the booking flow: users, the catalog (concerts, schedules, seats),
//! reservations, wallets and payments. Money is always an integer amount in minor
//! units (cents); time is always UTC.

use std::fmt;

use chrono::{DateTime, Utc};

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// Identifies a user (and their wallet).
    UserId
);
id_type!(
    /// Identifies a concert (and its waiting room).
    ConcertId
);
id_type!(
    /// Identifies one performance of a concert.
    ScheduleId
);
id_type!(
    /// Identifies one seat of one schedule.
    SeatId
);
id_type!(
    /// Identifies a reservation (a hold, later a purchase).
    ReservationId
);

/// An amount of money in minor units (e.g. cents). Never negative in a balance.
pub type Money = i64;

/// A registered fan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// A concert, without its schedules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concert {
    pub id: ConcertId,
    pub title: String,
    pub venue: String,
}

/// One performance date of a concert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub id: ScheduleId,
    pub concert_id: ConcertId,
    pub starts_at: DateTime<Utc>,
}

/// A schedule with the number of seats that can be held right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSummary {
    pub id: ScheduleId,
    pub concert_id: ConcertId,
    pub starts_at: DateTime<Utc>,
    pub total_seats: u64,
    pub available_seats: u64,
}

/// A concert with all its schedules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcertDetail {
    pub concert: Concert,
    pub schedules: Vec<ScheduleSummary>,
}

/// What an operator gives to create one schedule: a rectangular seat map with one price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSchedule {
    pub starts_at: DateTime<Utc>,
    pub rows: u32,
    pub seats_per_row: u32,
    pub price: Money,
}

/// What an operator gives to create a concert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConcert {
    pub title: String,
    pub venue: String,
    pub schedules: Vec<NewSchedule>,
}

/// Status of a seat as a client sees it. A hold that has expired reads as `Available`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeatStatus {
    Available,
    Held,
    Sold,
}

impl SeatStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SeatStatus::Available => "AVAILABLE",
            SeatStatus::Held => "HELD",
            SeatStatus::Sold => "SOLD",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "AVAILABLE" => Some(SeatStatus::Available),
            "HELD" => Some(SeatStatus::Held),
            "SOLD" => Some(SeatStatus::Sold),
            _ => None,
        }
    }
}

/// One seat of a schedule, labelled `<row letter(s)>-<number>` like `A-12`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    pub id: SeatId,
    pub schedule_id: ScheduleId,
    pub label: String,
    pub price: Money,
    pub status: SeatStatus,
}

/// Lifecycle of a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReservationStatus {
    /// The seat is held until `expires_at`.
    Held,
    /// Paid: the seat is sold.
    Confirmed,
    /// Released by its owner.
    Cancelled,
    /// The hold ran out before payment.
    Expired,
}

impl ReservationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReservationStatus::Held => "HELD",
            ReservationStatus::Confirmed => "CONFIRMED",
            ReservationStatus::Cancelled => "CANCELLED",
            ReservationStatus::Expired => "EXPIRED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "HELD" => Some(ReservationStatus::Held),
            "CONFIRMED" => Some(ReservationStatus::Confirmed),
            "CANCELLED" => Some(ReservationStatus::Cancelled),
            "EXPIRED" => Some(ReservationStatus::Expired),
            _ => None,
        }
    }
}

/// A user's claim on a seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub id: ReservationId,
    pub user_id: UserId,
    pub concert_id: ConcertId,
    pub schedule_id: ScheduleId,
    pub seat_id: SeatId,
    pub seat_label: String,
    pub price: Money,
    pub status: ReservationStatus,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
}

impl Reservation {
    /// The status as of `now`: a `Held` reservation past its expiry reads as `Expired`
    /// even before the sweeper has written that down.
    pub fn status_at(&self, now: DateTime<Utc>) -> ReservationStatus {
        match self.status {
            ReservationStatus::Held if self.expires_at <= now => ReservationStatus::Expired,
            s => s,
        }
    }
}

/// Everything needed to try to hold a seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRequest {
    pub user_id: UserId,
    pub schedule_id: ScheduleId,
    pub seat_id: SeatId,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The most seats one user may hold at once in one schedule.
    pub max_held_per_user: u32,
}

/// Everything needed to pay for a held reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequest {
    pub user_id: UserId,
    pub reservation_id: ReservationId,
    /// Client-chosen key: replays with the same key return the first receipt.
    pub idempotency_key: String,
    pub now: DateTime<Utc>,
}

/// The result of a successful payment; replays of the same idempotency key return it unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentReceipt {
    pub reservation_id: ReservationId,
    pub concert_id: ConcertId,
    pub amount: Money,
    /// The wallet balance right after this payment.
    pub balance: Money,
    pub paid_at: DateTime<Utc>,
    /// True when this receipt is a replay of an earlier payment with the same key.
    pub replayed: bool,
}
