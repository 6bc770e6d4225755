#!/usr/bin/env bash
# The offline gate's verification rate per core, with its same-run floor: the release
# build of loadtest/crowd's `gate_offline` checks N codes (1 % of the tickets on the
# revocation list) on one thread with the domain's rules — all at once with batch
# verification, as `frontrow gate verify` does, and one by one — beside the bare Ed25519
# verify_strict of the same codes, one by one (the floor of one-by-one checking). Three
# runs for each share of mutated codes (default: none, 1 %, 10 %); writes
# loadtest/results/gate-<timestamp>.md (and .jsonl) and prints the report.
#
#   loadtest/gate.sh [codes] [mutated ‰ ...]      default 60000 (a stadium's tickets) 0 10 100
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${1:-60000}
shift || true
MIXES=("$@")
[ ${#MIXES[@]} -gt 0 ] || MIXES=(0 10 100)
cd "$ROOT"
cargo build --quiet --release -p frontrow-crowd --bin gate_offline
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/gate_offline"
TS=$(date -u +%Y%m%dT%H%M%SZ)
OUT="$ROOT/loadtest/results/gate-$TS"
mkdir -p "$ROOT/loadtest/results"
: >"$OUT.jsonl"
LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
for mix in "${MIXES[@]}"; do
  for _ in 1 2 3; do "$BIN" "$N" "$mix" | tee -a "$OUT.jsonl"; done
done
python3 - "$OUT.jsonl" "$OUT.md" "$TS" "$N" "$LOAD_BEFORE" "$(git rev-parse HEAD)" <<'PY'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
load = os.getloadavg()[0]
cores = os.cpu_count()
target = 10_000
with open(sys.argv[2], "w") as f:
    f.write(f"# Offline gate verification, {sys.argv[3]}\n\n")
    f.write(f"- commit: `{sys.argv[6]}`; command: `loadtest/gate.sh {sys.argv[4]}`\n")
    f.write(f"- {sys.argv[4]} codes of {rows[0]['code_chars']} characters per run, one thread, three runs per mix "
            f"(median); 1 % of the tickets on the revocation list\n")
    f.write(f"- machine: {cores} cores shared with other work, load average {sys.argv[5]} before and "
            f"{load:.1f} at the end of the run\n")
    f.write("- *at once*: `rules::precheck_many` (signatures in batches, as `frontrow gate verify`); "
            "*one by one*: `rules::precheck`; *floor*: bare `verify_strict`, one by one, in the same run\n\n")
    f.write("| mutated | run | at once codes/s | one by one codes/s | floor verify_strict/s | at once / floor | admitted (expected) |\n"
            "|---|---|---|---|---|---|---|\n")
    mixes = sorted({r["mutated_per_mille"] for r in rows})
    summary = []
    for m in mixes:
        rs = [r for r in rows if r["mutated_per_mille"] == m]
        for i, r in enumerate(rs, 1):
            f.write(f"| {m / 10:g} % | {i} | {r['gate_codes_per_s']:.0f} | {r['gate_single_codes_per_s']:.0f} | "
                    f"{r['floor_verify_strict_per_s']:.0f} | {r['gate_vs_floor']} | {r['gate_admitted']} ({r['gate_admitted_expected']}) |\n")
        med = lambda k: sorted(r[k] for r in rs)[len(rs) // 2]
        summary.append((m, med("gate_codes_per_s"), med("gate_single_codes_per_s"), med("floor_verify_strict_per_s")))
    f.write("\n| mutated | median at once codes/s | median one by one codes/s | median floor/s | target ≥ 10,000 codes/s per core |\n|---|---|---|---|---|\n")
    for m, b, s, fl in summary:
        f.write(f"| {m / 10:g} % | {b:.0f} | {s:.0f} | {fl:.0f} | {'met' if b >= target else 'missed'} |\n")
    f.write("\nEvery run admitted exactly the expected codes both ways (the binary exits non-zero otherwise).")
    if load > cores:
        f.write(" The cores were shared: the load average was above the core count.")
    f.write("\n")
print(open(sys.argv[2]).read())
PY
