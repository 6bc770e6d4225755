#!/usr/bin/env bash
# Throwaway Redis, MariaDB and PostgreSQL servers for tests and load tests.
# Source it, then call `services_up [redis] [mariadb] [postgres] [redis_cluster]
# [redis_cluster_failover]`; it exports
#   FRONTROW_TEST_REDIS_URL, FRONTROW_TEST_MYSQL_URL, FRONTROW_TEST_POSTGRES_URL
# (admin URLs: tests create a fresh database of their own on them),
#   FRONTROW_TEST_REDIS_CLUSTER_URLS   (3 masters, comma-separated redis:// node URLs)
#   FRONTROW_TEST_REDIS_FAILOVER_URLS  (3 masters + 3 replicas, for the one test that
#                                       kills a master; node timeout 1 s)
# and registers `services_down` to run on exit. Every server lives in its own temp dir on a free port;
# nothing touches a system instance. Installs missing Debian packages first.
set -euo pipefail

SERVICES_DIR=""
REDIS_PORT=""; MYSQL_PORT=""; PG_PORT=""; PG_BIN=""
CLUSTER_PORTS=()

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# A free port p whose cluster bus port p + 10000 is free too (so p < 55536).
free_cluster_port() {
  python3 -c '
import random, socket
while True:
    p = random.randint(20000, 45000)
    try:
        for q in (p, p + 10000):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
        print(p); break
    except OSError:
        pass'
}

ensure_packages() {
  local missing=()
  for want in "$@"; do
    case "$want" in
      redis | redis_cluster | redis_cluster_failover)
        command -v redis-server >/dev/null || missing+=(redis-server) ;;
      mariadb) command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server) ;;
      postgres) ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql) ;;
    esac
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "services: installing ${missing[*]}" >&2
    if [ "$(id -u)" != 0 ]; then echo "services: need root to apt-get install ${missing[*]}" >&2; return 1; fi
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  fi
}

wait_for() { # description, command...
  local what=$1; shift
  for _ in $(seq 1 200); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.05
  done
  echo "services: $what did not come up" >&2
  return 1
}

start_redis() {
  REDIS_PORT=$(free_port)
  mkdir -p "$SERVICES_DIR/redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
    --dir "$SERVICES_DIR/redis" --pidfile "$SERVICES_DIR/redis/pid" --logfile "$SERVICES_DIR/redis/log" >/dev/null
  wait_for "redis-server on $REDIS_PORT" redis-cli -p "$REDIS_PORT" ping
  export FRONTROW_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
  export FRONTROW_TEST_REDIS_PORT="$REDIS_PORT"
  echo "services: redis on $REDIS_PORT" >&2
}

# A Redis Cluster of $1 masters and $2 replicas per master, node timeout $3 ms; sets
# CLUSTER_URLS to the nodes' URLs, comma-separated.
CLUSTER_URLS=""
start_redis_cluster() {
  local masters=$1 replicas=$2 node_timeout=$3 ports=() p
  for _ in $(seq 1 $((masters * (1 + replicas)))); do
    p=$(free_cluster_port)
    mkdir -p "$SERVICES_DIR/cluster-$p"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$p" --save '' --appendonly no \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout "$node_timeout" \
      --repl-diskless-sync-delay 0 \
      --dir "$SERVICES_DIR/cluster-$p" --pidfile "$SERVICES_DIR/cluster-$p/pid" \
      --logfile "$SERVICES_DIR/cluster-$p/log" >/dev/null
    ports+=("$p"); CLUSTER_PORTS+=("$p")
  done
  for p in "${ports[@]}"; do wait_for "redis-server on $p" redis-cli -p "$p" ping; done
  redis-cli --cluster create $(printf '127.0.0.1:%s ' "${ports[@]}") \
    --cluster-replicas "$replicas" --cluster-yes >"$SERVICES_DIR/cluster-${ports[0]}/create.log" 2>&1
  cluster_ok() {
    for p in "${ports[@]}"; do
      redis-cli -p "$p" cluster info | grep -q 'cluster_state:ok' || return 1
    done
    # every replica attached to its master and done with its first sync (a replica that
    # has not synced yet refuses to take over when its master dies)
    [ "$(redis-cli -p "${ports[0]}" cluster nodes | grep -c 'slave')" = $((masters * replicas)) ] || return 1
    for p in "${ports[@]}"; do
      if redis-cli -p "$p" info replication | grep -q '^role:slave'; then
        redis-cli -p "$p" info replication | grep -q '^master_link_status:up' || return 1
      fi
    done
  }
  wait_for "redis cluster on ${ports[*]}" cluster_ok
  CLUSTER_URLS=$(printf 'redis://127.0.0.1:%s,' "${ports[@]}" | sed 's/,$//')
}

start_mariadb() {
  MYSQL_PORT=$(free_port)
  local d="$SERVICES_DIR/mariadb"
  mkdir -p "$d"; chmod 755 "$SERVICES_DIR" "$d"; chown -R mysql:mysql "$d"
  mariadb-install-db --no-defaults --datadir="$d/data" --user=mysql --skip-test-db \
    --auth-root-authentication-method=normal >"$d/install.log" 2>&1
  mariadbd --no-defaults --datadir="$d/data" --socket="$d/sock" --port="$MYSQL_PORT" \
    --bind-address=127.0.0.1 --user=mysql --pid-file="$d/pid" --log-error="$d/err" \
    --max-connections=2000 --innodb-buffer-pool-size=256M --innodb-flush-log-at-trx-commit=2 \
    --skip-log-bin >/dev/null 2>&1 &
  wait_for "mariadbd on $MYSQL_PORT" mariadb --no-defaults -S "$d/sock" -uroot -e 'select 1'
  mariadb --no-defaults -S "$d/sock" -uroot -e "CREATE USER 'frontrow'@'127.0.0.1' IDENTIFIED BY 'frontrow'; \
    GRANT ALL ON *.* TO 'frontrow'@'127.0.0.1' WITH GRANT OPTION;"
  export FRONTROW_TEST_MYSQL_URL="mysql://frontrow:frontrow@127.0.0.1:$MYSQL_PORT"
  echo "services: mariadb on $MYSQL_PORT" >&2
}

start_postgres() {
  PG_PORT=$(free_port)
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  local d="$SERVICES_DIR/postgres"
  mkdir -p "$d"; chmod 755 "$SERVICES_DIR"; chown -R postgres "$d"
  su postgres -c "$PG_BIN/initdb -D $d/data -A trust -U postgres" >"$d/initdb.log" 2>&1
  su postgres -c "$PG_BIN/pg_ctl -D $d/data -l $d/log -w -o '-p $PG_PORT -k $d -c listen_addresses=127.0.0.1 -c max_connections=1000 -c fsync=off -c synchronous_commit=off ${SERVICES_PG_OPTS:-}' start" >/dev/null
  export FRONTROW_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PG_PORT"
  echo "services: postgres on $PG_PORT" >&2
}

services_down() {
  [ -n "$SERVICES_DIR" ] || return 0
  if [ -n "$REDIS_PORT" ]; then redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true; fi
  for p in "${CLUSTER_PORTS[@]+"${CLUSTER_PORTS[@]}"}"; do
    if [ -f "$SERVICES_DIR/cluster-$p/pid" ]; then kill "$(cat "$SERVICES_DIR/cluster-$p/pid")" 2>/dev/null || true; fi
  done
  for p in "${CLUSTER_PORTS[@]+"${CLUSTER_PORTS[@]}"}"; do # gone before their dirs are removed
    for _ in $(seq 1 50); do
      [ -f "$SERVICES_DIR/cluster-$p/pid" ] && kill -0 "$(cat "$SERVICES_DIR/cluster-$p/pid" 2>/dev/null)" 2>/dev/null || break
      sleep 0.1
    done
  done
  CLUSTER_PORTS=()
  if [ -f "$SERVICES_DIR/mariadb/pid" ]; then kill "$(cat "$SERVICES_DIR/mariadb/pid")" 2>/dev/null || true; fi
  if [ -n "$PG_BIN" ] && [ -d "$SERVICES_DIR/postgres/data" ]; then
    su postgres -c "$PG_BIN/pg_ctl -D $SERVICES_DIR/postgres/data -m fast stop" >/dev/null 2>&1 || true
  fi
  for _ in $(seq 1 100); do
    [ -f "$SERVICES_DIR/mariadb/pid" ] && kill -0 "$(cat "$SERVICES_DIR/mariadb/pid")" 2>/dev/null || break
    sleep 0.1
  done
  rm -rf "$SERVICES_DIR"
  SERVICES_DIR=""
  echo "services: stopped" >&2
}

services_up() {
  ensure_packages "$@"
  SERVICES_DIR=$(mktemp -d /tmp/frontrow-services.XXXXXX)
  trap services_down EXIT
  for s in "$@"; do
    case "$s" in
      redis) start_redis ;;
      mariadb) start_mariadb ;;
      postgres) start_postgres ;;
      redis_cluster)
        start_redis_cluster 3 0 5000
        export FRONTROW_TEST_REDIS_CLUSTER_URLS=$CLUSTER_URLS
        echo "services: redis cluster (3 masters) on $FRONTROW_TEST_REDIS_CLUSTER_URLS" >&2 ;;
      redis_cluster_failover)
        start_redis_cluster 3 1 1000
        export FRONTROW_TEST_REDIS_FAILOVER_URLS=$CLUSTER_URLS
        echo "services: redis cluster (3 masters, 3 replicas) on $FRONTROW_TEST_REDIS_FAILOVER_URLS" >&2 ;;
      *) echo "services: unknown service $s" >&2; return 1 ;;
    esac
  done
}
