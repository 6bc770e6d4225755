#!/usr/bin/env bash
# The gate benchmark at a stadium's doors (see loadtest/crowd/src/bin/gate_online.rs):
# 60,000 standing tickets sold through the API, then checked in through 40 gates with
# arrivals over 15 simulated minutes played 10 times faster (open model), 4 of the gates
# offline devices whose scans are uploaded in batches at once after it, with duplicates
# to catch; same-run baseline: GET /healthz on the same arrival curve. One release
# instance, in-memory queue, rate limits off, on PostgreSQL (default) or SQLite. Writes
# loadtest/results/<UTC>-gate-online.{json,md} (commit, machine, load, command) and exits
# non-zero when a check failed (a missed speed target is marked, the report kept).
#
# usage: loadtest/gate_online.sh [--db postgres|sqlite] [gate_online options…]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
DB=postgres
CMDLINE="loadtest/gate_online.sh $*"
if [ "${1:-}" = "--db" ]; then DB=$2; shift 2; fi
log() { echo "[gate_online.sh $(date +%T)] $*" >&2; }

log "building release binaries"
# GATE_ONLINE_NO_BUILD=1 runs the release binaries already built.
[ "${GATE_ONLINE_NO_BUILD:-}" = 1 ] || cargo build -q --release -p frontrow-app -p frontrow-crowd --bin frontrow --bin gate_online
BIN="$CARGO_TARGET_DIR/release/frontrow"
GATE="$CARGO_TARGET_DIR/release/gate_online"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT="$HERE/results/$STAMP-gate-online"
WORK=$(mktemp -d /tmp/frontrow-gate-online.XXXXXX)
SERVER_PID=""
STARTED_SERVICES=0
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  [ "$STARTED_SERVICES" = 1 ] && services_down || true
  rm -rf "$WORK"
}
case "$DB" in
  postgres)
    # shellcheck source=scripts/services.sh
    source scripts/services.sh
    services_up postgres
    STARTED_SERVICES=1
    name="gate_$(date +%s%N)"
    psql -q "$FRONTROW_TEST_POSTGRES_URL/postgres" -c "CREATE DATABASE $name" >/dev/null
    URL="$FRONTROW_TEST_POSTGRES_URL/$name" ;;
  sqlite) URL="sqlite://$WORK/gate.db?mode=rwc" ;;
  *) echo "gate_online.sh: unknown database $DB" >&2; exit 2 ;;
esac
# After services_up, which sets its own trap.
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
ADMIN_KEY="gate-admin-$(date +%s)"
env RUST_LOG=warn \
  FRONTROW__HTTP__BIND="127.0.0.1:$PORT" \
  FRONTROW__DATABASE__URL="$URL" \
  FRONTROW__DATABASE__MAX_CONNECTIONS=32 \
  FRONTROW__AUTH__ADMIN_KEY="$ADMIN_KEY" \
  FRONTROW__AUTH__JWT_SECRET="gate-online-jwt-secret-0123456789" \
  FRONTROW__LIMITS__ENABLED=false \
  FRONTROW__BOOKING__MAX_TICKETS_PER_ORDER=100 \
  FRONTROW__BOOKING__MAX_TICKETS_PER_FAN=100 \
  FRONTROW__BOOKING__HOLD_TTL_SECONDS=600 \
  FRONTROW__QUEUE__TICK_INTERVAL_MS=50 \
  FRONTROW__HTTP__CLIENT_REQUEST_TIMEOUT_MS=60000 \
  "$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 300); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
rc=0
"$GATE" --base "http://127.0.0.1:$PORT" --admin-key "$ADMIN_KEY" --out "$WORK/run.json" "$@" >/dev/null || rc=1
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
[ -f "$WORK/run.json" ] || { tail -30 "$WORK/server.log" >&2; exit 1; }

python3 - "$WORK/run.json" "$OUT" "$CMDLINE" "$DB" "$LOAD_BEFORE" "$LOAD_AFTER" <<'PY'
import json, os, subprocess, sys, datetime
run_file, out, cmd, db, load_before, load_after = sys.argv[1:7]
r = json.load(open(run_file))
commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "?")
doc = {"commit": commit, "dirty": bool(dirty), "cores": os.cpu_count(), "mem_kib": mem, "command": cmd,
       "database": db, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
       "load_before": load_before, "load_after": load_after, "run": r}
json.dump(doc, open(out + ".json", "w"), indent=2)
on, hz, up = r["online"], r["healthz"], r["offline_upload"]
answers = ", ".join(f"{k}: {v:,}" for k, v in sorted(on["answers"].items()))
L = [f"# Gate benchmark {os.path.basename(out)}", "",
     f"- commit: `{commit}`{' (with uncommitted changes)' if dirty else ''}",
     f"- machine: {os.cpu_count()} cores, {int(mem)//1024} MiB, shared by the client, the server, the database and other work; "
     f"load average (1/5/15 min) {load_before} before, {load_after} after",
     f"- command: `{cmd}`; date: {doc['date']}",
     f"- one release instance on {db}, in-memory queue, rate limits off, pool of 32 connections",
     f"- {r['tickets']:,} standing tickets, {r['gates']} gates ({r['online_gates']} online, {r['offline_gates']} offline devices); "
     f"arrivals over {r['simulated_minutes']:g} simulated minutes played {r['speedup']:g}× faster "
     f"(compressed into {r['real_seconds_of_arrivals']:.0f} s), triangular curve peaking at 60 %, open model, "
     f"at most {r['max_in_flight']} requests in flight",
     "", "| | check-ins online (`POST /checkins`) | baseline `GET /healthz`, same curve |", "|---|---|---|",
     f"| requests | {on['requests']:,} | {hz['requests']:,} |",
     f"| per second (mean over the run) | {on['per_s']:,.0f} | {hz['per_s']:,.0f} |",
     f"| p50 / p99 (ms) | {on['p50_ms']:.2f} / {on['p99_ms']:.2f} | {hz['p50_ms']:.2f} / {hz['p99_ms']:.2f} |",
     f"| max (ms) | {on['max_ms']:.1f} | {hz['max_ms']:.1f} |",
     f"| failed requests | {on['failures']} | {hz['failures']} |",
     f"| latest start behind schedule (ms) | {on['max_start_lag_ms']} | {hz['max_start_lag_ms']} |",
     "", f"Online answers: {answers}.", "",
     f"Offline devices: {up['scans']:,} scans in {up['batches']} batches of up to 500 uploaded at once: "
     f"{up['seconds']:.2f} s, {up['scans_per_s']:,.0f} scans/s, batch p50 / p99 {up['batch_p50_ms']:.0f} / {up['batch_p99_ms']:.0f} ms; "
     f"recorded {up['recorded']:,}; duplicates caught {up['duplicates_caught']} of {up['duplicates_sent']} sent; "
     f"the first batch sent again recorded {up['again_recorded']}.", "",
     f"The service's figures after the run: {r['service_figures']['admitted']:,} of {r['service_figures']['tickets']:,} tickets admitted, "
     f"{r['service_figures']['not_scanned']} not scanned, {r['service_figures']['duplicates_listed']} duplicates listed.", "",
     "| check | |", "|---|---|"]
for k, v in r["checks"].items():
    L.append(f"| {k.replace('_', ' ')} | {'yes' if v else '**no**'} |")
L.append(f"| target: online p99 ≤ 50 ms | {'met' if r['targets']['online_p99_le_50_ms'] else '**missed**'} |")
open(out + ".md", "w").write("\n".join(L) + "\n")
print("\n".join(L))
PY
log "report: $OUT.md"
exit $rc
