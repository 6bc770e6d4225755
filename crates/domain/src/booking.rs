//! The booking use case: hold a seat, pay for it, cancel it, read it — each change
//! gated by the waiting room.

use std::sync::Arc;

use chrono::Duration;

use crate::error::ExtendError;
use crate::error::{CancelError, HoldError, PaymentError, StoreError};
use crate::model::ExtendRequest;
use crate::model::{
    ConcertId, HoldRequest, Money, PaymentReceipt, PaymentRequest, Reservation, ReservationId,
    ReservationStatus, ScheduleId, SeatId, UserId,
};
use crate::ports::{CatalogRepository, Clock, PaymentRepository, SeatRepository};
use crate::queue::QueueToken;
use crate::waiting_room::{GateError, WaitingRoom};

/// Limits of the booking flow (from settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookingPolicy {
    /// How long a hold lasts before the seat is free again.
    pub hold_ttl: Duration,
    /// The most seats one user may hold at once in one schedule.
    pub max_held_per_user: u32,
    /// How much longer a fan may keep a hold, once (WCAG 2.2.1); zero: holds cannot be
    /// extended.
    pub hold_extension: Duration,
}

impl Default for BookingPolicy {
    fn default() -> Self {
        BookingPolicy {
            hold_ttl: Duration::minutes(5),
            max_held_per_user: 4,
            hold_extension: Duration::minutes(5),
        }
    }
}

/// The longest idempotency key of a payment, in bytes.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// The key a client sent, trimmed, when it is 1 to [`MAX_IDEMPOTENCY_KEY_LEN`] bytes.
pub fn idempotency_key(raw: &str) -> Option<&str> {
    let key = raw.trim();
    (!key.is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY_LEN).then_some(key)
}

/// Errors of the booking use case: the gate's refusals, then one variant per outcome of
/// the seat and payment ports (their `Unavailable` is `Store`).
#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    #[error(transparent)]
    Gate(#[from] GateError),
    #[error("schedule not found")]
    ScheduleNotFound,
    /// No such seat in that schedule.
    #[error("seat not found in this schedule")]
    SeatNotFound,
    /// Somebody holds it (unexpired) or it is sold, or a concurrent hold won.
    #[error("seat is already taken")]
    SeatTaken,
    #[error("hold limit of {limit} seats per schedule reached")]
    LimitReached { limit: u32 },
    /// Unknown, or another user's (the two are indistinguishable on purpose).
    #[error("reservation not found")]
    ReservationNotFound,
    /// Only a held reservation can be cancelled.
    #[error("reservation is {status} and cannot be cancelled")]
    NotHeld { status: ReservationStatus },
    /// The hold ran out before payment (or was swept).
    #[error("the hold has expired")]
    HoldExpired,
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
    /// The idempotency key is empty or longer than `max` bytes.
    #[error("idempotency key must be 1 to {max} characters")]
    InvalidIdempotencyKey { max: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Holds cannot be extended here (`hold_extension` is zero).
    #[error("holds cannot be extended")]
    ExtensionNotAllowed,
    /// A hold is extended at most once.
    #[error("the hold was already extended once")]
    AlreadyExtended,
}

impl From<ExtendError> for BookingError {
    fn from(e: ExtendError) -> Self {
        match e {
            ExtendError::NotFound => BookingError::ReservationNotFound,
            ExtendError::NotHeld { status } => match status {
                ReservationStatus::Expired => BookingError::HoldExpired,
                ReservationStatus::Cancelled => BookingError::Cancelled,
                ReservationStatus::Confirmed => BookingError::AlreadyPaid,
                ReservationStatus::Held => BookingError::NotHeld { status },
            },
            ExtendError::AlreadyExtended => BookingError::AlreadyExtended,
            ExtendError::Unavailable(s) => BookingError::Store(s),
        }
    }
}

impl From<HoldError> for BookingError {
    fn from(e: HoldError) -> Self {
        match e {
            HoldError::SeatNotFound => BookingError::SeatNotFound,
            HoldError::SeatTaken => BookingError::SeatTaken,
            HoldError::LimitReached { limit } => BookingError::LimitReached { limit },
            HoldError::Unavailable(s) => BookingError::Store(s),
        }
    }
}

impl From<CancelError> for BookingError {
    fn from(e: CancelError) -> Self {
        match e {
            CancelError::NotFound => BookingError::ReservationNotFound,
            CancelError::NotHeld { status } => BookingError::NotHeld { status },
            CancelError::Unavailable(s) => BookingError::Store(s),
        }
    }
}

impl From<PaymentError> for BookingError {
    fn from(e: PaymentError) -> Self {
        match e {
            PaymentError::ReservationNotFound => BookingError::ReservationNotFound,
            PaymentError::HoldExpired => BookingError::HoldExpired,
            PaymentError::Cancelled => BookingError::Cancelled,
            PaymentError::AlreadyPaid => BookingError::AlreadyPaid,
            PaymentError::InsufficientBalance { balance, amount } => {
                BookingError::InsufficientBalance { balance, amount }
            }
            PaymentError::KeyReused => BookingError::KeyReused,
            PaymentError::Unavailable(s) => BookingError::Store(s),
        }
    }
}

/// Holds, payments and cancellations, behind the shared waiting room.
#[derive(Clone)]
pub struct Booking {
    catalog: Arc<dyn CatalogRepository>,
    seats: Arc<dyn SeatRepository>,
    payments: Arc<dyn PaymentRepository>,
    room: WaitingRoom,
    clock: Arc<dyn Clock>,
    policy: BookingPolicy,
}

impl Booking {
    /// The booking flow over the ports; `room` is the app's one waiting room.
    pub fn new(
        catalog: Arc<dyn CatalogRepository>,
        seats: Arc<dyn SeatRepository>,
        payments: Arc<dyn PaymentRepository>,
        room: WaitingRoom,
        clock: Arc<dyn Clock>,
        policy: BookingPolicy,
    ) -> Self {
        Booking {
            catalog,
            seats,
            payments,
            room,
            clock,
            policy,
        }
    }

    /// Holds a seat for an admitted user.
    #[tracing::instrument(skip_all, fields(user = %user, schedule = %schedule, seat = %seat), err(level = "debug"))]
    pub async fn hold(
        &self,
        user: UserId,
        queue_token: Option<&str>,
        schedule: ScheduleId,
        seat: SeatId,
    ) -> Result<Reservation, BookingError> {
        let sched = self
            .catalog
            .get_schedule(schedule)
            .await?
            .ok_or(BookingError::ScheduleNotFound)?;
        self.room
            .authorize(queue_token, user, sched.concert_id)
            .await?;
        let now = self.clock.now();
        let req = HoldRequest {
            user_id: user,
            schedule_id: schedule,
            seat_id: seat,
            now,
            expires_at: now + self.policy.hold_ttl,
            max_held_per_user: self.policy.max_held_per_user,
        };
        Ok(self.seats.hold(req).await?)
    }

    /// A reservation of this user (another user's reads as not found).
    pub async fn reservation(
        &self,
        user: UserId,
        id: ReservationId,
    ) -> Result<Reservation, BookingError> {
        match self.seats.reservation(id).await? {
            Some(r) if r.user_id == user => Ok(r),
            _ => Err(BookingError::ReservationNotFound),
        }
    }

    /// How much longer a hold may be kept, once; zero when holds cannot be extended.
    pub fn hold_extension(&self) -> Duration {
        self.policy.hold_extension
    }

    /// Extends a live hold of this user once by the configured extension (the fan asked
    /// for more time to pay).
    #[tracing::instrument(skip_all, fields(user = %user, reservation = %id), err(level = "debug"))]
    pub async fn extend(
        &self,
        user: UserId,
        id: ReservationId,
    ) -> Result<Reservation, BookingError> {
        if self.policy.hold_extension <= Duration::zero() {
            return Err(BookingError::ExtensionNotAllowed);
        }
        let req = ExtendRequest {
            user_id: user,
            reservation_id: id,
            by: self.policy.hold_extension,
            now: self.clock.now(),
        };
        Ok(self.seats.extend(req).await?)
    }

    /// Releases a held reservation of this user.
    pub async fn cancel(
        &self,
        user: UserId,
        id: ReservationId,
    ) -> Result<Reservation, BookingError> {
        Ok(self.seats.cancel(user, id, self.clock.now()).await?)
    }

    /// Pays a held reservation with an admitted token. When the user then holds no more
    /// seats for the concert, their active slot is freed for the next fan.
    #[tracing::instrument(skip_all, fields(user = %user, reservation = %id), err(level = "debug"))]
    pub async fn pay(
        &self,
        user: UserId,
        queue_token: Option<&str>,
        id: ReservationId,
        idempotency_key: &str,
    ) -> Result<PaymentReceipt, BookingError> {
        let key =
            self::idempotency_key(idempotency_key).ok_or(BookingError::InvalidIdempotencyKey {
                max: MAX_IDEMPOTENCY_KEY_LEN,
            })?;
        let reservation = match self.seats.reservation(id).await? {
            Some(r) if r.user_id == user => r,
            _ => return Err(BookingError::ReservationNotFound),
        };
        // A confirmed reservation can only be replayed (same key) or refused (other key):
        // neither changes anything, so it needs no admission. This keeps replays working
        // after the payment freed the user's active slot.
        let ticket = if reservation.status == ReservationStatus::Confirmed {
            None
        } else {
            match self
                .room
                .authorize(queue_token, user, reservation.concert_id)
                .await
            {
                Ok(ticket) => Some(ticket),
                // A concurrent retry of this payment may have just confirmed it and freed
                // the slot: then this call is a replay (or a refusal), not a new payment.
                Err(gate @ (GateError::Expired | GateError::Waiting)) => {
                    match self.seats.reservation(id).await? {
                        Some(r) if r.status == ReservationStatus::Confirmed => None,
                        _ => return Err(gate.into()),
                    }
                }
                Err(gate) => return Err(gate.into()),
            }
        };
        let receipt = self
            .payments
            .pay(PaymentRequest {
                user_id: user,
                reservation_id: id,
                idempotency_key: key.to_owned(),
                now: self.clock.now(),
            })
            .await?;
        if let (false, Some(ticket)) = (receipt.replayed, ticket) {
            self.release_slot_if_done(user, reservation.concert_id, &ticket.token)
                .await;
        }
        Ok(receipt)
    }

    /// Frees the active slot when the user holds nothing more for the concert. Best
    /// effort: the payment already succeeded, and the slot expires by itself anyway.
    async fn release_slot_if_done(&self, user: UserId, concert: ConcertId, token: &QueueToken) {
        let now = self.clock.now();
        match self.seats.held_count_for_concert(user, concert, now).await {
            Ok(0) => {
                if let Err(e) = self.room.complete(token).await {
                    tracing::warn!(error = %e, "could not free the active slot after payment: retried at the next ticks");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not count remaining holds"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::model::Schedule;
    use crate::ports::{
        MockCatalogRepository, MockClock, MockPaymentRepository, MockQueue, MockSeatRepository,
    };
    use crate::queue::{Ticket, TicketStatus};

    const TOKEN: &str = "1.1.7.0123456789abcdef0123456789abcdef";

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    struct Mocks {
        catalog: MockCatalogRepository,
        seats: MockSeatRepository,
        payments: MockPaymentRepository,
        queue: MockQueue,
    }

    impl Mocks {
        fn new() -> Self {
            Mocks {
                catalog: MockCatalogRepository::new(),
                seats: MockSeatRepository::new(),
                payments: MockPaymentRepository::new(),
                queue: MockQueue::new(),
            }
        }

        /// Schedule 10 belongs to concert 1; the token is active for user 7 of concert 1.
        fn admitted(mut self) -> Self {
            self.catalog.expect_get_schedule().returning(|id| {
                Ok((id == ScheduleId(10)).then(|| Schedule {
                    id,
                    concert_id: ConcertId(1),
                    starts_at: now(),
                }))
            });
            self.queue.expect_admission().returning(|t, _| {
                Ok(Ticket {
                    token: t.clone(),
                    concert_id: ConcertId(1),
                    user_id: UserId(7),
                    status: TicketStatus::Active,
                    position: None,
                    eta_seconds: None,
                    active_until: None,
                    opens_at: None,
                    inventory: None,
                    eta_range: None,
                })
            });
            self
        }

        fn build(self) -> Booking {
            let mut clock = MockClock::new();
            clock.expect_now().returning(now);
            let clock: Arc<dyn Clock> = Arc::new(clock);
            let catalog: Arc<dyn CatalogRepository> = Arc::new(self.catalog);
            let room = WaitingRoom::new(Arc::new(self.queue), catalog.clone(), clock.clone());
            Booking::new(
                catalog,
                Arc::new(self.seats),
                Arc::new(self.payments),
                room,
                clock,
                BookingPolicy::default(),
            )
        }
    }

    fn reservation(user: i64) -> Reservation {
        Reservation {
            id: ReservationId(3),
            user_id: UserId(user),
            concert_id: ConcertId(1),
            schedule_id: ScheduleId(10),
            seat_id: SeatId(5),
            seat_label: "A-1".into(),
            price: Money::from_u32(100),
            status: ReservationStatus::Held,
            created_at: now(),
            expires_at: now() + Duration::minutes(5),
            paid_at: None,
            extended_at: None,
        }
    }

    fn receipt(replayed: bool) -> PaymentReceipt {
        PaymentReceipt {
            reservation_id: ReservationId(3),
            concert_id: ConcertId(1),
            schedule_id: ScheduleId(10),
            amount: Money::from_u32(100),
            balance: Money::ZERO,
            paid_at: now(),
            replayed,
        }
    }

    #[tokio::test]
    async fn hold_passes_ttl_and_limit_to_the_repository() {
        let mut m = Mocks::new().admitted();
        m.seats.expect_hold().returning(|req| {
            assert_eq!(req.expires_at - req.now, Duration::minutes(5));
            assert_eq!(req.max_held_per_user, 4);
            Ok(reservation(7))
        });
        let booking = m.build();
        let r = booking
            .hold(UserId(7), Some(TOKEN), ScheduleId(10), SeatId(5))
            .await
            .unwrap();
        assert_eq!(r.id, ReservationId(3));
    }

    #[tokio::test]
    async fn hold_maps_every_repository_error() {
        for (err, check) in [
            (HoldError::SeatNotFound, "SeatNotFound"),
            (HoldError::SeatTaken, "SeatTaken"),
            (HoldError::LimitReached { limit: 4 }, "LimitReached"),
            (HoldError::Unavailable(StoreError::new("db down")), "Store"),
        ] {
            let mut m = Mocks::new().admitted();
            let mut slot = Some(err);
            m.seats
                .expect_hold()
                .returning(move |_| Err(slot.take().unwrap()));
            let e = m
                .build()
                .hold(UserId(7), Some(TOKEN), ScheduleId(10), SeatId(5))
                .await
                .unwrap_err();
            let s = format!("{e:?}");
            assert!(s.contains(check), "{s} lacks {check}");
        }
    }

    #[tokio::test]
    async fn hold_on_unknown_schedule_or_without_admission_never_reaches_the_seats() {
        let booking = Mocks::new().admitted().build(); // no hold expectation: would panic
        assert!(matches!(
            booking
                .hold(UserId(7), Some(TOKEN), ScheduleId(11), SeatId(5))
                .await,
            Err(BookingError::ScheduleNotFound)
        ));
        assert!(matches!(
            booking
                .hold(UserId(7), None, ScheduleId(10), SeatId(5))
                .await,
            Err(BookingError::Gate(GateError::Missing))
        ));
        assert!(matches!(
            booking
                .hold(UserId(8), Some(TOKEN), ScheduleId(10), SeatId(5))
                .await,
            Err(BookingError::Gate(GateError::OtherUser))
        ));
    }

    #[tokio::test]
    async fn a_hold_is_extended_by_the_configured_extension() {
        let mut m = Mocks::new();
        m.seats
            .expect_extend()
            .withf(|req| {
                req.user_id == UserId(7)
                    && req.reservation_id == ReservationId(3)
                    && req.by == Duration::minutes(5)
                    && req.now == now()
            })
            .returning(|req| {
                let mut r = reservation(7);
                r.expires_at += req.by;
                r.extended_at = Some(req.now);
                Ok(r)
            });
        let booking = m.build();
        assert_eq!(booking.hold_extension(), Duration::minutes(5));
        let r = booking.extend(UserId(7), ReservationId(3)).await.unwrap();
        assert_eq!(r.expires_at, now() + Duration::minutes(10));
        assert_eq!(r.extended_at, Some(now()));
    }

    #[tokio::test]
    async fn extension_refusals_map_to_booking_errors() {
        type Expect = fn(&BookingError) -> bool;
        let cases: Vec<(ExtendError, Expect)> = vec![
            (ExtendError::NotFound, |e| {
                matches!(e, BookingError::ReservationNotFound)
            }),
            (
                ExtendError::NotHeld {
                    status: ReservationStatus::Expired,
                },
                |e| matches!(e, BookingError::HoldExpired),
            ),
            (
                ExtendError::NotHeld {
                    status: ReservationStatus::Cancelled,
                },
                |e| matches!(e, BookingError::Cancelled),
            ),
            (
                ExtendError::NotHeld {
                    status: ReservationStatus::Confirmed,
                },
                |e| matches!(e, BookingError::AlreadyPaid),
            ),
            (ExtendError::AlreadyExtended, |e| {
                matches!(e, BookingError::AlreadyExtended)
            }),
            (ExtendError::Unavailable(StoreError::new("down")), |e| {
                matches!(e, BookingError::Store(_))
            }),
        ];
        for (err, expected) in cases {
            let mut m = Mocks::new();
            let err = std::sync::Mutex::new(Some(err));
            m.seats
                .expect_extend()
                .times(1)
                .returning(move |_| Err(err.lock().unwrap().take().unwrap()));
            let e = m
                .build()
                .extend(UserId(7), ReservationId(3))
                .await
                .unwrap_err();
            assert!(expected(&e), "{e:?}");
        }
    }

    #[tokio::test]
    async fn holds_cannot_be_extended_when_the_extension_is_zero() {
        let mut clock = MockClock::new();
        clock.expect_now().returning(now);
        let clock: Arc<dyn Clock> = Arc::new(clock);
        let catalog: Arc<dyn CatalogRepository> = Arc::new(MockCatalogRepository::new());
        let room = WaitingRoom::new(Arc::new(MockQueue::new()), catalog.clone(), clock.clone());
        let booking = Booking::new(
            catalog,
            Arc::new(MockSeatRepository::new()),
            Arc::new(MockPaymentRepository::new()),
            room,
            clock,
            BookingPolicy {
                hold_extension: Duration::zero(),
                ..BookingPolicy::default()
            },
        );
        assert!(matches!(
            booking.extend(UserId(7), ReservationId(3)).await,
            Err(BookingError::ExtensionNotAllowed)
        ));
    }

    #[tokio::test]
    async fn paying_frees_the_slot_when_no_hold_is_left() {
        let mut m = Mocks::new().admitted();
        m.seats
            .expect_reservation()
            .returning(|_| Ok(Some(reservation(7))));
        m.payments.expect_pay().returning(|_| Ok(receipt(false)));
        m.seats
            .expect_held_count_for_concert()
            .returning(|_, _, _| Ok(0));
        m.queue.expect_leave().times(1).returning(|_, _| Ok(()));
        let r = m
            .build()
            .pay(UserId(7), Some(TOKEN), ReservationId(3), "k1")
            .await
            .unwrap();
        assert_eq!(r.amount, Money::from_u32(100));
    }

    #[tokio::test]
    async fn paying_keeps_the_slot_while_holds_remain_and_on_replays() {
        let mut m = Mocks::new().admitted();
        m.seats
            .expect_reservation()
            .returning(|_| Ok(Some(reservation(7))));
        m.payments.expect_pay().returning(|_| Ok(receipt(false)));
        m.seats
            .expect_held_count_for_concert()
            .returning(|_, _, _| Ok(2));
        m.queue.expect_leave().never();
        m.build()
            .pay(UserId(7), Some(TOKEN), ReservationId(3), "k1")
            .await
            .unwrap();

        let mut m = Mocks::new().admitted();
        m.seats
            .expect_reservation()
            .returning(|_| Ok(Some(reservation(7))));
        m.payments.expect_pay().returning(|_| Ok(receipt(true)));
        m.seats.expect_held_count_for_concert().never();
        m.queue.expect_leave().never();
        let r = m
            .build()
            .pay(UserId(7), Some(TOKEN), ReservationId(3), "k1")
            .await
            .unwrap();
        assert!(r.replayed);
    }

    #[tokio::test]
    async fn replaying_a_confirmed_payment_needs_no_admission() {
        let mut m = Mocks::new(); // no queue expectations: the gate must not be asked
        m.seats.expect_reservation().returning(|_| {
            Ok(Some(Reservation {
                status: ReservationStatus::Confirmed,
                ..reservation(7)
            }))
        });
        m.payments.expect_pay().returning(|_| Ok(receipt(true)));
        let r = m
            .build()
            .pay(UserId(7), None, ReservationId(3), "k1")
            .await
            .unwrap();
        assert!(r.replayed);
    }

    #[tokio::test]
    async fn paying_maps_every_repository_error() {
        for (err, check) in [
            (PaymentError::ReservationNotFound, "ReservationNotFound"),
            (PaymentError::HoldExpired, "HoldExpired"),
            (PaymentError::Cancelled, "Cancelled"),
            (PaymentError::AlreadyPaid, "AlreadyPaid"),
            (
                PaymentError::InsufficientBalance {
                    balance: Money::from_u32(1),
                    amount: Money::from_u32(100),
                },
                "InsufficientBalance",
            ),
            (PaymentError::KeyReused, "KeyReused"),
            (PaymentError::Unavailable(StoreError::new("down")), "Store"),
        ] {
            let mut m = Mocks::new().admitted();
            m.seats
                .expect_reservation()
                .returning(|_| Ok(Some(reservation(7))));
            let mut slot = Some(err);
            m.payments
                .expect_pay()
                .returning(move |_| Err(slot.take().unwrap()));
            let e = m
                .build()
                .pay(UserId(7), Some(TOKEN), ReservationId(3), "k")
                .await
                .unwrap_err();
            let s = format!("{e:?}");
            assert!(s.contains(check), "{s} lacks {check}");
        }
    }

    #[tokio::test]
    async fn paying_another_users_reservation_is_not_found_and_bad_keys_are_invalid() {
        let mut m = Mocks::new().admitted();
        m.seats
            .expect_reservation()
            .returning(|_| Ok(Some(reservation(99))));
        let booking = m.build();
        assert!(matches!(
            booking
                .pay(UserId(7), Some(TOKEN), ReservationId(3), "k")
                .await,
            Err(BookingError::ReservationNotFound)
        ));
        assert!(matches!(
            booking
                .pay(UserId(7), Some(TOKEN), ReservationId(3), "  ")
                .await,
            Err(BookingError::InvalidIdempotencyKey { .. })
        ));
        let long = "k".repeat(MAX_IDEMPOTENCY_KEY_LEN + 1);
        assert!(matches!(
            booking
                .pay(UserId(7), Some(TOKEN), ReservationId(3), &long)
                .await,
            Err(BookingError::InvalidIdempotencyKey { max: 128 })
        ));
    }

    #[tokio::test]
    async fn cancel_and_read_map_errors() {
        // Each port error becomes the use case's variant, checked by pattern (a renamed
        // or reshaped variant fails to compile or to match, not to print).
        type Check = fn(&BookingError) -> bool;
        let cases: [(CancelError, Check); 3] = [
            (CancelError::NotFound, |e| {
                matches!(e, BookingError::ReservationNotFound)
            }),
            (
                CancelError::NotHeld {
                    status: ReservationStatus::Confirmed,
                },
                |e| {
                    matches!(
                        e,
                        BookingError::NotHeld {
                            status: ReservationStatus::Confirmed
                        }
                    )
                },
            ),
            (CancelError::Unavailable(StoreError::new("down")), |e| {
                matches!(e, BookingError::Store(_))
            }),
        ];
        for (err, check) in cases {
            let mut m = Mocks::new();
            let mut slot = Some(err);
            m.seats
                .expect_cancel()
                .returning(move |_, _, _| Err(slot.take().unwrap()));
            let e = m
                .build()
                .cancel(UserId(7), ReservationId(3))
                .await
                .unwrap_err();
            assert!(check(&e), "{e:?}");
        }
        let mut m = Mocks::new();
        m.seats
            .expect_reservation()
            .returning(|_| Ok(Some(reservation(99))));
        assert!(matches!(
            m.build().reservation(UserId(7), ReservationId(3)).await,
            Err(BookingError::ReservationNotFound)
        ));
    }
}
