//! The scripts' replies as types: each reply tag an enum variant, each position a
//! named field, parsed once where the script's answer arrives. A reply of any other
//! shape (never one of this crate's scripts) is `Unavailable`, naming the script and
//! what was wrong. One module per concern: a fan's calls (`fan`), the tick and stats
//! (`tick`), what keeps a view current (`view`), the draw (`draw`), the rate limit
//! (`gcra`).

mod draw;
mod fan;
mod gcra;
mod tick;
mod view;

pub(crate) use draw::{DrawClaim, DrawFinished};
pub(crate) use fan::{AdmissionReply, EnterAnswer, Entry, LeaveReply};
pub(crate) use gcra::GcraReply;
pub(crate) use tick::{StatsReply, TickReply};
pub(crate) use view::{DrawInfo, SnapshotReply, SyncReply};

use std::str::FromStr;

use frontrow_domain::error::QueueError;

use crate::unavailable;

/// The first field of a tagged reply. The Lua names each by its [`Tag::lua_name`], a
/// local the scripts' prelude declares with its [`Tag::code`], so the two cannot drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tag {
    /// Never issued in this line (or signed for another epoch).
    Unknown,
    /// Gone or expired.
    Expired,
    PreQueue,
    /// The line is closed (or retired): the reason follows.
    Closed,
    /// Admitted: the end follows.
    Active,
    /// In line (`enter`: already, counting as a heartbeat).
    Waiting,
    /// `enter`: a new number.
    New,
    /// `draw_open`: the pre-queue was created.
    Created,
    /// `draw_open`: its opening moved.
    Moved,
    /// `draw_open`: frozen or drawn already, left alone.
    Fixed,
    /// `draw_open`: fans entered a line without a pre-queue.
    Refused,
}

impl Tag {
    pub const ALL: [Tag; 11] = [
        Tag::Unknown,
        Tag::Expired,
        Tag::PreQueue,
        Tag::Closed,
        Tag::Active,
        Tag::Waiting,
        Tag::New,
        Tag::Created,
        Tag::Moved,
        Tag::Fixed,
        Tag::Refused,
    ];

    /// What the scripts reply.
    pub const fn code(self) -> &'static str {
        match self {
            Tag::Unknown => "U",
            Tag::Expired => "E",
            Tag::PreQueue => "P",
            Tag::Closed => "C",
            Tag::Active => "A",
            Tag::Waiting => "W",
            Tag::New => "N",
            Tag::Created => "O",
            Tag::Moved => "M",
            Tag::Fixed => "F",
            Tag::Refused => "R",
        }
    }

    /// The Lua local naming it.
    pub const fn lua_name(self) -> &'static str {
        match self {
            Tag::Unknown => "T_UNKNOWN",
            Tag::Expired => "T_EXPIRED",
            Tag::PreQueue => "T_PRE_QUEUE",
            Tag::Closed => "T_CLOSED",
            Tag::Active => "T_ACTIVE",
            Tag::Waiting => "T_WAITING",
            Tag::New => "T_NEW",
            Tag::Created => "T_CREATED",
            Tag::Moved => "T_MOVED",
            Tag::Fixed => "T_FIXED",
            Tag::Refused => "T_REFUSED",
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        Tag::ALL.into_iter().find(|t| t.code() == code)
    }
}

/// The error of a reply of another shape: which script, and what was wrong.
fn malformed(script: &str, what: impl std::fmt::Display) -> QueueError {
    unavailable(format!("malformed {script} reply: {what}"))
}

/// Field `name` of `script`'s reply as a number (or any `FromStr` value).
fn number<T: FromStr>(script: &str, name: &str, raw: &str) -> Result<T, QueueError> {
    raw.parse()
        .map_err(|_| malformed(script, format_args!("{name} is {raw:?}")))
}

/// Field `name` of `script`'s reply as a flag: `1` or `0`.
fn flag(script: &str, name: &str, raw: &str) -> Result<bool, QueueError> {
    match raw {
        "1" => Ok(true),
        "0" => Ok(false),
        _ => Err(malformed(
            script,
            format_args!("{name} is {raw:?}, not 0 or 1"),
        )),
    }
}

/// A script's whole reply as a flag: `1` or `0`.
pub(crate) fn flag_reply(script: &str, raw: i64) -> Result<bool, QueueError> {
    match raw {
        1 => Ok(true),
        0 => Ok(false),
        _ => Err(malformed(script, format_args!("{raw}, not 0 or 1"))),
    }
}

#[cfg(test)]
fn strings(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| (*s).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tag_reads_back_from_its_code_and_fields_say_what_is_wrong() {
        for tag in Tag::ALL {
            assert_eq!(Tag::from_code(tag.code()), Some(tag));
        }
        assert_eq!(Tag::from_code("Z"), None);
        assert_eq!(number::<u64>("tick", "first", "7").ok(), Some(7));
        let err = number::<u64>("tick", "first", "-1")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("malformed tick reply: first is \"-1\""),
            "{err}"
        );
        assert_eq!(flag("tick", "to_draw", "1").ok(), Some(true));
        assert!(flag("tick", "to_draw", "2").is_err());
        assert_eq!(flag_reply("retire", 0).ok(), Some(false));
        let err = flag_reply("retire", 2).unwrap_err().to_string();
        assert!(
            err.contains("malformed retire reply: 2, not 0 or 1"),
            "{err}"
        );
    }
}
