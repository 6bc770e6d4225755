//! `TicketRepository`: tickets written in the paying transaction, check-ins recorded
//! once per nonce with the first admission taken by a conditional update (and the
//! unique `checkins.admits_ticket_id` behind it), gate keys by hash, the revocation
//! list, holder bindings and the rotating-code rule.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use frontrow_domain::error::StoreError;
use frontrow_domain::model::{OrderId, ScheduleId, SeatId, UserId};
use frontrow_domain::tickets::keys::HolderKey;
use frontrow_domain::tickets::model::{
    CheckResult, Checkin, CheckinStats, FirstScan, GateKey, InvalidReason, Place, Revocation,
    Ticket, TicketId,
};
use frontrow_domain::tickets::port::{
    BindError, Decision, NewCheckin, RevokeTarget, TicketRepository,
};
use frontrow_domain::tickets::rules;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use crate::convert::{at, ms};
use crate::entity::{
    checkin, gate_key, order, order_standing, schedule, standing_area, ticket, ticket_binding,
    ticket_policy, ticket_revocation,
};
use crate::errors::{Fail, is_unique_violation, retrying, store_err};
use crate::orders::HeldSeat;
use crate::store::SeaOrmStore;

/// Rows per multi-row insert and per `IN (…)` list.
const CHUNK: usize = 200;
/// The most duplicates the console lists.
const DUPLICATES_LISTED: u64 = 1_000;
/// A revocation through every generation.
pub(crate) const ALL_GENERATIONS: i64 = u32::MAX as i64;

fn corrupt(what: String) -> DbErr {
    DbErr::Type(format!("corrupt row: {what}"))
}

/// Writes one ticket per seat and per standing place of `o`, inside the paying
/// transaction (`seats`: the order's held seats, `lines`: its standing lines).
pub(crate) async fn issue(
    conn: &impl ConnectionTrait,
    o: &order::Model,
    seats: &[HeldSeat],
    lines: &[order_standing::Model],
    now: i64,
) -> Result<(), DbErr> {
    let mut rows = Vec::new();
    let row = |seat_id: Option<i64>, area_id: Option<i64>, label: String, category: String| {
        ticket::ActiveModel {
            order_id: Set(o.id),
            user_id: Set(o.user_id),
            schedule_id: Set(o.schedule_id),
            seat_id: Set(seat_id),
            area_id: Set(area_id),
            label: Set(label),
            category: Set(category),
            issued_at: Set(now),
            generation: Set(0),
            holder_key: Set(None),
            admitted_at: Set(None),
            admitted_gate: Set(None),
            revoked_at: Set(None),
            ..Default::default()
        }
    };
    for s in seats {
        rows.push(row(
            Some(s.seat_id),
            None,
            s.label.clone(),
            s.category.clone(),
        ));
    }
    for l in lines {
        let a = standing_area::Entity::find_by_id(l.area_id)
            .one(conn)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(format!("standing area {}", l.area_id)))?;
        for _ in 0..l.quantity {
            rows.push(row(None, Some(a.id), a.name.clone(), a.category.clone()));
        }
    }
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(CHUNK));
        ticket::Entity::insert_many(std::mem::replace(&mut rows, rest))
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

pub(crate) fn to_ticket(t: ticket::Model, starts_at: i64) -> Result<Ticket, DbErr> {
    let place = match (t.seat_id, t.area_id) {
        (Some(s), None) => Place::Seat(SeatId(s)),
        (None, Some(a)) => Place::Area(a),
        _ => return Err(corrupt(format!("ticket {} has no single place", t.id))),
    };
    let holder = t
        .holder_key
        .as_deref()
        .map(|h| {
            hex::decode(h)
                .ok()
                .and_then(|b| HolderKey::from_sec1(&b).ok())
                .ok_or_else(|| corrupt(format!("holder key of ticket {}", t.id)))
        })
        .transpose()?;
    let admitted = match (t.admitted_at, t.admitted_gate) {
        (Some(a), Some(gate)) => Some(FirstScan { at: at(a)?, gate }),
        (None, None) => None,
        _ => return Err(corrupt(format!("admission of ticket {}", t.id))),
    };
    Ok(Ticket {
        id: TicketId(t.id),
        order_id: OrderId(t.order_id),
        user_id: UserId(t.user_id),
        schedule_id: ScheduleId(t.schedule_id),
        place,
        label: t.label,
        category: t.category,
        starts_at: at(starts_at)?,
        issued_at: at(t.issued_at)?,
        generation: u32::try_from(t.generation)
            .map_err(|_| corrupt(format!("generation of ticket {}", t.id)))?,
        holder,
        admitted,
        revoked_at: t.revoked_at.map(at).transpose()?,
    })
}

fn result_of(s: &str) -> Result<CheckResult, DbErr> {
    CheckResult::parse(s).ok_or_else(|| corrupt(format!("check-in result {s:?}")))
}

fn reason_of(s: &str) -> Result<InvalidReason, DbErr> {
    [
        InvalidReason::Format,
        InvalidReason::UnknownKey,
        InvalidReason::Signature,
        InvalidReason::RotationRequired,
        InvalidReason::HolderSignature,
        InvalidReason::StaleWindow,
        InvalidReason::UnknownTicket,
    ]
    .into_iter()
    .find(|r| r.as_str() == s)
    .ok_or_else(|| corrupt(format!("check-in reason {s:?}")))
}

fn to_checkin(c: checkin::Model, replayed: bool) -> Result<Checkin, DbErr> {
    let first = match (c.first_at, c.first_gate) {
        (Some(a), Some(gate)) => Some(FirstScan { at: at(a)?, gate }),
        _ => None,
    };
    Ok(Checkin {
        id: c.id,
        nonce: c.nonce,
        schedule_id: ScheduleId(c.schedule_id),
        ticket_id: c.ticket_id.map(TicketId),
        gate: c.gate,
        device: c.device,
        scanned_at: at(c.scanned_at)?,
        received_at: at(c.received_at)?,
        result: result_of(&c.result)?,
        reason: c.reason.as_deref().map(reason_of).transpose()?,
        first,
        duplicate: c.duplicate,
        offline_result: c.offline_result.as_deref().map(result_of).transpose()?,
        replayed,
    })
}

fn to_gate_key(k: gate_key::Model) -> Result<GateKey, DbErr> {
    Ok(GateKey {
        id: k.id,
        schedule_id: ScheduleId(k.schedule_id),
        label: k.label,
        created_at: at(k.created_at)?,
        revoked_at: k.revoked_at.map(at).transpose()?,
    })
}

fn to_revocation(r: ticket_revocation::Model) -> Result<Revocation, DbErr> {
    Ok(Revocation {
        ticket_id: TicketId(r.ticket_id),
        through: u32::try_from(r.through).unwrap_or(u32::MAX),
        reason: r.reason,
        revoked_at: at(r.revoked_at)?,
    })
}

/// Sets a ticket's revocation-list entry (codes through generation `through`).
pub(crate) async fn put_revocation(
    conn: &impl ConnectionTrait,
    t: &ticket::Model,
    through: i64,
    reason: &str,
    now: i64,
) -> Result<(), DbErr> {
    ticket_revocation::Entity::insert(ticket_revocation::ActiveModel {
        ticket_id: Set(t.id),
        schedule_id: Set(t.schedule_id),
        through: Set(through),
        reason: Set(reason.to_owned()),
        revoked_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(ticket_revocation::Column::TicketId)
            .update_columns([
                ticket_revocation::Column::Through,
                ticket_revocation::Column::Reason,
                ticket_revocation::Column::RevokedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Revokes every unrevoked ticket of `target` inside the caller's transaction: the
/// ticket, and its revocation-list entry through every generation. Returns them.
pub(crate) async fn revoke_in(
    conn: &impl ConnectionTrait,
    target: RevokeTarget,
    reason: &str,
    now: i64,
) -> Result<Vec<TicketId>, DbErr> {
    let q = ticket::Entity::find().filter(ticket::Column::RevokedAt.is_null());
    let q = match target {
        RevokeTarget::Ticket(t) => q.filter(ticket::Column::Id.eq(t.0)),
        RevokeTarget::Order(o) => q.filter(ticket::Column::OrderId.eq(o.0)),
    };
    let rows = q.order_by_asc(ticket::Column::Id).all(conn).await?;
    let mut done = Vec::with_capacity(rows.len());
    for t in rows {
        let n = ticket::Entity::update_many()
            .col_expr(ticket::Column::RevokedAt, Expr::value(Some(now)))
            .filter(ticket::Column::Id.eq(t.id))
            .filter(ticket::Column::RevokedAt.is_null())
            .exec(conn)
            .await?
            .rows_affected;
        if n == 1 {
            put_revocation(conn, &t, ALL_GENERATIONS, reason, now).await?;
            done.push(TicketId(t.id));
        }
    }
    Ok(done)
}

impl SeaOrmStore {
    async fn starts_of(
        &self,
        schedules: impl IntoIterator<Item = i64>,
    ) -> Result<HashMap<i64, i64>, DbErr> {
        let ids: HashSet<i64> = schedules.into_iter().collect();
        let rows = schedule::Entity::find()
            .filter(schedule::Column::Id.is_in(ids))
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(|s| (s.id, s.starts_at)).collect())
    }

    async fn load_tickets(&self, rows: Vec<ticket::Model>) -> Result<Vec<Ticket>, DbErr> {
        let starts = self.starts_of(rows.iter().map(|t| t.schedule_id)).await?;
        rows.into_iter()
            .map(|t| {
                let s = *starts
                    .get(&t.schedule_id)
                    .ok_or_else(|| corrupt(format!("schedule of ticket {}", t.id)))?;
                to_ticket(t, s)
            })
            .collect()
    }

    async fn by_nonce(&self, nonce: &str) -> Result<Option<Checkin>, DbErr> {
        checkin::Entity::find()
            .filter(checkin::Column::Nonce.eq(nonce))
            .one(&self.db)
            .await?
            .map(|c| to_checkin(c, true))
            .transpose()
    }

    /// The check-ins stored under these nonces, by nonce (replayed).
    async fn by_nonces(&self, nonces: &[&str]) -> Result<HashMap<String, Checkin>, DbErr> {
        let mut found = HashMap::new();
        for chunk in nonces.chunks(500) {
            let rows = checkin::Entity::find()
                .filter(checkin::Column::Nonce.is_in(chunk.iter().copied()))
                .all(&self.db)
                .await?;
            for row in rows {
                let c = to_checkin(row, true)?;
                found.insert(c.nonce.clone(), c);
            }
        }
        Ok(found)
    }

    /// One attempt; `None` when it lost a race and should look again.
    async fn try_record(&self, new: &NewCheckin) -> Result<Option<Checkin>, Fail<StoreError>> {
        if let Some(c) = self.by_nonce(&new.scan.nonce).await? {
            return Ok(Some(c));
        }
        let txn = self.begin_write().await?;
        match record_in(&txn, new).await? {
            Some(c) => {
                txn.commit().await?;
                Ok(Some(c))
            }
            None => {
                txn.rollback().await?;
                Ok(None)
            }
        }
    }

    /// One attempt at a whole batch in one transaction; `None` when a scan lost a race
    /// (a concurrent scan of its ticket or nonce committed meanwhile): nothing of the
    /// batch is kept then.
    async fn try_record_batch(
        &self,
        batch: &[NewCheckin],
    ) -> Result<Option<Vec<Checkin>>, Fail<StoreError>> {
        let nonces: Vec<&str> = batch.iter().map(|n| n.scan.nonce.as_str()).collect();
        let stored = self.by_nonces(&nonces).await?;
        let txn = self.begin_write().await?;
        let mut out: Vec<Checkin> = Vec::with_capacity(batch.len());
        // Nonces recorded earlier in this batch: where their record is in `out`.
        let mut fresh: HashMap<&str, usize> = HashMap::new();
        for new in batch {
            let nonce = new.scan.nonce.as_str();
            if let Some(c) = stored.get(nonce) {
                out.push(c.clone());
            } else if let Some(&i) = fresh.get(nonce) {
                let mut again = out[i].clone();
                again.replayed = true;
                out.push(again);
            } else if let Some(c) = record_in(&txn, new).await? {
                fresh.insert(nonce, out.len());
                out.push(c);
            } else {
                txn.rollback().await?;
                return Ok(None);
            }
        }
        txn.commit().await?;
        Ok(Some(out))
    }

    async fn try_record_checkin(&self, new: &NewCheckin) -> Result<Checkin, Fail<StoreError>> {
        for _ in 0..5 {
            if let Some(c) = self.try_record(new).await? {
                return Ok(c);
            }
        }
        Err(Fail::Db(DbErr::Custom(
            "check-in kept losing races; giving up".into(),
        )))
    }

    async fn try_revoke(
        &self,
        target: RevokeTarget,
        reason: &str,
        now: i64,
    ) -> Result<Vec<TicketId>, Fail<StoreError>> {
        let txn = self.begin_write().await?;
        let done = revoke_in(&txn, target, reason, now).await?;
        txn.commit().await?;
        Ok(done)
    }

    async fn try_bind(
        &self,
        user: UserId,
        id: TicketId,
        holder: &HolderKey,
        now: i64,
    ) -> Result<Option<Ticket>, Fail<BindError>> {
        let txn = self.begin_write().await?;
        let Some(t) = ticket::Entity::find_by_id(id.0)
            .filter(ticket::Column::UserId.eq(user.0))
            .one(&txn)
            .await?
        else {
            txn.rollback().await?;
            return Err(Fail::Domain(BindError::NotFound));
        };
        if t.revoked_at.is_some() {
            txn.rollback().await?;
            return Err(Fail::Domain(BindError::Revoked));
        }
        if t.admitted_at.is_some() {
            txn.rollback().await?;
            return Err(Fail::Domain(BindError::AlreadyAdmitted));
        }
        let key = hex::encode(holder.compressed());
        let moved = ticket::Entity::update_many()
            .col_expr(ticket::Column::HolderKey, Expr::value(Some(key.clone())))
            .col_expr(
                ticket::Column::Generation,
                Expr::col(ticket::Column::Generation).add(1),
            )
            .filter(ticket::Column::Id.eq(t.id))
            .filter(ticket::Column::Generation.eq(t.generation))
            .filter(ticket::Column::RevokedAt.is_null())
            .filter(ticket::Column::AdmittedAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected;
        if moved == 0 {
            // Changed under us: look again.
            txn.rollback().await?;
            return Ok(None);
        }
        put_revocation(&txn, &t, t.generation, "rebound", now).await?;
        ticket_binding::Entity::insert(ticket_binding::ActiveModel {
            ticket_id: Set(t.id),
            generation: Set(t.generation + 1),
            holder_key: Set(key),
            bound_at: Set(now),
            ..Default::default()
        })
        .exec_without_returning(&txn)
        .await?;
        let after = ticket::Entity::find_by_id(t.id)
            .one(&txn)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(format!("ticket {}", t.id)))?;
        txn.commit().await?;
        let starts = self.starts_of([after.schedule_id]).await?;
        let s = *starts
            .get(&after.schedule_id)
            .ok_or_else(|| corrupt(format!("schedule of ticket {}", after.id)))?;
        Ok(Some(to_ticket(after, s)?))
    }

    async fn try_bind_holder(
        &self,
        user: UserId,
        id: TicketId,
        holder: &HolderKey,
        now: i64,
    ) -> Result<Ticket, Fail<BindError>> {
        for _ in 0..5 {
            if let Some(t) = self.try_bind(user, id, holder, now).await? {
                return Ok(t);
            }
        }
        Err(Fail::Db(DbErr::Custom(
            "binding kept losing races; giving up".into(),
        )))
    }
}

#[async_trait]
impl TicketRepository for SeaOrmStore {
    #[tracing::instrument(skip_all, fields(user = user.0), err)]
    async fn tickets_of(&self, user: UserId, limit: u64) -> Result<Vec<Ticket>, StoreError> {
        let rows = ticket::Entity::find()
            .filter(ticket::Column::UserId.eq(user.0))
            .order_by_asc(ticket::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(store_err)?;
        self.load_tickets(rows).await.map_err(store_err)
    }

    async fn ticket(&self, id: TicketId) -> Result<Option<Ticket>, StoreError> {
        let Some(row) = ticket::Entity::find_by_id(id.0)
            .one(&self.db)
            .await
            .map_err(store_err)?
        else {
            return Ok(None);
        };
        Ok(self.load_tickets(vec![row]).await.map_err(store_err)?.pop())
    }

    #[tracing::instrument(skip_all, fields(nonce = %new.scan.nonce), err)]
    async fn record_checkin(&self, new: NewCheckin) -> Result<Checkin, StoreError> {
        retrying!(self.try_record_checkin(&new).await)
    }

    #[tracing::instrument(skip_all, fields(scans = batch.len()), err)]
    async fn record_checkins(&self, batch: Vec<NewCheckin>) -> Result<Vec<Checkin>, StoreError> {
        if let Some(done) = retrying!(self.try_record_batch(&batch).await)? {
            return Ok(done);
        }
        // A race lost inside the batch: one scan at a time, each looking again.
        let mut out = Vec::with_capacity(batch.len());
        for new in batch {
            out.push(retrying!(self.try_record_checkin(&new).await)?);
        }
        Ok(out)
    }

    async fn tickets(&self, ids: &[TicketId]) -> Result<Vec<Ticket>, StoreError> {
        let mut rows = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            rows.extend(
                ticket::Entity::find()
                    .filter(ticket::Column::Id.is_in(chunk.iter().map(|t| t.0)))
                    .all(&self.db)
                    .await
                    .map_err(store_err)?,
            );
        }
        self.load_tickets(rows).await.map_err(store_err)
    }

    async fn create_gate_key(
        &self,
        schedule: ScheduleId,
        label: &str,
        key_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<GateKey>, StoreError> {
        let known = schedule::Entity::find_by_id(schedule.0)
            .count(&self.db)
            .await
            .map_err(store_err)?;
        if known == 0 {
            return Ok(None);
        }
        let row = gate_key::ActiveModel {
            schedule_id: Set(schedule.0),
            label: Set(label.to_owned()),
            key_hash: Set(key_hash.to_owned()),
            created_at: Set(ms(now)),
            revoked_at: Set(None),
            ..Default::default()
        };
        let id = gate_key::Entity::insert(row)
            .exec(&self.db)
            .await
            .map_err(store_err)?
            .last_insert_id;
        Ok(Some(GateKey {
            id,
            schedule_id: schedule,
            label: label.to_owned(),
            created_at: at(ms(now)).map_err(store_err)?,
            revoked_at: None,
        }))
    }

    async fn gate_key(&self, key_hash: &str) -> Result<Option<GateKey>, StoreError> {
        gate_key::Entity::find()
            .filter(gate_key::Column::KeyHash.eq(key_hash))
            .one(&self.db)
            .await
            .map_err(store_err)?
            .map(to_gate_key)
            .transpose()
            .map_err(store_err)
    }

    async fn gate_keys(&self, schedule: ScheduleId) -> Result<Vec<GateKey>, StoreError> {
        gate_key::Entity::find()
            .filter(gate_key::Column::ScheduleId.eq(schedule.0))
            .order_by_asc(gate_key::Column::Id)
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(to_gate_key)
            .collect::<Result<_, _>>()
            .map_err(store_err)
    }

    async fn revoke_gate_key(
        &self,
        schedule: ScheduleId,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let found = gate_key::Entity::find_by_id(id)
            .filter(gate_key::Column::ScheduleId.eq(schedule.0))
            .count(&self.db)
            .await
            .map_err(store_err)?;
        if found == 0 {
            return Ok(false);
        }
        gate_key::Entity::update_many()
            .col_expr(gate_key::Column::RevokedAt, Expr::value(Some(ms(now))))
            .filter(gate_key::Column::Id.eq(id))
            .filter(gate_key::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(store_err)?;
        Ok(true)
    }

    #[tracing::instrument(skip_all, fields(target = ?target), err)]
    async fn revoke(
        &self,
        target: RevokeTarget,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<TicketId>, StoreError> {
        retrying!(self.try_revoke(target, reason, ms(now)).await)
    }

    async fn revocations(
        &self,
        schedule: ScheduleId,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<Revocation>, StoreError> {
        let mut q = ticket_revocation::Entity::find()
            .filter(ticket_revocation::Column::ScheduleId.eq(schedule.0));
        if let Some(s) = since {
            q = q.filter(ticket_revocation::Column::RevokedAt.gte(ms(s)));
        }
        q.order_by_asc(ticket_revocation::Column::TicketId)
            .all(&self.db)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(to_revocation)
            .collect::<Result<_, _>>()
            .map_err(store_err)
    }

    async fn bind_holder(
        &self,
        user: UserId,
        ticket: TicketId,
        holder: HolderKey,
        now: DateTime<Utc>,
    ) -> Result<Ticket, BindError> {
        retrying!(self.try_bind_holder(user, ticket, &holder, ms(now)).await)
    }

    async fn rotating_required(&self, schedule: ScheduleId) -> Result<bool, StoreError> {
        Ok(ticket_policy::Entity::find_by_id(schedule.0)
            .one(&self.db)
            .await
            .map_err(store_err)?
            .is_some_and(|p| p.rotating))
    }

    async fn set_rotating_required(
        &self,
        schedule: ScheduleId,
        required: bool,
    ) -> Result<(), StoreError> {
        ticket_policy::Entity::insert(ticket_policy::ActiveModel {
            schedule_id: Set(schedule.0),
            rotating: Set(required),
        })
        .on_conflict(
            OnConflict::column(ticket_policy::Column::ScheduleId)
                .update_column(ticket_policy::Column::Rotating)
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await
        .map_err(store_err)?;
        Ok(())
    }

    async fn checkin_stats(&self, schedule: ScheduleId) -> Result<CheckinStats, StoreError> {
        let of = || ticket::Entity::find().filter(ticket::Column::ScheduleId.eq(schedule.0));
        let db = &self.db;
        let tickets = of().count(db).await.map_err(store_err)?;
        let admitted = of()
            .filter(ticket::Column::AdmittedAt.is_not_null())
            .count(db)
            .await
            .map_err(store_err)?;
        let revoked = of()
            .filter(ticket::Column::RevokedAt.is_not_null())
            .count(db)
            .await
            .map_err(store_err)?;
        let not_scanned = of()
            .filter(ticket::Column::AdmittedAt.is_null())
            .filter(ticket::Column::RevokedAt.is_null())
            .count(db)
            .await
            .map_err(store_err)?;
        let rows: Vec<(String, i64, String)> = checkin::Entity::find()
            .select_only()
            .column(checkin::Column::Gate)
            .column(checkin::Column::ScannedAt)
            .column(checkin::Column::Result)
            .filter(checkin::Column::ScheduleId.eq(schedule.0))
            .into_tuple()
            .all(db)
            .await
            .map_err(store_err)?;
        let rows = rows
            .iter()
            .map(|(g, t, r)| Ok((g.as_str(), at(*t)?, result_of(r)?)))
            .collect::<Result<Vec<_>, DbErr>>()
            .map_err(store_err)?;
        let duplicates = checkin::Entity::find()
            .filter(checkin::Column::ScheduleId.eq(schedule.0))
            .filter(checkin::Column::Duplicate.eq(true))
            .order_by_asc(checkin::Column::Id)
            .limit(DUPLICATES_LISTED)
            .all(db)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(|c| to_checkin(c, false))
            .collect::<Result<_, _>>()
            .map_err(store_err)?;
        Ok(CheckinStats {
            tickets,
            admitted,
            not_scanned,
            revoked,
            per_gate_minute: rules::per_gate_minute(rows),
            duplicates,
        })
    }
}

/// One check-in inside the caller's write transaction (see
/// `TicketRepository::record_checkin`); `None` when it lost a race (a concurrent scan of
/// the ticket or of the nonce committed meanwhile): the caller rolls back and looks again.
async fn record_in<C: ConnectionTrait>(
    txn: &C,
    new: &NewCheckin,
) -> Result<Option<Checkin>, Fail<StoreError>> {
    let scanned_at = ms(new.scan.scanned_at);
    let (result, reason, ticket_id, first) = match &new.decision {
        Decision::Refuse {
            result,
            reason,
            ticket,
        } => (*result, *reason, *ticket, None),
        Decision::Admit { ticket, generation } => {
            let took = ticket::Entity::update_many()
                .col_expr(ticket::Column::AdmittedAt, Expr::value(Some(scanned_at)))
                .col_expr(
                    ticket::Column::AdmittedGate,
                    Expr::value(Some(new.scan.gate.clone())),
                )
                .filter(ticket::Column::Id.eq(ticket.0))
                .filter(ticket::Column::ScheduleId.eq(new.schedule_id.0))
                .filter(ticket::Column::AdmittedAt.is_null())
                .filter(ticket::Column::RevokedAt.is_null())
                .filter(ticket::Column::Generation.eq(i64::from(*generation)))
                .exec(txn)
                .await?
                .rows_affected;
            if took == 1 {
                (CheckResult::Admitted, None, Some(*ticket), None)
            } else {
                let row = ticket::Entity::find_by_id(ticket.0)
                    .filter(ticket::Column::ScheduleId.eq(new.schedule_id.0))
                    .one(txn)
                    .await?;
                let stored = match row {
                    Some(t) => Some(to_ticket(t, 0)?),
                    None => None,
                };
                let Some((result, reason)) = rules::stored_refusal(stored.as_ref(), *generation)
                else {
                    return Ok(None);
                };
                let first = stored.and_then(|t| t.admitted);
                (result, reason, Some(*ticket), first)
            }
        }
    };
    let duplicate = rules::is_duplicate(new.scan.offline_result, result);
    let row = checkin::ActiveModel {
        nonce: Set(new.scan.nonce.clone()),
        schedule_id: Set(new.schedule_id.0),
        ticket_id: Set(ticket_id.map(|t| t.0)),
        admits_ticket_id: Set((result == CheckResult::Admitted)
            .then_some(ticket_id.map(|t| t.0))
            .flatten()),
        gate: Set(new.scan.gate.clone()),
        device: Set(new.scan.device.clone()),
        scanned_at: Set(scanned_at),
        received_at: Set(ms(new.received_at)),
        result: Set(result.as_str().to_owned()),
        reason: Set(reason.map(|r| r.as_str().to_owned())),
        first_at: Set(first.as_ref().map(|f| ms(f.at))),
        first_gate: Set(first.as_ref().map(|f| f.gate.clone())),
        duplicate: Set(duplicate),
        offline_result: Set(new.scan.offline_result.map(|r| r.as_str().to_owned())),
        ..Default::default()
    };
    let inserted = checkin::Entity::insert(row.clone()).exec(txn).await;
    let id = match inserted {
        Ok(r) => r.last_insert_id,
        Err(e) if is_unique_violation(&e) => {
            // The same nonce committed meanwhile: the caller rolls back and looks again.
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Some(Checkin {
        id,
        nonce: new.scan.nonce.clone(),
        schedule_id: new.schedule_id,
        ticket_id,
        gate: new.scan.gate.clone(),
        device: new.scan.device.clone(),
        scanned_at: at(scanned_at)?,
        received_at: at(ms(new.received_at))?,
        result,
        reason,
        first,
        duplicate,
        offline_result: new.scan.offline_result,
        replayed: false,
    }))
}
