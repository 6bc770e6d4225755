//! The key layout: every Redis key the queue touches is named here, and only here.
//!
//! A concert's keys are `<prefix>{concert:ID}:<name>`: one hash tag, so one Cluster slot,
//! and every script runs on the one shard that owns its concert. The user → number map
//! is split into [`USER_BUCKETS`] small hashes (`users:<n>`) that Redis stores
//! compactly. Outside any concert's slot, and only used with single-key commands:
//! `<prefix>concerts` (the concerts with a line), `<prefix>limit:<name>` and
//! `<prefix>once:<name>` (see `limits`).
//!
//! Two coordinates: a fan's *number* (the token's `seq`, in order of entry) and its
//! *place* in line. They are equal except for the numbers 1..k pre-queued before the
//! opening, whose places the draw assigns (`perm`); until it runs those places are 0.
//! `seen`, `users`, `entrants` and events name numbers; `head`, `batches` and the scores
//! of `gone` (member: number, score: place) name places.

use frontrow_domain::model::{ConcertId, UserId};

/// How many small hashes hold a concert's user → place map. Below Redis's
/// `hash-max-listpack-entries` (128) per hash up to ~4 million fans, a listpack entry
/// costs ~10 bytes where a hashtable entry costs ~75.
pub const USER_BUCKETS: i64 = 32_768;

/// One of a concert's keys. Every line script gets them all as KEYS in this order, then
/// the user's bucket of the users hash (see [`LineKeys::users`]); the Lua names each by
/// its [`LineKey::lua_name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineKey {
    /// The entry counter: fan number n holds place n.
    Seq,
    /// Every place up to it has been admitted or is gone.
    Head,
    /// Zset of numbers that left or were dropped, score = place; trimmed when their
    /// admission batch ends.
    Gone,
    /// Zset: member the first place of an admission batch, score its last place.
    Batches,
    /// Zset: member the first place of a batch, score the batch's end ms.
    Ends,
    /// Hash: first place of a batch → how many of it are still active.
    Left,
    /// A bitfield of one u32 per number: its last heartbeat ms mod 2^32.
    Seen,
    /// Hash: waiting, active, admitted_total, expired_total, token bucket, measured rate
    /// and its variance, inventory code, epoch, event counter `evn`.
    Stats,
    /// Hash: the concert's policy, when an operator set one.
    Policy,
    /// Capped stream of `evn:g:number` (gone), `evn:a:first:last:end_ms` (admitted),
    /// `evn:i:code` (inventory) and `evn:d:k` (drawn).
    Events,
    /// Hash: `state` (`pre` | `frozen` | `drawn`), `opens` ms, `seed`, `commitment`, `k`
    /// entrants frozen at the opening, `live` pre-queued fans, `n` fans drawn,
    /// `claim`/`claim_until` of the instance drawing.
    Draw,
    /// One big-endian u32 per pre-queued number: its place after the draw.
    Perm,
    /// One big-endian i64 per pre-queued number: its user.
    Entrants,
    /// Hash: the line's life once it closed: `state` (`closed` | `retired`), `why` (a
    /// `CloseReason` code), `at` (ms), and once retired the `epoch` its tokens were signed
    /// for and `purged` (its users hash is gone). The one key a retired line keeps.
    Life,
}

impl LineKey {
    /// Every line key, in KEYS order.
    pub const ALL: [LineKey; 14] = [
        LineKey::Seq,
        LineKey::Head,
        LineKey::Gone,
        LineKey::Batches,
        LineKey::Ends,
        LineKey::Left,
        LineKey::Seen,
        LineKey::Stats,
        LineKey::Policy,
        LineKey::Events,
        LineKey::Draw,
        LineKey::Perm,
        LineKey::Entrants,
        LineKey::Life,
    ];

    /// The last part of the key's name.
    pub const fn name(self) -> &'static str {
        match self {
            LineKey::Seq => "seq",
            LineKey::Head => "head",
            LineKey::Gone => "gone",
            LineKey::Batches => "batches",
            LineKey::Ends => "ends",
            LineKey::Left => "left",
            LineKey::Seen => "seen",
            LineKey::Stats => "stats",
            LineKey::Policy => "policy",
            LineKey::Events => "events",
            LineKey::Draw => "draw",
            LineKey::Perm => "perm",
            LineKey::Entrants => "entrants",
            LineKey::Life => "life",
        }
    }

    /// The Lua local a script names the key by.
    pub const fn lua_name(self) -> &'static str {
        match self {
            LineKey::Seq => "SEQ",
            LineKey::Head => "HEAD",
            LineKey::Gone => "GONE",
            LineKey::Batches => "BATCHES",
            LineKey::Ends => "ENDS",
            LineKey::Left => "LEFT",
            LineKey::Seen => "SEEN",
            LineKey::Stats => "STATS",
            LineKey::Policy => "POLICY",
            LineKey::Events => "EVENTS",
            LineKey::Draw => "DRAW",
            LineKey::Perm => "PERM",
            LineKey::Entrants => "ENTRANTS",
            LineKey::Life => "LIFE",
        }
    }

    /// Its index in a script's KEYS, counted from 1 as Lua does.
    pub const fn position(self) -> usize {
        self as usize + 1
    }
}

/// The Lua local naming the user's bucket of the users hash, the last of a line
/// script's KEYS.
pub(crate) const USERS_LUA_NAME: &str = "USERS";

/// The users hash bucket's index in a script's KEYS (after every [`LineKey`]).
pub(crate) const USERS_POSITION: usize = LineKey::ALL.len() + 1;

/// The queue's key names, under its prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    /// The global set of concerts with a line (in a slot of its own).
    pub fn concerts(&self) -> String {
        format!("{}concerts", self.prefix)
    }

    /// A GCRA rate limit's key.
    pub fn limit(&self, name: &str) -> String {
        format!("{}limit:{name}", self.prefix)
    }

    /// A once-only claim's key.
    pub fn once(&self, name: &str) -> String {
        format!("{}once:{name}", self.prefix)
    }

    /// A concert's keys.
    pub fn line(&self, concert: ConcertId) -> LineKeys {
        self.tagged(&Self::concert_tag(concert))
    }

    /// The keys of a line no concert owns (read by the readiness probe).
    pub fn probe(&self) -> LineKeys {
        self.tagged("probe")
    }

    /// One of a concert's keys, without making the others.
    pub fn of(&self, concert: ConcertId, key: LineKey) -> String {
        self.tagged_key(&Self::concert_tag(concert), key.name())
    }

    fn concert_tag(concert: ConcertId) -> String {
        format!("concert:{}", concert.0)
    }

    fn tagged_key(&self, tag: &str, name: &str) -> String {
        format!("{}{{{tag}}}:{name}", self.prefix)
    }

    /// The keys of a line whose keys share the hash tag `{tag}`.
    fn tagged(&self, tag: &str) -> LineKeys {
        LineKeys {
            keys: LineKey::ALL.map(|key| self.tagged_key(tag, key.name())),
            users_prefix: self.tagged_key(tag, "users:"),
        }
    }
}

/// One line's keys, made once per line (every script call passes them all).
pub(crate) struct LineKeys {
    /// In [`LineKey::ALL`] order.
    keys: [String; 14],
    users_prefix: String,
}

impl LineKeys {
    pub fn get(&self, key: LineKey) -> &str {
        &self.keys[key as usize]
    }

    /// Every line key, in KEYS order.
    pub fn all(&self) -> &[String] {
        &self.keys
    }

    /// The users hash bucket holding `user` (bucket 0 for a script about no user, which
    /// does not touch it).
    pub fn users(&self, user: Option<UserId>) -> String {
        self.users_bucket(user.map_or(0, |u| u.0.rem_euclid(USER_BUCKETS)))
    }

    /// Every bucket of the users hash, in batches of at most `batch` names.
    pub fn users_batches(&self, batch: usize) -> impl Iterator<Item = Vec<String>> + '_ {
        let batch = i64::try_from(batch.max(1)).unwrap_or(i64::MAX);
        (0..USER_BUCKETS)
            .step_by(usize::try_from(batch).unwrap_or(usize::MAX))
            .map(move |from| {
                (from..(from + batch).min(USER_BUCKETS))
                    .map(|b| self.users_bucket(b))
                    .collect()
            })
    }

    /// The users hash bucket `bucket` (`0..USER_BUCKETS`).
    pub fn users_bucket(&self, bucket: i64) -> String {
        format!("{}{bucket}", self.users_prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_concerts_keys_share_one_hash_tag() {
        let keys = Keys::new("p:");
        let line = keys.line(ConcertId(7));
        assert_eq!(line.get(LineKey::Seq), "p:{concert:7}:seq");
        assert_eq!(line.get(LineKey::Entrants), "p:{concert:7}:entrants");
        assert_eq!(
            keys.of(ConcertId(7), LineKey::Policy),
            "p:{concert:7}:policy"
        );
        assert_eq!(line.users(Some(UserId(-1))), "p:{concert:7}:users:32767");
        assert_eq!(line.users(None), "p:{concert:7}:users:0");
        assert_eq!(keys.probe().get(LineKey::Head), "p:{probe}:head");
        assert_eq!(keys.concerts(), "p:concerts");
    }

    #[test]
    fn key_positions_follow_the_declared_order() {
        for (i, key) in LineKey::ALL.iter().enumerate() {
            assert_eq!(key.position(), i + 1);
        }
        assert_eq!(USERS_POSITION, 15);
    }
}
