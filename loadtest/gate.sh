#!/usr/bin/env bash
# The offline gate's verification rate per core, with its same-run floor: the release
# build of loadtest/crowd's `gate_offline` checks N codes (every tenth mutated, 1 % of
# the tickets on the revocation list) on one thread with the domain's rules, and the bare
# Ed25519 verify_strict of the same codes. Three runs; writes
# loadtest/results/gate-<timestamp>.md (and .jsonl) and prints the report.
#
#   loadtest/gate.sh [codes]      default 60000 (a stadium's tickets)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${1:-60000}
cd "$ROOT"
cargo build --quiet --release -p frontrow-crowd --bin gate_offline
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/gate_offline"
TS=$(date -u +%Y%m%dT%H%M%SZ)
OUT="$ROOT/loadtest/results/gate-$TS"
mkdir -p "$ROOT/loadtest/results"
: >"$OUT.jsonl"
for _ in 1 2 3; do "$BIN" "$N" | tee -a "$OUT.jsonl"; done
python3 - "$OUT.jsonl" "$OUT.md" "$TS" "$N" <<'PY'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
load = os.getloadavg()[0]
cores = os.cpu_count()
med = lambda k: sorted(r[k] for r in rows)[len(rows) // 2]
with open(sys.argv[2], "w") as f:
    f.write(f"# Offline gate verification, {sys.argv[3]}\n\n")
    f.write(f"{sys.argv[4]} codes of {rows[0]['code_chars']} characters, one thread, three runs "
            f"(median). Machine: {cores} cores, load average {load:.1f} at the end of the run.\n\n")
    f.write("| run | gate codes/s | floor verify_strict/s | gate / floor | admitted (expected) |\n|---|---|---|---|---|\n")
    for i, r in enumerate(rows, 1):
        f.write(f"| {i} | {r['gate_codes_per_s']:.0f} | {r['floor_verify_strict_per_s']:.0f} | "
                f"{r['gate_vs_floor']} | {r['gate_admitted']} ({r['gate_admitted_expected']}) |\n")
    target = 10_000
    got = med("gate_codes_per_s")
    f.write(f"\nMedian: {got:.0f} codes/s per thread against a floor of {med('floor_verify_strict_per_s'):.0f} "
            f"signature checks/s in the same run. Target ≥ {target} codes/s per core: "
            f"{'met' if got >= target else 'missed'} on this machine"
            f"{' (the core was shared: load average above the core count)' if load > cores else ''}.\n")
print(open(sys.argv[2]).read())
PY
