//! Tickets answered from the local view: a fan's status, position and ETA as of the
//! view's last read, and when a poll may be answered without any further read.

use frontrow_domain::line::EtaInputs;
use frontrow_domain::queue::{QueuePolicy, QueueToken, Ticket};

use crate::line::Line;
use crate::sync::{FRESH, RECHECK};
use crate::view::View;
use crate::{Inner, read};

/// The ticket of `token` with nothing known yet: expired, no position, no end.
pub(crate) fn expired_ticket(token: &QueueToken) -> Ticket {
    Ticket::expired(token)
}

impl Inner {
    /// The ticket for `token` from the view.
    pub(crate) fn ticket(&self, line: &Line, token: &QueueToken, now_ms: i64) -> Ticket {
        self.ticket_in(&read(&line.view), token, now_ms)
    }

    /// The ticket for `token` from a view already read-locked.
    fn ticket_in(&self, v: &View, token: &QueueToken, now_ms: i64) -> Ticket {
        let policy = self.policy_with(v.admit_per_second.map(|aps| (aps, v.paused)));
        let eta = EtaInputs {
            rate: v.rate,
            rate_sd: v.rate_sd,
            policy: &policy,
            opens_ms: v.phase().opens_ms(),
        };
        v.standing(token.seq(), now_ms)
            .ticket(token, eta)
            .with_inventory(v.inventory)
            .with_life(v.life)
    }

    /// The default policy with the concert's rate and pause where an operator set them.
    pub(crate) fn policy_with(&self, set: Option<(u64, bool)>) -> QueuePolicy {
        let mut policy = self.settings.default_policy;
        if let Some((admit_per_second, paused)) = set {
            policy.admit_per_second = admit_per_second;
            policy.paused = paused;
        }
        policy
    }

    /// A waiting fan within two seconds' worth of admissions of the head (at least 100
    /// places), answered from a view older than `RECHECK` (background mode only).
    pub(crate) fn near_the_front(&self, line: &Line, ticket: &Ticket) -> bool {
        let Some(position) = ticket.position else {
            return false;
        };
        if self.max_lag.is_none() {
            return false;
        }
        self.near_the_front_in(&read(&line.view), position)
    }

    /// `near_the_front` with the view already read-locked.
    fn near_the_front_in(&self, v: &View, position: u64) -> bool {
        let rate = v
            .admit_per_second
            .unwrap_or(self.settings.default_policy.admit_per_second);
        position <= rate.saturating_mul(2).max(100)
            && v.synced.is_none_or(|at| at.elapsed() >= RECHECK)
    }

    /// The common poll, answered under one read lock of the view: a view read within
    /// `FRESH` (background mode), a token signed for its epoch, a place it knows, and no
    /// fresher read needed for a fan near the front. `None` sends the caller down the
    /// full path, which handles every other case.
    pub(crate) fn status_from_view(
        &self,
        line: &Line,
        token: &QueueToken,
        now_ms: i64,
    ) -> Option<Ticket> {
        self.max_lag?;
        let v = read(&line.view);
        if v.epoch == 0
            || v.synced?.elapsed() > FRESH
            || token.seq() > v.seq_max()
            || !self.signed(line, token, v.epoch)
        {
            return None;
        }
        let ticket = self.ticket_in(&v, token, now_ms);
        match ticket.position {
            Some(position) if self.near_the_front_in(&v, position) => None,
            _ => Some(ticket),
        }
    }
}
