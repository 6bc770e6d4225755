//! The replies of the line's periodic work: a tick, and the line's counters.

use frontrow_domain::error::QueueError;

use super::{flag, malformed, number};
use crate::life::{LifeFields, parse_life};
use crate::scripts::Reply;

/// An admission batch: places `first..=last`, admitted until `until_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AdmittedBatch {
    pub first: u64,
    pub last: u64,
    pub until_ms: i64,
}

/// `tick.lua`'s reply: what one tick did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TickReply {
    pub admitted: u64,
    pub expired_waiting: u64,
    pub expired_active: u64,
    /// The batch admitted, when anyone was.
    pub batch: Option<AdmittedBatch>,
    /// The opening was reached and the draw has not run.
    pub to_draw: bool,
    pub life: LifeFields,
    /// The numbers dropped as idle (`expired_waiting` of them).
    pub dropped: Vec<u64>,
}

impl Reply for TickReply {
    type Raw = Vec<String>;

    fn from_raw(reply: Vec<String>) -> Result<Self, QueueError> {
        const S: &str = "tick";
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
            return Err(malformed(S, format_args!("{} fields", reply.len())));
        };
        let admitted: u64 = number(S, "admitted", admitted)?;
        let batch = AdmittedBatch {
            first: number(S, "first", first)?,
            last: number(S, "last", last)?,
            until_ms: number(S, "until", until_ms)?,
        };
        let batch = match (admitted, batch) {
            (
                0,
                AdmittedBatch {
                    first: 0, last: 0, ..
                },
            ) => None,
            (1.., b) if 0 < b.first && b.first <= b.last && admitted <= b.last - b.first + 1 => {
                Some(b)
            }
            (_, b) => return Err(malformed(S, format_args!("{admitted} admitted as {b:?}"))),
        };
        let expired_waiting: u64 = number(S, "expired_waiting", expired_waiting)?;
        let dropped: Vec<u64> = dropped
            .iter()
            .map(|s| number(S, "dropped number", s))
            .collect::<Result<_, _>>()?;
        if dropped.len() as u64 != expired_waiting {
            return Err(malformed(
                S,
                format_args!("{expired_waiting} dropped, {} listed", dropped.len()),
            ));
        }
        Ok(TickReply {
            admitted,
            expired_waiting,
            expired_active: number(S, "expired_active", expired_active)?,
            batch,
            to_draw: flag(S, "to_draw", to_draw)?,
            life: parse_life(lstate, lwhy, lat, "0")?,
            dropped,
        })
    }
}

/// `stats.lua`'s reply.
#[derive(Debug, Clone, Copy, PartialEq)]
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
        const S: &str = "stats";
        let [waiting, active, admitted, expired, rate] = &reply[..] else {
            return Err(malformed(S, format_args!("{reply:?}")));
        };
        Ok(StatsReply {
            waiting: number(S, "waiting", waiting)?,
            active: number::<i64>(S, "active", active)?.max(0) as u64,
            admitted_total: number(S, "admitted_total", admitted)?,
            expired_total: number(S, "expired_total", expired)?,
            rate: number(S, "rate", rate)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replies::strings;
    use frontrow_domain::lifecycle::LineLife;

    fn tick(parts: &[&str]) -> Result<TickReply, QueueError> {
        TickReply::from_raw(strings(parts))
    }

    #[test]
    fn a_tick_reply_names_its_batch_and_its_dropped_numbers() {
        let r = tick(&[
            "3", "2", "1", "11", "14", "9000", "0", "", "", "0", "20", "21",
        ])
        .unwrap();
        assert_eq!((r.admitted, r.expired_waiting, r.expired_active), (3, 2, 1));
        assert_eq!(
            r.batch,
            Some(AdmittedBatch {
                first: 11,
                last: 14,
                until_ms: 9000
            })
        );
        assert_eq!(r.dropped, [20, 21]);
        assert_eq!(r.life.life, LineLife::Open);
        assert!(!r.to_draw);
        let idle = tick(&["0", "0", "0", "0", "0", "0", "1", "closed", "S", "5", ""]);
        assert!(idle.is_err(), "an empty dropped number");
        let idle = tick(&["0", "0", "0", "0", "0", "0", "1", "closed", "S", "5"]).unwrap();
        assert_eq!((idle.batch, idle.to_draw), (None, true));
        assert!(matches!(idle.life.life, LineLife::Closed { .. }));
    }

    #[test]
    fn a_malformed_tick_reply_is_refused() {
        for bad in [
            // too short
            &["1", "0", "0", "1", "1", "5"][..],
            // a batch without admissions, admissions without a batch, more than it holds
            &["0", "0", "0", "1", "1", "5", "0", "", "", "0"],
            &["2", "0", "0", "0", "0", "0", "0", "", "", "0"],
            &["3", "0", "0", "4", "5", "9", "0", "", "", "0"],
            // negative counts, a flag that is not one, dropped numbers miscounted
            &["-1", "0", "0", "0", "0", "0", "0", "", "", "0"],
            &["0", "0", "0", "0", "0", "0", "yes", "", "", "0"],
            &["0", "1", "0", "0", "0", "0", "0", "", "", "0"],
            &["0", "0", "0", "0", "0", "0", "0", "open", "", "0"],
        ] {
            let err = tick(bad).map(|_| ()).unwrap_err().to_string();
            assert!(
                err.contains("tick reply") || err.contains("line state"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn stats_replies_parse_and_others_are_refused() {
        let s = StatsReply::from_raw(strings(&["4", "-2", "9", "1", "0.5"])).unwrap();
        assert_eq!((s.waiting, s.active, s.admitted_total), (4, 0, 9));
        assert!(StatsReply::from_raw(strings(&["4", "0", "9", "1"])).is_err());
        assert!(StatsReply::from_raw(strings(&["x", "0", "9", "1", "0"])).is_err());
    }
}
