#!/usr/bin/env bash
# The fans' pages and the operators' console in headless Chromium (tests/browser): installs
# Debian's chromium and the tests' npm packages (playwright-core, axe-core) when missing,
# starts frontrow (debug build, SQLite, in-memory queue) on a free port, runs every
# tests/browser/*.test.mjs (FRONTROW_BIN names the binary, for `frontrow gate verify`),
# stops the server. Screenshots (desktop and 390x844) go to
# $SHOT_DIR/frontrow-screens (default SHOT_DIR: target/browser-artifacts).
# BROWSER_TESTS=./boxoffice.test.mjs runs one file (paths relative to tests/browser).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

if [ ! -x /usr/bin/chromium ]; then
  echo "browser-test: installing chromium" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
fi
if [ ! -d tests/browser/node_modules/playwright-core ] || [ ! -d tests/browser/node_modules/axe-core ] \
   || [ ! -d tests/browser/node_modules/jsqr ] || [ ! -d tests/browser/node_modules/pngjs ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --silent)
fi
# FRONTROW_PREBUILT=1 (the full tier, after its workspace build): the binary is current, and
# building this one package would rebuild some thirty crates with other features.
[ -n "${FRONTROW_PREBUILT:-}" ] || cargo build -q -p frontrow-app
BIN="$CARGO_TARGET_DIR/debug/frontrow"

DIR=$(mktemp -d /tmp/frontrow-browser.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
ADMIN_KEY="browser-admin-key-$(date +%s%N)"
FRONTROW__HTTP__BIND="127.0.0.1:$PORT" \
FRONTROW__DATABASE__URL="sqlite://$DIR/fan.db?mode=rwc" \
FRONTROW__AUTH__ADMIN_KEY="$ADMIN_KEY" \
FRONTROW__AUTH__JWT_SECRET="browser-jwt-secret-0123456789" \
FRONTROW__QUEUE__TICK_INTERVAL_MS=50 \
FRONTROW__BOOKING__HOLD_TTL_SECONDS=120 \
FRONTROW__ACCOUNTS__PASSKEY_ORIGIN="http://localhost:$PORT" \
RUST_LOG=warn "$BIN" serve >"$DIR/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DIR"' EXIT
SHOT_DIR="${SHOT_DIR:-$CARGO_TARGET_DIR/browser-artifacts}"
mkdir -p "$SHOT_DIR"
SHOT_DIR=$(cd "$SHOT_DIR" && pwd)
for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.05; done

cd tests/browser
status=0
BASE_URL="http://127.0.0.1:$PORT" ADMIN_KEY="$ADMIN_KEY" SHOT_DIR="$SHOT_DIR" FRONTROW_BIN="$BIN" \
  node --test --test-concurrency=1 ${BROWSER_TESTS:-./*.test.mjs} || status=$?
if [ "$status" -ne 0 ]; then
  echo "browser-test: failed; the server's log:" >&2
  tail -n 50 "$DIR/server.log" >&2
fi
echo "browser-test: screenshots and the axe-core report in $SHOT_DIR/frontrow-screens" >&2
exit "$status"
