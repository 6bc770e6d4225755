#!/usr/bin/env bash
# The season soak (see loadtest/crowd/src/bin/season.rs): N concerts one after another on
# Redis, each with --fans fans entering, --seats of them buying a seat each, everyone else
# polling until SOLD_OUT, then the line retiring (queue.retire_after_seconds = 1); Redis
# used_memory, the keys under the instances' prefix and each instance's RSS recorded after
# each concert. Three setups:
#   single   one instance on one Redis
#   two      two instances on one Redis (requests alternate between them)
#   cluster  one instance on a 3-master Redis Cluster
# Writes loadtest/results/<UTC>-season.{md,svg} and one <UTC>-season-<setup>.json per
# setup: the retained bytes per finished concert (least-squares slope over the second half
# of the season) against the targets (< 4 KB in Redis, < 64 KB per instance). Exits
# non-zero, with a `season: FAILED: …` line saying why, when a fan lost their place, a late
# poller did not read SOLD_OUT, a seat went unsold, an answer was unexpected or a line's
# keys were not retired.
#
# usage: loadtest/season.sh [--concerts 100] [--fans 1000] [--seats 100]
#                           [--setups "single two cluster"] [--debug] [--quick]
#                           [--out PREFIX] [--no-build]
#   --quick     the full tier's bounded check (about 15 s here with the servers exported,
#               26 s starting its own, once the debug binaries are built): 5 concerts of
#               100 fans and 10 seats on one Redis and 5 on the 3-master cluster, both
#               setups at once, debug build; invariants and keys (after every concert, one
#               key per retired line under the prefix and nothing more; a concert that has
#               not retired within 30 s fails); no report, no byte targets (RSS over so few
#               concerts is noise)
#   --out       where the .json/.md/.svg go (default loadtest/results/<UTC>-season)
#   --no-build  use the binaries already built ($CARGO_TARGET_DIR/<profile>/{frontrow,season})
#
# Servers: the ones the caller exported are used as they are, the others are started here
# (scripts/services.sh) and stopped at the end:
#   FRONTROW_TEST_REDIS_URL            redis://… (setups single and two)
#   FRONTROW_TEST_REDIS_CLUSTER_URLS   the 3 masters' redis://… URLs, comma-separated (cluster)
#   FRONTROW_TEST_POSTGRES_URL         postgres://… admin URL (a database per setup is made)
# So a caller that ran `services_up redis postgres redis_cluster` runs this without a
# second set. Every run uses keys under a prefix of its own and databases of its own.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
CONCERTS=100; FANS=1000; SEATS=100; SETUPS="single two cluster"; PROFILE=release; QUICK=0
OUT=""; BUILD=1
CMDLINE="loadtest/season.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --concerts) CONCERTS=$2; shift 2 ;;
    --fans) FANS=$2; shift 2 ;;
    --seats) SEATS=$2; shift 2 ;;
    --setups) SETUPS=$2; shift 2 ;;
    --debug) PROFILE=debug; shift ;;
    --quick) QUICK=1; CONCERTS=5; FANS=100; SEATS=10; SETUPS="single cluster"; PROFILE=debug; shift ;;
    --out) OUT=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    *) echo "season.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
log() { echo "[season.sh $(date +%T)] $*" >&2; }
started=$SECONDS

# shellcheck source=scripts/services.sh
source scripts/services.sh
want=()
[ -n "${FRONTROW_TEST_POSTGRES_URL:-}" ] || want+=(postgres)
case " $SETUPS " in *" single "* | *" two "*) [ -n "${FRONTROW_TEST_REDIS_URL:-}" ] || want+=(redis) ;; esac
case " $SETUPS " in *" cluster "*) [ -n "${FRONTROW_TEST_REDIS_CLUSTER_URLS:-}" ] || want+=(redis_cluster) ;; esac
if [ ${#want[@]} -gt 0 ]; then
  services_up "${want[@]}"
else
  log "using the servers exported by the caller"
fi
# FRONTROW_PREBUILT=1 (the full tier, after its workspace build): the binaries are current.
[ -z "${FRONTROW_PREBUILT:-}" ] || BUILD=0
if [ "$BUILD" = 1 ]; then
  log "building $PROFILE binaries"
  if [ "$PROFILE" = release ]; then
    cargo build -q --release -p frontrow-app -p frontrow-crowd --bin frontrow --bin season
  else
    cargo build -q -p frontrow-app -p frontrow-crowd --bin frontrow --bin season
  fi
fi
BIN="${FRONTROW_BIN:-$CARGO_TARGET_DIR/$PROFILE/frontrow}"
SEASON="${SEASON_BIN:-$CARGO_TARGET_DIR/$PROFILE/season}"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
WORK=$(mktemp -d /tmp/frontrow-season.XXXXXX)
if [ -z "$OUT" ]; then
  if [ "$QUICK" = 1 ]; then OUT="$WORK/season"; else mkdir -p "$HERE/results"; OUT="$HERE/results/$STAMP-season"; fi
fi
PIDS=()
cleanup() {
  for p in "${PIDS[@]+"${PIDS[@]}"}" $(cat "$WORK"/*.pids 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  services_down || true
  rm -rf "$WORK"
}
trap cleanup EXIT
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
}

wait_ready() { # port log
  for _ in $(seq 1 600); do
    curl -fsS "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$2" >&2; echo "season.sh: server on $1 did not start" >&2; return 1
}

# One setup: its database, its instances, the driver. Writes $OUT-<setup>.json and
# $WORK/<setup>.rc (the driver's exit status).
run_setup() { # setup
  local setup=$1 db instances=1 redis=$FRONTROW_TEST_REDIS_URL cluster=false
  local nodes=$FRONTROW_TEST_REDIS_URL prefix="season-$1-$STAMP-$$:" i port rc=0
  local pids=() targets=() ports=() extra=()
  db="season_${setup}_${STAMP}_$$"; db=${db,,}
  psql -q "$FRONTROW_TEST_POSTGRES_URL/postgres" -c "CREATE DATABASE $db" >/dev/null
  [ "$setup" = two ] && instances=2
  if [ "$setup" = cluster ]; then
    redis=$FRONTROW_TEST_REDIS_CLUSTER_URLS; cluster=true; nodes=$FRONTROW_TEST_REDIS_CLUSTER_URLS
  fi
  for i in $(seq 1 "$instances"); do
    port=$(free_port)
    PIDS=()
    start_server "$port" "$WORK/$setup-$i.log" "$FRONTROW_TEST_POSTGRES_URL/$db" "$redis" "$cluster" "$prefix"
    pids+=("${PIDS[0]}"); ports+=("$port")
    echo "${PIDS[0]}" >>"$WORK/$setup.pids"
    targets+=("http://127.0.0.1:$port")
    # one at a time: two instances migrating one empty database at once could collide
    wait_ready "$port" "$WORK/$setup-$i.log" || { echo 1 >"$WORK/$setup.rc"; kill "${pids[@]}" 2>/dev/null; return; }
  done
  log "$setup: $CONCERTS concerts of $FANS fans and $SEATS seats on ${targets[*]}"
  [ "$QUICK" = 1 ] && extra=(--max-extra-keys 0 --settle-ms 0 --concert-timeout-s 30)
  "$SEASON" --targets "$(IFS=,; echo "${targets[*]}")" --admin-key "$ADMIN_KEY" \
    --jwt-secret "$JWT_SECRET" --redis "$nodes" --key-prefix "$prefix" \
    --server-pids "$(IFS=,; echo "${pids[*]}")" \
    --concerts "$CONCERTS" --fans "$FANS" --seats "$SEATS" "${extra[@]+"${extra[@]}"}" \
    --out "$OUT-$setup.json" 2> >(sed -u "s/^/[$setup] /" >&2) || rc=$?
  if [ "$rc" != 0 ]; then
    log "$setup: FAILED (driver exit $rc); the last lines of its instances' logs:"
    for i in $(seq 1 "$instances"); do tail -20 "$WORK/$setup-$i.log" | sed "s/^/[$setup-$i] /" >&2; done
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  echo "$rc" >"$WORK/$setup.rc"
}

rc=0
if [ "$QUICK" = 1 ]; then
  # The setups at once (each waits on its own Redis most of the time).
  jobs_=()
  for setup in $SETUPS; do run_setup "$setup" & jobs_+=($!); done
  for j in "${jobs_[@]}"; do wait "$j" || true; done
else
  for setup in $SETUPS; do run_setup "$setup"; done
fi
for setup in $SETUPS; do
  r=$(cat "$WORK/$setup.rc" 2>/dev/null || echo 1)
  if [ "$r" != 0 ]; then rc=1; log "$setup: FAILED"; else log "$setup: ok"; fi
done

if [ "$QUICK" = 1 ]; then
  log "quick season: $([ "$rc" = 0 ] && echo ok || echo FAILED) in $((SECONDS - started)) s"
  exit "$rc"
fi
python3 "$HERE/season_report.py" "$OUT" "$CMDLINE" "$PROFILE" $SETUPS
log "report: $OUT.md ($((SECONDS - started)) s)"
exit "$rc"
