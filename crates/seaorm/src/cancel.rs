//! A cancelled show in the store: the cancellation written once (a unique row per
//! schedule), then pass after pass until two in a row find nothing — live held orders
//! ended, every free seat and standing place taken off sale, each paid order refunded
//! what is left of it under the unique refund key `cancel:<order id>` with its tickets
//! revoked, one order per transaction (the fan's wallet row first) — and the waiting
//! list closed. Two cancels at once share the work; the unique key credits each order
//! once.

use std::collections::HashSet;

use frontrow_domain::boxoffice::model::OrderStatus;
use frontrow_domain::error::StoreError;
use frontrow_domain::model::{ConcertId, ScheduleId, SeatStatus};
use frontrow_domain::returns::model::{CancelReport, RefundKind, WaitlistStatus};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use crate::convert::{at, money};
use crate::entity::{
    order, refund, schedule, schedule_cancellation, seat, standing_area, waitlist_entry,
};
use crate::errors::{Fail, is_unique_violation, retrying, store_err};
use crate::returns::{Credit, credit, lock_fan, revoke_order};
use crate::store::SeaOrmStore;

/// The hold that keeps a cancelled show's free seats off sale: 9999-12-31T23:59:59Z.
const BLOCKED_UNTIL: i64 = 253_402_300_799_000;
/// Passes before giving up (each one after the first only mops up what raced it).
const MAX_PASSES: u32 = 20;

fn cancel_key(order: i64) -> String {
    format!("cancel:{order}")
}

/// What one pass did.
#[derive(Default)]
struct Pass {
    ended: u64,
    refunded: u64,
    amount: i64,
    revoked: u64,
}

impl SeaOrmStore {
    /// Refunds what is left of a paid order and revokes its tickets; `None` when it was
    /// refunded before (by this cancel or a concurrent one).
    async fn try_refund_order(
        &self,
        o: &order::Model,
        now: i64,
    ) -> Result<Option<(i64, u64)>, Fail<StoreError>> {
        let txn = self.begin_write().await?;
        lock_fan(&txn, o.user_id).await?;
        let done = refund::Entity::find()
            .filter(refund::Column::RefundKey.eq(cancel_key(o.id)))
            .count(&txn)
            .await?;
        if done > 0 {
            txn.rollback().await?;
            return Ok(None);
        }
        let returned: Vec<i64> = refund::Entity::find()
            .select_only()
            .column(refund::Column::Amount)
            .filter(refund::Column::OrderId.eq(o.id))
            .into_tuple()
            .all(&txn)
            .await?;
        let amount = Ord::max(o.total - returned.iter().sum::<i64>(), 0);
        let revoked = revoke_order(&txn, o.id, now).await?;
        let stored = credit(
            &txn,
            Credit {
                key: cancel_key(o.id),
                user: o.user_id,
                schedule: o.schedule_id,
                order: o.id,
                ticket: None,
                kind: RefundKind::ShowCancelled,
                amount,
                idempotency_key: None,
                now,
            },
        )
        .await?;
        if stored.is_none() {
            txn.rollback().await?;
            return Ok(None);
        }
        txn.commit().await?;
        Ok(Some((amount, revoked)))
    }

    async fn try_end_held(&self, o: &order::Model, now: i64) -> Result<bool, Fail<StoreError>> {
        let txn = self.begin_write().await?;
        let to = if o.expires_at > now {
            OrderStatus::Cancelled
        } else {
            OrderStatus::Expired
        };
        let done = crate::orders::end_order(&txn, o, to, now).await?;
        txn.commit().await?;
        Ok(done)
    }

    /// Takes every free seat and standing place of the schedule off sale.
    async fn block_sale(&self, schedule: i64, now: i64) -> Result<(), DbErr> {
        seat::Entity::update_many()
            .col_expr(seat::Column::Status, Expr::value(SeatStatus::Held.as_str()))
            .col_expr(
                seat::Column::Version,
                Expr::col(seat::Column::Version).add(1),
            )
            .col_expr(seat::Column::HeldBy, Expr::value(Option::<i64>::None))
            .col_expr(seat::Column::HeldUntil, Expr::value(Some(BLOCKED_UNTIL)))
            .filter(seat::Column::ScheduleId.eq(schedule))
            .filter(crate::orders::claimable(now))
            .exec(&self.db)
            .await?;
        standing_area::Entity::update_many()
            .col_expr(
                standing_area::Column::Capacity,
                Expr::col(standing_area::Column::Held).add(Expr::col(standing_area::Column::Sold)),
            )
            .filter(standing_area::Column::ScheduleId.eq(schedule))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    async fn pass(&self, schedule: i64, now: i64) -> Result<Pass, StoreError> {
        let mut p = Pass::default();
        let held = order::Entity::find()
            .filter(order::Column::ScheduleId.eq(schedule))
            .filter(order::Column::Status.eq(OrderStatus::Held.as_str()))
            .all(&self.db)
            .await
            .map_err(store_err)?;
        for o in &held {
            let ended: bool = retrying!(self.try_end_held(o, now).await)?;
            p.ended += u64::from(ended);
        }
        self.block_sale(schedule, now).await.map_err(store_err)?;
        let paid = order::Entity::find()
            .filter(order::Column::ScheduleId.eq(schedule))
            .filter(order::Column::Status.eq(OrderStatus::Paid.as_str()))
            .order_by_asc(order::Column::Id)
            .all(&self.db)
            .await
            .map_err(store_err)?;
        let done: HashSet<i64> = refund::Entity::find()
            .select_only()
            .column(refund::Column::OrderId)
            .filter(refund::Column::ScheduleId.eq(schedule))
            .filter(refund::Column::Kind.eq(RefundKind::ShowCancelled.as_str()))
            .into_tuple::<i64>()
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .collect();
        for o in paid.iter().filter(|o| !done.contains(&o.id)) {
            let got: Option<(i64, u64)> = retrying!(self.try_refund_order(o, now).await)?;
            if let Some((amount, revoked)) = got {
                p.refunded += 1;
                p.amount += amount;
                p.revoked += revoked;
            }
        }
        Ok(p)
    }

    pub(crate) async fn cancel(
        &self,
        schedule: ScheduleId,
        now: i64,
    ) -> Result<Option<CancelReport>, StoreError> {
        let Some(sched) = schedule::Entity::find_by_id(schedule.0)
            .one(&self.db)
            .await
            .map_err(store_err)?
        else {
            return Ok(None);
        };
        let first =
            match schedule_cancellation::Entity::insert(schedule_cancellation::ActiveModel {
                schedule_id: Set(sched.id),
                concert_id: Set(sched.concert_id),
                cancelled_at: Set(now),
            })
            .exec_without_returning(&self.db)
            .await
            {
                Ok(_) => true,
                Err(e) if is_unique_violation(&e) => false,
                Err(e) => return Err(store_err(e)),
            };
        let mark = schedule_cancellation::Entity::find_by_id(sched.id)
            .one(&self.db)
            .await
            .map_err(store_err)?
            .ok_or_else(|| store_err(DbErr::RecordNotFound("cancellation".into())))?;
        let mut report = CancelReport {
            schedule_id: schedule,
            concert_id: ConcertId(sched.concert_id),
            cancelled_at: at(mark.cancelled_at).map_err(store_err)?,
            first,
            orders_refunded: 0,
            amount_refunded: money(0).map_err(store_err)?,
            tickets_revoked: 0,
            held_orders_cancelled: 0,
            waitlist_closed: 0,
            concert_cancelled: false,
        };
        let mut amount = 0i64;
        let mut quiet = 0;
        for _ in 0..MAX_PASSES {
            let p = self.pass(sched.id, now).await?;
            report.held_orders_cancelled += p.ended;
            report.orders_refunded += p.refunded;
            report.tickets_revoked += p.revoked;
            amount += p.amount;
            // Two quiet passes in a row: anything that raced the cancellation's row
            // (a hold or payment begun before it) has committed and been handled.
            quiet = if p.ended == 0 && p.refunded == 0 {
                quiet + 1
            } else {
                0
            };
            if quiet >= 2 {
                break;
            }
        }
        report.amount_refunded = money(amount).map_err(store_err)?;
        report.waitlist_closed = waitlist_entry::Entity::update_many()
            .col_expr(
                waitlist_entry::Column::Status,
                Expr::value(WaitlistStatus::Closed.as_str()),
            )
            .col_expr(
                waitlist_entry::Column::LiveUserId,
                Expr::value(Option::<i64>::None),
            )
            .col_expr(waitlist_entry::Column::EndedAt, Expr::value(Some(now)))
            .filter(waitlist_entry::Column::ScheduleId.eq(sched.id))
            .filter(
                Condition::any()
                    .add(waitlist_entry::Column::Status.eq(WaitlistStatus::Waiting.as_str()))
                    .add(waitlist_entry::Column::Status.eq(WaitlistStatus::Offered.as_str())),
            )
            .exec(&self.db)
            .await
            .map_err(store_err)?
            .rows_affected;
        let schedules = schedule::Entity::find()
            .filter(schedule::Column::ConcertId.eq(sched.concert_id))
            .count(&self.db)
            .await
            .map_err(store_err)?;
        let cancelled = schedule_cancellation::Entity::find()
            .filter(schedule_cancellation::Column::ConcertId.eq(sched.concert_id))
            .count(&self.db)
            .await
            .map_err(store_err)?;
        report.concert_cancelled = cancelled >= schedules;
        Ok(Some(report))
    }
}
