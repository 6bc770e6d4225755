//! The line's Lua scripts and the one way they are called. Every step that changes a concert's
//! line is one script, so it runs atomically on one Redis (or one Cluster slot: all keys
//! of a concert share a hash tag). Each does O(1) or O(log n) work per fan *lifetime*
//! (enter, admit, leave, drop), never per poll: polls are answered from every instance's
//! local view (see `view`).
//!
//! The Lua lives in `lua/*.lua`; each file's header says its ARGV and reply. Every line
//! script gets the concert's keys as KEYS in [`LineKey`] order, then the user's bucket
//! of the users hash, and names them through locals declared from that same order, so
//! the two cannot drift apart. Each script's reply has its type (see `replies`). Time
//! is the caller's `now` (ms), never `TIME`.

use std::marker::PhantomData;

use deadpool_redis::redis::{self, FromRedisValue};
use frontrow_domain::error::QueueError;
use frontrow_domain::line::phase::{DrawOpening, DrawPhase};
use frontrow_domain::model::UserId;

use crate::Inner;
use crate::keys::{LineKey, USERS_LUA_NAME, USERS_POSITION};
use crate::life::{LifeFields, Reopened, Retired, life_prelude};
use crate::line::Line;
use crate::policy::lua_fields;
use crate::replies::{
    AdmissionReply, DrawClaim, DrawFinished, EnterAnswer, LeaveReply, SnapshotReply, StatsReply,
    SyncReply, Tag, TickReply,
};
use crate::sweep::Swept;

/// Approximate cap of the event stream: instances that fall further behind than this
/// reload a snapshot instead.
const STREAM_MAXLEN: u64 = 100_000;

/// Helpers shared by every line script.
const COMMON: &str = include_str!("lua/common.lua");

/// `local A, B = 'a', 'b'`: Lua locals named `names` holding the strings `codes`.
pub(crate) fn declare<'a>(
    names: impl IntoIterator<Item = &'a str>,
    codes: impl IntoIterator<Item = &'a str>,
) -> String {
    let names: Vec<&str> = names.into_iter().collect();
    let codes: Vec<String> = codes.into_iter().map(|c| format!("'{c}'")).collect();
    format!("local {} = {}\n", names.join(", "), codes.join(", "))
}

/// The head of every line script: the keys as named locals, the codes the scripts
/// compare with or reply as named locals, then the shared helpers.
fn prelude() -> String {
    let names: Vec<&str> = LineKey::ALL
        .iter()
        .map(|k| k.lua_name())
        .chain([USERS_LUA_NAME])
        .collect();
    let slots: Vec<String> = LineKey::ALL
        .iter()
        .map(|k| k.position())
        .chain([USERS_POSITION])
        .map(|i| format!("KEYS[{i}]"))
        .collect();
    // The draw's phases by the codes the domain gives them (`DrawPhase::code`).
    let phases = [DrawPhase::Pre, DrawPhase::Frozen, DrawPhase::Drawn];
    let phase_names: Vec<String> = phases
        .iter()
        .map(|p| format!("{p:?}").to_uppercase())
        .collect();
    format!(
        "local {} = {}\n{}{}{}{}",
        names.join(", "),
        slots.join(", "),
        declare(
            phase_names.iter().map(String::as_str),
            phases.iter().map(|p| p.code())
        ),
        // The reply tags by their codes (`Tag`).
        declare(
            Tag::ALL.iter().map(|t| t.lua_name()),
            Tag::ALL.iter().map(|t| t.code())
        ),
        // The life hash's states by their codes (`LifeState`).
        life_prelude(),
        COMMON.replace("STREAM_MAXLEN", &STREAM_MAXLEN.to_string())
    )
}

/// A reply a script may give, parsed from what the driver decodes (`Raw`).
pub(crate) trait Reply: Sized {
    type Raw: FromRedisValue;

    fn from_raw(raw: Self::Raw) -> Result<Self, QueueError>;
}

/// A line script whose reply is an `R`.
pub(crate) struct LineScript<R> {
    script: redis::Script,
    reply: PhantomData<fn() -> R>,
}

impl<R> LineScript<R> {
    fn new(prelude: &str, body: &str) -> Self {
        LineScript {
            script: redis::Script::new(&format!("{prelude}{body}")),
            reply: PhantomData,
        }
    }
}

/// The line scripts, with the shared prelude prepended.
pub(crate) struct Scripts {
    pub enter: LineScript<EnterAnswer>,
    pub admission: LineScript<AdmissionReply>,
    pub leave: LineScript<LeaveReply>,
    pub tick: LineScript<TickReply>,
    pub sync: LineScript<SyncReply>,
    pub snapshot: LineScript<SnapshotReply>,
    pub stats: LineScript<StatsReply>,
    pub draw_open: LineScript<DrawOpening>,
    pub draw_claim: LineScript<DrawClaim>,
    pub draw_finish: LineScript<DrawFinished>,
    pub close: LineScript<LifeFields>,
    pub reopen: LineScript<Reopened>,
    pub retire: LineScript<Retired>,
    /// Its KEYS: the line's, then several users hash buckets.
    pub sweep: LineScript<Swept>,
    /// Not a line script: its KEYS are the line's life and some users hash buckets.
    pub purge: redis::Script,
}

impl Scripts {
    pub fn new() -> Self {
        let p = prelude();
        Scripts {
            enter: LineScript::new(&p, include_str!("lua/enter.lua")),
            admission: LineScript::new(&p, include_str!("lua/admission.lua")),
            leave: LineScript::new(&p, include_str!("lua/leave.lua")),
            tick: LineScript::new(&p, include_str!("lua/tick.lua")),
            sync: LineScript::new(
                &p,
                &include_str!("lua/sync.lua").replace("POLICY_FIELDS", &lua_fields()),
            ),
            snapshot: LineScript::new(&p, include_str!("lua/snapshot.lua")),
            stats: LineScript::new(&p, include_str!("lua/stats.lua")),
            draw_open: LineScript::new(&p, include_str!("lua/draw_open.lua")),
            draw_claim: LineScript::new(&p, include_str!("lua/draw_claim.lua")),
            draw_finish: LineScript::new(&p, include_str!("lua/draw_finish.lua")),
            close: LineScript::new(&p, include_str!("lua/close.lua")),
            reopen: LineScript::new(&p, include_str!("lua/reopen.lua")),
            retire: LineScript::new(
                &p,
                &include_str!("lua/retire.lua").replace("LINE_KEYS_BUT_LIFE", &but_life()),
            ),
            sweep: LineScript::new(
                &p,
                &include_str!("lua/sweep.lua")
                    .replace("USERS_POSITION", &USERS_POSITION.to_string()),
            ),
            purge: redis::Script::new(&format!(
                "{}{}",
                life_prelude(),
                include_str!("lua/purge.lua")
            )),
        }
    }
}

/// Every line key's Lua name but `LIFE`, comma-separated: what retiring unlinks.
fn but_life() -> String {
    LineKey::ALL
        .iter()
        .filter(|k| **k != LineKey::Life)
        .map(|k| k.lua_name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Inner {
    /// The one way a line script is called: the line's keys (and a user's bucket of the
    /// users hash, or bucket 0), then `args`.
    pub(crate) async fn invoke<R: Reply>(
        &self,
        script: &LineScript<R>,
        line: &Line,
        user: Option<UserId>,
        args: &[String],
    ) -> Result<R, QueueError> {
        self.invoke_on_buckets(script, line, vec![line.keys.users(user)], args)
            .await
    }

    /// As [`Inner::invoke`], with `buckets` of the users hash (one or more) after the
    /// line's keys: the first is the script's `USERS`.
    pub(crate) async fn invoke_on_buckets<R: Reply>(
        &self,
        script: &LineScript<R>,
        line: &Line,
        buckets: Vec<String>,
        args: &[String],
    ) -> Result<R, QueueError> {
        let raw = self
            .run(|mut conn| async move {
                let mut call = script.script.prepare_invoke();
                for key in line.keys.all() {
                    call.key(key);
                }
                for key in buckets {
                    call.key(key);
                }
                for arg in args {
                    call.arg(arg);
                }
                call.invoke_async::<R::Raw>(&mut conn).await
            })
            .await?;
        R::from_raw(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prelude_names_every_key_by_its_position() {
        let p = prelude();
        assert!(p.starts_with("local SEQ, HEAD, GONE,"));
        assert!(p.contains("LIFE, USERS = KEYS[1], KEYS[2],"));
        assert!(p.contains("KEYS[14], KEYS[15]\n"));
        assert!(p.contains("local PRE, FROZEN, DRAWN = 'pre', 'frozen', 'drawn'\n"));
        assert!(p.contains("local CLOSED, RETIRED = 'closed', 'retired'\n"));
        assert!(p.contains("local T_UNKNOWN, T_EXPIRED,"));
        assert!(p.contains("= 'U', 'E',"));
        // Each tag's code is its own.
        let mut codes: Vec<&str> = Tag::ALL.iter().map(|t| t.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Tag::ALL.len());
        assert!(!p.contains("STREAM_MAXLEN"));
    }
}
