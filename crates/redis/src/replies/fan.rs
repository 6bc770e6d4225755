//! The replies of a fan's own calls: entering, the authoritative standing (the
//! booking gate), leaving.

use frontrow_domain::error::QueueError;
use frontrow_domain::lifecycle::CloseReason;
use frontrow_domain::line::phase::DrawPhase;

use super::{Tag, malformed, number};
use crate::draw::parse_phase;
use crate::scripts::Reply;

/// How `enter` found the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entry {
    /// `W`: already waiting or pre-queued (counts as a heartbeat).
    Waiting,
    /// `A`: already admitted, until then.
    Active { until_ms: i64 },
    /// `N`: a new number.
    New,
}

/// `enter.lua`'s answer: a place, or the line is closed.
pub(crate) enum EnterAnswer {
    Placed(EnterReply),
    /// `C`: the line is closed or retired, for this reason.
    Closed(CloseReason),
}

/// `enter.lua`'s reply: the user's number, the line's epoch and the draw's state.
pub(crate) struct EnterReply {
    pub entry: Entry,
    pub number: u64,
    pub epoch: u64,
    pub phase: DrawPhase,
}

fn close_reason(script: &str, why: &str) -> Result<CloseReason, QueueError> {
    CloseReason::from_code(why)
        .ok_or_else(|| malformed(script, format_args!("close reason {why:?}")))
}

impl Reply for EnterAnswer {
    type Raw = Vec<String>;

    fn from_raw(reply: Vec<String>) -> Result<Self, QueueError> {
        const S: &str = "enter";
        let [tag, num, until_or_head, epoch, phase] = &reply[..] else {
            return Err(malformed(S, format_args!("{reply:?}")));
        };
        let entry = match Tag::from_code(tag) {
            Some(Tag::Closed) => return Ok(EnterAnswer::Closed(close_reason(S, num)?)),
            Some(Tag::Waiting) => Entry::Waiting,
            Some(Tag::New) => Entry::New,
            Some(Tag::Active) => Entry::Active {
                until_ms: number(S, "until", until_or_head)?,
            },
            _ => return Err(malformed(S, format_args!("tag {tag:?}"))),
        };
        Ok(EnterAnswer::Placed(EnterReply {
            entry,
            number: number(S, "number", num)?,
            epoch: number(S, "epoch", epoch)?,
            phase: parse_phase(phase)?,
        }))
    }
}

/// `admission.lua`'s reply: the authoritative standing of one number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum AdmissionReply {
    /// `U`: never issued in this line (or signed for another epoch).
    Unknown,
    /// `E`: gone or expired.
    Expired,
    /// `P`: pre-queued.
    PreQueue,
    /// `C`: in line on a closed line, or any number of a retired one.
    Closed(CloseReason),
    /// `A`: admitted until then.
    Active { until_ms: i64 },
    /// `W`: waiting; `set` is the concert's rate and pause where an operator set them.
    Waiting {
        position: u64,
        rate: f64,
        set: Option<(u64, bool)>,
    },
}

impl Reply for AdmissionReply {
    type Raw = Vec<String>;

    fn from_raw(reply: Vec<String>) -> Result<Self, QueueError> {
        const S: &str = "admission";
        let unexpected = || malformed(S, format_args!("{reply:?}"));
        let (tag, rest) = reply.split_first().ok_or_else(unexpected)?;
        let tag = Tag::from_code(tag).ok_or_else(unexpected)?;
        Ok(match (tag, rest) {
            (Tag::Unknown, []) => AdmissionReply::Unknown,
            (Tag::Expired, []) => AdmissionReply::Expired,
            (Tag::PreQueue, []) => AdmissionReply::PreQueue,
            (Tag::Closed, [why]) => AdmissionReply::Closed(close_reason(S, why)?),
            (Tag::Active, [until]) => AdmissionReply::Active {
                until_ms: number(S, "until", until)?,
            },
            (Tag::Waiting, [position, rate, aps, paused]) => AdmissionReply::Waiting {
                position: number(S, "position", position)?,
                set: if aps.is_empty() {
                    None
                } else {
                    Some((number(S, "admit_per_second", aps)?, paused == "1"))
                },
                rate: number(S, "rate", rate)?,
            },
            _ => return Err(unexpected()),
        })
    }
}

/// `leave.lua`'s reply (`{known, changed}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeaveReply {
    /// `{0, 0}`: never issued in this line (or signed for another epoch).
    Unknown,
    /// `{1, 0}`: gone or expired already; nothing changed.
    Unchanged,
    /// `{1, 1}`: it left now.
    Left,
}

impl Reply for LeaveReply {
    type Raw = Vec<i64>;

    fn from_raw(reply: Vec<i64>) -> Result<Self, QueueError> {
        match reply[..] {
            [0, 0] => Ok(LeaveReply::Unknown),
            [1, 0] => Ok(LeaveReply::Unchanged),
            [1, 1] => Ok(LeaveReply::Left),
            _ => Err(malformed(
                "leave",
                format_args!("{reply:?}, not {{known, changed}} flags"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replies::strings;

    #[test]
    fn enter_replies_parse_into_their_tags_and_others_are_refused() {
        let EnterAnswer::Placed(r) =
            EnterAnswer::from_raw(strings(&["A", "3", "1900", "7", "drawn"])).unwrap()
        else {
            panic!("a place")
        };
        assert_eq!(r.entry, Entry::Active { until_ms: 1900 });
        assert_eq!((r.number, r.epoch, r.phase), (3, 7, DrawPhase::Drawn));
        assert!(matches!(
            EnterAnswer::from_raw(strings(&["C", "S", "0", "0", ""])).unwrap(),
            EnterAnswer::Closed(CloseReason::SoldOut)
        ));
        assert!(EnterAnswer::from_raw(strings(&["C", "Q", "0", "0", ""])).is_err());
        assert!(EnterAnswer::from_raw(strings(&["X", "3", "0", "7", ""])).is_err());
        assert!(EnterAnswer::from_raw(strings(&["N", "x", "0", "7", ""])).is_err());
        assert!(EnterAnswer::from_raw(strings(&["N", "3", "0", "7"])).is_err());
    }

    #[test]
    fn admission_replies_parse_into_their_tags_and_others_are_refused() {
        assert_eq!(
            AdmissionReply::from_raw(strings(&["C", "E"])).unwrap(),
            AdmissionReply::Closed(CloseReason::Ended)
        );
        assert_eq!(
            AdmissionReply::from_raw(strings(&["W", "4", "2.5", "", ""])).unwrap(),
            AdmissionReply::Waiting {
                position: 4,
                rate: 2.5,
                set: None
            }
        );
        assert!(AdmissionReply::from_raw(strings(&["A"])).is_err());
        assert!(AdmissionReply::from_raw(strings(&["U", "1"])).is_err());
        assert!(AdmissionReply::from_raw(Vec::new()).is_err());
    }

    #[test]
    fn leave_replies_are_two_flags_and_nothing_else() {
        assert_eq!(
            LeaveReply::from_raw(vec![0, 0]).unwrap(),
            LeaveReply::Unknown
        );
        assert_eq!(
            LeaveReply::from_raw(vec![1, 0]).unwrap(),
            LeaveReply::Unchanged
        );
        assert_eq!(LeaveReply::from_raw(vec![1, 1]).unwrap(), LeaveReply::Left);
        for bad in [vec![0, 1], vec![1, 2], vec![1], vec![1, 1, 1], vec![]] {
            let err = LeaveReply::from_raw(bad.clone()).unwrap_err().to_string();
            assert!(err.contains("malformed leave reply"), "{bad:?}: {err}");
        }
    }
}
