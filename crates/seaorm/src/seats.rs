//! `SeatRepository`: holds, cancellations and the sweeper, all under the seat's
//! optimistic lock (`UPDATE seats … WHERE id = ? AND version = ?`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use frontrow_domain::error::{CancelError, HoldError, StoreError};
use frontrow_domain::model::{
    ConcertId, HoldRequest, OrderId, Reservation, ReservationId, ReservationStatus, ScheduleId,
    SeatId, SeatStatus, UserId,
};
use frontrow_domain::ports::SeatRepository;
use frontrow_domain::queue::SeatCounts;
// Extending a hold once.
use frontrow_domain::error::ExtendError;
use frontrow_domain::model::ExtendRequest;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use crate::convert::{at, money, ms, reservation_status, seat_status};
use crate::entity::{reservation, schedule, seat, standing_area, wallet};
use crate::errors::{Fail, retrying, store_err};
use crate::store::SeaOrmStore;

/// The stored name of a held reservation.
const HELD: &str = ReservationStatus::Held.as_str();

fn to_reservation(r: reservation::Model, seat_label: String) -> Result<Reservation, DbErr> {
    Ok(Reservation {
        id: ReservationId(r.id),
        user_id: UserId(r.user_id),
        concert_id: ConcertId(r.concert_id),
        schedule_id: ScheduleId(r.schedule_id),
        seat_id: SeatId(r.seat_id),
        seat_label,
        price: money(r.price)?,
        status: reservation_status(&r.status)?,
        created_at: at(r.created_at)?,
        expires_at: at(r.expires_at)?,
        paid_at: r.paid_at.map(at).transpose()?,
        extended_at: r.extended_at.map(at).transpose()?,
        order_id: r.order_id.map(OrderId),
    })
}

pub(crate) async fn seat_label_of(conn: &impl ConnectionTrait, seat: i64) -> Result<String, DbErr> {
    Ok(seat::Entity::find_by_id(seat)
        .one(conn)
        .await?
        .map(|s| s.label)
        .unwrap_or_default())
}

/// Marks the seat's `HELD` reservations that expired at or before `now` as `EXPIRED`.
async fn expire_holds_of_seat(
    conn: &impl ConnectionTrait,
    seat_id: i64,
    now: i64,
) -> Result<(), DbErr> {
    reservation::Entity::update_many()
        .col_expr(
            reservation::Column::Status,
            Expr::value(ReservationStatus::Expired.as_str()),
        )
        .col_expr(
            reservation::Column::Version,
            Expr::col(reservation::Column::Version).add(1),
        )
        .col_expr(
            reservation::Column::LiveSeatId,
            Expr::value(Option::<i64>::None),
        )
        .filter(reservation::Column::SeatId.eq(seat_id))
        .filter(reservation::Column::Status.eq(HELD))
        .filter(reservation::Column::ExpiresAt.lte(now))
        .exec(conn)
        .await?;
    Ok(())
}

/// Frees the seat `id` if it is still at `version`; true when this call freed it.
async fn free_seat(conn: &impl ConnectionTrait, id: i64, version: i64) -> Result<bool, DbErr> {
    let n = seat::Entity::update_many()
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
        .filter(seat::Column::Id.eq(id))
        .filter(seat::Column::Version.eq(version))
        .exec(conn)
        .await?
        .rows_affected;
    Ok(n == 1)
}

impl SeaOrmStore {
    /// The first reservation `query` finds, with its seat's label.
    async fn first_reservation(
        &self,
        query: sea_orm::Select<reservation::Entity>,
    ) -> Result<Option<Reservation>, DbErr> {
        let Some(r) = query.one(&self.db).await? else {
            return Ok(None);
        };
        let label = seat_label_of(&self.db, r.seat_id).await?;
        to_reservation(r, label).map(Some)
    }

    async fn try_hold(&self, req: &HoldRequest) -> Result<Reservation, Fail<HoldError>> {
        let now = ms(req.now);
        let expires = ms(req.expires_at);
        let found = seat::Entity::find_by_id(req.seat_id.0)
            .one(&self.db)
            .await?;
        // A hidden seat is sold only in an order with a presale code.
        let Some(s) = found.filter(|s| s.schedule_id == req.schedule_id.0 && !s.hidden) else {
            return Err(Fail::Domain(HoldError::SeatNotFound));
        };
        let prev = seat_status(&s.status)?;
        let free = match prev {
            SeatStatus::Sold => false,
            // A waiting-list offer's seat waits for the sweeper to pass it on.
            SeatStatus::Held => s.offer_order_id.is_none() && s.held_until.is_none_or(|u| u <= now),
            SeatStatus::Available => true,
        };
        if !free {
            return Err(Fail::Domain(HoldError::SeatTaken));
        }
        let held = reservation::Entity::find()
            .filter(reservation::Column::UserId.eq(req.user_id.0))
            .filter(reservation::Column::ScheduleId.eq(req.schedule_id.0))
            .filter(reservation::Column::Status.eq(HELD))
            .filter(reservation::Column::ExpiresAt.gt(now))
            .count(&self.db)
            .await?;
        if held >= u64::from(req.max_held_per_user) {
            return Err(Fail::Domain(HoldError::LimitReached {
                limit: req.max_held_per_user,
            }));
        }
        let Some(sched) = schedule::Entity::find_by_id(s.schedule_id)
            .one(&self.db)
            .await?
        else {
            return Err(Fail::Domain(HoldError::SeatNotFound));
        };

        let txn = self.begin_write().await?;
        // The one lock order of every booking transaction: the fan's allowance (a write to
        // the wallet row, no table lock: a concurrent hold of another seat by the same fan
        // waits here until this transaction ends, and its count below then includes this
        // hold), then the seat.
        wallet::Entity::update_many()
            .col_expr(
                wallet::Column::Version,
                Expr::col(wallet::Column::Version).add(1),
            )
            .filter(wallet::Column::UserId.eq(req.user_id.0))
            .exec(&txn)
            .await?;
        if crate::waitlist::is_cancelled(&txn, s.schedule_id).await? {
            txn.rollback().await?;
            return Err(Fail::Domain(HoldError::SeatTaken));
        }
        // The optimistic lock: the only statement that decides who gets the seat.
        let won = seat::Entity::update_many()
            .col_expr(seat::Column::Status, Expr::value(SeatStatus::Held.as_str()))
            .col_expr(
                seat::Column::Version,
                Expr::col(seat::Column::Version).add(1),
            )
            .col_expr(seat::Column::HeldBy, Expr::value(Some(req.user_id.0)))
            .col_expr(seat::Column::HeldUntil, Expr::value(Some(expires)))
            .filter(seat::Column::Id.eq(s.id))
            .filter(seat::Column::Version.eq(s.version))
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        if !won {
            txn.rollback().await?;
            return Err(Fail::Domain(HoldError::SeatTaken));
        }
        let held_now = reservation::Entity::find()
            .filter(reservation::Column::UserId.eq(req.user_id.0))
            .filter(reservation::Column::ScheduleId.eq(req.schedule_id.0))
            .filter(reservation::Column::Status.eq(HELD))
            .filter(reservation::Column::ExpiresAt.gt(now))
            .filter(reservation::Column::SeatId.ne(s.id))
            .count(&txn)
            .await?;
        if held_now >= u64::from(req.max_held_per_user) {
            txn.rollback().await?;
            return Err(Fail::Domain(HoldError::LimitReached {
                limit: req.max_held_per_user,
            }));
        }
        if prev == SeatStatus::Held {
            expire_holds_of_seat(&txn, s.id, now).await?;
        }
        let model = reservation::ActiveModel {
            user_id: Set(req.user_id.0),
            concert_id: Set(sched.concert_id),
            schedule_id: Set(s.schedule_id),
            seat_id: Set(s.id),
            price: Set(s.price),
            status: Set(HELD.to_owned()),
            version: Set(0),
            created_at: Set(now),
            expires_at: Set(expires),
            paid_at: Set(None),
            order_id: Set(None),
            live_seat_id: Set(Some(s.id)),
            ..Default::default()
        };
        let id = reservation::Entity::insert(model)
            .exec(&txn)
            .await?
            .last_insert_id;
        txn.commit().await?;
        Ok(Reservation {
            id: ReservationId(id),
            user_id: req.user_id,
            concert_id: ConcertId(sched.concert_id),
            schedule_id: req.schedule_id,
            seat_id: req.seat_id,
            seat_label: s.label,
            price: money(s.price)?,
            status: ReservationStatus::Held,
            created_at: at(now)?,
            expires_at: at(expires)?,
            paid_at: None,
            extended_at: None,
            order_id: None,
        })
    }

    async fn try_cancel(
        &self,
        user: UserId,
        id: ReservationId,
        now: i64,
    ) -> Result<Reservation, Fail<CancelError>> {
        let found = reservation::Entity::find_by_id(id.0).one(&self.db).await?;
        let Some(r) = found.filter(|r| r.user_id == user.0) else {
            return Err(Fail::Domain(CancelError::NotFound));
        };
        let status = reservation_status(&r.status)?;
        if status != ReservationStatus::Held || r.expires_at <= now {
            let status = if status == ReservationStatus::Held {
                ReservationStatus::Expired
            } else {
                status
            };
            return Err(Fail::Domain(CancelError::NotHeld { status }));
        }
        let txn = self.begin_write().await?;
        let n = reservation::Entity::update_many()
            .col_expr(
                reservation::Column::Status,
                Expr::value(ReservationStatus::Cancelled.as_str()),
            )
            .col_expr(
                reservation::Column::Version,
                Expr::col(reservation::Column::Version).add(1),
            )
            .col_expr(
                reservation::Column::LiveSeatId,
                Expr::value(Option::<i64>::None),
            )
            .filter(reservation::Column::Id.eq(r.id))
            .filter(reservation::Column::Version.eq(r.version))
            .filter(reservation::Column::Status.eq(HELD))
            .filter(reservation::Column::ExpiresAt.gt(now))
            .exec(&txn)
            .await?
            .rows_affected;
        if n == 0 {
            // Changed under us (paid, swept, cancelled): answer from its new state.
            txn.rollback().await?;
            return Box::pin(self.try_cancel(user, id, now)).await;
        }
        let seat_now = seat::Entity::find_by_id(r.seat_id).one(&txn).await?;
        if let Some(s) =
            seat_now.filter(|s| s.status == SeatStatus::Held.as_str() && s.held_by == Some(user.0))
            && !free_seat(&txn, s.id, s.version).await?
        {
            txn.rollback().await?;
            return Err(Fail::Db(DbErr::Custom("seat changed during cancel".into())));
        }
        let label = seat_label_of(&txn, r.seat_id).await?;
        txn.commit().await?;
        let mut out = to_reservation(r, label)?;
        out.status = ReservationStatus::Cancelled;
        Ok(out)
    }

    async fn try_extend(&self, req: &ExtendRequest) -> Result<Reservation, Fail<ExtendError>> {
        let now = ms(req.now);
        let found = reservation::Entity::find_by_id(req.reservation_id.0)
            .one(&self.db)
            .await?;
        let Some(r) = found.filter(|r| r.user_id == req.user_id.0) else {
            return Err(Fail::Domain(ExtendError::NotFound));
        };
        let status = reservation_status(&r.status)?;
        if status != ReservationStatus::Held || r.expires_at <= now {
            let status = if status == ReservationStatus::Held {
                ReservationStatus::Expired
            } else {
                status
            };
            return Err(Fail::Domain(ExtendError::NotHeld { status }));
        }
        if r.extended_at.is_some() {
            return Err(Fail::Domain(ExtendError::AlreadyExtended));
        }
        let until = r.expires_at.saturating_add(req.by.num_milliseconds());
        let txn = self.begin_write().await?;
        let n = reservation::Entity::update_many()
            .col_expr(reservation::Column::ExpiresAt, Expr::value(until))
            .col_expr(reservation::Column::ExtendedAt, Expr::value(Some(now)))
            .col_expr(
                reservation::Column::Version,
                Expr::col(reservation::Column::Version).add(1),
            )
            .filter(reservation::Column::Id.eq(r.id))
            .filter(reservation::Column::Version.eq(r.version))
            .filter(reservation::Column::Status.eq(HELD))
            .filter(reservation::Column::ExpiresAt.gt(now))
            .filter(reservation::Column::ExtendedAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected;
        if n == 0 {
            // Changed under us (paid, swept, cancelled, extended): answer from its new state.
            txn.rollback().await?;
            return Box::pin(self.try_extend(req)).await;
        }
        // The seat's hold moves with the reservation; its version moves too, so a sweeper
        // that read the old expiry cannot free it.
        let m = seat::Entity::update_many()
            .col_expr(seat::Column::HeldUntil, Expr::value(Some(until)))
            .col_expr(
                seat::Column::Version,
                Expr::col(seat::Column::Version).add(1),
            )
            .filter(seat::Column::Id.eq(r.seat_id))
            .filter(seat::Column::Status.eq(SeatStatus::Held.as_str()))
            .filter(seat::Column::HeldBy.eq(req.user_id.0))
            .exec(&txn)
            .await?
            .rows_affected;
        if m != 1 {
            txn.rollback().await?;
            return Err(Fail::Db(DbErr::Custom("seat changed during extend".into())));
        }
        let label = seat_label_of(&txn, r.seat_id).await?;
        txn.commit().await?;
        let mut out = to_reservation(r, label)?;
        out.expires_at = at(until)?;
        out.extended_at = Some(at(now)?);
        Ok(out)
    }

    async fn try_release_one(
        &self,
        seat_id: i64,
        version: i64,
        now: i64,
    ) -> Result<bool, Fail<StoreError>> {
        let txn = self.begin_write().await?;
        if !free_seat(&txn, seat_id, version).await? {
            txn.rollback().await?;
            return Ok(false);
        }
        expire_holds_of_seat(&txn, seat_id, now).await?;
        txn.commit().await?;
        Ok(true)
    }
}

#[async_trait]
impl SeatRepository for SeaOrmStore {
    #[tracing::instrument(skip_all, fields(user = req.user_id.0, seat = req.seat_id.0))]
    async fn hold(&self, req: HoldRequest) -> Result<Reservation, HoldError> {
        retrying!(self.try_hold(&req).await)
    }

    #[tracing::instrument(skip_all, fields(reservation = id.0), err)]
    async fn reservation(&self, id: ReservationId) -> Result<Option<Reservation>, StoreError> {
        self.first_reservation(reservation::Entity::find_by_id(id.0))
            .await
            .map_err(store_err)
    }

    async fn reservation_in_order(
        &self,
        order: OrderId,
        seat: SeatId,
    ) -> Result<Option<Reservation>, StoreError> {
        self.first_reservation(
            reservation::Entity::find()
                .filter(reservation::Column::OrderId.eq(order.0))
                .filter(reservation::Column::SeatId.eq(seat.0)),
        )
        .await
        .map_err(store_err)
    }

    #[tracing::instrument(skip_all, fields(user = user.0, reservation = id.0))]
    async fn cancel(
        &self,
        user: UserId,
        id: ReservationId,
        now: DateTime<Utc>,
    ) -> Result<Reservation, CancelError> {
        let now = ms(now);
        retrying!(self.try_cancel(user, id, now).await)
    }

    #[tracing::instrument(skip_all, fields(user = req.user_id.0, reservation = req.reservation_id.0))]
    async fn extend(&self, req: ExtendRequest) -> Result<Reservation, ExtendError> {
        retrying!(self.try_extend(&req).await)
    }

    #[tracing::instrument(skip_all, fields(limit), err)]
    async fn release_expired(&self, now: DateTime<Utc>, limit: u64) -> Result<u64, StoreError> {
        let now = ms(now);
        let candidates: Vec<(i64, i64)> = seat::Entity::find()
            .select_only()
            .column(seat::Column::Id)
            .column(seat::Column::Version)
            .filter(seat::Column::Status.eq(SeatStatus::Held.as_str()))
            .filter(seat::Column::HeldUntil.lte(now))
            .filter(seat::Column::OfferOrderId.is_null())
            .order_by_asc(seat::Column::HeldUntil)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(store_err)?;
        let mut freed = 0;
        for (id, version) in candidates {
            let done: bool = retrying!(self.try_release_one(id, version, now).await)?;
            if done {
                freed += 1;
            }
        }
        Ok(freed)
    }

    #[tracing::instrument(skip_all, fields(concert = concert.0), err)]
    async fn seat_counts(
        &self,
        concert: ConcertId,
        now: DateTime<Utc>,
    ) -> Result<SeatCounts, StoreError> {
        let now = ms(now);
        let schedules: Vec<(i64, i64)> = schedule::Entity::find()
            .select_only()
            .column(schedule::Column::Id)
            .column(schedule::Column::TotalSeats)
            .filter(schedule::Column::ConcertId.eq(concert.0))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(store_err)?;
        if schedules.is_empty() {
            return Ok(SeatCounts::default());
        }
        let total: i64 = schedules.iter().map(|(_, n)| *n).sum();
        // One statement, so one snapshot: counted apart, a payment committing between
        // two counts would move a seat from held to sold unseen and read as free.
        let sql = format!(
            "SELECT \
               (SELECT COUNT(*) FROM seats s JOIN schedules c ON s.schedule_id = c.id \
                 WHERE c.concert_id = ? AND s.status = '{sold}') AS sold, \
               (SELECT COUNT(*) FROM seats s JOIN schedules c ON s.schedule_id = c.id \
                 WHERE c.concert_id = ? AND s.status = '{held}' AND s.held_until > ?) AS held, \
               (SELECT COUNT(DISTINCT user_id) FROM reservations \
                 WHERE concert_id = ? AND status = '{held_r}' AND expires_at > ?) AS holders",
            sold = SeatStatus::Sold.as_str(),
            held = SeatStatus::Held.as_str(),
            held_r = HELD,
        );
        let row = self
            .db
            .query_one_raw(crate::convert::raw(
                self.db.get_database_backend(),
                &sql,
                vec![
                    concert.0.into(),
                    concert.0.into(),
                    now.into(),
                    concert.0.into(),
                    now.into(),
                ],
            ))
            .await
            .map_err(store_err)?
            .ok_or_else(|| store_err(DbErr::RecordNotFound("seat counts".into())))?;
        let count = |col: &str| -> Result<u64, StoreError> {
            let n: i64 = row.try_get("", col).map_err(store_err)?;
            Ok(u64::try_from(n).unwrap_or(0))
        };
        let (sold, held, holders) = (count("sold")?, count("held")?, count("holders")?);
        // Standing places count as inventory too (held places of unswept expired orders
        // count as held until the sweeper gives them back).
        let areas: Vec<(i64, i64, i64)> = standing_area::Entity::find()
            .select_only()
            .column(standing_area::Column::Capacity)
            .column(standing_area::Column::Held)
            .column(standing_area::Column::Sold)
            .filter(standing_area::Column::ScheduleId.is_in(schedules.iter().map(|(id, _)| *id)))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(store_err)?;
        let as_u = |n: i64| u64::try_from(n).unwrap_or(0);
        let standing_free: u64 = areas.iter().map(|(c, h, s)| as_u(c - h - s)).sum();
        let standing_held: u64 = areas.iter().map(|(_, h, _)| as_u(*h)).sum();
        Ok(SeatCounts {
            free: u64::try_from(total)
                .unwrap_or(0)
                .saturating_sub(sold)
                .saturating_sub(held)
                + standing_free,
            held: held + standing_held,
            holders,
        })
    }
}
