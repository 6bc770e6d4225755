//! A line's life: open while the sale runs, closed when it ends (sold out with no hold
//! left, closed by the operator, or the last schedule started), retired a grace period
//! later (every piece of its state deleted; late pollers still read how it ended).
//! The rule deciding each step is here, once; adapters only store the state.

use chrono::{DateTime, Duration, Utc};

use crate::queue::{Inventory, Ticket, TicketStatus};

/// The default grace period between closing a line and retiring it.
pub const DEFAULT_RETIRE_AFTER_SECONDS: u64 = 3_600;

/// Why a line closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// Every seat is sold and no hold is left to expire.
    SoldOut,
    /// The operator closed it.
    Operator,
    /// The concert's last schedule has started.
    Ended,
}

impl CloseReason {
    /// The one-letter code adapters store.
    pub fn code(self) -> &'static str {
        match self {
            CloseReason::SoldOut => "S",
            CloseReason::Operator => "O",
            CloseReason::Ended => "E",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "S" => Some(CloseReason::SoldOut),
            "O" => Some(CloseReason::Operator),
            "E" => Some(CloseReason::Ended),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::SoldOut => "SOLD_OUT",
            CloseReason::Operator => "OPERATOR",
            CloseReason::Ended => "ENDED",
        }
    }

    /// What a fan still in line (or polling after the end) reads.
    pub fn status(self) -> TicketStatus {
        match self {
            CloseReason::SoldOut => TicketStatus::SoldOut,
            CloseReason::Operator | CloseReason::Ended => TicketStatus::Closed,
        }
    }
}

/// Where a line is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineLife {
    /// Fans enter and are admitted.
    #[default]
    Open,
    /// Nobody enters or is admitted; admitted fans keep their time to buy.
    Closed {
        reason: CloseReason,
        since: DateTime<Utc>,
    },
    /// Its state is deleted; every token of it reads how it ended.
    Retired { reason: CloseReason },
}

impl LineLife {
    pub fn as_str(self) -> &'static str {
        match self {
            LineLife::Open => "OPEN",
            LineLife::Closed { .. } => "CLOSED",
            LineLife::Retired { .. } => "RETIRED",
        }
    }

    /// Why it closed, unless it is open.
    pub fn reason(self) -> Option<CloseReason> {
        match self {
            LineLife::Open => None,
            LineLife::Closed { reason, .. } | LineLife::Retired { reason } => Some(reason),
        }
    }

    /// The life after closing the line for `reason` at `now`: an open line closes; a
    /// closed or retired one keeps its first reason and time.
    #[must_use]
    pub fn close(self, reason: CloseReason, now: DateTime<Utc>) -> LineLife {
        match self {
            LineLife::Open => LineLife::Closed { reason, since: now },
            kept => kept,
        }
    }

    /// The life after retiring the line, `None` when it is not due: a line closed at or
    /// before `closed_before` retires unless an admission is still `running` (a fan is
    /// still in a batch that has not ended); a retired line stays retired.
    pub fn retire(self, closed_before: DateTime<Utc>, running: bool) -> Option<LineLife> {
        match self {
            LineLife::Retired { .. } => Some(self),
            LineLife::Closed { reason, since } if since <= closed_before && !running => {
                Some(LineLife::Retired { reason })
            }
            LineLife::Open | LineLife::Closed { .. } => None,
        }
    }
}

impl Ticket {
    /// Applies the line's life to the fan's standing: on a closed line a waiting or
    /// pre-queued fan reads how it ended (an admitted one keeps its time to buy); on a
    /// retired line every token does.
    pub fn with_life(mut self, life: LineLife) -> Self {
        let (reason, everyone) = match life {
            LineLife::Open => return self,
            LineLife::Closed { reason, .. } => (reason, false),
            LineLife::Retired { reason } => (reason, true),
        };
        if everyone || matches!(self.status, TicketStatus::Waiting | TicketStatus::PreQueue) {
            self.status = reason.status();
            self.position = None;
            self.eta_seconds = None;
            self.eta_range = None;
            self.opens_at = None;
            self.active_until = None;
            if reason == CloseReason::SoldOut {
                self.inventory = Some(Inventory::SoldOut);
            }
        }
        self
    }
}

/// The next step of a line's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifeStep {
    Close(CloseReason),
    Reopen,
    Retire,
}

/// What the line's life should do after a tick that found it `life`, with `inventory`
/// left to buy (`None`: not counted) and `ended` when the last schedule has started:
/// an open line closes when sold out with no hold left or when the concert started; a
/// line closed as sold out reopens when a seat is free again (a return, added seats)
/// before the concert started; a closed line retires `retire_after` after closing.
pub fn next_step(
    life: LineLife,
    inventory: Option<Inventory>,
    ended: bool,
    now: DateTime<Utc>,
    retire_after: Duration,
) -> Option<LifeStep> {
    match life {
        LineLife::Open if ended => Some(LifeStep::Close(CloseReason::Ended)),
        LineLife::Open if inventory == Some(Inventory::SoldOut) => {
            Some(LifeStep::Close(CloseReason::SoldOut))
        }
        LineLife::Open | LineLife::Retired { .. } => None,
        LineLife::Closed {
            reason: CloseReason::SoldOut,
            ..
        } if !ended && inventory == Some(Inventory::Available) => Some(LifeStep::Reopen),
        LineLife::Closed { since, .. } => (now >= since + retire_after).then_some(LifeStep::Retire),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::model::{ConcertId, UserId};
    use crate::queue::{QueueToken, TokenKey};

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_900_000_000 + s, 0)
            .single()
            .expect("time")
    }

    #[test]
    fn an_open_line_closes_when_sold_out_or_started() {
        let hour = Duration::hours(1);
        let open = LineLife::Open;
        assert_eq!(
            next_step(open, Some(Inventory::SoldOut), false, t(0), hour),
            Some(LifeStep::Close(CloseReason::SoldOut))
        );
        assert_eq!(
            next_step(open, Some(Inventory::AllHeld), false, t(0), hour),
            None,
            "a hold may still expire"
        );
        assert_eq!(
            next_step(open, Some(Inventory::Available), true, t(0), hour),
            Some(LifeStep::Close(CloseReason::Ended))
        );
        assert_eq!(next_step(open, None, false, t(0), hour), None);
    }

    #[test]
    fn a_closed_line_reopens_on_returned_seats_or_retires_after_the_grace() {
        let hour = Duration::hours(1);
        let sold = LineLife::Closed {
            reason: CloseReason::SoldOut,
            since: t(0),
        };
        assert_eq!(
            next_step(sold, Some(Inventory::Available), false, t(10), hour),
            Some(LifeStep::Reopen)
        );
        assert_eq!(
            next_step(sold, Some(Inventory::Available), true, t(10), hour),
            None,
            "the concert started: no reopening"
        );
        assert_eq!(
            next_step(sold, Some(Inventory::SoldOut), false, t(3_599), hour),
            None
        );
        assert_eq!(
            next_step(sold, Some(Inventory::SoldOut), false, t(3_600), hour),
            Some(LifeStep::Retire)
        );
        let by_hand = LineLife::Closed {
            reason: CloseReason::Operator,
            since: t(0),
        };
        assert_eq!(
            next_step(by_hand, Some(Inventory::Available), false, t(10), hour),
            None,
            "only the operator reopens what the operator closed"
        );
        let gone = LineLife::Retired {
            reason: CloseReason::Ended,
        };
        assert_eq!(
            next_step(gone, Some(Inventory::Available), false, t(0), hour),
            None
        );
    }

    #[test]
    fn closing_keeps_the_first_reason_and_retiring_waits_for_the_grace_and_the_buyers() {
        let closed = LineLife::Open.close(CloseReason::SoldOut, t(5));
        assert_eq!(
            closed,
            LineLife::Closed {
                reason: CloseReason::SoldOut,
                since: t(5)
            }
        );
        assert_eq!(closed.close(CloseReason::Operator, t(9)), closed);
        let retired = LineLife::Retired {
            reason: CloseReason::Ended,
        };
        assert_eq!(retired.close(CloseReason::Operator, t(9)), retired);

        assert_eq!(LineLife::Open.retire(t(100), false), None);
        assert_eq!(closed.retire(t(4), false), None, "closed after the cutoff");
        assert_eq!(closed.retire(t(5), true), None, "an admission still runs");
        assert_eq!(
            closed.retire(t(5), false),
            Some(LineLife::Retired {
                reason: CloseReason::SoldOut
            })
        );
        assert_eq!(retired.retire(t(0), true), Some(retired));
    }

    #[test]
    fn fans_read_how_the_line_ended() {
        let token = QueueToken::issue(&TokenKey::derive(b"k"), ConcertId(1), 1, UserId(1));
        let mut waiting = Ticket::expired(&token);
        waiting.status = TicketStatus::Waiting;
        waiting.position = Some(3);
        let mut active = Ticket::expired(&token);
        active.status = TicketStatus::Active;
        let closed = LineLife::Closed {
            reason: CloseReason::Operator,
            since: t(0),
        };
        let w = waiting.clone().with_life(closed);
        assert_eq!((w.status, w.position), (TicketStatus::Closed, None));
        assert_eq!(
            active.clone().with_life(closed).status,
            TicketStatus::Active
        );
        let retired = LineLife::Retired {
            reason: CloseReason::SoldOut,
        };
        let a = active.with_life(retired);
        assert_eq!(
            (a.status, a.inventory),
            (TicketStatus::SoldOut, Some(Inventory::SoldOut))
        );
        assert_eq!(waiting.clone().with_life(LineLife::Open), waiting);
        for r in [
            CloseReason::SoldOut,
            CloseReason::Operator,
            CloseReason::Ended,
        ] {
            assert_eq!(CloseReason::from_code(r.code()), Some(r));
        }
        assert_eq!(CloseReason::from_code("x"), None);
    }
}
