#!/usr/bin/env bash
# One concert, a million fans in line at once, two app instances on one Redis (the
# headline run). Starts its own Redis and two release instances, runs the crowd simulator
# and writes loadtest/results/<ts>-crowd-million.{md,json}. Takes about 5 minutes here.
# Usage: loadtest/crowd_million.sh [fans] [arrival rate/s]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FANS=${1:-1000000}; RATE=${2:-10000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
cargo build --release -q -p frontrow-app -p frontrow-crowd
BIN=$CARGO_TARGET_DIR/release
source "$ROOT/scripts/services.sh"
services_up redis
W=$(mktemp -d); KEY=crowd-admin-key-0123456789; SECRET=crowd-jwt-secret-0123456789
PIDS=()
for i in 1 2; do
  PORT=$(free_port); PORTS+=("$PORT")
  # A long idle timeout: the simulator cannot poll a million fans at the advised cadence
  # on two cores it shares with the servers, and a late poll must not lose a place.
  RUST_LOG=warn FRONTROW__HTTP__BIND=127.0.0.1:$PORT FRONTROW__HTTP__WORKERS=1 \
    FRONTROW__DATABASE__URL="sqlite://$W/db?mode=rwc" FRONTROW__REDIS__URL=$FRONTROW_TEST_REDIS_URL \
    FRONTROW__AUTH__ADMIN_KEY=$KEY FRONTROW__AUTH__JWT_SECRET=$SECRET \
    FRONTROW__QUEUE__IDLE_TIMEOUT_SECONDS=600 FRONTROW__LIMITS__ENABLED=false "$BIN/frontrow" serve >"$W/log$i" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do curl -fs 127.0.0.1:$PORT/readyz >/dev/null && break; sleep 0.1; done
done
trap 'kill ${PIDS[*]} 2>/dev/null; wait 2>/dev/null; services_down; rm -rf "$W"' EXIT
C=$(curl -fsS -H "X-Admin-Key: $KEY" -H 'Content-Type: application/json' \
  -d '{"title":"million","venue":"v","schedules":[{"starts_at":"2030-01-01T00:00:00Z","rows":10,"seats_per_row":10,"price":1}]}' \
  http://127.0.0.1:${PORTS[0]}/api/v1/admin/concerts | python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])')
TS=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$ROOT/loadtest/results/$TS-crowd-million
set +e
"$BIN/frontrow-crowd" --fans "$FANS" --arrival-rate "$RATE" --concert "$C" \
  --targets "http://127.0.0.1:${PORTS[0]},http://127.0.0.1:${PORTS[1]}" \
  --jwt-secret "$SECRET" --admin-key "$KEY" --policy 1000,200,600 \
  --connections 1024 --source-addrs 4 --leave-share 0.02 --hold-active-ms 1000 \
  --stream-front "${STREAM_FRONT:-2000}" --sse-streams 2500 --overtake-grace-ms 100 \
  --idle-timeout-s 600 --idle-drop-s 902 \
  --redis "$FRONTROW_TEST_REDIS_URL" --server-pids "$(IFS=,; echo "${PIDS[*]}")" \
  --duration-s $(( FANS / RATE + 60 )) --no-cleanup --allow-503 --progress-s 10 \
  --out "$OUT.json" | tee "$OUT.md"
RC=${PIPESTATUS[0]}
echo "crowd_million: exit $RC, report $OUT.md" >&2
exit "$RC"
