#!/usr/bin/env bash
# Profiles the server under wrk on GET /api/v1/queue/status (the main figure): perf samples
# of the frontrow process, plus each process's CPU share. Needs a built release binary
# (loadtest/run.sh builds it), and the server CPU per answer.
# Usage: [FAN=waiting|admitted] loadtest/profile_status.sh [seconds]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECS=${1:-8}
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/frontrow
source "$ROOT/loadtest/provenance.sh"
# The head of the output (it is the report): commit, machine, command line, date.
provenance_md "loadtest/profile_status.sh $*"
source "$ROOT/scripts/services.sh"
services_up redis
set -euo pipefail
W=$(mktemp -d); PORT=$(free_port); KEY=profile-admin-key-0123456789
RUST_LOG=warn FRONTROW__HTTP__BIND=127.0.0.1:$PORT FRONTROW__DATABASE__URL="sqlite://$W/db?mode=rwc" \
  FRONTROW__REDIS__URL=$FRONTROW_TEST_REDIS_URL FRONTROW__AUTH__ADMIN_KEY=$KEY \
  FRONTROW__AUTH__JWT_SECRET=profile-jwt-secret-0123456789 FRONTROW__LIMITS__ENABLED=false "$BIN" serve >"$W/log" 2>&1 &
SP=$!
trap 'kill $SP 2>/dev/null; wait $SP 2>/dev/null; services_down; rm -rf "$W"' EXIT
for _ in $(seq 100); do curl -fs 127.0.0.1:$PORT/readyz >/dev/null && break; sleep 0.1; done
B=http://127.0.0.1:$PORT/api/v1
C=$(curl -fsS -H "X-Admin-Key: $KEY" -H 'Content-Type: application/json' \
  -d '{"title":"p","venue":"v","schedules":[{"starts_at":"2030-01-01T00:00:00Z","rows":1,"seats_per_row":1,"price":1}]}' \
  $B/admin/concerts | python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])')
user_token() { curl -fsS -H 'Content-Type: application/json' -d "{\"name\":\"$1\",\"email\":\"$1-$RANDOM$RANDOM@load.test\",\"password\":\"load-test-password\"}" $B/users | python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])'; }
enter() { curl -fsS -X POST -H "Authorization: Bearer $(user_token "$1")" $B/concerts/$C/queue | python3 -c 'import json,sys;print(json.load(sys.stdin)["token"])'; }
policy() { curl -fsS -X PUT -H "X-Admin-Key: $KEY" -H 'Content-Type: application/json' \
  -d "{\"max_active\":1,\"admit_per_second\":10,\"active_ttl_seconds\":3600,\"paused\":$1}" $B/admin/concerts/$C/queue-policy >/dev/null; }
# The fan profiled (FAN=waiting, the default: the heartbeat of a fan behind an admitted
# one; FAN=admitted: an admitted fan, whose answer carries the admission pass).
policy false
Q=$(enter admitted)
sleep 1
if [ "${FAN:-waiting}" = waiting ]; then policy true; Q=$(enter waiting); fi
echo "== the fan: $(curl -fsS -H "X-Queue-Token: $Q" $B/queue/status | head -c 120)…"
cpu() { awk '{print $14 + $15}' "/proc/$SP/stat"; }
wrk -t2 -c256 -d$((SECS + 3))s --latency -H "X-Queue-Token: $Q" $B/queue/status >"$W/wrk" &
WP=$!
sleep 1
RP=$(cat "$SERVICES_DIR/redis/pid")
top -b -d $SECS -n 2 -p "$SP,$RP,$WP" | tail -5 >"$W/top" &
C0=$(cpu); T0=$(date +%s.%N)
perf record -q -F 499 -g -p "$SP" -o "${PERF_OUT:-$W/perf.data}" -- sleep "$SECS" 2>/dev/null
C1=$(cpu); T1=$(date +%s.%N)
wait $WP
echo "== wrk"; grep -E "Requests/sec|50%|99%|Non-2xx" "$W/wrk"
RPS=$(awk '/Requests\/sec/{print $2}' "$W/wrk")
python3 -c "c=($C1-$C0)/100; t=$T1-$T0; r=$RPS; print(f'== server CPU: {c/t:.2f} cores at {r:.0f} answers/s = {c/t*1e6/r:.1f} µs per answer (≈ {r/(c/t):.0f} answers/s per core)')"
echo "== CPU % over ${SECS}s (frontrow, redis-server, wrk)"; cat "$W/top"
echo "== perf: top symbols of frontrow (self)"
perf report -i "${PERF_OUT:-$W/perf.data}" --no-children --sort dso,symbol --stdio 2>/dev/null | grep -E "^ +[0-9]" | sed -E "s/ {2,}/ /g" | cut -c1-150 | head -30
echo "== perf: by shared object"
perf report -i "${PERF_OUT:-$W/perf.data}" --no-children --sort dso --stdio 2>/dev/null | grep -E "^ +[0-9]" | sed -E "s/ {2,}/ /g" | cut -c1-150 | head -8
