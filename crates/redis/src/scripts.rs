//! The Lua scripts: every step that changes a concert's line is one of these, so it runs
//! atomically on one Redis (or one Cluster slot: all keys of a concert share a hash tag).
//! Each does O(1) or O(log n) work per fan *lifetime* (enter, admit, leave, drop), never
//! per poll: polls are answered from every instance's local view (see `view`).
//!
//! Every script gets the same KEYS, in this order:
//! 1 `seq` (the entry counter: fan number n holds place n), 2 `head` (every place up to
//! it has been admitted or is gone), 3 `gone` (zset of places that left or were dropped,
//! score = place; trimmed when their admission batch ends), 4 `batches` (zset: member
//! first place of an admission batch, score its last place), 5 `ends` (zset: member first
//! place of a batch, score the batch's end ms), 6 `left` (hash: first place of a batch →
//! how many of it are still active), 7 `seen` (a bitfield of one u32 per place: last
//! heartbeat ms mod 2^32), 8 `stats` (hash: waiting, active, admitted_total,
//! expired_total, token bucket, measured rate, event counter `evn`), 9 `policy` (hash),
//! 10 `events` (stream of `evn:g:number` (gone), `evn:a:first:last:end_ms` (admitted),
//! `evn:i:code` (inventory) and `evn:d:k` (drawn), capped), 11 `draw` (hash: `state`
//! `pre` | `frozen` | `drawn`, `opens` ms, `seed`, `commitment`, `k` entrants frozen
//! at the opening, `live` pre-queued fans, `n` fans drawn, `claim`/`claim_until` of the
//! instance drawing), 12 `perm` (one big-endian u32 per pre-queued number: its place
//! after the draw), 13 `entrants` (one i64 per pre-queued number: its user), 14 the
//! user's bucket of the `users` hash (user → number; other scripts pass any bucket and
//! do not touch it).
//!
//! Two coordinates: a fan's *number* (the token's `seq`, in order of entry) and its
//! *place* in line. They are equal except for the numbers 1..k pre-queued before the
//! opening, whose places the draw assigns (`perm`); until it runs those places are 0.
//! `seen`, `users`, `entrants` and events name numbers; `head`, `batches` and the
//! scores of `gone` (member: number, score: place) name places.
//! Time is the caller's `now` (ms), never `TIME`.

/// Approximate cap of the event stream: instances that fall further behind than this
/// reload a snapshot instead.
pub(crate) const STREAM_MAXLEN: u64 = 100_000;

/// Helpers shared by every script.
const COMMON: &str = include_str!("lua/common.lua");

fn script(body: &str) -> String {
    format!(
        "{}{body}",
        COMMON.replace("STREAM_MAXLEN", &STREAM_MAXLEN.to_string())
    )
}

/// ARGV: user, now ms, a fresh random epoch. Returns `{'W', number, head, epoch, phase}`
/// (already waiting or pre-queued; counts as a heartbeat), `{'A', number, end_ms, epoch,
/// phase}` (already active) or `{'N', number, head, epoch, phase}` (new), `phase` being
/// the draw's state or ''. The epoch names this incarnation of the line (set once, by
/// the first entry): tokens are signed with it.
const ENTER: &str = include_str!("lua/enter.lua");

/// ARGV: number, now ms, the epoch the token was signed for. The authoritative standing
/// of one number (the booking gate): `{'U'}` never issued in this line, `{'E'}` gone or
/// expired, `{'P'}` pre-queued, `{'A', end_ms}`, or `{'W', position, rate,
/// admit_per_second, paused}`.
const ADMISSION: &str = include_str!("lua/admission.lua");

/// ARGV: number, now ms, the epoch the token was signed for. Returns `{known, changed}`:
/// a number never issued in this line is unknown; one already gone or expired changes
/// nothing.
const LEAVE: &str = include_str!("lua/leave.lua");

/// ARGV: now ms, idle timeout ms, EMA tau seconds, then the default policy: max_active,
/// admit_per_second, active_ttl_seconds, paused (0/1); then the inventory cap: seats
/// (-1: none), holders, inventory code ('' : unknown); then the numbers this instance
/// believes idle (each re-checked here against its last heartbeat).
/// Returns {admitted, expired_waiting, expired_active, first, last, end_ms, to_draw,
/// dropped...}; `to_draw` is 1 while the opening was reached and the draw has not run.
const TICK: &str = include_str!("lua/tick.lua");

/// ARGV: exclusive start id (`(<id>`, or `-` for all), count. Returns
/// {seq, head, evn, rate, admit_per_second, paused, epoch, rate variance, inventory,
/// draw state, k, opens ms, then id, event pairs}.
const SYNC: &str = include_str!("lua/sync.lua");

/// No ARGV. A consistent picture for an instance that starts or fell behind the stream:
/// {seq, head, evn, epoch, last stream id, draw state, k, opens ms, inventory, batch
/// count, (first, last, end_ms) per batch, then every gone number that still matters
/// (inside a batch, ahead of the head, or not yet placed by the draw)}.
const SNAPSHOT: &str = include_str!("lua/snapshot.lua");

/// ARGV: now ms. Returns {waiting, active, admitted_total, expired_total, rate}: active
/// leaves out batches that ended but no tick has expired yet.
const STATS: &str = include_str!("lua/stats.lua");

/// ARGV: opens ms, seed hex, commitment. Creates the pre-queue and its draw on a line
/// nobody entered (`C`), moves the opening of one not yet frozen (`M`), leaves a frozen
/// or drawn one alone (`F`), or refuses a line fans entered without a pre-queue (`R`).
const DRAW_OPEN: &str = include_str!("lua/draw_open.lua");

/// ARGV: owner id, now ms, claim ms. Claims the draw for one caller: returns
/// `{1, seed, k, epoch, left...}` (the pre-queued numbers that left) to the one caller
/// that may draw now, `{0}` to any other (not frozen, or another caller's claim is live).
const DRAW_CLAIM: &str = include_str!("lua/draw_claim.lua");

/// ARGV: owner id, fans drawn. Completes the claimed draw once `perm` is stored: places
/// the pre-queued fans who left, reveals the draw. Returns 1, or 0 when the claim was
/// lost (nothing changes then).
const DRAW_FINISH: &str = include_str!("lua/draw_finish.lua");

/// The scripts, with the shared helpers prepended.
use deadpool_redis::redis;

pub(crate) struct Scripts {
    pub enter: redis::Script,
    pub admission: redis::Script,
    pub leave: redis::Script,
    pub tick: redis::Script,
    pub sync: redis::Script,
    pub snapshot: redis::Script,
    pub stats: redis::Script,
    pub draw_open: redis::Script,
    pub draw_claim: redis::Script,
    pub draw_finish: redis::Script,
}

impl Scripts {
    pub fn new() -> Self {
        let load = |body: &str| redis::Script::new(&script(body));
        Scripts {
            enter: load(ENTER),
            admission: load(ADMISSION),
            leave: load(LEAVE),
            tick: load(TICK),
            sync: load(SYNC),
            snapshot: load(SNAPSHOT),
            stats: load(STATS),
            draw_open: load(DRAW_OPEN),
            draw_claim: load(DRAW_CLAIM),
            draw_finish: load(DRAW_FINISH),
        }
    }
}
