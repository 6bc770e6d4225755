//! `CatalogRepository`: concerts, schedules and seat maps. Availability is computed as
//! of the caller's `now`, so an expired hold reads `Available` before the sweeper runs.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use frontrow_domain::error::StoreError;
use frontrow_domain::model::{
    Concert, ConcertDetail, ConcertId, NewConcert, Schedule, ScheduleId, ScheduleSummary, Seat,
    SeatId, SeatStatus,
};
use frontrow_domain::ports::CatalogRepository;
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::convert::{at, money, ms, seat_status};
use crate::entity::{concert, schedule, seat, standing_area};
use crate::errors::{Fail, retrying, store_err};
use crate::store::SeaOrmStore;

/// Seats per multi-row `INSERT` (14 parameters each, well under every backend's limit).
const SEAT_BATCH: usize = 400;

/// The status a client sees as of `now`.
fn seat_status_at(s: &seat::Model, now: i64) -> Result<SeatStatus, DbErr> {
    Ok(match seat_status(&s.status)? {
        SeatStatus::Held if s.offer_order_id.is_none() && s.held_until.is_none_or(|u| u <= now) => {
            SeatStatus::Available
        }
        st => st,
    })
}

/// Seats that cannot be held as of `now`: sold, or held until after `now`.
fn taken_at(now: i64) -> Condition {
    Condition::any()
        .add(seat::Column::Status.eq(SeatStatus::Sold.as_str()))
        .add(
            Condition::all()
                .add(seat::Column::Status.eq(SeatStatus::Held.as_str()))
                .add(
                    Condition::any()
                        .add(seat::Column::HeldUntil.gt(now))
                        .add(seat::Column::OfferOrderId.is_not_null()),
                ),
        )
}

impl SeaOrmStore {
    async fn try_create_concert(
        &self,
        new: &NewConcert,
    ) -> Result<ConcertDetail, Fail<StoreError>> {
        let txn = self.begin_write().await?;
        let concert_id = concert::Entity::insert(concert::ActiveModel {
            title: Set(new.title.clone()),
            venue: Set(new.venue.clone()),
            ..Default::default()
        })
        .exec(&txn)
        .await?
        .last_insert_id;
        let mut schedules = Vec::with_capacity(new.schedules.len());
        for s in &new.schedules {
            let (seats, areas) = s.layout().expand();
            let total = u64::try_from(seats.len()).unwrap_or(u64::MAX);
            let schedule_id = schedule::Entity::insert(schedule::ActiveModel {
                concert_id: Set(concert_id),
                starts_at: Set(ms(s.starts_at)),
                total_seats: Set(i64::try_from(total).unwrap_or(i64::MAX)),
                ..Default::default()
            })
            .exec(&txn)
            .await?
            .last_insert_id;
            let mut batch = Vec::with_capacity(SEAT_BATCH);
            for st in seats {
                let as_i32 = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
                batch.push(seat::ActiveModel {
                    schedule_id: Set(schedule_id),
                    row_no: Set(as_i32(st.row_no)),
                    number: Set(as_i32(st.number)),
                    label: Set(format!("{}-{}", st.row_label, st.number)),
                    price: Set(st.price.minor_units()),
                    status: Set(SeatStatus::Available.as_str().to_owned()),
                    version: Set(0),
                    held_by: Set(None),
                    held_until: Set(None),
                    section: Set(st.section),
                    section_rank: Set(as_i32(st.section_rank)),
                    row_label: Set(st.row_label),
                    x: Set(as_i32(st.x)),
                    category: Set(st.category),
                    accessible: Set(st.accessible),
                    hidden: Set(st.hidden),
                    ..Default::default()
                });
                if batch.len() == SEAT_BATCH {
                    seat::Entity::insert_many(std::mem::take(&mut batch))
                        .exec_without_returning(&txn)
                        .await?;
                }
            }
            if !batch.is_empty() {
                seat::Entity::insert_many(batch)
                    .exec_without_returning(&txn)
                    .await?;
            }
            for a in areas {
                standing_area::Entity::insert(standing_area::ActiveModel {
                    schedule_id: Set(schedule_id),
                    name: Set(a.name),
                    section_rank: Set(i32::try_from(a.section_rank).unwrap_or(i32::MAX)),
                    category: Set(a.category),
                    price: Set(a.price.minor_units()),
                    capacity: Set(i64::from(a.capacity)),
                    held: Set(0),
                    sold: Set(0),
                    hidden: Set(a.hidden),
                    ..Default::default()
                })
                .exec(&txn)
                .await?;
            }
            schedules.push(ScheduleSummary {
                id: ScheduleId(schedule_id),
                concert_id: ConcertId(concert_id),
                starts_at: at(ms(s.starts_at))?,
                total_seats: total,
                available_seats: total,
            });
        }
        txn.commit().await?;
        schedules.sort_by_key(|s| (s.starts_at, s.id));
        Ok(ConcertDetail {
            concert: Concert {
                id: ConcertId(concert_id),
                title: new.title.clone(),
                venue: new.venue.clone(),
            },
            schedules,
        })
    }

    async fn summaries(
        &self,
        concert: ConcertId,
        now: i64,
    ) -> Result<Vec<ScheduleSummary>, StoreError> {
        let schedules = schedule::Entity::find()
            .filter(schedule::Column::ConcertId.eq(concert.0))
            .order_by_asc(schedule::Column::StartsAt)
            .order_by_asc(schedule::Column::Id)
            .all(&self.db)
            .await
            .map_err(store_err)?;
        if schedules.is_empty() {
            return Ok(Vec::new());
        }
        let taken: HashMap<i64, i64> = seat::Entity::find()
            .select_only()
            .column(seat::Column::ScheduleId)
            .column_as(Expr::expr(Func::count(Expr::col(seat::Column::Id))), "n")
            .filter(seat::Column::ScheduleId.is_in(schedules.iter().map(|s| s.id)))
            .filter(taken_at(now))
            .group_by(seat::Column::ScheduleId)
            .into_tuple::<(i64, i64)>()
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .collect();
        schedules
            .into_iter()
            .map(|s| {
                let total = u64::try_from(s.total_seats).unwrap_or(0);
                let taken = u64::try_from(taken.get(&s.id).copied().unwrap_or(0)).unwrap_or(0);
                Ok(ScheduleSummary {
                    id: ScheduleId(s.id),
                    concert_id: ConcertId(s.concert_id),
                    starts_at: at(s.starts_at).map_err(store_err)?,
                    total_seats: total,
                    available_seats: total.saturating_sub(taken),
                })
            })
            .collect()
    }
}

fn to_concert(c: concert::Model) -> Concert {
    Concert {
        id: ConcertId(c.id),
        title: c.title,
        venue: c.venue,
    }
}

#[async_trait]
impl CatalogRepository for SeaOrmStore {
    #[tracing::instrument(skip_all, fields(schedules = new.schedules.len()), err)]
    async fn create_concert(&self, new: NewConcert) -> Result<ConcertDetail, StoreError> {
        retrying!(self.try_create_concert(&new).await)
    }

    #[tracing::instrument(skip_all, err)]
    async fn list_concerts(&self) -> Result<Vec<Concert>, StoreError> {
        Ok(concert::Entity::find()
            .order_by_asc(concert::Column::Id)
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(to_concert)
            .collect())
    }

    #[tracing::instrument(skip_all, fields(concert = id.0), err)]
    async fn concert(&self, id: ConcertId) -> Result<Option<Concert>, StoreError> {
        Ok(concert::Entity::find_by_id(id.0)
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(to_concert))
    }

    async fn get_concert(
        &self,
        id: ConcertId,
        now: DateTime<Utc>,
    ) -> Result<Option<ConcertDetail>, StoreError> {
        let Some(c) = concert::Entity::find_by_id(id.0)
            .one(&self.db)
            .await
            .map_err(store_err)?
        else {
            return Ok(None);
        };
        let schedules = self.summaries(id, ms(now)).await?;
        Ok(Some(ConcertDetail {
            concert: to_concert(c),
            schedules,
        }))
    }

    #[tracing::instrument(skip_all, fields(schedule = id.0), err)]
    async fn get_schedule(&self, id: ScheduleId) -> Result<Option<Schedule>, StoreError> {
        schedule::Entity::find_by_id(id.0)
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(|s| {
                Ok(Schedule {
                    id: ScheduleId(s.id),
                    concert_id: ConcertId(s.concert_id),
                    starts_at: at(s.starts_at).map_err(store_err)?,
                })
            })
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(schedule = schedule.0), err)]
    async fn list_seats(
        &self,
        schedule: ScheduleId,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<Seat>>, StoreError> {
        if self.get_schedule(schedule).await?.is_none() {
            return Ok(None);
        }
        let now = ms(now);
        let seats = seat::Entity::find()
            .filter(seat::Column::ScheduleId.eq(schedule.0))
            .order_by_asc(seat::Column::RowNo)
            .order_by_asc(seat::Column::X)
            .all(&self.db)
            .await
            .map_err(store_err)?;
        let seats = seats
            .into_iter()
            .map(|s| {
                let row = s.row_name();
                Ok(Seat {
                    id: SeatId(s.id),
                    schedule_id: ScheduleId(s.schedule_id),
                    status: seat_status_at(&s, now)?,
                    price: money(s.price)?,
                    label: s.label,
                    section: s.section,
                    row,
                    number: u32::try_from(s.number).unwrap_or(0),
                    x: u32::try_from(s.x).unwrap_or(0),
                    category: s.category,
                    accessible: s.accessible,
                })
            })
            .collect::<Result<Vec<_>, DbErr>>()
            .map_err(store_err)?;
        Ok(Some(seats))
    }

    #[tracing::instrument(skip_all, fields(concert = concert.0), err)]
    async fn list_schedules(
        &self,
        concert: ConcertId,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<ScheduleSummary>>, StoreError> {
        let exists = concert::Entity::find_by_id(concert.0)
            .one(&self.db)
            .await
            .map_err(store_err)?
            .is_some();
        if !exists {
            return Ok(None);
        }
        Ok(Some(self.summaries(concert, ms(now)).await?))
    }
}
