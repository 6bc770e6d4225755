#!/usr/bin/env bash
# The season soak (see loadtest/crowd/src/bin/season.rs): N concerts one after another on
# Redis, each with --fans fans entering, --seats of them buying a seat each, everyone else
# polling until SOLD_OUT, then the line retiring (queue.retire_after_seconds = 1); Redis
# used_memory and keys and the instances' RSS recorded after each concert. Three setups:
#   single   one instance on one Redis
#   two      two instances on one Redis (requests alternate between them)
#   cluster  one instance on a 3-master Redis Cluster
# Writes loadtest/results/<UTC>-season.{md,svg,json}: the retained bytes per finished
# concert (least-squares slope over the second half of the season) against the targets
# (< 4 KB in Redis, < 64 KB per instance). Exits non-zero when a fan lost its place, a
# late poller did not read SOLD_OUT, a seat went unsold or an answer was unexpected.
#
# usage: loadtest/season.sh [--concerts 100] [--fans 1000] [--seats 100]
#                           [--setups "single two cluster"] [--debug] [--quick]
#   --quick   the full tier's bounded check: 8 concerts of 200 fans and 20 seats, single
#             and cluster, debug build, invariants and keys only (no byte targets: RSS
#             over so few concerts is noise)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
CONCERTS=100; FANS=1000; SEATS=100; SETUPS="single two cluster"; PROFILE=release; QUICK=0
CMDLINE="loadtest/season.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --concerts) CONCERTS=$2; shift 2 ;;
    --fans) FANS=$2; shift 2 ;;
    --seats) SEATS=$2; shift 2 ;;
    --setups) SETUPS=$2; shift 2 ;;
    --debug) PROFILE=debug; shift ;;
    --quick) QUICK=1; CONCERTS=8; FANS=200; SEATS=20; SETUPS="single cluster"; PROFILE=debug; shift ;;
    *) echo "season.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
log() { echo "[season.sh $(date +%T)] $*" >&2; }

# shellcheck source=scripts/services.sh
source scripts/services.sh
want=(postgres redis)
case " $SETUPS " in *" cluster "*) want+=(redis_cluster) ;; esac
services_up "${want[@]}"
log "building $PROFILE binaries"
if [ "$PROFILE" = release ]; then
  cargo build -q --release -p frontrow-app -p frontrow-crowd
else
  cargo build -q -p frontrow-app -p frontrow-crowd
fi
BIN="$CARGO_TARGET_DIR/$PROFILE/frontrow"
SEASON="$CARGO_TARGET_DIR/$PROFILE/season"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$HERE/results"
OUT="$HERE/results/$STAMP-season"
[ "$QUICK" = 1 ] && OUT=$(mktemp -d /tmp/frontrow-season-quick.XXXXXX)/season
WORK=$(mktemp -d /tmp/frontrow-season.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill "$p" 2>/dev/null || true; done
  services_down || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
ADMIN_KEY=season-admin-key-0123456789
JWT_SECRET=season-jwt-secret-0123456789

start_server() { # port log db redis cluster prefix -> pid appended to PIDS
  local port=$1 logf=$2
  env RUST_LOG=warn \
  FRONTROW__HTTP__BIND="127.0.0.1:$port" \
  FRONTROW__HTTP__WORKERS=2 \
  FRONTROW__DATABASE__URL="$3" \
  FRONTROW__REDIS__URL="$4" \
  FRONTROW__REDIS__CLUSTER="$5" \
  FRONTROW__REDIS__KEY_PREFIX="$6" \
  FRONTROW__AUTH__ADMIN_KEY="$ADMIN_KEY" \
  FRONTROW__AUTH__JWT_SECRET="$JWT_SECRET" \
  FRONTROW__QUEUE__RETIRE_AFTER_SECONDS=1 \
  FRONTROW__LIMITS__ENABLED=false \
  "$BIN" serve >"$logf" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$logf" >&2; echo "season.sh: server on $port did not start" >&2; exit 1
}

rc=0
for setup in $SETUPS; do
  db="season_${setup}_$STAMP"; db=${db,,}
  psql -q "$FRONTROW_TEST_POSTGRES_URL/postgres" -c "CREATE DATABASE $db" >/dev/null
  DB_URL="$FRONTROW_TEST_POSTGRES_URL/$db"
  instances=1; redis=$FRONTROW_TEST_REDIS_URL; cluster=false; nodes=$FRONTROW_TEST_REDIS_URL
  [ "$setup" = two ] && instances=2
  if [ "$setup" = cluster ]; then
    redis=$FRONTROW_TEST_REDIS_CLUSTER_URLS; cluster=true; nodes=$FRONTROW_TEST_REDIS_CLUSTER_URLS
  fi
  PIDS=(); targets=()
  for i in $(seq 1 "$instances"); do
    port=$(free_port)
    start_server "$port" "$WORK/$setup-$i.log" "$DB_URL" "$redis" "$cluster" "season-$setup-$STAMP:"
    targets+=("http://127.0.0.1:$port")
  done
  log "$setup: $CONCERTS concerts of $FANS fans and $SEATS seats on ${targets[*]}"
  extra=()
  [ "$QUICK" = 1 ] && extra=(--max-redis-keys-per-concert 1.5)
  "$SEASON" --targets "$(IFS=,; echo "${targets[*]}")" --admin-key "$ADMIN_KEY" \
    --jwt-secret "$JWT_SECRET" --redis "$nodes" --key-prefix "season-$setup-$STAMP:" --server-pids "$(IFS=,; echo "${PIDS[*]}")" \
    --concerts "$CONCERTS" --fans "$FANS" --seats "$SEATS" "${extra[@]+"${extra[@]}"}" \
    --out "$OUT-$setup.json" || { rc=1; log "$setup: FAILED"; tail -20 "$WORK/$setup-1.log" >&2; }
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  PIDS=()
done

[ "$QUICK" = 1 ] && { log "quick season: rc=$rc"; exit "$rc"; }
python3 "$HERE/season_report.py" "$OUT" "$CMDLINE" "$PROFILE" $SETUPS
log "report: $OUT.md"
exit "$rc"
