//! Returns, the waiting list and cancelled shows: what a ticket became, the refunds
//! credited to wallets, a fan's place on a schedule's waiting list and the offer made
//! to them, and what cancelling a show did.

use std::fmt;

use chrono::{DateTime, Duration, Utc};

use crate::model::{ConcertId, Money, OrderId, ScheduleId, UserId};
use crate::tickets::model::TicketId;

/// What became of a ticket, as its holder sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TicketStatus {
    /// Lets its holder in.
    Valid,
    /// Admitted at a gate.
    CheckedIn,
    /// Returned by its holder and refunded.
    Returned,
    /// The show was cancelled (refunded).
    Cancelled,
    /// Revoked by the operator.
    Revoked,
}

impl TicketStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Valid => "valid",
            TicketStatus::CheckedIn => "checked_in",
            TicketStatus::Returned => "returned",
            TicketStatus::Cancelled => "cancelled",
            TicketStatus::Revoked => "revoked",
        }
    }
}

/// A ticket's status and whether (and until when) it may be returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketState {
    pub status: TicketStatus,
    /// It may be returned now.
    pub returnable: bool,
    /// The last moment it may be returned (`None` once it cannot be any more: checked
    /// in, returned, cancelled or revoked).
    pub return_until: Option<DateTime<Utc>>,
}

/// A schedule's return rule and cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulePolicy {
    pub schedule_id: ScheduleId,
    /// Returns close this long before the start; `None`: the default of the settings.
    pub cutoff: Option<Duration>,
    pub cancelled_at: Option<DateTime<Utc>>,
}

/// Why a refund was credited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefundKind {
    /// One ticket returned by its holder.
    Return,
    /// What was left of a paid order when its show was cancelled.
    ShowCancelled,
}

impl RefundKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            RefundKind::Return => "RETURN",
            RefundKind::ShowCancelled => "SHOW_CANCELLED",
        }
    }

    /// The kind named `s` (as written by `as_str`).
    pub fn parse(s: &str) -> Option<Self> {
        [RefundKind::Return, RefundKind::ShowCancelled]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

impl fmt::Display for RefundKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A credit to a fan's wallet, stored once under its unique refund key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub id: i64,
    pub user_id: UserId,
    pub order_id: OrderId,
    /// The returned ticket (`None` for a cancelled show's refund of an order).
    pub ticket_id: Option<TicketId>,
    pub kind: RefundKind,
    pub amount: Money,
    /// The wallet balance right after the credit.
    pub balance: Money,
    pub created_at: DateTime<Utc>,
}

/// A fan returns a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnTicket {
    pub user_id: UserId,
    pub ticket_id: TicketId,
    pub idempotency_key: String,
    pub now: DateTime<Utc>,
    /// The cutoff of schedules the operator set none for.
    pub default_cutoff: Duration,
}

/// What a return did; replays of the same key return it with `replayed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnReceipt {
    pub refund: Refund,
    pub schedule_id: ScheduleId,
    pub replayed: bool,
}

/// Where a fan stands on a waiting list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaitlistStatus {
    /// Waiting for a place.
    Waiting,
    /// A place is held for the fan until the offer expires.
    Offered,
    /// Every place asked for was bought.
    Done,
    /// The fan left the list.
    Left,
    /// The fan declined an offer (and left the list).
    Declined,
    /// An offer expired unpaid (the fan is off the list).
    Expired,
    /// The show was cancelled.
    Closed,
}

impl WaitlistStatus {
    pub const ALL: [WaitlistStatus; 7] = [
        WaitlistStatus::Waiting,
        WaitlistStatus::Offered,
        WaitlistStatus::Done,
        WaitlistStatus::Left,
        WaitlistStatus::Declined,
        WaitlistStatus::Expired,
        WaitlistStatus::Closed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            WaitlistStatus::Waiting => "WAITING",
            WaitlistStatus::Offered => "OFFERED",
            WaitlistStatus::Done => "DONE",
            WaitlistStatus::Left => "LEFT",
            WaitlistStatus::Declined => "DECLINED",
            WaitlistStatus::Expired => "EXPIRED",
            WaitlistStatus::Closed => "CLOSED",
        }
    }

    /// The status named `s` (as written by `as_str`).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|w| w.as_str() == s)
    }

    /// Still on the list (waiting or holding an offer).
    pub const fn is_live(self) -> bool {
        matches!(self, WaitlistStatus::Waiting | WaitlistStatus::Offered)
    }
}

/// A place held for one waiting fan: an order in `HELD` state that only they can pay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    pub order_id: OrderId,
    pub offered_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A fan's entry on a schedule's waiting list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitlistEntry {
    /// Ascending in the order fans joined.
    pub id: i64,
    pub schedule_id: ScheduleId,
    pub user_id: UserId,
    /// Places the fan asked for.
    pub quantity: u32,
    /// Places the fan bought through offers.
    pub fulfilled: u32,
    pub status: WaitlistStatus,
    pub joined_at: DateTime<Utc>,
    /// 1 for the first fan still on the list (waiting or offered), for a live entry.
    pub position: Option<u64>,
    /// The open offer, while `Offered`.
    pub offer: Option<Offer>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// A fan joins a schedule's waiting list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinWaitlist {
    pub user_id: UserId,
    pub schedule_id: ScheduleId,
    pub quantity: u32,
    /// How long each offer made to this entry holds its place.
    pub offer_window: Duration,
    pub now: DateTime<Utc>,
}

/// What cancelling a show did (this call's share: of two concurrent cancels, each
/// order is refunded by exactly one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelReport {
    pub schedule_id: ScheduleId,
    pub concert_id: ConcertId,
    pub cancelled_at: DateTime<Utc>,
    /// This call cancelled the schedule (false: it was cancelled before).
    pub first: bool,
    pub orders_refunded: u64,
    pub amount_refunded: Money,
    pub tickets_revoked: u64,
    pub held_orders_cancelled: u64,
    pub waitlist_closed: u64,
    /// Every schedule of the concert is cancelled now.
    pub concert_cancelled: bool,
}

/// The console's view of a schedule's returns and waiting list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnsSummary {
    pub schedule_id: ScheduleId,
    /// The cutoff in force.
    pub cutoff: Duration,
    /// The operator set it (else it is the settings' default).
    pub cutoff_set: bool,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub waiting: u64,
    pub offered: u64,
    pub returned: u64,
    pub refunded: Money,
}
