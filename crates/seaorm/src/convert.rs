//! Checked conversions between stored columns and domain types. A value the schema does
//! not allow (an unknown status, an instant out of range, a negative amount) is a corrupt
//! row: it is read as an error, never as some other status, 1970 or zero.

use chrono::{DateTime, Utc};
use frontrow_domain::model::{Money, ReservationStatus, SeatStatus};
use sea_orm::{DbBackend, DbErr, Statement, Value};

fn corrupt(what: String) -> DbErr {
    DbErr::Type(format!("corrupt row: {what}"))
}

/// Epoch milliseconds, the storage format of every instant.
pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// An instant read back from storage.
pub(crate) fn at(ms: i64) -> Result<DateTime<Utc>, DbErr> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| corrupt(format!("instant {ms} ms")))
}

/// An amount read back from storage.
pub(crate) fn money(minor_units: i64) -> Result<Money, DbErr> {
    Money::new(minor_units).map_err(|e| corrupt(e.to_string()))
}

pub(crate) fn reservation_status(s: &str) -> Result<ReservationStatus, DbErr> {
    ReservationStatus::parse(s).ok_or_else(|| corrupt(format!("reservation status {s:?}")))
}

pub(crate) fn seat_status(s: &str) -> Result<SeatStatus, DbErr> {
    SeatStatus::parse(s).ok_or_else(|| corrupt(format!("seat status {s:?}")))
}

/// A hand-written statement with `?` placeholders, numbered `$1, $2, …` for PostgreSQL.
/// For the few reads sea-query cannot say in one statement; no `?` may appear in a
/// literal of `sql`.
pub(crate) fn raw(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = if backend == DbBackend::Postgres {
        let mut n = 0;
        let mut out = String::with_capacity(sql.len() + 8);
        for c in sql.chars() {
            if c == '?' {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            } else {
                out.push(c);
            }
        }
        out
    } else {
        sql.to_owned()
    };
    Statement::from_sql_and_values(backend, sql, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_the_schema_does_not_allow_are_errors() {
        assert!(reservation_status("HELD").is_ok());
        assert!(reservation_status("held").is_err());
        assert!(seat_status("").is_err());
        assert!(at(i64::MAX).is_err());
        assert!(money(-1).is_err());
        assert_eq!(at(0).map(ms).ok(), Some(0));
    }

    #[test]
    fn placeholders_are_numbered_for_postgres_only() {
        let pg = raw(
            DbBackend::Postgres,
            "a = ? AND b = ?",
            vec![1i64.into(), 2i64.into()],
        );
        assert_eq!(pg.sql, "a = $1 AND b = $2");
        let my = raw(
            DbBackend::MySql,
            "a = ? AND b = ?",
            vec![1i64.into(), 2i64.into()],
        );
        assert_eq!(my.sql, "a = ? AND b = ?");
    }
}
