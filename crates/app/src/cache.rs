//! The read cache as decorators of the ports: `CachedCatalog` keeps the hot catalog reads
//! (seat maps, schedule availability, concert detail) for at most the staleness setting;
//! `InvalidatingSeats` and `InvalidatingPayments` drop what each successful write changed.
//!
//! During an on-sale every admitted fan reloads the seat map; without a cache each load is
//! a query over every seat. Concurrent misses of one key wait for a single load (moka's
//! `try_get_with`), so an invalidation brings no thundering herd. Writes through this
//! instance invalidate their keys before they return, so the instance reads its own
//! writes at once; other instances' writes show within the staleness bound. Holds are
//! still decided by the database alone: a stale map can only turn into a 409.
//!
//! Bounded twice: moka evicts by an estimate of each entry's bytes, and an unknown id
//! (a `None` answer) is never stored, so clients cannot grow the cache with made-up ids.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use frontrow_domain::error::{CancelError, HoldError, PaymentError, StoreError};
use frontrow_domain::model::{
    Concert, ConcertDetail, ConcertId, HoldRequest, NewConcert, OrderId, PaymentReceipt,
    PaymentRequest, Reservation, ReservationId, Schedule, ScheduleId, ScheduleSummary, Seat,
    SeatId, UserId,
};
use frontrow_domain::ports::{CatalogRepository, PaymentRepository, SeatRepository};
use moka::future::Cache;

mod orders;
pub use orders::InvalidatingOrders;

/// What is cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ReadKey {
    Seats(ScheduleId),
    Schedules(ConcertId),
    Concert(ConcertId),
}

#[derive(Clone)]
enum Value {
    Seats(Arc<Vec<Seat>>),
    Schedules(Arc<Vec<ScheduleSummary>>),
    Concert(Arc<ConcertDetail>),
}

impl Value {
    /// A rough size in bytes, for moka's weigher.
    fn weight(&self) -> u32 {
        let bytes = match self {
            Value::Seats(s) => s
                .iter()
                .map(|x| size_of::<Seat>() + x.label.len())
                .sum::<usize>(),
            Value::Schedules(s) => s.len() * size_of::<ScheduleSummary>(),
            Value::Concert(c) => {
                c.concert.title.len()
                    + c.concert.venue.len()
                    + c.schedules.len() * size_of::<ScheduleSummary>()
            }
        };
        u32::try_from(bytes + 64).unwrap_or(u32::MAX)
    }
}

#[derive(Clone)]
struct Entry {
    /// The write generation when the load began: a write of this key from then on may
    /// have landed after the database read.
    loaded_from: u64,
    value: Value,
}

/// Why a shared load stored nothing.
#[derive(Debug, thiserror::Error)]
enum Miss {
    /// The id is unknown: answered, never stored.
    #[error("not found")]
    Absent,
    #[error(transparent)]
    Store(StoreError),
}

/// The cache shared by the catalog decorator (which fills it) and the write decorators
/// (which invalidate it).
pub struct ReadCache {
    entries: Cache<ReadKey, Entry>,
    /// Per key, the generation of its last invalidation, kept as long as an entry can
    /// live: moka does not stop a load that began before an invalidation from storing
    /// its (stale) result afterwards, so readers compare generations.
    invalidated: Cache<ReadKey, u64>,
    /// The generation of the last invalidation of every key (the sweeper's).
    all_invalidated: AtomicU64,
    /// Bumped by every invalidation.
    generation: AtomicU64,
}

impl ReadCache {
    /// Entries live at most `ttl` and weigh at most `max_bytes` in all.
    pub fn new(ttl: Duration, max_bytes: u64) -> Self {
        ReadCache {
            entries: Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_, e: &Entry| e.value.weight())
                .time_to_live(ttl)
                .build(),
            // Twice the entries' life: a stale entry stored just after an invalidation
            // must not outlive the record of it.
            invalidated: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl.saturating_mul(2))
                .build(),
            all_invalidated: AtomicU64::new(0),
            generation: AtomicU64::new(0),
        }
    }

    /// How many answers are stored (after moka's pending maintenance).
    pub async fn entry_count(&self) -> u64 {
        self.entries.run_pending_tasks().await;
        self.entries.entry_count()
    }

    async fn invalidate(&self, keys: &[ReadKey]) {
        let g = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        for key in keys {
            self.invalidated.insert(*key, g).await;
            self.entries.invalidate(key).await;
        }
    }

    async fn invalidate_all(&self) {
        let g = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        self.all_invalidated.fetch_max(g, Ordering::AcqRel);
        self.entries.invalidate_all();
    }

    async fn is_stale(&self, key: &ReadKey, e: &Entry) -> bool {
        e.loaded_from < self.all_invalidated.load(Ordering::Acquire)
            || self
                .invalidated
                .get(key)
                .await
                .is_some_and(|g| e.loaded_from < g)
    }

    /// The stored answer for `key`, or the one of `load`, stored unless it is `None`.
    async fn get_or_load<F, Fut>(&self, key: ReadKey, load: F) -> Result<Option<Value>, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<Value>, StoreError>>,
    {
        // A second round only when a write raced the first load; a third would race
        // again under heavy writes, so it reads through instead.
        for _ in 0..2 {
            let found = self
                .entries
                .try_get_with(key, async {
                    let loaded_from = self.generation.load(Ordering::Acquire);
                    match load().await {
                        Ok(Some(value)) => Ok(Entry { loaded_from, value }),
                        Ok(None) => Err(Miss::Absent),
                        Err(e) => Err(Miss::Store(e)),
                    }
                })
                .await;
            match found {
                Ok(e) if self.is_stale(&key, &e).await => self.entries.invalidate(&key).await,
                Ok(e) => return Ok(Some(e.value)),
                Err(miss) => {
                    return match Arc::try_unwrap(miss) {
                        Ok(Miss::Absent) => Ok(None),
                        Ok(Miss::Store(e)) => Err(e),
                        // Shared with the other callers of that load.
                        Err(shared) if matches!(*shared, Miss::Absent) => Ok(None),
                        Err(shared) => Err(StoreError::new(shared)),
                    };
                }
            }
        }
        load().await
    }
}

/// `CatalogRepository` answering seat maps, schedules and concert detail from the cache.
pub struct CachedCatalog {
    inner: Arc<dyn CatalogRepository>,
    cache: Arc<ReadCache>,
}

impl CachedCatalog {
    pub fn new(inner: Arc<dyn CatalogRepository>, cache: Arc<ReadCache>) -> Self {
        CachedCatalog { inner, cache }
    }
}

#[async_trait]
impl CatalogRepository for CachedCatalog {
    async fn create_concert(&self, new: NewConcert) -> Result<ConcertDetail, StoreError> {
        // New ids only: nothing cached can be about them (unknown ids are not stored).
        self.inner.create_concert(new).await
    }

    async fn list_concerts(&self) -> Result<Vec<Concert>, StoreError> {
        self.inner.list_concerts().await
    }

    async fn concert(&self, id: ConcertId) -> Result<Option<Concert>, StoreError> {
        self.inner.concert(id).await
    }

    async fn get_concert(
        &self,
        id: ConcertId,
        now: DateTime<Utc>,
    ) -> Result<Option<ConcertDetail>, StoreError> {
        let found = self
            .cache
            .get_or_load(ReadKey::Concert(id), || async move {
                Ok(self
                    .inner
                    .get_concert(id, now)
                    .await?
                    .map(|c| Value::Concert(Arc::new(c))))
            })
            .await?;
        Ok(match found {
            Some(Value::Concert(c)) => Some(c.as_ref().clone()),
            _ => None,
        })
    }

    async fn get_schedule(&self, id: ScheduleId) -> Result<Option<Schedule>, StoreError> {
        self.inner.get_schedule(id).await
    }

    async fn list_seats(
        &self,
        schedule: ScheduleId,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<Seat>>, StoreError> {
        let found = self
            .cache
            .get_or_load(ReadKey::Seats(schedule), || async move {
                Ok(self
                    .inner
                    .list_seats(schedule, now)
                    .await?
                    .map(|s| Value::Seats(Arc::new(s))))
            })
            .await?;
        Ok(match found {
            Some(Value::Seats(s)) => Some(s.as_ref().clone()),
            _ => None,
        })
    }

    async fn list_schedules(
        &self,
        concert: ConcertId,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<ScheduleSummary>>, StoreError> {
        let found = self
            .cache
            .get_or_load(ReadKey::Schedules(concert), || async move {
                Ok(self
                    .inner
                    .list_schedules(concert, now)
                    .await?
                    .map(|s| Value::Schedules(Arc::new(s))))
            })
            .await?;
        Ok(match found {
            Some(Value::Schedules(s)) => Some(s.as_ref().clone()),
            _ => None,
        })
    }
}

/// The keys a change of one seat of `schedule` (of `concert`) makes stale.
fn seat_change(concert: ConcertId, schedule: ScheduleId) -> [ReadKey; 3] {
    [
        ReadKey::Seats(schedule),
        ReadKey::Schedules(concert),
        ReadKey::Concert(concert),
    ]
}

/// `SeatRepository` that invalidates the cache after every write that changed a seat.
pub struct InvalidatingSeats {
    inner: Arc<dyn SeatRepository>,
    cache: Arc<ReadCache>,
}

impl InvalidatingSeats {
    pub fn new(inner: Arc<dyn SeatRepository>, cache: Arc<ReadCache>) -> Self {
        InvalidatingSeats { inner, cache }
    }
}

#[async_trait]
impl SeatRepository for InvalidatingSeats {
    async fn hold(&self, req: HoldRequest) -> Result<Reservation, HoldError> {
        let schedule = req.schedule_id;
        let held = self.inner.hold(req).await;
        match &held {
            Ok(r) => {
                self.cache
                    .invalidate(&seat_change(r.concert_id, schedule))
                    .await
            }
            // The client saw the seat free: make the next seat map fresh.
            Err(HoldError::SeatTaken) => self.cache.invalidate(&[ReadKey::Seats(schedule)]).await,
            Err(_) => {}
        }
        held
    }

    async fn reservation(&self, id: ReservationId) -> Result<Option<Reservation>, StoreError> {
        self.inner.reservation(id).await
    }

    async fn reservation_in_order(
        &self,
        order: OrderId,
        seat: SeatId,
    ) -> Result<Option<Reservation>, StoreError> {
        self.inner.reservation_in_order(order, seat).await
    }

    async fn cancel(
        &self,
        user: UserId,
        id: ReservationId,
        now: DateTime<Utc>,
    ) -> Result<Reservation, CancelError> {
        let r = self.inner.cancel(user, id, now).await?;
        self.cache
            .invalidate(&seat_change(r.concert_id, r.schedule_id))
            .await;
        Ok(r)
    }

    async fn extend(
        &self,
        req: frontrow_domain::model::ExtendRequest,
    ) -> Result<Reservation, frontrow_domain::error::ExtendError> {
        let r = self.inner.extend(req).await?;
        self.cache
            .invalidate(&seat_change(r.concert_id, r.schedule_id))
            .await;
        Ok(r)
    }

    async fn release_expired(&self, now: DateTime<Utc>, limit: u64) -> Result<u64, StoreError> {
        let n = self.inner.release_expired(now, limit).await?;
        if n > 0 {
            // The port does not say which seats: every answer may be stale.
            self.cache.invalidate_all().await;
        }
        Ok(n)
    }

    async fn seat_counts(
        &self,
        concert: ConcertId,
        now: DateTime<Utc>,
    ) -> Result<frontrow_domain::queue::SeatCounts, StoreError> {
        self.inner.seat_counts(concert, now).await
    }
}

/// `PaymentRepository` that invalidates the cache after every payment that sold a seat.
pub struct InvalidatingPayments {
    inner: Arc<dyn PaymentRepository>,
    cache: Arc<ReadCache>,
}

impl InvalidatingPayments {
    pub fn new(inner: Arc<dyn PaymentRepository>, cache: Arc<ReadCache>) -> Self {
        InvalidatingPayments { inner, cache }
    }
}

#[async_trait]
impl PaymentRepository for InvalidatingPayments {
    async fn pay(&self, req: PaymentRequest) -> Result<PaymentReceipt, PaymentError> {
        let receipt = self.inner.pay(req).await?;
        if !receipt.replayed {
            self.cache
                .invalidate(&seat_change(receipt.concert_id, receipt.schedule_id))
                .await;
        }
        Ok(receipt)
    }

    async fn sales(
        &self,
        concert: frontrow_domain::model::ConcertId,
    ) -> Result<Vec<frontrow_domain::model::Sale>, frontrow_domain::error::StoreError> {
        self.inner.sales(concert).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::AtomicUsize;

    use chrono::TimeZone;
    use frontrow_domain::model::{Money, ReservationStatus, SeatId, SeatStatus};
    use frontrow_domain::ports::{MockCatalogRepository, MockSeatRepository};

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn seats(n: usize) -> Vec<Seat> {
        vec![Seat {
            id: SeatId(1),
            schedule_id: ScheduleId(1),
            label: format!("A-{n}"),
            price: Money::from_u32(1),
            status: SeatStatus::Available,
            section: "Main".into(),
            row: "A".into(),
            number: 1,
            x: 0,
            category: "Standard".into(),
            accessible: false,
        }]
    }

    /// A catalog whose schedule 1 exists (its label counts the loads), others unknown;
    /// every load takes 20 ms.
    fn counting_catalog(loads: Arc<AtomicUsize>) -> Arc<dyn CatalogRepository> {
        let mut m = MockCatalogRepository::new();
        m.expect_list_seats().returning(move |id, _| {
            let n = loads.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(20));
            Ok((id == ScheduleId(1)).then(|| seats(n)))
        });
        Arc::new(m)
    }

    /// The first load's hand-shake with the test: it says it has started, then waits.
    type Gate = Arc<
        std::sync::Mutex<
            Option<(
                tokio::sync::oneshot::Sender<()>,
                std::sync::mpsc::Receiver<()>,
            )>,
        >,
    >;

    /// Arms `gate`: the receiver hears the first load start, the sender lets it finish.
    fn gate(
        gate: &Gate,
    ) -> (
        tokio::sync::oneshot::Receiver<()>,
        std::sync::mpsc::Sender<()>,
    ) {
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel();
        *gate.lock().unwrap() = Some((started_tx, go_rx));
        (started_rx, go_tx)
    }

    /// As `counting_catalog`, but a load finding `gate` armed waits for the test.
    fn gated_catalog(loads: Arc<AtomicUsize>, gate: Gate) -> Arc<dyn CatalogRepository> {
        let mut m = MockCatalogRepository::new();
        m.expect_list_seats().returning(move |id, _| {
            let n = loads.fetch_add(1, Ordering::SeqCst);
            let armed = gate.lock().unwrap().take();
            if let Some((started, go)) = armed {
                let _ = started.send(());
                go.recv().unwrap();
            }
            Ok((id == ScheduleId(1)).then(|| seats(n)))
        });
        Arc::new(m)
    }

    fn reservation() -> Reservation {
        Reservation {
            id: ReservationId(1),
            user_id: UserId(1),
            concert_id: ConcertId(1),
            schedule_id: ScheduleId(1),
            seat_id: SeatId(1),
            seat_label: "A-1".into(),
            price: Money::from_u32(1),
            status: ReservationStatus::Held,
            created_at: now(),
            expires_at: now(),
            paid_at: None,
            extended_at: None,
            order_id: None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_misses_load_once_and_unknown_ids_are_not_stored() {
        let loads = Arc::new(AtomicUsize::new(0));
        let cache = Arc::new(ReadCache::new(Duration::from_secs(60), 1 << 20));
        let catalog = Arc::new(CachedCatalog::new(
            counting_catalog(loads.clone()),
            cache.clone(),
        ));
        let all = futures::future::join_all((0..10).map(|_| {
            let c = catalog.clone();
            tokio::spawn(async move { c.list_seats(ScheduleId(1), now()).await.unwrap() })
        }))
        .await;
        assert!(all.iter().all(|s| s.as_ref().unwrap().is_some()));
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert!(
            catalog
                .list_seats(ScheduleId(2), now())
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            catalog
                .list_seats(ScheduleId(2), now())
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(loads.load(Ordering::SeqCst), 3);
        assert_eq!(cache.entry_count().await, 1);
    }

    #[tokio::test]
    async fn a_write_through_the_decorators_is_read_back_at_once() {
        let loads = Arc::new(AtomicUsize::new(0));
        let cache = Arc::new(ReadCache::new(Duration::from_secs(60), 1 << 20));
        let catalog = CachedCatalog::new(counting_catalog(loads.clone()), cache.clone());
        let mut inner = MockSeatRepository::new();
        inner.expect_cancel().returning(|_, _, _| Ok(reservation()));
        inner
            .expect_hold()
            .returning(|_| Err(HoldError::LimitReached { limit: 1 }));
        let seats = InvalidatingSeats::new(Arc::new(inner), cache.clone());

        let first = catalog.list_seats(ScheduleId(1), now()).await.unwrap();
        assert_eq!(first.unwrap()[0].label, "A-0");
        seats
            .cancel(UserId(1), ReservationId(1), now())
            .await
            .unwrap();
        let second = catalog.list_seats(ScheduleId(1), now()).await.unwrap();
        assert_eq!(second.unwrap()[0].label, "A-1");
        // A refused hold changed nothing: the entry stays.
        let _ = seats
            .hold(HoldRequest {
                user_id: UserId(1),
                schedule_id: ScheduleId(1),
                seat_id: SeatId(1),
                now: now(),
                expires_at: now(),
                max_held_per_user: 1,
            })
            .await;
        catalog.list_seats(ScheduleId(1), now()).await.unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_load_that_raced_a_write_is_not_served_after_it() {
        let loads = Arc::new(AtomicUsize::new(0));
        let gated: Gate = Arc::default();
        let cache = Arc::new(ReadCache::new(Duration::from_secs(60), 1 << 20));
        let catalog = Arc::new(CachedCatalog::new(
            gated_catalog(loads.clone(), gated.clone()),
            cache.clone(),
        ));
        // The load starts, the write lands and invalidates while it runs, then the load
        // stores its (older) answer: the first load waits for the test's word, so the
        // order is fixed, not left to timing.
        let (started, go) = gate(&gated);
        let slow = {
            let c = catalog.clone();
            tokio::spawn(async move { c.list_seats(ScheduleId(1), now()).await })
        };
        started.await.expect("the load starts");
        cache
            .invalidate(&seat_change(ConcertId(1), ScheduleId(1)))
            .await;
        go.send(()).expect("the load waits");
        slow.await.unwrap().unwrap();
        let after = catalog.list_seats(ScheduleId(1), now()).await.unwrap();
        assert_eq!(after.unwrap()[0].label, "A-1");
    }

    #[tokio::test]
    async fn entries_expire_with_the_staleness_bound() {
        let loads = Arc::new(AtomicUsize::new(0));
        // moka's clock is its own: the bound is wide enough that the two reads just
        // below never straddle it, and the sleep past it can only be too long.
        const TTL: Duration = Duration::from_secs(2);
        let cache = Arc::new(ReadCache::new(TTL, 1 << 20));
        let catalog = CachedCatalog::new(gated_catalog(loads.clone(), Gate::default()), cache);
        catalog.list_seats(ScheduleId(1), now()).await.unwrap();
        catalog.list_seats(ScheduleId(1), now()).await.unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        tokio::time::sleep(TTL + Duration::from_millis(100)).await;
        catalog.list_seats(ScheduleId(1), now()).await.unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn failed_loads_are_not_stored() {
        let mut m = MockCatalogRepository::new();
        let mut first = true;
        m.expect_list_seats().returning(move |_, _| {
            if std::mem::take(&mut first) {
                Err(StoreError::new("down"))
            } else {
                Ok(Some(seats(0)))
            }
        });
        let cache = Arc::new(ReadCache::new(Duration::from_secs(60), 1 << 20));
        let catalog = CachedCatalog::new(Arc::new(m), cache);
        assert!(catalog.list_seats(ScheduleId(1), now()).await.is_err());
        assert!(
            catalog
                .list_seats(ScheduleId(1), now())
                .await
                .unwrap()
                .is_some()
        );
    }
}
