//! The waiting list in the store: fans join in id order; a place that comes free (a
//! returned ticket, a declined or expired offer) is offered, inside the transaction that
//! freed it, to the earliest waiting fan as a one-place `HELD` order of theirs, its seat
//! marked with the offer so nobody else can claim it even past the hold's expiry; with
//! nobody waiting the place is simply left on sale.

use frontrow_domain::boxoffice::model::OrderStatus;
use frontrow_domain::model::{OrderId, ReservationStatus, ScheduleId, SeatStatus, UserId};
use frontrow_domain::returns::model::{JoinWaitlist, Offer, WaitlistEntry, WaitlistStatus};
use frontrow_domain::returns::port::WaitlistError;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use crate::convert::{at, ms};
use crate::entity::{
    order, order_standing, reservation, schedule, schedule_cancellation, seat, standing_area,
    waitlist_entry,
};
use crate::errors::{Fail, is_unique_violation};
use crate::store::SeaOrmStore;

const WAITING: &str = WaitlistStatus::Waiting.as_str();
const OFFERED: &str = WaitlistStatus::Offered.as_str();
/// Waiting entries tried per pass-on before giving up on a schedule's list (each lost
/// one was taken by a concurrent pass-on).
const CANDIDATES: u64 = 32;

/// A place that came free and may go to the next waiting fan.
pub(crate) enum Freed {
    Seat(i64),
    Area(i64),
}

pub(crate) async fn is_cancelled(
    conn: &impl ConnectionTrait,
    schedule: i64,
) -> Result<bool, DbErr> {
    Ok(schedule_cancellation::Entity::find_by_id(schedule)
        .one(conn)
        .await?
        .is_some())
}

fn corrupt(what: String) -> DbErr {
    DbErr::Type(format!("corrupt row: {what}"))
}

fn status_of(s: &str) -> Result<WaitlistStatus, DbErr> {
    WaitlistStatus::parse(s).ok_or_else(|| corrupt(format!("waiting-list status {s:?}")))
}

/// Takes the earliest waiting entry of the schedule for an offer (a conditional update
/// decides between concurrent pass-ons), `None` when nobody waits.
async fn take_next(
    conn: &impl ConnectionTrait,
    schedule: i64,
    now: i64,
) -> Result<Option<waitlist_entry::Model>, DbErr> {
    let candidates = waitlist_entry::Entity::find()
        .filter(waitlist_entry::Column::ScheduleId.eq(schedule))
        .filter(waitlist_entry::Column::Status.eq(WAITING))
        .order_by_asc(waitlist_entry::Column::Id)
        .limit(CANDIDATES)
        .all(conn)
        .await?;
    for e in candidates {
        let took = waitlist_entry::Entity::update_many()
            .col_expr(waitlist_entry::Column::Status, Expr::value(OFFERED))
            .col_expr(waitlist_entry::Column::OfferedAt, Expr::value(Some(now)))
            .filter(waitlist_entry::Column::Id.eq(e.id))
            .filter(waitlist_entry::Column::Status.eq(WAITING))
            .exec(conn)
            .await?
            .rows_affected;
        if took == 1 {
            return Ok(Some(e));
        }
    }
    Ok(None)
}

/// Undoes `take_next` when the place could not be held after all.
async fn untake(conn: &impl ConnectionTrait, entry: i64, order: i64) -> Result<(), DbErr> {
    waitlist_entry::Entity::update_many()
        .col_expr(waitlist_entry::Column::Status, Expr::value(WAITING))
        .col_expr(
            waitlist_entry::Column::OfferedAt,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(
            waitlist_entry::Column::OfferOrderId,
            Expr::value(Option::<i64>::None),
        )
        .filter(waitlist_entry::Column::Id.eq(entry))
        .exec(conn)
        .await?;
    order::Entity::delete_by_id(order).exec(conn).await?;
    Ok(())
}

/// Offers a place that is free right now (the caller freed it in this transaction) to
/// the earliest waiting fan; the id of the offer's order, `None` when nobody waits (or
/// the show is cancelled) and the place stays on sale.
pub(crate) async fn pass_on(
    conn: &impl ConnectionTrait,
    schedule: i64,
    place: Freed,
    now: i64,
) -> Result<Option<i64>, DbErr> {
    if is_cancelled(conn, schedule).await? {
        return Ok(None);
    }
    let Some(sched) = schedule::Entity::find_by_id(schedule).one(conn).await? else {
        return Ok(None);
    };
    let Some(entry) = take_next(conn, schedule, now).await? else {
        return Ok(None);
    };
    let expires = now.saturating_add(entry.offer_ms);
    let price = match place {
        Freed::Seat(id) => seat::Entity::find_by_id(id)
            .one(conn)
            .await?
            .map(|s| s.price),
        Freed::Area(id) => standing_area::Entity::find_by_id(id)
            .one(conn)
            .await?
            .map(|a| a.price),
    }
    .ok_or_else(|| DbErr::RecordNotFound("freed place".into()))?;
    let order_id = order::Entity::insert(order::ActiveModel {
        user_id: Set(entry.user_id),
        concert_id: Set(sched.concert_id),
        schedule_id: Set(schedule),
        status: Set(OrderStatus::Held.as_str().to_owned()),
        total: Set(price),
        together: Set(true),
        lone_seats_left: Set(0),
        created_at: Set(now),
        expires_at: Set(expires),
        admitted_until: Set(expires),
        extended_at: Set(None),
        paid_at: Set(None),
        version: Set(0),
        presale_code_id: Set(None),
        waitlist_entry_id: Set(Some(entry.id)),
        ..Default::default()
    })
    .exec(conn)
    .await?
    .last_insert_id;
    let held = match place {
        Freed::Seat(id) => {
            let n = seat::Entity::update_many()
                .col_expr(seat::Column::Status, Expr::value(SeatStatus::Held.as_str()))
                .col_expr(
                    seat::Column::Version,
                    Expr::col(seat::Column::Version).add(1),
                )
                .col_expr(seat::Column::HeldBy, Expr::value(Some(entry.user_id)))
                .col_expr(seat::Column::HeldUntil, Expr::value(Some(expires)))
                .col_expr(seat::Column::OfferOrderId, Expr::value(Some(order_id)))
                .filter(seat::Column::Id.eq(id))
                .filter(seat::Column::Status.eq(SeatStatus::Available.as_str()))
                .exec(conn)
                .await?
                .rows_affected;
            if n == 1 {
                reservation::Entity::insert(reservation::ActiveModel {
                    user_id: Set(entry.user_id),
                    concert_id: Set(sched.concert_id),
                    schedule_id: Set(schedule),
                    seat_id: Set(id),
                    price: Set(price),
                    status: Set(ReservationStatus::Held.as_str().to_owned()),
                    version: Set(0),
                    created_at: Set(now),
                    expires_at: Set(expires),
                    paid_at: Set(None),
                    extended_at: Set(None),
                    order_id: Set(Some(order_id)),
                    live_seat_id: Set(Some(id)),
                    ..Default::default()
                })
                .exec_without_returning(conn)
                .await?;
            }
            n == 1
        }
        Freed::Area(id) => {
            // One place as an i64, as an order's take of places binds it: this statement's
            // text is the same as the order's, and PostgreSQL's prepared statement (cached
            // by text) keeps the first binding's types ("insufficient data left in
            // message" when an int4 comes where an int8 was prepared).
            let one: i64 = 1;
            let n = standing_area::Entity::update_many()
                .col_expr(
                    standing_area::Column::Held,
                    Expr::col(standing_area::Column::Held).add(one),
                )
                .filter(standing_area::Column::Id.eq(id))
                .filter(
                    Expr::col(standing_area::Column::Held)
                        .add(Expr::col(standing_area::Column::Sold))
                        .add(one)
                        .lte(Expr::col(standing_area::Column::Capacity)),
                )
                .exec(conn)
                .await?
                .rows_affected;
            if n == 1 {
                order_standing::Entity::insert(order_standing::ActiveModel {
                    order_id: Set(order_id),
                    area_id: Set(id),
                    quantity: Set(1),
                    price: Set(price),
                    ..Default::default()
                })
                .exec_without_returning(conn)
                .await?;
            }
            n == 1
        }
    };
    if !held {
        // Someone bought the place before it could be offered.
        untake(conn, entry.id, order_id).await?;
        return Ok(None);
    }
    waitlist_entry::Entity::update_many()
        .col_expr(
            waitlist_entry::Column::OfferOrderId,
            Expr::value(Some(order_id)),
        )
        .filter(waitlist_entry::Column::Id.eq(entry.id))
        .exec(conn)
        .await?;
    tracing::info!(
        schedule,
        entry = entry.id,
        order = order_id,
        "returned place offered to the waiting list"
    );
    Ok(Some(order_id))
}

/// An offer was paid: one more place bought; the fan waits on (at the same position)
/// while they asked for more.
pub(crate) async fn offer_paid(
    conn: &impl ConnectionTrait,
    o: &order::Model,
    now: i64,
) -> Result<(), DbErr> {
    let Some(entry) = o.waitlist_entry_id else {
        return Ok(());
    };
    let Some(e) = waitlist_entry::Entity::find_by_id(entry).one(conn).await? else {
        return Ok(());
    };
    if e.offer_order_id != Some(o.id) {
        return Ok(());
    }
    let fulfilled = e.fulfilled + 1;
    let done = fulfilled >= e.quantity;
    waitlist_entry::Entity::update_many()
        .col_expr(waitlist_entry::Column::Fulfilled, Expr::value(fulfilled))
        .col_expr(
            waitlist_entry::Column::Status,
            Expr::value(if done {
                WaitlistStatus::Done.as_str()
            } else {
                WAITING
            }),
        )
        .col_expr(
            waitlist_entry::Column::LiveUserId,
            Expr::value((!done).then_some(e.user_id)),
        )
        .col_expr(
            waitlist_entry::Column::EndedAt,
            Expr::value(done.then_some(now)),
        )
        .col_expr(
            waitlist_entry::Column::OfferOrderId,
            Expr::value(Option::<i64>::None),
        )
        .filter(waitlist_entry::Column::Id.eq(e.id))
        .filter(waitlist_entry::Column::OfferOrderId.eq(o.id))
        .exec(conn)
        .await?;
    Ok(())
}

/// An offer's order ended unpaid (`to`: cancelled = declined, expired): the fan is off
/// the list and the place, freed by the caller, goes to the next fan.
pub(crate) async fn offer_ended(
    conn: &impl ConnectionTrait,
    o: &order::Model,
    to: OrderStatus,
    now: i64,
) -> Result<(), DbErr> {
    let Some(entry) = o.waitlist_entry_id else {
        return Ok(());
    };
    let cancelled = is_cancelled(conn, o.schedule_id).await?;
    let status = match to {
        _ if cancelled => WaitlistStatus::Closed,
        OrderStatus::Expired => WaitlistStatus::Expired,
        _ => WaitlistStatus::Declined,
    };
    waitlist_entry::Entity::update_many()
        .col_expr(waitlist_entry::Column::Status, Expr::value(status.as_str()))
        .col_expr(
            waitlist_entry::Column::LiveUserId,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(waitlist_entry::Column::EndedAt, Expr::value(Some(now)))
        .col_expr(
            waitlist_entry::Column::OfferOrderId,
            Expr::value(Option::<i64>::None),
        )
        .filter(waitlist_entry::Column::Id.eq(entry))
        .filter(waitlist_entry::Column::OfferOrderId.eq(o.id))
        .exec(conn)
        .await?;
    if cancelled {
        return Ok(());
    }
    let seats: Vec<i64> = reservation::Entity::find()
        .select_only()
        .column(reservation::Column::SeatId)
        .filter(reservation::Column::OrderId.eq(o.id))
        .into_tuple()
        .all(conn)
        .await?;
    for s in seats {
        pass_on(conn, o.schedule_id, Freed::Seat(s), now).await?;
    }
    let lines = order_standing::Entity::find()
        .filter(order_standing::Column::OrderId.eq(o.id))
        .all(conn)
        .await?;
    for l in lines {
        for _ in 0..l.quantity {
            pass_on(conn, o.schedule_id, Freed::Area(l.area_id), now).await?;
        }
    }
    Ok(())
}

/// Whether a seat or standing place of the schedule is free to buy at `now` (hidden
/// categories left aside: they are sold with codes only).
async fn on_sale(conn: &impl ConnectionTrait, schedule: i64, now: i64) -> Result<bool, DbErr> {
    let seats = seat::Entity::find()
        .filter(seat::Column::ScheduleId.eq(schedule))
        .filter(seat::Column::Hidden.eq(false))
        .filter(crate::orders::claimable(now))
        .count(conn)
        .await?;
    if seats > 0 {
        return Ok(true);
    }
    let areas = standing_area::Entity::find()
        .filter(standing_area::Column::ScheduleId.eq(schedule))
        .filter(standing_area::Column::Hidden.eq(false))
        .filter(
            Expr::col(standing_area::Column::Held)
                .add(Expr::col(standing_area::Column::Sold))
                .lt(Expr::col(standing_area::Column::Capacity)),
        )
        .count(conn)
        .await?;
    Ok(areas > 0)
}

impl SeaOrmStore {
    async fn to_entry(&self, e: waitlist_entry::Model) -> Result<WaitlistEntry, DbErr> {
        let status = status_of(&e.status)?;
        let position = if status.is_live() {
            Some(
                waitlist_entry::Entity::find()
                    .filter(waitlist_entry::Column::ScheduleId.eq(e.schedule_id))
                    .filter(
                        Condition::any()
                            .add(waitlist_entry::Column::Status.eq(WAITING))
                            .add(waitlist_entry::Column::Status.eq(OFFERED)),
                    )
                    .filter(waitlist_entry::Column::Id.lte(e.id))
                    .count(&self.db)
                    .await?,
            )
        } else {
            None
        };
        let offer = match (status, e.offer_order_id, e.offered_at) {
            (WaitlistStatus::Offered, Some(id), Some(offered)) => {
                match order::Entity::find_by_id(id).one(&self.db).await? {
                    Some(o) => Some(Offer {
                        order_id: OrderId(o.id),
                        offered_at: at(offered)?,
                        expires_at: at(o.expires_at)?,
                    }),
                    None => None,
                }
            }
            _ => None,
        };
        Ok(WaitlistEntry {
            id: e.id,
            schedule_id: ScheduleId(e.schedule_id),
            user_id: UserId(e.user_id),
            quantity: u32::try_from(e.quantity).map_err(|_| corrupt("quantity".into()))?,
            fulfilled: u32::try_from(e.fulfilled).map_err(|_| corrupt("fulfilled".into()))?,
            status,
            joined_at: at(e.joined_at)?,
            position,
            offer,
            ended_at: e.ended_at.map(at).transpose()?,
        })
    }

    pub(crate) async fn try_join(
        &self,
        req: &JoinWaitlist,
    ) -> Result<WaitlistEntry, Fail<WaitlistError>> {
        let now = ms(req.now);
        let schedule = req.schedule_id.0;
        if schedule::Entity::find_by_id(schedule)
            .one(&self.db)
            .await?
            .is_none()
        {
            return Err(Fail::Domain(WaitlistError::ScheduleNotFound));
        }
        if is_cancelled(&self.db, schedule).await? {
            return Err(Fail::Domain(WaitlistError::ShowCancelled));
        }
        if on_sale(&self.db, schedule, now).await? {
            return Err(Fail::Domain(WaitlistError::NotSoldOut));
        }
        let inserted = waitlist_entry::Entity::insert(waitlist_entry::ActiveModel {
            schedule_id: Set(schedule),
            user_id: Set(req.user_id.0),
            live_user_id: Set(Some(req.user_id.0)),
            quantity: Set(i32::try_from(req.quantity).unwrap_or(i32::MAX)),
            fulfilled: Set(0),
            status: Set(WAITING.to_owned()),
            offer_ms: Set(req.offer_window.num_milliseconds()),
            joined_at: Set(now),
            offer_order_id: Set(None),
            offered_at: Set(None),
            ended_at: Set(None),
            ..Default::default()
        })
        .exec(&self.db)
        .await;
        let id = match inserted {
            Ok(r) => r.last_insert_id,
            Err(e) if is_unique_violation(&e) => {
                return Err(Fail::Domain(WaitlistError::AlreadyJoined));
            }
            Err(e) => return Err(e.into()),
        };
        let row = waitlist_entry::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(format!("waiting-list entry {id}")))?;
        Ok(self.to_entry(row).await?)
    }

    pub(crate) async fn read_entry(
        &self,
        user: UserId,
        schedule: ScheduleId,
    ) -> Result<Option<WaitlistEntry>, DbErr> {
        let row = waitlist_entry::Entity::find()
            .filter(waitlist_entry::Column::UserId.eq(user.0))
            .filter(waitlist_entry::Column::ScheduleId.eq(schedule.0))
            .order_by_desc(waitlist_entry::Column::Id)
            .one(&self.db)
            .await?;
        match row {
            Some(e) => Ok(Some(self.to_entry(e).await?)),
            None => Ok(None),
        }
    }

    pub(crate) async fn try_leave(
        &self,
        user: UserId,
        schedule: ScheduleId,
        now: i64,
    ) -> Result<WaitlistEntry, Fail<WaitlistError>> {
        let Some(e) = waitlist_entry::Entity::find()
            .filter(waitlist_entry::Column::ScheduleId.eq(schedule.0))
            .filter(waitlist_entry::Column::LiveUserId.eq(user.0))
            .one(&self.db)
            .await?
        else {
            return Err(Fail::Domain(WaitlistError::NotJoined));
        };
        let txn = self.begin_write().await?;
        if let Some(offer) = e.offer_order_id
            && let Some(o) = order::Entity::find_by_id(offer).one(&txn).await?
            && o.status == OrderStatus::Held.as_str()
        {
            // Declining: the order ends and its place goes to the next fan.
            let to = if o.expires_at > now {
                OrderStatus::Cancelled
            } else {
                OrderStatus::Expired
            };
            crate::orders::end_order(&txn, &o, to, now).await?;
        }
        waitlist_entry::Entity::update_many()
            .col_expr(
                waitlist_entry::Column::Status,
                Expr::value(WaitlistStatus::Left.as_str()),
            )
            .col_expr(
                waitlist_entry::Column::LiveUserId,
                Expr::value(Option::<i64>::None),
            )
            .col_expr(waitlist_entry::Column::EndedAt, Expr::value(Some(now)))
            .filter(waitlist_entry::Column::Id.eq(e.id))
            .filter(waitlist_entry::Column::LiveUserId.is_not_null())
            .exec(&txn)
            .await?;
        txn.commit().await?;
        let row = waitlist_entry::Entity::find_by_id(e.id)
            .one(&self.db)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(format!("waiting-list entry {}", e.id)))?;
        Ok(self.to_entry(row).await?)
    }
}
