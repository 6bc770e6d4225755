//! `ReturnsRepository`: returns, refunds, the waiting list and cancelled shows. Every
//! change is one short transaction that takes the fan's wallet row first (as the box
//! office does), so a fan's returns, payments and orders are serialised; the database's
//! unique keys guard every "once" (one refund per returned ticket and per order of a
//! cancelled show, one live waiting-list entry per fan and schedule) even against wrong
//! code.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use super::model::{
    CancelReport, JoinWaitlist, ReturnReceipt, ReturnTicket, ReturnsSummary, SchedulePolicy,
    WaitlistEntry,
};
use super::rules::Refusal;
use crate::error::StoreError;
use crate::model::{ScheduleId, UserId};
use crate::tickets::model::TicketId;

/// Why a ticket could not be returned; nothing changes then.
#[derive(Debug, thiserror::Error)]
pub enum ReturnError {
    /// Unknown, or another fan's (the two are indistinguishable on purpose).
    #[error("ticket not found")]
    NotFound,
    /// The key was used before by this fan for another ticket's return.
    #[error("idempotency key was already used for another return")]
    KeyReused,
    #[error("the ticket cannot be returned: {0:?}")]
    Refused(Refusal),
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// Why a fan could not join or leave a waiting list; nothing changes then.
#[derive(Debug, thiserror::Error)]
pub enum WaitlistError {
    #[error("schedule not found")]
    ScheduleNotFound,
    /// Places are still on sale: buy one.
    #[error("places are still on sale")]
    NotSoldOut,
    /// The fan is on this list already.
    #[error("already on the waiting list")]
    AlreadyJoined,
    /// The fan is not on this list.
    #[error("not on the waiting list")]
    NotJoined,
    #[error("the show was cancelled")]
    ShowCancelled,
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// The store of returns, refunds, waiting lists and cancellations.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ReturnsRepository: Send + Sync + 'static {
    /// Returns the fan's ticket in one transaction: the fan's wallet row is locked, a
    /// refund under `(user, idempotency_key)` found there is replayed
    /// (`replayed = true`); otherwise the ticket is checked with `rules::check_return`
    /// (cutoff: the schedule's, else `req.default_cutoff`), revoked through every
    /// generation (its revocation-list entry written), the price paid for its position
    /// credited with a ledger entry and a refund row under the unique key
    /// `ticket:<id>`, and its place offered to the earliest waiting fan of the schedule
    /// (a `HELD` order of theirs, the seat held for them alone) or put back on sale.
    ///
    /// # Errors
    /// - `NotFound` for an unknown ticket or another fan's.
    /// - `KeyReused` when the fan's key names another ticket's return.
    /// - `Refused` with the first `rules::check_return` refusal.
    /// - `Unavailable` when the database cannot be reached.
    async fn return_ticket(&self, req: ReturnTicket) -> Result<ReturnReceipt, ReturnError>;

    /// The tickets of `user` that were returned.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn returned_tickets(&self, user: UserId) -> Result<Vec<TicketId>, StoreError>;

    /// The return rule and cancellation of each schedule named (unknown ones are left
    /// out).
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn policies(&self, schedules: Vec<ScheduleId>)
    -> Result<Vec<SchedulePolicy>, StoreError>;

    /// Sets (or with `None` clears) the schedule's return cutoff; false for an unknown
    /// schedule.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn set_cutoff(
        &self,
        schedule: ScheduleId,
        cutoff: Option<Duration>,
    ) -> Result<bool, StoreError>;

    /// The console's figures; `None` for an unknown schedule.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn summary(
        &self,
        schedule: ScheduleId,
        default_cutoff: Duration,
    ) -> Result<Option<ReturnsSummary>, StoreError>;

    /// Puts the fan on the schedule's waiting list, after every fan who joined before
    /// (entries are numbered as they are inserted).
    ///
    /// # Errors
    /// `ScheduleNotFound`, `ShowCancelled`, `NotSoldOut` (a seat or standing place is
    /// free to buy at `req.now`), `AlreadyJoined` (the unique live entry exists),
    /// `Unavailable`.
    async fn join(&self, req: JoinWaitlist) -> Result<WaitlistEntry, WaitlistError>;

    /// The fan's latest entry on the schedule's list (live or ended), with its position
    /// and open offer; `None` when the fan never joined.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn entry(
        &self,
        user: UserId,
        schedule: ScheduleId,
    ) -> Result<Option<WaitlistEntry>, StoreError>;

    /// Takes the fan off the list; an open offer is declined, its place passed to the
    /// next fan in the same transaction.
    ///
    /// # Errors
    /// `NotJoined` (no live entry), `Unavailable`.
    async fn leave(
        &self,
        user: UserId,
        schedule: ScheduleId,
        now: DateTime<Utc>,
    ) -> Result<WaitlistEntry, WaitlistError>;

    /// Cancels the schedule: its cancellation is written once (the first call's time
    /// stays), every seat and standing place is taken off sale, every live held order
    /// ends `CANCELLED`, the waiting list is closed, and each paid order is refunded
    /// once what is left of it (under the unique key `cancel:<order id>`, with its
    /// tickets revoked) — order by order, each in its own transaction, until a pass finds
    /// nothing left to do. `None` for an unknown schedule.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached (calling again finishes the job).
    async fn cancel_schedule(
        &self,
        schedule: ScheduleId,
        now: DateTime<Utc>,
    ) -> Result<Option<CancelReport>, StoreError>;
}
