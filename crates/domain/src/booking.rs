//! The one-seat booking routes as orders of one: a hold is an order of one seat placed
//! through the box office, and paying, cancelling or extending a reservation does the
//! same to its order. One way to sell a seat, so every rule of an order (the fan's
//! ticket limit, a hold never outliving its buyer's admission, tickets issued at
//! payment, returns and refunds of a cancelled show) holds for these too. A
//! reservation's id is its seat's row in the order.

use std::sync::Arc;

use chrono::Duration;

use crate::boxoffice::model::{Order, OrderReceipt, OrderStatus};
use crate::boxoffice::{BoxOffice, OrderAsk, OrderError};
use crate::error::StoreError;
use crate::model::{
    Money, OrderId, PaymentReceipt, Reservation, ReservationId, ReservationStatus, ScheduleId,
    SeatId, UserId,
};
use crate::ports::{Clock, SeatRepository};
use crate::waiting_room::GateError;

/// The longest idempotency key of a payment, in bytes.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// The key a client sent, trimmed, when it is 1 to [`MAX_IDEMPOTENCY_KEY_LEN`] bytes.
pub fn idempotency_key(raw: &str) -> Option<&str> {
    let key = raw.trim();
    (!key.is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY_LEN).then_some(key)
}

/// Errors of the one-seat routes: the box office's, named as a reservation's where the
/// one-seat routes always named them so (their problem types are unchanged), and the
/// rest as the order's.
#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    #[error(transparent)]
    Gate(#[from] GateError),
    #[error("schedule not found")]
    ScheduleNotFound,
    /// No such seat in that schedule (or not on sale to everyone).
    #[error("seat not found in this schedule")]
    SeatNotFound,
    /// Somebody holds it (unexpired) or it is sold, or a concurrent hold won.
    #[error("seat is already taken")]
    SeatTaken,
    /// The fan holds or has bought `limit` tickets of this schedule already.
    #[error("ticket limit of {limit} per schedule reached")]
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
    /// The idempotency key was used before for another payment.
    #[error("idempotency key was already used for another reservation")]
    KeyReused,
    /// The idempotency key is empty or longer than `max` bytes.
    #[error("idempotency key must be 1 to {max} characters")]
    InvalidIdempotencyKey { max: usize },
    /// Holds cannot be extended here (the extension is zero).
    #[error("holds cannot be extended")]
    ExtensionNotAllowed,
    /// A hold is extended at most once.
    #[error("the hold was already extended once")]
    AlreadyExtended,
    /// The seat is one of several positions of an order: the order is cancelled as a
    /// whole (`DELETE /orders/{id}`).
    #[error("the seat is one of {tickets} tickets of order {order}: cancel the order")]
    PartOfOrder { order: OrderId, tickets: u32 },
    /// Any other refusal of the box office (a cancelled show, a hold that would
    /// outlive the admission, …), answered as for an order.
    #[error(transparent)]
    Order(OrderError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The reservation's status an order's status stands for.
fn reservation_status(s: OrderStatus) -> ReservationStatus {
    match s {
        OrderStatus::Held => ReservationStatus::Held,
        OrderStatus::Paid => ReservationStatus::Confirmed,
        OrderStatus::Cancelled => ReservationStatus::Cancelled,
        OrderStatus::Expired => ReservationStatus::Expired,
    }
}

impl From<OrderError> for BookingError {
    fn from(e: OrderError) -> Self {
        match e {
            OrderError::Gate(g) => BookingError::Gate(g),
            OrderError::ScheduleNotFound => BookingError::ScheduleNotFound,
            OrderError::SeatsNotFound(_) | OrderError::SeatsNotOnSale(_) => {
                BookingError::SeatNotFound
            }
            OrderError::SeatsTaken(_) => BookingError::SeatTaken,
            OrderError::FanLimit { limit, .. } => BookingError::LimitReached { limit },
            OrderError::NotFound => BookingError::ReservationNotFound,
            OrderError::NotHeld(status) => match reservation_status(status) {
                ReservationStatus::Expired => BookingError::HoldExpired,
                ReservationStatus::Cancelled => BookingError::Cancelled,
                ReservationStatus::Confirmed => BookingError::AlreadyPaid,
                status @ ReservationStatus::Held => BookingError::NotHeld { status },
            },
            OrderError::Expired => BookingError::HoldExpired,
            OrderError::Cancelled => BookingError::Cancelled,
            OrderError::AlreadyPaid => BookingError::AlreadyPaid,
            OrderError::InsufficientBalance { balance, amount } => {
                BookingError::InsufficientBalance { balance, amount }
            }
            OrderError::KeyReused => BookingError::KeyReused,
            OrderError::InvalidIdempotencyKey { max } => {
                BookingError::InvalidIdempotencyKey { max }
            }
            OrderError::ExtensionNotAllowed => BookingError::ExtensionNotAllowed,
            OrderError::AlreadyExtended => BookingError::AlreadyExtended,
            OrderError::Store(s) => BookingError::Store(s),
            other => BookingError::Order(other),
        }
    }
}

/// A payment receipt of the order of one seat, for that seat's reservation.
fn receipt_of(id: ReservationId, r: OrderReceipt) -> PaymentReceipt {
    PaymentReceipt {
        reservation_id: id,
        concert_id: r.concert_id,
        schedule_id: r.schedule_id,
        amount: r.amount,
        balance: r.balance,
        paid_at: r.paid_at,
        replayed: r.replayed,
    }
}

/// Holds, payments, cancellations and extensions of one seat, as orders of one.
#[derive(Clone)]
pub struct Booking {
    seats: Arc<dyn SeatRepository>,
    orders: BoxOffice,
    clock: Arc<dyn Clock>,
}

impl Booking {
    /// The one-seat routes over the box office `orders`.
    pub fn new(seats: Arc<dyn SeatRepository>, orders: BoxOffice, clock: Arc<dyn Clock>) -> Self {
        Booking {
            seats,
            orders,
            clock,
        }
    }

    /// Holds a seat for an admitted fan: an order of that one seat.
    #[tracing::instrument(skip_all, fields(user = %user, schedule = %schedule, seat = %seat), err(level = "debug"))]
    pub async fn hold(
        &self,
        user: UserId,
        queue_token: Option<&str>,
        schedule: ScheduleId,
        seat: SeatId,
    ) -> Result<Reservation, BookingError> {
        let ask = OrderAsk {
            schedule_id: schedule,
            seats: vec![seat],
            best_available: None,
            standing: Vec::new(),
            presale_code: None,
        };
        let order = self.orders.place(user, queue_token, ask).await?;
        self.seats
            .reservation_in_order(order.id, seat)
            .await?
            .ok_or_else(|| {
                BookingError::Store(StoreError::new(format!(
                    "order {} holds no reservation of seat {seat}",
                    order.id
                )))
            })
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
        self.orders.policy().hold_extension
    }

    /// The order of one seat that reservation `id` of `user` is, refused when the seat
    /// is one of several positions of its order (changed as a whole, on `/orders`).
    async fn order_of_one(
        &self,
        user: UserId,
        id: ReservationId,
    ) -> Result<(Reservation, Order), BookingError> {
        let r = self.reservation(user, id).await?;
        let Some(order) = r.order_id else {
            // A reservation of no order: only ended ones remain (live ones became
            // orders of one when the orders arrived).
            return Err(match r.status_at(self.clock.now()) {
                ReservationStatus::Expired => BookingError::HoldExpired,
                ReservationStatus::Cancelled => BookingError::Cancelled,
                ReservationStatus::Confirmed => BookingError::AlreadyPaid,
                status @ ReservationStatus::Held => BookingError::NotHeld { status },
            });
        };
        let order = self.orders.order(user, order).await?;
        let tickets = order.tickets();
        if tickets > 1 {
            return Err(BookingError::PartOfOrder {
                order: order.id,
                tickets,
            });
        }
        Ok((r, order))
    }

    /// Extends a live hold of this user once by the configured extension (the fan asked
    /// for more time to pay), never past the fan's admission.
    #[tracing::instrument(skip_all, fields(user = %user, reservation = %id), err(level = "debug"))]
    pub async fn extend(
        &self,
        user: UserId,
        id: ReservationId,
    ) -> Result<Reservation, BookingError> {
        let (_, order) = self.order_of_one(user, id).await?;
        self.orders.extend(user, order.id).await?;
        self.reservation(user, id).await
    }

    /// Releases a held reservation of this user.
    pub async fn cancel(
        &self,
        user: UserId,
        id: ReservationId,
    ) -> Result<Reservation, BookingError> {
        let (r, order) = self.order_of_one(user, id).await?;
        if order.status_at(self.clock.now()) != OrderStatus::Held {
            // The one-seat routes always answered a cancel of an ended hold so.
            return Err(BookingError::NotHeld {
                status: r.status_at(self.clock.now()),
            });
        }
        self.orders.cancel(user, order.id).await?;
        self.reservation(user, id).await
    }

    /// Pays a held reservation once (its order of one): the wallet debited for it, its
    /// ticket issued, and the admission slot freed when the fan holds nothing more.
    #[tracing::instrument(skip_all, fields(user = %user, reservation = %id), err(level = "debug"))]
    pub async fn pay(
        &self,
        user: UserId,
        queue_token: Option<&str>,
        id: ReservationId,
        idempotency_key: &str,
    ) -> Result<PaymentReceipt, BookingError> {
        if self::idempotency_key(idempotency_key).is_none() {
            return Err(BookingError::InvalidIdempotencyKey {
                max: MAX_IDEMPOTENCY_KEY_LEN,
            });
        }
        let (_, order) = self.order_of_one(user, id).await?;
        let receipt = self
            .orders
            .pay(user, queue_token, order.id, idempotency_key)
            .await?;
        Ok(receipt_of(id, receipt))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::boxoffice::model::{PayOrder, PlaceOrder, SeatPosition};
    use crate::boxoffice::port::{MockOrderRepository, PlaceError};
    use crate::boxoffice::tests::{now, office, order_of};
    use crate::model::ConcertId;
    use crate::ports::{MockClock, MockSeatRepository};

    const TOKEN: &str = "1.1.7.0123456789abcdef0123456789abcdef";

    /// Whether an error is the one a case expects.
    type Expect = fn(&BookingError) -> bool;

    fn reservation(order: Option<i64>) -> Reservation {
        Reservation {
            id: ReservationId(3),
            user_id: UserId(7),
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
            order_id: order.map(OrderId),
        }
    }

    fn position(seat: i64) -> SeatPosition {
        SeatPosition {
            seat_id: SeatId(seat),
            label: format!("A-{seat}"),
            section: "Stalls".into(),
            row: "A".into(),
            number: 1,
            category: "Standard".into(),
            price: Money::from_u32(100),
        }
    }

    /// The held order 1 of user 7 with a seat per id in `seats`.
    fn stored_order(seats: &[i64]) -> Order {
        let mut o = order_of(&PlaceOrder {
            user_id: UserId(7),
            concert_id: ConcertId(1),
            schedule_id: ScheduleId(10),
            seats: Vec::new(),
            standing: Vec::new(),
            now: now(),
            expires_at: now() + Duration::minutes(5),
            admitted_until: now() + Duration::minutes(5),
            max_per_fan: 8,
            together: true,
            lone_seats_left: 0,
            presale_code: None,
        });
        o.seats = seats.iter().map(|s| position(*s)).collect();
        o
    }

    fn booking(seats: MockSeatRepository, orders: MockOrderRepository) -> Booking {
        let mut clock = MockClock::new();
        clock.expect_now().returning(now);
        Booking::new(Arc::new(seats), office(orders), Arc::new(clock))
    }

    fn seats_with(r: Reservation) -> MockSeatRepository {
        let mut seats = MockSeatRepository::new();
        seats
            .expect_reservation()
            .returning(move |id| Ok((id == r.id).then(|| r.clone())));
        seats
    }

    #[tokio::test]
    async fn a_hold_is_an_order_of_that_one_seat_answered_as_its_reservation() {
        let mut orders = MockOrderRepository::new();
        orders
            .expect_place()
            .withf(|req| req.seats == [SeatId(5)] && req.standing.is_empty())
            .times(1)
            .returning(|req| {
                let mut o = order_of(&req);
                o.id = OrderId(1);
                Ok(o)
            });
        let mut seats = MockSeatRepository::new();
        seats
            .expect_reservation_in_order()
            .withf(|o, s| *o == OrderId(1) && *s == SeatId(5))
            .returning(|_, _| Ok(Some(reservation(Some(1)))));
        let r = booking(seats, orders)
            .hold(UserId(7), Some(TOKEN), ScheduleId(10), SeatId(5))
            .await
            .unwrap();
        assert_eq!((r.id, r.order_id), (ReservationId(3), Some(OrderId(1))));
    }

    #[tokio::test]
    async fn a_refused_order_is_a_refused_hold_with_the_one_seat_routes_names() {
        let cases: Vec<(PlaceError, Expect)> = vec![
            (PlaceError::SeatsTaken(vec![SeatId(5)]), |e| {
                matches!(e, BookingError::SeatTaken)
            }),
            (PlaceError::SeatsNotFound(vec![SeatId(5)]), |e| {
                matches!(e, BookingError::SeatNotFound)
            }),
            (PlaceError::SeatsNotOnSale(vec![SeatId(5)]), |e| {
                matches!(e, BookingError::SeatNotFound)
            }),
            (
                PlaceError::FanLimit {
                    limit: 8,
                    already: 8,
                },
                |e| matches!(e, BookingError::LimitReached { limit: 8 }),
            ),
            (PlaceError::ScheduleCancelled, |e| {
                matches!(e, BookingError::Order(OrderError::ShowCancelled))
            }),
            (PlaceError::Unavailable(StoreError::new("down")), |e| {
                matches!(e, BookingError::Store(_))
            }),
        ];
        for (err, expected) in cases {
            let mut orders = MockOrderRepository::new();
            let mut slot = Some(err);
            orders
                .expect_place()
                .returning(move |_| Err(slot.take().unwrap()));
            let e = booking(MockSeatRepository::new(), orders)
                .hold(UserId(7), Some(TOKEN), ScheduleId(10), SeatId(5))
                .await
                .unwrap_err();
            assert!(expected(&e), "{e:?}");
        }
    }

    #[tokio::test]
    async fn without_admission_a_hold_never_reaches_the_store() {
        // No expectation on the orders: a call would panic.
        let b = booking(MockSeatRepository::new(), MockOrderRepository::new());
        let e = b
            .hold(UserId(7), None, ScheduleId(10), SeatId(5))
            .await
            .unwrap_err();
        assert!(matches!(e, BookingError::Gate(GateError::Missing)), "{e:?}");
        let e = b
            .hold(UserId(7), Some(TOKEN), ScheduleId(11), SeatId(5))
            .await
            .unwrap_err();
        assert!(matches!(e, BookingError::ScheduleNotFound), "{e:?}");
    }

    #[tokio::test]
    async fn paying_a_reservation_pays_its_order_and_answers_for_the_reservation() {
        let mut orders = MockOrderRepository::new();
        orders
            .expect_order()
            .returning(|_| Ok(Some(stored_order(&[5]))));
        orders
            .expect_order_head()
            .returning(|_| Ok(Some(stored_order(&[5]).head())));
        orders
            .expect_pay()
            .withf(|req: &PayOrder| req.order_id == OrderId(1) && req.idempotency_key == "k1")
            .times(1)
            .returning(|_| {
                Ok(OrderReceipt {
                    order_id: OrderId(1),
                    concert_id: ConcertId(1),
                    schedule_id: ScheduleId(10),
                    amount: Money::from_u32(100),
                    balance: Money::ZERO,
                    paid_at: now(),
                    // A replay: the box office then leaves the admission slot alone.
                    replayed: true,
                })
            });
        let receipt = booking(seats_with(reservation(Some(1))), orders)
            .pay(UserId(7), Some(TOKEN), ReservationId(3), "k1")
            .await
            .unwrap();
        assert_eq!(receipt.reservation_id, ReservationId(3));
        assert_eq!(receipt.amount, Money::from_u32(100));
        assert!(receipt.replayed);
    }

    #[tokio::test]
    async fn a_seat_of_a_larger_order_is_changed_only_through_its_order() {
        let mut orders = MockOrderRepository::new();
        orders
            .expect_order()
            .returning(|_| Ok(Some(stored_order(&[5, 6]))));
        // No pay, cancel or extend expectation: reaching the store would panic.
        let b = booking(seats_with(reservation(Some(1))), orders);
        let part = |e: BookingError| {
            assert!(
                matches!(
                    e,
                    BookingError::PartOfOrder {
                        order: OrderId(1),
                        tickets: 2
                    }
                ),
                "{e:?}"
            );
        };
        part(
            b.pay(UserId(7), Some(TOKEN), ReservationId(3), "k")
                .await
                .unwrap_err(),
        );
        part(b.cancel(UserId(7), ReservationId(3)).await.unwrap_err());
        part(b.extend(UserId(7), ReservationId(3)).await.unwrap_err());
    }

    #[tokio::test]
    async fn a_reservation_of_no_order_can_only_be_read() {
        for (status, expected) in [
            (ReservationStatus::Cancelled, "Cancelled"),
            (ReservationStatus::Confirmed, "AlreadyPaid"),
            (ReservationStatus::Expired, "HoldExpired"),
        ] {
            let mut r = reservation(None);
            r.status = status;
            let b = booking(seats_with(r), MockOrderRepository::new());
            for e in [
                b.cancel(UserId(7), ReservationId(3)).await.unwrap_err(),
                b.extend(UserId(7), ReservationId(3)).await.unwrap_err(),
                b.pay(UserId(7), None, ReservationId(3), "k")
                    .await
                    .unwrap_err(),
            ] {
                let named = match e {
                    BookingError::Cancelled => "Cancelled",
                    BookingError::AlreadyPaid => "AlreadyPaid",
                    BookingError::HoldExpired => "HoldExpired",
                    ref other => panic!("{other:?}"),
                };
                assert_eq!(named, expected);
            }
        }
    }

    #[tokio::test]
    async fn another_users_reservation_is_not_found_and_bad_keys_are_invalid() {
        let b = booking(seats_with(reservation(Some(1))), MockOrderRepository::new());
        assert!(matches!(
            b.reservation(UserId(8), ReservationId(3)).await,
            Err(BookingError::ReservationNotFound)
        ));
        assert!(matches!(
            b.pay(UserId(8), Some(TOKEN), ReservationId(3), "k").await,
            Err(BookingError::ReservationNotFound)
        ));
        assert!(matches!(
            b.pay(UserId(7), Some(TOKEN), ReservationId(3), "  ").await,
            Err(BookingError::InvalidIdempotencyKey { max: 128 })
        ));
    }

    #[tokio::test]
    async fn cancelling_a_held_reservation_cancels_its_order_of_one() {
        let mut orders = MockOrderRepository::new();
        orders
            .expect_order()
            .returning(|_| Ok(Some(stored_order(&[5]))));
        orders
            .expect_cancel()
            .withf(|u, o, at| *u == UserId(7) && *o == OrderId(1) && *at == now())
            .times(1)
            .returning(|_, _, _| {
                let mut o = stored_order(&[5]);
                o.status = OrderStatus::Cancelled;
                Ok(o)
            });
        let r = booking(seats_with(reservation(Some(1))), orders)
            .cancel(UserId(7), ReservationId(3))
            .await
            .unwrap();
        assert_eq!(r.id, ReservationId(3));
    }

    #[tokio::test]
    async fn cancelling_a_lapsed_hold_is_refused_as_not_held_without_reaching_the_store() {
        // The order still reads held in the store, but its hold ran out a minute ago.
        let mut orders = MockOrderRepository::new();
        orders.expect_order().returning(|_| {
            let mut o = stored_order(&[5]);
            o.expires_at = now() - Duration::minutes(1);
            Ok(Some(o))
        });
        orders.expect_cancel().never();
        let mut r = reservation(Some(1));
        r.expires_at = now() - Duration::minutes(1);
        let e = booking(seats_with(r), orders)
            .cancel(UserId(7), ReservationId(3))
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                BookingError::NotHeld {
                    status: ReservationStatus::Expired
                }
            ),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn extending_a_reservation_extends_its_order_of_one_by_the_policys_extension() {
        let mut orders = MockOrderRepository::new();
        orders
            .expect_order()
            .returning(|_| Ok(Some(stored_order(&[5]))));
        orders
            .expect_extend()
            .withf(|u, o, by, _| *u == UserId(7) && *o == OrderId(1) && *by == Duration::minutes(5))
            .times(1)
            .returning(|_, _, _, _| Ok(stored_order(&[5])));
        let b = booking(seats_with(reservation(Some(1))), orders);
        assert_eq!(b.hold_extension(), Duration::minutes(5));
        let r = b.extend(UserId(7), ReservationId(3)).await.unwrap();
        assert_eq!(r.id, ReservationId(3));
    }

    #[test]
    fn an_orders_refusals_keep_the_reservation_names() {
        let cases: Vec<(OrderError, Expect)> = vec![
            (OrderError::NotFound, |e| {
                matches!(e, BookingError::ReservationNotFound)
            }),
            (OrderError::NotHeld(OrderStatus::Expired), |e| {
                matches!(e, BookingError::HoldExpired)
            }),
            (OrderError::NotHeld(OrderStatus::Cancelled), |e| {
                matches!(e, BookingError::Cancelled)
            }),
            (OrderError::NotHeld(OrderStatus::Paid), |e| {
                matches!(e, BookingError::AlreadyPaid)
            }),
            (OrderError::NotHeld(OrderStatus::Held), |e| {
                matches!(
                    e,
                    BookingError::NotHeld {
                        status: ReservationStatus::Held
                    }
                )
            }),
            (OrderError::Expired, |e| {
                matches!(e, BookingError::HoldExpired)
            }),
            (OrderError::KeyReused, |e| {
                matches!(e, BookingError::KeyReused)
            }),
            (OrderError::AlreadyExtended, |e| {
                matches!(e, BookingError::AlreadyExtended)
            }),
            (OrderError::ExtensionNotAllowed, |e| {
                matches!(e, BookingError::ExtensionNotAllowed)
            }),
            (
                OrderError::InsufficientBalance {
                    balance: Money::ZERO,
                    amount: Money::from_u32(1),
                },
                |e| matches!(e, BookingError::InsufficientBalance { .. }),
            ),
            (OrderError::AdmissionEnds, |e| {
                matches!(e, BookingError::Order(OrderError::AdmissionEnds))
            }),
        ];
        for (err, expected) in cases {
            let e = BookingError::from(err);
            assert!(expected(&e), "{e:?}");
        }
    }
}
