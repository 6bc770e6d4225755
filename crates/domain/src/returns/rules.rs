//! The rules of a return, pure: until when a ticket may be returned, what a ticket's
//! status reads, and why a return is refused.

use chrono::{DateTime, Duration, Utc};

use super::model::{SchedulePolicy, TicketState, TicketStatus};
use crate::tickets::model::Ticket;

/// Why a ticket cannot be returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Returned before (under another idempotency key).
    AlreadyReturned,
    /// The show was cancelled: refunded already.
    ShowCancelled,
    /// Revoked by the operator.
    Revoked,
    /// Admitted at a gate.
    CheckedIn,
    /// Past the schedule's return cutoff.
    TooLate { until: DateTime<Utc> },
}

/// The last moment a ticket of a schedule starting at `starts_at` may be returned.
pub fn return_until(starts_at: DateTime<Utc>, cutoff: Duration) -> DateTime<Utc> {
    starts_at - cutoff
}

/// The cutoff in force for a schedule.
pub fn cutoff_of(policy: Option<&SchedulePolicy>, default_cutoff: Duration) -> Duration {
    policy.and_then(|p| p.cutoff).unwrap_or(default_cutoff)
}

/// Whether `t` may be returned at `now` (returns close at `until`, exclusive).
///
/// # Errors
/// The first refusal that applies, in the order a fan would want to hear them.
pub fn check_return(
    t: &Ticket,
    returned: bool,
    cancelled: bool,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    if returned {
        return Err(Refusal::AlreadyReturned);
    }
    if cancelled {
        return Err(Refusal::ShowCancelled);
    }
    if t.revoked_at.is_some() {
        return Err(Refusal::Revoked);
    }
    if t.admitted.is_some() {
        return Err(Refusal::CheckedIn);
    }
    if now >= until {
        return Err(Refusal::TooLate { until });
    }
    Ok(())
}

/// What a ticket's holder is told about it at `now`.
pub fn ticket_state(
    t: &Ticket,
    returned: bool,
    policy: Option<&SchedulePolicy>,
    default_cutoff: Duration,
    now: DateTime<Utc>,
) -> TicketState {
    let cancelled = policy.is_some_and(|p| p.cancelled_at.is_some());
    let status = if returned {
        TicketStatus::Returned
    } else if cancelled {
        TicketStatus::Cancelled
    } else if t.revoked_at.is_some() {
        TicketStatus::Revoked
    } else if t.admitted.is_some() {
        TicketStatus::CheckedIn
    } else {
        TicketStatus::Valid
    };
    let until = return_until(t.starts_at, cutoff_of(policy, default_cutoff));
    let open = status == TicketStatus::Valid;
    TicketState {
        status,
        returnable: open && check_return(t, returned, cancelled, until, now).is_ok(),
        return_until: open.then_some(until),
    }
}
