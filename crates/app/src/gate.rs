//! The offline gate: `frontrow gate verify` checks codes against a gate kit (public keys,
//! revocation list, rules) with no network, by the same rules as the service, and keeps
//! every scan in a local store beside the kit (`<kit>.scans.jsonl`, one
//! `POST /api/v1/checkins/batch` scan per line, ready to upload): a ticket this device
//! admitted once is refused the second time. `frontrow gate sync` merges the revocations
//! changed since the kit was made.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use frontrow_domain::model::ScheduleId;
use frontrow_domain::tickets::keys::KeySet;
use frontrow_domain::tickets::model::{CheckResult, FirstScan, TicketId};
use frontrow_domain::tickets::rules::{self, Gate, Precheck};
use serde::Serialize;

use crate::http::ticket_dto::{BatchScanBody, CheckResultView, GateKitView, RevocationView};
use crate::ticketing::from_jwk;

/// A kit read from its file, ready to verify with.
pub struct OfflineGate {
    kit: GateKitView,
    keys: KeySet,
    revoked: HashMap<TicketId, u32>,
    /// Tickets this device admitted, with the first scan.
    admitted: HashMap<TicketId, FirstScan>,
    store: PathBuf,
}

/// One line of `gate verify`'s output.
#[derive(Debug, Serialize)]
pub struct Verdict {
    pub code: String,
    pub result: CheckResultView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_scan_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_gate: Option<String>,
    pub nonce: String,
}

/// The codes of `gate verify`'s arguments, with `-` replaced by the lines of `input`
/// (blank lines skipped).
///
/// # Errors
/// When `input` cannot be read.
pub fn codes_of(args: Vec<String>, input: impl BufRead) -> anyhow::Result<Vec<String>> {
    if !args.iter().any(|a| a == "-") {
        return Ok(args);
    }
    let lines: Vec<String> = input
        .lines()
        .collect::<Result<_, _>>()
        .context("cannot read codes from standard input")?;
    let mut out = Vec::with_capacity(args.len() + lines.len());
    let mut lines = Some(lines);
    for a in args {
        if a == "-" {
            out.extend(
                lines
                    .take()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|l| !l.trim().is_empty()),
            );
        } else {
            out.push(a);
        }
    }
    Ok(out)
}

/// The local store of a kit file.
pub fn store_path(kit: &Path) -> PathBuf {
    let mut p = kit.as_os_str().to_owned();
    p.push(".scans.jsonl");
    PathBuf::from(p)
}

fn read_kit(path: &Path) -> anyhow::Result<GateKitView> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the gate kit {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a gate kit (GET …/gate-kit)", path.display()))
}

impl OfflineGate {
    /// The kit at `path` and the scans of its local store.
    ///
    /// # Errors
    /// When the kit cannot be read or parsed, or the store is corrupt.
    pub fn open(path: &Path) -> anyhow::Result<OfflineGate> {
        let kit = read_kit(path)?;
        let public: Vec<_> = kit.keys.iter().filter_map(from_jwk).collect();
        if public.is_empty() {
            anyhow::bail!("the gate kit {} holds no usable key", path.display());
        }
        let keys = KeySet::new(&public);
        let revoked = kit
            .revocations
            .iter()
            .map(|r| (TicketId(r.ticket_id), r.through))
            .collect();
        let mut gate = OfflineGate {
            kit,
            keys,
            revoked,
            admitted: HashMap::new(),
            store: store_path(path),
        };
        if let Ok(f) = std::fs::File::open(&gate.store) {
            for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
                let line = line.context("cannot read the scan store")?;
                let scan: BatchScanBody = serde_json::from_str(&line).with_context(|| {
                    format!("{} line {} is corrupt", gate.store.display(), i + 1)
                })?;
                if scan.offline_result == Some(CheckResultView::Admitted)
                    && let Ok(c) = frontrow_domain::tickets::code::parse(&scan.code)
                {
                    gate.admitted
                        .entry(c.inner().claims.ticket)
                        .or_insert(FirstScan {
                            at: scan.scanned_at,
                            gate: scan.gate,
                        });
                }
            }
        }
        Ok(gate)
    }

    /// Verifies `codes` at `now` as scans of `device` at `gate`, appending each to the
    /// local store; one verdict per code, in order.
    ///
    /// # Errors
    /// When the store cannot be written.
    pub fn verify(
        &mut self,
        codes: &[String],
        gate: &str,
        device: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<Verdict>> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.store)
            .with_context(|| format!("cannot write the scan store {}", self.store.display()))?;
        let mut out = std::io::BufWriter::new(file);
        let mut verdicts = Vec::with_capacity(codes.len());
        let g = Gate {
            keys: &self.keys,
            schedule: ScheduleId(self.kit.schedule_id),
            now,
            skew: Duration::seconds(self.kit.rules.clock_skew_seconds),
        };
        // The issuer's signatures of all codes are checked together (batch verification);
        // redemption then goes code by code, in order.
        let prechecks = rules::precheck_many(codes, g, |t| self.revoked.get(&t).copied());
        for (code, pre) in codes.iter().zip(prechecks) {
            let ticket = pre.claims().map(|c| c.ticket);
            let (result, reason, first) = match pre {
                Precheck::Admissible(c) => {
                    let first = self.admitted.get(&c.ticket).cloned();
                    let r = rules::redeem(first.as_ref());
                    if r == CheckResult::Admitted {
                        self.admitted.insert(
                            c.ticket,
                            FirstScan {
                                at: now,
                                gate: gate.to_owned(),
                            },
                        );
                    }
                    (r, None, first)
                }
                Precheck::Refused { result, reason, .. } => (result, reason, None),
            };
            let nonce = uuid::Uuid::new_v4().to_string();
            let scan = BatchScanBody {
                code: code.clone(),
                gate: gate.to_owned(),
                device: device.to_owned(),
                nonce: nonce.clone(),
                scanned_at: now,
                offline_result: Some(result.into()),
            };
            serde_json::to_writer(&mut out, &scan)?;
            out.write_all(b"\n")?;
            verdicts.push(Verdict {
                code: code.clone(),
                result: result.into(),
                reason: reason.map(|r| r.as_str()),
                ticket_id: ticket.map(|t| t.0),
                first_scan_at: first.as_ref().map(|f| f.at),
                first_gate: first.map(|f| f.gate),
                nonce,
            });
        }
        out.flush()
            .with_context(|| format!("cannot write the scan store {}", self.store.display()))?;
        Ok(verdicts)
    }
}

/// Merges an incremental kit into a full one: newer keys, every revocation (the
/// broader entry of a ticket wins), the newer `generated_at`.
pub fn merge(mut full: GateKitView, update: GateKitView) -> GateKitView {
    let mut by_ticket: HashMap<i64, RevocationView> = full
        .revocations
        .drain(..)
        .map(|r| (r.ticket_id, r))
        .collect();
    for r in update.revocations {
        match by_ticket.get(&r.ticket_id) {
            Some(old) if old.through >= r.through => {}
            _ => {
                by_ticket.insert(r.ticket_id, r);
            }
        }
    }
    let mut revocations: Vec<RevocationView> = by_ticket.into_values().collect();
    revocations.sort_by_key(|r| r.ticket_id);
    GateKitView {
        schedule_id: full.schedule_id,
        generated_at: update.generated_at.max(full.generated_at),
        incremental: false,
        keys: update.keys,
        revocations,
        rules: update.rules,
    }
}

/// Fetches what changed since the kit at `path` was made and merges it in place.
///
/// # Errors
/// When the kit cannot be read or written or the service refuses.
pub async fn sync(path: &Path, base_url: &str, gate_key: &str) -> anyhow::Result<usize> {
    let full = read_kit(path)?;
    let url = format!(
        "{}/api/v1/schedules/{}/gate-kit",
        base_url.trim_end_matches('/'),
        full.schedule_id
    );
    let res = reqwest::Client::new()
        .get(&url)
        .query(&[("since", full.generated_at.to_rfc3339())])
        .header("X-Gate-Key", gate_key)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    if !res.status().is_success() {
        anyhow::bail!("{url} answered {}", res.status());
    }
    let update: GateKitView = res.json().await.context("the kit answer is not a kit")?;
    let changed = update.revocations.len();
    let merged = merge(full, update);
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&merged)?)?;
    std::fs::rename(&tmp, path)?;
    Ok(changed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::http::ticket_dto::KitRulesView;

    fn kit(at: i64, revs: &[(i64, u32)]) -> GateKitView {
        GateKitView {
            schedule_id: 1,
            generated_at: DateTime::from_timestamp(at, 0).unwrap(),
            incremental: false,
            keys: vec![],
            revocations: revs
                .iter()
                .map(|(t, through)| RevocationView {
                    ticket_id: *t,
                    through: *through,
                    reason: "r".into(),
                    revoked_at: DateTime::from_timestamp(at, 0).unwrap(),
                })
                .collect(),
            rules: KitRulesView {
                window_seconds: 15,
                window_steps: 1,
                clock_skew_seconds: 0,
            },
        }
    }

    #[test]
    fn a_dash_reads_the_codes_of_standard_input_once() {
        let input = std::io::Cursor::new("c1\n\n  \nc2\n");
        let got = codes_of(vec!["a".into(), "-".into(), "b".into(), "-".into()], input).unwrap();
        assert_eq!(got, vec!["a", "c1", "c2", "b"]);
        let untouched = codes_of(vec!["x".into()], std::io::Cursor::new("c1\n")).unwrap();
        assert_eq!(untouched, vec!["x"]);
    }

    #[test]
    fn merging_keeps_every_revocation_and_the_broader_entry() {
        let m = merge(
            kit(10, &[(1, 0), (2, u32::MAX)]),
            kit(20, &[(1, u32::MAX), (2, 3), (3, 0)]),
        );
        let got: Vec<(i64, u32)> = m
            .revocations
            .iter()
            .map(|r| (r.ticket_id, r.through))
            .collect();
        assert_eq!(got, vec![(1, u32::MAX), (2, u32::MAX), (3, 0)]);
        assert_eq!(m.generated_at.timestamp(), 20);
    }
}
