#!/usr/bin/env bash
# The /metrics exposition against Prometheus's own linter: starts frontrow (debug build,
# SQLite, in-memory queue, the demo concert) on free ports with /metrics on its own
# listener, makes a little traffic (a sign-up, an enter, a standing poll, a catalog read,
# a hold attempt, a 404), scrapes /metrics and runs `promtool check metrics`; any finding
# (a missing HELP, a counter without _total, a bad unit suffix…) fails. Installs the
# Debian package `prometheus` (which ships promtool) when promtool is missing. Part of
# the full tier (scripts/test.sh); a few seconds once built.
# Usage: scripts/promtool-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

if ! command -v promtool >/dev/null 2>&1; then
  echo "promtool: installing the Debian package prometheus" >&2
  apt-get install -y -qq prometheus >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null && apt-get install -y -qq prometheus >/dev/null; }
fi
# FRONTROW_PREBUILT=1 (the full tier, after its workspace build): the binary is current, and
# building this one package would rebuild some thirty crates with other features.
[ -n "${FRONTROW_PREBUILT:-}" ] || cargo build -q -p frontrow-app
BIN="$CARGO_TARGET_DIR/debug/frontrow"

DIR=$(mktemp -d /tmp/frontrow-promtool.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
PORT=$(free_port)
METRICS_PORT=$(free_port)
FRONTROW__HTTP__BIND="127.0.0.1:$PORT" \
FRONTROW__TELEMETRY__METRICS_BIND="127.0.0.1:$METRICS_PORT" \
FRONTROW__DATABASE__URL="sqlite://$DIR/api.db?mode=rwc" \
FRONTROW__AUTH__ADMIN_KEY="promtool-admin-key-$(date +%s%N)" \
FRONTROW__AUTH__JWT_SECRET="promtool-jwt-secret-0123456789" \
FRONTROW__LIMITS__ENABLED=false \
RUST_LOG=warn "$BIN" serve --demo >"$DIR/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DIR"' EXIT
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 1 300); do curl -sf "$BASE/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "$BASE/readyz" >/dev/null || { echo "promtool: frontrow did not start" >&2; cat "$DIR/server.log" >&2; exit 1; }

# A little traffic, so the families with labels have series.
TOKEN=$(curl -sf -XPOST "$BASE/api/v1/users" -H 'content-type: application/json' -d '{"name":"promtool","email":"promtool@example.test","password":"promtool-password"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
QUEUE_TOKEN=$(curl -sf -XPOST "$BASE/api/v1/concerts/1/queue" -H "Authorization: Bearer $TOKEN" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
curl -s -o /dev/null "$BASE/api/v1/queue/status" -H "X-Queue-Token: $QUEUE_TOKEN"
curl -s -o /dev/null "$BASE/api/v1/concerts"
curl -s -o /dev/null "$BASE/api/v1/concerts/1/schedules"
curl -s -o /dev/null -XPOST "$BASE/api/v1/reservations" -H "Authorization: Bearer $TOKEN" \
  -H "X-Queue-Token: $QUEUE_TOKEN" -H 'content-type: application/json' -d '{"schedule_id":1,"seat_id":1}'
curl -s -o /dev/null "$BASE/api/v1/no-such-route"

# /metrics answers on its own listener when one is configured, else on the public one.
METRICS=""
for url in "http://127.0.0.1:$METRICS_PORT/metrics" "$BASE/metrics"; do
  if curl -sf "$url" -o "$DIR/metrics.txt"; then METRICS=$url; break; fi
done
[ -n "$METRICS" ] || { echo "promtool: no /metrics answered" >&2; exit 1; }
echo "promtool: checking $(grep -c '^# TYPE' "$DIR/metrics.txt") families from $METRICS" >&2
# promtool exits 0 on lint warnings too: any output at all is a finding.
status=0
promtool check metrics <"$DIR/metrics.txt" >"$DIR/findings.txt" 2>&1 || status=$?
if [ $status -ne 0 ] || [ -s "$DIR/findings.txt" ]; then
  echo "promtool: findings in /metrics:" >&2
  cat "$DIR/findings.txt" >&2
  exit 1
fi
echo "promtool: /metrics is clean" >&2
