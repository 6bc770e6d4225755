#!/usr/bin/env bash
# A fan's journey in headless Chromium (tests/browser): installs Debian's chromium and
# playwright-core when missing, starts frontrow (debug build, SQLite, in-memory queue) on a
# free port, runs the browser test, stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

if [ ! -x /usr/bin/chromium ]; then
  echo "browser-test: installing chromium" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
fi
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --silent)
fi
cargo build -q -p frontrow-app
BIN="$CARGO_TARGET_DIR/debug/frontrow"

DIR=$(mktemp -d /tmp/frontrow-browser.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
ADMIN_KEY="browser-admin-key-$(date +%s%N)"
FRONTROW__HTTP__BIND="127.0.0.1:$PORT" \
FRONTROW__DATABASE__URL="sqlite://$DIR/fan.db?mode=rwc" \
FRONTROW__AUTH__ADMIN_KEY="$ADMIN_KEY" \
FRONTROW__AUTH__JWT_SECRET="browser-jwt-secret-0123456789" \
FRONTROW__QUEUE__TICK_INTERVAL_MS=50 \
RUST_LOG=warn "$BIN" serve >"$DIR/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.05; done

cd tests/browser
BASE_URL="http://127.0.0.1:$PORT" ADMIN_KEY="$ADMIN_KEY" SHOT_DIR="${SHOT_DIR:-/tmp}" node --test fan.test.mjs
