//! Typed errors: one enum per port and per use case, each variant something a caller can
//! act on. Adapters translate their driver errors into these; driver types never cross
//! into the domain.

use crate::model::{Money, ReservationStatus};

/// The source of an `Unavailable` error: the adapter's own error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A storage backend (database) could not answer.
#[derive(Debug, thiserror::Error)]
#[error("storage unavailable: {0}")]
pub struct StoreError(#[source] pub BoxError);

impl StoreError {
    pub fn new(e: impl Into<BoxError>) -> Self {
        StoreError(e.into())
    }
}

/// Errors of `SeatRepository::hold`.
#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    /// No such seat in that schedule (or no such schedule).
    #[error("seat not found in this schedule")]
    SeatNotFound,
    /// Somebody else holds it (unexpired) or it is sold, or a concurrent hold won.
    #[error("seat is already taken")]
    SeatTaken,
    /// The user already holds the maximum number of seats in this schedule.
    #[error("hold limit of {limit} seats per schedule reached")]
    LimitReached { limit: u32 },
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// Errors of `SeatRepository::cancel`.
#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    /// Unknown, or belongs to another user (the two are indistinguishable on purpose).
    #[error("reservation not found")]
    NotFound,
    /// Only a held reservation can be cancelled; it is confirmed, cancelled or expired.
    #[error("reservation is {status} and cannot be cancelled")]
    NotHeld { status: ReservationStatus },
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// Errors of `SeatRepository::extend`.
#[derive(Debug, thiserror::Error)]
pub enum ExtendError {
    /// Unknown, or belongs to another user (the two are indistinguishable on purpose).
    #[error("reservation not found")]
    NotFound,
    /// Only a live hold can be extended; it is confirmed, cancelled or expired.
    #[error("reservation is {status} and cannot be extended")]
    NotHeld { status: ReservationStatus },
    /// The hold was extended once already.
    #[error("the hold was already extended once")]
    AlreadyExtended,
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// Errors of the `WalletRepository` port.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error("user not found")]
    UserNotFound,
    /// The balance would exceed what the wallet can hold.
    #[error("balance limit exceeded")]
    BalanceLimit,
    /// The idempotency key was used before by this user for another amount.
    #[error("idempotency key was already used for another charge")]
    KeyReused,
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// Errors of `PaymentRepository::pay`.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// Unknown, or belongs to another user.
    #[error("reservation not found")]
    ReservationNotFound,
    /// The hold ran out before payment (or was swept).
    #[error("the hold has expired")]
    HoldExpired,
    /// The reservation was cancelled.
    #[error("reservation was cancelled")]
    Cancelled,
    /// Paid already, under another idempotency key.
    #[error("reservation is already paid")]
    AlreadyPaid,
    #[error("insufficient balance: {balance} available, {amount} needed")]
    InsufficientBalance { balance: Money, amount: Money },
    /// The idempotency key was used before for another reservation.
    #[error("idempotency key was already used for another reservation")]
    KeyReused,
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// Errors of the `Queue` port.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The token is malformed, forged, or was never issued.
    #[error("unknown queue token")]
    UnknownToken,
    /// The queue backend (Redis) could not answer in time.
    #[error("queue unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// The change does not fit the line's state (e.g. a pre-queue for a line that fans
    /// already entered); the message says why.
    #[error("{0}")]
    Refused(String),
    /// The line is closed or retired: nobody enters it.
    #[error("the line is closed ({})", .0.as_str())]
    Closed(crate::lifecycle::CloseReason),
}

impl QueueError {
    pub fn unavailable(e: impl Into<BoxError>) -> Self {
        QueueError::Unavailable(e.into())
    }
}
