//! The line scripts' replies as types: each reply tag an enum variant, each position a
//! named field, parsed once where the script's answer arrives. A reply of any other
//! shape (never one of this crate's scripts) is `Unavailable`.

use std::collections::HashSet;

use frontrow_domain::draw::Seed;
use frontrow_domain::error::QueueError;
use frontrow_domain::lifecycle::CloseReason;
use frontrow_domain::queue::Inventory;

use crate::draw::DrawState;
use crate::life::{LifeFields, parse_life};
use crate::scripts::Reply;
use crate::view::{Event, parse_event};
use crate::{parse, unavailable};

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
    pub phase: DrawState,
}

impl Reply for EnterAnswer {
    type Raw = Vec<String>;

    fn from_raw(reply: Vec<String>) -> Result<Self, QueueError> {
        let unexpected = || unavailable(format!("unexpected enter reply {reply:?}"));
        let [tag, number, until_or_head, epoch, phase] = &reply[..] else {
            return Err(unexpected());
        };
        if tag == "C" {
            let why = CloseReason::from_code(number).ok_or_else(unexpected)?;
            return Ok(EnterAnswer::Closed(why));
        }
        let (number, epoch) = (parse(number)?, parse(epoch)?);
        let entry = match tag.as_str() {
            "W" => Entry::Waiting,
            "N" => Entry::New,
            "A" => Entry::Active {
                until_ms: parse(until_or_head)?,
            },
            _ => return Err(unexpected()),
        };
        Ok(EnterAnswer::Placed(EnterReply {
            entry,
            number,
            epoch,
            phase: DrawState::parse(phase)?,
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
        Ok(match &reply[..] {
            [u] if u == "U" => AdmissionReply::Unknown,
            [e] if e == "E" => AdmissionReply::Expired,
            [p] if p == "P" => AdmissionReply::PreQueue,
            [c, why] if c == "C" => AdmissionReply::Closed(
                CloseReason::from_code(why)
                    .ok_or_else(|| unavailable(format!("unexpected close reason {why:?}")))?,
            ),
            [a, until] if a == "A" => AdmissionReply::Active {
                until_ms: parse(until)?,
            },
            [w, position, rate, aps, paused] if w == "W" => AdmissionReply::Waiting {
                position: parse(position)?,
                set: if aps.is_empty() {
                    None
                } else {
                    Some((parse(aps)?, paused == "1"))
                },
                rate: parse(rate)?,
            },
            _ => return Err(unavailable(format!("unexpected admission reply {reply:?}"))),
        })
    }
}

/// `leave.lua`'s reply.
pub(crate) struct LeaveReply {
    /// The number was issued in this line.
    pub known: bool,
    /// It left now (it was not gone or expired already).
    pub changed: bool,
}

impl Reply for LeaveReply {
    type Raw = Vec<i64>;

    fn from_raw(reply: Vec<i64>) -> Result<Self, QueueError> {
        match reply[..] {
            [0, _] => Ok(LeaveReply {
                known: false,
                changed: false,
            }),
            [_, changed] => Ok(LeaveReply {
                known: true,
                changed: changed == 1,
            }),
            _ => Err(unavailable(format!("unexpected leave reply {reply:?}"))),
        }
    }
}

/// `tick.lua`'s reply: what one tick did.
pub(crate) struct TickReply {
    pub admitted: i64,
    pub expired_waiting: i64,
    pub expired_active: i64,
    /// The admitted batch: first and last place, end ms (0s when none).
    pub first: i64,
    pub last: i64,
    pub until_ms: i64,
    /// The opening was reached and the draw has not run.
    pub to_draw: bool,
    pub life: LifeFields,
    /// The numbers dropped as idle.
    pub dropped: Vec<i64>,
}

impl Reply for TickReply {
    type Raw = Vec<String>;

    fn from_raw(reply: Vec<String>) -> Result<Self, QueueError> {
        let [
            admitted,
            expired_waiting,
            expired_active,
            first,
            last,
            until_ms,
            to_draw,
            lstate,
            lwhy,
            lat,
            dropped @ ..,
        ] = &reply[..]
        else {
            return Err(unavailable(format!("unexpected tick reply {reply:?}")));
        };
        Ok(TickReply {
            admitted: parse(admitted)?,
            expired_waiting: parse(expired_waiting)?,
            expired_active: parse(expired_active)?,
            first: parse(first)?,
            last: parse(last)?,
            until_ms: parse(until_ms)?,
            to_draw: to_draw == "1",
            life: parse_life(lstate, lwhy, lat, "0")?,
            dropped: dropped.iter().map(|s| parse(s)).collect::<Result<_, _>>()?,
        })
    }
}

/// The draw's hash as a reply carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DrawInfo {
    pub state: DrawState,
    /// Pre-queued numbers frozen at the opening.
    pub k: u64,
    pub opens_ms: i64,
}

impl DrawInfo {
    fn parse(state: &str, k: &str, opens_ms: &str) -> Result<Self, QueueError> {
        Ok(DrawInfo {
            state: DrawState::parse(state)?,
            k: parse(k)?,
            opens_ms: parse(opens_ms)?,
        })
    }
}

/// `sync.lua`'s reply: the line's counters and the stream's next events.
pub(crate) struct SyncReply {
    pub seq: u64,
    pub head: u64,
    pub evn: u64,
    pub rate: f64,
    pub admit_per_second: Option<u64>,
    pub paused: bool,
    pub epoch: u64,
    pub rate_var: f64,
    pub inventory: Option<Inventory>,
    pub draw: DrawInfo,
    pub life: LifeFields,
    /// The policy hash's fields (`POLICY_FIELDS`; `None`: unset).
    pub policy: Vec<Option<String>>,
    /// (stream id, event number, event) in stream order.
    pub events: Vec<(String, u64, Event)>,
}

impl Reply for SyncReply {
    type Raw = Vec<String>;

    fn from_raw(reply: Vec<String>) -> Result<Self, QueueError> {
        let [
            seq,
            head,
            evn,
            rate,
            aps,
            paused,
            epoch,
            var,
            inv,
            dstate,
            dk,
            dopens,
            lstate,
            lwhy,
            lat,
            lepoch,
            p0,
            p1,
            p2,
            p3,
            p4,
            p5,
            p6,
            events @ ..,
        ] = &reply[..]
        else {
            return Err(unavailable(format!("unexpected sync reply {reply:?}")));
        };
        let draw = DrawInfo::parse(dstate, dk, dopens)?;
        let mut parsed = Vec::with_capacity(events.len() / 2);
        for pair in events.chunks(2) {
            let [id, raw] = pair else {
                return Err(unavailable("odd event list from redis"));
            };
            let (n, event) =
                parse_event(raw).ok_or_else(|| unavailable(format!("malformed event {raw:?}")))?;
            parsed.push((id.clone(), n, event));
        }
        Ok(SyncReply {
            seq: parse(seq)?,
            head: parse(head)?,
            evn: parse(evn)?,
            rate: parse(rate)?,
            admit_per_second: if aps.is_empty() {
                None
            } else {
                Some(parse(aps)?)
            },
            paused: paused == "1",
            epoch: parse(epoch)?,
            rate_var: parse(var)?,
            inventory: Inventory::from_code(inv),
            draw,
            life: parse_life(lstate, lwhy, lat, lepoch)?,
            policy: [p0, p1, p2, p3, p4, p5, p6]
                .iter()
                .map(|v| Some((*v).clone()).filter(|v| !v.is_empty()))
                .collect(),
            events: parsed,
        })
    }
}

/// `snapshot.lua`'s reply: a consistent picture of the line.
pub(crate) struct SnapshotReply {
    pub seq: u64,
    pub head: u64,
    pub evn: u64,
    pub epoch: u64,
    /// The stream's last id, where reading goes on.
    pub last_id: String,
    pub draw: DrawInfo,
    pub inventory: Option<Inventory>,
    pub life: LifeFields,
    /// (first place, last place, end ms) per admission batch.
    pub batches: Vec<(u64, u64, i64)>,
    /// Every gone number that still matters.
    pub gone: Vec<u64>,
}

impl Reply for SnapshotReply {
    type Raw = Vec<String>;

    fn from_raw(reply: Vec<String>) -> Result<Self, QueueError> {
        let [
            seq,
            head,
            evn,
            epoch,
            last_id,
            dstate,
            dk,
            dopens,
            inv,
            lstate,
            lwhy,
            lat,
            lepoch,
            batches,
            rest @ ..,
        ] = &reply[..]
        else {
            return Err(unavailable(format!("unexpected snapshot reply {reply:?}")));
        };
        let batches: usize = parse(batches)?;
        if rest.len() < batches * 3 {
            return Err(unavailable("short snapshot reply"));
        }
        let (batch_part, gone_part) = rest.split_at(batches * 3);
        let mut parsed = Vec::with_capacity(batches);
        for b in batch_part.chunks(3) {
            if let [first, last, until] = b {
                parsed.push((parse(first)?, parse(last)?, parse::<f64>(until)? as i64));
            }
        }
        Ok(SnapshotReply {
            seq: parse(seq)?,
            head: parse(head)?,
            evn: parse(evn)?,
            epoch: parse(epoch)?,
            last_id: last_id.clone(),
            draw: DrawInfo::parse(dstate, dk, dopens)?,
            inventory: Inventory::from_code(inv),
            life: parse_life(lstate, lwhy, lat, lepoch)?,
            batches: parsed,
            gone: gone_part
                .iter()
                .map(|s| parse(s))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// `stats.lua`'s reply.
pub(crate) struct StatsReply {
    pub waiting: u64,
    /// Leaves out batches that ended but no tick has expired yet.
    pub active: u64,
    pub admitted_total: u64,
    pub expired_total: u64,
    pub rate: f64,
}

impl Reply for StatsReply {
    type Raw = Vec<String>;

    fn from_raw(reply: Vec<String>) -> Result<Self, QueueError> {
        let [waiting, active, admitted, expired, rate] = &reply[..] else {
            return Err(unavailable(format!("unexpected stats reply {reply:?}")));
        };
        Ok(StatsReply {
            waiting: parse(waiting)?,
            active: parse::<i64>(active)?.max(0) as u64,
            admitted_total: parse(admitted)?,
            expired_total: parse(expired)?,
            rate: parse(rate)?,
        })
    }
}

/// `draw_open.lua`'s reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DrawOpened {
    /// `C`: the pre-queue was created.
    Created,
    /// `M`: its opening moved.
    Moved,
    /// `F`: frozen or drawn already, left alone.
    Fixed,
    /// `R`: fans entered a line without a pre-queue: refused.
    Refused,
}

impl Reply for DrawOpened {
    type Raw = String;

    fn from_raw(reply: String) -> Result<Self, QueueError> {
        match reply.as_str() {
            "C" => Ok(DrawOpened::Created),
            "M" => Ok(DrawOpened::Moved),
            "F" => Ok(DrawOpened::Fixed),
            "R" => Ok(DrawOpened::Refused),
            _ => Err(unavailable(format!("unexpected draw_open reply {reply:?}"))),
        }
    }
}

/// `draw_claim.lua`'s reply.
pub(crate) enum DrawClaim {
    /// Another caller may draw, or nobody may now.
    Lost,
    /// This caller draws the line's incarnation `epoch`: numbers 1..=k, those in `left`
    /// excluded.
    Won {
        seed: Seed,
        k: u64,
        epoch: u64,
        left: HashSet<u64>,
    },
}

impl Reply for DrawClaim {
    type Raw = Vec<String>;

    fn from_raw(reply: Vec<String>) -> Result<Self, QueueError> {
        let [won, seed, k, epoch, left @ ..] = &reply[..] else {
            return Ok(DrawClaim::Lost);
        };
        if won != "1" {
            return Ok(DrawClaim::Lost);
        }
        Ok(DrawClaim::Won {
            seed: Seed::from_hex(seed).ok_or_else(|| unavailable("malformed draw seed"))?,
            k: parse(k)?,
            epoch: parse(epoch)?,
            left: left.iter().filter_map(|s| s.parse().ok()).collect(),
        })
    }
}

/// `draw_finish.lua`'s reply: whether this caller's claim completed the draw.
pub(crate) struct DrawFinished(pub bool);

impl Reply for DrawFinished {
    type Raw = i64;

    fn from_raw(reply: i64) -> Result<Self, QueueError> {
        Ok(DrawFinished(reply == 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn replies_parse_into_their_tags_and_others_are_refused() {
        let EnterAnswer::Placed(r) =
            EnterAnswer::from_raw(strings(&["A", "3", "1900", "7", "drawn"])).unwrap()
        else {
            panic!("a place")
        };
        assert_eq!(r.entry, Entry::Active { until_ms: 1900 });
        assert_eq!((r.number, r.epoch, r.phase), (3, 7, DrawState::Drawn));
        assert!(matches!(
            EnterAnswer::from_raw(strings(&["C", "S", "0", "0", ""])).unwrap(),
            EnterAnswer::Closed(CloseReason::SoldOut)
        ));
        assert!(EnterAnswer::from_raw(strings(&["C", "Q", "0", "0", ""])).is_err());
        assert!(EnterAnswer::from_raw(strings(&["X", "3", "0", "7", ""])).is_err());
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
        assert_eq!(
            DrawOpened::from_raw("R".into()).unwrap(),
            DrawOpened::Refused
        );
        assert!(matches!(
            DrawClaim::from_raw(strings(&["0"])).unwrap(),
            DrawClaim::Lost
        ));
    }
}
