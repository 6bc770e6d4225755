//! Returns and the waiting list: a fan returns a ticket before its schedule's cutoff and
//! is refunded once; the place goes first, as an expiring offer, to the fans who asked
//! to wait (in the order they joined), else back on sale; an operator cancels a show and
//! every paid order is refunded once, every ticket revoked, nothing sold again.

pub mod model;
pub mod port;
pub mod rules;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use self::model::{
    CancelReport, JoinWaitlist, ReturnReceipt, ReturnTicket, ReturnsSummary, TicketState,
    WaitlistEntry,
};
use self::port::{ReturnError, ReturnsRepository, WaitlistError};
use self::rules::Refusal;
use crate::booking::MAX_IDEMPOTENCY_KEY_LEN;
use crate::error::StoreError;
use crate::model::{ScheduleId, UserId};
use crate::ports::Clock;
use crate::tickets::model::{Ticket, TicketId};
use crate::waiting_room::WaitingRoom;

/// The longest return cutoff an operator may set: a year.
pub const MAX_CUTOFF_MINUTES: u32 = 525_600;

/// The rules of returns and the waiting list (from settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReturnsPolicy {
    /// Returns close this long before a schedule starts, unless its operator set another.
    pub default_cutoff: Duration,
    /// How long an offer holds a returned place for a waiting fan.
    pub offer_window: Duration,
    /// The most places one fan may wait for (the box office's tickets per order).
    pub max_quantity: u32,
}

impl Default for ReturnsPolicy {
    fn default() -> Self {
        ReturnsPolicy {
            default_cutoff: Duration::hours(24),
            offer_window: Duration::minutes(15),
            max_quantity: 8,
        }
    }
}

/// Errors of returns, the waiting list and cancellations.
#[derive(Debug, thiserror::Error)]
pub enum ReturnsError {
    /// The request is malformed; the text names the field.
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("idempotency key must be 1 to {max} characters")]
    InvalidIdempotencyKey { max: usize },
    #[error("ticket not found")]
    NotFound,
    #[error("schedule not found")]
    ScheduleNotFound,
    #[error("idempotency key was already used for another return")]
    KeyReused,
    #[error("the ticket was returned already")]
    AlreadyReturned,
    #[error("the show was cancelled")]
    ShowCancelled,
    #[error("the ticket was revoked")]
    Revoked,
    #[error("the ticket was checked in at a gate")]
    CheckedIn,
    #[error("returns closed at {until}")]
    TooLate { until: DateTime<Utc> },
    #[error("places are still on sale: buy one instead of waiting")]
    NotSoldOut,
    #[error("you are on this waiting list already")]
    AlreadyJoined,
    #[error("you are not on this waiting list")]
    NotJoined,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ReturnError> for ReturnsError {
    fn from(e: ReturnError) -> Self {
        match e {
            ReturnError::NotFound => ReturnsError::NotFound,
            ReturnError::KeyReused => ReturnsError::KeyReused,
            ReturnError::Refused(r) => match r {
                Refusal::AlreadyReturned => ReturnsError::AlreadyReturned,
                Refusal::ShowCancelled => ReturnsError::ShowCancelled,
                Refusal::Revoked => ReturnsError::Revoked,
                Refusal::CheckedIn => ReturnsError::CheckedIn,
                Refusal::TooLate { until } => ReturnsError::TooLate { until },
            },
            ReturnError::Unavailable(s) => ReturnsError::Store(s),
        }
    }
}

impl From<WaitlistError> for ReturnsError {
    fn from(e: WaitlistError) -> Self {
        match e {
            WaitlistError::ScheduleNotFound => ReturnsError::ScheduleNotFound,
            WaitlistError::NotSoldOut => ReturnsError::NotSoldOut,
            WaitlistError::AlreadyJoined => ReturnsError::AlreadyJoined,
            WaitlistError::NotJoined => ReturnsError::NotJoined,
            WaitlistError::ShowCancelled => ReturnsError::ShowCancelled,
            WaitlistError::Unavailable(s) => ReturnsError::Store(s),
        }
    }
}

/// The returns use case.
#[derive(Clone)]
pub struct Returns {
    repo: Arc<dyn ReturnsRepository>,
    room: WaitingRoom,
    clock: Arc<dyn Clock>,
    policy: ReturnsPolicy,
}

impl Returns {
    /// The use case; `room` is the app's waiting room (a concert whose every schedule
    /// is cancelled has its line closed).
    pub fn new(
        repo: Arc<dyn ReturnsRepository>,
        room: WaitingRoom,
        clock: Arc<dyn Clock>,
        policy: ReturnsPolicy,
    ) -> Self {
        Returns {
            repo,
            room,
            clock,
            policy,
        }
    }

    pub fn policy(&self) -> ReturnsPolicy {
        self.policy
    }

    /// Returns the fan's ticket: revoked at once, the price paid credited once per
    /// ticket (a replay of `idempotency_key` answers the same refund), the place offered
    /// to the waiting list or put back on sale.
    #[tracing::instrument(skip_all, fields(user = %user, ticket = %ticket), err(level = "debug"))]
    pub async fn return_ticket(
        &self,
        user: UserId,
        ticket: TicketId,
        idempotency_key: &str,
    ) -> Result<ReturnReceipt, ReturnsError> {
        let key = crate::booking::idempotency_key(idempotency_key).ok_or(
            ReturnsError::InvalidIdempotencyKey {
                max: MAX_IDEMPOTENCY_KEY_LEN,
            },
        )?;
        Ok(self
            .repo
            .return_ticket(ReturnTicket {
                user_id: user,
                ticket_id: ticket,
                idempotency_key: key.to_owned(),
                now: self.clock.now(),
                default_cutoff: self.policy.default_cutoff,
            })
            .await?)
    }

    /// What the fan is told about each of their tickets (by id).
    pub async fn ticket_states(
        &self,
        user: UserId,
        tickets: &[&Ticket],
    ) -> Result<HashMap<TicketId, TicketState>, ReturnsError> {
        if tickets.is_empty() {
            return Ok(HashMap::new());
        }
        let returned: HashSet<TicketId> = self
            .repo
            .returned_tickets(user)
            .await?
            .into_iter()
            .collect();
        let schedules: HashSet<ScheduleId> = tickets.iter().map(|t| t.schedule_id).collect();
        let policies: HashMap<ScheduleId, model::SchedulePolicy> = self
            .repo
            .policies(schedules.into_iter().collect())
            .await?
            .into_iter()
            .map(|p| (p.schedule_id, p))
            .collect();
        let now = self.clock.now();
        Ok(tickets
            .iter()
            .map(|t| {
                (
                    t.id,
                    rules::ticket_state(
                        t,
                        returned.contains(&t.id),
                        policies.get(&t.schedule_id),
                        self.policy.default_cutoff,
                        now,
                    ),
                )
            })
            .collect())
    }

    /// Sets the schedule's return cutoff in minutes before its start (`None`: back to
    /// the default).
    pub async fn set_cutoff(
        &self,
        schedule: ScheduleId,
        minutes: Option<u32>,
    ) -> Result<ReturnsSummary, ReturnsError> {
        if minutes.is_some_and(|m| m > MAX_CUTOFF_MINUTES) {
            return Err(ReturnsError::Invalid(format!(
                "cutoff_minutes must be 0 to {MAX_CUTOFF_MINUTES}"
            )));
        }
        let cutoff = minutes.map(|m| Duration::minutes(i64::from(m)));
        if !self.repo.set_cutoff(schedule, cutoff).await? {
            return Err(ReturnsError::ScheduleNotFound);
        }
        self.summary(schedule).await
    }

    /// The schedule's cutoff, cancellation and waiting-list figures.
    pub async fn summary(&self, schedule: ScheduleId) -> Result<ReturnsSummary, ReturnsError> {
        self.repo
            .summary(schedule, self.policy.default_cutoff)
            .await?
            .ok_or(ReturnsError::ScheduleNotFound)
    }

    /// Puts the fan on the schedule's waiting list for `quantity` places.
    pub async fn join(
        &self,
        user: UserId,
        schedule: ScheduleId,
        quantity: u32,
    ) -> Result<WaitlistEntry, ReturnsError> {
        if quantity == 0 || quantity > self.policy.max_quantity {
            return Err(ReturnsError::Invalid(format!(
                "quantity must be 1 to {}",
                self.policy.max_quantity
            )));
        }
        Ok(self
            .repo
            .join(JoinWaitlist {
                user_id: user,
                schedule_id: schedule,
                quantity,
                offer_window: self.policy.offer_window,
                now: self.clock.now(),
            })
            .await?)
    }

    /// The fan's entry on the schedule's list, with its offer.
    pub async fn entry(
        &self,
        user: UserId,
        schedule: ScheduleId,
    ) -> Result<WaitlistEntry, ReturnsError> {
        self.repo
            .entry(user, schedule)
            .await?
            .ok_or(ReturnsError::NotJoined)
    }

    /// Takes the fan off the list (declining an open offer).
    pub async fn leave(
        &self,
        user: UserId,
        schedule: ScheduleId,
    ) -> Result<WaitlistEntry, ReturnsError> {
        Ok(self.repo.leave(user, schedule, self.clock.now()).await?)
    }

    /// Cancels the show: every paid order refunded once, every ticket revoked, held
    /// orders cancelled, nothing on sale; when no schedule of the concert is left, its
    /// line is closed.
    #[tracing::instrument(skip_all, fields(schedule = %schedule), err(level = "debug"))]
    pub async fn cancel_show(&self, schedule: ScheduleId) -> Result<CancelReport, ReturnsError> {
        let report = self
            .repo
            .cancel_schedule(schedule, self.clock.now())
            .await?
            .ok_or(ReturnsError::ScheduleNotFound)?;
        if report.concert_cancelled
            && let Err(e) = self.room.close(report.concert_id).await
        {
            // The refunds are done; the line is closed by hand if this fails.
            tracing::warn!(error = %e, concert = %report.concert_id, "could not close the line of a cancelled concert");
        }
        tracing::info!(
            orders = report.orders_refunded,
            tickets = report.tickets_revoked,
            "show cancelled"
        );
        Ok(report)
    }
}

#[cfg(test)]
mod tests;
