//! The replies that keep an instance's view of a line current: the stream's next
//! events with the line's counters (`sync`), and a consistent picture of the whole
//! line (`snapshot`).

use frontrow_domain::error::QueueError;
use frontrow_domain::line::phase::DrawPhase;
use frontrow_domain::queue::Inventory;

use super::malformed;
use crate::draw::parse_phase;
use crate::life::{LifeFields, parse_life};
use crate::parse;
use crate::scripts::Reply;
use crate::view::{Event, parse_event};

/// The draw's hash as a reply carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DrawInfo {
    pub state: DrawPhase,
    /// Pre-queued numbers frozen at the opening.
    pub k: u64,
    pub opens_ms: i64,
}

impl DrawInfo {
    fn parse(state: &str, k: &str, opens_ms: &str) -> Result<Self, QueueError> {
        Ok(DrawInfo {
            state: parse_phase(state)?,
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
            return Err(malformed("sync", format_args!("{} fields", reply.len())));
        };
        let draw = DrawInfo::parse(dstate, dk, dopens)?;
        let mut parsed = Vec::with_capacity(events.len() / 2);
        for pair in events.chunks(2) {
            let [id, raw] = pair else {
                return Err(malformed("sync", "an odd event list"));
            };
            let (n, event) =
                parse_event(raw).ok_or_else(|| malformed("sync", format_args!("event {raw:?}")))?;
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
            return Err(malformed(
                "snapshot",
                format_args!("{} fields", reply.len()),
            ));
        };
        let batches: usize = parse(batches)?;
        if rest.len() < batches * 3 {
            return Err(malformed("snapshot", "fewer batches than it counts"));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replies::strings;

    /// A sync reply's 23 fixed fields, then `events`.
    fn sync(events: &[&str]) -> Vec<String> {
        let mut r = strings(&[
            "9", "4", "12", "1.5", "", "", "77", "0.25", "A", "drawn", "3", "1000", "", "", "0",
            "0", "", "", "", "", "", "", "",
        ]);
        r.extend(strings(events));
        r
    }

    #[test]
    fn a_sync_reply_parses_its_counters_and_events_and_refuses_garbage() {
        let r = SyncReply::from_raw(sync(&["1-0", "13:g:5"])).unwrap();
        assert_eq!((r.seq, r.head, r.evn, r.epoch), (9, 4, 12, 77));
        assert_eq!(r.draw.state, DrawPhase::Drawn);
        assert_eq!(r.events.len(), 1);
        assert!(
            SyncReply::from_raw(sync(&["1-0"])).is_err(),
            "an odd event list"
        );
        assert!(SyncReply::from_raw(sync(&["1-0", "nonsense"])).is_err());
        assert!(SyncReply::from_raw(strings(&["9", "4"])).is_err());
    }

    #[test]
    fn a_snapshot_reply_holds_the_batches_it_counts() {
        let fixed = [
            "9", "4", "12", "77", "1-0", "", "0", "0", "", "", "", "0", "0",
        ];
        let mut ok = strings(&fixed);
        ok.extend(strings(&["1", "1", "4", "5000", "3", "7"]));
        let r = SnapshotReply::from_raw(ok).unwrap();
        assert_eq!(r.batches, [(1, 4, 5000)]);
        assert_eq!(r.gone, [3, 7]);
        let mut short = strings(&fixed);
        short.extend(strings(&["2", "1", "4", "5000"]));
        assert!(SnapshotReply::from_raw(short).is_err());
    }
}
