//! `impl Queue for RedisQueue`: the port's methods, each a script call (or a read of
//! the view) composed from the other modules.

use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use deadpool_redis::redis;
use frontrow_domain::draw::{Draw, Seed};
use frontrow_domain::error::QueueError;
use frontrow_domain::lifecycle::{CloseReason, LineLife};
use frontrow_domain::line::phase::DrawOpening;
use frontrow_domain::line::{EtaInputs, Standing};
use frontrow_domain::model::{ConcertId, UserId};
use frontrow_domain::ports::Queue;
use frontrow_domain::queue::{
    AdmissionCap, Entered, QueuePolicy, QueueStats, QueueToken, RATE_EMA_TAU_SECONDS, TickReport,
    Ticket, TicketStatus,
};

use crate::heartbeat::beat;
use crate::keys::LineKey;
use crate::line::Line;
use crate::policy::{POLICY_FIELDS, parse_policy};
use crate::replies::{AdmissionReply, EnterAnswer, Entry, LeaveReply};
use crate::sync::RECHECK;
use crate::ticket::expired_ticket;
use crate::view::Event;
use crate::{RedisQueue, read, write};

#[async_trait]
impl Queue for RedisQueue {
    #[tracing::instrument(skip_all, fields(concert = concert.0, user = user.0), err(level = "debug"))]
    async fn enter(
        &self,
        concert: ConcertId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Entered, QueueError> {
        let inner = &self.inner;
        inner.register(concert).await?;
        let line = inner.line(concert);
        let now_ms = now.timestamp_millis();
        let fresh_epoch = rand::random::<u64>() >> 12; // exact as a Lua number (< 2^53)
        let args = [
            user.0.to_string(),
            now_ms.to_string(),
            fresh_epoch.max(1).to_string(),
        ];
        let reply = match inner
            .invoke(&inner.scripts.enter, &line, Some(user), &args)
            .await?
        {
            EnterAnswer::Placed(reply) => reply,
            EnterAnswer::Closed(reason) => return Err(QueueError::Closed(reason)),
        };
        let (place, epoch) = (reply.number, reply.epoch);
        let token = inner.with_signer(&line, concert, epoch, |s| s.issue(concert, place, user));
        if let Entry::Active { until_ms } = reply.entry {
            // Already admitted: the script's answer is current, the view may trail it.
            let mut ticket = expired_ticket(&token);
            ticket.status = TicketStatus::Active;
            ticket.active_until = Utc.timestamp_millis_opt(until_ms).single();
            return Ok(Entered {
                ticket,
                created: false,
            });
        }
        write(&line.view).extend(place);
        if read(&line.view).epoch != epoch || read(&line.view).phase().phase() != reply.phase {
            // The first entry of this line (or of a new incarnation): learn its epoch.
            inner.sync(&line).await?;
        }
        inner.ready_view(&line).await?;
        let ticket = inner.ticket(&line, &token, now_ms);
        Ok(Entered {
            ticket,
            created: reply.entry == Entry::New,
        })
    }

    // No span here: this is the hot path (every poll), answered from memory.
    async fn status(&self, token: &QueueToken, now: DateTime<Utc>) -> Result<Ticket, QueueError> {
        let inner = &self.inner;
        let now_ms = now.timestamp_millis();
        let known = inner.known_line(token.concert());
        if let Some(line) = &known
            && let Some(ticket) = inner.status_from_view(line, token, now_ms)
        {
            beat(line, &ticket, token.seq(), now_ms);
            return Ok(ticket);
        }
        if known.is_none()
            && let Some(ticket) = inner.retired_ticket(token)
        {
            return Ok(ticket);
        }
        let line = known.unwrap_or_else(|| inner.line(token.concert()));
        inner.ready_view(&line).await?;
        if let Some(ticket) = inner.retired_ticket(token) {
            // The read found the line retired (and dropped this instance's view).
            return Ok(ticket);
        }
        inner.verify_current(&line, token).await?;
        let place = token.seq();
        if place > read(&line.view).seq_max() {
            if inner.max_lag.is_none() {
                // Read just now: no such place was ever issued.
                return Err(QueueError::UnknownToken);
            }
            // Issued after this instance's last read (the signature proves it).
            write(&line.view).extend(place);
        }
        let mut ticket = inner.ticket(&line, token, now_ms);
        if inner.near_the_front(&line, &ticket) {
            // The next admissions are about these fans: answer from a view at most one
            // background interval old, so two instances disagree about them only that
            // long (one read per interval however many ask; on failure the view answers).
            let asked = Instant::now();
            let fresh_enough = asked.checked_sub(RECHECK).unwrap_or(asked);
            if inner.sync_unless_newer(&line, fresh_enough).await.is_ok() {
                ticket = inner.ticket(&line, token, now_ms);
            }
        }
        beat(&line, &ticket, place, now_ms);
        Ok(ticket)
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn admission(
        &self,
        token: &QueueToken,
        now: DateTime<Utc>,
    ) -> Result<Ticket, QueueError> {
        let inner = &self.inner;
        let (line, reply) = inner
            .token_call(&inner.scripts.admission, token, now)
            .await?;
        let (standing, rate, set) = match reply {
            AdmissionReply::Unknown => return Err(QueueError::UnknownToken),
            AdmissionReply::Closed(reason) => {
                return Ok(expired_ticket(token).with_life(LineLife::Retired { reason }));
            }
            AdmissionReply::Expired => (Standing::Expired, 0.0, None),
            AdmissionReply::PreQueue => (Standing::PreQueue, 0.0, None),
            AdmissionReply::Active { until_ms } => (Standing::Active { until_ms }, 0.0, None),
            AdmissionReply::Waiting {
                position,
                rate,
                set,
            } => (Standing::Waiting { position }, rate, set),
        };
        let policy = inner.policy_with(set);
        let v = read(&line.view);
        let eta = EtaInputs {
            rate,
            rate_sd: v.rate_sd,
            policy: &policy,
            opens_ms: v.phase().opens_ms(),
        };
        Ok(standing.ticket(token, eta).with_inventory(v.inventory))
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn leave(&self, token: &QueueToken, now: DateTime<Utc>) -> Result<(), QueueError> {
        let inner = &self.inner;
        let (line, reply) = inner.token_call(&inner.scripts.leave, token, now).await?;
        match reply {
            // Leaving a retired line: nothing is left to leave.
            LeaveReply::Unknown if inner.retired_ticket(token).is_some() => Ok(()),
            LeaveReply::Unknown => Err(QueueError::UnknownToken),
            LeaveReply::Unchanged => Ok(()),
            LeaveReply::Left => {
                // This instance reads its own write at once; the event follows.
                write(&line.view).apply(Event::Gone(token.seq()));
                Ok(())
            }
        }
    }

    #[tracing::instrument(skip_all, fields(concert = concert.0), err(level = "debug"))]
    async fn tick_capped(
        &self,
        concert: ConcertId,
        now: DateTime<Utc>,
        cap: Option<AdmissionCap>,
    ) -> Result<TickReport, QueueError> {
        let inner = &self.inner;
        let line = inner.line(concert);
        let now_ms = now.timestamp_millis();
        // Own heartbeats first, so the idle check sees them; then a current view, so
        // the idle scan covers every place.
        inner.flush(&line).await?;
        inner.sync(&line).await?;
        let idle = inner
            .idle_candidates(&line, now_ms, inner.settings.max_expire_per_tick)
            .await?;
        let d = inner.settings.default_policy;
        let mut args = vec![
            now_ms.to_string(),
            inner.drop_after_ms().to_string(),
            RATE_EMA_TAU_SECONDS.to_string(),
            d.max_active.to_string(),
            d.admit_per_second.to_string(),
            d.active_ttl_seconds.to_string(),
            u8::from(d.paused).to_string(),
            cap.map_or("-1".to_owned(), |c| c.seats.to_string()),
            cap.map_or(0, |c| c.holders).to_string(),
            cap.map_or("", |c| c.inventory.code()).to_owned(),
        ];
        args.extend(idle.iter().map(u64::to_string));
        let reply = inner
            .invoke(&inner.scripts.tick, &line, None, &args)
            .await?;
        let behind = {
            let mut v = write(&line.view);
            let behind = reply
                .batch
                .is_some_and(|b| !v.apply_own_admission(b.first, b.last, b.until_ms));
            for &number in &reply.dropped {
                v.apply(Event::Gone(number));
            }
            if let Some(cap) = cap {
                v.inventory = Some(cap.inventory);
            }
            behind
        };
        if behind {
            // Another instance admitted a batch since this view's last read: read it (and
            // ours after it) from the stream rather than jump the head past it.
            inner.sync(&line).await?;
        }
        if reply.to_draw {
            inner.perform_draw(concert, &line, now_ms).await?;
            inner.sync(&line).await?;
        }
        if matches!(reply.life.life, LineLife::Retired { .. }) {
            // Entered again by a late fan's `enter` (refused, but registered first).
            inner.unregister(concert).await?;
        } else {
            inner.sweep_users(&line, now_ms).await?;
        }
        Ok(TickReport {
            admitted: reply.admitted,
            expired_waiting: reply.expired_waiting,
            expired_active: reply.expired_active,
            life: reply.life.life,
        })
    }

    #[tracing::instrument(skip_all, fields(concert = concert.0), err(level = "debug"))]
    async fn life(&self, concert: ConcertId) -> Result<LineLife, QueueError> {
        self.inner.line_life(concert).await
    }

    #[tracing::instrument(skip_all, fields(concert = concert.0), err(level = "debug"))]
    async fn close(
        &self,
        concert: ConcertId,
        reason: CloseReason,
        now: DateTime<Utc>,
    ) -> Result<LineLife, QueueError> {
        self.inner.close_line(concert, reason, now).await
    }

    #[tracing::instrument(skip_all, fields(concert = concert.0), err(level = "debug"))]
    async fn reopen(&self, concert: ConcertId) -> Result<LineLife, QueueError> {
        self.inner.reopen_line(concert).await
    }

    #[tracing::instrument(skip_all, fields(concert = concert.0), err(level = "debug"))]
    async fn retire(
        &self,
        concert: ConcertId,
        now: DateTime<Utc>,
        closed_before: DateTime<Utc>,
    ) -> Result<bool, QueueError> {
        self.inner.retire_line(concert, now, closed_before).await
    }

    #[tracing::instrument(skip_all, fields(concert = concert.0), err(level = "debug"))]
    async fn policy(&self, concert: ConcertId) -> Result<QueuePolicy, QueueError> {
        let inner = &self.inner;
        // Background mode: the view read the policy with its last sync; a change reaches
        // this instance within one sync.
        if let (Some(max), Some(line)) = (inner.max_lag, inner.known_line(concert)) {
            let v = read(&line.view);
            if let (Some(policy), Some(at)) = (v.policy, v.synced)
                && at.elapsed() <= max
            {
                return Ok(policy);
            }
        }
        let key = inner.keys.of(concert, LineKey::Policy);
        let raw: Vec<Option<String>> = inner
            .run(|mut conn| async move {
                redis::cmd("HMGET")
                    .arg(key)
                    .arg(&POLICY_FIELDS[..])
                    .query_async::<Vec<Option<String>>>(&mut conn)
                    .await
            })
            .await?;
        let fields: Vec<Option<&str>> = raw.iter().map(Option::as_deref).collect();
        parse_policy(&fields, inner.settings.default_policy)
    }

    #[tracing::instrument(skip_all, fields(concert = concert.0), err(level = "debug"))]
    async fn set_policy(&self, concert: ConcertId, policy: QueuePolicy) -> Result<(), QueueError> {
        let inner = &self.inner;
        let key = inner.keys.of(concert, LineKey::Policy);
        if let Some(opens) = policy.sale_opens_at {
            let line = inner.line(concert);
            let seed = Seed::random();
            let args = [
                opens.timestamp_millis().to_string(),
                seed.to_hex(),
                seed.commitment(),
            ];
            let answer = inner
                .invoke(&inner.scripts.draw_open, &line, None, &args)
                .await?;
            if answer == DrawOpening::Refuse {
                return Err(QueueError::Refused(
                    "sale_opens_at can only be set before anyone entered the line".into(),
                ));
            }
        }
        let opens = policy
            .sale_opens_at
            .map_or(String::new(), |t| t.timestamp_millis().to_string());
        inner
            .run(|mut conn| async move {
                redis::cmd("HSET")
                    .arg(key)
                    .arg("max_active")
                    .arg(policy.max_active)
                    .arg("admit_per_second")
                    .arg(policy.admit_per_second)
                    .arg("active_ttl_seconds")
                    .arg(policy.active_ttl_seconds)
                    .arg("paused")
                    .arg(u8::from(policy.paused))
                    .arg("sale_opens_at")
                    .arg(opens)
                    .arg("admit_per_seat")
                    .arg(policy.admit_per_seat)
                    .arg("pow_difficulty")
                    .arg(policy.pow_difficulty)
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await?;
        {
            // This instance's ETAs follow at once; others at their next read.
            let line = inner.line(concert);
            let mut v = write(&line.view);
            v.admit_per_second = Some(policy.admit_per_second);
            v.paused = policy.paused;
            v.policy = Some(policy);
        }
        inner.register(concert).await
    }

    #[tracing::instrument(skip_all, fields(concert = concert.0), err(level = "debug"))]
    async fn stats(
        &self,
        concert: ConcertId,
        now: DateTime<Utc>,
    ) -> Result<QueueStats, QueueError> {
        let inner = &self.inner;
        let line = inner.line(concert);
        let args = [now.timestamp_millis().to_string()];
        let reply = inner
            .invoke(&inner.scripts.stats, &line, None, &args)
            .await?;
        Ok(QueueStats {
            waiting: reply.waiting,
            active: reply.active,
            admitted_total: reply.admitted_total,
            expired_total: reply.expired_total,
            admit_rate: reply.rate,
        })
    }

    #[tracing::instrument(skip_all, fields(concert = concert.0), err(level = "debug"))]
    async fn draw(&self, concert: ConcertId) -> Result<Option<Draw>, QueueError> {
        self.inner.draw_info(concert).await
    }

    #[tracing::instrument(skip_all, fields(concert = concert.0), err(level = "debug"))]
    async fn draw_receipts(
        &self,
        concert: ConcertId,
        offset: u64,
        limit: u64,
    ) -> Result<Option<Vec<String>>, QueueError> {
        let Some(all) = self.inner.receipts(concert).await? else {
            return Ok(None);
        };
        let from = usize::try_from(offset).unwrap_or(usize::MAX).min(all.len());
        let to = from
            .saturating_add(usize::try_from(limit).unwrap_or(usize::MAX))
            .min(all.len());
        Ok(Some(all[from..to].iter().map(hex::encode).collect()))
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn concerts(&self) -> Result<Vec<ConcertId>, QueueError> {
        let key = self.inner.keys.concerts();
        let ids: Vec<i64> = self
            .inner
            .run(|mut conn| async move {
                redis::cmd("SMEMBERS")
                    .arg(key)
                    .query_async::<Vec<i64>>(&mut conn)
                    .await
            })
            .await?;
        let mut ids: Vec<ConcertId> = ids.into_iter().map(ConcertId).collect();
        ids.sort();
        Ok(ids)
    }

    /// The server's mode is the configured one, a script runs on a line's keys (a line of
    /// its own, read only), the global set answers, and every node answers `PING` (on a
    /// Cluster the command goes to each node).
    async fn ping(&self) -> Result<(), QueueError> {
        let inner = &self.inner;
        inner.check_mode().await?;
        let probe = Line::new(ConcertId(0), inner.keys.probe());
        let args = [Utc::now().timestamp_millis().to_string()];
        inner
            .invoke(&inner.scripts.stats, &probe, None, &args)
            .await?;
        self.concerts().await?;
        inner
            .run(|mut conn| async move { redis::cmd("PING").query_async::<()>(&mut conn).await })
            .await
    }
}
