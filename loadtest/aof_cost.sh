#!/usr/bin/env bash
# What Redis persistence costs a busy line: the line's busiest write (fans entering, through
# the real enter script, 256 in flight from one client process: the `line_costs` example of
# crates/redis with `enter-only`) against a throwaway Redis with `appendonly no`,
# `appendonly yes` + `appendfsync everysec`, and `appendonly yes` + `appendfsync always`,
# each on its own data directory on this machine's disk, the three in turn, ROUNDS times
# (so a slow moment of the machine falls on every setting alike). Writes
# loadtest/results/<UTC>-aof-cost.md, headed by its commit, machine, command and date:
# enters/s and Redis time per enter of every run, and each setting's median enters/s as a
# share of `appendonly no`'s in the same rounds.
# Usage: loadtest/aof_cost.sh [fans per run, default 200000] [rounds, default 3]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FANS=${1:-200000}
ROUNDS=${2:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
source "$ROOT/loadtest/provenance.sh"
cd "$ROOT"
cargo build --release -q -p frontrow-redis --example line_costs
EXAMPLE="$CARGO_TARGET_DIR/release/examples/line_costs"
WORK=$(mktemp -d "$ROOT/target/aof-cost.XXXXXX")
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
SETTINGS=("no" "everysec" "always")
ROWS="$WORK/rows.tsv"
: >"$ROWS"
for round in $(seq 1 "$ROUNDS"); do
  for mode in "${SETTINGS[@]}"; do
    port=$(free_port)
    dir="$WORK/$mode-$round"; mkdir -p "$dir"
    if [ "$mode" = no ]; then aof=(--appendonly no); else aof=(--appendonly yes --appendfsync "$mode"); fi
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' "${aof[@]}" \
      --daemonize no --logfile "$dir/redis.log" &
    PID=$!
    for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
    out=$("$EXAMPLE" "redis://127.0.0.1:$port" "$FANS" enter-only)
    rate=$(echo "$out" | awk -F'|' '/enters\/s/ {gsub(/ /, "", $3); print $3}')
    usec=$(echo "$out" | awk -F'|' '/Redis time per enter/ {gsub(/ |µs/, "", $3); print $3}')
    bytes=$(du -sb "$dir" | cut -f1)
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
    printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$mode" "$rate" "$usec" "$bytes" >>"$ROWS"
    echo "aof_cost: round $round, appendfsync $mode: $rate enters/s, $usec µs per enter" >&2
  done
done
OUT="$ROOT/loadtest/results/$(date -u +%Y%m%dT%H%M%SZ)-aof-cost.md"
{
  echo "# What Redis persistence costs a busy line"
  echo
  provenance_md "loadtest/aof_cost.sh $*"
  echo "- Redis: $(redis-server --version | cut -d' ' -f3), data directory on $(df --output=source,fstype "$WORK" | tail -1 | tr -s ' ')"
  echo "- each run: a fresh Redis, $FANS fans entering one paused line through the enter script, 256 in flight from one client process (crates/redis/examples/line_costs.rs, \`enter-only\`); the three settings in turn, $ROUNDS rounds"
  echo
  python3 - "$ROWS" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
label = {"no": "appendonly no", "everysec": "appendonly yes, appendfsync everysec",
         "always": "appendonly yes, appendfsync always"}
print("| round | setting | enters/s | Redis time per enter (µs) | data directory after (bytes) |")
print("|---|---|---|---|---|")
for r, mode, rate, usec, size in rows:
    print(f"| {r} | {label[mode]} | {float(rate):,.0f} | {usec} | {int(size):,} |")
med = {m: statistics.median(float(r[2]) for r in rows if r[1] == m) for m in label}
print()
print("| setting | median enters/s | share of `appendonly no` (same rounds) |")
print("|---|---|---|")
for m in label:
    print(f"| {label[m]} | {med[m]:,.0f} | {med[m] / med['no']:.3f} |")
PY
} >"$OUT"
echo "aof_cost: report $OUT" >&2
