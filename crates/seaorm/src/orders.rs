//! `OrderRepository`: a party's order held (in a group, `place.rs`), paid, cancelled,
//! extended or expired, each in one short transaction taking its locks in one order —
//! the fans' wallet rows (the allowance), presale codes, seats ascending, the order, its
//! positions, the standing areas last — so concurrent parties never deadlock each other
//! for long (a deadlock the database breaks anyway is retried). Seats change hands by a
//! conditional `UPDATE … WHERE status …`; the unique `reservations.live_seat_id` makes a
//! second live hold of a seat fail even if that condition were wrong.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use frontrow_domain::boxoffice::model::{
    AreaAvailability, Availability, CategoryAvailability, NewPresaleCodes, Order, OrderHead,
    OrderReceipt, OrderStatus, PayOrder, PlaceOrder, PresaleCode, SeatPosition, StandingPosition,
    VenueSeat,
};
use frontrow_domain::boxoffice::port::{
    OrderChangeError, OrderPayError, OrderRepository, PlaceError, PresaleError,
};
use frontrow_domain::error::StoreError;
use frontrow_domain::model::{
    ConcertId, OrderId, ReservationStatus, ScheduleId, SeatId, SeatStatus, UserId,
};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::convert::{at, money, ms};
use crate::entity::{
    ledger_entry, order, order_payment, order_standing, reservation, schedule, seat, standing_area,
};
use crate::errors::{Fail, is_unique_violation, retrying, store_err};
use crate::store::SeaOrmStore;
use crate::wallets::read_balance;

const HELD: &str = OrderStatus::Held.as_str();
const PAID: &str = OrderStatus::Paid.as_str();
/// Seats per `IN (…)` list.
const IN_CHUNK: usize = 500;

fn order_status(s: &str) -> Result<OrderStatus, DbErr> {
    OrderStatus::parse(s).ok_or_else(|| DbErr::Type(format!("corrupt row: order status {s:?}")))
}

/// Seats not sold and not under a hold unexpired at `now` (a waiting-list offer's seat
/// is never claimable: the sweeper passes it on when the offer expires).
pub(crate) fn claimable(now: i64) -> Condition {
    Condition::any()
        .add(seat::Column::Status.eq(SeatStatus::Available.as_str()))
        .add(
            Condition::all()
                .add(seat::Column::Status.eq(SeatStatus::Held.as_str()))
                .add(seat::Column::HeldUntil.lte(now))
                .add(seat::Column::OfferOrderId.is_null()),
        )
}

/// A held seat of an order (its payment issues a ticket per seat with its label and
/// category).
pub(crate) struct HeldSeat {
    pub(crate) reservation_id: i64,
    pub(crate) seat_id: i64,
    pub(crate) label: String,
    pub(crate) category: String,
}

/// The order's held reservations with their seats (by seat id) and its standing lines
/// (by area), in one statement, read without locks: the changes that follow go by primary
/// key, so MariaDB/MySQL take no gap locks on the secondary index (which made concurrent
/// orders wait on each other's inserts).
async fn positions_of_order(
    conn: &impl ConnectionTrait,
    order: i64,
) -> Result<(Vec<HeldSeat>, Vec<order_standing::Model>), DbErr> {
    let backend = conn.get_database_backend();
    // One integer type for both halves of the union, read back as a 64-bit integer.
    let int = match backend {
        DbBackend::MySql => "SIGNED",
        DbBackend::Postgres => "BIGINT",
        _ => "INTEGER", // SQLite
    };
    let sql = format!(
        "SELECT CAST(0 AS {int}) AS kind, r.id AS id, r.seat_id AS ref_id, s.label AS label, \
           s.category AS category, CAST(0 AS {int}) AS quantity, CAST(0 AS {int}) AS price \
         FROM reservations r JOIN seats s ON s.id = r.seat_id \
         WHERE r.order_id = ? AND r.status = '{held}' \
         UNION ALL \
         SELECT CAST(1 AS {int}), l.id, l.area_id, '', '', CAST(l.quantity AS {int}), \
           CAST(l.price AS {int}) FROM order_standing l WHERE l.order_id = ? \
         ORDER BY kind, ref_id",
        held = ReservationStatus::Held.as_str()
    );
    let (mut seats, mut lines) = (Vec::new(), Vec::new());
    for r in conn
        .query_all_raw(crate::convert::raw(
            backend,
            &sql,
            vec![order.into(), order.into()],
        ))
        .await?
    {
        let kind: i64 = r.try_get("", "kind")?;
        let (id, ref_id): (i64, i64) = (r.try_get("", "id")?, r.try_get("", "ref_id")?);
        if kind == 0 {
            seats.push(HeldSeat {
                reservation_id: id,
                seat_id: ref_id,
                label: r.try_get("", "label")?,
                category: r.try_get("", "category")?,
            });
        } else {
            let quantity: i64 = r.try_get("", "quantity")?;
            lines.push(order_standing::Model {
                id,
                order_id: order,
                area_id: ref_id,
                quantity: i32::try_from(quantity)
                    .map_err(|_| DbErr::Type(format!("corrupt row: quantity {quantity}")))?,
                price: r.try_get("", "price")?,
            });
        }
    }
    Ok((seats, lines))
}

/// A seat of an order, at the `price` it was ordered at.
pub(crate) fn seat_position(s: &seat::Model, price: i64) -> Result<SeatPosition, DbErr> {
    Ok(SeatPosition {
        seat_id: SeatId(s.id),
        label: s.label.clone(),
        section: s.section.clone(),
        row: s.row_name(),
        number: u32::try_from(s.number).unwrap_or(0),
        category: s.category.clone(),
        price: money(price)?,
    })
}

/// Makes seats free to buy: available, no holder, no offer (the caller's filters say
/// which).
pub(crate) fn free_seats() -> sea_orm::UpdateMany<seat::Entity> {
    seat::Entity::update_many()
        .col_expr(
            seat::Column::Status,
            Expr::value(SeatStatus::Available.as_str()),
        )
        .col_expr(
            seat::Column::Version,
            Expr::col(seat::Column::Version).add(1),
        )
        .col_expr(seat::Column::HeldBy, Expr::value(Option::<i64>::None))
        .col_expr(seat::Column::HeldUntil, Expr::value(Option::<i64>::None))
        .col_expr(seat::Column::OfferOrderId, Expr::value(Option::<i64>::None))
}

/// Ends an order's held reservations (by primary key): `to`, and no longer live.
pub(crate) async fn end_reservations(
    conn: &impl ConnectionTrait,
    ids: &[i64],
    to: ReservationStatus,
) -> Result<(), DbErr> {
    for chunk in ids.chunks(IN_CHUNK) {
        reservation::Entity::update_many()
            .col_expr(reservation::Column::Status, Expr::value(to.as_str()))
            .col_expr(
                reservation::Column::LiveSeatId,
                Expr::value(Option::<i64>::None),
            )
            .col_expr(
                reservation::Column::Version,
                Expr::col(reservation::Column::Version).add(1),
            )
            .filter(reservation::Column::Id.is_in(chunk.iter().copied()))
            .filter(reservation::Column::Status.eq(ReservationStatus::Held.as_str()))
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// Ends a held order (`Cancelled` or `Expired`): its standing places go back, its
/// reservations end and its seats are free. `when` limits which orders qualify: for a
/// cancel, unexpired ones; for an expiry, expired ones. A waiting-list offer's place
/// goes to the next waiting fan. True when this call ended it.
pub(crate) async fn end_order(
    conn: &impl ConnectionTrait,
    o: &order::Model,
    to: OrderStatus,
    now: i64,
) -> Result<bool, DbErr> {
    let mut q = order::Entity::update_many()
        .col_expr(order::Column::Status, Expr::value(to.as_str()))
        .col_expr(
            order::Column::Version,
            Expr::col(order::Column::Version).add(1),
        )
        .filter(order::Column::Id.eq(o.id))
        .filter(order::Column::Status.eq(HELD));
    q = if to == OrderStatus::Expired {
        q.filter(order::Column::ExpiresAt.lte(now))
    } else {
        q.filter(order::Column::ExpiresAt.gt(now))
    };
    if q.exec(conn).await?.rows_affected == 0 {
        return Ok(false);
    }
    let (held, lines) = positions_of_order(conn, o.id).await?;
    // One lock order with placing (code → seats → areas): the code first.
    if let Some(code) = o.presale_code_id {
        // Every seat of the order counts, whatever became of its reservation since.
        let seats = reservation::Entity::find()
            .filter(reservation::Column::OrderId.eq(o.id))
            .count(conn)
            .await?;
        let standing: i64 = lines.iter().map(|l| i64::from(l.quantity)).sum();
        crate::presale::give_back(conn, code, standing + i64::try_from(seats).unwrap_or(0)).await?;
    }
    let seats: Vec<i64> = held.iter().map(|h| h.seat_id).collect();
    let ids: Vec<i64> = held.iter().map(|h| h.reservation_id).collect();
    let res_status = if to == OrderStatus::Cancelled {
        ReservationStatus::Cancelled
    } else {
        ReservationStatus::Expired
    };
    end_reservations(conn, &ids, res_status).await?;
    for ids in seats.chunks(IN_CHUNK) {
        // Only seats still carrying this order's hold (same holder, same expiry).
        free_seats()
            .filter(seat::Column::Id.is_in(ids.iter().copied()))
            .filter(seat::Column::Status.eq(SeatStatus::Held.as_str()))
            .filter(seat::Column::HeldBy.eq(o.user_id))
            .filter(seat::Column::HeldUntil.eq(o.expires_at))
            .exec(conn)
            .await?;
    }
    for l in &lines {
        standing_area::Entity::update_many()
            .col_expr(
                standing_area::Column::Held,
                Expr::col(standing_area::Column::Held).sub(i64::from(l.quantity)),
            )
            .filter(standing_area::Column::Id.eq(l.area_id))
            .exec(conn)
            .await?;
    }
    if o.waitlist_entry_id.is_some() {
        crate::waitlist::offer_ended(conn, o, to, now).await?;
    }
    Ok(true)
}

/// Ends the expired held orders with places in `area` (so a full area's expired holds
/// come back before a fan is told it is full).
pub(crate) async fn expire_area_holds(
    conn: &impl ConnectionTrait,
    area: i64,
    now: i64,
) -> Result<u64, DbErr> {
    let ids: Vec<i64> = order_standing::Entity::find()
        .select_only()
        .column(order_standing::Column::OrderId)
        .filter(order_standing::Column::AreaId.eq(area))
        .into_tuple()
        .all(conn)
        .await?;
    let mut n = 0;
    for chunk in ids.chunks(IN_CHUNK) {
        let expired = order::Entity::find()
            .filter(order::Column::Id.is_in(chunk.iter().copied()))
            .filter(order::Column::Status.eq(HELD))
            .filter(order::Column::ExpiresAt.lte(now))
            .all(conn)
            .await?;
        for o in expired {
            if end_order(conn, &o, OrderStatus::Expired, now).await? {
                n += 1;
            }
        }
    }
    Ok(n)
}

impl SeaOrmStore {
    /// The order with its positions.
    async fn load_order(&self, o: order::Model) -> Result<Order, DbErr> {
        let res = reservation::Entity::find()
            .filter(reservation::Column::OrderId.eq(o.id))
            .order_by_asc(reservation::Column::SeatId)
            .all(&self.db)
            .await?;
        let mut seats_by_id = HashMap::new();
        for ids in res.chunks(IN_CHUNK) {
            let seats = seat::Entity::find()
                .filter(seat::Column::Id.is_in(ids.iter().map(|r| r.seat_id)))
                .all(&self.db)
                .await?;
            seats_by_id.extend(seats.into_iter().map(|s| (s.id, s)));
        }
        let mut seats = Vec::with_capacity(res.len());
        for r in &res {
            let s = seats_by_id.get(&r.seat_id).ok_or_else(|| {
                DbErr::RecordNotFound(format!("seat {} of order {}", r.seat_id, o.id))
            })?;
            seats.push(seat_position(s, r.price)?);
        }
        let lines = order_standing::Entity::find()
            .filter(order_standing::Column::OrderId.eq(o.id))
            .order_by_asc(order_standing::Column::Id)
            .all(&self.db)
            .await?;
        let mut standing = Vec::with_capacity(lines.len());
        for l in lines {
            let a = standing_area::Entity::find_by_id(l.area_id)
                .one(&self.db)
                .await?
                .ok_or_else(|| DbErr::RecordNotFound(format!("standing area {}", l.area_id)))?;
            standing.push(StandingPosition {
                area: a.name,
                category: a.category,
                quantity: u32::try_from(l.quantity).unwrap_or(0),
                price: money(l.price)?,
            });
        }
        Ok(Order {
            id: OrderId(o.id),
            user_id: UserId(o.user_id),
            concert_id: ConcertId(o.concert_id),
            schedule_id: ScheduleId(o.schedule_id),
            status: order_status(&o.status)?,
            total: money(o.total)?,
            seats,
            standing,
            together: o.together,
            lone_seats_left: u32::try_from(o.lone_seats_left).unwrap_or(0),
            created_at: at(o.created_at)?,
            expires_at: at(o.expires_at)?,
            admitted_until: at(o.admitted_until)?,
            extended_at: o.extended_at.map(at).transpose()?,
            paid_at: o.paid_at.map(at).transpose()?,
            offer: o.waitlist_entry_id.is_some(),
            refunds: crate::returns::refunds_of_order(&self.db, o.id).await?,
            show_cancelled: crate::waitlist::is_cancelled(&self.db, o.schedule_id).await?,
        })
    }

    /// One attempt at an order. `sweep`: end the expired holds' reservations of the
    /// claimed seats first; otherwise that happens only when a seat was seen held before
    /// the claim (a hold that ends between that read and the claim makes the reservations'
    /// insert hit the unique live-seat index: the caller then tries again sweeping).
    async fn owned(&self, user: UserId, id: OrderId) -> Result<Option<order::Model>, DbErr> {
        Ok(order::Entity::find_by_id(id.0)
            .one(&self.db)
            .await?
            .filter(|o| o.user_id == user.0))
    }

    /// Why a held order cannot change at `now`, if it cannot.
    fn not_held(o: &order::Model, now: i64) -> Result<Option<OrderChangeError>, DbErr> {
        let status = order_status(&o.status)?;
        Ok(match status {
            OrderStatus::Held if o.expires_at > now => None,
            OrderStatus::Held => Some(OrderChangeError::NotHeld {
                status: OrderStatus::Expired,
            }),
            s => Some(OrderChangeError::NotHeld { status: s }),
        })
    }

    async fn try_cancel_order(
        &self,
        user: UserId,
        id: OrderId,
        now: i64,
    ) -> Result<Order, Fail<OrderChangeError>> {
        let Some(o) = self.owned(user, id).await? else {
            return Err(Fail::Domain(OrderChangeError::NotFound));
        };
        if let Some(e) = Self::not_held(&o, now)? {
            return Err(Fail::Domain(e));
        }
        let txn = self.begin_write().await?;
        if !end_order(&txn, &o, OrderStatus::Cancelled, now).await? {
            txn.rollback().await?;
            return Box::pin(self.try_cancel_order(user, id, now)).await;
        }
        txn.commit().await?;
        let mut out = self.load_order(o).await?;
        out.status = OrderStatus::Cancelled;
        Ok(out)
    }

    async fn try_extend_order(
        &self,
        user: UserId,
        id: OrderId,
        by: Duration,
        now: i64,
    ) -> Result<Order, Fail<OrderChangeError>> {
        let Some(o) = self.owned(user, id).await? else {
            return Err(Fail::Domain(OrderChangeError::NotFound));
        };
        if let Some(e) = Self::not_held(&o, now)? {
            return Err(Fail::Domain(e));
        }
        if o.extended_at.is_some() {
            return Err(Fail::Domain(OrderChangeError::AlreadyExtended));
        }
        let until = o.expires_at.saturating_add(by.num_milliseconds());
        let until = Ord::min(until, o.admitted_until);
        if until <= o.expires_at {
            return Err(Fail::Domain(OrderChangeError::AdmissionEnds));
        }
        let txn = self.begin_write().await?;
        let n = order::Entity::update_many()
            .col_expr(order::Column::ExpiresAt, Expr::value(until))
            .col_expr(order::Column::ExtendedAt, Expr::value(Some(now)))
            .col_expr(
                order::Column::Version,
                Expr::col(order::Column::Version).add(1),
            )
            .filter(order::Column::Id.eq(o.id))
            .filter(order::Column::Version.eq(o.version))
            .filter(order::Column::Status.eq(HELD))
            .filter(order::Column::ExpiresAt.gt(now))
            .exec(&txn)
            .await?
            .rows_affected;
        if n == 0 {
            txn.rollback().await?;
            return Box::pin(self.try_extend_order(user, id, by, now)).await;
        }
        let (held, _) = positions_of_order(&txn, o.id).await?;
        let seats: Vec<i64> = held.iter().map(|h| h.seat_id).collect();
        let mut moved = 0;
        for chunk in seats.chunks(IN_CHUNK) {
            moved += seat::Entity::update_many()
                .col_expr(seat::Column::HeldUntil, Expr::value(Some(until)))
                .col_expr(
                    seat::Column::Version,
                    Expr::col(seat::Column::Version).add(1),
                )
                .filter(seat::Column::Id.is_in(chunk.iter().copied()))
                .filter(seat::Column::Status.eq(SeatStatus::Held.as_str()))
                .filter(seat::Column::HeldBy.eq(user.0))
                .filter(seat::Column::HeldUntil.eq(o.expires_at))
                .exec(&txn)
                .await?
                .rows_affected;
        }
        if moved != u64::try_from(seats.len()).unwrap_or(u64::MAX) {
            txn.rollback().await?;
            return Err(Fail::Db(DbErr::Custom("seat changed during extend".into())));
        }
        for chunk in held.chunks(IN_CHUNK) {
            reservation::Entity::update_many()
                .col_expr(reservation::Column::ExpiresAt, Expr::value(until))
                .col_expr(reservation::Column::ExtendedAt, Expr::value(Some(now)))
                .filter(reservation::Column::Id.is_in(chunk.iter().map(|h| h.reservation_id)))
                .filter(reservation::Column::Status.eq(ReservationStatus::Held.as_str()))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        let o = order::Entity::find_by_id(o.id)
            .one(&self.db)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(format!("order {}", o.id)))?;
        Ok(self.load_order(o).await?)
    }

    /// The stored receipt for the request's key, or `KeyReused`.
    async fn replay_order(
        &self,
        req: &PayOrder,
    ) -> Result<Option<OrderReceipt>, Fail<OrderPayError>> {
        let Some(p) = order_payment::Entity::find()
            .filter(order_payment::Column::UserId.eq(req.user_id.0))
            .filter(order_payment::Column::IdempotencyKey.eq(req.idempotency_key.as_str()))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        if p.order_id != req.order_id.0 {
            return Err(Fail::Domain(OrderPayError::KeyReused));
        }
        let o = order::Entity::find_by_id(p.order_id)
            .one(&self.db)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(format!("order {} of a payment", p.order_id)))?;
        Ok(Some(OrderReceipt {
            order_id: OrderId(o.id),
            concert_id: ConcertId(o.concert_id),
            schedule_id: ScheduleId(o.schedule_id),
            amount: money(p.amount)?,
            balance: money(p.balance_after)?,
            paid_at: at(p.paid_at)?,
            replayed: true,
        }))
    }

    async fn try_pay_order(&self, req: &PayOrder) -> Result<OrderReceipt, Fail<OrderPayError>> {
        for attempt in 0..5 {
            // The first attempt goes straight to the order: a held order's payment
            // writes its key under a unique index (per fan, and one payment per order),
            // so a key already used elsewhere fails that insert, and the next attempt
            // replays or refuses it here; a paid order is replayed by the attempt.
            if attempt > 0
                && let Some(r) = self.replay_order(req).await?
            {
                return Ok(r);
            }
            if let Some(r) = self.pay_order_once(req).await? {
                return Ok(r);
            }
        }
        Err(Fail::Db(DbErr::Custom(
            "order payment kept losing races; giving up".into(),
        )))
    }

    /// One attempt; `None` when it lost a race and should look again.
    async fn pay_order_once(
        &self,
        req: &PayOrder,
    ) -> Result<Option<OrderReceipt>, Fail<OrderPayError>> {
        let now = ms(req.now);
        let Some(o) = self.owned(req.user_id, req.order_id).await? else {
            return Err(Fail::Domain(OrderPayError::NotFound));
        };
        match order_status(&o.status)? {
            OrderStatus::Paid => {
                return match self.replay_order(req).await? {
                    Some(r) => Ok(Some(r)),
                    None => Err(Fail::Domain(OrderPayError::AlreadyPaid)),
                };
            }
            OrderStatus::Cancelled => return Err(Fail::Domain(OrderPayError::Cancelled)),
            OrderStatus::Expired => return Err(Fail::Domain(OrderPayError::Expired)),
            OrderStatus::Held if o.expires_at <= now => {
                return Err(Fail::Domain(OrderPayError::Expired));
            }
            OrderStatus::Held => {}
        }
        let txn = self.begin_write().await?;
        // The wallet first (the allowance's lock), the seats, then the order.
        let debited = crate::wallets::debit(&txn, o.user_id, o.total).await?;
        let Some(balance) = debited else {
            let balance = read_balance(&txn, o.user_id).await?.unwrap_or(0);
            txn.rollback().await?;
            // A concurrent payment of this very order may have spent the balance:
            // then this call replays (or is refused by) that payment instead.
            let now_paid = order::Entity::find_by_id(o.id)
                .one(&self.db)
                .await?
                .is_some_and(|x| x.status == PAID);
            if now_paid {
                return Ok(None);
            }
            return Err(Fail::Domain(OrderPayError::InsufficientBalance {
                balance: money(balance)?,
                amount: money(o.total)?,
            }));
        };
        let (held, lines) = positions_of_order(&txn, o.id).await?;
        let seats: Vec<i64> = held.iter().map(|h| h.seat_id).collect();
        let mut sold = 0;
        for chunk in seats.chunks(IN_CHUNK) {
            sold += seat::Entity::update_many()
                .col_expr(seat::Column::Status, Expr::value(SeatStatus::Sold.as_str()))
                .col_expr(
                    seat::Column::Version,
                    Expr::col(seat::Column::Version).add(1),
                )
                .col_expr(seat::Column::OfferOrderId, Expr::value(Option::<i64>::None))
                .filter(seat::Column::Id.is_in(chunk.iter().copied()))
                .filter(seat::Column::Status.eq(SeatStatus::Held.as_str()))
                .filter(seat::Column::HeldBy.eq(o.user_id))
                .filter(seat::Column::HeldUntil.eq(o.expires_at))
                .exec(&txn)
                .await?
                .rows_affected;
        }
        if sold != u64::try_from(seats.len()).unwrap_or(u64::MAX) {
            // A seat no longer carries this hold (extended or ended under us).
            txn.rollback().await?;
            return Ok(None);
        }
        let paid = order::Entity::update_many()
            .col_expr(order::Column::Status, Expr::value(PAID))
            .col_expr(order::Column::PaidAt, Expr::value(Some(now)))
            .col_expr(
                order::Column::Version,
                Expr::col(order::Column::Version).add(1),
            )
            .filter(order::Column::Id.eq(o.id))
            .filter(order::Column::Version.eq(o.version))
            .filter(order::Column::Status.eq(HELD))
            .filter(order::Column::ExpiresAt.gt(now))
            .exec(&txn)
            .await?
            .rows_affected;
        if paid == 0 {
            txn.rollback().await?;
            return Ok(None);
        }
        for chunk in held.chunks(IN_CHUNK) {
            reservation::Entity::update_many()
                .col_expr(
                    reservation::Column::Status,
                    Expr::value(ReservationStatus::Confirmed.as_str()),
                )
                .col_expr(reservation::Column::PaidAt, Expr::value(Some(now)))
                .col_expr(
                    reservation::Column::Version,
                    Expr::col(reservation::Column::Version).add(1),
                )
                .filter(reservation::Column::Id.is_in(chunk.iter().map(|h| h.reservation_id)))
                .filter(reservation::Column::Status.eq(ReservationStatus::Held.as_str()))
                .exec(&txn)
                .await?;
        }
        // Every position becomes a ticket in this same transaction.
        crate::tickets::issue(&txn, &o, &held, &lines, now).await?;
        crate::waitlist::offer_paid(&txn, &o, now).await?;
        ledger_entry::Entity::insert(ledger_entry::ActiveModel {
            user_id: Set(o.user_id),
            delta: Set(-o.total),
            balance_after: Set(balance),
            kind: Set("ORDER".to_owned()),
            reservation_id: Set(None),
            created_at: Set(now),
            ..Default::default()
        })
        .exec(&txn)
        .await?;
        let stored = order_payment::Entity::insert(order_payment::ActiveModel {
            order_id: Set(o.id),
            user_id: Set(o.user_id),
            idempotency_key: Set(req.idempotency_key.clone()),
            amount: Set(o.total),
            balance_after: Set(balance),
            paid_at: Set(now),
            ..Default::default()
        })
        .exec(&txn)
        .await;
        match stored {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                txn.rollback().await?;
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        }
        // The areas' rows last (every standing fan's): locked for this and the commit.
        for l in &lines {
            let q = i64::from(l.quantity);
            standing_area::Entity::update_many()
                .col_expr(
                    standing_area::Column::Held,
                    Expr::col(standing_area::Column::Held).sub(q),
                )
                .col_expr(
                    standing_area::Column::Sold,
                    Expr::col(standing_area::Column::Sold).add(q),
                )
                .filter(standing_area::Column::Id.eq(l.area_id))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(Some(OrderReceipt {
            order_id: OrderId(o.id),
            concert_id: ConcertId(o.concert_id),
            schedule_id: ScheduleId(o.schedule_id),
            amount: money(o.total)?,
            balance: money(balance)?,
            paid_at: at(now)?,
            replayed: false,
        }))
    }

    async fn try_expire_order(&self, o: &order::Model, now: i64) -> Result<bool, Fail<StoreError>> {
        let txn = self.begin_write().await?;
        let done = end_order(&txn, o, OrderStatus::Expired, now).await?;
        txn.commit().await?;
        Ok(done)
    }
}

#[async_trait]
impl OrderRepository for SeaOrmStore {
    #[tracing::instrument(skip_all, fields(schedule = schedule.0), err)]
    async fn venue(&self, schedule: ScheduleId) -> Result<Option<Vec<VenueSeat>>, StoreError> {
        if schedule::Entity::find_by_id(schedule.0)
            .one(&self.db)
            .await
            .map_err(store_err)?
            .is_none()
        {
            return Ok(None);
        }
        let rows: Vec<(i64, String, i32, i32, i32, String, bool, bool)> = seat::Entity::find()
            .select_only()
            .column(seat::Column::Id)
            .column(seat::Column::Section)
            .column(seat::Column::SectionRank)
            .column(seat::Column::RowNo)
            .column(seat::Column::X)
            .column(seat::Column::Category)
            .column(seat::Column::Accessible)
            .column(seat::Column::Hidden)
            .filter(seat::Column::ScheduleId.eq(schedule.0))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(store_err)?;
        let u = |n: i32| u32::try_from(n).unwrap_or(0);
        Ok(Some(
            rows.into_iter()
                .map(
                    |(id, section, rank, row, x, category, accessible, hidden)| VenueSeat {
                        id: SeatId(id),
                        section,
                        section_rank: u(rank),
                        row_no: u(row),
                        x: u(x),
                        category,
                        accessible,
                        hidden,
                    },
                )
                .collect(),
        ))
    }

    #[tracing::instrument(skip_all, fields(schedule = schedule.0), err)]
    async fn taken_seats(
        &self,
        schedule: ScheduleId,
        now: DateTime<Utc>,
    ) -> Result<Vec<SeatId>, StoreError> {
        let ids: Vec<i64> = seat::Entity::find()
            .select_only()
            .column(seat::Column::Id)
            .filter(seat::Column::ScheduleId.eq(schedule.0))
            .filter(claimable(ms(now)).not())
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(store_err)?;
        Ok(ids.into_iter().map(SeatId).collect())
    }

    #[tracing::instrument(skip_all, fields(user = req.user_id.0, schedule = req.schedule_id.0, seats = req.seats.len()))]
    async fn place(&self, req: PlaceOrder) -> Result<Order, PlaceError> {
        self.place_grouped(req).await
    }

    #[tracing::instrument(skip_all, fields(order = id.0), err)]
    async fn order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        let Some(o) = order::Entity::find_by_id(id.0)
            .one(&self.db)
            .await
            .map_err(store_err)?
        else {
            return Ok(None);
        };
        self.load_order(o).await.map(Some).map_err(store_err)
    }

    async fn order_head(&self, id: OrderId) -> Result<Option<OrderHead>, StoreError> {
        let Some(o) = order::Entity::find_by_id(id.0)
            .one(&self.db)
            .await
            .map_err(store_err)?
        else {
            return Ok(None);
        };
        Ok(Some(OrderHead {
            id: OrderId(o.id),
            user_id: UserId(o.user_id),
            concert_id: ConcertId(o.concert_id),
            status: order_status(&o.status).map_err(store_err)?,
            offer: o.waitlist_entry_id.is_some(),
        }))
    }

    #[tracing::instrument(skip_all, fields(user = user.0), err)]
    async fn orders_of(&self, user: UserId, limit: u64) -> Result<Vec<Order>, StoreError> {
        let rows = order::Entity::find()
            .filter(order::Column::UserId.eq(user.0))
            .order_by_desc(order::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(store_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for o in rows {
            out.push(self.load_order(o).await.map_err(store_err)?);
        }
        Ok(out)
    }

    #[tracing::instrument(skip_all, fields(user = user.0, order = id.0))]
    async fn cancel(
        &self,
        user: UserId,
        id: OrderId,
        now: DateTime<Utc>,
    ) -> Result<Order, OrderChangeError> {
        let now = ms(now);
        retrying!(self.try_cancel_order(user, id, now).await)
    }

    #[tracing::instrument(skip_all, fields(user = user.0, order = id.0))]
    async fn extend(
        &self,
        user: UserId,
        id: OrderId,
        by: Duration,
        now: DateTime<Utc>,
    ) -> Result<Order, OrderChangeError> {
        let now = ms(now);
        retrying!(self.try_extend_order(user, id, by, now).await)
    }

    #[tracing::instrument(skip_all, fields(user = req.user_id.0, order = req.order_id.0))]
    async fn pay(&self, req: PayOrder) -> Result<OrderReceipt, OrderPayError> {
        retrying!(self.try_pay_order(&req).await)
    }

    #[tracing::instrument(skip_all, fields(limit), err)]
    async fn release_expired(&self, now: DateTime<Utc>, limit: u64) -> Result<u64, StoreError> {
        let now = ms(now);
        let expired = order::Entity::find()
            .filter(order::Column::Status.eq(HELD))
            .filter(order::Column::ExpiresAt.lte(now))
            .order_by_asc(order::Column::ExpiresAt)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(store_err)?;
        let mut n = 0;
        for o in expired {
            let done: bool = retrying!(self.try_expire_order(&o, now).await)?;
            n += u64::from(done);
        }
        Ok(n)
    }

    #[tracing::instrument(skip_all, fields(user = user.0, concert = concert.0), err)]
    async fn live_orders_for_concert(
        &self,
        user: UserId,
        concert: ConcertId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        order::Entity::find()
            .filter(order::Column::UserId.eq(user.0))
            .filter(order::Column::ConcertId.eq(concert.0))
            .filter(order::Column::Status.eq(HELD))
            .filter(order::Column::ExpiresAt.gt(ms(now)))
            .count(&self.db)
            .await
            .map_err(store_err)
    }

    #[tracing::instrument(skip_all, fields(schedule = new.schedule_id.0, codes = new.codes.len()))]
    async fn create_presale_codes(
        &self,
        new: NewPresaleCodes,
    ) -> Result<Vec<PresaleCode>, PresaleError> {
        retrying!(self.try_create_codes(&new).await)
    }

    #[tracing::instrument(skip_all, fields(schedule = schedule.0), err)]
    async fn presale_codes(
        &self,
        schedule: ScheduleId,
    ) -> Result<Option<Vec<PresaleCode>>, StoreError> {
        self.read_codes(schedule).await.map_err(store_err)
    }

    #[tracing::instrument(skip_all, fields(schedule = schedule.0), err)]
    async fn presale_code(
        &self,
        schedule: ScheduleId,
        code: &str,
    ) -> Result<Option<PresaleCode>, StoreError> {
        self.read_code(schedule, code).await.map_err(store_err)
    }

    #[tracing::instrument(skip_all, fields(schedule = schedule.0), err)]
    async fn cancel_presale_code(
        &self,
        schedule: ScheduleId,
        code: &str,
    ) -> Result<bool, StoreError> {
        self.cancel_code(schedule, code).await.map_err(store_err)
    }

    #[tracing::instrument(skip_all, fields(schedule = schedule.0), err)]
    async fn availability(
        &self,
        schedule: ScheduleId,
        now: DateTime<Utc>,
    ) -> Result<Option<Availability>, StoreError> {
        let Some(venue) = self.venue(schedule).await? else {
            return Ok(None);
        };
        let taken: std::collections::HashSet<SeatId> =
            self.taken_seats(schedule, now).await?.into_iter().collect();
        let prices: Vec<(String, i64)> = seat::Entity::find()
            .select_only()
            .column(seat::Column::Category)
            .column_as(Expr::col(seat::Column::Price).max(), "price")
            .filter(seat::Column::ScheduleId.eq(schedule.0))
            .group_by(seat::Column::Category)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(store_err)?;
        let mut categories: Vec<CategoryAvailability> = Vec::new();
        for s in &venue {
            let i = match categories.iter().position(|c| c.category == s.category) {
                Some(i) => i,
                None => {
                    let price = prices
                        .iter()
                        .find(|(c, _)| *c == s.category)
                        .map_or(0, |(_, p)| *p);
                    categories.push(CategoryAvailability {
                        category: s.category.clone(),
                        price: money(price).map_err(store_err)?,
                        total: 0,
                        available: 0,
                    });
                    categories.len() - 1
                }
            };
            categories[i].total += 1;
            categories[i].available += u64::from(!taken.contains(&s.id));
        }
        categories.sort_by(|a, b| a.category.cmp(&b.category));
        let areas = self.standing_areas(schedule).await?;
        Ok(Some(Availability { categories, areas }))
    }

    async fn standing_areas(
        &self,
        schedule: ScheduleId,
    ) -> Result<Vec<AreaAvailability>, StoreError> {
        standing_area::Entity::find()
            .filter(standing_area::Column::ScheduleId.eq(schedule.0))
            .order_by_asc(standing_area::Column::SectionRank)
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(|a| {
                Ok(AreaAvailability {
                    available: u64::try_from(a.capacity - a.held - a.sold).unwrap_or(0),
                    capacity: u64::try_from(a.capacity).unwrap_or(0),
                    held: u64::try_from(a.held).unwrap_or(0),
                    sold: u64::try_from(a.sold).unwrap_or(0),
                    price: money(a.price)?,
                    area: a.name,
                    category: a.category,
                })
            })
            .collect::<Result<Vec<_>, DbErr>>()
            .map_err(store_err)
    }
}
