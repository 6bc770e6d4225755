//! Tickets and the gate: a paid order's positions as signed tickets, codes a scanner
//! verifies with public keys only (static, or rotating every 15 s under a holder key),
//! check-ins online and offline with one first admission per ticket, gate keys per
//! schedule, and the revocation list that is the one place a gate learns a ticket ended.

pub mod code;
pub mod keys;
pub mod model;
pub mod port;
pub mod rules;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use self::code::Claims;
use self::keys::{HolderKey, KeySet, PublicKey, TicketSigner};
use self::model::{
    AdmittedTo, CheckResult, Checkin, CheckinOutcome, CheckinStats, GateKey, Revocation, Scan,
    Ticket, TicketId,
};
use self::port::{BindError, Decision, NewCheckin, RevokeTarget, TicketRepository};
use self::rules::{Gate, Precheck};
use crate::error::StoreError;
use crate::model::{OrderId, ScheduleId, UserId};
use crate::ports::{CatalogRepository, Clock};

/// How long around its schedule's start a ticket is valid, and the scanners' clock
/// tolerance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketPolicy {
    /// Doors open this long before the start.
    pub valid_before_start: Duration,
    /// Codes stop working this long after the start.
    pub valid_after_start: Duration,
    /// Scanner clocks may be this far off.
    pub clock_skew: Duration,
}

impl Default for TicketPolicy {
    fn default() -> Self {
        TicketPolicy {
            valid_before_start: Duration::hours(6),
            valid_after_start: Duration::hours(12),
            clock_skew: Duration::minutes(2),
        }
    }
}

/// The most tickets "my tickets" lists.
pub const MAX_TICKETS_LISTED: u64 = 1_000;
/// The most scans one batch may carry.
pub const MAX_BATCH: usize = 250;
/// The longest gate, device or label name, and nonce.
pub const MAX_NAME_LEN: usize = 64;
/// An incremental kit repeats revocations this long before `since`, so one committed
/// just after an earlier kit was read still reaches the device (entries are a set).
pub const SYNC_OVERLAP: Duration = Duration::seconds(60);

/// A ticket with the code to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedTicket {
    pub ticket: Ticket,
    /// The static code, or for a holder-bound ticket the code the holder's rotating
    /// codes wrap; `None` while the schedule requires rotating codes and no holder key
    /// is bound yet.
    pub code: Option<String>,
    pub rotating: bool,
}

/// What a scanner needs to verify a schedule's codes offline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateKit {
    pub schedule_id: ScheduleId,
    pub generated_at: DateTime<Utc>,
    pub keys: Vec<PublicKey>,
    /// Every entry (or, with `since`, every entry changed since then).
    pub revocations: Vec<Revocation>,
    pub incremental: bool,
    pub clock_skew: Duration,
}

/// Errors of the tickets use case.
#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    /// The request is malformed; the text names the field.
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("gate key unknown or revoked")]
    GateKeyInvalid,
    #[error("this gate key is for another schedule")]
    GateKeyWrongSchedule,
    #[error("schedule not found")]
    ScheduleNotFound,
    #[error("not found")]
    NotFound,
    #[error("the ticket is revoked")]
    Revoked,
    #[error("the ticket was already admitted")]
    AlreadyAdmitted,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<BindError> for TicketError {
    fn from(e: BindError) -> Self {
        match e {
            BindError::NotFound => TicketError::NotFound,
            BindError::Revoked => TicketError::Revoked,
            BindError::AlreadyAdmitted => TicketError::AlreadyAdmitted,
            BindError::Unavailable(s) => TicketError::Store(s),
        }
    }
}

/// The SHA-256 (hex) under which a gate key is stored.
pub fn gate_key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A name a device reports (gate, device, nonce, label): 1 to 64 printable characters.
fn check_name(field: &str, v: &str) -> Result<(), TicketError> {
    // Characters, not bytes: the schema's and the columns' measure.
    if v.is_empty() || v.chars().count() > MAX_NAME_LEN || v.chars().any(char::is_control) {
        return Err(TicketError::Invalid(format!(
            "{field} must be 1 to {MAX_NAME_LEN} printable characters"
        )));
    }
    Ok(())
}

fn check_scan(i: Option<usize>, s: &Scan) -> Result<(), TicketError> {
    let at = |f: &str| i.map_or_else(|| f.to_owned(), |i| format!("scans[{i}].{f}"));
    check_name(&at("gate"), &s.gate)?;
    check_name(&at("device"), &s.device)?;
    check_name(&at("nonce"), &s.nonce)?;
    if s.code.is_empty() || s.code.chars().count() > code::MAX_CODE_CHARS {
        return Err(TicketError::Invalid(format!(
            "{} must be 1 to {} characters",
            at("code"),
            code::MAX_CODE_CHARS
        )));
    }
    Ok(())
}

/// The tickets use case.
#[derive(Clone)]
pub struct Tickets {
    repo: Arc<dyn TicketRepository>,
    catalog: Arc<dyn CatalogRepository>,
    signer: Arc<TicketSigner>,
    keys: Arc<KeySet>,
    clock: Arc<dyn Clock>,
    policy: TicketPolicy,
}

impl Tickets {
    /// The use case; `signer` signs new codes, `keys` (which should include the
    /// signer's) verify them and are published.
    pub fn new(
        repo: Arc<dyn TicketRepository>,
        catalog: Arc<dyn CatalogRepository>,
        signer: Arc<TicketSigner>,
        keys: Arc<KeySet>,
        clock: Arc<dyn Clock>,
        policy: TicketPolicy,
    ) -> Self {
        Tickets {
            repo,
            catalog,
            signer,
            keys,
            clock,
            policy,
        }
    }

    /// The published issuing keys.
    pub fn public_keys(&self) -> Vec<PublicKey> {
        self.keys.public_keys()
    }

    pub fn policy(&self) -> TicketPolicy {
        self.policy
    }

    /// What the code of `t` says.
    pub fn claims_of(&self, t: &Ticket) -> Claims {
        Claims {
            ticket: t.id,
            schedule: t.schedule_id,
            place: t.place,
            valid_from: (t.starts_at - self.policy.valid_before_start).timestamp(),
            valid_until: (t.starts_at + self.policy.valid_after_start).timestamp(),
            kid: self.signer.kid(),
            generation: t.generation,
            holder: t.holder.clone(),
        }
    }

    /// The fan's tickets with their codes.
    pub async fn my_tickets(&self, user: UserId) -> Result<Vec<IssuedTicket>, TicketError> {
        let tickets = self.repo.tickets_of(user, MAX_TICKETS_LISTED).await?;
        let mut rotating: HashMap<ScheduleId, bool> = HashMap::new();
        let mut out = Vec::with_capacity(tickets.len());
        for t in tickets {
            let required = match rotating.get(&t.schedule_id) {
                Some(r) => *r,
                None => {
                    let r = self.repo.rotating_required(t.schedule_id).await?;
                    rotating.insert(t.schedule_id, r);
                    r
                }
            };
            let code = (t.revoked_at.is_none() && (!required || t.holder.is_some()))
                .then(|| self.signer.sign(self.claims_of(&t)));
            out.push(IssuedTicket {
                rotating: t.holder.is_some(),
                code,
                ticket: t,
            });
        }
        Ok(out)
    }

    /// The gate key's record, when it is known and unrevoked.
    pub async fn gate(&self, key: &str) -> Result<GateKey, TicketError> {
        match self.repo.gate_key(&gate_key_hash(key)).await? {
            Some(k) if k.revoked_at.is_none() => Ok(k),
            _ => Err(TicketError::GateKeyInvalid),
        }
    }

    /// Checks one scan in at the gate key's schedule.
    #[tracing::instrument(skip_all, fields(nonce = %scan.nonce), err(level = "debug"))]
    pub async fn checkin(&self, gate_key: &str, scan: Scan) -> Result<CheckinOutcome, TicketError> {
        check_scan(None, &scan)?;
        let key = self.gate(gate_key).await?;
        let new = self.decide(key.schedule_id, scan, self.clock.now());
        let checkin = self.repo.record_checkin(new).await?;
        let mut out = self.outcomes(vec![checkin]).await?;
        Ok(out.remove(0))
    }

    /// Checks a batch of scans in (uploaded by a device back online), in order, in one
    /// store call (`TicketRepository::record_checkins`); a nonce seen before answers its
    /// stored record.
    pub async fn checkin_batch(
        &self,
        gate_key: &str,
        scans: Vec<Scan>,
    ) -> Result<Vec<CheckinOutcome>, TicketError> {
        if scans.is_empty() || scans.len() > MAX_BATCH {
            return Err(TicketError::Invalid(format!(
                "scans must hold 1 to {MAX_BATCH} scans"
            )));
        }
        for (i, s) in scans.iter().enumerate() {
            check_scan(Some(i), s)?;
        }
        let key = self.gate(gate_key).await?;
        let now = self.clock.now();
        let news = scans
            .into_iter()
            .map(|s| self.decide(key.schedule_id, s, now))
            .collect();
        let checkins = self.repo.record_checkins(news).await?;
        self.outcomes(checkins).await
    }

    /// What the gate's rules say of `scan` at `schedule`, received at `now`. Online the
    /// store is the revocation list: `stored_refusal` reads the ticket.
    fn decide(&self, schedule: ScheduleId, scan: Scan, now: DateTime<Utc>) -> NewCheckin {
        let pre = rules::precheck(
            &scan.code,
            Gate {
                keys: &self.keys,
                schedule,
                now,
                skew: self.policy.clock_skew,
            },
            |_| None,
        );
        let decision = match pre {
            Precheck::Admissible(c) => Decision::Admit {
                ticket: c.ticket,
                generation: c.generation,
            },
            Precheck::Refused {
                result,
                reason,
                claims,
            } => Decision::Refuse {
                result,
                reason,
                ticket: claims.map(|c| c.ticket),
            },
        };
        NewCheckin {
            scan,
            schedule_id: schedule,
            received_at: now,
            decision,
        }
    }

    /// The gate's answers: each check-in, and for an admission what it admits to (the
    /// admitted tickets read in one call).
    async fn outcomes(&self, checkins: Vec<Checkin>) -> Result<Vec<CheckinOutcome>, TicketError> {
        let admitted: Vec<TicketId> = checkins
            .iter()
            .filter(|c| c.result == CheckResult::Admitted)
            .filter_map(|c| c.ticket_id)
            .collect();
        let tickets: HashMap<TicketId, Ticket> = if admitted.is_empty() {
            HashMap::new()
        } else {
            self.repo
                .tickets(&admitted)
                .await?
                .into_iter()
                .map(|t| (t.id, t))
                .collect()
        };
        Ok(checkins
            .into_iter()
            .map(|checkin| {
                let ticket = match (checkin.result, checkin.ticket_id) {
                    (CheckResult::Admitted, Some(id)) => tickets.get(&id).map(|t| AdmittedTo {
                        label: t.label.clone(),
                        category: t.category.clone(),
                    }),
                    _ => None,
                };
                CheckinOutcome { checkin, ticket }
            })
            .collect())
    }

    /// The offline kit of the schedule; with `since` (a previous kit's `generated_at`)
    /// only the revocations changed since then (and a minute before).
    pub async fn gate_kit(
        &self,
        schedule: ScheduleId,
        since: Option<DateTime<Utc>>,
    ) -> Result<GateKit, TicketError> {
        self.schedule(schedule).await?;
        let generated_at = self.clock.now();
        let revocations = self
            .repo
            .revocations(schedule, since.map(|s| s - SYNC_OVERLAP))
            .await?;
        Ok(GateKit {
            schedule_id: schedule,
            generated_at,
            keys: self.keys.public_keys(),
            revocations,
            incremental: since.is_some(),
            clock_skew: self.policy.clock_skew,
        })
    }

    async fn schedule(&self, schedule: ScheduleId) -> Result<(), TicketError> {
        self.catalog
            .get_schedule(schedule)
            .await?
            .map(|_| ())
            .ok_or(TicketError::ScheduleNotFound)
    }

    /// A new gate key of the schedule: the record and the key, shown this once.
    pub async fn issue_gate_key(
        &self,
        schedule: ScheduleId,
        label: &str,
    ) -> Result<(GateKey, String), TicketError> {
        check_name("label", label)?;
        let key = {
            use rand::RngCore;
            let mut b = [0u8; 32];
            rand::rng().fill_bytes(&mut b);
            format!("gk_{}", hex::encode(b))
        };
        let rec = self
            .repo
            .create_gate_key(schedule, label, &gate_key_hash(&key), self.clock.now())
            .await?
            .ok_or(TicketError::ScheduleNotFound)?;
        Ok((rec, key))
    }

    /// The schedule's gate keys (without the keys).
    pub async fn gate_keys(&self, schedule: ScheduleId) -> Result<Vec<GateKey>, TicketError> {
        self.schedule(schedule).await?;
        Ok(self.repo.gate_keys(schedule).await?)
    }

    /// Revokes a gate key: it opens nothing from now on.
    pub async fn revoke_gate_key(&self, schedule: ScheduleId, id: i64) -> Result<(), TicketError> {
        if self
            .repo
            .revoke_gate_key(schedule, id, self.clock.now())
            .await?
        {
            Ok(())
        } else {
            Err(TicketError::NotFound)
        }
    }

    /// Revokes one ticket (a returned ticket): every gate refuses it from its next sync.
    pub async fn revoke_ticket(
        &self,
        id: TicketId,
        reason: &str,
    ) -> Result<Vec<TicketId>, TicketError> {
        check_name("reason", reason)?;
        if self.repo.ticket(id).await?.is_none() {
            return Err(TicketError::NotFound);
        }
        Ok(self
            .repo
            .revoke(RevokeTarget::Ticket(id), reason, self.clock.now())
            .await?)
    }

    /// Revokes every ticket of an order (a cancelled or refunded order).
    pub async fn revoke_order(
        &self,
        order: OrderId,
        reason: &str,
    ) -> Result<Vec<TicketId>, TicketError> {
        check_name("reason", reason)?;
        Ok(self
            .repo
            .revoke(RevokeTarget::Order(order), reason, self.clock.now())
            .await?)
    }

    /// Binds the fan's ticket to a holder key (their device); the previous binding's
    /// codes are revoked. The binding is logged by the store.
    pub async fn bind_holder(
        &self,
        user: UserId,
        ticket: TicketId,
        holder_key: &[u8],
    ) -> Result<IssuedTicket, TicketError> {
        let holder = HolderKey::from_sec1(holder_key)
            .map_err(|e| TicketError::Invalid(format!("public_key: {e}")))?;
        let t = self
            .repo
            .bind_holder(user, ticket, holder, self.clock.now())
            .await?;
        tracing::info!(ticket = %t.id, generation = t.generation, "ticket bound to a new holder key");
        Ok(IssuedTicket {
            code: Some(self.signer.sign(self.claims_of(&t))),
            rotating: true,
            ticket: t,
        })
    }

    /// Sets whether the schedule's tickets must be shown as rotating codes.
    pub async fn set_rotating_required(
        &self,
        schedule: ScheduleId,
        required: bool,
    ) -> Result<(), TicketError> {
        self.schedule(schedule).await?;
        Ok(self.repo.set_rotating_required(schedule, required).await?)
    }

    /// Whether the schedule's tickets must be shown as rotating codes.
    pub async fn rotating_required(&self, schedule: ScheduleId) -> Result<bool, TicketError> {
        self.schedule(schedule).await?;
        Ok(self.repo.rotating_required(schedule).await?)
    }

    /// The console's figures of the schedule's doors.
    pub async fn stats(&self, schedule: ScheduleId) -> Result<CheckinStats, TicketError> {
        self.schedule(schedule).await?;
        Ok(self.repo.checkin_stats(schedule).await?)
    }
}

#[cfg(test)]
mod tests;
