#!/usr/bin/env bash
# What one concert's line costs in Redis, at N fans (default 1,000,000): starts a throwaway
# Redis, runs the `line_costs` example of crates/redis against it and writes
# loadtest/results/<UTC>-line-costs.md, headed by its commit, machine, command and date.
# Usage: loadtest/line_costs.sh [fans]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FANS=${1:-1000000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
source "$ROOT/loadtest/provenance.sh"
source "$ROOT/scripts/services.sh"
services_up redis
trap services_down EXIT
OUT=$ROOT/loadtest/results/$(date -u +%Y%m%dT%H%M%SZ)-line-costs.md
{
  echo "# The line's costs in Redis, $FANS fans"
  echo
  provenance_md "loadtest/line_costs.sh $*"
  echo "- Redis: $(redis-server --version | cut -d' ' -f3)"
  echo
  (cd "$ROOT" && cargo run --release -q -p frontrow-redis --example line_costs -- "$FRONTROW_TEST_REDIS_URL" "$FANS")
} | tee "$OUT"
echo "line_costs: report $OUT" >&2
