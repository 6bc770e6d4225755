//! The tickets' store: tickets (issued by `OrderRepository::pay` in the paying
//! transaction), check-ins, gate keys, revocations and holder bindings.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::keys::HolderKey;
use super::model::{
    CheckResult, Checkin, CheckinStats, GateKey, InvalidReason, Revocation, Scan, Ticket, TicketId,
};
use crate::error::StoreError;
use crate::model::{OrderId, ScheduleId, UserId};

/// A check-in to record, with what the gate decided before redemption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCheckin {
    pub scan: Scan,
    pub schedule_id: ScheduleId,
    pub received_at: DateTime<Utc>,
    pub decision: Decision,
}

/// What the gate's pure rules decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A genuine code of this ticket and generation: admit unless the store says the
    /// ticket was admitted before, revoked or re-bound.
    Admit { ticket: TicketId, generation: u32 },
    /// Refused whatever the store holds.
    Refuse {
        result: CheckResult,
        reason: Option<InvalidReason>,
        ticket: Option<TicketId>,
    },
}

/// Which tickets a revocation ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeTarget {
    Ticket(TicketId),
    /// Every ticket of the order (a cancelled order).
    Order(OrderId),
}

/// Errors of [`TicketRepository::bind_holder`].
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Unknown, or another fan's.
    #[error("ticket not found")]
    NotFound,
    #[error("the ticket is revoked")]
    Revoked,
    #[error("the ticket was already admitted")]
    AlreadyAdmitted,
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// The tickets' store.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TicketRepository: Send + Sync + 'static {
    /// The fan's tickets, oldest first, at most `limit`.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached or a row is corrupt.
    async fn tickets_of(&self, user: UserId, limit: u64) -> Result<Vec<Ticket>, StoreError>;

    /// One ticket, whoever holds it; `None` when unknown.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached or a row is corrupt.
    async fn ticket(&self, id: TicketId) -> Result<Option<Ticket>, StoreError>;

    /// The tickets of `ids` that exist, in no particular order.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached or a row is corrupt.
    async fn tickets(&self, ids: &[TicketId]) -> Result<Vec<Ticket>, StoreError>;

    /// Records a check-in, once per nonce. In one transaction: the check-in is inserted
    /// under its unique nonce (a nonce stored before returns that record unchanged,
    /// `replayed = true`); for `Decision::Admit` the ticket's first admission is taken
    /// by a conditional update (not admitted, not revoked, same generation), so of any
    /// number of concurrent scans of a ticket exactly one is `Admitted`; the others get
    /// the answer of `rules::stored_refusal` with the first scan. An offline `Admitted`
    /// answered `AlreadyRedeemed` is kept and flagged `duplicate`.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn record_checkin(&self, new: NewCheckin) -> Result<Checkin, StoreError>;

    /// Records a batch of check-ins in their order, each as `record_checkin` does (a
    /// later scan of a ticket sees the earlier ones; a nonce twice in the batch is
    /// recorded once and answered `replayed` the second time). An adapter should
    /// commit the batch at once where it can (one transaction), and fall back to one
    /// check-in at a time when a concurrent scan of the same ticket or nonce got in
    /// between.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn record_checkins(&self, batch: Vec<NewCheckin>) -> Result<Vec<Checkin>, StoreError>;

    /// Stores a gate key of `schedule` by its hash; `None` for an unknown schedule.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn create_gate_key(
        &self,
        schedule: ScheduleId,
        label: &str,
        key_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<GateKey>, StoreError>;

    /// The gate key with this hash (revoked or not); `None` when unknown.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn gate_key(&self, key_hash: &str) -> Result<Option<GateKey>, StoreError>;

    /// Every gate key of the schedule, oldest first.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn gate_keys(&self, schedule: ScheduleId) -> Result<Vec<GateKey>, StoreError>;

    /// Revokes a gate key of the schedule; false when it has no such key. Revoking twice
    /// keeps the first time.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn revoke_gate_key(
        &self,
        schedule: ScheduleId,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Revokes every unrevoked ticket of the target at once (the ticket, and its entry
    /// on the revocation list through every generation) and returns them; already
    /// revoked ones are left as they were.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn revoke(
        &self,
        target: RevokeTarget,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<TicketId>, StoreError>;

    /// The schedule's revocation list: entries changed at or after `since` (all when
    /// `None`).
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn revocations(
        &self,
        schedule: ScheduleId,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<Revocation>, StoreError>;

    /// Binds the fan's ticket to `holder`: the generation goes up by one, codes of the
    /// old generation go on the revocation list, and the binding is logged.
    ///
    /// # Errors
    /// `NotFound` (unknown or another fan's), `Revoked`, `AlreadyAdmitted`,
    /// `Unavailable`.
    async fn bind_holder(
        &self,
        user: UserId,
        ticket: TicketId,
        holder: HolderKey,
        now: DateTime<Utc>,
    ) -> Result<Ticket, BindError>;

    /// Whether the schedule's tickets must be shown as rotating codes.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn rotating_required(&self, schedule: ScheduleId) -> Result<bool, StoreError>;

    /// Sets whether the schedule's tickets must be shown as rotating codes.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn set_rotating_required(
        &self,
        schedule: ScheduleId,
        required: bool,
    ) -> Result<(), StoreError>;

    /// The console's figures of the schedule's doors (`per_gate_minute` built with
    /// `rules::per_gate_minute`).
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn checkin_stats(&self, schedule: ScheduleId) -> Result<CheckinStats, StoreError>;
}
