//! One way to sell a seat: every live one-seat reservation made before orders existed
//! becomes an order of one. A held one becomes a `HELD` order with the same expiry; a
//! confirmed one a `PAID` order with its payment (same amount, balance and idempotency
//! key, so a retried payment still replays) and its ticket, so it can be shown at the
//! gate, returned, and refunded when its show is cancelled. Ended reservations (cancelled,
//! expired) stay as they are: nothing is live in them.
//!
//! Row by row through sea-query, so it runs alike on SQLite, MySQL/MariaDB and
//! PostgreSQL; a reservation already in an order is never touched, so the step can run
//! again after an interruption.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{
    ConnectionTrait, DbBackend, FromQueryResult, Statement, TransactionTrait,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A live reservation of no order, with what its order needs.
#[derive(Debug, FromQueryResult)]
struct Legacy {
    id: i64,
    user_id: i64,
    concert_id: i64,
    schedule_id: i64,
    seat_id: i64,
    price: i64,
    status: String,
    created_at: i64,
    expires_at: i64,
    paid_at: Option<i64>,
    extended_at: Option<i64>,
}

#[derive(Debug, FromQueryResult)]
struct Payment {
    idempotency_key: String,
    amount: i64,
    balance_after: i64,
    paid_at: i64,
}

#[derive(Debug, FromQueryResult)]
struct SeatName {
    label: String,
    category: String,
}

#[derive(Debug, FromQueryResult)]
struct Count {
    n: i64,
}

/// At most this many reservations are read at once.
const BATCH: u64 = 500;

fn t(name: &str) -> Alias {
    Alias::new(name)
}

fn build(backend: DbBackend, q: &impl sea_orm_migration::sea_orm::StatementBuilder) -> Statement {
    backend.build(q)
}

/// Inserts `q` and returns the new row's id (`RETURNING` where the database has it, the
/// connection's last insert id on MySQL).
async fn insert_id(conn: &impl ConnectionTrait, mut q: InsertStatement) -> Result<i64, DbErr> {
    let backend = conn.get_database_backend();
    match backend {
        DbBackend::MySql => {
            let r = conn.execute_raw(build(backend, &q)).await?;
            <i64 as TryFrom<u64>>::try_from(r.last_insert_id())
                .map_err(|_| DbErr::Custom("insert id out of range".into()))
        }
        _ => {
            q.returning_col(t("id"));
            let row = conn
                .query_one_raw(build(backend, &q))
                .await?
                .ok_or_else(|| DbErr::Custom("insert returned no id".into()))?;
            row.try_get("", "id")
        }
    }
}

async fn one_order(conn: &impl ConnectionTrait, r: &Legacy) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    let paid = r.status == "CONFIRMED";
    let order_id = insert_id(
        conn,
        Query::insert()
            .into_table(t("orders"))
            .columns([
                t("user_id"),
                t("concert_id"),
                t("schedule_id"),
                t("status"),
                t("total"),
                t("together"),
                t("lone_seats_left"),
                t("created_at"),
                t("expires_at"),
                t("admitted_until"),
                t("extended_at"),
                t("paid_at"),
                t("version"),
            ])
            .values_panic([
                r.user_id.into(),
                r.concert_id.into(),
                r.schedule_id.into(),
                (if paid { "PAID" } else { "HELD" }).into(),
                r.price.into(),
                true.into(),
                0i32.into(),
                r.created_at.into(),
                r.expires_at.into(),
                r.expires_at.into(),
                r.extended_at.into(),
                r.paid_at.into(),
                0i64.into(),
            ])
            .to_owned(),
    )
    .await?;
    conn.execute_raw(build(
        backend,
        Query::update()
            .table(t("reservations"))
            .value(t("order_id"), order_id)
            .and_where(Expr::col(t("id")).eq(r.id))
            .and_where(Expr::col(t("order_id")).is_null()),
    ))
    .await?;
    if !paid {
        return Ok(());
    }
    // The payment, under its key unless the fan has used that key for an order since.
    let payment = Payment::find_by_statement(build(
        backend,
        Query::select()
            .columns([
                t("idempotency_key"),
                t("amount"),
                t("balance_after"),
                t("paid_at"),
            ])
            .from(t("payments"))
            .and_where(Expr::col(t("reservation_id")).eq(r.id)),
    ))
    .one(conn)
    .await?;
    let (key, amount, balance, paid_at) = match payment {
        Some(p) => (p.idempotency_key, p.amount, p.balance_after, p.paid_at),
        None => (
            format!("reservation-{}", r.id),
            r.price,
            0,
            r.paid_at.unwrap_or(r.created_at),
        ),
    };
    let taken = Count::find_by_statement(build(
        backend,
        Query::select()
            .expr_as(Expr::col(t("id")).count(), t("n"))
            .from(t("order_payments"))
            .and_where(Expr::col(t("user_id")).eq(r.user_id))
            .and_where(Expr::col(t("idempotency_key")).eq(key.as_str())),
    ))
    .one(conn)
    .await?
    .map_or(0, |c| c.n);
    let key = if taken > 0 {
        format!("reservation-{}", r.id)
    } else {
        key
    };
    conn.execute_raw(build(
        backend,
        Query::insert()
            .into_table(t("order_payments"))
            .columns([
                t("order_id"),
                t("user_id"),
                t("idempotency_key"),
                t("amount"),
                t("balance_after"),
                t("paid_at"),
            ])
            .values_panic([
                order_id.into(),
                r.user_id.into(),
                key.into(),
                amount.into(),
                balance.into(),
                paid_at.into(),
            ]),
    ))
    .await?;
    let seat = SeatName::find_by_statement(build(
        backend,
        Query::select()
            .columns([t("label"), t("category")])
            .from(t("seats"))
            .and_where(Expr::col(t("id")).eq(r.seat_id)),
    ))
    .one(conn)
    .await?
    .ok_or_else(|| DbErr::Custom(format!("seat {} of reservation {}", r.seat_id, r.id)))?;
    conn.execute_raw(build(
        backend,
        Query::insert()
            .into_table(t("tickets"))
            .columns([
                t("order_id"),
                t("user_id"),
                t("schedule_id"),
                t("seat_id"),
                t("label"),
                t("category"),
                t("issued_at"),
                t("generation"),
            ])
            .values_panic([
                order_id.into(),
                r.user_id.into(),
                r.schedule_id.into(),
                r.seat_id.into(),
                seat.label.into(),
                seat.category.into(),
                paid_at.into(),
                0i64.into(),
            ]),
    ))
    .await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        loop {
            let batch = Legacy::find_by_statement(build(
                backend,
                Query::select()
                    .columns([
                        t("id"),
                        t("user_id"),
                        t("concert_id"),
                        t("schedule_id"),
                        t("seat_id"),
                        t("price"),
                        t("status"),
                        t("created_at"),
                        t("expires_at"),
                        t("paid_at"),
                        t("extended_at"),
                    ])
                    .from(t("reservations"))
                    .and_where(Expr::col(t("order_id")).is_null())
                    .and_where(Expr::col(t("status")).is_in(["HELD", "CONFIRMED"]))
                    .order_by(t("id"), Order::Asc)
                    .limit(BATCH),
            ))
            .all(db)
            .await?;
            if batch.is_empty() {
                return Ok(());
            }
            for r in &batch {
                let txn = db.begin().await?;
                one_order(&txn, r).await?;
                txn.commit().await?;
            }
        }
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // Forward only: the orders are the reservations' record from now on.
        Ok(())
    }
}
