//! `OrderRepository` that drops the cached answers an order changed: the seat map and
//! availability of its schedule and its concert's detail, after a hold, a payment, a
//! cancellation or a sweep through this instance — so a fan who just ordered sees their
//! seats taken on the next read, as the one-seat holds always did.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use frontrow_domain::boxoffice::model::{
    AreaAvailability, Availability, NewPresaleCodes, Order, OrderHead, OrderReceipt, PayOrder,
    PlaceOrder, PresaleCode, VenueSeat,
};
use frontrow_domain::boxoffice::port::{
    OrderChangeError, OrderPayError, OrderRepository, PlaceError, PresaleError,
};
use frontrow_domain::error::StoreError;
use frontrow_domain::model::{ConcertId, OrderId, ScheduleId, SeatId, UserId};

use super::{ReadCache, ReadKey, seat_change};

pub struct InvalidatingOrders {
    inner: Arc<dyn OrderRepository>,
    cache: Arc<ReadCache>,
}

impl InvalidatingOrders {
    pub fn new(inner: Arc<dyn OrderRepository>, cache: Arc<ReadCache>) -> Self {
        InvalidatingOrders { inner, cache }
    }

    async fn changed(&self, o: &Order) {
        self.cache
            .invalidate(&seat_change(o.concert_id, o.schedule_id))
            .await;
    }
}

#[async_trait]
impl OrderRepository for InvalidatingOrders {
    async fn venue(&self, schedule: ScheduleId) -> Result<Option<Vec<VenueSeat>>, StoreError> {
        self.inner.venue(schedule).await
    }

    async fn taken_seats(
        &self,
        schedule: ScheduleId,
        now: DateTime<Utc>,
    ) -> Result<Vec<SeatId>, StoreError> {
        self.inner.taken_seats(schedule, now).await
    }

    async fn place(&self, req: PlaceOrder) -> Result<Order, PlaceError> {
        let schedule = req.schedule_id;
        let placed = self.inner.place(req).await;
        match &placed {
            Ok(o) => self.changed(o).await,
            // The client saw the seats free: make the next seat map fresh.
            Err(PlaceError::SeatsTaken(_)) => {
                self.cache.invalidate(&[ReadKey::Seats(schedule)]).await;
            }
            Err(_) => {}
        }
        placed
    }

    async fn order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        self.inner.order(id).await
    }

    async fn order_head(&self, id: OrderId) -> Result<Option<OrderHead>, StoreError> {
        self.inner.order_head(id).await
    }

    async fn orders_of(&self, user: UserId, limit: u64) -> Result<Vec<Order>, StoreError> {
        self.inner.orders_of(user, limit).await
    }

    async fn cancel(
        &self,
        user: UserId,
        id: OrderId,
        now: DateTime<Utc>,
    ) -> Result<Order, OrderChangeError> {
        let o = self.inner.cancel(user, id, now).await?;
        self.changed(&o).await;
        Ok(o)
    }

    async fn extend(
        &self,
        user: UserId,
        id: OrderId,
        by: Duration,
        now: DateTime<Utc>,
    ) -> Result<Order, OrderChangeError> {
        self.inner.extend(user, id, by, now).await
    }

    async fn pay(&self, req: PayOrder) -> Result<OrderReceipt, OrderPayError> {
        let r = self.inner.pay(req).await?;
        if !r.replayed {
            self.cache
                .invalidate(&seat_change(r.concert_id, r.schedule_id))
                .await;
        }
        Ok(r)
    }

    async fn release_expired(&self, now: DateTime<Utc>, limit: u64) -> Result<u64, StoreError> {
        let n = self.inner.release_expired(now, limit).await?;
        if n > 0 {
            // Which schedules is not told: every seat answer may have changed.
            self.cache.invalidate_all().await;
        }
        Ok(n)
    }

    async fn live_orders_for_concert(
        &self,
        user: UserId,
        concert: ConcertId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.inner.live_orders_for_concert(user, concert, now).await
    }

    async fn standing_areas(
        &self,
        schedule: ScheduleId,
    ) -> Result<Vec<AreaAvailability>, StoreError> {
        self.inner.standing_areas(schedule).await
    }

    async fn availability(
        &self,
        schedule: ScheduleId,
        now: DateTime<Utc>,
    ) -> Result<Option<Availability>, StoreError> {
        self.inner.availability(schedule, now).await
    }

    async fn create_presale_codes(
        &self,
        new: NewPresaleCodes,
    ) -> Result<Vec<PresaleCode>, PresaleError> {
        self.inner.create_presale_codes(new).await
    }

    async fn presale_codes(
        &self,
        schedule: ScheduleId,
    ) -> Result<Option<Vec<PresaleCode>>, StoreError> {
        self.inner.presale_codes(schedule).await
    }

    async fn presale_code(
        &self,
        schedule: ScheduleId,
        code: &str,
    ) -> Result<Option<PresaleCode>, StoreError> {
        self.inner.presale_code(schedule, code).await
    }

    async fn cancel_presale_code(
        &self,
        schedule: ScheduleId,
        code: &str,
    ) -> Result<bool, StoreError> {
        self.inner.cancel_presale_code(schedule, code).await
    }
}
