//! Checked conversions between stored columns and domain types. A value the schema does
//! not allow (an unknown status, an instant out of range, a negative amount) is a corrupt
//! row: it is read as an error, never as some other status, 1970 or zero.

use chrono::{DateTime, Utc};
use frontrow_domain::model::{Money, ReservationStatus, SeatStatus};
use sea_orm::DbErr;

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
}
