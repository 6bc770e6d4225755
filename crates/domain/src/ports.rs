//! The ports: traits the domain needs from the outside world. Each method's doc is the
//! contract every adapter must meet; the adapter contract suites check exactly these
//! sentences.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::draw::Draw;
use crate::error::ExtendError;
use crate::error::{CancelError, HoldError, PaymentError, QueueError, StoreError, WalletError};
use crate::lifecycle::{CloseReason, LineLife};
use crate::model::ExtendRequest;
use crate::model::Sale;
use crate::model::{
    Concert, ConcertDetail, ConcertId, HoldRequest, Money, NewConcert, OrderId, PaymentReceipt,
    PaymentRequest, Reservation, ReservationId, Schedule, ScheduleId, ScheduleSummary, Seat,
    SeatId, User, UserId,
};
use crate::queue::{
    AdmissionCap, Entered, QueuePolicy, QueueStats, QueueToken, SeatCounts, TickReport, Ticket,
};

/// Tells the time. Injected so tests can move it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Users and their (initially empty) wallets.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync + 'static {
    /// Creates a user named `name` with a wallet of balance 0, atomically.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached; nothing is written then.
    async fn create(&self, name: &str, now: DateTime<Utc>) -> Result<User, StoreError>;

    /// The user with this id, `None` when there is none.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn get(&self, id: UserId) -> Result<Option<User>, StoreError>;

    /// The user an identity provider knows as `subject` (issuer and `sub`, at most
    /// [`MAX_SUBJECT_BYTES`](crate::accounts::MAX_SUBJECT_BYTES)); on first sight one is
    /// created, named `name`, with a wallet of balance 0, atomically. Two first sights of
    /// one subject at once yield one user: every caller gets the same.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached; nothing is written then.
    async fn by_external_subject(
        &self,
        subject: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<User, StoreError>;
}

/// Concerts, schedules and seat maps.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait CatalogRepository: Send + Sync + 'static {
    /// Creates the concert, its schedules and every seat (labels `A-1`, `A-2`, … row by
    /// row; rows past `Z` are `AA`, `AB`, …), all or nothing.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached; nothing is written then. The
    /// caller validates sizes before calling.
    async fn create_concert(&self, new: NewConcert) -> Result<ConcertDetail, StoreError>;

    /// All concerts, oldest first.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn list_concerts(&self) -> Result<Vec<Concert>, StoreError>;

    /// One concert without its schedules, `None` when unknown (a cheap existence check).
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn concert(&self, id: ConcertId) -> Result<Option<Concert>, StoreError>;

    /// One concert with its schedules (earliest first) and their seat availability as of
    /// `now`, `None` when unknown.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn get_concert(
        &self,
        id: ConcertId,
        now: DateTime<Utc>,
    ) -> Result<Option<ConcertDetail>, StoreError>;

    /// One schedule, `None` when unknown.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn get_schedule(&self, id: ScheduleId) -> Result<Option<Schedule>, StoreError>;

    /// The seats of a schedule ordered by row then number, with their status as of `now`
    /// (an expired hold reads `Available`). `None` when the schedule is unknown.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn list_seats(
        &self,
        schedule: ScheduleId,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<Seat>>, StoreError>;

    /// Summaries of a concert's schedules, `None` when the concert is unknown.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn list_schedules(
        &self,
        concert: ConcertId,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<ScheduleSummary>>, StoreError>;
}

/// Seats and the reservations that hold them, under optimistic locking.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SeatRepository: Send + Sync + 'static {
    /// Holds the seat for the user until `req.expires_at`, creating a `HELD` reservation.
    ///
    /// The seat changes hands only through a conditional update on its version: of any
    /// number of concurrent holds on one free seat exactly one succeeds. A seat whose hold
    /// has expired is free: holding it marks the old reservation `EXPIRED`. No table
    /// locks and no `SELECT … FOR UPDATE`.
    ///
    /// # Errors
    /// - `SeatNotFound` when the seat does not exist or is not in `req.schedule_id`.
    /// - `SeatTaken` when the seat is sold, held (unexpired, by anyone, including this
    ///   user), or a concurrent hold won the race. Returned at once, never after waiting
    ///   for the other hold to end.
    /// - `LimitReached` when the user already holds `req.max_held_per_user` unexpired
    ///   seats in this schedule.
    /// - `Unavailable` when the database cannot be reached; nothing is written then.
    async fn hold(&self, req: HoldRequest) -> Result<Reservation, HoldError>;

    /// The reservation with this id, whoever owns it; `None` when unknown.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached, or the row is corrupt (a status
    /// or instant that does not parse).
    async fn reservation(&self, id: ReservationId) -> Result<Option<Reservation>, StoreError>;

    /// The reservation of `seat` in order `order`, `None` when the order has none.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn reservation_in_order(
        &self,
        order: OrderId,
        seat: SeatId,
    ) -> Result<Option<Reservation>, StoreError>;

    /// Releases a `HELD` reservation of `user`: it becomes `CANCELLED` and the seat free.
    ///
    /// # Errors
    /// - `NotFound` when unknown or owned by another user.
    /// - `NotHeld` when it is confirmed, cancelled or expired (an unswept expired hold
    ///   counts as expired).
    /// - `Unavailable` when the database cannot be reached.
    async fn cancel(
        &self,
        user: UserId,
        id: ReservationId,
        now: DateTime<Utc>,
    ) -> Result<Reservation, CancelError>;

    /// Extends a live `HELD` reservation of `user` once: its expiry and its seat's hold
    /// move `req.by` later and `extended_at` becomes `req.now`, in one transaction;
    /// returns the reservation as it now is.
    ///
    /// # Errors
    /// - `NotFound` when unknown or owned by another user.
    /// - `NotHeld` when it is confirmed, cancelled or expired (an unswept hold expired at
    ///   or before `req.now` counts as expired); nothing changes.
    /// - `AlreadyExtended` when it was extended before; nothing changes.
    /// - `Unavailable` when the database cannot be reached.
    async fn extend(&self, req: ExtendRequest) -> Result<Reservation, ExtendError>;

    /// Frees up to `limit` seats whose hold expired at or before `now`: each such
    /// reservation becomes `EXPIRED` and its seat `AVAILABLE`, each seat under the same
    /// optimistic lock as `hold`. Returns how many were freed.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn release_expired(&self, now: DateTime<Utc>, limit: u64) -> Result<u64, StoreError>;

    /// The concert's seats across its schedules as of `now`: `free` (neither sold nor
    /// under an unexpired hold; an expired, unswept hold counts as free), `held` (under
    /// an unexpired hold) and `holders` (distinct users with an unexpired hold). All
    /// zero for an unknown concert.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn seat_counts(
        &self,
        concert: ConcertId,
        now: DateTime<Utc>,
    ) -> Result<SeatCounts, StoreError>;
}

/// Wallet balances and their ledger.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait WalletRepository: Send + Sync + 'static {
    /// The user's balance.
    ///
    /// # Errors
    /// - `UserNotFound` when the user has no wallet.
    /// - `Unavailable` when the database cannot be reached.
    async fn balance(&self, user: UserId) -> Result<Money, WalletError>;

    /// Adds `amount` (> 0, checked by the caller) to the balance and writes one ledger
    /// entry, atomically. Returns the new balance.
    ///
    /// # Errors
    /// - `UserNotFound` when the user has no wallet.
    /// - `BalanceLimit` when the new balance would exceed `i64::MAX / 2`.
    /// - `Unavailable` when the database cannot be reached; nothing is written then.
    async fn charge(
        &self,
        user: UserId,
        amount: Money,
        now: DateTime<Utc>,
    ) -> Result<Money, WalletError>;

    /// Like `charge`, once per `(user, key)`: the first call charges and stores the new
    /// balance under the key, in the same transaction; a later call with the same key and
    /// amount changes nothing and returns that stored balance with `true` (a replay),
    /// also when the calls run concurrently.
    ///
    /// # Errors
    /// As `charge`, and `KeyReused` when this user used the key for another amount.
    async fn charge_once(
        &self,
        user: UserId,
        amount: Money,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<(Money, bool), WalletError>;
}

/// Paying a held reservation from the wallet, exactly once per idempotency key.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PaymentRepository: Send + Sync + 'static {
    /// Pays reservation `req.reservation_id` of `req.user_id` in one database
    /// transaction: the balance is debited by the price (never below zero) with a ledger
    /// entry, the seat becomes `SOLD`, the reservation `CONFIRMED`, and the receipt is
    /// stored under `(user, idempotency_key)`.
    ///
    /// A call whose key was already used by this user for this reservation returns the
    /// stored receipt with `replayed = true` and changes nothing, also when the calls run
    /// concurrently: there is exactly one debit per key.
    ///
    /// # Errors
    /// - `ReservationNotFound` when unknown or owned by another user.
    /// - `KeyReused` when this user used the key for another reservation.
    /// - `HoldExpired` when the hold expired (at or before `req.now`) or was swept.
    /// - `Cancelled` when the reservation was cancelled.
    /// - `AlreadyPaid` when it was paid under another key.
    /// - `InsufficientBalance` when the balance is below the price; nothing changes.
    /// - `Unavailable` when the database cannot be reached; nothing is written then.
    async fn pay(&self, req: PaymentRequest) -> Result<PaymentReceipt, PaymentError>;

    /// Every sold place of `concert`, in the order they were paid: each paid
    /// (`CONFIRMED`) reservation with its seat's label, and each standing place of a
    /// paid order whose ticket is not revoked (returned or cancelled), one per place;
    /// ties by order then seat. An unknown concert has none.
    ///
    /// # Errors
    /// `Unavailable` when the database cannot be reached.
    async fn sales(&self, concert: ConcertId) -> Result<Vec<Sale>, StoreError>;
}

/// The waiting rooms: one line per concert, admission into a bounded active set.
///
/// Every implementation is safe to call from many tasks and (for shared backends) from
/// many processes at once: no step is a read-modify-write across round trips.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Queue: Send + Sync + 'static {
    /// Puts `user` in line for `concert`.
    ///
    /// If the user already has a `Waiting` or `Active` token for this concert, returns it
    /// unchanged with `created = false` (nobody moves; a waiting token counts as polled).
    /// Otherwise (first time, or the old token expired) issues a new token at the back of
    /// the line with `created = true`. Positions are gap-free and 1-based; concurrent
    /// entries of one user yield one token.
    ///
    /// # Errors
    /// - `Closed` when the line is closed or retired (see `close`).
    /// - `Unavailable` when the backend cannot answer.
    async fn enter(
        &self,
        concert: ConcertId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Entered, QueueError>;

    /// The token's standing as of `now`. Polling a waiting token is its heartbeat.
    ///
    /// An adapter shared by many instances may answer from a local view of the line that
    /// trails the shared state by a bounded time (documented by the adapter); past that
    /// bound it answers `Unavailable` rather than a stale standing. Positions told to
    /// one fan by one instance never go up.
    ///
    /// `Waiting` has `position` and (unless paused) `eta_seconds`; `Active` has
    /// `active_until` (an active token past it reads `Expired`); `Expired` has neither.
    ///
    /// # Errors
    /// - `UnknownToken` when the token was never issued (forged, badly signed, or
    ///   another concert's id).
    /// - `Unavailable` when the backend cannot answer.
    async fn status(&self, token: &QueueToken, now: DateTime<Utc>) -> Result<Ticket, QueueError>;

    /// The token's standing as of `now` read from the shared state itself, never from a
    /// view that may lag it: the admission gate of the booking flow uses it, so a fan
    /// admitted a moment ago through another instance can book at once, and one whose
    /// admission ended cannot. Same answers as `status`, but it is not a heartbeat.
    ///
    /// # Errors
    /// As `status`.
    async fn admission(&self, token: &QueueToken, now: DateTime<Utc>)
    -> Result<Ticket, QueueError>;

    /// Leaves the line, or gives up the active slot; the token reads `Expired` after.
    /// Leaving with an already expired token is a no-op.
    ///
    /// # Errors
    /// - `UnknownToken` when the token was never issued.
    /// - `Unavailable` when the backend cannot answer.
    async fn leave(&self, token: &QueueToken, now: DateTime<Utc>) -> Result<(), QueueError>;

    /// One admission step for `concert` as of `now`, atomic as a whole:
    /// 1. active tokens past their `active_until` expire;
    /// 2. waiting tokens not polled for the idle timeout leave the line (at most the
    ///    adapter's per-tick bound);
    /// 3. unless paused, admits from the head of the line while active < `max_active`,
    ///    at most as many as the token bucket (`admit_per_second`, one second of burst)
    ///    allows, in line order.
    ///
    /// Concurrent ticks (several app instances) never admit more in total than one
    /// ticker would.
    ///
    /// With a pre-queue (`sale_opens_at` in the policy) nobody is admitted before the
    /// opening; at the first tick at or after it the pre-queued fans are drawn (see
    /// `draw`), by exactly one caller however many tick, and admission starts once the
    /// draw is stored.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot answer; nothing changes then.
    async fn tick(&self, concert: ConcertId, now: DateTime<Utc>) -> Result<TickReport, QueueError> {
        self.tick_capped(concert, now, None).await
    }

    /// `tick`, admitting no more than `cap.room(active)` on top of its other bounds, and
    /// recording `cap.inventory` for the status answers (`SoldOut` closes the line:
    /// waiting and pre-queued fans, and new entrants, read `SoldOut`; a later cap with
    /// seats reopens it).
    ///
    /// # Errors
    /// As `tick`.
    async fn tick_capped(
        &self,
        concert: ConcertId,
        now: DateTime<Utc>,
        cap: Option<AdmissionCap>,
    ) -> Result<TickReport, QueueError>;

    /// The concert's draw document, `None` when its line has no pre-queue. Before the
    /// draw it has the commitment and the entrants so far; after it, the seed too.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot answer.
    async fn draw(&self, concert: ConcertId) -> Result<Option<Draw>, QueueError>;

    /// Receipts of the drawn fans in drawn order, from `offset`, at most `limit`;
    /// `None` when the concert has no draw or it has not run yet.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot answer.
    async fn draw_receipts(
        &self,
        concert: ConcertId,
        offset: u64,
        limit: u64,
    ) -> Result<Option<Vec<String>>, QueueError>;

    /// The concert's policy: the one set by `set_policy`, else the adapter's default.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot answer.
    async fn policy(&self, concert: ConcertId) -> Result<QueuePolicy, QueueError>;

    /// Replaces the concert's policy (validated by the caller). Takes effect at the next
    /// tick; lowering `max_active` never evicts anyone already active.
    ///
    /// A `sale_opens_at` on a line nobody entered yet creates the pre-queue and its
    /// draw (a fresh secret seed, its commitment published); while the opening has not
    /// been reached (by an entry or a tick), a new `sale_opens_at` moves it. After that
    /// the draw is fixed and later values change nothing.
    ///
    /// # Errors
    /// - `Refused` when `sale_opens_at` is set, the line has no pre-queue and fans
    ///   already entered it.
    /// - `Unavailable` when the backend cannot answer.
    async fn set_policy(&self, concert: ConcertId, policy: QueuePolicy) -> Result<(), QueueError>;

    /// The concert's line's life (`Open` for a line nobody closed or entered).
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot answer.
    async fn life(&self, concert: ConcertId) -> Result<LineLife, QueueError>;

    /// Closes the concert's line: from now on nobody enters (`enter` answers
    /// `Closed`) and nobody is admitted; waiting and pre-queued fans read
    /// `reason.status()`, admitted fans keep their time to buy. A closed line keeps its
    /// first reason and time; a retired one stays retired. Returns the life after.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot answer; nothing changes then.
    async fn close(
        &self,
        concert: ConcertId,
        reason: CloseReason,
        now: DateTime<Utc>,
    ) -> Result<LineLife, QueueError>;

    /// Reopens a closed or retired line (a no-op on an open one). A closed line goes
    /// on where it was (its waiting fans wait again); a retired one starts a new
    /// incarnation at its next entry, in which the old tokens are never waiting nor
    /// active again (they read how the line ended, or are unknown).
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot answer.
    async fn reopen(&self, concert: ConcertId) -> Result<LineLife, QueueError>;

    /// Retires the line if it closed at or before `closed_before` and no admission of
    /// it runs past `now`: every piece of its state is deleted (in bounded steps, never
    /// one long blocking call), it leaves `concerts`, every instance drops its view of
    /// it, and only how it ended is kept, so late pollers read `reason.status()`.
    /// Returns whether the line is retired after the call. Safe to call from many
    /// instances at once, and again after a failure half-way.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot answer.
    async fn retire(
        &self,
        concert: ConcertId,
        now: DateTime<Utc>,
        closed_before: DateTime<Utc>,
    ) -> Result<bool, QueueError>;

    /// Live figures of the concert's waiting room (zeros when nobody ever entered).
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot answer.
    async fn stats(&self, concert: ConcertId, now: DateTime<Utc>)
    -> Result<QueueStats, QueueError>;

    /// Every concert that has a waiting room (someone entered or a policy was set).
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot answer.
    async fn concerts(&self) -> Result<Vec<ConcertId>, QueueError>;

    /// Checks the backend answers (readiness).
    ///
    /// # Errors
    /// `Unavailable` when it does not.
    async fn ping(&self) -> Result<(), QueueError>;
}

/// Shared handles to every port, as `startup` wires them into the use cases.
#[derive(Clone)]
pub struct Ports {
    pub clock: Arc<dyn Clock>,
    pub users: Arc<dyn UserRepository>,
    pub catalog: Arc<dyn CatalogRepository>,
    pub seats: Arc<dyn SeatRepository>,
    pub wallets: Arc<dyn WalletRepository>,
    pub payments: Arc<dyn PaymentRepository>,
    pub queue: Arc<dyn Queue>,
}
