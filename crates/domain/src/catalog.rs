//! The catalog use case: the operator creates concerts; fans read concerts, schedules
//! and seat maps.

use std::sync::Arc;

use crate::error::StoreError;
use crate::model::{
    Concert, ConcertDetail, ConcertId, Money, NewConcert, ScheduleId, ScheduleSummary, Seat,
};
use crate::ports::{CatalogRepository, Clock};

/// Largest seat map a schedule may have, and other catalog bounds.
pub const MAX_ROWS: u32 = 100;
pub const MAX_SEATS_PER_ROW: u32 = 500;
pub const MAX_SCHEDULES: usize = 50;
pub const MAX_PRICE: Money = Money::from_u32(100_000_000);

/// Errors of the catalog use case.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("concert not found")]
    ConcertNotFound,
    #[error("schedule not found")]
    ScheduleNotFound,
    /// A new concert out of the catalog bounds; the text names the field.
    #[error("invalid concert: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Concerts, schedules and seat maps.
#[derive(Clone)]
pub struct Catalog {
    catalog: Arc<dyn CatalogRepository>,
    clock: Arc<dyn Clock>,
}

impl Catalog {
    pub fn new(catalog: Arc<dyn CatalogRepository>, clock: Arc<dyn Clock>) -> Self {
        Catalog { catalog, clock }
    }

    /// Creates a concert with its schedules and seat maps, after checking every bound.
    pub async fn create_concert(&self, new: NewConcert) -> Result<ConcertDetail, CatalogError> {
        validate_new_concert(&new).map_err(CatalogError::Invalid)?;
        Ok(self.catalog.create_concert(new).await?)
    }

    pub async fn concerts(&self) -> Result<Vec<Concert>, CatalogError> {
        Ok(self.catalog.list_concerts().await?)
    }

    pub async fn concert(&self, id: ConcertId) -> Result<ConcertDetail, CatalogError> {
        self.catalog
            .get_concert(id, self.clock.now())
            .await?
            .ok_or(CatalogError::ConcertNotFound)
    }

    pub async fn schedules(&self, id: ConcertId) -> Result<Vec<ScheduleSummary>, CatalogError> {
        self.catalog
            .list_schedules(id, self.clock.now())
            .await?
            .ok_or(CatalogError::ConcertNotFound)
    }

    pub async fn seats(&self, id: ScheduleId) -> Result<Vec<Seat>, CatalogError> {
        self.catalog
            .list_seats(id, self.clock.now())
            .await?
            .ok_or(CatalogError::ScheduleNotFound)
    }
}

/// Checks an operator's new concert against the catalog bounds.
fn validate_new_concert(new: &NewConcert) -> Result<(), String> {
    let title = new.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err("title must be 1 to 200 characters".into());
    }
    let venue = new.venue.trim();
    if venue.is_empty() || venue.chars().count() > 200 {
        return Err("venue must be 1 to 200 characters".into());
    }
    if new.schedules.is_empty() || new.schedules.len() > MAX_SCHEDULES {
        return Err(format!("schedules must have 1 to {MAX_SCHEDULES} entries"));
    }
    for (i, s) in new.schedules.iter().enumerate() {
        if let Some(layout) = &s.layout {
            layout
                .validate()
                .map_err(|e| format!("schedules[{i}].{e}"))?;
            continue;
        }
        if s.rows == 0 || s.rows > MAX_ROWS {
            return Err(format!(
                "schedules[{i}].rows must be between 1 and {MAX_ROWS}"
            ));
        }
        if s.seats_per_row == 0 || s.seats_per_row > MAX_SEATS_PER_ROW {
            return Err(format!(
                "schedules[{i}].seats_per_row must be between 1 and {MAX_SEATS_PER_ROW}"
            ));
        }
        if s.price > MAX_PRICE {
            return Err(format!(
                "schedules[{i}].price must be between 0 and {MAX_PRICE}"
            ));
        }
    }
    Ok(())
}

/// The label of a seat: row letters (`A`…`Z`, `AA`, `AB`, …) and 1-based number.
pub fn seat_label(row: u32, number: u32) -> String {
    format!("{}-{number}", crate::venue::row_letters(row))
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::model::NewSchedule;
    use crate::ports::{MockCatalogRepository, MockClock};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn catalog(repo: MockCatalogRepository) -> Catalog {
        let mut clock = MockClock::new();
        clock.expect_now().returning(now);
        Catalog::new(Arc::new(repo), Arc::new(clock))
    }

    #[tokio::test]
    async fn unknown_ids_are_not_found_and_outages_are_store_errors() {
        let mut r = MockCatalogRepository::new();
        r.expect_get_concert().returning(|_, _| Ok(None));
        r.expect_list_schedules().returning(|_, _| Ok(None));
        r.expect_list_seats().returning(|_, _| Ok(None));
        r.expect_list_concerts()
            .returning(|| Err(StoreError::new("down")));
        let c = catalog(r);
        assert!(matches!(
            c.concert(ConcertId(1)).await,
            Err(CatalogError::ConcertNotFound)
        ));
        assert!(matches!(
            c.schedules(ConcertId(1)).await,
            Err(CatalogError::ConcertNotFound)
        ));
        assert!(matches!(
            c.seats(ScheduleId(1)).await,
            Err(CatalogError::ScheduleNotFound)
        ));
        assert!(matches!(c.concerts().await, Err(CatalogError::Store(_))));
    }

    #[tokio::test]
    async fn create_concert_rejects_out_of_bounds_maps() {
        let c = catalog(MockCatalogRepository::new()); // create_concert never reached
        let good = NewSchedule {
            starts_at: now(),
            rows: 2,
            seats_per_row: 3,
            price: Money::from_u32(100),
            layout: None,
        };
        let concert = |title: &str, venue: &str, schedules: Vec<NewSchedule>| NewConcert {
            title: title.into(),
            venue: venue.into(),
            schedules,
        };
        for (new, field) in [
            (concert("", "v", vec![good.clone()]), "title"),
            (concert("t", "", vec![good.clone()]), "venue"),
            (concert("t", "v", vec![]), "schedules"),
            (
                concert(
                    "t",
                    "v",
                    vec![NewSchedule {
                        rows: 0,
                        ..good.clone()
                    }],
                ),
                "rows",
            ),
            (
                concert(
                    "t",
                    "v",
                    vec![NewSchedule {
                        seats_per_row: 501,
                        ..good.clone()
                    }],
                ),
                "seats_per_row",
            ),
            (
                concert(
                    "t",
                    "v",
                    vec![NewSchedule {
                        price: Money::from_u32(100_000_001),
                        ..good.clone()
                    }],
                ),
                "price",
            ),
        ] {
            match c.create_concert(new).await {
                Err(CatalogError::Invalid(m)) => assert!(m.contains(field), "{m}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn seat_labels_run_past_z() {
        assert_eq!(seat_label(0, 12), "A-12");
        assert_eq!(seat_label(25, 1), "Z-1");
        assert_eq!(seat_label(26, 1), "AA-1");
        assert_eq!(seat_label(27, 3), "AB-3");
    }
}
