//! `OrderRepository`: the box office's store. Every change is one short transaction
//! taking its locks in one order — the fan's allowance (wallet row), seats ascending,
//! standing areas by name, the order, its positions — so concurrent parties never
//! deadlock; the database's own constraints (one live reservation per seat, standing
//! `held + sold ≤ capacity`, one payment per order, balance ≥ 0) guard every invariant
//! even against wrong code.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use super::model::{
    Availability, NewPresaleCodes, Order, OrderHead, OrderReceipt, OrderStatus, PayOrder,
    PlaceOrder, PresaleCode, VenueSeat,
};
use crate::error::StoreError;
use crate::model::{ConcertId, Money, OrderId, ScheduleId, SeatId, UserId};

/// Why an order could not be held; nothing is held then.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    /// These seats are not seats of the schedule.
    #[error("seats not in this schedule: {0:?}")]
    SeatsNotFound(Vec<SeatId>),
    /// These seats are sold or held (unexpired) by someone, or a concurrent order won.
    #[error("seats already taken: {0:?}")]
    SeatsTaken(Vec<SeatId>),
    /// No standing area of this name in the schedule.
    #[error("no standing area {0:?} in this schedule")]
    AreaNotFound(String),
    /// The area has fewer places left than asked.
    #[error("standing area {area:?} has {available} places left")]
    AreaFull { area: String, available: u64 },
    /// The fan would hold or own more than `limit` tickets of the schedule.
    #[error("at most {limit} tickets per fan for this schedule ({already} already held or bought)")]
    FanLimit { limit: u32, already: u64 },
    /// The presale code is unknown, cancelled, outside its window, or bound to
    /// another account (all answered alike).
    #[error("presale code not valid")]
    CodeInvalid,
    /// The code has fewer tickets left than the order asks for.
    #[error("presale code has {left} tickets left")]
    CodeExhausted { left: u32 },
    /// These seats are in a hidden category or section the fan's code does not open.
    #[error("seats not on sale to this fan: {0:?}")]
    SeatsNotOnSale(Vec<SeatId>),
    /// The standing area is hidden and the fan's code does not open it.
    #[error("standing area {0:?} not on sale to this fan")]
    AreaNotOnSale(String),
    /// The operator cancelled the schedule: nothing of it is sold any more.
    #[error("the show was cancelled")]
    ScheduleCancelled,
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// Why presale codes could not be created.
#[derive(Debug, thiserror::Error)]
pub enum PresaleError {
    #[error("schedule not found")]
    ScheduleNotFound,
    /// A code of the batch exists already.
    #[error("presale code {0:?} exists already")]
    Duplicate(String),
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// Why an order could not be cancelled or extended; nothing changes then.
#[derive(Debug, thiserror::Error)]
pub enum OrderChangeError {
    /// Unknown, or another fan's (the two are indistinguishable on purpose).
    #[error("order not found")]
    NotFound,
    /// Only a live hold can change; it is paid, cancelled or expired.
    #[error("order is {status} and cannot be changed")]
    NotHeld { status: OrderStatus },
    /// A hold is extended at most once.
    #[error("the order was already extended once")]
    AlreadyExtended,
    /// The buyer's admission ends before the hold could be extended.
    #[error("the hold already lasts until the admission ends")]
    AdmissionEnds,
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// Why an order could not be paid; nothing changes then.
#[derive(Debug, thiserror::Error)]
pub enum OrderPayError {
    #[error("order not found")]
    NotFound,
    #[error("the hold has expired")]
    Expired,
    #[error("order was cancelled")]
    Cancelled,
    /// Paid already, under another idempotency key.
    #[error("order is already paid")]
    AlreadyPaid,
    #[error("insufficient balance: {balance} available, {amount} needed")]
    InsufficientBalance { balance: Money, amount: Money },
    /// The key was used before by this fan for another payment.
    #[error("idempotency key was already used for another payment")]
    KeyReused,
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// The box office's store.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait OrderRepository: Send + Sync + 'static {
    /// Every seat of the schedule with its place (blocked seats are not seats), in no
    /// particular order; `None` for an unknown schedule.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn venue(&self, schedule: ScheduleId) -> Result<Option<Vec<VenueSeat>>, StoreError>;

    /// The seats of the schedule that are sold or under a hold unexpired at `now`.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn taken_seats(
        &self,
        schedule: ScheduleId,
        now: DateTime<Utc>,
    ) -> Result<Vec<SeatId>, StoreError>;

    /// Holds everything `req` asks for until `req.expires_at` in one transaction, or
    /// nothing. Seats change hands only through a conditional update (free, or held
    /// with an expired hold, whose reservation then becomes `EXPIRED`); standing places
    /// through `held + quantity ≤ capacity − sold` in one statement; the fan's allowance
    /// is counted after locking the fan's wallet row, so two orders of one fan are
    /// serialised.
    ///
    /// # Errors
    /// - `SeatsNotFound` naming every seat not in `req.schedule_id`.
    /// - `SeatsTaken` naming every seat not free at `req.now` (sold, held unexpired, or
    ///   won by a concurrent order); returned at once, never after waiting.
    /// - `AreaNotFound`, `AreaFull` for the first standing line that cannot be met.
    /// - `FanLimit` when the fan's live and paid tickets of the schedule plus this
    ///   order exceed `req.max_per_fan`.
    /// - `CodeInvalid` when `req.presale_code` is unknown, cancelled, outside its window
    ///   or bound to another fan; `CodeExhausted` when it has fewer tickets left than
    ///   the order (a code's count is kept by a conditional update, after the fan's
    ///   lock and before the seats'); `SeatsNotOnSale` / `AreaNotOnSale` for hidden
    ///   seats or areas the code does not open (or any, without a code).
    /// - `ScheduleCancelled` when the schedule's cancellation is on record (read after
    ///   the fan's lock).
    /// - `Unavailable` when the database cannot be reached.
    async fn place(&self, req: PlaceOrder) -> Result<Order, PlaceError>;

    /// The order with this id, whoever owns it; `None` when unknown.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached or a row is corrupt.
    async fn order(&self, id: OrderId) -> Result<Option<Order>, StoreError>;

    /// The order's owner, concert, status and whether it is a waiting-list offer, without
    /// its positions; `None` when unknown.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached or a row is corrupt.
    async fn order_head(&self, id: OrderId) -> Result<Option<OrderHead>, StoreError>;

    /// The fan's orders, newest first, at most `limit`.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached or a row is corrupt.
    async fn orders_of(&self, user: UserId, limit: u64) -> Result<Vec<Order>, StoreError>;

    /// Cancels a live held order of `user`: its seats and places are free again at once.
    ///
    /// # Errors
    /// `NotFound`, `NotHeld` (paid, cancelled, or expired at or before `now`),
    /// `Unavailable`.
    async fn cancel(
        &self,
        user: UserId,
        id: OrderId,
        now: DateTime<Utc>,
    ) -> Result<Order, OrderChangeError>;

    /// Extends a live held order of `user` once by `by`, but never past its
    /// `admitted_until`; its seats' holds move with it.
    ///
    /// # Errors
    /// `NotFound`, `NotHeld`, `AlreadyExtended`, `AdmissionEnds` (no time left to add),
    /// `Unavailable`.
    async fn extend(
        &self,
        user: UserId,
        id: OrderId,
        by: Duration,
        now: DateTime<Utc>,
    ) -> Result<Order, OrderChangeError>;

    /// Pays a live held order in one transaction: one debit of the total (never below
    /// zero) with a ledger entry, every seat `SOLD`, every standing place sold, the
    /// order `PAID`, the receipt stored under `(user, idempotency_key)` and unique per
    /// order. A replay of the same key returns the stored receipt, `replayed = true`.
    ///
    /// # Errors
    /// `NotFound`, `KeyReused`, `Expired`, `Cancelled`, `AlreadyPaid`,
    /// `InsufficientBalance`, `Unavailable`.
    async fn pay(&self, req: PayOrder) -> Result<OrderReceipt, OrderPayError>;

    /// Ends up to `limit` held orders that expired at or before `now`: each becomes
    /// `EXPIRED`, its standing places go back to their areas and its seats are freed.
    /// Returns how many orders ended.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn release_expired(&self, now: DateTime<Utc>, limit: u64) -> Result<u64, StoreError>;

    /// How many live held orders `user` has across the concert's schedules.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn live_orders_for_concert(
        &self,
        user: UserId,
        concert: ConcertId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// The schedule's standing areas with their capacity, places held, sold and left, in
    /// the venue's order (none for an unknown schedule or one without standing).
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn standing_areas(
        &self,
        schedule: ScheduleId,
    ) -> Result<Vec<super::model::AreaAvailability>, StoreError>;

    /// What is left per seat category and per standing area at `now`; `None` for an
    /// unknown schedule.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn availability(
        &self,
        schedule: ScheduleId,
        now: DateTime<Utc>,
    ) -> Result<Option<Availability>, StoreError>;

    /// Stores a batch of presale codes, all or none.
    ///
    /// # Errors
    /// `ScheduleNotFound`, `Duplicate` (a code exists already; nothing stored),
    /// `Unavailable`.
    async fn create_presale_codes(
        &self,
        new: NewPresaleCodes,
    ) -> Result<Vec<PresaleCode>, PresaleError>;

    /// Every presale code of the schedule, oldest first; `None` for an unknown schedule.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn presale_codes(
        &self,
        schedule: ScheduleId,
    ) -> Result<Option<Vec<PresaleCode>>, StoreError>;

    /// The code of that schedule, if it exists (whoever may use it).
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn presale_code(
        &self,
        schedule: ScheduleId,
        code: &str,
    ) -> Result<Option<PresaleCode>, StoreError>;

    /// Cancels a code: it opens nothing from now on (held orders keep their seats).
    /// False when the schedule has no such code.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn cancel_presale_code(
        &self,
        schedule: ScheduleId,
        code: &str,
    ) -> Result<bool, StoreError>;
}
