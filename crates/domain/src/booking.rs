//! Use cases of the booking flow: hold a seat, pay for it, cancel it, read it — each
//! gated by the waiting room — plus the catalog and wallet use cases around them.

use chrono::Duration;

use crate::error::{CancelError, CatalogError, HoldError, PaymentError, StoreError, WalletError};
use crate::model::{
    Concert, ConcertDetail, ConcertId, HoldRequest, Money, NewConcert, PaymentReceipt,
    PaymentRequest, Reservation, ReservationId, ReservationStatus, ScheduleId, ScheduleSummary,
    Seat, SeatId, User, UserId,
};
use crate::ports::Ports;
use crate::queue::QueueToken;
use crate::waiting_room::{GateError, WaitingRoom};

/// Limits of the booking flow (from settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookingPolicy {
    /// How long a hold lasts before the seat is free again.
    pub hold_ttl: Duration,
    /// The most seats one user may hold at once in one schedule.
    pub max_held_per_user: u32,
    /// The largest single wallet charge.
    pub max_charge: Money,
}

impl Default for BookingPolicy {
    fn default() -> Self {
        BookingPolicy {
            hold_ttl: Duration::minutes(5),
            max_held_per_user: 4,
            max_charge: 100_000_000,
        }
    }
}

/// Largest seat map a schedule may have, and other catalog bounds.
pub const MAX_ROWS: u32 = 100;
pub const MAX_SEATS_PER_ROW: u32 = 500;
pub const MAX_SCHEDULES: usize = 50;
pub const MAX_PRICE: Money = 100_000_000;
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// Errors of the booking use cases. Each maps to one HTTP status in the app.
#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    #[error(transparent)]
    Gate(#[from] GateError),
    #[error("schedule not found")]
    ScheduleNotFound,
    #[error("concert not found")]
    ConcertNotFound,
    #[error("user not found")]
    UserNotFound,
    #[error(transparent)]
    Hold(HoldError),
    #[error(transparent)]
    Cancel(CancelError),
    #[error(transparent)]
    Payment(PaymentError),
    #[error(transparent)]
    Wallet(WalletError),
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<HoldError> for BookingError {
    fn from(e: HoldError) -> Self {
        match e {
            HoldError::Unavailable(s) => BookingError::Store(s),
            other => BookingError::Hold(other),
        }
    }
}

impl From<CancelError> for BookingError {
    fn from(e: CancelError) -> Self {
        match e {
            CancelError::Unavailable(s) => BookingError::Store(s),
            other => BookingError::Cancel(other),
        }
    }
}

impl From<PaymentError> for BookingError {
    fn from(e: PaymentError) -> Self {
        match e {
            PaymentError::Unavailable(s) => BookingError::Store(s),
            other => BookingError::Payment(other),
        }
    }
}

impl From<WalletError> for BookingError {
    fn from(e: WalletError) -> Self {
        match e {
            WalletError::Unavailable(s) => BookingError::Store(s),
            WalletError::UserNotFound => BookingError::UserNotFound,
            other => BookingError::Wallet(other),
        }
    }
}

impl From<CatalogError> for BookingError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::Unavailable(s) => BookingError::Store(s),
            CatalogError::Invalid(m) => BookingError::Invalid(m),
        }
    }
}

/// The booking flow over the ports.
#[derive(Clone)]
pub struct Booking {
    ports: Ports,
    room: WaitingRoom,
    policy: BookingPolicy,
}

impl Booking {
    pub fn new(ports: Ports, policy: BookingPolicy) -> Self {
        let room = WaitingRoom::new(
            ports.queue.clone(),
            ports.catalog.clone(),
            ports.clock.clone(),
        );
        Booking {
            ports,
            room,
            policy,
        }
    }

    pub fn policy(&self) -> BookingPolicy {
        self.policy
    }

    pub fn waiting_room(&self) -> &WaitingRoom {
        &self.room
    }

    // ---- users and wallets -------------------------------------------------------

    /// Registers a user with an empty wallet.
    pub async fn register(&self, name: &str) -> Result<User, BookingError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(BookingError::Invalid(
                "name must be 1 to 100 characters".into(),
            ));
        }
        Ok(self
            .ports
            .users
            .create(name, self.ports.clock.now())
            .await?)
    }

    /// The user, if they exist.
    pub async fn user(&self, id: UserId) -> Result<User, BookingError> {
        self.ports
            .users
            .get(id)
            .await?
            .ok_or(BookingError::UserNotFound)
    }

    pub async fn balance(&self, user: UserId) -> Result<Money, BookingError> {
        Ok(self.ports.wallets.balance(user).await?)
    }

    /// Adds money to the wallet; `amount` must be in `1..=max_charge`.
    pub async fn charge(&self, user: UserId, amount: i64) -> Result<Money, BookingError> {
        if amount <= 0 || amount > self.policy.max_charge {
            return Err(WalletError::InvalidAmount {
                max: self.policy.max_charge,
            }
            .into());
        }
        Ok(self
            .ports
            .wallets
            .charge(user, amount, self.ports.clock.now())
            .await?)
    }

    // ---- catalog ------------------------------------------------------------------

    /// Creates a concert with its schedules and seat maps, after checking every bound.
    pub async fn create_concert(&self, new: NewConcert) -> Result<ConcertDetail, BookingError> {
        validate_new_concert(&new).map_err(BookingError::Invalid)?;
        Ok(self.ports.catalog.create_concert(new).await?)
    }

    pub async fn concerts(&self) -> Result<Vec<Concert>, BookingError> {
        Ok(self.ports.catalog.list_concerts().await?)
    }

    pub async fn concert(&self, id: ConcertId) -> Result<ConcertDetail, BookingError> {
        self.ports
            .catalog
            .get_concert(id, self.ports.clock.now())
            .await?
            .ok_or(BookingError::ConcertNotFound)
    }

    pub async fn schedules(&self, id: ConcertId) -> Result<Vec<ScheduleSummary>, BookingError> {
        self.ports
            .catalog
            .list_schedules(id, self.ports.clock.now())
            .await?
            .ok_or(BookingError::ConcertNotFound)
    }

    pub async fn seats(&self, id: ScheduleId) -> Result<Vec<Seat>, BookingError> {
        self.ports
            .catalog
            .list_seats(id, self.ports.clock.now())
            .await?
            .ok_or(BookingError::ScheduleNotFound)
    }

    // ---- booking ------------------------------------------------------------------

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
            .ports
            .catalog
            .get_schedule(schedule)
            .await?
            .ok_or(BookingError::ScheduleNotFound)?;
        self.room
            .authorize(queue_token, user, sched.concert_id)
            .await?;
        let now = self.ports.clock.now();
        let req = HoldRequest {
            user_id: user,
            schedule_id: schedule,
            seat_id: seat,
            now,
            expires_at: now + self.policy.hold_ttl,
            max_held_per_user: self.policy.max_held_per_user,
        };
        Ok(self.ports.seats.hold(req).await?)
    }

    /// A reservation of this user (another user's reads as not found).
    pub async fn reservation(
        &self,
        user: UserId,
        id: ReservationId,
    ) -> Result<Reservation, BookingError> {
        match self.ports.seats.reservation(id).await? {
            Some(r) if r.user_id == user => Ok(r),
            _ => Err(CancelError::NotFound.into()),
        }
    }

    /// Releases a held reservation of this user.
    pub async fn cancel(
        &self,
        user: UserId,
        id: ReservationId,
    ) -> Result<Reservation, BookingError> {
        Ok(self
            .ports
            .seats
            .cancel(user, id, self.ports.clock.now())
            .await?)
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
        let key = idempotency_key.trim();
        if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
            return Err(BookingError::Invalid(format!(
                "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} characters"
            )));
        }
        let reservation = match self.ports.seats.reservation(id).await? {
            Some(r) if r.user_id == user => r,
            _ => return Err(PaymentError::ReservationNotFound.into()),
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
                    match self.ports.seats.reservation(id).await? {
                        Some(r) if r.status == ReservationStatus::Confirmed => None,
                        _ => return Err(gate.into()),
                    }
                }
                Err(gate) => return Err(gate.into()),
            }
        };
        let receipt = self
            .ports
            .payments
            .pay(PaymentRequest {
                user_id: user,
                reservation_id: id,
                idempotency_key: key.to_owned(),
                now: self.ports.clock.now(),
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
        let now = self.ports.clock.now();
        match self
            .ports
            .seats
            .held_count_for_concert(user, concert, now)
            .await
        {
            Ok(0) => {
                if let Err(e) = self.room.complete(token).await {
                    tracing::warn!(error = %e, "could not free the active slot after payment");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not count remaining holds"),
        }
    }
}

/// Checks an operator's new concert against the catalog bounds.
pub fn validate_new_concert(new: &NewConcert) -> Result<(), String> {
    let title = new.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err("title must be 1 to 200 characters".into());
    }
    let venue = new.venue.trim();
    if venue.is_empty() || venue.chars().count() > 200 {
        return Err("venue must be 1 to 200 characters".into());
    }
    if new.schedules.is_empty() || new.schedules.len() > MAX_SCHEDULES {
        return Err(format!("schedules must have 1 to {MAX_SCHEDULES} entries"));
    }
    for (i, s) in new.schedules.iter().enumerate() {
        if s.rows == 0 || s.rows > MAX_ROWS {
            return Err(format!(
                "schedules[{i}].rows must be between 1 and {MAX_ROWS}"
            ));
        }
        if s.seats_per_row == 0 || s.seats_per_row > MAX_SEATS_PER_ROW {
            return Err(format!(
                "schedules[{i}].seats_per_row must be between 1 and {MAX_SEATS_PER_ROW}"
            ));
        }
        if s.price < 0 || s.price > MAX_PRICE {
            return Err(format!(
                "schedules[{i}].price must be between 0 and {MAX_PRICE}"
            ));
        }
    }
    Ok(())
}

/// The label of a seat: row letters (`A`…`Z`, `AA`, `AB`, …) and 1-based number.
pub fn seat_label(row: u32, number: u32) -> String {
    let mut letters = Vec::new();
    let mut n = row + 1; // bijective base 26
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(char::from(b'A' + rem as u8));
        n = (n - 1) / 26;
    }
    letters.reverse();
    let row: String = letters.into_iter().collect();
    format!("{row}-{number}")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::model::{NewSchedule, Schedule};
    use crate::ports::{
        MockCatalogRepository, MockClock, MockPaymentRepository, MockQueue, MockSeatRepository,
        MockUserRepository, MockWalletRepository,
    };
    use crate::queue::{Ticket, TicketStatus};

    const TOKEN: &str = "1.1.7.0123456789abcdef0123456789abcdef";

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    struct Mocks {
        catalog: MockCatalogRepository,
        seats: MockSeatRepository,
        wallets: MockWalletRepository,
        payments: MockPaymentRepository,
        queue: MockQueue,
        users: MockUserRepository,
    }

    impl Mocks {
        fn new() -> Self {
            Mocks {
                catalog: MockCatalogRepository::new(),
                seats: MockSeatRepository::new(),
                wallets: MockWalletRepository::new(),
                payments: MockPaymentRepository::new(),
                queue: MockQueue::new(),
                users: MockUserRepository::new(),
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
                })
            });
            self
        }

        fn build(self) -> Booking {
            let mut clock = MockClock::new();
            clock.expect_now().returning(now);
            Booking::new(
                Ports {
                    clock: Arc::new(clock),
                    users: Arc::new(self.users),
                    catalog: Arc::new(self.catalog),
                    seats: Arc::new(self.seats),
                    wallets: Arc::new(self.wallets),
                    payments: Arc::new(self.payments),
                    queue: Arc::new(self.queue),
                },
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
            price: 100,
            status: ReservationStatus::Held,
            created_at: now(),
            expires_at: now() + Duration::minutes(5),
            paid_at: None,
        }
    }

    fn receipt(replayed: bool) -> PaymentReceipt {
        PaymentReceipt {
            reservation_id: ReservationId(3),
            concert_id: ConcertId(1),
            amount: 100,
            balance: 0,
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
        assert_eq!(r.amount, 100);
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
                    balance: 1,
                    amount: 100,
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
            Err(BookingError::Payment(PaymentError::ReservationNotFound))
        ));
        assert!(matches!(
            booking
                .pay(UserId(7), Some(TOKEN), ReservationId(3), "  ")
                .await,
            Err(BookingError::Invalid(_))
        ));
        let long = "k".repeat(MAX_IDEMPOTENCY_KEY_LEN + 1);
        assert!(matches!(
            booking
                .pay(UserId(7), Some(TOKEN), ReservationId(3), &long)
                .await,
            Err(BookingError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn cancel_and_read_map_errors() {
        for (err, check) in [
            (CancelError::NotFound, "NotFound"),
            (
                CancelError::NotHeld {
                    status: "CONFIRMED",
                },
                "NotHeld",
            ),
            (CancelError::Unavailable(StoreError::new("down")), "Store"),
        ] {
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
            assert!(format!("{e:?}").contains(check));
        }
        let mut m = Mocks::new();
        m.seats
            .expect_reservation()
            .returning(|_| Ok(Some(reservation(99))));
        assert!(matches!(
            m.build().reservation(UserId(7), ReservationId(3)).await,
            Err(BookingError::Cancel(CancelError::NotFound))
        ));
    }

    #[tokio::test]
    async fn wallet_charge_bounds_and_errors() {
        let mut m = Mocks::new();
        m.wallets.expect_charge().returning(|u, a, _| {
            if u == UserId(1) {
                Ok(a)
            } else if u == UserId(2) {
                Err(WalletError::UserNotFound)
            } else if u == UserId(3) {
                Err(WalletError::BalanceLimit)
            } else {
                Err(WalletError::Unavailable(StoreError::new("down")))
            }
        });
        let b = m.build();
        assert_eq!(b.charge(UserId(1), 500).await.unwrap(), 500);
        assert!(matches!(
            b.charge(UserId(1), 0).await,
            Err(BookingError::Wallet(WalletError::InvalidAmount { .. }))
        ));
        assert!(matches!(
            b.charge(UserId(1), BookingPolicy::default().max_charge + 1)
                .await,
            Err(BookingError::Wallet(WalletError::InvalidAmount { .. }))
        ));
        assert!(matches!(
            b.charge(UserId(2), 5).await,
            Err(BookingError::UserNotFound)
        ));
        assert!(matches!(
            b.charge(UserId(3), 5).await,
            Err(BookingError::Wallet(WalletError::BalanceLimit))
        ));
        assert!(matches!(
            b.charge(UserId(4), 5).await,
            Err(BookingError::Store(_))
        ));
    }

    #[tokio::test]
    async fn register_validates_names() {
        let mut m = Mocks::new();
        m.users.expect_create().returning(|n, at| {
            Ok(User {
                id: UserId(1),
                name: n.to_owned(),
                created_at: at,
            })
        });
        let b = m.build();
        assert_eq!(b.register("  Ada ").await.unwrap().name, "Ada");
        assert!(matches!(
            b.register(" ").await,
            Err(BookingError::Invalid(_))
        ));
        assert!(matches!(
            b.register(&"x".repeat(101)).await,
            Err(BookingError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn create_concert_rejects_out_of_bounds_maps() {
        let b = Mocks::new().build(); // create_concert never reached
        let good = NewSchedule {
            starts_at: now(),
            rows: 2,
            seats_per_row: 3,
            price: 100,
        };
        for (new, field) in [
            (
                NewConcert {
                    title: "".into(),
                    venue: "v".into(),
                    schedules: vec![good.clone()],
                },
                "title",
            ),
            (
                NewConcert {
                    title: "t".into(),
                    venue: "".into(),
                    schedules: vec![good.clone()],
                },
                "venue",
            ),
            (
                NewConcert {
                    title: "t".into(),
                    venue: "v".into(),
                    schedules: vec![],
                },
                "schedules",
            ),
            (
                NewConcert {
                    title: "t".into(),
                    venue: "v".into(),
                    schedules: vec![NewSchedule {
                        rows: 0,
                        ..good.clone()
                    }],
                },
                "rows",
            ),
            (
                NewConcert {
                    title: "t".into(),
                    venue: "v".into(),
                    schedules: vec![NewSchedule {
                        seats_per_row: 501,
                        ..good.clone()
                    }],
                },
                "seats_per_row",
            ),
            (
                NewConcert {
                    title: "t".into(),
                    venue: "v".into(),
                    schedules: vec![NewSchedule {
                        price: -1,
                        ..good.clone()
                    }],
                },
                "price",
            ),
        ] {
            match b.create_concert(new).await {
                Err(BookingError::Invalid(m)) => assert!(m.contains(field), "{m}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn seat_labels_run_past_z() {
        assert_eq!(seat_label(0, 12), "A-12");
        assert_eq!(seat_label(25, 1), "Z-1");
        assert_eq!(seat_label(26, 1), "AA-1");
        assert_eq!(seat_label(27, 3), "AB-3");
    }
}
