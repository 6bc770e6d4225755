//! The box office: a party's order of seats (picked, or best-available together) and
//! standing places, held in one transaction with one expiry that never outlives the
//! buyer's admission, paid once, cancelled or extended as a whole.

pub mod model;
pub mod planner;
pub mod port;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;

use self::model::{Availability, Order, OrderReceipt, PayOrder, PlaceOrder};
use self::planner::{Filter, Planners, SNAPSHOT_TTL, SeatPlan, lock};
use self::port::{OrderChangeError, OrderPayError, OrderRepository, PlaceError};
use crate::booking::MAX_IDEMPOTENCY_KEY_LEN;
use crate::error::StoreError;
use crate::model::{ConcertId, OrderId, ScheduleId, SeatId, UserId};
use crate::ports::{CatalogRepository, Clock};
use crate::seating::Ask;
use crate::waiting_room::{GateError, WaitingRoom};

/// Limits of the box office (from settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderPolicy {
    /// How long an order is held before it is released.
    pub hold_ttl: Duration,
    /// The most tickets in one order.
    pub max_tickets_per_order: u32,
    /// The most tickets one fan may hold or have bought per schedule.
    pub max_tickets_per_fan: u32,
    /// How much longer a fan may keep an order, once; zero: no extension.
    pub hold_extension: Duration,
}

impl Default for OrderPolicy {
    fn default() -> Self {
        OrderPolicy {
            hold_ttl: Duration::minutes(5),
            max_tickets_per_order: 8,
            max_tickets_per_fan: 8,
            hold_extension: Duration::minutes(5),
        }
    }
}

/// Best-available seats for a party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BestAvailable {
    pub count: u32,
    pub category: Option<String>,
    pub section: Option<String>,
    pub accessible: bool,
    /// May seat the party in several blocks when no block fits everyone.
    pub allow_split: bool,
    /// Refuse rather than leave a lone seat beside the party.
    pub strict: bool,
}

/// What a party asks for: picked seats or best-available, and standing places.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderAsk {
    pub schedule_id: ScheduleId,
    pub seats: Vec<SeatId>,
    pub best_available: Option<BestAvailable>,
    pub standing: Vec<(String, u32)>,
    /// A presale code opening hidden categories or sections.
    pub presale_code: Option<String>,
}

/// Errors of the box office.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error(transparent)]
    Gate(#[from] GateError),
    #[error("schedule not found")]
    ScheduleNotFound,
    /// The request contradicts itself or is out of bounds; the text names the field.
    #[error("invalid order: {0}")]
    Invalid(String),
    #[error("at most {max} tickets per order")]
    TooManyTickets { max: u32 },
    #[error("seats not in this schedule: {0:?}")]
    SeatsNotFound(Vec<SeatId>),
    #[error("seats already taken: {0:?}")]
    SeatsTaken(Vec<SeatId>),
    /// No block of `count` seats (or split, if allowed) is left for the party.
    #[error("no {count} seats left together matching the request")]
    NoSeatsLeft { count: u32 },
    /// Blocks for the party are left, but other parties (on other instances) kept
    /// claiming them first until the request's time was up: worth retrying, unlike
    /// `NoSeatsLeft`.
    #[error("other parties kept claiming the seats left for {count} first")]
    Contended { count: u32 },
    #[error("no standing area {0:?} in this schedule")]
    AreaNotFound(String),
    #[error("standing area {area:?} has {available} places left")]
    AreaFull { area: String, available: u64 },
    #[error("at most {limit} tickets per fan for this schedule ({already} already held or bought)")]
    FanLimit { limit: u32, already: u64 },
    /// Unknown, cancelled, outside its window or another fan's: all alike.
    #[error("this presale code is not valid for this schedule")]
    CodeInvalid,
    #[error("this presale code has {left} tickets left")]
    CodeExhausted { left: u32 },
    #[error("seats not on sale to you: {0:?}")]
    SeatsNotOnSale(Vec<SeatId>),
    #[error("standing area {0:?} is not on sale to you")]
    AreaNotOnSale(String),
    #[error("the show was cancelled: nothing of it is on sale")]
    ShowCancelled,
    #[error("order not found")]
    NotFound,
    #[error("order is {0} and cannot be changed")]
    NotHeld(model::OrderStatus),
    #[error("orders cannot be extended")]
    ExtensionNotAllowed,
    #[error("the order was already extended once")]
    AlreadyExtended,
    #[error("the hold already lasts until the admission ends")]
    AdmissionEnds,
    #[error("the hold has expired")]
    Expired,
    #[error("order was cancelled")]
    Cancelled,
    #[error("order is already paid")]
    AlreadyPaid,
    #[error("insufficient balance: {balance} available, {amount} needed")]
    InsufficientBalance {
        balance: crate::model::Money,
        amount: crate::model::Money,
    },
    #[error("idempotency key was already used for another payment")]
    KeyReused,
    #[error("idempotency key must be 1 to {max} characters")]
    InvalidIdempotencyKey { max: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<PlaceError> for OrderError {
    fn from(e: PlaceError) -> Self {
        match e {
            PlaceError::SeatsNotFound(s) => OrderError::SeatsNotFound(s),
            PlaceError::SeatsTaken(s) => OrderError::SeatsTaken(s),
            PlaceError::AreaNotFound(a) => OrderError::AreaNotFound(a),
            PlaceError::AreaFull { area, available } => OrderError::AreaFull { area, available },
            PlaceError::FanLimit { limit, already } => OrderError::FanLimit { limit, already },
            PlaceError::CodeInvalid => OrderError::CodeInvalid,
            PlaceError::CodeExhausted { left } => OrderError::CodeExhausted { left },
            PlaceError::SeatsNotOnSale(s) => OrderError::SeatsNotOnSale(s),
            PlaceError::AreaNotOnSale(a) => OrderError::AreaNotOnSale(a),
            PlaceError::ScheduleCancelled => OrderError::ShowCancelled,
            PlaceError::Unavailable(s) => OrderError::Store(s),
        }
    }
}

impl From<OrderChangeError> for OrderError {
    fn from(e: OrderChangeError) -> Self {
        match e {
            OrderChangeError::NotFound => OrderError::NotFound,
            OrderChangeError::NotHeld { status } => OrderError::NotHeld(status),
            OrderChangeError::AlreadyExtended => OrderError::AlreadyExtended,
            OrderChangeError::AdmissionEnds => OrderError::AdmissionEnds,
            OrderChangeError::Unavailable(s) => OrderError::Store(s),
        }
    }
}

impl From<OrderPayError> for OrderError {
    fn from(e: OrderPayError) -> Self {
        match e {
            OrderPayError::NotFound => OrderError::NotFound,
            OrderPayError::Expired => OrderError::Expired,
            OrderPayError::Cancelled => OrderError::Cancelled,
            OrderPayError::AlreadyPaid => OrderError::AlreadyPaid,
            OrderPayError::InsufficientBalance { balance, amount } => {
                OrderError::InsufficientBalance { balance, amount }
            }
            OrderPayError::KeyReused => OrderError::KeyReused,
            OrderPayError::Unavailable(s) => OrderError::Store(s),
        }
    }
}

/// The most codes one request may create.
pub const MAX_CODES_PER_BATCH: usize = 10_000;
/// Letters of generated codes: no 0/O or 1/I/L to misread.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// A fresh random code like `K7QM-X2RD-9TPA`.
fn generate_code() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let mut out = String::with_capacity(14);
    for i in 0..12 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        let k = rng.random_range(0..CODE_ALPHABET.len());
        out.push(char::from(CODE_ALPHABET[k]));
    }
    out
}

/// A code a fan can type: 4 to 64 letters, digits and dashes.
pub fn valid_code(code: &str) -> bool {
    (4..=64).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn check_presale(new: &model::NewPresaleCodes, generate: u32) -> Result<(), OrderError> {
    let total = new.codes.len() + usize::try_from(generate).unwrap_or(usize::MAX);
    if total == 0 || total > MAX_CODES_PER_BATCH {
        return Err(OrderError::Invalid(format!(
            "give 1 to {MAX_CODES_PER_BATCH} codes (codes and count together)"
        )));
    }
    if let Some(c) = new.codes.iter().find(|c| !valid_code(c)) {
        return Err(OrderError::Invalid(format!(
            "code {c:?} must be 4 to 64 letters, digits and dashes"
        )));
    }
    let mut sorted = new.codes.clone();
    sorted.sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(OrderError::Invalid(format!("code {:?} given twice", w[0])));
    }
    if new.categories.is_empty() && new.sections.is_empty() {
        return Err(OrderError::Invalid(
            "a code must open at least one category or section".into(),
        ));
    }
    if new.ends_at <= new.starts_at {
        return Err(OrderError::Invalid(
            "ends_at must be after starts_at".into(),
        ));
    }
    if !(1..=1_000).contains(&new.max_tickets) {
        return Err(OrderError::Invalid(
            "max_tickets must be between 1 and 1000".into(),
        ));
    }
    Ok(())
}

/// How long a best-available request keeps trying before it answers: `NoSeatsLeft` only
/// from a fresh snapshot with nothing in flight, `Contended` when blocks were still left.
/// Measured with two instances on one database (`loadtest/boxoffice.sh --instances 2`):
/// at 5 s a sixth of the parties were refused while seats were left. The box office's
/// default; [`BoxOffice::with_plan_deadline`] sets another.
pub const PLAN_DEADLINE: StdDuration = StdDuration::from_secs(10);
/// How long a request waits for other requests' claims to settle before planning again.
const PENDING_WAIT: StdDuration = StdDuration::from_millis(5);
/// How long a request waits for another request's snapshot.
const REFRESH_WAIT: StdDuration = StdDuration::from_millis(2);

/// The most orders "my orders" lists.
pub const MAX_ORDERS_LISTED: u64 = 200;

/// The box office, behind the shared waiting room.
#[derive(Clone)]
pub struct BoxOffice {
    catalog: Arc<dyn CatalogRepository>,
    orders: Arc<dyn OrderRepository>,
    room: WaitingRoom,
    clock: Arc<dyn Clock>,
    policy: OrderPolicy,
    /// How long a best-available request keeps trying ([`PLAN_DEADLINE`] unless set).
    plan_deadline: StdDuration,
    planners: Planners,
    /// Held while a venue is read into a planner.
    loading: Arc<tokio::sync::Mutex<()>>,
    /// The concert of each schedule ordered from here: a schedule never changes
    /// concert, so one read per schedule (bounded: emptied when full).
    concerts: Arc<std::sync::Mutex<HashMap<ScheduleId, ConcertId>>>,
    /// The heads of the orders held from here and not yet paid or cancelled from here:
    /// their payment needs no read of who and which concert (a head never changes but
    /// for its status, which the store's payment judges anyway). Bounded: emptied when
    /// full; an order paid through another instance is read there.
    heads: Arc<std::sync::Mutex<HashMap<OrderId, model::OrderHead>>>,
}

/// The most schedules [`BoxOffice`] remembers the concert of before starting afresh.
const MAX_REMEMBERED_SCHEDULES: usize = 4_096;
/// The most held orders [`BoxOffice`] remembers the head of before starting afresh.
const MAX_REMEMBERED_HEADS: usize = 65_536;

fn check_ask(ask: &OrderAsk, max: u32) -> Result<u32, OrderError> {
    if ask.seats.is_empty() && ask.best_available.is_none() && ask.standing.is_empty() {
        return Err(OrderError::Invalid(
            "ask for seats, best_available or standing".into(),
        ));
    }
    if !ask.seats.is_empty() && ask.best_available.is_some() {
        return Err(OrderError::Invalid(
            "seats and best_available cannot be combined".into(),
        ));
    }
    let mut sorted = ask.seats.clone();
    sorted.sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(OrderError::Invalid(format!(
            "seats names seat {} twice",
            w[0]
        )));
    }
    let mut names: Vec<&str> = ask.standing.iter().map(|(a, _)| a.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(OrderError::Invalid(format!(
            "standing names area {:?} twice",
            w[0]
        )));
    }
    if let Some((a, _)) = ask.standing.iter().find(|(_, q)| *q == 0) {
        return Err(OrderError::Invalid(format!(
            "standing quantity for {a:?} must be at least 1"
        )));
    }
    if let Some(b) = &ask.best_available
        && b.count == 0
    {
        return Err(OrderError::Invalid(
            "best_available.count must be at least 1".into(),
        ));
    }
    let total = u64::try_from(ask.seats.len()).unwrap_or(u64::MAX)
        + ask
            .best_available
            .as_ref()
            .map_or(0, |b| u64::from(b.count))
        + ask.standing.iter().map(|(_, q)| u64::from(*q)).sum::<u64>();
    if total > u64::from(max) {
        return Err(OrderError::TooManyTickets { max });
    }
    Ok(u32::try_from(total).unwrap_or(u32::MAX))
}

impl BoxOffice {
    /// The box office over the ports; `room` is the app's one waiting room.
    pub fn new(
        catalog: Arc<dyn CatalogRepository>,
        orders: Arc<dyn OrderRepository>,
        room: WaitingRoom,
        clock: Arc<dyn Clock>,
        policy: OrderPolicy,
    ) -> Self {
        BoxOffice {
            catalog,
            orders,
            room,
            clock,
            policy,
            plan_deadline: PLAN_DEADLINE,
            planners: Planners::default(),
            loading: Arc::new(tokio::sync::Mutex::new(())),
            concerts: Arc::default(),
            heads: Arc::default(),
        }
    }

    /// The same box office, with best-available requests answering after `deadline`
    /// of losing claims or finding nothing instead of [`PLAN_DEADLINE`] (a test's
    /// short one: the deadline is measured on the monotonic clock, not the [`Clock`]
    /// port, whose time a test may hold still).
    pub fn with_plan_deadline(mut self, deadline: StdDuration) -> Self {
        self.plan_deadline = deadline;
        self
    }

    /// The box office's limits.
    pub fn policy(&self) -> OrderPolicy {
        self.policy
    }

    /// Holds everything a party asks for, all of it or nothing.
    #[tracing::instrument(skip_all, fields(user = %user, schedule = %ask.schedule_id), err(level = "debug"))]
    pub async fn place(
        &self,
        user: UserId,
        queue_token: Option<&str>,
        ask: OrderAsk,
    ) -> Result<Order, OrderError> {
        check_ask(&ask, self.policy.max_tickets_per_order)?;
        let concert_id = self.concert_of(ask.schedule_id).await?;
        let ticket = self.room.authorize(queue_token, user, concert_id).await?;
        let now = self.clock.now();
        // The code first: its openings steer best-available.
        let code = match &ask.presale_code {
            None => None,
            Some(c) => match self.orders.presale_code(ask.schedule_id, c).await? {
                Some(code) if code.usable_by(user, now) => Some(code),
                _ => return Err(OrderError::CodeInvalid),
            },
        };
        let admitted_until = ticket.active_until.unwrap_or(now + self.policy.hold_ttl);
        let mut seats = ask.seats.clone();
        seats.sort_unstable();
        let req = PlaceOrder {
            user_id: user,
            concert_id,
            schedule_id: ask.schedule_id,
            seats,
            standing: ask.standing.clone(),
            now,
            expires_at: (now + self.policy.hold_ttl).min(admitted_until),
            admitted_until,
            max_per_fan: self.policy.max_tickets_per_fan,
            together: true,
            lone_seats_left: 0,
            presale_code: ask.presale_code.clone(),
        };
        let order = match &ask.best_available {
            None => self.orders.place(req).await?,
            Some(best) => self.place_best(req, best, code.as_ref()).await?,
        };
        let mut heads = lock(&self.heads);
        if heads.len() >= MAX_REMEMBERED_HEADS {
            heads.clear();
        }
        heads.insert(order.id, order.head());
        Ok(order)
    }

    /// The head of order `id`: remembered when it was held here, else read.
    async fn head(&self, id: OrderId) -> Result<Option<model::OrderHead>, OrderError> {
        if let Some(h) = lock(&self.heads).get(&id).cloned() {
            return Ok(Some(h));
        }
        Ok(self.orders.order_head(id).await?)
    }

    /// The concert of `schedule`, read from the catalog on first use.
    async fn concert_of(&self, schedule: ScheduleId) -> Result<ConcertId, OrderError> {
        if let Some(c) = lock(&self.concerts).get(&schedule).copied() {
            return Ok(c);
        }
        let sched = self
            .catalog
            .get_schedule(schedule)
            .await?
            .ok_or(OrderError::ScheduleNotFound)?;
        let mut concerts = lock(&self.concerts);
        if concerts.len() >= MAX_REMEMBERED_SCHEDULES {
            concerts.clear();
        }
        concerts.insert(schedule, sched.concert_id);
        Ok(sched.concert_id)
    }

    /// The planner of `schedule`, read from the store on first use.
    async fn planner(
        &self,
        schedule: ScheduleId,
    ) -> Result<Arc<std::sync::Mutex<SeatPlan>>, OrderError> {
        if let Some(p) = self.planners.get(schedule) {
            return Ok(p);
        }
        // One read of the venue per instance, however many parties arrive at once.
        let _loading = self.loading.lock().await;
        if let Some(p) = self.planners.get(schedule) {
            return Ok(p);
        }
        let venue = self
            .orders
            .venue(schedule)
            .await?
            .ok_or(OrderError::ScheduleNotFound)?;
        Ok(self.planners.insert(schedule, SeatPlan::new(&venue)))
    }

    async fn refresh(
        &self,
        plan: &std::sync::Mutex<SeatPlan>,
        schedule: ScheduleId,
    ) -> Result<(), OrderError> {
        let started = Instant::now();
        let taken = self.orders.taken_seats(schedule, self.clock.now()).await?;
        lock(plan).refresh(&taken, started);
        Ok(())
    }

    async fn place_best(
        &self,
        mut req: PlaceOrder,
        best: &BestAvailable,
        code: Option<&model::PresaleCode>,
    ) -> Result<Order, OrderError> {
        let plan = self.planner(req.schedule_id).await?;
        let ask = Ask {
            count: usize::try_from(best.count).unwrap_or(usize::MAX),
            allow_split: best.allow_split,
            strict: best.strict,
        };
        let filter = Filter {
            category: best.category.clone(),
            section: best.section.clone(),
            accessible: best.accessible,
            opened_categories: code.map(|c| c.categories.clone()).unwrap_or_default(),
            opened_sections: code.map(|c| c.sections.clone()).unwrap_or_default(),
        };
        let started = Instant::now();
        let deadline = started + self.plan_deadline;
        loop {
            if lock(&plan).begin_refresh(SNAPSHOT_TTL)
                && let Err(e) = self.refresh(&plan, req.schedule_id).await
            {
                lock(&plan).refresh_failed();
                return Err(e);
            }
            let (pick, pending, fresh) = {
                let mut p = lock(&plan);
                (p.plan(ask, &filter), p.pending(), p.fresh_since(started))
            };
            let Some(pick) = pick else {
                if Instant::now() >= deadline {
                    // Only a fresh snapshot with no claim in flight may say nothing is left.
                    return Err(if fresh && pending == 0 {
                        OrderError::NoSeatsLeft { count: best.count }
                    } else {
                        OrderError::Contended { count: best.count }
                    });
                }
                if pending > 0 {
                    // Another party's claim may yet fail and free its seats.
                    tokio::time::sleep(PENDING_WAIT).await;
                    continue;
                }
                if fresh {
                    return Err(OrderError::NoSeatsLeft { count: best.count });
                }
                // Only a snapshot read after this request began may refuse it.
                lock(&plan).expire();
                tokio::time::sleep(REFRESH_WAIT).await;
                continue;
            };
            req.seats.clone_from(&pick.seats);
            req.together = pick.together;
            req.lone_seats_left = pick.lone_seats_left;
            let claimed = self.orders.place(req.clone()).await;
            let mut p = lock(&plan);
            match claimed {
                Ok(order) => {
                    p.settle(&pick.seats, true);
                    return Ok(order);
                }
                Err(PlaceError::SeatsTaken(lost)) => {
                    p.settle(&pick.seats, false);
                    p.mark_taken(&lost);
                    // Someone else (another instance, or a stale snapshot) got there
                    // first: read the store again before long.
                    p.expire();
                    if Instant::now() >= deadline {
                        return Err(OrderError::Contended { count: best.count });
                    }
                }
                Err(e) => {
                    p.settle(&pick.seats, false);
                    return Err(e.into());
                }
            }
        }
    }

    /// An order of this fan (another fan's reads as not found).
    pub async fn order(&self, user: UserId, id: OrderId) -> Result<Order, OrderError> {
        match self.orders.order(id).await? {
            Some(o) if o.user_id == user => Ok(o),
            _ => Err(OrderError::NotFound),
        }
    }

    /// The fan's orders, newest first.
    pub async fn orders(&self, user: UserId) -> Result<Vec<Order>, OrderError> {
        Ok(self.orders.orders_of(user, MAX_ORDERS_LISTED).await?)
    }

    /// What is left per category and standing area.
    pub async fn availability(&self, schedule: ScheduleId) -> Result<Availability, OrderError> {
        self.orders
            .availability(schedule, self.clock.now())
            .await?
            .ok_or(OrderError::ScheduleNotFound)
    }

    /// Cancels a held order: everything in it is free again at once.
    pub async fn cancel(&self, user: UserId, id: OrderId) -> Result<Order, OrderError> {
        let order = self.orders.cancel(user, id, self.clock.now()).await?;
        lock(&self.heads).remove(&id);
        if let Some(p) = self.planners.get(order.schedule_id) {
            lock(&p).expire();
        }
        Ok(order)
    }

    /// Extends a held order once, never past the buyer's admission.
    pub async fn extend(&self, user: UserId, id: OrderId) -> Result<Order, OrderError> {
        if self.policy.hold_extension <= Duration::zero() {
            return Err(OrderError::ExtensionNotAllowed);
        }
        Ok(self
            .orders
            .extend(user, id, self.policy.hold_extension, self.clock.now())
            .await?)
    }

    /// Pays a held order once; when the fan then holds nothing more for the concert,
    /// their admission slot goes to the next fan.
    #[tracing::instrument(skip_all, fields(user = %user, order = %id), err(level = "debug"))]
    pub async fn pay(
        &self,
        user: UserId,
        queue_token: Option<&str>,
        id: OrderId,
        idempotency_key: &str,
    ) -> Result<OrderReceipt, OrderError> {
        let key = crate::booking::idempotency_key(idempotency_key).ok_or(
            OrderError::InvalidIdempotencyKey {
                max: MAX_IDEMPOTENCY_KEY_LEN,
            },
        )?;
        let order = match self.head(id).await? {
            Some(o) if o.user_id == user => o,
            _ => return Err(OrderError::NotFound),
        };
        // A paid order is only replayed or refused: no admission needed (the payment
        // may have freed the slot already). A waiting-list offer is the fan's turn
        // already: paying it needs no queue token.
        let ticket = if order.status == model::OrderStatus::Paid || order.offer {
            None
        } else {
            match self
                .room
                .authorize(queue_token, user, order.concert_id)
                .await
            {
                Ok(t) => Some(t),
                Err(gate @ (GateError::Expired | GateError::Waiting)) => {
                    match self.orders.order_head(id).await? {
                        Some(o) if o.status == model::OrderStatus::Paid => None,
                        _ => return Err(gate.into()),
                    }
                }
                Err(gate) => return Err(gate.into()),
            }
        };
        let receipt = self
            .orders
            .pay(PayOrder {
                user_id: user,
                order_id: id,
                idempotency_key: key.to_owned(),
                now: self.clock.now(),
            })
            .await?;
        lock(&self.heads).remove(&id);
        if let (false, Some(ticket)) = (receipt.replayed, ticket) {
            let now = self.clock.now();
            // Every hold is an order's (a one-seat hold is an order of one).
            let left = self
                .orders
                .live_orders_for_concert(user, order.concert_id, now)
                .await;
            match left {
                Ok(0) => {
                    if let Err(e) = self.room.complete(&ticket.token).await {
                        tracing::warn!(error = %e, "could not free the active slot after payment: retried at the next ticks");
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not count remaining holds"),
            }
        }
        Ok(receipt)
    }

    /// Creates presale codes: `codes` as given, or `generate` new random ones.
    pub async fn create_presale_codes(
        &self,
        mut new: model::NewPresaleCodes,
        generate: u32,
    ) -> Result<Vec<model::PresaleCode>, OrderError> {
        check_presale(&new, generate)?;
        new.codes.extend((0..generate).map(|_| generate_code()));
        new.now = self.clock.now();
        self.orders
            .create_presale_codes(new)
            .await
            .map_err(|e| match e {
                port::PresaleError::ScheduleNotFound => OrderError::ScheduleNotFound,
                port::PresaleError::Duplicate(c) => {
                    OrderError::Invalid(format!("presale code {c:?} exists already"))
                }
                port::PresaleError::Unavailable(s) => OrderError::Store(s),
            })
    }

    /// The schedule's presale codes.
    pub async fn presale_codes(
        &self,
        schedule: ScheduleId,
    ) -> Result<Vec<model::PresaleCode>, OrderError> {
        self.orders
            .presale_codes(schedule)
            .await?
            .ok_or(OrderError::ScheduleNotFound)
    }

    /// Cancels a presale code.
    pub async fn cancel_presale_code(
        &self,
        schedule: ScheduleId,
        code: &str,
    ) -> Result<(), OrderError> {
        if self.orders.cancel_presale_code(schedule, code).await? {
            Ok(())
        } else {
            Err(OrderError::NotFound)
        }
    }

    /// Ends expired held orders (standing places back to their areas).
    pub async fn release_expired(&self, limit: u64) -> Result<u64, StoreError> {
        self.orders.release_expired(self.clock.now(), limit).await
    }
}

#[cfg(test)]
pub(crate) mod tests;
