//! Use cases of the waiting room: entering, polling, leaving, operating a queue, and the
//! admission gate that booking calls go through.

use std::sync::Arc;

use crate::draw::Draw;
use crate::draw_archive::{DrawArchive, Receipt};
use crate::error::{BoxError, QueueError, StoreError};
use crate::lifecycle::{CloseReason, DEFAULT_RETIRE_AFTER_SECONDS, LifeStep, LineLife, next_step};
use crate::model::{ConcertId, UserId};
use crate::ports::{CatalogRepository, Clock, Queue, SeatRepository};
use crate::queue::{
    AdmissionCap, Entered, QueuePolicy, QueueStats, QueueToken, TickReport, Ticket, TicketStatus,
};

/// The most receipts one page of a draw lists.
pub const MAX_RECEIPTS_PAGE: u64 = 100_000;

/// The most admission releases kept for a retry (past it the oldest are left to their
/// admission's end, and counted as dropped).
pub const MAX_PENDING_RELEASES: usize = 100_000;

/// What one pass over the pending admission releases did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReleaseRetries {
    /// Releases tried again.
    pub retried: u64,
    /// Of them, done now (or found with nothing left to release).
    pub done: u64,
    /// Still pending after the pass.
    pub pending: u64,
}

/// Errors of the waiting-room use cases.
#[derive(Debug, thiserror::Error)]
pub enum WaitingRoomError {
    #[error("concert not found")]
    ConcertNotFound,
    /// Malformed, forged or never issued token.
    #[error("unknown queue token")]
    UnknownToken,
    #[error("invalid queue policy: {0}")]
    InvalidPolicy(String),
    /// A valid policy the line's state refuses (e.g. `sale_opens_at` once fans entered
    /// a line without a pre-queue): the request conflicts with what already happened.
    #[error("the line refuses this policy now: {0}")]
    PolicyConflict(String),
    #[error("queue unavailable")]
    /// The queue backend could not answer (the cause of `QueueError::Unavailable`).
    QueueUnavailable(#[source] BoxError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The concert's line has no pre-queue, hence no draw.
    #[error("this concert's line has no pre-queue and no draw")]
    NoDraw,
    /// The draw has not run yet: there are no receipts to list.
    #[error("the draw has not run yet: the receipts are listed after the opening")]
    NotDrawnYet,
    /// The concert's line is closed: nobody enters it.
    #[error("the sale is over: {}", closed_detail(*.0))]
    LineClosed(CloseReason),
}

fn closed_detail(reason: CloseReason) -> &'static str {
    match reason {
        CloseReason::SoldOut => "the concert is sold out",
        CloseReason::Operator => "the operator closed the line",
        CloseReason::Ended => "the concert has started",
    }
}

impl From<QueueError> for WaitingRoomError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::UnknownToken => WaitingRoomError::UnknownToken,
            QueueError::Unavailable(cause) => WaitingRoomError::QueueUnavailable(cause),
            QueueError::Refused(why) => WaitingRoomError::PolicyConflict(why),
            QueueError::Closed(reason) => WaitingRoomError::LineClosed(reason),
        }
    }
}

/// Why the admission gate turned a booking call away.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// No queue token was presented.
    #[error("a queue token is required: enter the concert's waiting room first")]
    Missing,
    /// Malformed, forged or never issued.
    #[error("unknown queue token")]
    Invalid,
    /// The token is still waiting in line.
    #[error("not admitted yet: still waiting in line")]
    Waiting,
    /// The admission ran out, or the token left or finished.
    #[error("the queue token has expired")]
    Expired,
    /// The token belongs to another user.
    #[error("the queue token belongs to another user")]
    OtherUser,
    /// The token is for another concert.
    #[error("the queue token is for another concert")]
    OtherConcert,
    /// The queue backend cannot answer.
    #[error("queue unavailable")]
    Unavailable(#[source] BoxError),
    /// The queue backend answered but refused the check; the message says why
    /// (retrying does not help, unlike `Unavailable`).
    #[error("{0}")]
    Refused(String),
}

/// The waiting room, over the `Queue` port.
#[derive(Clone)]
pub struct WaitingRoom {
    queue: Arc<dyn Queue>,
    catalog: Arc<dyn CatalogRepository>,
    clock: Arc<dyn Clock>,
    /// Counts the free seats admission is capped by; `None`: admission ignores them.
    seats: Option<Arc<dyn SeatRepository>>,
    /// How long a closed line is kept before it retires.
    retire_after: chrono::Duration,
    /// Admissions whose release after a payment failed (the queue was unavailable):
    /// tried again at every tick until done, so no slot waits out its `active_ttl`.
    releases: Arc<std::sync::Mutex<std::collections::VecDeque<QueueToken>>>,
    /// Where revealed draws are kept for good; `None`: only the queue holds them.
    archive: Option<Arc<dyn DrawArchive>>,
    /// The commitment of each concert's draw this instance knows is archived, so a
    /// stored draw is not read from the queue again (one entry per concert with a draw).
    archived: Arc<std::sync::Mutex<std::collections::HashMap<ConcertId, String>>>,
}

impl WaitingRoom {
    pub fn new(
        queue: Arc<dyn Queue>,
        catalog: Arc<dyn CatalogRepository>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        WaitingRoom {
            queue,
            catalog,
            clock,
            seats: None,
            retire_after: chrono::Duration::seconds(DEFAULT_RETIRE_AFTER_SECONDS as i64),
            releases: Arc::default(),
            archive: None,
            archived: Arc::default(),
        }
    }

    /// Keeps every revealed draw in `archive` (see [`WaitingRoom::keep_draws`]) and
    /// reads a draw the queue no longer has from it.
    #[must_use]
    pub fn with_draw_archive(mut self, archive: Arc<dyn DrawArchive>) -> Self {
        self.archive = Some(archive);
        self
    }

    /// Retires a closed line `seconds` after it closed (default
    /// [`DEFAULT_RETIRE_AFTER_SECONDS`]).
    #[must_use]
    pub fn with_retirement(mut self, seconds: u64) -> Self {
        self.retire_after = chrono::Duration::seconds(i64::try_from(seconds).unwrap_or(i64::MAX));
        self
    }

    /// Caps every admission by the concert's free seats (`QueuePolicy::admit_per_seat`)
    /// and tells the line what is left to buy.
    #[must_use]
    pub fn with_inventory(mut self, seats: Arc<dyn SeatRepository>) -> Self {
        self.seats = Some(seats);
        self
    }

    /// The concert's draw document: the queue's, else the archived one (after the line
    /// retired, or when the queue lost its data or cannot answer).
    pub async fn draw(&self, concert: ConcertId) -> Result<Draw, WaitingRoomError> {
        if self.catalog.concert(concert).await?.is_none() {
            return Err(WaitingRoomError::ConcertNotFound);
        }
        Ok(self.find_draw(concert).await?.0)
    }

    /// The concert's draw and whether it comes from the archive.
    async fn find_draw(&self, concert: ConcertId) -> Result<(Draw, bool), WaitingRoomError> {
        let live = self.queue.draw(concert).await;
        if let Ok(Some(draw)) = live {
            return Ok((draw, false));
        }
        if let Some(archive) = &self.archive
            && let Some(draw) = archive.latest(concert).await?
        {
            return Ok((draw, true));
        }
        match live {
            Err(e) => Err(e.into()),
            Ok(_) => Err(WaitingRoomError::NoDraw),
        }
    }

    /// A page of the drawn receipts (first drawn first) with the draw document.
    pub async fn draw_receipts(
        &self,
        concert: ConcertId,
        offset: u64,
        limit: u64,
    ) -> Result<(Draw, Vec<String>), WaitingRoomError> {
        if self.catalog.concert(concert).await?.is_none() {
            return Err(WaitingRoomError::ConcertNotFound);
        }
        let (draw, archived) = self.find_draw(concert).await?;
        let limit = limit.min(MAX_RECEIPTS_PAGE);
        let receipts = match &self.archive {
            Some(archive) if archived => archive
                .receipts(concert, &draw.commitment, offset, limit)
                .await?
                .map(|page| page.iter().map(hex::encode).collect()),
            _ => self.queue.draw_receipts(concert, offset, limit).await?,
        };
        Ok((draw, receipts.ok_or(WaitingRoomError::NotDrawnYet)?))
    }

    /// Archives every revealed draw of the queue's concerts not archived yet (a no-op
    /// without an archive). Returns how many were stored now; a concert whose draw
    /// cannot be stored yet is logged and tried again at the next call.
    pub async fn keep_draws(&self) -> Result<usize, QueueError> {
        let mut stored = 0;
        for concert in self.queue.concerts().await? {
            match self.keep_draw(concert).await {
                Ok(true) => stored += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(concert = %concert, error = %e, "draw not archived yet");
                }
            }
        }
        Ok(stored)
    }

    /// Archives the concert's draw if the queue has revealed it and it is not archived
    /// yet; `true` when it was stored now.
    async fn keep_draw(&self, concert: ConcertId) -> Result<bool, WaitingRoomError> {
        let Some(archive) = &self.archive else {
            return Ok(false);
        };
        let Some(draw) = self.queue.draw(concert).await? else {
            return Ok(false);
        };
        if draw.seed.is_none() || self.archived_lock().get(&concert) == Some(&draw.commitment) {
            return Ok(false);
        }
        // Stored already (by another instance, or before a restart)?
        let fresh = archive
            .latest(concert)
            .await?
            .is_none_or(|known| known.commitment != draw.commitment);
        if fresh {
            let mut receipts: Vec<Receipt> = Vec::new();
            while (receipts.len() as u64) < draw.entrants {
                let page = self
                    .queue
                    .draw_receipts(concert, receipts.len() as u64, MAX_RECEIPTS_PAGE)
                    .await?
                    .unwrap_or_default();
                if page.is_empty() {
                    break;
                }
                for r in page {
                    let mut bytes = [0u8; 32];
                    hex::decode_to_slice(&r, &mut bytes).map_err(|_| {
                        WaitingRoomError::QueueUnavailable("a receipt is not 64 hex digits".into())
                    })?;
                    receipts.push(bytes);
                }
            }
            if receipts.len() as u64 != draw.entrants {
                return Err(WaitingRoomError::QueueUnavailable(
                    format!(
                        "the queue lists {} receipts of {} entrants",
                        receipts.len(),
                        draw.entrants
                    )
                    .into(),
                ));
            }
            archive.store(concert, &draw, &receipts).await?;
            tracing::info!(concert = %concert, entrants = draw.entrants, "draw archived");
        }
        self.archived_lock().insert(concert, draw.commitment);
        Ok(fresh)
    }

    fn archived_lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<ConcertId, String>> {
        self.archived
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Puts the user in the concert's line (or returns their existing place).
    #[tracing::instrument(skip_all, fields(concert = %concert, user = %user), err(level = "debug"))]
    pub async fn enter(
        &self,
        concert: ConcertId,
        user: UserId,
    ) -> Result<Entered, WaitingRoomError> {
        let now = self.clock.now();
        if self.catalog.concert(concert).await?.is_none() {
            return Err(WaitingRoomError::ConcertNotFound);
        }
        match self.queue.enter(concert, user, now).await {
            // Seats came back (a return, added seats) after the line closed as sold
            // out, possibly after it retired (the ticker no longer visits it): reopen.
            Err(QueueError::Closed(CloseReason::SoldOut)) if self.seats_back(concert).await? => {
                self.queue.reopen(concert).await?;
                Ok(self.queue.enter(concert, user, self.clock.now()).await?)
            }
            other => Ok(other?),
        }
    }

    /// Whether a seat is free again and the concert has not started.
    async fn seats_back(&self, concert: ConcertId) -> Result<bool, WaitingRoomError> {
        let Some(seats) = &self.seats else {
            return Ok(false);
        };
        let now = self.clock.now();
        Ok(seats.seat_counts(concert, now).await?.free > 0 && !self.started(concert).await?)
    }

    /// Whether the concert's last schedule has started (a concert with no schedule has
    /// not).
    async fn started(&self, concert: ConcertId) -> Result<bool, WaitingRoomError> {
        let now = self.clock.now();
        let schedules = self.catalog.list_schedules(concert, now).await?;
        Ok(schedules.is_some_and(|s| !s.is_empty() && s.iter().all(|s| s.starts_at <= now)))
    }

    /// The operator closes the concert's line (see `Queue::close`).
    pub async fn close(&self, concert: ConcertId) -> Result<LineLife, WaitingRoomError> {
        if self.catalog.concert(concert).await?.is_none() {
            return Err(WaitingRoomError::ConcertNotFound);
        }
        Ok(self
            .queue
            .close(concert, CloseReason::Operator, self.clock.now())
            .await?)
    }

    /// The operator reopens the concert's line (see `Queue::reopen`).
    pub async fn reopen(&self, concert: ConcertId) -> Result<LineLife, WaitingRoomError> {
        if self.catalog.concert(concert).await?.is_none() {
            return Err(WaitingRoomError::ConcertNotFound);
        }
        Ok(self.queue.reopen(concert).await?)
    }

    /// The concert's line's life.
    pub async fn life(&self, concert: ConcertId) -> Result<LineLife, WaitingRoomError> {
        if self.catalog.concert(concert).await?.is_none() {
            return Err(WaitingRoomError::ConcertNotFound);
        }
        Ok(self.queue.life(concert).await?)
    }

    /// The token's standing; also its heartbeat.
    pub async fn status(&self, raw_token: &str) -> Result<Ticket, WaitingRoomError> {
        let token = QueueToken::parse_unchecked(raw_token).ok_or(WaitingRoomError::UnknownToken)?;
        Ok(self.queue.status(&token, self.clock.now()).await?)
    }

    /// Leaves the line or frees the active slot.
    pub async fn leave(&self, raw_token: &str) -> Result<(), WaitingRoomError> {
        let token = QueueToken::parse_unchecked(raw_token).ok_or(WaitingRoomError::UnknownToken)?;
        Ok(self.queue.leave(&token, self.clock.now()).await?)
    }

    /// Checks that `raw_token` is an `Active` token of `user` for `concert`.
    pub async fn authorize(
        &self,
        raw_token: Option<&str>,
        user: UserId,
        concert: ConcertId,
    ) -> Result<Ticket, GateError> {
        let raw = raw_token.ok_or(GateError::Missing)?;
        let token = QueueToken::parse_unchecked(raw).ok_or(GateError::Invalid)?;
        let ticket = match self.queue.admission(&token, self.clock.now()).await {
            Ok(t) => t,
            Err(QueueError::UnknownToken) => return Err(GateError::Invalid),
            Err(QueueError::Unavailable(cause)) => return Err(GateError::Unavailable(cause)),
            Err(QueueError::Refused(why)) => return Err(GateError::Refused(why)),
            Err(QueueError::Closed(_)) => return Err(GateError::Expired),
        };
        if ticket.user_id != user {
            return Err(GateError::OtherUser);
        }
        if ticket.concert_id != concert {
            return Err(GateError::OtherConcert);
        }
        match ticket.status {
            TicketStatus::Active => Ok(ticket),
            TicketStatus::Waiting | TicketStatus::PreQueue => Err(GateError::Waiting),
            TicketStatus::Expired | TicketStatus::SoldOut | TicketStatus::Closed => {
                Err(GateError::Expired)
            }
        }
    }

    /// Frees the user's active slot (after a payment that left them no held seat). When
    /// the queue cannot answer, the release is kept and tried again by
    /// [`WaitingRoom::retry_releases`] until done; the error is still returned.
    pub async fn complete(&self, token: &QueueToken) -> Result<(), QueueError> {
        let result = self.queue.leave(token, self.clock.now()).await;
        if let Err(QueueError::Unavailable(_)) = &result {
            let mut pending = self.pending_releases();
            if pending.len() >= MAX_PENDING_RELEASES {
                pending.pop_front();
            }
            pending.push_back(token.clone());
        }
        result
    }

    fn pending_releases(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::VecDeque<QueueToken>> {
        self.releases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Tries every pending admission release again (see `complete`); those the queue
    /// still cannot take stay pending. A token the queue no longer knows (its line
    /// retired or started over) has nothing left to release.
    pub async fn retry_releases(&self) -> ReleaseRetries {
        let tokens: Vec<QueueToken> = self.pending_releases().drain(..).collect();
        let mut report = ReleaseRetries::default();
        let mut still = Vec::new();
        for token in tokens {
            report.retried += 1;
            match self.queue.leave(&token, self.clock.now()).await {
                Err(QueueError::Unavailable(_)) => still.push(token),
                Ok(()) | Err(_) => report.done += 1,
            }
        }
        let mut pending = self.pending_releases();
        pending.extend(still);
        report.pending = pending.len() as u64;
        report
    }

    /// Sets a concert's policy after validating it.
    pub async fn set_policy(
        &self,
        concert: ConcertId,
        policy: QueuePolicy,
    ) -> Result<QueuePolicy, WaitingRoomError> {
        policy.validate().map_err(WaitingRoomError::InvalidPolicy)?;
        if self.catalog.concert(concert).await?.is_none() {
            return Err(WaitingRoomError::ConcertNotFound);
        }
        self.queue.set_policy(concert, policy).await?;
        Ok(policy)
    }

    /// A concert's policy.
    pub async fn policy(&self, concert: ConcertId) -> Result<QueuePolicy, WaitingRoomError> {
        Ok(self.queue.policy(concert).await?)
    }

    /// A concert's live figures.
    pub async fn stats(&self, concert: ConcertId) -> Result<QueueStats, WaitingRoomError> {
        let now = self.clock.now();
        if self.catalog.concert(concert).await?.is_none() {
            return Err(WaitingRoomError::ConcertNotFound);
        }
        Ok(self.queue.stats(concert, now).await?)
    }

    /// One admission tick over every concert with a waiting room. Returns the report per
    /// concert; a concert whose tick fails is skipped (and logged) so the others go on.
    pub async fn tick_all(&self) -> Result<Vec<(ConcertId, TickReport)>, QueueError> {
        let concerts = self.queue.concerts().await?;
        let mut reports = Vec::with_capacity(concerts.len());
        for concert in concerts {
            let cap = match self.cap(concert).await {
                Ok(cap) => cap,
                Err(e) => {
                    tracing::warn!(concert = %concert, error = %e, "admission tick skipped: seats not counted");
                    continue;
                }
            };
            match self.queue.tick_capped(concert, self.clock.now(), cap).await {
                Ok(report) => {
                    if let Err(e) = self.live(concert, report.life, cap).await {
                        tracing::warn!(concert = %concert, error = %e, "line life step failed");
                    }
                    reports.push((concert, report));
                }
                Err(e) => tracing::warn!(concert = %concert, error = %e, "admission tick failed"),
            }
        }
        Ok(reports)
    }

    /// Takes the line's next life step after a tick found it `life` (see
    /// [`next_step`]).
    async fn live(
        &self,
        concert: ConcertId,
        life: LineLife,
        cap: Option<AdmissionCap>,
    ) -> Result<(), WaitingRoomError> {
        if matches!(life, LineLife::Retired { .. }) {
            return Ok(());
        }
        let ended = self.started(concert).await?;
        let now = self.clock.now();
        let step = next_step(
            life,
            cap.map(|c| c.inventory),
            ended,
            now,
            self.retire_after,
        );
        match step {
            None => {}
            Some(LifeStep::Close(reason)) => {
                self.queue.close(concert, reason, now).await?;
                tracing::info!(concert = %concert, reason = reason.as_str(), "line closed");
            }
            Some(LifeStep::Reopen) => {
                self.queue.reopen(concert).await?;
                tracing::info!(concert = %concert, "line reopened: seats are free again");
            }
            Some(LifeStep::Retire) => {
                // Retiring deletes the queue's copy of the draw: archive it first.
                self.keep_draw(concert).await?;
                let closed_before = now - self.retire_after;
                if self.queue.retire(concert, now, closed_before).await? {
                    tracing::info!(concert = %concert, "line retired");
                }
            }
        }
        Ok(())
    }

    /// The inventory bound of the concert's next admission, when seats are counted.
    async fn cap(&self, concert: ConcertId) -> Result<Option<AdmissionCap>, WaitingRoomError> {
        let Some(seats) = &self.seats else {
            return Ok(None);
        };
        let policy = self.queue.policy(concert).await?;
        let counts = seats.seat_counts(concert, self.clock.now()).await?;
        Ok(Some(AdmissionCap::new(counts, &policy)))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::model::Concert;
    use crate::ports::{MockCatalogRepository, MockClock, MockQueue};

    fn clock() -> Arc<dyn Clock> {
        let mut c = MockClock::new();
        c.expect_now()
            .returning(|| Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        Arc::new(c)
    }

    fn catalog_with(concert: Option<i64>) -> Arc<dyn CatalogRepository> {
        let mut c = MockCatalogRepository::new();
        c.expect_concert().returning(move |id| {
            Ok((Some(id.0) == concert).then(|| Concert {
                id,
                title: "t".into(),
                venue: "v".into(),
            }))
        });
        Arc::new(c)
    }

    fn ticket(user: i64, concert: i64, status: TicketStatus) -> Ticket {
        Ticket {
            token: QueueToken::issue(
                &crate::queue::TokenKey::derive(b"test"),
                ConcertId(concert),
                1,
                UserId(user),
            ),
            concert_id: ConcertId(concert),
            user_id: UserId(user),
            status,
            position: None,
            eta_seconds: None,
            active_until: None,
            opens_at: None,
            inventory: None,
            eta_range: None,
        }
    }

    fn room_with_status(t: Result<Ticket, ()>, unavailable: bool) -> WaitingRoom {
        let mut q = MockQueue::new();
        q.expect_admission().returning(move |_, _| {
            if unavailable {
                return Err(QueueError::unavailable("down"));
            }
            t.clone().map_err(|_| QueueError::UnknownToken)
        });
        WaitingRoom::new(Arc::new(q), catalog_with(Some(1)), clock())
    }

    const TOKEN: &str = "1.1.7.0123456789abcdef0123456789abcdef";

    #[tokio::test]
    async fn a_failed_release_after_payment_is_retried_until_done() {
        let mut q = MockQueue::new();
        let mut calls = 0;
        q.expect_leave().times(3).returning(move |_, _| {
            calls += 1;
            if calls < 3 {
                Err(QueueError::unavailable("down"))
            } else {
                Ok(())
            }
        });
        let room = WaitingRoom::new(Arc::new(q), catalog_with(Some(1)), clock());
        let token = ticket(7, 1, TicketStatus::Active).token;
        assert!(room.complete(&token).await.is_err());
        assert_eq!(
            room.retry_releases().await,
            ReleaseRetries {
                retried: 1,
                done: 0,
                pending: 1
            }
        );
        assert_eq!(
            room.retry_releases().await,
            ReleaseRetries {
                retried: 1,
                done: 1,
                pending: 0
            }
        );
        assert_eq!(room.retry_releases().await, ReleaseRetries::default());
    }

    #[tokio::test]
    async fn a_refusal_at_the_gate_is_no_outage() {
        let mut q = MockQueue::new();
        q.expect_admission()
            .returning(|_, _| Err(QueueError::Refused("line closed".into())));
        let room = WaitingRoom::new(Arc::new(q), catalog_with(Some(1)), clock());
        assert!(matches!(
            room.authorize(Some(TOKEN), UserId(7), ConcertId(1)).await,
            Err(GateError::Refused(why)) if why == "line closed"
        ));
    }

    #[tokio::test]
    async fn gate_maps_every_ticket_state() {
        let ok = room_with_status(Ok(ticket(7, 1, TicketStatus::Active)), false);
        assert!(
            ok.authorize(Some(TOKEN), UserId(7), ConcertId(1))
                .await
                .is_ok()
        );
        assert!(matches!(
            ok.authorize(None, UserId(7), ConcertId(1)).await,
            Err(GateError::Missing)
        ));
        assert!(matches!(
            ok.authorize(Some("nope"), UserId(7), ConcertId(1)).await,
            Err(GateError::Invalid)
        ));
        assert!(matches!(
            ok.authorize(Some(TOKEN), UserId(8), ConcertId(1)).await,
            Err(GateError::OtherUser)
        ));
        assert!(matches!(
            ok.authorize(Some(TOKEN), UserId(7), ConcertId(2)).await,
            Err(GateError::OtherConcert)
        ));
        let waiting = room_with_status(Ok(ticket(7, 1, TicketStatus::Waiting)), false);
        assert!(matches!(
            waiting
                .authorize(Some(TOKEN), UserId(7), ConcertId(1))
                .await,
            Err(GateError::Waiting)
        ));
        let expired = room_with_status(Ok(ticket(7, 1, TicketStatus::Expired)), false);
        assert!(matches!(
            expired
                .authorize(Some(TOKEN), UserId(7), ConcertId(1))
                .await,
            Err(GateError::Expired)
        ));
        let unknown = room_with_status(Err(()), false);
        assert!(matches!(
            unknown
                .authorize(Some(TOKEN), UserId(7), ConcertId(1))
                .await,
            Err(GateError::Invalid)
        ));
        let down = room_with_status(Err(()), true);
        assert!(matches!(
            down.authorize(Some(TOKEN), UserId(7), ConcertId(1)).await,
            Err(GateError::Unavailable(_))
        ));
    }

    #[tokio::test]
    async fn entering_an_unknown_concert_is_refused_before_touching_the_queue() {
        let q = MockQueue::new(); // any call would panic: no expectations
        let room = WaitingRoom::new(Arc::new(q), catalog_with(None), clock());
        assert!(matches!(
            room.enter(ConcertId(5), UserId(1)).await,
            Err(WaitingRoomError::ConcertNotFound)
        ));
    }

    #[tokio::test]
    async fn status_of_a_malformed_token_is_unknown_without_a_queue_call() {
        let room = WaitingRoom::new(Arc::new(MockQueue::new()), catalog_with(Some(1)), clock());
        assert!(matches!(
            room.status("garbage").await,
            Err(WaitingRoomError::UnknownToken)
        ));
        assert!(matches!(
            room.leave("1.xyz").await,
            Err(WaitingRoomError::UnknownToken)
        ));
    }

    #[tokio::test]
    async fn invalid_policy_is_refused_and_queue_outage_maps_to_unavailable() {
        let mut q = MockQueue::new();
        q.expect_set_policy()
            .returning(|_, _| Err(QueueError::unavailable("down")));
        let room = WaitingRoom::new(Arc::new(q), catalog_with(Some(1)), clock());
        let bad = QueuePolicy {
            admit_per_second: 0,
            ..QueuePolicy::default()
        };
        assert!(matches!(
            room.set_policy(ConcertId(1), bad).await,
            Err(WaitingRoomError::InvalidPolicy(_))
        ));
        assert!(matches!(
            room.set_policy(ConcertId(1), QueuePolicy::default()).await,
            Err(WaitingRoomError::QueueUnavailable(_))
        ));
        assert!(matches!(
            room.set_policy(ConcertId(9), QueuePolicy::default()).await,
            Err(WaitingRoomError::ConcertNotFound)
        ));
    }

    #[tokio::test]
    async fn a_policy_the_line_refuses_is_a_conflict_not_invalid_input() {
        let mut q = MockQueue::new();
        q.expect_set_policy()
            .returning(|_, _| Err(QueueError::Refused("fans already entered".into())));
        let room = WaitingRoom::new(Arc::new(q), catalog_with(Some(1)), clock());
        assert!(matches!(
            room.set_policy(ConcertId(1), QueuePolicy::default()).await,
            Err(WaitingRoomError::PolicyConflict(why)) if why == "fans already entered"
        ));
    }
}
