//! Entities of the booking flow: users, the catalog (concerts, schedules, seats),
//! reservations, wallets and payments. Money is always a non-negative integer amount in
//! minor units (cents); time is always UTC.

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
id_type!(
    /// Identifies an order: a party's seats and standing places, held and paid together.
    OrderId
);

/// An amount of money in minor units (e.g. cents): a price, a balance, a charge. Never
/// negative: the only constructors that take a signed number check it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

/// A negative number was given where an amount of money was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an amount of money cannot be negative (got {0})")]
pub struct NegativeAmount(pub i64);

impl Money {
    pub const ZERO: Money = Money(0);

    /// The amount of `minor_units`, refused when negative.
    ///
    /// # Errors
    /// `NegativeAmount` when `minor_units < 0`.
    pub const fn new(minor_units: i64) -> Result<Money, NegativeAmount> {
        if minor_units < 0 {
            Err(NegativeAmount(minor_units))
        } else {
            Ok(Money(minor_units))
        }
    }

    /// An amount that cannot be negative by its type (for constants and tests).
    pub const fn from_u32(minor_units: u32) -> Money {
        Money(minor_units as i64)
    }

    /// The amount in minor units, for storage and JSON.
    pub const fn minor_units(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for Money {
    type Error = NegativeAmount;

    fn try_from(minor_units: i64) -> Result<Self, Self::Error> {
        Money::new(minor_units)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

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

/// What an operator gives to create one schedule: a venue layout, or the rectangular
/// shorthand (`rows` × `seats_per_row` at one `price`) when `layout` is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSchedule {
    pub starts_at: DateTime<Utc>,
    pub rows: u32,
    pub seats_per_row: u32,
    pub price: Money,
    pub layout: Option<crate::venue::Layout>,
}

impl NewSchedule {
    /// The layout to store: the given one, or the shorthand's single section.
    pub fn layout(&self) -> crate::venue::Layout {
        self.layout.clone().unwrap_or_else(|| {
            crate::venue::Layout::rectangle(self.rows, self.seats_per_row, self.price)
        })
    }
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
    pub const fn as_str(self) -> &'static str {
        match self {
            SeatStatus::Available => "AVAILABLE",
            SeatStatus::Held => "HELD",
            SeatStatus::Sold => "SOLD",
        }
    }

    /// The status named `s` (as written by `as_str`), `None` for any other text.
    pub fn parse(s: &str) -> Option<Self> {
        [SeatStatus::Available, SeatStatus::Held, SeatStatus::Sold]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

impl fmt::Display for SeatStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One seat of a schedule, labelled `<row>-<number>` like `A-12`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    pub id: SeatId,
    pub schedule_id: ScheduleId,
    pub label: String,
    pub price: Money,
    pub status: SeatStatus,
    pub section: String,
    pub row: String,
    pub number: u32,
    /// Place in the row, gaps (aisles, blocked seats) counted: neighbours differ by one.
    pub x: u32,
    pub category: String,
    pub accessible: bool,
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
    pub const fn as_str(self) -> &'static str {
        match self {
            ReservationStatus::Held => "HELD",
            ReservationStatus::Confirmed => "CONFIRMED",
            ReservationStatus::Cancelled => "CANCELLED",
            ReservationStatus::Expired => "EXPIRED",
        }
    }

    /// The status named `s` (as written by `as_str`), `None` for any other text.
    pub fn parse(s: &str) -> Option<Self> {
        [
            ReservationStatus::Held,
            ReservationStatus::Confirmed,
            ReservationStatus::Cancelled,
            ReservationStatus::Expired,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

impl fmt::Display for ReservationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
    /// When the hold was extended; a hold is extended at most once.
    pub extended_at: Option<DateTime<Utc>>,
    /// The order this seat is a position of (`None`: a one-seat hold that ended before
    /// orders arrived).
    pub order_id: Option<OrderId>,
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
    /// The schedule of the paid seat (whose seat map the payment changed).
    pub schedule_id: ScheduleId,
    pub amount: Money,
    /// The wallet balance right after this payment.
    pub balance: Money,
    pub paid_at: DateTime<Utc>,
    /// True when this receipt is a replay of an earlier payment with the same key.
    pub replayed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_refuses_negative_amounts() {
        assert_eq!(Money::new(-1), Err(NegativeAmount(-1)));
        assert_eq!(Money::new(0), Ok(Money::ZERO));
        assert_eq!(Money::try_from(250).map(Money::minor_units), Ok(250));
        assert_eq!(Money::from_u32(7).to_string(), "7");
    }

    #[test]
    fn statuses_parse_what_they_print_and_nothing_else() {
        for st in [SeatStatus::Available, SeatStatus::Held, SeatStatus::Sold] {
            assert_eq!(SeatStatus::parse(st.as_str()), Some(st));
        }
        for st in [
            ReservationStatus::Held,
            ReservationStatus::Confirmed,
            ReservationStatus::Cancelled,
            ReservationStatus::Expired,
        ] {
            assert_eq!(ReservationStatus::parse(&st.to_string()), Some(st));
        }
        assert_eq!(SeatStatus::parse("held"), None);
        assert_eq!(ReservationStatus::parse("BOGUS"), None);
    }
}

/// One sold place — a seat or a standing place — as the operators' sales export lists
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sale {
    /// The order it was bought in (`None` only for a seat paid before orders existed
    /// and not migrated).
    pub order_id: Option<OrderId>,
    pub schedule_id: ScheduleId,
    pub place: SoldPlace,
    pub user_id: UserId,
    /// What was paid for this one place (its price when it was held).
    pub price: Money,
    pub paid_at: DateTime<Utc>,
}

/// What a [`Sale`] sold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SoldPlace {
    /// A seat, by its reservation.
    Seat {
        reservation_id: ReservationId,
        seat_id: SeatId,
        label: String,
    },
    /// One place in a standing area, by the area's name (an order of three places
    /// there is three sales).
    Standing { area: String },
}

/// Extending a live hold once (WCAG 2.2.1, Timing Adjustable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendRequest {
    pub user_id: UserId,
    pub reservation_id: ReservationId,
    /// Added to the hold's current expiry.
    pub by: chrono::Duration,
    pub now: DateTime<Utc>,
}
