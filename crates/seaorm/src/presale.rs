//! Presale codes in the store: created in batches, read, cancelled, and taken by an
//! order inside its transaction (a conditional `used + n <= max_tickets` after the fan's
//! lock), given back when the order ends unpaid.

use frontrow_domain::boxoffice::model::{NewPresaleCodes, PresaleCode};
use frontrow_domain::boxoffice::port::{PlaceError, PresaleError};
use frontrow_domain::model::{ScheduleId, UserId};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

use crate::convert::{at, ms};
use crate::entity::{presale_code, schedule};
use crate::errors::{Fail, is_unique_violation};
use crate::store::SeaOrmStore;

fn names(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn to_code(r: presale_code::Model) -> Result<PresaleCode, DbErr> {
    Ok(PresaleCode {
        code: r.code,
        schedule_id: ScheduleId(r.schedule_id),
        categories: names(&r.categories),
        sections: names(&r.sections),
        starts_at: at(r.starts_at)?,
        ends_at: at(r.ends_at)?,
        max_tickets: u32::try_from(r.max_tickets).unwrap_or(0),
        used: u32::try_from(r.used).unwrap_or(0),
        user_id: r.user_id.map(UserId),
        cancelled: r.cancelled,
        created_at: at(r.created_at)?,
    })
}

/// True when the code opens a seat or area of `category` in `section`.
pub(crate) fn opens(code: &presale_code::Model, category: &str, section: &str) -> bool {
    code.categories.lines().any(|c| c == category) || code.sections.lines().any(|s| s == section)
}

/// Takes `n` tickets of the code for `user`'s order at `now`, or says why not.
pub(crate) async fn take_code(
    conn: &impl ConnectionTrait,
    schedule: i64,
    code: &str,
    user: i64,
    n: u64,
    now: i64,
) -> Result<Result<presale_code::Model, PlaceError>, DbErr> {
    let row = presale_code::Entity::find()
        .filter(presale_code::Column::ScheduleId.eq(schedule))
        .filter(presale_code::Column::Code.eq(code))
        .one(conn)
        .await?
        .filter(|r| {
            !r.cancelled
                && r.starts_at <= now
                && now < r.ends_at
                && r.user_id.is_none_or(|u| u == user)
        });
    let Some(row) = row else {
        return Ok(Err(PlaceError::CodeInvalid));
    };
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    let taken = presale_code::Entity::update_many()
        .col_expr(
            presale_code::Column::Used,
            Expr::col(presale_code::Column::Used).add(n),
        )
        .filter(presale_code::Column::Id.eq(row.id))
        .filter(
            Expr::col(presale_code::Column::Used)
                .add(n)
                .lte(Expr::col(presale_code::Column::MaxTickets)),
        )
        .exec(conn)
        .await?
        .rows_affected;
    if taken == 0 {
        let left = presale_code::Entity::find_by_id(row.id)
            .one(conn)
            .await?
            .map_or(0, |r| r.max_tickets - r.used);
        return Ok(Err(PlaceError::CodeExhausted {
            left: u32::try_from(left).unwrap_or(0),
        }));
    }
    Ok(Ok(row))
}

/// Gives `tickets` back to the code of an order that ended unpaid.
pub(crate) async fn give_back(
    conn: &impl ConnectionTrait,
    code: i64,
    tickets: i64,
) -> Result<(), DbErr> {
    presale_code::Entity::update_many()
        .col_expr(
            presale_code::Column::Used,
            Expr::col(presale_code::Column::Used).sub(tickets),
        )
        .filter(presale_code::Column::Id.eq(code))
        .exec(conn)
        .await?;
    Ok(())
}

impl SeaOrmStore {
    pub(crate) async fn try_create_codes(
        &self,
        new: &NewPresaleCodes,
    ) -> Result<Vec<PresaleCode>, Fail<PresaleError>> {
        if schedule::Entity::find_by_id(new.schedule_id.0)
            .one(&self.db)
            .await?
            .is_none()
        {
            return Err(Fail::Domain(PresaleError::ScheduleNotFound));
        }
        let now = ms(new.now);
        let rows: Vec<presale_code::ActiveModel> = new
            .codes
            .iter()
            .map(|c| presale_code::ActiveModel {
                schedule_id: Set(new.schedule_id.0),
                code: Set(c.clone()),
                categories: Set(new.categories.join("\n")),
                sections: Set(new.sections.join("\n")),
                starts_at: Set(ms(new.starts_at)),
                ends_at: Set(ms(new.ends_at)),
                max_tickets: Set(i64::from(new.max_tickets)),
                used: Set(0),
                user_id: Set(new.user_id.map(|u| u.0)),
                cancelled: Set(false),
                created_at: Set(now),
                ..Default::default()
            })
            .collect();
        let txn = self.begin_write().await?;
        for chunk in rows.chunks(200) {
            match presale_code::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&txn)
                .await
            {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    txn.rollback().await?;
                    let existing = presale_code::Entity::find()
                        .filter(presale_code::Column::ScheduleId.eq(new.schedule_id.0))
                        .filter(presale_code::Column::Code.is_in(new.codes.iter().cloned()))
                        .one(&self.db)
                        .await?
                        .map_or_else(String::new, |r| r.code);
                    return Err(Fail::Domain(PresaleError::Duplicate(existing)));
                }
                Err(e) => return Err(e.into()),
            }
        }
        txn.commit().await?;
        let mut out = Vec::with_capacity(new.codes.len());
        for chunk in new.codes.chunks(500) {
            let stored = presale_code::Entity::find()
                .filter(presale_code::Column::ScheduleId.eq(new.schedule_id.0))
                .filter(presale_code::Column::Code.is_in(chunk.iter().cloned()))
                .order_by_asc(presale_code::Column::Id)
                .all(&self.db)
                .await?;
            for r in stored {
                out.push(to_code(r)?);
            }
        }
        Ok(out)
    }

    pub(crate) async fn read_codes(
        &self,
        schedule_id: ScheduleId,
    ) -> Result<Option<Vec<PresaleCode>>, DbErr> {
        if schedule::Entity::find_by_id(schedule_id.0)
            .one(&self.db)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        presale_code::Entity::find()
            .filter(presale_code::Column::ScheduleId.eq(schedule_id.0))
            .order_by_asc(presale_code::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_code)
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    pub(crate) async fn read_code(
        &self,
        schedule_id: ScheduleId,
        code: &str,
    ) -> Result<Option<PresaleCode>, DbErr> {
        presale_code::Entity::find()
            .filter(presale_code::Column::ScheduleId.eq(schedule_id.0))
            .filter(presale_code::Column::Code.eq(code))
            .one(&self.db)
            .await?
            .map(to_code)
            .transpose()
    }

    pub(crate) async fn cancel_code(
        &self,
        schedule_id: ScheduleId,
        code: &str,
    ) -> Result<bool, DbErr> {
        let n = presale_code::Entity::update_many()
            .col_expr(presale_code::Column::Cancelled, Expr::value(true))
            .filter(presale_code::Column::ScheduleId.eq(schedule_id.0))
            .filter(presale_code::Column::Code.eq(code))
            .exec(&self.db)
            .await?
            .rows_affected;
        Ok(n > 0)
    }
}
