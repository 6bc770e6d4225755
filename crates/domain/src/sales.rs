//! The sales use case (operators): how a concert's seats stand per schedule — left, held,
//! sold, revenue — and the list of its paid seats for export.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::error::StoreError;
use crate::model::{ConcertId, Sale, ScheduleId, SeatStatus};
use crate::ports::{CatalogRepository, Clock, PaymentRepository};

/// Errors of the sales use case.
#[derive(Debug, thiserror::Error)]
pub enum SalesError {
    #[error("concert not found")]
    ConcertNotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How the seats of one schedule stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSales {
    pub schedule_id: ScheduleId,
    pub starts_at: DateTime<Utc>,
    pub total: u64,
    pub available: u64,
    /// Held by a fan right now (an expired hold counts as available).
    pub held: u64,
    pub sold: u64,
    /// Sum of the sold seats' prices, minor units.
    pub revenue: i64,
}

/// How the seats of a concert stand: each schedule, then the sums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesSummary {
    pub concert_id: ConcertId,
    pub schedules: Vec<ScheduleSales>,
    pub total: u64,
    pub available: u64,
    pub held: u64,
    pub sold: u64,
    pub revenue: i64,
}

/// Sales figures and the export of paid seats.
#[derive(Clone)]
pub struct Sales {
    catalog: Arc<dyn CatalogRepository>,
    payments: Arc<dyn PaymentRepository>,
    clock: Arc<dyn Clock>,
}

impl Sales {
    pub fn new(
        catalog: Arc<dyn CatalogRepository>,
        payments: Arc<dyn PaymentRepository>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Sales {
            catalog,
            payments,
            clock,
        }
    }

    /// The seats of `concert` by status, per schedule and in total, as of now.
    #[tracing::instrument(skip_all, fields(concert = %concert), err(level = "debug"))]
    pub async fn summary(&self, concert: ConcertId) -> Result<SalesSummary, SalesError> {
        let now = self.clock.now();
        let schedules = self
            .catalog
            .list_schedules(concert, now)
            .await?
            .ok_or(SalesError::ConcertNotFound)?;
        let mut out = SalesSummary {
            concert_id: concert,
            schedules: Vec::with_capacity(schedules.len()),
            total: 0,
            available: 0,
            held: 0,
            sold: 0,
            revenue: 0,
        };
        for s in schedules {
            // A schedule deleted between the two reads has no seats left to count.
            let seats = self
                .catalog
                .list_seats(s.id, now)
                .await?
                .unwrap_or_default();
            let mut row = ScheduleSales {
                schedule_id: s.id,
                starts_at: s.starts_at,
                total: seats.len() as u64,
                available: 0,
                held: 0,
                sold: 0,
                revenue: 0,
            };
            for seat in &seats {
                match seat.status {
                    SeatStatus::Available => row.available += 1,
                    SeatStatus::Held => row.held += 1,
                    SeatStatus::Sold => {
                        row.sold += 1;
                        row.revenue = row.revenue.saturating_add(seat.price.minor_units());
                    }
                }
            }
            out.total += row.total;
            out.available += row.available;
            out.held += row.held;
            out.sold += row.sold;
            out.revenue = out.revenue.saturating_add(row.revenue);
            out.schedules.push(row);
        }
        Ok(out)
    }

    /// Every paid seat of `concert`, in the order they were paid.
    #[tracing::instrument(skip_all, fields(concert = %concert), err(level = "debug"))]
    pub async fn paid_seats(&self, concert: ConcertId) -> Result<Vec<Sale>, SalesError> {
        if self.catalog.concert(concert).await?.is_none() {
            return Err(SalesError::ConcertNotFound);
        }
        Ok(self.payments.sales(concert).await?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;

    use super::*;
    use crate::model::{
        Concert, Money, ReservationId, ScheduleSummary, Seat, SeatId, SeatStatus, UserId,
    };
    use crate::ports::{MockCatalogRepository, MockClock, MockPaymentRepository};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn sales(catalog: MockCatalogRepository, payments: MockPaymentRepository) -> Sales {
        let mut clock = MockClock::new();
        clock.expect_now().returning(now);
        Sales::new(Arc::new(catalog), Arc::new(payments), Arc::new(clock))
    }

    fn seat(id: i64, schedule: i64, price: u32, status: SeatStatus) -> Seat {
        Seat {
            id: SeatId(id),
            schedule_id: ScheduleId(schedule),
            label: format!("A-{id}"),
            price: Money::from_u32(price),
            status,
            section: "Main".into(),
            row: "A".into(),
            number: u32::try_from(id).unwrap(),
            x: 0,
            category: "Standard".into(),
            accessible: false,
        }
    }

    #[tokio::test]
    async fn the_summary_counts_each_status_per_schedule_and_in_total() {
        let mut c = MockCatalogRepository::new();
        c.expect_list_schedules().returning(|concert, _| {
            Ok(Some(
                [1, 2]
                    .into_iter()
                    .map(|id| ScheduleSummary {
                        id: ScheduleId(id),
                        concert_id: concert,
                        starts_at: now(),
                        total_seats: 3,
                        available_seats: 0,
                    })
                    .collect(),
            ))
        });
        c.expect_list_seats().returning(|schedule, _| {
            Ok(Some(if schedule == ScheduleId(1) {
                vec![
                    seat(1, 1, 100, SeatStatus::Available),
                    seat(2, 1, 100, SeatStatus::Held),
                    seat(3, 1, 250, SeatStatus::Sold),
                ]
            } else {
                vec![
                    seat(4, 2, 300, SeatStatus::Sold),
                    seat(5, 2, 300, SeatStatus::Sold),
                ]
            }))
        });
        let s = sales(c, MockPaymentRepository::new())
            .summary(ConcertId(7))
            .await
            .unwrap();
        assert_eq!(s.concert_id, ConcertId(7));
        assert_eq!(s.schedules.len(), 2);
        assert_eq!(
            (
                s.schedules[0].available,
                s.schedules[0].held,
                s.schedules[0].sold
            ),
            (1, 1, 1)
        );
        assert_eq!(s.schedules[0].revenue, 250);
        assert_eq!(s.schedules[1].revenue, 600);
        assert_eq!((s.total, s.available, s.held, s.sold), (5, 1, 1, 3));
        assert_eq!(s.revenue, 850);
    }

    #[tokio::test]
    async fn an_unknown_concert_is_not_found_and_an_outage_is_a_store_error() {
        let mut c = MockCatalogRepository::new();
        c.expect_list_schedules().returning(|_, _| Ok(None));
        c.expect_concert().returning(|_| Ok(None));
        let s = sales(c, MockPaymentRepository::new());
        assert!(matches!(
            s.summary(ConcertId(1)).await,
            Err(SalesError::ConcertNotFound)
        ));
        assert!(matches!(
            s.paid_seats(ConcertId(1)).await,
            Err(SalesError::ConcertNotFound)
        ));

        let mut c = MockCatalogRepository::new();
        c.expect_list_schedules()
            .returning(|_, _| Err(StoreError::new("down")));
        c.expect_concert().returning(|id| {
            Ok(Some(Concert {
                id,
                title: "t".into(),
                venue: "v".into(),
            }))
        });
        let mut p = MockPaymentRepository::new();
        p.expect_sales().returning(|_| Err(StoreError::new("down")));
        let s = sales(c, p);
        assert!(matches!(
            s.summary(ConcertId(1)).await,
            Err(SalesError::Store(_))
        ));
        assert!(matches!(
            s.paid_seats(ConcertId(1)).await,
            Err(SalesError::Store(_))
        ));
    }

    #[tokio::test]
    async fn paid_seats_are_the_repository_s_sales_of_a_known_concert() {
        let mut c = MockCatalogRepository::new();
        c.expect_concert().returning(|id| {
            Ok(Some(Concert {
                id,
                title: "t".into(),
                venue: "v".into(),
            }))
        });
        let sale = Sale {
            reservation_id: ReservationId(3),
            schedule_id: ScheduleId(1),
            seat_id: SeatId(9),
            seat_label: "B-2".into(),
            user_id: UserId(4),
            price: Money::from_u32(4200),
            paid_at: now(),
        };
        let expected = vec![sale.clone()];
        let mut p = MockPaymentRepository::new();
        p.expect_sales()
            .withf(|c| *c == ConcertId(5))
            .returning(move |_| Ok(vec![sale.clone()]));
        assert_eq!(
            sales(c, p).paid_seats(ConcertId(5)).await.unwrap(),
            expected
        );
    }
}
