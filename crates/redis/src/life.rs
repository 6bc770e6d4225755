//! The line's life in Redis: closing, reopening and retiring a concert's line. A closed
//! line keeps its keys; retiring unlinks them all (the big ones from a script, the
//! users hash's buckets in bounded batches) but `life`, which says how the line ended
//! and which epoch its tokens were signed for, so late pollers read `SOLD_OUT` or
//! `CLOSED`. Every instance drops its view of a retired line at its next read of it,
//! and keeps a small bounded note of how it ended.

use std::sync::atomic::Ordering;

use chrono::{DateTime, TimeZone, Utc};
use deadpool_redis::redis;
use frontrow_domain::error::QueueError;
use frontrow_domain::lifecycle::{CloseReason, LineLife};
use frontrow_domain::model::ConcertId;
use frontrow_domain::queue::{QueueToken, Ticket};

use crate::keys::LineKey;
use crate::line::Line;
use crate::replies::flag_reply;
use crate::scripts::{Reply, declare};
use crate::{Inner, lock, parse, unavailable, write};

/// Users hash buckets unlinked per purge call.
const PURGE_BATCH: usize = 1_024;

/// Retired lines an instance keeps a note of; past it the notes start over (a poll of
/// a forgotten one reads Redis once more).
const RETIRED_NOTES: usize = 4_096;

/// The `state` a line's life hash stores once the line closed (none while it is open).
/// The Lua names each by its [`LifeState::lua_name`], a local the scripts' prelude
/// declares with its [`LifeState::code`] (see [`life_prelude`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LifeState {
    Closed,
    Retired,
}

impl LifeState {
    pub const ALL: [LifeState; 2] = [LifeState::Closed, LifeState::Retired];

    /// What the life hash stores.
    pub const fn code(self) -> &'static str {
        match self {
            LifeState::Closed => "closed",
            LifeState::Retired => "retired",
        }
    }

    /// The Lua local naming it.
    pub const fn lua_name(self) -> &'static str {
        match self {
            LifeState::Closed => "CLOSED",
            LifeState::Retired => "RETIRED",
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        LifeState::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// The Lua line declaring every [`LifeState`] by its code.
pub(crate) fn life_prelude() -> String {
    declare(
        LifeState::ALL.iter().map(|s| s.lua_name()),
        LifeState::ALL.iter().map(|s| s.code()),
    )
}

/// The life a reply carries, with the epoch of a retired line's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct LifeFields {
    pub life: LineLife,
    /// The epoch a retired line's tokens were signed for (0 otherwise).
    pub epoch: u64,
}

/// Parses the life hash's `state`, `why`, `at` and `epoch` as a reply carries them.
pub(crate) fn parse_life(
    state: &str,
    why: &str,
    at: &str,
    epoch: &str,
) -> Result<LifeFields, QueueError> {
    let reason = || {
        CloseReason::from_code(why)
            .ok_or_else(|| unavailable(format!("unexpected close reason {why:?}")))
    };
    let state = match state {
        "" => None,
        code => Some(
            LifeState::from_code(code)
                .ok_or_else(|| unavailable(format!("unexpected line state {state:?}")))?,
        ),
    };
    let life = match state {
        None => LineLife::Open,
        Some(LifeState::Closed) => LineLife::Closed {
            reason: reason()?,
            since: Utc
                .timestamp_millis_opt(parse(at)?)
                .single()
                .ok_or_else(|| unavailable(format!("unexpected close time {at:?}")))?,
        },
        Some(LifeState::Retired) => LineLife::Retired { reason: reason()? },
    };
    Ok(LifeFields {
        life,
        epoch: parse(epoch)?,
    })
}

impl Reply for LifeFields {
    type Raw = Vec<String>;

    fn from_raw(reply: Vec<String>) -> Result<Self, QueueError> {
        let [state, why, at] = &reply[..] else {
            return Err(unavailable(format!("unexpected close reply {reply:?}")));
        };
        parse_life(state, why, at, "0")
    }
}

/// `reopen.lua`'s reply: false while a retired line's users hash is not purged.
pub(crate) struct Reopened(pub bool);

impl Reply for Reopened {
    type Raw = i64;

    fn from_raw(raw: i64) -> Result<Self, QueueError> {
        flag_reply("reopen", raw).map(Reopened)
    }
}

/// `retire.lua`'s reply: whether the line is retired.
pub(crate) struct Retired(pub bool);

impl Reply for Retired {
    type Raw = i64;

    fn from_raw(raw: i64) -> Result<Self, QueueError> {
        flag_reply("retire", raw).map(Retired)
    }
}

impl Inner {
    /// The concert's line's life, read from Redis.
    pub(crate) async fn line_life(&self, concert: ConcertId) -> Result<LineLife, QueueError> {
        let key = self.keys.of(concert, LineKey::Life);
        let raw: Vec<Option<String>> = self
            .run(|mut conn| async move {
                redis::cmd("HMGET")
                    .arg(key)
                    .arg("state")
                    .arg("why")
                    .arg("at")
                    .query_async::<Vec<Option<String>>>(&mut conn)
                    .await
            })
            .await?;
        let field = |i: usize| raw.get(i).cloned().flatten().unwrap_or_default();
        Ok(parse_life(&field(0), &field(1), &field(2), "0")?.life)
    }

    /// Closes the line (see `Queue::close`); this instance's view follows at once.
    pub(crate) async fn close_line(
        &self,
        concert: ConcertId,
        reason: CloseReason,
        now: DateTime<Utc>,
    ) -> Result<LineLife, QueueError> {
        let line = self.line(concert);
        let args = [reason.code().to_owned(), now.timestamp_millis().to_string()];
        let fields = self.invoke(&self.scripts.close, &line, None, &args).await?;
        if !matches!(fields.life, LineLife::Retired { .. }) {
            // A stream read under way may have begun before the close and would set the
            // view back to open when it lands: read the life again after that read (one
            // read at a time) before answering, so this instance reads its own close at
            // once.
            self.sync(&line).await?;
        }
        Ok(fields.life)
    }

    /// Reopens the line (see `Queue::reopen`), finishing a retired line's purge first
    /// when another instance's was cut short.
    pub(crate) async fn reopen_line(&self, concert: ConcertId) -> Result<LineLife, QueueError> {
        let line = self.line(concert);
        let Reopened(done) = self.invoke(&self.scripts.reopen, &line, None, &[]).await?;
        if !done {
            self.purge(&line).await?;
            let Reopened(done) = self.invoke(&self.scripts.reopen, &line, None, &[]).await?;
            if !done {
                return Err(unavailable("the retired line's purge did not finish"));
            }
        }
        lock(&self.retired).remove(&concert);
        self.sync(&line).await?;
        Ok(LineLife::Open)
    }

    /// Retires the line when due (see `Queue::retire`): the script unlinks its keys,
    /// then the users hash is purged in batches, the concert leaves the global set and
    /// this instance drops its view.
    pub(crate) async fn retire_line(
        &self,
        concert: ConcertId,
        now: DateTime<Utc>,
        closed_before: DateTime<Utc>,
    ) -> Result<bool, QueueError> {
        let line = self.line(concert);
        let args = [
            now.timestamp_millis().to_string(),
            closed_before.timestamp_millis().to_string(),
        ];
        let Retired(done) = self
            .invoke(&self.scripts.retire, &line, None, &args)
            .await?;
        if !done {
            return Ok(false);
        }
        self.purge(&line).await?;
        self.unregister(concert).await?;
        // Reads the retired state: the view is dropped and the ending noted.
        self.sync(&line).await?;
        Ok(true)
    }

    /// Unlinks every bucket of a retired line's users hash, `PURGE_BATCH` per call;
    /// stops early when the line was reopened meanwhile.
    async fn purge(&self, line: &Line) -> Result<(), QueueError> {
        let life = line.keys.get(LineKey::Life).to_owned();
        let batches: Vec<Vec<String>> = line.keys.users_batches(PURGE_BATCH).collect();
        let count = batches.len();
        for (i, batch) in batches.into_iter().enumerate() {
            let last = if i + 1 == count { "1" } else { "0" };
            let life = life.clone();
            let purged: i64 = self
                .run(|mut conn| async move {
                    let mut call = self.scripts.purge.prepare_invoke();
                    call.key(&life);
                    for key in &batch {
                        call.key(key);
                    }
                    call.arg(last);
                    call.invoke_async::<i64>(&mut conn).await
                })
                .await?;
            if purged == 0 {
                break;
            }
        }
        Ok(())
    }

    /// Takes the concert out of the global set of lines (the ticker stops visiting it).
    pub(crate) async fn unregister(&self, concert: ConcertId) -> Result<(), QueueError> {
        let key = self.keys.concerts();
        self.run(|mut conn| async move {
            redis::cmd("SREM")
                .arg(&key)
                .arg(concert.0)
                .query_async::<()>(&mut conn)
                .await
        })
        .await?;
        lock(&self.registered).remove(&concert);
        Ok(())
    }

    /// Drops this instance's view of a retired line and notes how it ended.
    pub(crate) fn forget(&self, concert: ConcertId, reason: CloseReason, epoch: u64) {
        {
            let mut notes = lock(&self.retired);
            if notes.len() >= RETIRED_NOTES {
                notes.clear();
            }
            notes.insert(concert, (reason, epoch));
        }
        write(&self.concerts).remove(&concert);
        lock(&self.registered).remove(&concert);
        // Every thread's copy of the lines is dropped at its next lookup.
        self.lines_gen.fetch_add(1, Ordering::Release);
    }

    /// The ticket of a token of a retired line this instance noted, `None` otherwise
    /// (or when the token is not of that incarnation).
    pub(crate) fn retired_ticket(&self, token: &QueueToken) -> Option<Ticket> {
        let (reason, epoch) = lock(&self.retired).get(&token.concert()).copied()?;
        QueueToken::verify(&self.line_key(token.concert(), epoch), token.as_str())?;
        Some(Ticket::expired(token).with_life(LineLife::Retired { reason }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_life_state_reads_back_from_its_code_and_the_prelude_names_it() {
        for state in LifeState::ALL {
            assert_eq!(LifeState::from_code(state.code()), Some(state));
        }
        assert_eq!(LifeState::from_code("open"), None);
        assert_eq!(
            life_prelude(),
            "local CLOSED, RETIRED = 'closed', 'retired'\n"
        );
    }

    #[test]
    fn life_fields_parse_and_garbage_does_not() {
        assert_eq!(
            parse_life("", "", "0", "0").map(|f| f.life).ok(),
            Some(LineLife::Open)
        );
        let closed = parse_life("closed", "S", "1000", "0").expect("closed");
        assert!(matches!(
            closed.life,
            LineLife::Closed {
                reason: CloseReason::SoldOut,
                ..
            }
        ));
        let retired = parse_life("retired", "O", "1000", "42").expect("retired");
        assert_eq!(
            (retired.life, retired.epoch),
            (
                LineLife::Retired {
                    reason: CloseReason::Operator
                },
                42
            )
        );
        for (s, w, a, e) in [
            ("x", "S", "0", "0"),
            ("closed", "Q", "0", "0"),
            ("closed", "S", "x", "0"),
        ] {
            assert!(parse_life(s, w, a, e).is_err(), "{s} {w} {a}");
        }
    }
}
