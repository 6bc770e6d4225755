//! Where a report comes from: the commit, the machine, the command line and the date,
//! written at the head of every report so a figure can be tied to the code it measured
//! and rerun.

use std::process::Command;

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Provenance {
    /// `git rev-parse HEAD` of the working tree the simulator runs in, `-dirty` when it
    /// has uncommitted changes (`$FRONTROW_COMMIT` when set, e.g. outside a checkout).
    pub commit: String,
    pub cores: usize,
    pub cpu: String,
    pub memory_kib: u64,
    pub command: String,
    pub date: String,
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn proc_field(file: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
}

impl Provenance {
    pub fn here() -> Provenance {
        let commit = std::env::var("FRONTROW_COMMIT")
            .ok()
            .filter(|c| !c.is_empty())
            .or_else(|| {
                let head = git(&["rev-parse", "HEAD"])?;
                let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                    .is_some_and(|s| !s.is_empty());
                Some(if dirty { format!("{head}-dirty") } else { head })
            })
            .unwrap_or_else(|| "unknown".into());
        let command = std::env::args()
            .map(|a| {
                if a.contains(' ') || a.is_empty() {
                    format!("'{a}'")
                } else {
                    a
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        Provenance {
            commit,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu: proc_field("/proc/cpuinfo", "model name").unwrap_or_else(|| "?".into()),
            memory_kib: proc_field("/proc/meminfo", "MemTotal")
                .and_then(|v| v.trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0),
            command,
            date: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        }
    }

    /// The report's head, as Markdown list items.
    pub fn markdown(&self) -> String {
        format!(
            "- commit: {}\n- machine: {} cores ({}), {:.1} GiB RAM\n- command: `{}`\n- date: {}\n",
            self.commit,
            self.cores,
            self.cpu,
            self.memory_kib as f64 / 1_048_576.0,
            self.command,
            self.date
        )
    }
}
