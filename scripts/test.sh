#!/usr/bin/env bash
# The whole test suite: starts throwaway Redis, MariaDB and PostgreSQL (installing the
# Debian packages when missing), runs every test of the workspace against them, runs the
# k6 smoke scenarios of loadtest/, stops the servers, and ends with one summary line.
# Usage: scripts/test.sh [extra args for cargo nextest / cargo test]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"
LOG=$(mktemp /tmp/frontrow-test.XXXXXX.log)

# shellcheck source=scripts/services.sh
source scripts/services.sh
services_up redis mariadb postgres

failed=0
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@" 2>&1 | tee "$LOG" || failed=1
  summary=$(grep -E '^\s+Summary \[' "$LOG" | tail -1 || true)
  passed=$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$summary")
  nfailed=$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$summary")
else
  cargo test --workspace --no-fail-fast "$@" -- --test-threads 2 2>&1 | tee "$LOG" || failed=1
  passed=$(grep -E '^test result:' "$LOG" | sed -nE 's/.* ([0-9]+) passed.*/\1/p' | paste -sd+ | bc)
  nfailed=$(grep -E '^test result:' "$LOG" | sed -nE 's/.* ([0-9]+) failed.*/\1/p' | paste -sd+ | bc)
fi
services_down
passed=${passed:-0}; nfailed=${nfailed:-0}
if [ "$failed" = 1 ] && [ "$nfailed" = 0 ]; then nfailed=1; fi

# A fan's journey in a real browser (headless Chromium).
if scripts/browser-test.sh; then
  passed=$((passed + 1))
else
  failed=1; nfailed=$((nfailed + 1))
  echo "browser test: FAILED" >&2
fi

# The load-test scripts must not rot: a few seconds of each scenario, with its invariants.
smoke=0
if [ -z "${SKIP_LOADTEST_SMOKE:-}" ]; then
  if loadtest/run.sh --smoke; then
    passed=$((passed + 1))
  else
    smoke=1; nfailed=$((nfailed + 1))
    echo "loadtest smoke: FAILED" >&2
  fi
fi
rm -f "$LOG"
echo "tests: ${passed} passed, ${nfailed} failed"
[ "$failed" = 0 ] && [ "$smoke" = 0 ]
