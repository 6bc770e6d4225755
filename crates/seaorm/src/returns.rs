//! `ReturnsRepository`: a ticket returned in one transaction — the fan's wallet row
//! first, the ticket revoked by a conditional update, the price paid credited under the
//! unique refund key `ticket:<id>` (a second credit cannot commit whatever the code
//! does), the place offered to the waiting list or put back on sale — plus the return
//! cutoffs, the console's figures, and the waiting list's and cancellation's entry
//! points (`waitlist.rs`, `cancel.rs`).

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use frontrow_domain::error::StoreError;
use frontrow_domain::model::{OrderId, ReservationStatus, ScheduleId, SeatStatus, UserId};
use frontrow_domain::returns::model::{
    CancelReport, JoinWaitlist, Refund, RefundKind, ReturnReceipt, ReturnTicket, ReturnsSummary,
    SchedulePolicy, WaitlistEntry, WaitlistStatus,
};
use frontrow_domain::returns::port::{ReturnError, ReturnsRepository, WaitlistError};
use frontrow_domain::returns::rules;
use frontrow_domain::tickets::model::{Place, TicketId};
use frontrow_domain::tickets::port::RevokeTarget;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use crate::convert::{at, money, ms};
use crate::entity::{
    ledger_entry, order_standing, refund, reservation, return_policy, schedule,
    schedule_cancellation, seat, standing_area, ticket, waitlist_entry, wallet,
};
use crate::errors::{Fail, is_unique_violation, retrying, store_err};
use crate::store::SeaOrmStore;
use crate::waitlist::{Freed, pass_on};
use crate::wallets::read_balance;

/// The reason a returned ticket carries on the revocation list.
const RETURNED: &str = "returned";
/// Attempts of a return that keeps losing races (each loss re-reads and decides again).
const ATTEMPTS: u32 = 5;

pub(crate) fn ticket_key(ticket: i64) -> String {
    format!("ticket:{ticket}")
}

pub(crate) fn to_refund(r: refund::Model) -> Result<Refund, DbErr> {
    Ok(Refund {
        id: r.id,
        user_id: UserId(r.user_id),
        order_id: OrderId(r.order_id),
        ticket_id: r.ticket_id.map(TicketId),
        kind: RefundKind::parse(&r.kind)
            .ok_or_else(|| DbErr::Type(format!("corrupt row: refund kind {:?}", r.kind)))?,
        amount: money(r.amount)?,
        balance: money(r.balance_after)?,
        created_at: at(r.created_at)?,
    })
}

/// The refunds credited for an order, oldest first.
pub(crate) async fn refunds_of_order(
    conn: &impl ConnectionTrait,
    order: i64,
) -> Result<Vec<Refund>, DbErr> {
    refund::Entity::find()
        .filter(refund::Column::OrderId.eq(order))
        .order_by_asc(refund::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(to_refund)
        .collect()
}

/// A refund to credit inside the caller's transaction (the fan's wallet row locked).
pub(crate) struct Credit<'a> {
    pub key: String,
    pub user: i64,
    pub schedule: i64,
    pub order: i64,
    pub ticket: Option<i64>,
    pub kind: RefundKind,
    pub amount: i64,
    pub idempotency_key: Option<&'a str>,
    pub now: i64,
}

/// Credits the wallet, writes the ledger entry and the refund row; `None` when the
/// refund's unique key (or the fan's idempotency key) is taken: the caller rolls back.
pub(crate) async fn credit(
    conn: &impl ConnectionTrait,
    c: Credit<'_>,
) -> Result<Option<refund::Model>, DbErr> {
    let inserted = refund::Entity::insert(refund::ActiveModel {
        refund_key: Set(c.key.clone()),
        user_id: Set(c.user),
        schedule_id: Set(c.schedule),
        order_id: Set(c.order),
        ticket_id: Set(c.ticket),
        kind: Set(c.kind.as_str().to_owned()),
        amount: Set(c.amount),
        balance_after: Set(0),
        idempotency_key: Set(c.idempotency_key.map(str::to_owned)),
        created_at: Set(c.now),
        ..Default::default()
    })
    .exec(conn)
    .await;
    let id = match inserted {
        Ok(r) => r.last_insert_id,
        Err(e) if is_unique_violation(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    wallet::Entity::update_many()
        .col_expr(
            wallet::Column::Balance,
            Expr::col(wallet::Column::Balance).add(c.amount),
        )
        .col_expr(
            wallet::Column::Version,
            Expr::col(wallet::Column::Version).add(1),
        )
        .filter(wallet::Column::UserId.eq(c.user))
        .exec(conn)
        .await?;
    let balance = read_balance(conn, c.user)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("wallet of user {}", c.user)))?;
    refund::Entity::update_many()
        .col_expr(refund::Column::BalanceAfter, Expr::value(balance))
        .filter(refund::Column::Id.eq(id))
        .exec(conn)
        .await?;
    ledger_entry::Entity::insert(ledger_entry::ActiveModel {
        user_id: Set(c.user),
        delta: Set(c.amount),
        balance_after: Set(balance),
        kind: Set("REFUND".to_owned()),
        reservation_id: Set(None),
        created_at: Set(c.now),
        ..Default::default()
    })
    .exec(conn)
    .await?;
    refund::Entity::find_by_id(id).one(conn).await
}

/// Locks the fan's wallet row (the first write of every transaction of the fan).
pub(crate) async fn lock_fan(conn: &impl ConnectionTrait, user: i64) -> Result<(), DbErr> {
    wallet::Entity::update_many()
        .col_expr(
            wallet::Column::Version,
            Expr::col(wallet::Column::Version).add(1),
        )
        .filter(wallet::Column::UserId.eq(user))
        .exec(conn)
        .await?;
    Ok(())
}

impl SeaOrmStore {
    /// The fan's refund under `key`: replayed when it is this ticket's, else the key
    /// is reused.
    async fn keyed_refund(
        &self,
        conn: &impl ConnectionTrait,
        req: &ReturnTicket,
    ) -> Result<Option<ReturnReceipt>, Fail<ReturnError>> {
        let Some(r) = refund::Entity::find()
            .filter(refund::Column::UserId.eq(req.user_id.0))
            .filter(refund::Column::IdempotencyKey.eq(req.idempotency_key.as_str()))
            .one(conn)
            .await?
        else {
            return Ok(None);
        };
        if r.ticket_id != Some(req.ticket_id.0) {
            return Err(Fail::Domain(ReturnError::KeyReused));
        }
        let schedule = ScheduleId(r.schedule_id);
        Ok(Some(ReturnReceipt {
            refund: to_refund(r)?,
            schedule_id: schedule,
            replayed: true,
        }))
    }

    /// One attempt; `None` when it lost a race and should look again.
    async fn return_once(
        &self,
        req: &ReturnTicket,
    ) -> Result<Option<ReturnReceipt>, Fail<ReturnError>> {
        if let Some(r) = self.keyed_refund(&self.db, req).await? {
            return Ok(Some(r));
        }
        let now = ms(req.now);
        let user = req.user_id.0;
        let Some(t) = ticket::Entity::find_by_id(req.ticket_id.0)
            .one(&self.db)
            .await?
            .filter(|t| t.user_id == user)
        else {
            return Err(Fail::Domain(ReturnError::NotFound));
        };
        let Some(sched) = schedule::Entity::find_by_id(t.schedule_id)
            .one(&self.db)
            .await?
        else {
            return Err(Fail::Domain(ReturnError::NotFound));
        };
        let txn = self.begin_write().await?;
        // 1. The fan's lock: concurrent replays of one key queue here, and each sees
        //    the refund of the one before.
        lock_fan(&txn, user).await?;
        if let Some(r) = self.keyed_refund(&txn, req).await? {
            txn.rollback().await?;
            return Ok(Some(r));
        }
        // 2. The rules, on the rows as they are now.
        let Some(row) = ticket::Entity::find_by_id(t.id).one(&txn).await? else {
            txn.rollback().await?;
            return Err(Fail::Domain(ReturnError::NotFound));
        };
        let returned = refund::Entity::find()
            .filter(refund::Column::RefundKey.eq(ticket_key(t.id)))
            .count(&txn)
            .await?
            > 0;
        let cancelled = crate::waitlist::is_cancelled(&txn, t.schedule_id).await?;
        let cutoff = return_policy::Entity::find_by_id(t.schedule_id)
            .one(&txn)
            .await?
            .map_or(req.default_cutoff, |p| Duration::minutes(p.cutoff_minutes));
        let domain = crate::tickets::to_ticket(row, sched.starts_at)?;
        let until = rules::return_until(domain.starts_at, cutoff);
        if let Err(r) = rules::check_return(&domain, returned, cancelled, until, req.now) {
            txn.rollback().await?;
            return Err(Fail::Domain(ReturnError::Refused(r)));
        }
        // 3. Revoked, unless a gate admitted it a moment ago (then decide again).
        let revoked = ticket::Entity::update_many()
            .col_expr(ticket::Column::RevokedAt, Expr::value(Some(now)))
            .filter(ticket::Column::Id.eq(t.id))
            .filter(ticket::Column::RevokedAt.is_null())
            .filter(ticket::Column::AdmittedAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected;
        if revoked != 1 {
            txn.rollback().await?;
            return Ok(None);
        }
        crate::tickets::put_revocation(&txn, &t, crate::tickets::ALL_GENERATIONS, RETURNED, now)
            .await?;
        // 4. The price paid for this position.
        let price = match domain.place {
            Place::Seat(s) => reservation::Entity::find()
                .filter(reservation::Column::OrderId.eq(t.order_id))
                .filter(reservation::Column::SeatId.eq(s.0))
                .one(&txn)
                .await?
                .map(|r| r.price),
            Place::Area(a) => order_standing::Entity::find()
                .filter(order_standing::Column::OrderId.eq(t.order_id))
                .filter(order_standing::Column::AreaId.eq(a))
                .one(&txn)
                .await?
                .map(|l| l.price),
        }
        .ok_or_else(|| DbErr::RecordNotFound(format!("position of ticket {}", t.id)))?;
        let Some(stored) = credit(
            &txn,
            Credit {
                key: ticket_key(t.id),
                user,
                schedule: t.schedule_id,
                order: t.order_id,
                ticket: Some(t.id),
                kind: RefundKind::Return,
                amount: price,
                idempotency_key: Some(&req.idempotency_key),
                now,
            },
        )
        .await?
        else {
            txn.rollback().await?;
            return Ok(None);
        };
        // 5. The place: first to the waiting list, else back on sale.
        match domain.place {
            Place::Seat(s) => {
                reservation::Entity::update_many()
                    .col_expr(
                        reservation::Column::Status,
                        Expr::value(ReservationStatus::Cancelled.as_str()),
                    )
                    .col_expr(
                        reservation::Column::LiveSeatId,
                        Expr::value(Option::<i64>::None),
                    )
                    .col_expr(
                        reservation::Column::Version,
                        Expr::col(reservation::Column::Version).add(1),
                    )
                    .filter(reservation::Column::OrderId.eq(t.order_id))
                    .filter(reservation::Column::SeatId.eq(s.0))
                    .filter(reservation::Column::LiveSeatId.is_not_null())
                    .exec(&txn)
                    .await?;
                crate::orders::free_seats()
                    .filter(seat::Column::Id.eq(s.0))
                    .filter(seat::Column::Status.eq(SeatStatus::Sold.as_str()))
                    .exec(&txn)
                    .await?;
                pass_on(&txn, t.schedule_id, Freed::Seat(s.0), now).await?;
            }
            Place::Area(a) => {
                standing_area::Entity::update_many()
                    .col_expr(
                        standing_area::Column::Sold,
                        Expr::col(standing_area::Column::Sold).sub(1_i64),
                    )
                    .filter(standing_area::Column::Id.eq(a))
                    .filter(standing_area::Column::Sold.gt(0))
                    .exec(&txn)
                    .await?;
                pass_on(&txn, t.schedule_id, Freed::Area(a), now).await?;
            }
        }
        txn.commit().await?;
        tracing::info!(
            ticket = t.id,
            amount = price,
            "ticket returned and refunded"
        );
        Ok(Some(ReturnReceipt {
            refund: to_refund(stored)?,
            schedule_id: ScheduleId(t.schedule_id),
            replayed: false,
        }))
    }

    async fn try_return(&self, req: &ReturnTicket) -> Result<ReturnReceipt, Fail<ReturnError>> {
        for _ in 0..ATTEMPTS {
            if let Some(r) = self.return_once(req).await? {
                return Ok(r);
            }
        }
        Err(Fail::Db(DbErr::Custom(
            "ticket return kept losing races; giving up".into(),
        )))
    }

    async fn read_summary(
        &self,
        schedule: ScheduleId,
        default_cutoff: Duration,
    ) -> Result<Option<ReturnsSummary>, DbErr> {
        if schedule::Entity::find_by_id(schedule.0)
            .one(&self.db)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        let policy = return_policy::Entity::find_by_id(schedule.0)
            .one(&self.db)
            .await?;
        let cancelled = schedule_cancellation::Entity::find_by_id(schedule.0)
            .one(&self.db)
            .await?;
        let count = |status: WaitlistStatus| {
            waitlist_entry::Entity::find()
                .filter(waitlist_entry::Column::ScheduleId.eq(schedule.0))
                .filter(waitlist_entry::Column::Status.eq(status.as_str()))
                .count(&self.db)
        };
        let waiting = count(WaitlistStatus::Waiting).await?;
        let offered = count(WaitlistStatus::Offered).await?;
        let returns = refund::Entity::find()
            .filter(refund::Column::ScheduleId.eq(schedule.0))
            .filter(refund::Column::Kind.eq(RefundKind::Return.as_str()))
            .count(&self.db)
            .await?;
        let refunded: Vec<i64> = refund::Entity::find()
            .select_only()
            .column(refund::Column::Amount)
            .filter(refund::Column::ScheduleId.eq(schedule.0))
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(Some(ReturnsSummary {
            schedule_id: schedule,
            cutoff: policy
                .as_ref()
                .map_or(default_cutoff, |p| Duration::minutes(p.cutoff_minutes)),
            cutoff_set: policy.is_some(),
            cancelled_at: cancelled.map(|c| at(c.cancelled_at)).transpose()?,
            waiting,
            offered,
            returned: returns,
            refunded: money(refunded.iter().sum())?,
        }))
    }

    async fn write_cutoff(
        &self,
        schedule: ScheduleId,
        cutoff: Option<Duration>,
    ) -> Result<bool, DbErr> {
        if schedule::Entity::find_by_id(schedule.0)
            .one(&self.db)
            .await?
            .is_none()
        {
            return Ok(false);
        }
        match cutoff {
            Some(c) => {
                return_policy::Entity::insert(return_policy::ActiveModel {
                    schedule_id: Set(schedule.0),
                    cutoff_minutes: Set(c.num_minutes()),
                })
                .on_conflict(
                    OnConflict::column(return_policy::Column::ScheduleId)
                        .update_column(return_policy::Column::CutoffMinutes)
                        .to_owned(),
                )
                .exec_without_returning(&self.db)
                .await?;
            }
            None => {
                return_policy::Entity::delete_by_id(schedule.0)
                    .exec(&self.db)
                    .await?;
            }
        }
        Ok(true)
    }
}

#[async_trait]
impl ReturnsRepository for SeaOrmStore {
    #[tracing::instrument(skip_all, fields(user = req.user_id.0, ticket = req.ticket_id.0))]
    async fn return_ticket(&self, req: ReturnTicket) -> Result<ReturnReceipt, ReturnError> {
        retrying!(self.try_return(&req).await)
    }

    #[tracing::instrument(skip_all, fields(user = user.0), err)]
    async fn returned_tickets(&self, user: UserId) -> Result<Vec<TicketId>, StoreError> {
        let ids: Vec<Option<i64>> = refund::Entity::find()
            .select_only()
            .column(refund::Column::TicketId)
            .filter(refund::Column::UserId.eq(user.0))
            .filter(refund::Column::Kind.eq(RefundKind::Return.as_str()))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(store_err)?;
        Ok(ids.into_iter().flatten().map(TicketId).collect())
    }

    #[tracing::instrument(skip_all, err)]
    async fn policies(
        &self,
        schedules: Vec<ScheduleId>,
    ) -> Result<Vec<SchedulePolicy>, StoreError> {
        let ids: Vec<i64> = schedules.iter().map(|s| s.0).collect();
        let known: Vec<i64> = schedule::Entity::find()
            .select_only()
            .column(schedule::Column::Id)
            .filter(schedule::Column::Id.is_in(ids.iter().copied()))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(store_err)?;
        let cutoffs = return_policy::Entity::find()
            .filter(return_policy::Column::ScheduleId.is_in(ids.iter().copied()))
            .all(&self.db)
            .await
            .map_err(store_err)?;
        let cancels = schedule_cancellation::Entity::find()
            .filter(schedule_cancellation::Column::ScheduleId.is_in(ids.iter().copied()))
            .all(&self.db)
            .await
            .map_err(store_err)?;
        known
            .into_iter()
            .map(|id| {
                Ok(SchedulePolicy {
                    schedule_id: ScheduleId(id),
                    cutoff: cutoffs
                        .iter()
                        .find(|p| p.schedule_id == id)
                        .map(|p| Duration::minutes(p.cutoff_minutes)),
                    cancelled_at: cancels
                        .iter()
                        .find(|c| c.schedule_id == id)
                        .map(|c| at(c.cancelled_at))
                        .transpose()
                        .map_err(store_err)?,
                })
            })
            .collect()
    }

    #[tracing::instrument(skip_all, fields(schedule = schedule.0), err)]
    async fn set_cutoff(
        &self,
        schedule: ScheduleId,
        cutoff: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.write_cutoff(schedule, cutoff).await.map_err(store_err)
    }

    #[tracing::instrument(skip_all, fields(schedule = schedule.0), err)]
    async fn summary(
        &self,
        schedule: ScheduleId,
        default_cutoff: Duration,
    ) -> Result<Option<ReturnsSummary>, StoreError> {
        self.read_summary(schedule, default_cutoff)
            .await
            .map_err(store_err)
    }

    #[tracing::instrument(skip_all, fields(user = req.user_id.0, schedule = req.schedule_id.0))]
    async fn join(&self, req: JoinWaitlist) -> Result<WaitlistEntry, WaitlistError> {
        retrying!(self.try_join(&req).await)
    }

    #[tracing::instrument(skip_all, fields(user = user.0, schedule = schedule.0), err)]
    async fn entry(
        &self,
        user: UserId,
        schedule: ScheduleId,
    ) -> Result<Option<WaitlistEntry>, StoreError> {
        self.read_entry(user, schedule).await.map_err(store_err)
    }

    #[tracing::instrument(skip_all, fields(user = user.0, schedule = schedule.0))]
    async fn leave(
        &self,
        user: UserId,
        schedule: ScheduleId,
        now: DateTime<Utc>,
    ) -> Result<WaitlistEntry, WaitlistError> {
        let now = ms(now);
        retrying!(self.try_leave(user, schedule, now).await)
    }

    #[tracing::instrument(skip_all, fields(schedule = schedule.0), err)]
    async fn cancel_schedule(
        &self,
        schedule: ScheduleId,
        now: DateTime<Utc>,
    ) -> Result<Option<CancelReport>, StoreError> {
        self.cancel(schedule, ms(now)).await
    }
}

/// Revokes the order's tickets for a cancelled show (inside the caller's transaction).
pub(crate) async fn revoke_order(
    conn: &impl ConnectionTrait,
    order: i64,
    now: i64,
) -> Result<u64, DbErr> {
    let done = crate::tickets::revoke_in(
        conn,
        RevokeTarget::Order(OrderId(order)),
        "show cancelled",
        now,
    )
    .await?;
    Ok(u64::try_from(done.len()).unwrap_or(u64::MAX))
}
