//! Translating `DbErr` into the ports' errors, and the bounded retry of transactions
//! that lost to a deadlock, a serialization failure or a busy SQLite database.

use std::time::Duration;

use chrono::Utc;
use frontrow_domain::error::StoreError;
use sea_orm::{DbErr, RuntimeErr, SqlErr};

/// How many times a transaction is attempted before a transient failure is reported.
pub(crate) const MAX_ATTEMPTS: u32 = 8;

/// The outcome of one transaction attempt: a domain answer, or a database failure that
/// may be worth retrying.
pub(crate) enum Fail<E> {
    Domain(E),
    Db(DbErr),
}

impl<E> From<DbErr> for Fail<E> {
    fn from(e: DbErr) -> Self {
        Fail::Db(e)
    }
}

pub(crate) fn store_err(e: DbErr) -> StoreError {
    StoreError::new(e)
}

/// Runs `$attempt` (an expression yielding `Result<T, Fail<E>>`) until it succeeds, fails
/// with a domain error, or fails with a non-transient (or too persistent) database error,
/// which becomes `E::from(StoreError)`.
macro_rules! retrying {
    ($attempt:expr) => {{
        let mut tries: u32 = 0;
        loop {
            tries += 1;
            match $attempt {
                Ok(v) => break Ok(v),
                Err($crate::errors::Fail::Domain(e)) => break Err(e),
                Err($crate::errors::Fail::Db(e))
                    if tries < $crate::errors::MAX_ATTEMPTS && $crate::errors::is_transient(&e) =>
                {
                    tracing::debug!(error = %e, tries, "retrying transaction");
                    $crate::errors::backoff(tries).await;
                }
                Err($crate::errors::Fail::Db(e)) => break Err($crate::errors::store_err(e).into()),
            }
        }
    }};
}
pub(crate) use retrying;

pub(crate) async fn backoff(tries: u32) {
    // Jitter from the clock's nanoseconds keeps retrying losers from marching in step.
    let jitter = u64::from(Utc::now().timestamp_subsec_nanos() % 5);
    tokio::time::sleep(Duration::from_millis(u64::from(tries) * 5 + jitter)).await;
}

fn sqlx_db_error(e: &DbErr) -> Option<&(dyn sea_orm::sqlx::error::DatabaseError + 'static)> {
    match e {
        DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e)) => match e.as_ref() {
            sea_orm::sqlx::Error::Database(d) => Some(d.as_ref()),
            _ => None,
        },
        _ => None,
    }
}

/// Deadlocks, lock wait timeouts, serialization failures and SQLite busy/locked: the
/// transaction was rolled back and may succeed when run again.
pub(crate) fn is_transient(e: &DbErr) -> bool {
    let Some(d) = sqlx_db_error(e) else {
        return false;
    };
    if let Some(my) = d.try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>() {
        return matches!(my.number(), 1213 | 1205);
    }
    let code = d.code().unwrap_or_default();
    if d.try_downcast_ref::<sea_orm::sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        return matches!(code.as_ref(), "40001" | "40P01");
    }
    // SQLite: SQLITE_BUSY (5) and SQLITE_LOCKED (6) with their extended codes.
    match code.parse::<i32>() {
        Ok(n) => matches!(n & 0xff, 5 | 6),
        Err(_) => d.message().contains("database is locked"),
    }
}

pub(crate) fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}
