#!/usr/bin/env bash
# The fault table: runs tests/tests/http_faults.rs (the fault proxy between the app and
# Redis, PostgreSQL and MariaDB, each fault switched on during a sale, then off) on
# throwaway servers and writes what each fault gave — the codes seen, the slowest answer
# and the time until every call succeeded again — to loadtest/results/<UTC>-faults.md.
# The test asserts the invariants (no 5xx but 503 + Retry-After, no place lost, nobody
# overtaken, no seat sold twice, no payment taken twice); the times are measured, not
# asserted, on a debug build.
#
# usage: loadtest/faults.sh
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
# shellcheck source=scripts/services.sh
source scripts/services.sh
services_up redis mariadb postgres
mkdir -p loadtest/results
OUT="loadtest/results/$(date -u +%Y%m%d-%H%M)-faults.md"
RAW=$(mktemp)
cargo nextest run -p frontrow-tests --test http_faults --no-capture --test-threads 1 2>&1 | tee "$RAW" >&2
{
  echo "# Fault table"
  echo
  echo "Command: \`loadtest/faults.sh\` ($(git rev-parse --short HEAD), debug build, $(nproc) cores,"
  echo "$(date -u +%Y-%m-%d)). Source: \`tests/tests/http_faults.rs\`: each fault is switched on in"
  echo "the fault proxy between the app and the server named, six calls are made (a fan enters,"
  echo "a waiting fan polls, the seat map, an admitted fan holds a seat and pays, another fan"
  echo "enters, the poll again), then the fault is switched off and the time until \`/readyz\`,"
  echo "a poll and a wallet read all succeed is measured. \`redis.timeout_ms\` = 1000,"
  echo "\`database.acquire_timeout_ms\` = \`connect_timeout_ms\` = 2000."
  echo
  echo "| link | fault | codes seen | slowest answer, ms (call) | recovery, ms |"
  echo "| --- | --- | --- | --- | --- |"
  grep -a '^FAULT|' "$RAW" | sed -e 's/^FAULT|//' -e 's/|/ | /g' -e 's/^/| /' -e 's/$/ |/'
} >"$OUT"
rm -f "$RAW"
echo "faults.sh: wrote $OUT" >&2
