//! The driver: one task owns every fan's state and a schedule of what each fan does
//! next; it feeds a bounded number of requests in flight and checks the invariants on
//! each answer. No task per fan.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::args::Args;
use crate::http::{Action, Answer, Arg, Outcome, Standing, StreamEvent, Ticket, Wire};
use crate::token::{TokenRef, TokenStore, entry_seq};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    Pending,
    Entering,
    Waiting,
    /// Waiting, following an SSE stream instead of polling.
    Streaming,
    /// Stopped polling while waiting.
    Idle,
    Leaving,
    Left,
    /// Seen ACTIVE, slot kept.
    Active,
    /// Seen ACTIVE, slot given back.
    Released,
    Expired,
    Failed,
}

const STATES: usize = 11;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    Normal,
    Leaver,
    Idler,
    Sse,
}

const OVERTAKEN: u8 = 1;
const SAW_ACTIVE: u8 = 2;
const IN_CENSUS: u8 = 4;
const CHECKED: u8 = 8;
/// Told a place near the front: the fan opens the event stream (once).
const STREAM_NEXT: u8 = 16;
/// How long after a front answer the fan opens its stream: longer than the views of two
/// instances may disagree (`FRESH`, 400 ms, in crates/redis), so no place goes up.
const STREAM_SWITCH_MS: u64 = 500;

/// One fan, 40 bytes. Its place in the entry order is the interval `lo..=hi`: the
/// sequence from its token (`lo == hi`), or else the µs at which its enter call was
/// sent and answered — it certainly entered before every fan whose `lo` is above its
/// `hi`. `0..=u64::MAX` is "unknown".
#[derive(Debug, Clone, Copy)]
struct Fan {
    lo: u64,
    hi: u64,
    token: TokenRef,
    /// Last position answered (0: none yet).
    last_pos: u32,
    /// Ms since start at which a leaver leaves / an idler stops polling.
    churn_at_ms: u32,
    state: State,
    kind: Kind,
    tries: u8,
    flags: u8,
    /// Ms since start of its last WAITING answer (0: none yet).
    waited_ms: u32,
}

impl Fan {
    const NEW: Fan = Fan {
        lo: 0,
        hi: u64::MAX,
        token: TokenRef::EMPTY,
        last_pos: 0,
        churn_at_ms: u32::MAX,
        state: State::Pending,
        kind: Kind::Normal,
        tries: 0,
        flags: 0,
        waited_ms: 0,
    };
}

/// Something a fan does at `at_ms` (ms since start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Due {
    at_ms: u64,
    fan: u32,
    action: Action,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Run,
    Drain,
    Census,
    Check,
    /// Every fan still in line leaves, every admitted one gives its slot back.
    Cleanup,
}

/// How the entry order was known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderSource {
    /// `seq` of self-describing tokens.
    Exact,
    /// When enter calls were sent and answered: only certain orders are checked.
    Approximate,
    Unknown,
}

/// Everything counted; the report is made from it.
pub struct Tally {
    /// Latency of answered requests per endpoint, µs.
    pub latency: [Histogram<u64>; 4],
    /// From the admitting tick to the fan seeing ACTIVE, ms.
    pub admission_delay: Histogram<u64>,
    /// The admission-notice delay of fans following their place on the event stream.
    pub admission_delay_streamed: Histogram<u64>,
    /// How late polls went out after they fell due, ms (the simulator's own backlog).
    pub poll_lateness: Histogram<u64>,
    /// Polling fans that switched to the event stream near the front (`--stream-front`).
    pub front_streams: u64,
    /// `"<endpoint> <code>"` → answers.
    pub codes: BTreeMap<String, u64>,
    pub transport_errors: BTreeMap<String, u64>,
    /// Requests moved to another instance after failing on the wire (`--failover`).
    pub failovers: u64,
    pub entered: u64,
    pub entered_existing: u64,
    pub status_answers: u64,
    pub admitted_seen: u64,
    pub left: u64,
    pub idled: u64,
    pub released: u64,
    pub expired_waiting: u64,
    /// Of those, fans told WAITING less than the idle timeout before: places lost while
    /// polling as told (the server's promise).
    pub lost_polling: u64,
    /// Idle fans still waiting at the census, after the idle drop bound had passed.
    pub idle_kept: u64,
    pub failed: u64,
    pub server_errors: u64,
    pub unavailable: u64,
    pub overtakes: u64,
    pub overtaken_fans: u64,
    pub positions_up: u64,
    pub position_errors: u64,
    pub positions_checked: u64,
    pub census_waiting: u64,
    pub cleaned_up: u64,
    pub server_waiting_at_quiescence: Option<u64>,
    pub sse_streams: u64,
    pub sse_refused: u64,
    pub sse_events: u64,
    pub first_enter_us: Option<u64>,
    pub last_enter_us: u64,
    pub run_s: f64,
    pub quiescence_s: f64,
    pub order: OrderSource,
    pub fan_bytes: usize,
    pub states: [u64; STATES],
}

fn hist(high: u64) -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, high, 3)?)
}

impl Tally {
    fn new() -> anyhow::Result<Self> {
        Ok(Tally {
            latency: [
                hist(3_600_000_000)?,
                hist(3_600_000_000)?,
                hist(3_600_000_000)?,
                hist(3_600_000_000)?,
            ],
            admission_delay: hist(86_400_000)?,
            admission_delay_streamed: hist(86_400_000)?,
            poll_lateness: hist(86_400_000)?,
            front_streams: 0,
            codes: BTreeMap::new(),
            transport_errors: BTreeMap::new(),
            failovers: 0,
            entered: 0,
            entered_existing: 0,
            status_answers: 0,
            admitted_seen: 0,
            left: 0,
            idled: 0,
            released: 0,
            expired_waiting: 0,
            lost_polling: 0,
            idle_kept: 0,
            failed: 0,
            server_errors: 0,
            unavailable: 0,
            overtakes: 0,
            overtaken_fans: 0,
            positions_up: 0,
            position_errors: 0,
            positions_checked: 0,
            census_waiting: 0,
            cleaned_up: 0,
            server_waiting_at_quiescence: None,
            sse_streams: 0,
            sse_refused: 0,
            sse_events: 0,
            first_enter_us: None,
            last_enter_us: 0,
            run_s: 0.0,
            quiescence_s: 0.0,
            order: OrderSource::Unknown,
            fan_bytes: 0,
            states: [0; STATES],
        })
    }
}

/// Hooks the driver calls at the edges of its phases (the admin calls and samplers
/// live in `main`).
pub trait Phases {
    /// Churn is over and no request is in flight: the cost probes stop here.
    async fn churn_over(&mut self);
    /// Pause admissions for the quiescence check.
    async fn quiesce(&mut self) -> anyhow::Result<()>;
    /// Waiting fans per the server, right after the census.
    async fn server_waiting(&mut self) -> Option<u64>;
}

pub struct Sim {
    args: Args,
    wire: Arc<Wire>,
    fans: Vec<Fan>,
    tokens: TokenStore,
    heap: BinaryHeap<Reverse<Due>>,
    /// `(ms, fan)`: fans near the front due to open their event stream. Not bound by the
    /// in-flight limit of requests (a stream has a connection of its own), so a backlog
    /// of polls never delays the switch.
    switches: BinaryHeap<Reverse<(u64, u32)>>,
    next_arrival: u32,
    start: Instant,
    in_flight: usize,
    concurrency: usize,
    rr: usize,
    rng: StdRng,
    tx: mpsc::UnboundedSender<Outcome>,
    rx: mpsc::UnboundedReceiver<Outcome>,
    stream_tx: mpsc::UnboundedSender<StreamEvent>,
    stream_rx: mpsc::UnboundedReceiver<StreamEvent>,
    stop_streams: watch::Sender<bool>,
    open_streams: usize,
    sse_available: bool,
    /// `(µs a fan was first seen ACTIVE, greatest `lo` of fans seen ACTIVE so far)`,
    /// appended only when that greatest `lo` grows.
    sightings: Vec<(u64, u64)>,
    active_ttl_ms: i64,
    phase: Phase,
    /// Ms since start at which the last fan went idle (0: none did).
    last_idle_ms: u64,
    pub tally: Tally,
}

impl Sim {
    pub fn new(args: Args, wire: Arc<Wire>, active_ttl_seconds: u64) -> anyhow::Result<Sim> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (stream_tx, stream_rx) = mpsc::unbounded_channel();
        let n = args.fans as usize;
        Ok(Sim {
            fans: vec![Fan::NEW; n],
            tokens: TokenStore::new(args.concert, n),
            heap: BinaryHeap::new(),
            switches: BinaryHeap::new(),
            next_arrival: 0,
            start: Instant::now(),
            in_flight: 0,
            concurrency: args.concurrency(),
            rr: 0,
            rng: StdRng::seed_from_u64(args.seed),
            tx,
            rx,
            stream_tx,
            stream_rx,
            stop_streams: watch::channel(false).0,
            open_streams: 0,
            sse_available: args.sse > 0.0 || args.stream_front > 0,
            sightings: Vec::new(),
            active_ttl_ms: active_ttl_seconds as i64 * 1000,
            phase: Phase::Run,
            last_idle_ms: 0,
            tally: Tally::new()?,
            wire,
            args,
        })
    }

    fn us(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.start).as_micros() as u64
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn arrival_ms(&self, i: u32) -> u64 {
        (f64::from(i) * 1000.0 / self.args.arrival_rate) as u64
    }

    /// Whether fans still arrive, leave and go idle at `ms` since start: until
    /// `--duration-s`. After it the run goes on polling (admissions too) until every fan
    /// that went idle is past the server's drop bound (`run_until`).
    fn churning(&self, ms: u64) -> bool {
        self.args.duration_s == 0 || ms < self.args.duration_s * 1000
    }

    /// When the run phase ends: the deadline, or later, when the last fan that went idle
    /// is past the server's drop bound (`--idle-drop-s`, plus 3 s for the tick). Then
    /// every idle fan is gone before the census, not about to go between the census and
    /// the check, and the fans still following their place kept polling meanwhile.
    fn run_until(&self, deadline: Instant) -> Instant {
        if self.tally.idled == 0 {
            return deadline;
        }
        let gone = self.last_idle_ms + self.args.idle_drop_s * 1000 + 3000;
        deadline.max(self.start + Duration::from_millis(gone))
    }

    fn set_state(&mut self, fan: u32, s: State) {
        let f = &mut self.fans[fan as usize];
        self.tally.states[f.state as usize] = self.tally.states[f.state as usize].saturating_sub(1);
        self.tally.states[s as usize] += 1;
        f.state = s;
    }

    fn schedule(&mut self, at_ms: u64, fan: u32, action: Action) {
        self.heap.push(Reverse(Due { at_ms, fan, action }));
    }

    fn poll_delay(&mut self, poll_after: Option<u64>) -> u64 {
        let base = poll_after.unwrap_or(self.args.poll_ms) as f64;
        let j = self.args.poll_jitter;
        let f = if j > 0.0 {
            self.rng.random_range(1.0 - j..=1.0 + j)
        } else {
            1.0
        };
        (base * f).max(1.0) as u64
    }

    fn lane(&mut self, fan: u32) -> usize {
        self.rr = self.rr.wrapping_add(1);
        let t = self.wire.targets;
        let sources = self.wire.lanes.len() / t;
        let target = if self.args.sticky {
            fan as usize % t
        } else {
            self.rr % t
        };
        (self.rr / t % sources) * t + target
    }

    fn dispatch(&mut self, fan: u32, action: Action) {
        let arg = if action == Action::Enter {
            Arg::User(self.args.user_base + i64::from(fan))
        } else {
            Arg::Token(self.tokens.get(self.fans[fan as usize].token))
        };
        let lane = self.lane(fan);
        self.in_flight += 1;
        tokio::spawn(
            self.wire
                .clone()
                .run(lane, fan, action, arg, self.tx.clone()),
        );
    }

    /// Sends what is due, as far as the in-flight bound allows; returns when the next
    /// thing falls due (None: nothing scheduled).
    fn pump(&mut self) -> Option<u64> {
        let switch = self.switch_streams();
        let next = self.pump_requests();
        match (switch, next) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Opens the streams that fell due; returns when the next one does.
    fn switch_streams(&mut self) -> Option<u64> {
        let now = self.now_ms();
        while let Some(&Reverse((at, fan))) = self.switches.peek() {
            if at > now {
                return Some(at);
            }
            self.switches.pop();
            let f = self.fans[fan as usize];
            if self.phase == Phase::Run && f.state == State::Waiting && f.flags & STREAM_NEXT != 0 {
                self.tally.front_streams += 1;
                self.open_stream(fan);
            }
        }
        None
    }

    fn pump_requests(&mut self) -> Option<u64> {
        loop {
            let now = self.now_ms();
            let arrival = (self.phase == Phase::Run
                && self.next_arrival < self.args.fans
                && self.churning(self.arrival_ms(self.next_arrival)))
            .then(|| self.arrival_ms(self.next_arrival));
            let top = self.heap.peek().map(|Reverse(d)| d.at_ms);
            let next = match (arrival, top) {
                (Some(a), Some(t)) => Some(a.min(t)),
                (a, t) => a.or(t),
            };
            match next {
                Some(at) if at <= now && self.in_flight < self.concurrency => {}
                other => return other,
            }
            if arrival.is_some_and(|a| top.is_none_or(|t| a <= t)) {
                let fan = self.next_arrival;
                self.next_arrival += 1;
                self.arrive(fan);
            } else if let Some(Reverse(d)) = self.heap.pop() {
                self.due(d, now);
            }
        }
    }

    fn arrive(&mut self, fan: u32) {
        let r: f64 = self.rng.random();
        let kind = if r < self.args.leave_share {
            Kind::Leaver
        } else if r < self.args.leave_share + self.args.idle_share {
            Kind::Idler
        } else if self.rng.random::<f64>() < self.args.sse {
            Kind::Sse
        } else {
            Kind::Normal
        };
        self.fans[fan as usize].kind = kind;
        self.set_state(fan, State::Entering);
        self.dispatch(fan, Action::Enter);
    }

    fn due(&mut self, d: Due, now: u64) {
        let f = self.fans[d.fan as usize];
        match d.action {
            Action::Poll if f.state == State::Waiting => {
                self.tally
                    .poll_lateness
                    .saturating_record(now.saturating_sub(d.at_ms).max(1));
                if u64::from(f.churn_at_ms) <= now && self.churning(now) {
                    if f.kind == Kind::Leaver {
                        self.set_state(d.fan, State::Leaving);
                        self.dispatch(d.fan, Action::Leave);
                    } else {
                        self.tally.idled += 1;
                        self.last_idle_ms = now;
                        self.set_state(d.fan, State::Idle);
                    }
                } else {
                    self.dispatch(d.fan, Action::Poll);
                }
            }
            Action::Enter if f.state == State::Entering => self.dispatch(d.fan, d.action),
            Action::Leave if f.state == State::Leaving => self.dispatch(d.fan, d.action),
            Action::Release if f.state == State::Active => self.dispatch(d.fan, d.action),
            Action::Census | Action::Check => self.dispatch(d.fan, d.action),
            _ => {}
        }
    }

    fn retry(&mut self, o: &Outcome, after_ms: u64) {
        let fan = o.fan;
        let f = &mut self.fans[fan as usize];
        f.tries = f.tries.saturating_add(1);
        let give_up = f.tries > 20;
        if give_up {
            self.tally.failed += 1;
            self.set_state(fan, State::Failed);
            return;
        }
        if self.phase == Phase::Drain {
            return;
        }
        let at = self.us(o.recv) / 1000 + after_ms;
        self.schedule(at, fan, o.action);
    }

    fn on_outcome(&mut self, o: Outcome) {
        self.in_flight -= 1;
        self.tally.failovers += u64::from(o.failovers);
        let answer = match &o.result {
            Ok(a) => a,
            Err(kind) => {
                *self.tally.transport_errors.entry(kind.clone()).or_default() += 1;
                self.retry(&o, 1000);
                return;
            }
        };
        let ep = o.action.endpoint();
        let lat = o.recv.saturating_duration_since(o.sent).as_micros() as u64;
        self.tally.latency[ep as usize].saturating_record(lat.max(1));
        let name = crate::http::ENDPOINTS[ep as usize];
        *self
            .tally
            .codes
            .entry(format!("{name} {}", answer.code))
            .or_default() += 1;
        if answer.code >= 500 {
            self.tally.server_errors += 1;
        }
        // 408: the server timed the connection out before a request arrived on it and
        // closed it. Seen when the client's pool opened a connection that another one's
        // answer made unneeded, left it unused past the server's first-request timeout
        // (`http.client_request_timeout_ms`, 5 s), then sent a request on it: the 408
        // was already waiting. Retried on a new connection, as a browser does, and
        // counted in the verdict (allowed by --allow-503).
        if matches!(answer.code, 503 | 429 | 408) {
            self.tally.unavailable += 1;
            let after = answer
                .retry_after_ms
                .unwrap_or(if answer.code == 408 { 0 } else { 1000 });
            self.retry(&o, after);
            return;
        }
        // only consecutive failures give a fan up
        self.fans[o.fan as usize].tries = 0;
        match o.action {
            Action::Enter => self.on_entered(&o, answer),
            Action::Poll | Action::Census | Action::Check => match &answer.ticket {
                Some(t) if answer.code == 200 => {
                    if o.action == Action::Poll {
                        self.tally.status_answers += 1;
                    }
                    self.on_ticket(o.fan, o.action, o.sent, o.recv, o.recv_wall_ms, t);
                }
                _ if answer.code == 401 => {
                    // the token is unknown: the fan has lost its place
                    self.tally.expired_waiting += 1;
                    self.note_lost(o.fan, o.recv);
                    self.set_state(o.fan, State::Expired);
                }
                _ => self.retry(&o, 1000),
            },
            Action::Event => {}
            Action::Leave | Action::Release => {
                if matches!(answer.code, 200..=299 | 401) {
                    if self.phase == Phase::Cleanup {
                        self.tally.cleaned_up += 1;
                        self.set_state(o.fan, State::Left);
                    } else if o.action == Action::Leave {
                        self.tally.left += 1;
                        self.set_state(o.fan, State::Left);
                    } else {
                        self.tally.released += 1;
                        self.set_state(o.fan, State::Released);
                    }
                } else {
                    self.retry(&o, 1000);
                }
            }
        }
    }

    fn on_entered(&mut self, o: &Outcome, answer: &Answer) {
        let fan = o.fan;
        let ticket = match &answer.ticket {
            Some(t) if matches!(answer.code, 200 | 201) => t,
            _ => {
                self.tally.failed += 1;
                self.set_state(fan, State::Failed);
                return;
            }
        };
        let Some(token) = ticket.token.as_deref() else {
            self.tally.failed += 1;
            self.set_state(fan, State::Failed);
            return;
        };
        let Some(r) = self.tokens.push(token) else {
            self.tally.failed += 1;
            self.set_state(fan, State::Failed);
            return;
        };
        let (sent, recv) = (self.us(o.sent), self.us(o.recv));
        self.tally.first_enter_us = Some(self.tally.first_enter_us.map_or(sent, |f| f.min(sent)));
        self.tally.last_enter_us = self.tally.last_enter_us.max(recv);
        if answer.code == 201 {
            self.tally.entered += 1;
        } else {
            self.tally.entered_existing += 1;
        }
        let seq = entry_seq(token);
        if self.tally.order == OrderSource::Unknown {
            self.tally.order = if seq.is_some() {
                OrderSource::Exact
            } else {
                OrderSource::Approximate
            };
        }
        let (lo, hi) = match (self.tally.order, seq) {
            (OrderSource::Exact, Some(s)) => (s, s),
            // a place taken before this run: its order is unknown
            (OrderSource::Approximate, _) if answer.code == 201 => (sent, recv),
            _ => (0, u64::MAX),
        };
        let churn = matches!(self.fans[fan as usize].kind, Kind::Leaver | Kind::Idler);
        let churn_at = if churn {
            let w = self.args.churn_window_ms.max(1);
            (recv / 1000 + self.rng.random_range(0..w)).min(u64::from(u32::MAX - 1)) as u32
        } else {
            u32::MAX
        };
        let f = &mut self.fans[fan as usize];
        f.token = r;
        f.lo = lo;
        f.hi = hi;
        f.tries = 0;
        f.churn_at_ms = churn_at;
        self.set_state(fan, State::Waiting);
        self.on_ticket(fan, Action::Enter, o.sent, o.recv, o.recv_wall_ms, ticket);
    }

    /// A ticket answered to `fan` by `action` (an enter, a poll, a quiescence pass, or
    /// an SSE event).
    fn on_ticket(
        &mut self,
        fan: u32,
        action: Action,
        sent: Instant,
        recv: Instant,
        recv_wall_ms: i64,
        t: &Ticket,
    ) {
        let i = fan as usize;
        match t.standing {
            Standing::Waiting => {
                self.fans[i].waited_ms = u32::try_from(self.us(recv) / 1000).unwrap_or(u32::MAX);
                if let Some(p) = t.position {
                    let p = u32::try_from(p).unwrap_or(u32::MAX);
                    let last = self.fans[i].last_pos;
                    if last != 0 && p > last {
                        self.tally.positions_up += 1;
                    }
                    self.fans[i].last_pos = p;
                }
                let polling = matches!(action, Action::Poll | Action::Census | Action::Check);
                if polling && self.fans[i].state == State::Waiting {
                    self.check_overtake(fan, sent);
                }
                match action {
                    Action::Census if self.fans[i].state == State::Idle => {
                        self.tally.idle_kept += 1;
                    }
                    Action::Census => {
                        self.fans[i].flags |= IN_CENSUS;
                        self.tally.census_waiting += 1;
                    }
                    Action::Check => self.fans[i].flags |= CHECKED,
                    _ if self.phase != Phase::Run => {}
                    Action::Enter if self.fans[i].kind == Kind::Sse && self.sse_available => {
                        self.open_stream(fan)
                    }
                    Action::Enter | Action::Poll => {
                        // Near the front the fan switches to the stream 500 ms after this
                        // answer, not at once: a second request that soon could be answered
                        // by the other instance from an older view (up to 50 ms older for
                        // the first max(2 × rate, 100) places, 400 ms further back).
                        let recv_ms = self.us(recv) / 1000;
                        if self.sse_available
                            && self.fans[i].flags & STREAM_NEXT == 0
                            && self.open_streams + self.switches.len() < self.args.sse_streams
                            && t.position.is_some_and(|p| p <= self.args.stream_front)
                        {
                            self.fans[i].flags |= STREAM_NEXT;
                            self.switches
                                .push(Reverse((recv_ms + STREAM_SWITCH_MS, fan)));
                        } else {
                            let at = recv_ms + self.poll_delay(t.poll_after_ms);
                            self.schedule(at, fan, Action::Poll);
                        }
                    }
                    _ => {}
                }
            }
            Standing::Active => {
                if self.fans[i].flags & SAW_ACTIVE == 0 {
                    self.fans[i].flags |= SAW_ACTIVE;
                    self.tally.admitted_seen += 1;
                    // only fans still following their place notice an admission
                    let following = matches!(self.fans[i].state, State::Waiting | State::Streaming);
                    if let Some(until) = t.active_until_ms.filter(|_| following) {
                        let admitted_at = until - self.active_ttl_ms;
                        let delay = (recv_wall_ms - admitted_at).max(0) as u64;
                        self.tally.admission_delay.saturating_record(delay.max(1));
                        if self.fans[i].state == State::Streaming {
                            self.tally
                                .admission_delay_streamed
                                .saturating_record(delay.max(1));
                        }
                    }
                    let lo = self.fans[i].lo;
                    let top = self.sightings.last().map_or(0, |s| s.1);
                    if lo > top {
                        let at = self.us(recv);
                        self.sightings.push((at, lo));
                    }
                }
                self.set_state(fan, State::Active);
                if self.phase == Phase::Run && !self.args.no_release {
                    let at = self.us(recv) / 1000 + self.args.hold_active_ms;
                    self.schedule(at, fan, Action::Release);
                }
            }
            Standing::Expired | Standing::Other => {
                if self.fans[i].state == State::Waiting || action == Action::Check {
                    self.tally.expired_waiting += 1;
                    self.note_lost(fan, recv);
                    if self.tally.expired_waiting <= 20 {
                        let f = self.fans[i];
                        eprintln!(
                            "[crowd] lost place: entry {}..{}, last position {}, {:?} fan, {:?} in {:?}, {:?} answered at {} ms",
                            f.lo,
                            f.hi,
                            f.last_pos,
                            f.kind,
                            action,
                            self.phase,
                            t.standing,
                            self.us(recv) / 1000
                        );
                    }
                }
                self.set_state(fan, State::Expired);
            }
        }
    }

    /// Counts a lost place as broken promise when the fan was told WAITING less than the
    /// idle timeout before (the server may only drop fans that stopped polling).
    fn note_lost(&mut self, fan: u32, recv: Instant) {
        let f = self.fans[fan as usize];
        let since = (self.us(recv) / 1000).saturating_sub(u64::from(f.waited_ms));
        if f.waited_ms > 0 && since < self.args.idle_timeout_s * 1000 {
            self.tally.lost_polling += 1;
        }
    }

    /// Was a fan that entered after `fan` already seen ACTIVE before this request left?
    fn check_overtake(&mut self, fan: u32, sent: Instant) {
        let grace = self.args.overtake_grace_ms * 1000;
        let Some(cut) = self.us(sent).checked_sub(grace) else {
            return;
        };
        let n = self.sightings.partition_point(|s| s.0 <= cut);
        if n == 0 {
            return;
        }
        let f = &mut self.fans[fan as usize];
        if self.sightings[n - 1].1 > f.hi {
            self.tally.overtakes += 1;
            if f.flags & OVERTAKEN == 0 {
                f.flags |= OVERTAKEN;
                self.tally.overtaken_fans += 1;
            }
        }
    }

    fn open_stream(&mut self, fan: u32) {
        if self.open_streams >= self.args.sse_streams {
            let at = self.now_ms() + self.poll_delay(None);
            self.schedule(at, fan, Action::Poll);
            return;
        }
        self.open_streams += 1;
        self.tally.sse_streams += 1;
        self.set_state(fan, State::Streaming);
        let token = self.tokens.get(self.fans[fan as usize].token);
        let lane = self.lane(fan);
        tokio::spawn(self.wire.clone().stream(
            lane,
            fan,
            token,
            self.stream_tx.clone(),
            self.stop_streams.subscribe(),
        ));
    }

    fn on_stream(&mut self, e: StreamEvent) {
        match e {
            StreamEvent::Refused { fan, code } => {
                self.open_streams -= 1;
                self.tally.sse_refused += 1;
                *self
                    .tally
                    .codes
                    .entry(format!("events {code}"))
                    .or_default() += 1;
                // the endpoint is not there (yet): every fan polls from now on
                self.sse_available = false;
                self.stream_ended(fan);
            }
            StreamEvent::Ticket {
                fan,
                at,
                wall_ms,
                ticket,
            } => {
                self.tally.sse_events += 1;
                if self.fans[fan as usize].state == State::Streaming {
                    // pushed, not asked for: no request instant, so no overtake check
                    self.on_ticket(fan, Action::Event, at, at, wall_ms, &ticket);
                }
            }
            StreamEvent::Ended { fan, error } => {
                self.open_streams -= 1;
                if let Some(e) = error {
                    *self
                        .tally
                        .transport_errors
                        .entry(format!("sse {e}"))
                        .or_default() += 1;
                }
                self.stream_ended(fan);
            }
        }
    }

    fn stream_ended(&mut self, fan: u32) {
        if self.fans[fan as usize].state == State::Streaming {
            self.set_state(fan, State::Waiting);
            if self.phase == Phase::Run {
                let at = self.now_ms();
                self.schedule(at, fan, Action::Poll);
            }
        }
    }

    /// Runs until nothing is left to do (or `--duration-s`), then the quiescence check.
    pub async fn run<P: Phases>(&mut self, hooks: &mut P) -> anyhow::Result<()> {
        self.start = Instant::now();
        self.tally.states[State::Pending as usize] = u64::from(self.args.fans);
        let deadline = (self.args.duration_s > 0)
            .then(|| self.start + Duration::from_secs(self.args.duration_s));
        let mut progress = (self.args.progress_s > 0).then(|| {
            tokio::time::interval_at(
                self.start + Duration::from_secs(self.args.progress_s),
                Duration::from_secs(self.args.progress_s),
            )
        });
        let mut last_status = 0u64;
        loop {
            let next = self.pump();
            let until = deadline.map(|d| match self.phase {
                Phase::Run => self.run_until(d),
                _ => d,
            });
            let done = match self.phase {
                Phase::Run => {
                    until.is_some_and(|d| Instant::now() >= d)
                        || (next.is_none() && self.in_flight == 0 && self.open_streams == 0)
                }
                _ => next.is_none() && self.in_flight == 0,
            };
            if done {
                if !self.next_phase(hooks).await? {
                    break;
                }
                continue;
            }
            let wake = match next {
                Some(at) if self.in_flight < self.concurrency => {
                    self.start + Duration::from_millis(at)
                }
                _ => Instant::now() + Duration::from_secs(1),
            };
            let wake = match (self.phase, until) {
                (Phase::Run, Some(d)) => wake.min(d),
                _ => wake,
            };
            tokio::select! {
                Some(o) = self.rx.recv() => {
                    self.on_outcome(o);
                    while let Ok(o) = self.rx.try_recv() {
                        self.on_outcome(o);
                    }
                }
                Some(e) = self.stream_rx.recv() => self.on_stream(e),
                _ = tokio::time::sleep_until(wake) => {}
                _ = async { match progress.as_mut() { Some(p) => p.tick().await, None => std::future::pending().await } } => {
                    let s = self.tally.status_answers;
                    eprintln!(
                        "[crowd {:>6.1}s] {:?} arrived {} waiting {} active-seen {} left {} idle {} | status/s {:.0} in-flight {} | 5xx {} 503/429 {} errors {} | overtakes {} up {}",
                        self.start.elapsed().as_secs_f64(), self.phase, self.next_arrival,
                        self.tally.states[State::Waiting as usize] + self.tally.states[State::Streaming as usize],
                        self.tally.admitted_seen, self.tally.left, self.tally.idled,
                        (s - last_status) as f64 / self.args.progress_s as f64, self.in_flight,
                        self.tally.server_errors, self.tally.unavailable,
                        self.tally.transport_errors.values().sum::<u64>(),
                        self.tally.overtakes, self.tally.positions_up,
                    );
                    last_status = s;
                }
            }
        }
        self.tally.fan_bytes = std::mem::size_of::<Fan>() * self.fans.len()
            + self.tokens.bytes_used()
            + std::mem::size_of::<(u64, u64)>() * self.sightings.len();
        Ok(())
    }

    /// Moves to the next phase; false when the run is over.
    async fn next_phase<P: Phases>(&mut self, hooks: &mut P) -> anyhow::Result<bool> {
        match self.phase {
            Phase::Run => {
                self.tally.run_s = self.start.elapsed().as_secs_f64();
                eprintln!("[crowd] churn over: draining");
                self.phase = Phase::Drain;
                self.heap.clear();
                let _ = self.stop_streams.send(true);
                Ok(true)
            }
            Phase::Drain => {
                // streams still open end on their own after the stop signal
                while self.open_streams > 0 {
                    match self.stream_rx.recv().await {
                        Some(e) => self.on_stream(e),
                        None => break,
                    }
                }
                self.heap.clear();
                hooks.churn_over().await;
                if self.args.no_quiesce {
                    return Ok(self.cleanup());
                }
                hooks.quiesce().await?;
                eprintln!("[crowd] paused; settling {} ms", self.args.settle_ms);
                tokio::time::sleep(Duration::from_millis(self.args.settle_ms)).await;

                self.phase = Phase::Census;
                let now = self.now_ms();
                for fan in 0..self.args.fans {
                    if matches!(
                        self.fans[fan as usize].state,
                        State::Waiting | State::Idle | State::Streaming
                    ) {
                        self.schedule(now, fan, Action::Census);
                    }
                }
                eprintln!("[crowd] census of {} fans", self.heap.len());
                Ok(true)
            }
            Phase::Census => {
                self.tally.server_waiting_at_quiescence = hooks.server_waiting().await;
                self.phase = Phase::Check;
                let now = self.now_ms();
                for fan in 0..self.args.fans {
                    if self.fans[fan as usize].flags & IN_CENSUS != 0 {
                        self.schedule(now, fan, Action::Check);
                    }
                }
                eprintln!("[crowd] checking {} positions", self.heap.len());
                Ok(true)
            }
            Phase::Check => {
                self.check_positions();
                self.tally.quiescence_s = self.start.elapsed().as_secs_f64() - self.tally.run_s;
                Ok(self.cleanup())
            }
            Phase::Cleanup => Ok(false),
        }
    }

    /// Schedules the cleanup pass: leftovers of one run would hold the next one's
    /// active slots and places. False when there is nothing to do.
    fn cleanup(&mut self) -> bool {
        if self.args.no_cleanup {
            return false;
        }
        self.phase = Phase::Cleanup;
        let now = self.now_ms();
        for fan in 0..self.args.fans {
            match self.fans[fan as usize].state {
                State::Waiting | State::Idle | State::Streaming => {
                    self.set_state(fan, State::Leaving);
                    self.schedule(now, fan, Action::Leave);
                }
                State::Active => self.schedule(now, fan, Action::Release),
                _ => {}
            }
        }
        eprintln!("[crowd] cleanup: {} fans leave", self.heap.len());
        !self.heap.is_empty()
    }

    fn check_positions(&mut self) {
        let line: Vec<Placed> = self
            .fans
            .iter()
            .filter(|f| f.flags & IN_CENSUS != 0)
            .map(|f| Placed {
                lo: f.lo,
                hi: f.hi,
                position: (f.flags & CHECKED != 0).then_some(u64::from(f.last_pos)),
            })
            .collect();
        let (errors, checked) = position_errors(&line);
        self.tally.position_errors = errors;
        self.tally.positions_checked = checked;
    }
}

/// A fan of the quiescence census: its entry-order interval and the position the check
/// pass answered (None: it was no longer waiting).
#[derive(Debug, Clone, Copy)]
struct Placed {
    lo: u64,
    hi: u64,
    position: Option<u64>,
}

/// Each fan of the census must be answered its rank among them: at least 1 + the fans
/// that certainly entered before it (`hi` below its `lo`), at most 1 + those that
/// possibly did (`lo` below its `hi`). Returns (errors, positions checked); a fan that
/// was no longer waiting counts as an error.
fn position_errors(line: &[Placed]) -> (u64, u64) {
    let mut his: Vec<u64> = line.iter().map(|f| f.hi).collect();
    let mut los: Vec<u64> = line.iter().map(|f| f.lo).collect();
    his.sort_unstable();
    los.sort_unstable();
    let (mut errors, mut checked) = (0, 0);
    for f in line {
        let Some(pos) = f.position else {
            errors += 1;
            continue;
        };
        checked += 1;
        let certainly_before = his.partition_point(|h| *h < f.lo) as u64;
        let mut possibly_before = los.partition_point(|l| *l < f.hi) as u64;
        if f.lo < f.hi {
            possibly_before -= 1; // itself
        }
        if pos < 1 + certainly_before || pos > 1 + possibly_before {
            errors += 1;
        }
    }
    (errors, checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(seq: u64, pos: u64) -> Placed {
        Placed {
            lo: seq,
            hi: seq,
            position: Some(pos),
        }
    }

    #[test]
    fn positions_matching_the_entry_order_are_right() {
        let line = [exact(10, 1), exact(30, 3), exact(20, 2)];
        assert_eq!(position_errors(&line), (0, 3));
    }

    #[test]
    fn swapped_positions_and_a_vanished_fan_are_errors() {
        let line = [exact(10, 2), exact(20, 1), exact(30, 3)];
        assert_eq!(position_errors(&line), (2, 3));
        let gone = Placed {
            position: None,
            ..exact(40, 4)
        };
        assert_eq!(position_errors(&[exact(10, 1), gone]), (1, 1));
    }

    #[test]
    fn overlapping_enter_calls_may_be_answered_in_either_order() {
        // a and b were in flight together; c entered after both answered
        let a = |pos| Placed {
            lo: 100,
            hi: 200,
            position: Some(pos),
        };
        let b = |pos| Placed {
            lo: 150,
            hi: 250,
            position: Some(pos),
        };
        let c = |pos| Placed {
            lo: 300,
            hi: 400,
            position: Some(pos),
        };
        assert_eq!(position_errors(&[a(1), b(2), c(3)]), (0, 3));
        assert_eq!(position_errors(&[a(2), b(1), c(3)]), (0, 3));
        assert_eq!(position_errors(&[a(1), b(3), c(2)]), (2, 3));
    }

    #[test]
    fn a_fan_stays_small() {
        assert!(
            std::mem::size_of::<Fan>() <= 40,
            "{}",
            std::mem::size_of::<Fan>()
        );
        assert!(
            std::mem::size_of::<Due>() <= 16,
            "{}",
            std::mem::size_of::<Due>()
        );
    }
}
