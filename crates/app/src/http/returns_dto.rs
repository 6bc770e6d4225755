//! Request and response bodies of returns, the waiting list and cancelled shows
//! (`tickets`, `waitlist` and `admin` tags).

use chrono::{DateTime, Utc};
use frontrow_domain::returns::model::{
    CancelReport, Refund, RefundKind, ReturnReceipt, ReturnsSummary, TicketStatus, WaitlistEntry,
    WaitlistStatus,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What became of a ticket.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatusView {
    /// Lets its holder in.
    Valid,
    /// Admitted at a gate.
    CheckedIn,
    /// Returned by its holder and refunded.
    Returned,
    /// The show was cancelled and the ticket refunded.
    Cancelled,
    /// Revoked by the operator.
    Revoked,
}

impl From<TicketStatus> for TicketStatusView {
    fn from(s: TicketStatus) -> Self {
        match s {
            TicketStatus::Valid => TicketStatusView::Valid,
            TicketStatus::CheckedIn => TicketStatusView::CheckedIn,
            TicketStatus::Returned => TicketStatusView::Returned,
            TicketStatus::Cancelled => TicketStatusView::Cancelled,
            TicketStatus::Revoked => TicketStatusView::Revoked,
        }
    }
}

/// Why money was credited back.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RefundKindView {
    /// A ticket returned by its holder.
    Return,
    /// The rest of the order, when the show was cancelled.
    ShowCancelled,
}

impl From<RefundKind> for RefundKindView {
    fn from(k: RefundKind) -> Self {
        match k {
            RefundKind::Return => RefundKindView::Return,
            RefundKind::ShowCancelled => RefundKindView::ShowCancelled,
        }
    }
}

/// One credit to the fan's wallet.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefundView {
    pub kind: RefundKindView,
    /// The returned ticket (`null` for a cancelled show's refund of the order).
    pub ticket_id: Option<i64>,
    /// Minor units.
    pub amount: i64,
    pub refunded_at: DateTime<Utc>,
}

impl From<Refund> for RefundView {
    fn from(r: Refund) -> Self {
        RefundView {
            kind: r.kind.into(),
            ticket_id: r.ticket_id.map(|t| t.0),
            amount: r.amount.minor_units(),
            refunded_at: r.created_at,
        }
    }
}

/// A returned ticket's refund.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketReturnView {
    pub ticket_id: i64,
    pub order_id: i64,
    pub schedule_id: i64,
    /// Always `returned`.
    pub status: TicketStatusView,
    /// The price paid for this seat or place, credited to the wallet (minor units).
    pub refunded: i64,
    /// The wallet balance right after the credit (minor units).
    pub balance: i64,
    pub refunded_at: DateTime<Utc>,
    /// This Idempotency-Key was used before: the first answer, credited once.
    pub replayed: bool,
}

impl From<ReturnReceipt> for TicketReturnView {
    fn from(r: ReturnReceipt) -> Self {
        TicketReturnView {
            ticket_id: r.refund.ticket_id.map_or(0, |t| t.0),
            order_id: r.refund.order_id.0,
            schedule_id: r.schedule_id.0,
            status: TicketStatusView::Returned,
            refunded: r.refund.amount.minor_units(),
            balance: r.refund.balance.minor_units(),
            refunded_at: r.refund.created_at,
            replayed: r.replayed,
        }
    }
}

/// Joining a schedule's waiting list.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitlistBody {
    /// Places wanted, 1 to the box office's tickets per order (`booking.max_tickets_per_order`).
    #[schema(minimum = 1, maximum = 100, example = 2)]
    pub quantity: u32,
}

/// Where a fan stands on a waiting list.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WaitlistStatusView {
    /// Waiting for a place.
    Waiting,
    /// A place is held for the fan: pay `offer.order_id` before `offer.expires_at`.
    Offered,
    /// Every place asked for was bought.
    Done,
    /// The fan left the list.
    Left,
    /// The fan declined an offer (and left the list).
    Declined,
    /// An offer expired unpaid: the fan is off the list (join again to wait anew).
    Expired,
    /// The show was cancelled.
    Closed,
}

impl From<WaitlistStatus> for WaitlistStatusView {
    fn from(s: WaitlistStatus) -> Self {
        match s {
            WaitlistStatus::Waiting => WaitlistStatusView::Waiting,
            WaitlistStatus::Offered => WaitlistStatusView::Offered,
            WaitlistStatus::Done => WaitlistStatusView::Done,
            WaitlistStatus::Left => WaitlistStatusView::Left,
            WaitlistStatus::Declined => WaitlistStatusView::Declined,
            WaitlistStatus::Expired => WaitlistStatusView::Expired,
            WaitlistStatus::Closed => WaitlistStatusView::Closed,
        }
    }
}

/// A place held for the fan: an order in `HELD` state, paid through
/// `POST /api/v1/orders/{order_id}/payment` without a queue token.
#[derive(Debug, Serialize, ToSchema)]
pub struct OfferView {
    pub order_id: i64,
    pub offered_at: DateTime<Utc>,
    /// After this the place passes to the next fan (at the next sweep).
    pub expires_at: DateTime<Utc>,
}

/// The fan's entry on a schedule's waiting list.
#[derive(Debug, Serialize, ToSchema)]
pub struct WaitlistEntryView {
    pub schedule_id: i64,
    pub status: WaitlistStatusView,
    pub quantity: u32,
    /// Places bought through offers.
    pub fulfilled: u32,
    /// 1 for the first fan on the list (waiting or offered); `null` once off the list.
    pub position: Option<u64>,
    pub joined_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub offer: Option<OfferView>,
}

impl From<WaitlistEntry> for WaitlistEntryView {
    fn from(e: WaitlistEntry) -> Self {
        WaitlistEntryView {
            schedule_id: e.schedule_id.0,
            status: e.status.into(),
            quantity: e.quantity,
            fulfilled: e.fulfilled,
            position: e.position,
            joined_at: e.joined_at,
            ended_at: e.ended_at,
            offer: e.offer.map(|o| OfferView {
                order_id: o.order_id.0,
                offered_at: o.offered_at,
                expires_at: o.expires_at,
            }),
        }
    }
}

/// What cancelling a show did (this call's share when two run at once).
#[derive(Debug, Serialize, ToSchema)]
pub struct CancelView {
    pub schedule_id: i64,
    pub concert_id: i64,
    /// When the show was first cancelled.
    pub cancelled_at: DateTime<Utc>,
    /// This call cancelled it (false: it was cancelled before; this call finished any
    /// work left).
    pub first: bool,
    pub orders_refunded: u64,
    /// Minor units.
    pub amount_refunded: i64,
    pub tickets_revoked: u64,
    pub held_orders_cancelled: u64,
    pub waitlist_closed: u64,
    /// Every schedule of the concert is cancelled: its line is closed.
    pub line_closed: bool,
}

impl From<CancelReport> for CancelView {
    fn from(r: CancelReport) -> Self {
        CancelView {
            schedule_id: r.schedule_id.0,
            concert_id: r.concert_id.0,
            cancelled_at: r.cancelled_at,
            first: r.first,
            orders_refunded: r.orders_refunded,
            amount_refunded: r.amount_refunded.minor_units(),
            tickets_revoked: r.tickets_revoked,
            held_orders_cancelled: r.held_orders_cancelled,
            waitlist_closed: r.waitlist_closed,
            line_closed: r.concert_cancelled,
        }
    }
}

/// A schedule's return cutoff.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnsPolicyBody {
    /// Returns close this many minutes before the start (0: until the start); `null`:
    /// back to the default (`returns.cutoff_minutes`).
    #[schema(minimum = 0, maximum = 525600, example = 1440)]
    pub cutoff_minutes: Option<u32>,
}

/// A schedule's returns and waiting list, for the console.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReturnsSummaryView {
    pub schedule_id: i64,
    /// The cutoff in force, minutes before the start.
    pub cutoff_minutes: i64,
    /// The operator set it (else it is the default).
    pub cutoff_set: bool,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Fans waiting for a place.
    pub waiting: u64,
    /// Fans holding an offer.
    pub offered: u64,
    /// Tickets returned.
    pub returned: u64,
    /// Everything credited back (returns and cancellation), minor units.
    pub refunded: i64,
}

impl From<ReturnsSummary> for ReturnsSummaryView {
    fn from(s: ReturnsSummary) -> Self {
        ReturnsSummaryView {
            schedule_id: s.schedule_id.0,
            cutoff_minutes: s.cutoff.num_minutes(),
            cutoff_set: s.cutoff_set,
            cancelled_at: s.cancelled_at,
            waiting: s.waiting,
            offered: s.offered,
            returned: s.returned,
            refunded: s.refunded.minor_units(),
        }
    }
}
