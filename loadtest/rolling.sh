#!/usr/bin/env bash
# A rolling restart during a sale, measured with the crowd simulator: three instances on
# one Redis and one PostgreSQL; a crowd enters the line and polls across all three
# (requests spread as an edge proxy spreads them, and moved to another instance when one
# refuses or cuts a connection: the simulator's --failover); meanwhile one instance after
# another is stopped gracefully (SIGTERM: it finishes the calls it has) and started again
# on its port. The crowd's verdict covers every promise of the line (no place lost,
# nobody overtaken, no 5xx, every fan placed, positions right at the end); the report adds
# each restart's times (SIGTERM → exited → its /readyz answers again) and how many
# requests had to move.
#
# usage: loadtest/rolling.sh [--fans 20000] [--rate 400] [--duration 60] [--debug]
# Writes loadtest/results/<UTC>-rolling.md and -rolling.json (the crowd's report).
# Exits non-zero when the crowd's verdict failed or an instance did not come back.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
FANS=20000; RATE=400; DURATION=60; PROFILE=release
CMDLINE="loadtest/rolling.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --fans) FANS=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --debug) PROFILE=debug; shift ;;
    *) echo "rolling.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
log() { echo "[rolling.sh $(date +%T)] $*" >&2; }
# shellcheck source=loadtest/provenance.sh
source "$HERE/provenance.sh"
# shellcheck source=scripts/services.sh
source scripts/services.sh
services_up redis postgres
if [ -z "${FRONTROW_PREBUILT:-}" ]; then
  log "building $PROFILE binaries"
  if [ "$PROFILE" = release ]; then
    cargo build -q --release -p frontrow-app -p frontrow-crowd
  else
    cargo build -q -p frontrow-app -p frontrow-crowd
  fi
fi
BIN="$CARGO_TARGET_DIR/$PROFILE/frontrow"
CROWD="$CARGO_TARGET_DIR/$PROFILE/frontrow-crowd"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$HERE/results"
OUT="$HERE/results/$STAMP-rolling"
WORK=$(mktemp -d /tmp/frontrow-rolling.XXXXXX)
PIDS=(); PORTS=()
cleanup() {
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill "$p" 2>/dev/null || true; done
  services_down || true
  rm -rf "$WORK"
}
trap cleanup EXIT
now_ms() { date +%s%3N; }

DB="rolling_$(date +%s%N)"
psql -q "$FRONTROW_TEST_POSTGRES_URL/postgres" -c "CREATE DATABASE $DB" >/dev/null
ADMIN_KEY="rolling-admin-$(date +%s)"
JWT_SECRET="rolling-jwt-secret-$(date +%s)-0123456789"
PREFIX="rolling$(date +%s%N):"
IDLE_S=60

# start N: instance N on PORTS[N] (a free port the first time), its pid in PIDS[N].
start() {
  local n=$1
  [ -n "${PORTS[$n]:-}" ] || PORTS[n]=$(free_port)
  env RUST_LOG=warn \
    FRONTROW__HTTP__BIND="127.0.0.1:${PORTS[$n]}" \
    FRONTROW__DATABASE__URL="$FRONTROW_TEST_POSTGRES_URL/$DB" \
    FRONTROW__REDIS__URL="$FRONTROW_TEST_REDIS_URL" \
    FRONTROW__REDIS__KEY_PREFIX="$PREFIX" \
    FRONTROW__AUTH__ADMIN_KEY="$ADMIN_KEY" \
    FRONTROW__AUTH__JWT_SECRET="$JWT_SECRET" \
    FRONTROW__LIMITS__ENABLED=false \
    FRONTROW__QUEUE__IDLE_TIMEOUT_SECONDS="$IDLE_S" \
    FRONTROW__HTTP__SHUTDOWN_TIMEOUT_SECONDS=10 \
    "$BIN" serve >>"$WORK/instance$n.log" 2>&1 &
  PIDS[n]=$!
}
# ready N: waits (at most 60 s) until instance N answers /readyz.
ready() {
  for _ in $(seq 1 600); do
    curl -fsS "http://127.0.0.1:${PORTS[$1]}/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}
for n in 0 1 2; do start "$n"; done
for n in 0 1 2; do ready "$n" || { log "instance $n did not start"; tail -n 30 "$WORK/instance$n.log" >&2; exit 1; }; done
BASE="http://127.0.0.1:${PORTS[0]}"
STARTS=$(date -u -d '+30 days' +%Y-%m-%dT%H:%M:%SZ)
CONCERT=$(curl -fsS -X POST -H "X-Admin-Key: $ADMIN_KEY" -H 'Content-Type: application/json' \
  -d "{\"title\":\"Rolling restart\",\"venue\":\"Loadtest Arena\",\"schedules\":[{\"starts_at\":\"$STARTS\",\"rows\":10,\"seats_per_row\":100,\"price\":100}]}" \
  "$BASE/api/v1/admin/concerts" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
TARGETS="$BASE,http://127.0.0.1:${PORTS[1]},http://127.0.0.1:${PORTS[2]}"
log "$FANS fans at $RATE/s over three instances ($TARGETS), concert $CONCERT"
"$CROWD" --fans "$FANS" --arrival-rate "$RATE" --concert "$CONCERT" --targets "$TARGETS" \
  --failover --overtake-grace-ms 500 --connections 96 \
  --policy "1000,100,600" --poll-ms 1000 --duration-s "$DURATION" \
  --leave-share 0.05 --idle-share 0.05 --churn-window-ms 10000 \
  --idle-drop-s $(( IDLE_S + IDLE_S / 2 + 2 )) --idle-timeout-s "$IDLE_S" \
  --jwt-secret "$JWT_SECRET" --admin-key "$ADMIN_KEY" --redis "$FRONTROW_TEST_REDIS_URL" \
  --progress-s 10 --out "$OUT.json" >"$WORK/crowd.md" 2>"$WORK/crowd.err" &
CROWD_PID=$!

# One instance after another, a quarter of the run apart, the first after a quarter.
RESTARTS=()
STEP=$(( DURATION / 4 ))
come_back=0
for n in 0 1 2; do
  sleep "$STEP"
  t0=$(now_ms)
  kill -TERM "${PIDS[$n]}"
  wait "${PIDS[$n]}" 2>/dev/null || true
  t1=$(now_ms)
  start "$n"
  if ready "$n"; then
    t2=$(now_ms)
    RESTARTS+=("| $((n + 1)) | $((t1 - t0)) | $((t2 - t1)) | $((t2 - t0)) |")
    log "instance $((n + 1)): stopped in $((t1 - t0)) ms, ready again $((t2 - t1)) ms later"
  else
    RESTARTS+=("| $((n + 1)) | $((t1 - t0)) | did not come back | – |")
    come_back=1
  fi
done
crowd_rc=0
wait "$CROWD_PID" || crowd_rc=$?
tail -n 5 "$WORK/crowd.err" >&2

{
  echo "# Rolling restart during a sale"
  echo
  provenance_md "$CMDLINE"
  echo "- build: $PROFILE; three instances on one Redis and one PostgreSQL (services.sh),"
  echo "  \`http.shutdown_timeout_seconds\` = 10, \`queue.idle_timeout_seconds\` = $IDLE_S"
  echo "- crowd: $FANS fans arriving at $RATE/s over the three instances for ${DURATION} s of"
  echo "  churn (5 % leave, 5 % go idle), policy 1,000 active at 100/s for 600 s; a request"
  echo "  refused or cut by an instance moves to the next (\`--failover\`, as an edge proxy"
  echo "  retries on another upstream); WAITING after a later fan's ACTIVE counts as an"
  echo "  overtake when sent 500 ms after it"
  echo "- restarts: one instance after another every $STEP s: SIGTERM, wait for it to exit,"
  echo "  start it again on its port, wait for \`/readyz\`"
  echo
  echo "| instance | SIGTERM → exited (ms) | start → ready (ms) | down in all (ms) |"
  echo "| --- | --: | --: | --: |"
  printf '%s\n' "${RESTARTS[@]}"
  echo
  echo "Crowd simulator exit status: $crowd_rc (0: every invariant held)."
  echo
  echo "## The crowd's report"
  echo
  cat "$WORK/crowd.md"
} >"$OUT.md"
log "report: $OUT.md"
[ "$crowd_rc" = 0 ] && [ "$come_back" = 0 ]
