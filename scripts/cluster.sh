#!/usr/bin/env bash
# A Steward cluster on one machine, on loopback only: a PostgreSQL primary with a synchronous
# streaming standby, three Steward nodes sharing it, and HAProxy in front checking /readyz.
# The layout is the one docs/cluster.md describes for real machines.
#
#   scripts/cluster.sh start        build Steward if needed, start everything, print the URLs
#   scripts/cluster.sh stop         stop everything this script started, keep nothing
#   scripts/cluster.sh status       what runs, the replication state, each node's readiness
#
# Faults, as the fault suite (internal/cluster) and an operator rehearsing one use them:
#   scripts/cluster.sh node-kill N  kill -9 Steward node N (1-3)
#   scripts/cluster.sh node-start N start node N again
#   scripts/cluster.sh pg-stop-primary   stop the primary at once (pg_ctl -m immediate)
#   scripts/cluster.sh pg-promote        promote the standby to primary
#
# Settings (environment):
#   STEWARD_CLUSTER_DIR   where everything lives (default ${TMPDIR:-/tmp}/steward-cluster)
#   STEWARD_CLUSTER_PORT  first port: primary +0, standby +1, nodes +10..+12, HAProxy +20
#                         (default 15430)
#   STEWARD_BIN           the steward binary (default: go build into the cluster directory)
#   STEWARD_CLUSTER_DB    host:port list the nodes connect to (default both PostgreSQL servers;
#                         the fault suite points it at its own TCP proxies)
#   STEWARD_CLUSTER_NODE_FLAGS  more flags for steward serve (the fault suite: --job-lease 5s)
#   STEWARD_CLUSTER_FSYNC off   PostgreSQL without fsync (faster; a stopped server still keeps
#                         what it acknowledged, a machine crash would not)
#
# PostgreSQL refuses to run as root: under root its servers run as the postgres user.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local PATH="/usr/local/go/bin:$PATH"

dir=${STEWARD_CLUSTER_DIR:-${TMPDIR:-/tmp}/steward-cluster}
base=${STEWARD_CLUSTER_PORT:-15430}
p1=$base p2=$((base + 1)) front=$((base + 20))
node_port() { echo $((base + 9 + $1)); }
dbhosts=${STEWARD_CLUSTER_DB:-127.0.0.1:$p1,127.0.0.1:$p2}
# target_session_attrs=read-write makes a node's new connections skip a server that is still a
# standby, so after a promotion they find the new primary by themselves.
dburl="postgres://steward@$dbhosts/steward?sslmode=disable&target_session_attrs=read-write&connect_timeout=2"
bin=${STEWARD_BIN:-$dir/steward}

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$pgbin" ] || { echo "PostgreSQL binaries not found (apt-get install -y postgresql)" >&2; exit 1; }

# pg runs a PostgreSQL binary as the postgres user when we are root.
pg() {
  local b=$1; shift
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$pgbin/$b" "$@"; else "$pgbin/$b" "$@"; fi
}

pidof_file() { [ -f "$1" ] && head -1 "$1" || true; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

wait_ready() { # url seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$1 did not become ready" >&2
  return 1
}

start_pg() {
  if [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ] && [ ! -f "$dir/.steward-cluster" ]; then
    echo "$dir holds something else: choose an empty STEWARD_CLUSTER_DIR" >&2
    exit 1
  fi
  mkdir -p "$dir"
  chmod 755 "$dir"
  # stop deletes the directory only where this marker says the script made what is in it.
  touch "$dir/.steward-cluster"
  mkdir -p "$dir/pg"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir/pg"
  if [ ! -d "$dir/pg/primary" ]; then
    pg initdb -D "$dir/pg/primary" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/pg/initdb.log"
    # synchronous_commit=on with one named synchronous standby: a commit is acknowledged only
    # once the standby has it, so promoting the standby loses no acknowledged write.
    cat >>"$dir/pg/primary/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $p1
unix_socket_directories = '$dir/pg'
max_connections = 200
wal_level = replica
max_wal_senders = 5
wal_keep_size = '256MB'
hot_standby = on
synchronous_commit = on
synchronous_standby_names = 'standby'
fsync = ${STEWARD_CLUSTER_FSYNC:-on}
EOF
  fi
  pg pg_ctl -D "$dir/pg/primary" -l "$dir/pg/primary.log" -w -t 60 start >/dev/null
  if [ ! -d "$dir/pg/standby" ]; then
    # The database is created while the standby is not yet there to confirm it.
    pg psql -h 127.0.0.1 -p "$p1" -U postgres -qAt -c "ALTER SYSTEM SET synchronous_standby_names = ''" -c "SELECT pg_reload_conf()" >/dev/null
    pg psql -h 127.0.0.1 -p "$p1" -U postgres -qAt -c "CREATE ROLE steward LOGIN" -c "CREATE DATABASE steward OWNER steward" >/dev/null
    pg pg_basebackup -h 127.0.0.1 -p "$p1" -U postgres -D "$dir/pg/standby" -R -X stream --no-sync --checkpoint=fast
    # The standby names itself to the primary and, once promoted, waits for no standby of its
    # own until one is attached again (docs/cluster.md).
    cat >>"$dir/pg/standby/postgresql.auto.conf" <<EOF
primary_conninfo = 'host=127.0.0.1 port=$p1 user=postgres application_name=standby'
port = $p2
synchronous_standby_names = ''
EOF
    pg psql -h 127.0.0.1 -p "$p1" -U postgres -qAt -c "ALTER SYSTEM RESET synchronous_standby_names" -c "SELECT pg_reload_conf()" >/dev/null
  fi
  pg pg_ctl -D "$dir/pg/standby" -l "$dir/pg/standby.log" -w -t 60 start >/dev/null
  local i
  for ((i = 0; i < 300; i++)); do
    [ "$(pg psql -h 127.0.0.1 -p "$p1" -U postgres -qAt -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'")" = sync ] && return 0
    sleep 0.1
  done
  echo "the standby did not become synchronous" >&2
  return 1
}

node_start() {
  local n=$1 port
  port=$(node_port "$n")
  alive "$(pidof_file "$dir/node$n.pid")" && return 0
  # A new process group, so that stopping the cluster never reaches the caller's.
  setsid "$bin" serve --data "$dir/node$n" --db "$dburl" --addr "127.0.0.1:$port" \
    --public-url "http://127.0.0.1:$front" --trusted-proxies 127.0.0.1/32 ${STEWARD_CLUSTER_NODE_FLAGS:-} \
    >>"$dir/node$n.log" 2>&1 </dev/null &
  echo $! >"$dir/node$n.pid"
  wait_ready "http://127.0.0.1:$port/readyz" 60
}

start_nodes() {
  if [ -z "${STEWARD_BIN:-}" ]; then
    go build -o "$bin" ./cmd/steward
  fi
  if [ ! -f "$dir/node1/root.key" ]; then
    # init runs once per database: it creates the keyset and prints the one owner API key.
    "$bin" init --data "$dir/node1" --db "$dburl" >"$dir/init.out"
    grep -o 'stw_[A-Za-z0-9_]*' "$dir/init.out" | head -1 >"$dir/apikey"
    chmod 600 "$dir/apikey" "$dir/init.out"
    for n in 2 3; do
      install -d -m 700 "$dir/node$n"
      install -m 600 "$dir/node1/root.key" "$dir/node$n/root.key"
    done
  fi
  for n in 1 2 3; do node_start "$n"; done
}

start_haproxy() {
  # When no node is ready HAProxy answers itself, as the nodes would: 503 with Retry-After.
  printf 'HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/problem+json\r\nRetry-After: 1\r\nCache-Control: no-store\r\n\r\n{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"no Steward node is ready"}\n' >"$dir/503.http"
  cat >"$dir/haproxy.cfg" <<EOF
global
    maxconn 4096
    pidfile $dir/haproxy.pid
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    # A request that found a node gone (connection refused) goes to another one; nothing was
    # sent, so nothing is repeated.
    retries 2
    option redispatch
    errorfile 503 $dir/503.http
frontend steward
    bind 127.0.0.1:$front
    option forwardfor
    default_backend nodes
backend nodes
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2
EOF
  for n in 1 2 3; do
    echo "    server node$n 127.0.0.1:$(node_port "$n") check" >>"$dir/haproxy.cfg"
  done
  haproxy -q -f "$dir/haproxy.cfg" -D
  wait_ready "http://127.0.0.1:$front/readyz" 30
}

stop_all() {
  local f pid
  if [ -f "$dir/haproxy.pid" ]; then
    pid=$(pidof_file "$dir/haproxy.pid")
    alive "$pid" && kill "$pid"
    rm -f "$dir/haproxy.pid"
  fi
  for n in 1 2 3; do
    pid=$(pidof_file "$dir/node$n.pid")
    alive "$pid" && kill -TERM "$pid"
  done
  for n in 1 2 3; do
    pid=$(pidof_file "$dir/node$n.pid")
    for ((i = 0; i < 200; i++)); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && kill -KILL "$pid"
    rm -f "$dir/node$n.pid"
  done
  for f in standby primary; do
    [ -f "$dir/pg/$f/postmaster.pid" ] && pg pg_ctl -D "$dir/pg/$f" -m fast -w stop >/dev/null 2>&1 || true
  done
  [ -f "$dir/.steward-cluster" ] && rm -rf "$dir"
  return 0
}

status() {
  local pid n
  echo "cluster directory: $dir"
  for f in primary standby; do
    if [ -f "$dir/pg/$f/postmaster.pid" ] && pg pg_ctl -D "$dir/pg/$f" status >/dev/null 2>&1; then
      local port role
      port=$(sed -n 4p "$dir/pg/$f/postmaster.pid")
      role=$(pg psql -h 127.0.0.1 -p "$port" -U postgres -qAt -c "SELECT CASE WHEN pg_is_in_recovery() THEN 'standby' ELSE 'primary' END")
      echo "postgres $f: running on 127.0.0.1:$port as $role"
      [ "$role" = primary ] && pg psql -h 127.0.0.1 -p "$port" -U postgres -qAt -F ' ' \
        -c "SELECT '  replica', application_name, state, sync_state FROM pg_stat_replication"
    else
      echo "postgres $f: stopped"
    fi
  done
  for n in 1 2 3; do
    pid=$(pidof_file "$dir/node$n.pid")
    if alive "$pid"; then
      echo "node$n: pid $pid on 127.0.0.1:$(node_port "$n"), readyz $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(node_port "$n")/readyz")"
    else
      echo "node$n: stopped"
    fi
  done
  pid=$(pidof_file "$dir/haproxy.pid")
  if alive "$pid"; then echo "haproxy: pid $pid on http://127.0.0.1:$front"; else echo "haproxy: stopped"; fi
}

case "${1:-}" in
start)
  start_pg
  start_nodes
  start_haproxy
  echo "Steward: http://127.0.0.1:$front (through HAProxy)"
  echo "owner API key: $dir/apikey"
  echo "PostgreSQL: $dburl"
  ;;
stop) stop_all ;;
status) status ;;
node-kill) kill -KILL "$(pidof_file "$dir/node$2.pid")" ;;
node-start) node_start "$2" ;;
pg-stop-primary) pg pg_ctl -D "$dir/pg/primary" -m immediate -w stop >/dev/null ;;
pg-promote) pg pg_ctl -D "$dir/pg/standby" -w promote >/dev/null ;;
*)
  sed -n 2,27p "$0" | sed 's/^# \{0,1\}//'
  exit 2
  ;;
esac
