//! `MeasuredEtas`: a decorator of the `Queue` port that measures how honest the ETAs
//! were. The first time a fan is seen waiting with an ETA (at entry, or just after the
//! draw for a pre-queued fan) the prediction is noted; the first time the same token is
//! seen active, `actual wait − predicted wait` goes to the histogram
//! `frontrow_queue_eta_error_seconds` (positive: the wait was longer than told).
//!
//! The notes are per instance and bounded (moka): a fan whose admission is seen by
//! another instance is not counted, which thins the sample but never skews one figure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use frontrow_domain::draw::Draw;
use frontrow_domain::error::QueueError;
use frontrow_domain::lifecycle::{CloseReason, LineLife};
use frontrow_domain::model::{ConcertId, UserId};
use frontrow_domain::ports::Queue;
use frontrow_domain::queue::{
    AdmissionCap, Entered, QueuePolicy, QueueStats, QueueToken, TickReport, Ticket, TicketStatus,
};
use moka::future::Cache;

use crate::telemetry::QUEUE_ETA_ERROR;

/// Predictions kept at most (about 100 bytes each).
const NOTES: u64 = 200_000;
/// A prediction older than this is forgotten (the fan left or went elsewhere).
const NOTE_TTL: Duration = Duration::from_secs(6 * 3600);

/// The decorator; wire it around the queue in `startup`.
pub struct MeasuredEtas {
    inner: Arc<dyn Queue>,
    /// token → (first seen waiting, ETA told then in seconds).
    notes: Cache<String, (Instant, u64)>,
    /// Concerts whose line this instance saw closed, and whose notes it dropped then: a
    /// closed line admits nobody more, and with several instances the fan's last answer
    /// may come from another one (its own notes go at that instance's first sighting).
    closed: Cache<ConcertId, ()>,
}

/// Concerts remembered as closed (a reopened line's notes are taken again after it).
const CLOSED_KEPT: u64 = 10_000;
const CLOSED_TTL: Duration = Duration::from_secs(600);

impl MeasuredEtas {
    pub fn new(inner: Arc<dyn Queue>) -> Self {
        MeasuredEtas {
            inner,
            notes: Cache::builder()
                .max_capacity(NOTES)
                .time_to_live(NOTE_TTL)
                .support_invalidation_closures()
                .build(),
            closed: Cache::builder()
                .max_capacity(CLOSED_KEPT)
                .time_to_live(CLOSED_TTL)
                .build(),
        }
    }

    /// Drops every note of a concert whose line closed, once per `CLOSED_TTL`.
    async fn forget_concert(&self, concert: ConcertId) {
        if self.closed.contains_key(&concert) {
            return;
        }
        self.closed.insert(concert, ()).await;
        let prefix = format!("{}.", concert.0);
        if let Err(e) = self
            .notes
            .invalidate_entries_if(move |token, _| token.starts_with(&prefix))
        {
            tracing::warn!(error = %e, "cannot drop a closed line's ETA notes");
        }
    }

    async fn observe(&self, ticket: &Ticket) {
        match ticket.status {
            TicketStatus::Waiting => {
                if let Some(eta) = ticket.eta_seconds {
                    let key = ticket.token.as_str();
                    if !self.notes.contains_key(key) {
                        self.notes
                            .insert(key.to_owned(), (Instant::now(), eta))
                            .await;
                    }
                }
            }
            TicketStatus::Active => {
                if let Some((at, eta)) = self.notes.remove(ticket.token.as_str()).await {
                    let error = at.elapsed().as_secs_f64() - eta as f64;
                    // Per concert: a token is signed, so only real concerts label it.
                    crate::telemetry::with_concert_metrics(|| {
                        metrics::histogram!(QUEUE_ETA_ERROR, "concert" => ticket.concert_id.0.to_string())
                            .record(error);
                    });
                }
            }
            // Nothing more to measure: the wait ended without an admission.
            TicketStatus::Expired => {
                self.notes.invalidate(ticket.token.as_str()).await;
            }
            // The line closed: nobody of it will be admitted any more.
            TicketStatus::SoldOut | TicketStatus::Closed => {
                self.notes.invalidate(ticket.token.as_str()).await;
                self.forget_concert(ticket.concert_id).await;
            }
            TicketStatus::PreQueue => {}
        }
    }
}

#[async_trait]
impl Queue for MeasuredEtas {
    async fn enter(
        &self,
        concert: ConcertId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Entered, QueueError> {
        let entered = self.inner.enter(concert, user, now).await?;
        self.observe(&entered.ticket).await;
        Ok(entered)
    }

    async fn status(&self, token: &QueueToken, now: DateTime<Utc>) -> Result<Ticket, QueueError> {
        let ticket = self.inner.status(token, now).await?;
        self.observe(&ticket).await;
        Ok(ticket)
    }

    async fn admission(
        &self,
        token: &QueueToken,
        now: DateTime<Utc>,
    ) -> Result<Ticket, QueueError> {
        let ticket = self.inner.admission(token, now).await?;
        self.observe(&ticket).await;
        Ok(ticket)
    }

    async fn leave(&self, token: &QueueToken, now: DateTime<Utc>) -> Result<(), QueueError> {
        self.notes.invalidate(token.as_str()).await;
        self.inner.leave(token, now).await
    }

    async fn tick(&self, concert: ConcertId, now: DateTime<Utc>) -> Result<TickReport, QueueError> {
        self.inner.tick(concert, now).await
    }

    async fn tick_capped(
        &self,
        concert: ConcertId,
        now: DateTime<Utc>,
        cap: Option<AdmissionCap>,
    ) -> Result<TickReport, QueueError> {
        self.inner.tick_capped(concert, now, cap).await
    }

    async fn draw(&self, concert: ConcertId) -> Result<Option<Draw>, QueueError> {
        self.inner.draw(concert).await
    }

    async fn draw_receipts(
        &self,
        concert: ConcertId,
        offset: u64,
        limit: u64,
    ) -> Result<Option<Vec<String>>, QueueError> {
        self.inner.draw_receipts(concert, offset, limit).await
    }

    async fn policy(&self, concert: ConcertId) -> Result<QueuePolicy, QueueError> {
        self.inner.policy(concert).await
    }

    async fn set_policy(&self, concert: ConcertId, policy: QueuePolicy) -> Result<(), QueueError> {
        self.inner.set_policy(concert, policy).await
    }

    async fn stats(
        &self,
        concert: ConcertId,
        now: DateTime<Utc>,
    ) -> Result<QueueStats, QueueError> {
        self.inner.stats(concert, now).await
    }

    async fn concerts(&self) -> Result<Vec<ConcertId>, QueueError> {
        self.inner.concerts().await
    }

    async fn ping(&self) -> Result<(), QueueError> {
        self.inner.ping().await
    }

    async fn life(&self, concert: ConcertId) -> Result<LineLife, QueueError> {
        self.inner.life(concert).await
    }

    async fn close(
        &self,
        concert: ConcertId,
        reason: CloseReason,
        now: DateTime<Utc>,
    ) -> Result<LineLife, QueueError> {
        self.inner.close(concert, reason, now).await
    }

    async fn reopen(&self, concert: ConcertId) -> Result<LineLife, QueueError> {
        self.inner.reopen(concert).await
    }

    async fn retire(
        &self,
        concert: ConcertId,
        now: DateTime<Utc>,
        closed_before: DateTime<Utc>,
    ) -> Result<bool, QueueError> {
        let retired = self.inner.retire(concert, now, closed_before).await?;
        if retired {
            self.forget_concert(concert).await;
        }
        Ok(retired)
    }
}
