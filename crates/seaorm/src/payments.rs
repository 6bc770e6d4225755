//! `PaymentRepository`: pay a hold from the wallet in one transaction, exactly once per
//! `(user, idempotency key)`. A caller that loses the race (the reservation's version
//! moved, or the key's unique index fired) rolls back and replays the stored receipt.

use async_trait::async_trait;
use frontrow_domain::error::PaymentError;
use frontrow_domain::model::{
    ConcertId, PaymentReceipt, PaymentRequest, ReservationId, ReservationStatus, ScheduleId,
    SeatStatus,
};
use frontrow_domain::ports::PaymentRepository;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter};
// The operators' sales export.
use frontrow_domain::error::StoreError;
use frontrow_domain::model::{OrderId, Sale, SeatId, SoldPlace, UserId};
use sea_orm::QueryOrder;

use crate::errors::store_err;

use crate::convert::{at, money, ms, reservation_status};
use crate::entity::{
    ledger_entry, order, order_standing, payment, reservation, seat, ticket, wallet,
};
use crate::errors::{Fail, is_unique_violation, retrying};
use crate::store::SeaOrmStore;
use crate::wallets::read_balance;

/// How many times a payment that lost a race re-reads the state before giving up.
const MAX_ROUNDS: u32 = 5;

enum Step {
    Done(PaymentReceipt),
    /// Lost a race: read the state again and answer from it.
    Again,
}

impl SeaOrmStore {
    /// The stored receipt for the request's key, if any, or `KeyReused`.
    async fn replay(
        &self,
        req: &PaymentRequest,
    ) -> Result<Option<PaymentReceipt>, Fail<PaymentError>> {
        let Some(p) = payment::Entity::find()
            .filter(payment::Column::UserId.eq(req.user_id.0))
            .filter(payment::Column::IdempotencyKey.eq(req.idempotency_key.as_str()))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        if p.reservation_id != req.reservation_id.0 {
            return Err(Fail::Domain(PaymentError::KeyReused));
        }
        // The foreign key guarantees the reservation; its absence is a corrupt store.
        let r = reservation::Entity::find_by_id(p.reservation_id)
            .one(&self.db)
            .await?
            .ok_or_else(|| {
                DbErr::RecordNotFound(format!(
                    "reservation {} of a stored payment",
                    p.reservation_id
                ))
            })?;
        Ok(Some(PaymentReceipt {
            reservation_id: ReservationId(p.reservation_id),
            concert_id: ConcertId(r.concert_id),
            schedule_id: ScheduleId(r.schedule_id),
            amount: money(p.amount)?,
            balance: money(p.balance_after)?,
            paid_at: at(p.paid_at)?,
            replayed: true,
        }))
    }

    async fn try_pay(&self, req: &PaymentRequest) -> Result<PaymentReceipt, Fail<PaymentError>> {
        for _ in 0..MAX_ROUNDS {
            if let Some(receipt) = self.replay(req).await? {
                return Ok(receipt);
            }
            match self.pay_once(req).await? {
                Step::Done(receipt) => return Ok(receipt),
                Step::Again => {}
            }
        }
        Err(Fail::Db(DbErr::Custom(
            "payment kept losing races; giving up".into(),
        )))
    }

    async fn pay_once(&self, req: &PaymentRequest) -> Result<Step, Fail<PaymentError>> {
        let now = ms(req.now);
        let found = reservation::Entity::find_by_id(req.reservation_id.0)
            .one(&self.db)
            .await?;
        let Some(r) = found.filter(|r| r.user_id == req.user_id.0) else {
            return Err(Fail::Domain(PaymentError::ReservationNotFound));
        };
        match reservation_status(&r.status)? {
            ReservationStatus::Confirmed => {
                // Paid, maybe under this very key by a call that committed after our
                // first look: the receipt and the confirmation commit together, so a
                // second look is definitive.
                return match self.replay(req).await? {
                    Some(receipt) => Ok(Step::Done(receipt)),
                    None => Err(Fail::Domain(PaymentError::AlreadyPaid)),
                };
            }
            ReservationStatus::Cancelled => return Err(Fail::Domain(PaymentError::Cancelled)),
            ReservationStatus::Expired => return Err(Fail::Domain(PaymentError::HoldExpired)),
            ReservationStatus::Held if r.expires_at <= now => {
                return Err(Fail::Domain(PaymentError::HoldExpired));
            }
            ReservationStatus::Held => {}
        }

        let txn = self.begin_write().await?;
        // The one lock order: the fan's wallet (debited, never below zero), then the
        // reservation, then the seat.
        let debited = wallet::Entity::update_many()
            .col_expr(
                wallet::Column::Balance,
                Expr::col(wallet::Column::Balance).sub(r.price),
            )
            .col_expr(
                wallet::Column::Version,
                Expr::col(wallet::Column::Version).add(1),
            )
            .filter(wallet::Column::UserId.eq(r.user_id))
            .filter(wallet::Column::Balance.gte(r.price))
            .exec(&txn)
            .await?
            .rows_affected;
        if debited == 0 {
            let balance = read_balance(&txn, r.user_id).await?.unwrap_or(0);
            txn.rollback().await?;
            // A concurrent twin of this payment may have spent the balance: then this
            // call replays (or is refused by) it.
            let paid = reservation::Entity::find_by_id(r.id)
                .one(&self.db)
                .await?
                .is_some_and(|x| x.status == ReservationStatus::Confirmed.as_str());
            if paid {
                return Ok(Step::Again);
            }
            return Err(Fail::Domain(PaymentError::InsufficientBalance {
                balance: money(balance)?,
                amount: money(r.price)?,
            }));
        }
        let confirmed = reservation::Entity::update_many()
            .col_expr(
                reservation::Column::Status,
                Expr::value(ReservationStatus::Confirmed.as_str()),
            )
            .col_expr(
                reservation::Column::Version,
                Expr::col(reservation::Column::Version).add(1),
            )
            .col_expr(reservation::Column::PaidAt, Expr::value(Some(now)))
            .filter(reservation::Column::Id.eq(r.id))
            .filter(reservation::Column::Version.eq(r.version))
            .filter(reservation::Column::Status.eq(ReservationStatus::Held.as_str()))
            .filter(reservation::Column::ExpiresAt.gt(now))
            .exec(&txn)
            .await?
            .rows_affected;
        if confirmed == 0 {
            txn.rollback().await?;
            return Ok(Step::Again);
        }
        let balance = read_balance(&txn, r.user_id).await?.unwrap_or(0);
        let sold = seat::Entity::update_many()
            .col_expr(seat::Column::Status, Expr::value(SeatStatus::Sold.as_str()))
            .col_expr(
                seat::Column::Version,
                Expr::col(seat::Column::Version).add(1),
            )
            .filter(seat::Column::Id.eq(r.seat_id))
            .filter(seat::Column::Status.eq(SeatStatus::Held.as_str()))
            .filter(seat::Column::HeldBy.eq(r.user_id))
            .exec(&txn)
            .await?
            .rows_affected;
        if sold == 0 {
            // The seat no longer carries this hold: it ran out and was taken or swept.
            txn.rollback().await?;
            return Err(Fail::Domain(PaymentError::HoldExpired));
        }
        ledger_entry::Entity::insert(ledger_entry::ActiveModel {
            user_id: Set(r.user_id),
            delta: Set(-r.price),
            balance_after: Set(balance),
            kind: Set("PAYMENT".to_owned()),
            reservation_id: Set(Some(r.id)),
            created_at: Set(now),
            ..Default::default()
        })
        .exec(&txn)
        .await?;
        let stored = payment::Entity::insert(payment::ActiveModel {
            user_id: Set(r.user_id),
            reservation_id: Set(r.id),
            idempotency_key: Set(req.idempotency_key.clone()),
            amount: Set(r.price),
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
                return Ok(Step::Again);
            }
            Err(e) => return Err(e.into()),
        }
        txn.commit().await?;
        Ok(Step::Done(PaymentReceipt {
            reservation_id: ReservationId(r.id),
            concert_id: ConcertId(r.concert_id),
            schedule_id: ScheduleId(r.schedule_id),
            amount: money(r.price)?,
            balance: money(balance)?,
            paid_at: at(now)?,
            replayed: false,
        }))
    }
}

#[async_trait]
impl PaymentRepository for SeaOrmStore {
    #[tracing::instrument(skip_all, fields(user = req.user_id.0, reservation = req.reservation_id.0))]
    async fn pay(&self, req: PaymentRequest) -> Result<PaymentReceipt, PaymentError> {
        retrying!(self.try_pay(&req).await)
    }

    #[tracing::instrument(skip_all, fields(concert = concert.0), err)]
    async fn sales(&self, concert: ConcertId) -> Result<Vec<Sale>, StoreError> {
        self.read_sales(concert).await.map_err(store_err)
    }
}

impl SeaOrmStore {
    /// The concert's `CONFIRMED` reservations with their seats' labels, and its paid
    /// orders' standing places not revoked, merged in payment order.
    async fn read_sales(&self, concert: ConcertId) -> Result<Vec<Sale>, DbErr> {
        let mut sales = self.seat_sales(concert).await?;
        sales.extend(self.standing_sales(concert).await?);
        // Stable: each part is in order already; ties by order, seats before standing.
        sales.sort_by_key(|s| {
            (
                s.paid_at,
                s.order_id,
                matches!(s.place, SoldPlace::Standing { .. }),
            )
        });
        Ok(sales)
    }

    /// The seats: `CONFIRMED` reservations in payment order, then their seats' labels
    /// (read in slices, so the `IN` lists stay short on every database).
    async fn seat_sales(&self, concert: ConcertId) -> Result<Vec<Sale>, DbErr> {
        let paid = reservation::Entity::find()
            .filter(reservation::Column::ConcertId.eq(concert.0))
            .filter(reservation::Column::Status.eq(ReservationStatus::Confirmed.as_str()))
            .order_by_asc(reservation::Column::PaidAt)
            .order_by_asc(reservation::Column::Id)
            .all(&self.db)
            .await?;
        let mut labels = std::collections::HashMap::with_capacity(paid.len());
        for slice in paid.chunks(500) {
            let seats = seat::Entity::find()
                .filter(seat::Column::Id.is_in(slice.iter().map(|r| r.seat_id)))
                .all(&self.db)
                .await?;
            labels.extend(seats.into_iter().map(|s| (s.id, s.label)));
        }
        paid.into_iter()
            .map(|r| {
                let paid_at = r.paid_at.ok_or_else(|| {
                    DbErr::Type(format!(
                        "corrupt row: reservation {} CONFIRMED without paid_at",
                        r.id
                    ))
                })?;
                Ok(Sale {
                    order_id: r.order_id.map(OrderId),
                    schedule_id: ScheduleId(r.schedule_id),
                    place: SoldPlace::Seat {
                        reservation_id: ReservationId(r.id),
                        seat_id: SeatId(r.seat_id),
                        label: labels.get(&r.seat_id).cloned().unwrap_or_default(),
                    },
                    user_id: UserId(r.user_id),
                    price: money(r.price)?,
                    paid_at: at(paid_at)?,
                })
            })
            .collect()
    }

    /// The standing places: one per live ticket of a standing area in the concert's
    /// paid orders, priced by its order's line for that area.
    async fn standing_sales(&self, concert: ConcertId) -> Result<Vec<Sale>, DbErr> {
        let orders = order::Entity::find()
            .filter(order::Column::ConcertId.eq(concert.0))
            .filter(order::Column::PaidAt.is_not_null())
            .order_by_asc(order::Column::PaidAt)
            .order_by_asc(order::Column::Id)
            .all(&self.db)
            .await?;
        let mut sales = Vec::new();
        for slice in orders.chunks(500) {
            let ids = slice.iter().map(|o| o.id);
            let tickets = ticket::Entity::find()
                .filter(ticket::Column::OrderId.is_in(ids.clone()))
                .filter(ticket::Column::AreaId.is_not_null())
                .filter(ticket::Column::RevokedAt.is_null())
                .order_by_asc(ticket::Column::Id)
                .all(&self.db)
                .await?;
            if tickets.is_empty() {
                continue;
            }
            let prices: std::collections::HashMap<(i64, i64), i64> = order_standing::Entity::find()
                .filter(order_standing::Column::OrderId.is_in(ids))
                .all(&self.db)
                .await?
                .into_iter()
                .map(|l| ((l.order_id, l.area_id), l.price))
                .collect();
            let mut by_order: std::collections::HashMap<i64, Vec<&ticket::Model>> =
                std::collections::HashMap::new();
            for t in &tickets {
                by_order.entry(t.order_id).or_default().push(t);
            }
            for o in slice {
                for t in by_order.get(&o.id).into_iter().flatten() {
                    let area = t.area_id.unwrap_or_default();
                    let price = prices.get(&(o.id, area)).copied().ok_or_else(|| {
                        DbErr::Type(format!(
                            "corrupt row: ticket {} of order {} for area {area} with no line",
                            t.id, o.id
                        ))
                    })?;
                    let paid_at = o.paid_at.unwrap_or_default();
                    sales.push(Sale {
                        order_id: Some(OrderId(o.id)),
                        schedule_id: ScheduleId(o.schedule_id),
                        place: SoldPlace::Standing {
                            area: t.label.clone(),
                        },
                        user_id: UserId(o.user_id),
                        price: money(price)?,
                        paid_at: at(paid_at)?,
                    });
                }
            }
        }
        Ok(sales)
    }
}
