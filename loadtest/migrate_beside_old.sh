#!/usr/bin/env bash
# A migration applied while an older instance serves (docs/src/operator/season.md,
# "Migrations while an older instance serves"): an instance of an older commit (default
# 5498a79, the last before the migrations `orders_of_one` and `sign_in_keys`) serves a
# stadium sale on PostgreSQL and Redis; its fans sign up, top up and are admitted through
# it; then an instance of this commit starts on the same database and line, and applies
# the newer migrations, while the older one answers a stream of reads (seat maps, queue
# every answer recorded, until the end); then every party orders best-available and pays, the
# orders and payments alternating between the older and the newer instance
# (loadtest/crowd/src/bin/boxoffice.rs with --also). Fails on any non-2xx answer during
# the run, any failed order or payment request, or a seat sold twice. Writes
# loadtest/results/<UTC>-migrate-beside-old.md (commit, machine, command, date; the older
# commit) with the box office client's table.
# Builds the older commit's server in a git worktree of its own (debug, its own target
# directory: several minutes the first time; kept in target/old-<commit> for reruns).
# Usage: loadtest/migrate_beside_old.sh [--old <commit>] [--parties 300] [--standing 60]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OLD=5498a79; PARTIES=300; STANDING=60
CMDLINE="loadtest/migrate_beside_old.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --old) OLD=$2; shift 2 ;;
    --parties) PARTIES=$2; shift 2 ;;
    --standing) STANDING=$2; shift 2 ;;
    *) echo "migrate_beside_old.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
log() { echo "[migrate_beside_old.sh $(date +%T)] $*" >&2; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
OLD_FULL=$(git rev-parse "$OLD^{commit}")
OLD_TREE="$ROOT/target/old-${OLD_FULL:0:12}"
if [ ! -x "$OLD_TREE/target/debug/frontrow" ]; then
  log "building the older server ($OLD_FULL) in $OLD_TREE"
  rm -rf "$OLD_TREE/src"; mkdir -p "$OLD_TREE"
  git worktree add -f --detach "$OLD_TREE/src" "$OLD_FULL" >/dev/null
  (cd "$OLD_TREE/src" && CARGO_TARGET_DIR="$OLD_TREE/target" cargo build -q -p frontrow-app)
  git worktree remove -f "$OLD_TREE/src"
fi
log "building this commit's server and the box office client"
cargo build -q -p frontrow-app -p frontrow-crowd --bin frontrow --bin boxoffice
NEW_BIN="$CARGO_TARGET_DIR/debug/frontrow"; OLD_BIN="$OLD_TREE/target/debug/frontrow"
BOX="$CARGO_TARGET_DIR/debug/boxoffice"
# shellcheck source=scripts/services.sh
source scripts/services.sh
services_up redis postgres
WORK=$(mktemp -d /tmp/frontrow-migrate.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill "$p" 2>/dev/null || true; done
  services_down || true
  rm -rf "$WORK"
}
trap cleanup EXIT
NAME="migrate_$(date +%s)"
psql -q "$FRONTROW_TEST_POSTGRES_URL/postgres" -c "CREATE DATABASE $NAME" >/dev/null
URL="$FRONTROW_TEST_POSTGRES_URL/$NAME"
ADMIN_KEY="migrate-admin-$(date +%s)"; PREFIX="migrate$(date +%s%N):"
start() { # start BIN DIR LOG [PORT]: one server (its own config directory) on PORT or a free one
  local port=${4:-$(free_port)}
  (cd "$2" && exec env RUST_LOG=warn \
    FRONTROW__HTTP__BIND="127.0.0.1:$port" FRONTROW__DATABASE__URL="$URL" \
    FRONTROW__REDIS__URL="$FRONTROW_TEST_REDIS_URL" FRONTROW__REDIS__KEY_PREFIX="$PREFIX" \
    FRONTROW__AUTH__ADMIN_KEY="$ADMIN_KEY" FRONTROW__AUTH__JWT_SECRET="migrate-jwt-secret-0123456789abcdef" \
    FRONTROW__LIMITS__ENABLED=false FRONTROW__QUEUE__TICK_INTERVAL_MS=50 \
    FRONTROW__HTTP__CLIENT_REQUEST_TIMEOUT_MS=60000 "$1" serve >"$3" 2>&1) &
  PIDS+=($!)
  for _ in $(seq 1 600); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || { echo "server $1 did not start:"; tail -20 "$3"; exit 1; }
  STARTED="http://127.0.0.1:$port"
}
# The older commit's own config directory (its settings file), from git.
mkdir -p "$WORK/old"; git archive "$OLD_FULL" config | tar -x -C "$WORK/old"
log "older instance ($OLD_FULL) on a fresh database"
start "$OLD_BIN" "$WORK/old" "$WORK/old.log"; OLD_URL=$STARTED
NEW_PORT=$(free_port); NEW_URL="http://127.0.0.1:$NEW_PORT"
# The client prepares every fan through the older instance, then signals; the newer one
# starts (and migrates) then, under a stream of reads on the older one.
"$BOX" --base "$OLD_URL" --also "$NEW_URL" --admin-key "$ADMIN_KEY" --parties "$PARTIES" \
  --standing-orders "$STANDING" --ready-file "$WORK/ready" --pause-ms 20000 \
  --out "$WORK/box.json" >"$WORK/box.out" 2>"$WORK/box.log" &
BOX_PID=$!
while [ ! -e "$WORK/ready" ]; do
  kill -0 "$BOX_PID" 2>/dev/null || { echo "the client stopped:"; tail -20 "$WORK/box.log"; exit 1; }
  sleep 0.2
done
SCHEDULE=$(psql -At "$URL" -c "SELECT max(id) FROM schedules" 2>/dev/null || true)
( codes="$WORK/reads.txt"; : >"$codes"
  while [ ! -e "$WORK/stop-reads" ]; do
    curl -s -o /dev/null -w '%{http_code} readyz\n' "$OLD_URL/readyz" >>"$codes"
    curl -s -o /dev/null -w '%{http_code} concerts\n' "$OLD_URL/api/v1/concerts" >>"$codes"
    [ -n "$SCHEDULE" ] && curl -s -o /dev/null -w '%{http_code} seats\n' "$OLD_URL/api/v1/schedules/$SCHEDULE/seats" >>"$codes"
    sleep 0.05
  done ) &
READS_PID=$!
MIG_BEFORE=$(psql -At "$URL" -c "SELECT version FROM seaql_migrations ORDER BY version")
log "newer instance ($(git rev-parse --short HEAD)) starts and migrates beside it"
T0=$(date +%s.%N)
start "$NEW_BIN" "$ROOT" "$WORK/new.log" "$NEW_PORT"
T1=$(date +%s.%N)
MIG_AFTER=$(psql -At "$URL" -c "SELECT version FROM seaql_migrations ORDER BY version")
MIGRATED=$(comm -13 <(echo "$MIG_BEFORE") <(echo "$MIG_AFTER") | paste -sd, - | sed 's/,/, /g')
[ -n "$MIGRATED" ] || MIGRATED="none"
log "timed phase: orders and payments alternate between the two (the reads on the older one go on)"
rc=0; wait "$BOX_PID" || rc=$?
touch "$WORK/stop-reads"; wait "$READS_PID" || true
# The seats sold, as each instance's map says once its read cache has expired, and as the
# database says.
sleep 3
for who in old new; do
  u=$OLD_URL; [ "$who" = new ] && u=$NEW_URL
  curl -fsS "$u/api/v1/schedules/$SCHEDULE/seats" | python3 -c 'import json,sys; print(sum(1 for s in json.load(sys.stdin) if s["status"] == "SOLD"))' >"$WORK/sold-$who" || echo "?" >"$WORK/sold-$who"
done
psql -At "$URL" -c "SELECT count(*) FROM seats WHERE schedule_id = $SCHEDULE AND status = 'SOLD'" >"$WORK/sold-db"
psql -At "$URL" -c "SELECT count(*) FROM reservations WHERE schedule_id = $SCHEDULE AND status = 'CONFIRMED'" >"$WORK/confirmed-db"
STAMP=$(date -u +%Y%m%dT%H%M%SZ); OUT="$ROOT/loadtest/results/$STAMP-migrate-beside-old.md"
source "$ROOT/loadtest/provenance.sh"
python3 - "$WORK" "$OUT" "$OLD_FULL" "$T0" "$T1" "$MIGRATED" "$rc" "$PARTIES" "$STANDING" "$(provenance_md "$CMDLINE")" <<'PY'
import collections, json, os, sys
work, out, old, t0, t1, migrated, rc, parties, standing, prov = sys.argv[1:11]
reads = collections.Counter(l.strip() for l in open(os.path.join(work, "reads.txt")) if l.strip())
bad = {k: v for k, v in reads.items() if not k.startswith("2")}
box = json.load(open(os.path.join(work, "box.json"))) if os.path.exists(os.path.join(work, "box.json")) else None
L = ["# A migration applied while an older instance serves", "", prov,
     f"- older instance: commit `{old}` (debug build); newer: this commit (debug build); one PostgreSQL, one Redis line",
     f"- migrations the newer instance applied at its start: {migrated}",
     f"- newer instance's start (migrations included): {float(t1) - float(t0):.2f} s", "",
     "| check | result |", "|---|---|",
     f"| the older instance's answers to reads from before the newer one started (and migrated) to the end of the orders | {sum(reads.values())} reads: " +
     ", ".join(f"{k}: {v}" for k, v in sorted(reads.items())) + " |"]
ok = not bad
if box:
    L.append(f"| parties + standing orders, alternating between the two instances | {parties} + {standing} |")
    L.append(f"| order answers | {', '.join(f'{k}: {v}' for k, v in sorted(box['order_statuses'].items()))} |")
    L.append(f"| payment answers | {', '.join(f'{k}: {v}' for k, v in sorted(box['payment_statuses'].items()))} |")
    L.append(f"| seats paid (the client's count) | {box['seats_paid']:,} |")
    L.append(f"| seats sold on the map the client read (older instance, right after the last payment) | {box['seats_sold_on_map']:,} |")
    sold = {w: open(os.path.join(work, f"sold-{w}")).read().strip() for w in ("old", "new", "db")}
    confirmed = open(os.path.join(work, "confirmed-db")).read().strip()
    L.append(f"| seats sold 3 s later: older instance's map / newer's / database (confirmed reservations) | {sold['old']} / {sold['new']} / {sold['db']} ({confirmed}) |")
    ok = ok and sold["old"] == sold["new"] == sold["db"] == confirmed == str(box["seats_paid"])
    L.append(f"| double-sold seats | {box['double_sold']} |")
    L.append(f"| failed requests | {box['failures']} |")
    ok = ok and box["double_sold"] == 0 and box["failures"] == 0
    L.append(f"| the client's own verdict (exit status; it compares the map it read at once) | {rc} |")
else:
    L.append("| the box office client | no result (see its log) |")
    ok = False
L.append(f"| result | {'passed' if ok else 'FAILED'} |")
open(out, "w").write("\n".join(L) + "\n")
print(out)
sys.exit(0 if ok else 1)
PY
