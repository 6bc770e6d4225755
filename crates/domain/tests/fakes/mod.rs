//! Hand-written fakes of the ports the booking flow and the waiting room use, for the
//! domain's integration tests (the crate's mockall mocks exist only inside it). Each fake
//! answers from what the test put in it and records what it was asked; a method a test
//! does not set up panics naming itself, so a test never passes on an unplanned call.

#![allow(dead_code)] // each test binary uses its own part of the fakes

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use frontrow_domain::draw::Draw;
use frontrow_domain::draw_archive::{DrawArchive, Receipt};
use frontrow_domain::error::{
    CancelError, ExtendError, HoldError, PaymentError, QueueError, StoreError,
};
use frontrow_domain::lifecycle::{CloseReason, LineLife};
use frontrow_domain::model::{
    Concert, ConcertDetail, ConcertId, ExtendRequest, HoldRequest, NewConcert, OrderId,
    PaymentReceipt, PaymentRequest, Reservation, ReservationId, ReservationStatus, Schedule,
    ScheduleId, ScheduleSummary, Seat, SeatId, UserId,
};
use frontrow_domain::ports::{CatalogRepository, Clock, PaymentRepository, Queue, SeatRepository};
use frontrow_domain::queue::{
    AdmissionCap, Entered, QueuePolicy, QueueStats, QueueToken, SeatCounts, TickReport, Ticket,
};

/// 2026-01-01 00:00 UTC plus `seconds`.
pub fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(seconds)
}

fn unused(what: &str) -> ! {
    panic!("the fake's {what} was called but the test did not set it up")
}

/// A clock the test sets.
pub struct FixedClock(pub Mutex<DateTime<Utc>>);

impl FixedClock {
    pub fn at(t: DateTime<Utc>) -> Arc<Self> {
        Arc::new(FixedClock(Mutex::new(t)))
    }

    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap() = t;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// Concerts and their schedules.
#[derive(Default)]
pub struct FakeCatalog {
    pub concerts: Vec<ConcertId>,
    pub schedules: Vec<Schedule>,
}

impl FakeCatalog {
    /// Concert `concert` with one schedule per `(id, starts_at)`.
    pub fn with(concert: ConcertId, schedules: &[(ScheduleId, DateTime<Utc>)]) -> Arc<Self> {
        Arc::new(FakeCatalog {
            concerts: vec![concert],
            schedules: schedules
                .iter()
                .map(|&(id, starts_at)| Schedule {
                    id,
                    concert_id: concert,
                    starts_at,
                })
                .collect(),
        })
    }
}

#[async_trait]
impl CatalogRepository for FakeCatalog {
    async fn create_concert(&self, _new: NewConcert) -> Result<ConcertDetail, StoreError> {
        unused("create_concert")
    }

    async fn list_concerts(&self) -> Result<Vec<Concert>, StoreError> {
        unused("list_concerts")
    }

    async fn concert(&self, id: ConcertId) -> Result<Option<Concert>, StoreError> {
        Ok(self.concerts.contains(&id).then(|| Concert {
            id,
            title: "Concert".into(),
            venue: "Hall".into(),
        }))
    }

    async fn get_concert(
        &self,
        _id: ConcertId,
        _now: DateTime<Utc>,
    ) -> Result<Option<ConcertDetail>, StoreError> {
        unused("get_concert")
    }

    async fn get_schedule(&self, id: ScheduleId) -> Result<Option<Schedule>, StoreError> {
        Ok(self.schedules.iter().find(|s| s.id == id).cloned())
    }

    async fn list_seats(
        &self,
        _schedule: ScheduleId,
        _now: DateTime<Utc>,
    ) -> Result<Option<Vec<Seat>>, StoreError> {
        unused("list_seats")
    }

    async fn list_schedules(
        &self,
        concert: ConcertId,
        _now: DateTime<Utc>,
    ) -> Result<Option<Vec<ScheduleSummary>>, StoreError> {
        if !self.concerts.contains(&concert) {
            return Ok(None);
        }
        Ok(Some(
            self.schedules
                .iter()
                .filter(|s| s.concert_id == concert)
                .map(|s| ScheduleSummary {
                    id: s.id,
                    concert_id: s.concert_id,
                    starts_at: s.starts_at,
                    total_seats: 10,
                    available_seats: 10,
                })
                .collect(),
        ))
    }
}

/// Reservations by id and the seats left per concert.
#[derive(Default)]
pub struct FakeSeats {
    pub reservations: Mutex<HashMap<ReservationId, Reservation>>,
    pub counts: Mutex<HashMap<ConcertId, SeatCounts>>,
    /// Every `reservation` read, in order.
    pub reads: Mutex<Vec<ReservationId>>,
    /// A status the read reservation takes right after the first read (a concurrent
    /// request's write landing between two reads of this one).
    pub after_first_read: Mutex<Option<ReservationStatus>>,
}

impl FakeSeats {
    pub fn with(reservations: &[Reservation]) -> Arc<Self> {
        let seats = FakeSeats::default();
        for r in reservations {
            seats.reservations.lock().unwrap().insert(r.id, r.clone());
        }
        Arc::new(seats)
    }
}

#[async_trait]
impl SeatRepository for FakeSeats {
    async fn hold(&self, _req: HoldRequest) -> Result<Reservation, HoldError> {
        unused("hold")
    }

    async fn reservation(&self, id: ReservationId) -> Result<Option<Reservation>, StoreError> {
        self.reads.lock().unwrap().push(id);
        let mut reservations = self.reservations.lock().unwrap();
        let read = reservations.get(&id).cloned();
        if let (Some(status), Some(r)) = (
            self.after_first_read.lock().unwrap().take(),
            reservations.get_mut(&id),
        ) {
            r.status = status;
        }
        Ok(read)
    }

    async fn reservation_in_order(
        &self,
        _order: OrderId,
        _seat: SeatId,
    ) -> Result<Option<Reservation>, StoreError> {
        unused("reservation_in_order")
    }

    async fn cancel(
        &self,
        _user: UserId,
        _id: ReservationId,
        _now: DateTime<Utc>,
    ) -> Result<Reservation, CancelError> {
        unused("cancel")
    }

    async fn extend(&self, _req: ExtendRequest) -> Result<Reservation, ExtendError> {
        unused("extend")
    }

    async fn release_expired(&self, _now: DateTime<Utc>, _limit: u64) -> Result<u64, StoreError> {
        unused("release_expired")
    }

    async fn seat_counts(
        &self,
        concert: ConcertId,
        _now: DateTime<Utc>,
    ) -> Result<SeatCounts, StoreError> {
        Ok(self
            .counts
            .lock()
            .unwrap()
            .get(&concert)
            .copied()
            .unwrap_or_default())
    }
}

/// Payments: confirms the reservation in `seats` and answers a receipt.
pub struct FakePayments {
    pub seats: Arc<FakeSeats>,
    pub paid: Mutex<Vec<PaymentRequest>>,
    pub replayed: bool,
}

impl FakePayments {
    pub fn over(seats: Arc<FakeSeats>, replayed: bool) -> Arc<Self> {
        Arc::new(FakePayments {
            seats,
            paid: Mutex::default(),
            replayed,
        })
    }
}

#[async_trait]
impl PaymentRepository for FakePayments {
    async fn pay(&self, req: PaymentRequest) -> Result<PaymentReceipt, PaymentError> {
        let mut reservations = self.seats.reservations.lock().unwrap();
        let r = reservations
            .get_mut(&req.reservation_id)
            .ok_or(PaymentError::ReservationNotFound)?;
        r.status = ReservationStatus::Confirmed;
        r.paid_at = Some(req.now);
        let receipt = PaymentReceipt {
            reservation_id: r.id,
            concert_id: r.concert_id,
            schedule_id: r.schedule_id,
            amount: r.price,
            balance: frontrow_domain::model::Money::ZERO,
            paid_at: req.now,
            replayed: self.replayed,
        };
        self.paid.lock().unwrap().push(req);
        Ok(receipt)
    }

    async fn sales(
        &self,
        _concert: ConcertId,
    ) -> Result<Vec<frontrow_domain::model::Sale>, StoreError> {
        unused("sales")
    }
}

type Answer<T> = Box<dyn Fn() -> Result<T, QueueError> + Send + Sync>;
type TokenAnswer<T> = Box<dyn Fn(&QueueToken) -> Result<T, QueueError> + Send + Sync>;
/// The answer to the n-th `enter` (1-based).
type EnterAnswer = Box<dyn Fn(usize) -> Result<Entered, QueueError> + Send + Sync>;
/// The page of receipts at `(offset, limit)`.
type PageAnswer = Box<dyn Fn(u64, u64) -> Result<Option<Vec<String>>, QueueError> + Send + Sync>;

/// A queue answering what the test set and recording the changes asked of it.
#[derive(Default)]
pub struct FakeQueue {
    pub admission: Option<TokenAnswer<Ticket>>,
    pub status: Option<TokenAnswer<Ticket>>,
    pub leave: Option<TokenAnswer<()>>,
    pub enter: Option<EnterAnswer>,
    pub tick: Option<Answer<TickReport>>,
    pub draw: Option<Answer<Option<Draw>>>,
    pub draw_receipts: Option<PageAnswer>,
    pub policy: Option<Answer<QueuePolicy>>,
    pub life: Option<Answer<LineLife>>,
    pub stats: Option<Answer<QueueStats>>,
    pub concerts: Vec<ConcertId>,
    /// Where a test's `draw_receipts` answer records the offsets it was asked.
    pub pages: Option<Arc<Mutex<Vec<u64>>>>,
    /// Every call that changes the line, as text (`leave <token>`, `close O`, `reopen`,
    /// `retire <closed_before>`, `enter`, `set_policy`, `tick <cap>`).
    pub calls: Mutex<Vec<String>>,
}

impl FakeQueue {
    fn record(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl Queue for FakeQueue {
    async fn enter(
        &self,
        _concert: ConcertId,
        _user: UserId,
        _now: DateTime<Utc>,
    ) -> Result<Entered, QueueError> {
        let n = {
            let mut calls = self.calls.lock().unwrap();
            calls.push("enter".into());
            calls.iter().filter(|c| *c == "enter").count()
        };
        self.enter.as_ref().unwrap_or_else(|| unused("enter"))(n)
    }

    async fn status(&self, token: &QueueToken, _now: DateTime<Utc>) -> Result<Ticket, QueueError> {
        self.status.as_ref().unwrap_or_else(|| unused("status"))(token)
    }

    async fn admission(
        &self,
        token: &QueueToken,
        _now: DateTime<Utc>,
    ) -> Result<Ticket, QueueError> {
        self.admission
            .as_ref()
            .unwrap_or_else(|| unused("admission"))(token)
    }

    async fn leave(&self, token: &QueueToken, _now: DateTime<Utc>) -> Result<(), QueueError> {
        self.record(format!("leave {token}"));
        self.leave.as_ref().map_or(Ok(()), |f| f(token))
    }

    async fn tick_capped(
        &self,
        _concert: ConcertId,
        _now: DateTime<Utc>,
        cap: Option<AdmissionCap>,
    ) -> Result<TickReport, QueueError> {
        self.record(format!("tick {cap:?}"));
        self.tick.as_ref().unwrap_or_else(|| unused("tick_capped"))()
    }

    async fn draw(&self, _concert: ConcertId) -> Result<Option<Draw>, QueueError> {
        self.draw.as_ref().unwrap_or_else(|| unused("draw"))()
    }

    async fn draw_receipts(
        &self,
        _concert: ConcertId,
        offset: u64,
        limit: u64,
    ) -> Result<Option<Vec<String>>, QueueError> {
        self.draw_receipts
            .as_ref()
            .unwrap_or_else(|| unused("draw_receipts"))(offset, limit)
    }

    async fn policy(&self, _concert: ConcertId) -> Result<QueuePolicy, QueueError> {
        self.policy
            .as_ref()
            .map_or(Ok(QueuePolicy::default()), |f| f())
    }

    async fn set_policy(
        &self,
        _concert: ConcertId,
        _policy: QueuePolicy,
    ) -> Result<(), QueueError> {
        self.record("set_policy".into());
        Ok(())
    }

    async fn life(&self, _concert: ConcertId) -> Result<LineLife, QueueError> {
        self.life.as_ref().unwrap_or_else(|| unused("life"))()
    }

    async fn close(
        &self,
        _concert: ConcertId,
        reason: CloseReason,
        now: DateTime<Utc>,
    ) -> Result<LineLife, QueueError> {
        self.record(format!("close {}", reason.code()));
        Ok(LineLife::Closed { reason, since: now })
    }

    async fn reopen(&self, _concert: ConcertId) -> Result<LineLife, QueueError> {
        self.record("reopen".into());
        Ok(LineLife::Open)
    }

    async fn retire(
        &self,
        _concert: ConcertId,
        _now: DateTime<Utc>,
        closed_before: DateTime<Utc>,
    ) -> Result<bool, QueueError> {
        self.record(format!("retire {closed_before}"));
        Ok(true)
    }

    async fn stats(
        &self,
        _concert: ConcertId,
        _now: DateTime<Utc>,
    ) -> Result<QueueStats, QueueError> {
        self.stats.as_ref().unwrap_or_else(|| unused("stats"))()
    }

    async fn concerts(&self) -> Result<Vec<ConcertId>, QueueError> {
        Ok(self.concerts.clone())
    }

    async fn ping(&self) -> Result<(), QueueError> {
        unused("ping")
    }
}

/// The ticket of `token` with `status` (nothing else known).
pub fn ticket(token: &QueueToken, status: frontrow_domain::queue::TicketStatus) -> Ticket {
    Ticket {
        status,
        ..Ticket::expired(token)
    }
}

/// An archive of draws in memory; `stored` lists every store call.
#[derive(Default)]
pub struct FakeArchive {
    pub draws: Mutex<HashMap<ConcertId, (Draw, Vec<Receipt>)>>,
    pub stored: Mutex<Vec<(ConcertId, Draw, usize)>>,
}

#[async_trait]
impl DrawArchive for FakeArchive {
    async fn store(
        &self,
        concert: ConcertId,
        draw: &Draw,
        receipts: &[Receipt],
    ) -> Result<(), StoreError> {
        self.stored
            .lock()
            .unwrap()
            .push((concert, draw.clone(), receipts.len()));
        self.draws
            .lock()
            .unwrap()
            .insert(concert, (draw.clone(), receipts.to_vec()));
        Ok(())
    }

    async fn latest(&self, concert: ConcertId) -> Result<Option<Draw>, StoreError> {
        Ok(self
            .draws
            .lock()
            .unwrap()
            .get(&concert)
            .map(|(d, _)| d.clone()))
    }

    async fn receipts(
        &self,
        concert: ConcertId,
        commitment: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Option<Vec<Receipt>>, StoreError> {
        let draws = self.draws.lock().unwrap();
        Ok(draws
            .get(&concert)
            .filter(|(d, _)| d.commitment == commitment)
            .map(|(_, r)| {
                r.iter()
                    .skip(usize::try_from(offset).unwrap())
                    .take(usize::try_from(limit).unwrap())
                    .copied()
                    .collect()
            }))
    }
}

/// A queue error that says the backend is down.
pub fn down() -> QueueError {
    QueueError::Unavailable("down".into())
}
