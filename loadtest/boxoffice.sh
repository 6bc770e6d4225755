#!/usr/bin/env bash
# The box office benchmark (see loadtest/crowd/src/bin/boxoffice.rs): a 10,000-seat
# stadium plus 2,000 standing, 2,500 parties (1-6, mean 4) and 500 standing orders
# admitted first, then all ordering best-available at once and paying — on PostgreSQL,
# MariaDB and SQLite, one release instance with the in-memory queue each, beside pgbench
# on the same PostgreSQL. Writes loadtest/results/<UTC>-boxoffice.{json,md} (commit,
# machine, command, date in the header) and exits non-zero when a run double-sold or
# failed a request (missed speed targets are marked in the table; the report is kept
# either way).
#
# usage: loadtest/boxoffice.sh [--dbs "postgres mariadb sqlite"] [--parties 2500]
#                              [--standing 500] [--allow-split] [--perf] [--pool 32]
#                              [--claim conditional|skip-locked] [--instances 1]
#                              [--statements]
# --claim sets database.seat_claim; --instances N > 1 runs N instances on one database and
# one Redis line (orders and payments spread over them in turn), so their seat planners
# collide in the database as they would in production.
# Each run also records where the machine's CPU went from the first order to the last
# payment (seconds of CPU of the servers, of the benchmark client, and of everything
# else — the database, mostly).
# --perf samples the server's CPU (perf record, 499 Hz, call graphs) during each run and
# writes where the time goes beside the report: <UTC>-boxoffice-<db>.perf.txt (the top
# symbols, self time) — the profile behind a missed target.
# --statements loads pg_stat_statements into PostgreSQL and writes, beside the report,
# <UTC>-boxoffice-postgres.statements.txt: every statement of the timed phase with its
# calls, total and mean execution time, and rows (the database's side of the profile).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
DBS="postgres mariadb sqlite"; PARTIES=2500; STANDING=500; SPLIT=(); PERF=0; POOL=32; CLAIM=conditional; INSTANCES=1; STATEMENTS=0
CMDLINE="loadtest/boxoffice.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --dbs) DBS=$2; shift 2 ;;
    --parties) PARTIES=$2; shift 2 ;;
    --standing) STANDING=$2; shift 2 ;;
    --allow-split) SPLIT=(--allow-split); shift ;;
    --perf) PERF=1; shift ;;
    --pool) POOL=$2; shift 2 ;;
    --claim) CLAIM=$2; shift 2 ;;
    --instances) INSTANCES=$2; shift 2 ;;
    --statements) STATEMENTS=1; shift ;;
    *) echo "boxoffice.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
log() { echo "[boxoffice.sh $(date +%T)] $*" >&2; }

# shellcheck source=scripts/services.sh
source scripts/services.sh
if [ "$STATEMENTS" = 1 ]; then
  export SERVICES_PG_OPTS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"
fi
if [ "$INSTANCES" -gt 1 ]; then services_up redis mariadb postgres; else services_up mariadb postgres; fi
log "building release binaries"
cargo build -q --release -p frontrow-app -p frontrow-crowd
BIN="$CARGO_TARGET_DIR/release/frontrow"
BOX="$CARGO_TARGET_DIR/release/boxoffice"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT="$HERE/results/$STAMP-boxoffice"
WORK=$(mktemp -d /tmp/frontrow-boxoffice.XXXXXX)
SERVER_PID=""; OTHER_PIDS=()
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  for p in "${OTHER_PIDS[@]+"${OTHER_PIDS[@]}"}"; do kill "$p" 2>/dev/null || true; done
  services_down || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Same-run baseline: pgbench (TPC-B-like, 16 clients) on the very PostgreSQL.
PGURL="$FRONTROW_TEST_POSTGRES_URL"
psql -q "$PGURL/postgres" -c "CREATE DATABASE bench" >/dev/null
PGBENCH=/usr/lib/postgresql/15/bin/pgbench
command -v pgbench >/dev/null && PGBENCH=$(command -v pgbench)
"$PGBENCH" -q -i -s 10 "$PGURL/bench" >/dev/null 2>&1
PGBENCH_TPS=$("$PGBENCH" -c 16 -j 2 -T 10 "$PGURL/bench" 2>/dev/null | sed -nE 's/^tps = ([0-9.]+).*/\1/p' | head -1)
log "pgbench: $PGBENCH_TPS tps"

rc=0
for db in $DBS; do
  name="box_$(date +%s%N)"
  case "$db" in
    postgres) psql -q "$PGURL/postgres" -c "CREATE DATABASE $name" >/dev/null; URL="$PGURL/$name" ;;
    mariadb)
      MPORT=${FRONTROW_TEST_MYSQL_URL##*:}
      mariadb --no-defaults -h127.0.0.1 -P"$MPORT" -ufrontrow -pfrontrow -e "CREATE DATABASE $name"
      URL="$FRONTROW_TEST_MYSQL_URL/$name" ;;
    sqlite) URL="sqlite://$WORK/$name.db?mode=rwc" ;;
    *) echo "boxoffice.sh: unknown database $db" >&2; exit 2 ;;
  esac
  ADMIN_KEY="boxoffice-admin-$(date +%s)"
  PREFIX="box$(date +%s%N):"
  # start_instance LOG: one server on a free port, its pid in STARTED_PID, port in STARTED_PORT.
  start_instance() {
    STARTED_PORT=$(free_port)
    local redis=()
    if [ "$INSTANCES" -gt 1 ]; then
      redis=(FRONTROW__REDIS__URL="$FRONTROW_TEST_REDIS_URL" FRONTROW__REDIS__KEY_PREFIX="$PREFIX")
    fi
    env RUST_LOG=warn \
      FRONTROW__HTTP__BIND="127.0.0.1:$STARTED_PORT" \
      FRONTROW__DATABASE__URL="$URL" \
      FRONTROW__DATABASE__MAX_CONNECTIONS="$POOL" \
      FRONTROW__DATABASE__SEAT_CLAIM="$CLAIM" \
      FRONTROW__AUTH__ADMIN_KEY="$ADMIN_KEY" \
      FRONTROW__AUTH__JWT_SECRET="boxoffice-jwt-secret-0123456789" \
      FRONTROW__LIMITS__ENABLED=false \
      FRONTROW__QUEUE__TICK_INTERVAL_MS=50 \
      FRONTROW__HTTP__CLIENT_REQUEST_TIMEOUT_MS=60000 \
      "${redis[@]+"${redis[@]}"}" \
      "$BIN" serve >"$1" 2>&1 &
    STARTED_PID=$!
    for _ in $(seq 1 300); do curl -fsS "http://127.0.0.1:$STARTED_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  }
  start_instance "$WORK/$db.log"
  SERVER_PID=$STARTED_PID; PORT=$STARTED_PORT
  ALSO=()
  for k in $(seq 2 "$INSTANCES"); do
    start_instance "$WORK/$db.$k.log"
    OTHER_PIDS+=("$STARTED_PID"); ALSO+=("http://127.0.0.1:$STARTED_PORT")
  done
  case "$db" in
    postgres) DB_UID=(--cpu-of-uid "$(id -u postgres)") ;;
    mariadb) DB_UID=(--cpu-of-uid "$(id -u mysql)") ;;
    *) DB_UID=() ;;
  esac
  log "$db: running $PARTIES parties + $STANDING standing orders"
  PERF_PID=""; PAUSE=()
  if [ "$PERF" = 1 ]; then
    # The profile covers the timed phase only (not the fans' sign-up and admission):
    # perf attaches when the client says it is ready, during its pause.
    PAUSE=(--ready-file "$WORK/$db.ready" --pause-ms 3000)
    ( while [ ! -e "$WORK/$db.ready" ]; do sleep 0.1; done
      exec perf record -q -F 499 -g -p "$SERVER_PID" -o "$WORK/$db.perf.data" 2>/dev/null ) &
    PERF_PID=$!
  fi
  STMT_PID=""
  if [ "$STATEMENTS" = 1 ] && [ "$db" = postgres ]; then
    # Counted from the client's ready signal: the timed phase only.
    PAUSE=(--ready-file "$WORK/$db.ready" --pause-ms 3000)
    ( while [ ! -e "$WORK/$db.ready" ]; do sleep 0.1; done
      psql -q "$URL" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" \
        -c "SELECT pg_stat_statements_reset()" >/dev/null ) &
    STMT_PID=$!
  fi
  "$BOX" --base "http://127.0.0.1:$PORT" --admin-key "$ADMIN_KEY" --parties "$PARTIES" \
    ${ALSO[0]+--also "$(IFS=,; echo "${ALSO[*]}")"} \
    --cpu-of "$(IFS=,; echo "$SERVER_PID${OTHER_PIDS[0]+,${OTHER_PIDS[*]}}")" "${PAUSE[@]+"${PAUSE[@]}"}" \
    "${DB_UID[@]+"${DB_UID[@]}"}" \
    --standing-orders "$STANDING" "${SPLIT[@]+"${SPLIT[@]}"}" --out "$WORK/$db.json" \
    >/dev/null 2>"$WORK/$db.client.log" || rc=1
  if [ -n "$PERF_PID" ]; then
    kill -INT "$PERF_PID"; wait "$PERF_PID" 2>/dev/null || true
    {
      echo "# where the server's CPU went: $db, $PARTIES parties + $STANDING standing orders (perf, 499 Hz, self time, ≥ 0.25 %)"
      echo "# commit $(git rev-parse HEAD), $(date -u +%FT%TZ), command: $CMDLINE"
      echo "# machine load while sampling (1/5/15 min): $(cut -d' ' -f1-3 /proc/loadavg)"
      perf report -i "$WORK/$db.perf.data" --no-children --sort dso,symbol --stdio --percent-limit 0.25 2>/dev/null |
        grep -E '^ +[0-9]' | sed -E 's/ +/ /g; s/ - - *$//' || true
      echo
      echo "# by shared object"
      perf report -i "$WORK/$db.perf.data" --no-children --sort dso --stdio --percent-limit 0.5 2>/dev/null |
        grep -E '^ +[0-9]' | sed -E 's/ +/ /g' || true
    } >"$OUT-$db.perf.txt"
    log "$db: profile in $OUT-$db.perf.txt"
  fi
  if [ -n "$STMT_PID" ]; then
    wait "$STMT_PID" || true
    {
      echo "# the database's side: postgres, $PARTIES parties + $STANDING standing orders (pg_stat_statements, timed phase)"
      echo "# commit $(git rev-parse HEAD), $(date -u +%FT%TZ), command: $CMDLINE"
      psql -q "$URL" -c "SELECT sum(calls) AS statements, round(sum(total_exec_time)::numeric, 0) AS total_ms FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%'"
      psql -q "$URL" -c "SELECT calls, round(total_exec_time::numeric, 1) AS total_ms, round(mean_exec_time::numeric, 3) AS mean_ms, rows, left(regexp_replace(query, '\s+', ' ', 'g'), 160) AS query FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC LIMIT 40"
    } >"$OUT-$db.statements.txt"
    log "$db: statements in $OUT-$db.statements.txt"
  fi
  kill "$SERVER_PID" "${OTHER_PIDS[@]+"${OTHER_PIDS[@]}"}"; wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""; OTHER_PIDS=()
done

python3 - "$WORK" "$OUT" "$PGBENCH_TPS" "$CMDLINE" "$DBS" "$POOL" "$CLAIM" "$INSTANCES" <<'PY'
import json, os, subprocess, sys, datetime
work, out, tps, cmd, dbs, pool, claim, instances = sys.argv[1:9]
commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "?")
runs = {}
for db in dbs.split():
    p = os.path.join(work, db + ".json")
    runs[db] = json.load(open(p)) if os.path.exists(p) else None
doc = {"commit": commit, "dirty": bool(dirty), "cores": os.cpu_count(), "mem_kib": mem,
       "command": cmd, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
       "pgbench_tps": float(tps) if tps else None, "runs": runs}
json.dump(doc, open(out + ".json", "w"), indent=2)
L = [f"# Box office benchmark {os.path.basename(out)}", "",
     f"- commit: `{commit}`{' (with uncommitted changes)' if dirty else ''}",
     f"- machine: {os.cpu_count()} cores, {int(mem)//1024} MiB; client, server and database share it",
     f"- command: `{cmd}`", f"- date: {doc['date']}",
     f"- same-run baseline: pgbench (TPC-B-like, scale 10, 16 clients, 10 s) on the same PostgreSQL: **{tps} tps**",
     (f"- one release instance per database, in-memory queue" if instances == "1" else
      f"- {instances} release instances per database on one Redis line, orders and payments in turn") +
     f", rate limits off, pool of {pool} connections (each), seat claim `{claim}`",
     "", "| | " + " | ".join(dbs.split()) + " |", "|---|" + "---|" * len(dbs.split())]
def row(label, f):
    cells = []
    for db in dbs.split():
        r = runs[db]
        try:
            cells.append(f(r) if r else "no result")
        except Exception as e:
            cells.append(f"? ({e})")
    L.append(f"| {label} | " + " | ".join(cells) + " |")
row("first order → last payment (s)", lambda r: f"{r['first_order_to_last_payment_s']:.2f}")
row("tickets paid per second", lambda r: f"{r['tickets_per_s']:,.0f}")
row("seats sold / 10,000", lambda r: f"{r['seats_sold_on_map']:,} ({100*r['sold_share']:.2f} %)")
row("standing sold / 2,000", lambda r: f"{r['standing_paid']:,}")
row("seats left unsold", lambda r: f"{r['seats_unsold']:,}")
row("order p50 / p99 (ms)", lambda r: f"{r['order_ms']['p50']:.1f} / {r['order_ms']['p99']:.1f}")
row("payment p50 / p99 (ms)", lambda r: f"{r['payment_ms']['p50']:.1f} / {r['payment_ms']['p99']:.1f}")
row("share of 409", lambda r: f"{100*r['share_409']:.3f} %")
row("order answers", lambda r: ", ".join(f"{k}: {v}" for k, v in sorted(r['order_statuses'].items())))
row("payment answers", lambda r: ", ".join(f"{k}: {v}" for k, v in sorted(r['payment_statuses'].items())))
row("lone seats left (reported / on the map)", lambda r: f"{r['lone_seats_reported']} / {r['lone_seats_on_map']}")
row("CPU s, first order → last payment: server / database / client / rest (kernel, other)", lambda r: "{server:.1f} / {db} / {client:.1f} / {rest:.1f}".format(db=("%.1f" % r['cpu_s']['database']) if r['cpu_s'].get('database') is not None else "in the server", **r['cpu_s']))
row("double-sold seats", lambda r: str(r['double_sold']))
row("failed requests", lambda r: str(r['failures']))
row("target: ≥ 99.5 % sold within 5 s", lambda r: "met" if r['targets']['sold_out_within_5_s'] else "**missed**")
row("target: order p99 ≤ 250 ms", lambda r: "met" if r['targets']['order_p99_le_250_ms'] else "**missed**")
row("target: 0 double-sold", lambda r: "met" if r['targets']['zero_double_sold'] else "**missed**")
open(out + ".md", "w").write("\n".join(L) + "\n")
print("\n".join(L))
PY
log "report: $OUT.md"
exit $rc
