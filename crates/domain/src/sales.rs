//! The sales use case (operators): how a concert's places stand per schedule — left,
//! held, sold, revenue; per seat category, per section and per standing area — and the
//! list of its paid seats for export.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::boxoffice::port::OrderRepository;
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

/// How a group of places stands: the places, those left, held and sold, and what the
/// sold ones brought in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: u64,
    pub available: u64,
    /// Held by a fan right now (an expired hold counts as available).
    pub held: u64,
    pub sold: u64,
    /// Sum of the sold places' prices, minor units.
    pub revenue: i64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.total += other.total;
        self.available += other.available;
        self.held += other.held;
        self.sold += other.sold;
        self.revenue = self.revenue.saturating_add(other.revenue);
    }

    fn count_seat(&mut self, status: SeatStatus, price: i64) {
        self.total += 1;
        match status {
            SeatStatus::Available => self.available += 1,
            SeatStatus::Held => self.held += 1,
            SeatStatus::Sold => {
                self.sold += 1;
                self.revenue = self.revenue.saturating_add(price);
            }
        }
    }
}

/// The seats of one category or one section of a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSales {
    /// The category's or the section's name.
    pub name: String,
    pub counts: Counts,
}

/// One standing area of a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AreaSales {
    pub area: String,
    pub category: String,
    /// One place's price, minor units.
    pub price: i64,
    pub counts: Counts,
}

/// How the places of one schedule stand: seats and standing places together, then per
/// seat category, per section and per standing area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSales {
    pub schedule_id: ScheduleId,
    pub starts_at: DateTime<Utc>,
    pub counts: Counts,
    /// By seat category, in name order.
    pub categories: Vec<GroupSales>,
    /// By section (seated), in name order.
    pub sections: Vec<GroupSales>,
    /// By standing area, in the venue's order.
    pub standing: Vec<AreaSales>,
}

/// How the places of a concert stand: each schedule, then the sums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesSummary {
    pub concert_id: ConcertId,
    pub schedules: Vec<ScheduleSales>,
    pub counts: Counts,
}

/// Sales figures and the export of paid seats.
#[derive(Clone)]
pub struct Sales {
    catalog: Arc<dyn CatalogRepository>,
    payments: Arc<dyn PaymentRepository>,
    orders: Arc<dyn OrderRepository>,
    clock: Arc<dyn Clock>,
}

impl Sales {
    pub fn new(
        catalog: Arc<dyn CatalogRepository>,
        payments: Arc<dyn PaymentRepository>,
        orders: Arc<dyn OrderRepository>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Sales {
            catalog,
            payments,
            orders,
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
            counts: Counts::default(),
        };
        for s in schedules {
            let row = self.schedule_sales(s.id, s.starts_at, now).await?;
            out.counts.add(&row.counts);
            out.schedules.push(row);
        }
        Ok(out)
    }

    /// One schedule's places (a schedule deleted between reads has none left to count).
    async fn schedule_sales(
        &self,
        schedule: ScheduleId,
        starts_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<ScheduleSales, SalesError> {
        use std::collections::BTreeMap;
        let seats = self
            .catalog
            .list_seats(schedule, now)
            .await?
            .unwrap_or_default();
        let mut counts = Counts::default();
        let mut categories: BTreeMap<&str, Counts> = BTreeMap::new();
        let mut sections: BTreeMap<&str, Counts> = BTreeMap::new();
        for seat in &seats {
            let price = seat.price.minor_units();
            counts.count_seat(seat.status, price);
            categories
                .entry(&seat.category)
                .or_default()
                .count_seat(seat.status, price);
            sections
                .entry(&seat.section)
                .or_default()
                .count_seat(seat.status, price);
        }
        let standing: Vec<AreaSales> = self
            .orders
            .standing_areas(schedule)
            .await?
            .into_iter()
            .map(|a| {
                let price = a.price.minor_units();
                AreaSales {
                    counts: Counts {
                        total: a.capacity,
                        available: a.available,
                        held: a.held,
                        sold: a.sold,
                        revenue: price.saturating_mul(i64::try_from(a.sold).unwrap_or(i64::MAX)),
                    },
                    area: a.area,
                    category: a.category,
                    price,
                }
            })
            .collect();
        for a in &standing {
            counts.add(&a.counts);
        }
        let group = |m: BTreeMap<&str, Counts>| {
            m.into_iter()
                .map(|(name, counts)| GroupSales {
                    name: name.to_owned(),
                    counts,
                })
                .collect()
        };
        Ok(ScheduleSales {
            schedule_id: schedule,
            starts_at,
            counts,
            categories: group(categories),
            sections: group(sections),
            standing,
        })
    }

    /// Every sold place (seat or standing) of `concert`, in the order they were paid.
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
    use crate::boxoffice::model::AreaAvailability;
    use crate::boxoffice::port::MockOrderRepository;
    use crate::model::{
        Concert, Money, OrderId, ReservationId, ScheduleSummary, Seat, SeatId, SeatStatus,
        SoldPlace, UserId,
    };
    use crate::ports::{MockCatalogRepository, MockClock, MockPaymentRepository};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn sales(catalog: MockCatalogRepository, payments: MockPaymentRepository) -> Sales {
        let mut orders = MockOrderRepository::new();
        orders.expect_standing_areas().returning(|schedule| {
            // Schedule 2 has a standing area of 10: 2 held, 3 sold at 50.
            Ok(if schedule == ScheduleId(2) {
                vec![AreaAvailability {
                    area: "Floor".into(),
                    category: "Standing".into(),
                    price: Money::from_u32(50),
                    capacity: 10,
                    available: 5,
                    held: 2,
                    sold: 3,
                }]
            } else {
                vec![]
            })
        });
        let mut clock = MockClock::new();
        clock.expect_now().returning(now);
        Sales::new(
            Arc::new(catalog),
            Arc::new(payments),
            Arc::new(orders),
            Arc::new(clock),
        )
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
    async fn the_summary_counts_each_status_per_schedule_group_area_and_in_total() {
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
                let mut vip = seat(5, 2, 300, SeatStatus::Sold);
                vip.category = "VIP".into();
                vip.section = "Balcony".into();
                vec![seat(4, 2, 300, SeatStatus::Sold), vip]
            }))
        });
        let s = sales(c, MockPaymentRepository::new())
            .summary(ConcertId(7))
            .await
            .unwrap();
        let c = |total, available, held, sold, revenue| Counts {
            total,
            available,
            held,
            sold,
            revenue,
        };
        assert_eq!(s.concert_id, ConcertId(7));
        assert_eq!(s.schedules.len(), 2);
        assert_eq!(s.schedules[0].counts, c(3, 1, 1, 1, 250));
        assert!(s.schedules[0].standing.is_empty());
        // Two seats and ten standing places, 3 of them sold at 50.
        assert_eq!(s.schedules[1].counts, c(12, 5, 2, 5, 750));
        let names = |g: &[GroupSales]| {
            g.iter()
                .map(|g| (g.name.clone(), g.counts.sold))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&s.schedules[1].categories),
            [("Standard".to_owned(), 1), ("VIP".to_owned(), 1)]
        );
        assert_eq!(
            names(&s.schedules[1].sections),
            [("Balcony".to_owned(), 1), ("Main".to_owned(), 1)]
        );
        assert_eq!(s.schedules[1].standing[0].counts, c(10, 5, 2, 3, 150));
        assert_eq!(s.counts, c(15, 6, 3, 6, 1000));
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
            order_id: Some(OrderId(7)),
            schedule_id: ScheduleId(1),
            place: SoldPlace::Seat {
                reservation_id: ReservationId(3),
                seat_id: SeatId(9),
                label: "B-2".into(),
            },
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
