//! The box office's entities: orders of seats and standing places, what a party asks
//! for, and what the venue looks like to the seat planner.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::model::{ConcertId, Money, OrderId, ScheduleId, SeatId, UserId};

/// Lifecycle of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Everything in it is held until `expires_at`.
    Held,
    /// Paid: every position is sold.
    Paid,
    /// Released by its owner.
    Cancelled,
    /// The hold ran out before payment.
    Expired,
}

impl OrderStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Held => "HELD",
            OrderStatus::Paid => "PAID",
            OrderStatus::Cancelled => "CANCELLED",
            OrderStatus::Expired => "EXPIRED",
        }
    }

    /// The status named `s` (as written by `as_str`), `None` for any other text.
    pub fn parse(s: &str) -> Option<Self> {
        [
            OrderStatus::Held,
            OrderStatus::Paid,
            OrderStatus::Cancelled,
            OrderStatus::Expired,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A seat in an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatPosition {
    pub seat_id: SeatId,
    pub label: String,
    pub section: String,
    pub row: String,
    pub number: u32,
    pub category: String,
    pub price: Money,
}

/// Places in a standing area, in an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandingPosition {
    pub area: String,
    pub category: String,
    pub quantity: u32,
    /// Price of one place.
    pub price: Money,
}

/// An order without its positions: whose it is, for which concert, in which state (what
/// paying needs to know before it asks the line; one read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderHead {
    pub id: OrderId,
    pub user_id: UserId,
    pub concert_id: ConcertId,
    pub status: OrderStatus,
    /// A waiting-list offer: the fan's turn already, paid without a queue token.
    pub offer: bool,
}

/// A party's order: held together, paid once, with one expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    pub user_id: UserId,
    pub concert_id: ConcertId,
    pub schedule_id: ScheduleId,
    pub status: OrderStatus,
    pub total: Money,
    pub seats: Vec<SeatPosition>,
    pub standing: Vec<StandingPosition>,
    /// Every seat in one block of neighbours.
    pub together: bool,
    /// Lone free seats best-available had to leave beside the party.
    pub lone_seats_left: u32,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The end of the buyer's admission: no hold or extension goes past it.
    pub admitted_until: DateTime<Utc>,
    pub extended_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    /// Held for a fan of the waiting list: payable without a queue token.
    pub offer: bool,
    /// What was credited back: returned tickets, or the rest when the show was
    /// cancelled.
    pub refunds: Vec<crate::returns::model::Refund>,
    /// The schedule was cancelled by its operator.
    pub show_cancelled: bool,
}

impl Order {
    /// The order without its positions.
    pub fn head(&self) -> OrderHead {
        OrderHead {
            id: self.id,
            user_id: self.user_id,
            concert_id: self.concert_id,
            status: self.status,
            offer: self.offer,
        }
    }

    /// The status as of `now`: a held order past its expiry reads as expired even
    /// before the sweeper has written that down.
    pub fn status_at(&self, now: DateTime<Utc>) -> OrderStatus {
        match self.status {
            OrderStatus::Held if self.expires_at <= now => OrderStatus::Expired,
            s => s,
        }
    }

    /// How many tickets the order is for.
    pub fn tickets(&self) -> u32 {
        u32::try_from(self.seats.len()).unwrap_or(u32::MAX)
            + self.standing.iter().map(|s| s.quantity).sum::<u32>()
    }
}

/// Everything the store needs to hold an order, all or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceOrder {
    pub user_id: UserId,
    pub concert_id: ConcertId,
    pub schedule_id: ScheduleId,
    /// Distinct seats, ascending (the lock order).
    pub seats: Vec<SeatId>,
    /// Standing areas by name with a quantity ≥ 1 each, distinct names.
    pub standing: Vec<(String, u32)>,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub admitted_until: DateTime<Utc>,
    /// The most tickets the fan may hold or have bought in this schedule, this order
    /// included.
    pub max_per_fan: u32,
    pub together: bool,
    pub lone_seats_left: u32,
    /// The presale code the fan entered, checked and counted in the same transaction.
    pub presale_code: Option<String>,
}

/// One seat as the planner needs it: where it is and what it costs (never changes
/// after the sale opens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueSeat {
    pub id: SeatId,
    pub section: String,
    pub section_rank: u32,
    pub row_no: u32,
    pub x: u32,
    pub category: String,
    pub accessible: bool,
    /// In a hidden category: sold only with a presale code that opens it.
    pub hidden: bool,
}

/// What is left to buy in one price category or standing area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryAvailability {
    pub category: String,
    pub price: Money,
    pub total: u64,
    pub available: u64,
}

/// What is left in one standing area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AreaAvailability {
    pub area: String,
    pub category: String,
    pub price: Money,
    pub capacity: u64,
    pub available: u64,
    /// Places under a hold right now.
    pub held: u64,
    /// Places paid for.
    pub sold: u64,
}

/// A schedule's availability per seat category and per standing area.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Availability {
    pub categories: Vec<CategoryAvailability>,
    pub areas: Vec<AreaAvailability>,
}

/// Paying an order from the wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayOrder {
    pub user_id: UserId,
    pub order_id: OrderId,
    pub idempotency_key: String,
    pub now: DateTime<Utc>,
}

/// The result of paying an order; replays of the same key return it unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderReceipt {
    pub order_id: OrderId,
    pub concert_id: ConcertId,
    pub schedule_id: ScheduleId,
    pub amount: Money,
    /// The wallet balance right after this payment.
    pub balance: Money,
    pub paid_at: DateTime<Utc>,
    pub replayed: bool,
}

/// A presale code: opens hidden categories or sections of one schedule to its holder
/// during `[starts_at, ends_at)`, for at most `max_tickets` tickets in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresaleCode {
    pub code: String,
    pub schedule_id: ScheduleId,
    pub categories: Vec<String>,
    pub sections: Vec<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub max_tickets: u32,
    /// Tickets of live or paid orders placed with the code.
    pub used: u32,
    /// Bound to one account: anyone else is told the code is unknown.
    pub user_id: Option<UserId>,
    pub cancelled: bool,
    pub created_at: DateTime<Utc>,
}

impl PresaleCode {
    /// True when `user` may use the code at `now` (window, binding, not cancelled).
    pub fn usable_by(&self, user: UserId, now: DateTime<Utc>) -> bool {
        !self.cancelled
            && self.starts_at <= now
            && now < self.ends_at
            && self.user_id.is_none_or(|u| u == user)
    }

    /// True when the code opens a seat or area of `category` in `section`.
    pub fn opens(&self, category: &str, section: &str) -> bool {
        self.categories.iter().any(|c| c == category) || self.sections.iter().any(|s| s == section)
    }
}

/// What an operator asks for: codes (given, or generated) and what they open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPresaleCodes {
    pub schedule_id: ScheduleId,
    pub codes: Vec<String>,
    pub categories: Vec<String>,
    pub sections: Vec<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub max_tickets: u32,
    pub user_id: Option<UserId>,
    pub now: DateTime<Utc>,
}
