#!/usr/bin/env bash
# A Steward cluster on one machine, on loopback only: a PostgreSQL primary with a synchronous
# streaming standby, three Steward nodes sharing it, and HAProxy in front checking /readyz.
# The layout is the one docs/cluster.md describes for real machines.
#
#   scripts/cluster.sh start        build Steward if needed, start everything, print the URLs
#                                   (says "already running at DIR" when it all runs already)
#   scripts/cluster.sh stop         stop everything this script started, keep nothing
#   scripts/cluster.sh status       what runs, the replication state, each node's readiness
#
# Faults, as the fault suite (internal/cluster) and an operator rehearsing one use them:
#   scripts/cluster.sh node-kill N  kill -9 Steward node N (1-3)
#   scripts/cluster.sh node-start N start node N again
#   scripts/cluster.sh pg-stop-primary   stop the primary at once (pg_ctl -m immediate)
#   scripts/cluster.sh pg-promote        promote the standby to primary
#   scripts/cluster.sh pg-stop-standby   stop the synchronous standby at once (the primary
#                                        then holds every commit until it is back)
#   scripts/cluster.sh pg-start-standby  start the standby again
#
# Settings (environment):
#   STEWARD_CLUSTER_DIR   where everything lives (default ${TMPDIR:-/tmp}/steward-cluster); the
#                         script creates it itself and refuses one that is not its caller's own
#   STEWARD_CLUSTER_PORT  first port: primary +0, standby +1, nodes +10..+12, HAProxy +20
#                         (default 15430)
#   STEWARD_BIN           the steward binary (default: go build into the cluster directory)
#   STEWARD_CLUSTER_DB    host:port list the nodes connect to over TCP (default: both
#                         PostgreSQL servers through their unix sockets in DIR/pg; the fault
#                         suite points it at its own TCP proxies)
#   STEWARD_CLUSTER_NODE_FLAGS  more flags for steward serve (the fault suite: --job-lease 5s)
#   STEWARD_CLUSTER_FSYNC off   PostgreSQL without fsync (on or off; faster; a stopped server still keeps
#                         what it acknowledged, a machine crash would not)
#
# PostgreSQL refuses to run as root: under root its servers run as the postgres user. Every
# connection to them needs a password (scram-sha-256), generated for each cluster: the
# passwords of postgres and steward are in DIR/pgpass, a libpq password file:
#   PGPASSFILE=DIR/pgpass psql -h DIR/pg -p 15430 -U steward steward
# Every connection goes through those sockets, which only PostgreSQL's user (and root) may
# reach: a port on 127.0.0.1 left free by a stopped server can be taken by any local user, who
# would then be sent the passwords.
set -euo pipefail
# Everything this script creates is private from the moment it exists: the owner API key
# (init.out, apikey), the passwords and the nodes' database URL, the logs, HAProxy's files.
umask 077
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local PATH="/usr/local/go/bin:$PATH"
# The nodes read their database URL from DIR/db.url (STEWARD_DB_FILE), never from the command
# line where ps shows it; a STEWARD_DB inherited from the caller would win over the file.
unset STEWARD_DB STEWARD_DB_FILE

usage() { # [what was wrong]
  [ $# = 0 ] || echo "cluster.sh: $*" >&2
  awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2
  exit 2
}
die() {
  echo "cluster.sh: $*" >&2
  exit 1
}

uid=$(id -u)
base=${STEWARD_CLUSTER_PORT:-15430}
[[ $base =~ ^[0-9]+$ ]] && ((base >= 1024 && base <= 65515)) || die "STEWARD_CLUSTER_PORT must be a port from 1024 to 65515"
p1=$base p2=$((base + 1)) front=$((base + 20))
node_port() { echo $((base + 9 + $1)); }
dbhosts=${STEWARD_CLUSTER_DB:-}
[[ $dbhosts =~ ^[][A-Za-z0-9.:,_-]*$ ]] || die "STEWARD_CLUSTER_DB must be a list of host:port"
# target_session_attrs=read-write makes a node's new connections skip a server that is still a
# standby, so after a promotion they find the new primary by themselves.
dbparams="sslmode=disable&target_session_attrs=read-write&connect_timeout=2"
fsync=${STEWARD_CLUSTER_FSYNC:-on}
[[ $fsync =~ ^(on|off)$ ]] || die "STEWARD_CLUSTER_FSYNC must be on or off"
# More flags for the nodes, as words: never expanded as file names.
read -ra nodeflags <<<"${STEWARD_CLUSTER_NODE_FLAGS:-}"

# The cluster directory, with its parent resolved once (cd -P) so that a symbolic link on the
# way cannot be changed under the script afterwards. Its name goes into PostgreSQL's and
# HAProxy's configuration files, hence the plain characters.
dir=${STEWARD_CLUSTER_DIR:-${TMPDIR:-/tmp}/steward-cluster}
dir=${dir%/}
# A symbolic link on the way that another user owns could be pointed elsewhere between two
# runs (a later stop would then act on another cluster of the caller's): refused.
given=$dir
[[ $given = /* ]] || given=$PWD/$given
walked=""
IFS=/ read -ra parts <<<"$given"
for part in "${parts[@]}"; do
  [ -n "$part" ] || continue
  walked=$walked/$part
  if [ -L "$walked" ]; then
    owner=$(stat -c %u -- "$walked")
    [ "$owner" = 0 ] || [ "$owner" = "$(id -u)" ] || die "$walked is a symbolic link of uid $owner: another user could point it elsewhere; choose another STEWARD_CLUSTER_DIR"
  fi
done
name=${dir##*/}
[ -n "$name" ] && [ "$name" != . ] && [ "$name" != .. ] || die "STEWARD_CLUSTER_DIR must name a directory"
case $dir in */*) parent=${dir%/*} ;; *) parent=. ;; esac
parent=$(cd -P -- "${parent:-/}" 2>/dev/null && pwd) || die "the parent directory of $dir does not exist"
dir=${parent%/}/$name
[[ $dir =~ ^[A-Za-z0-9._/+-]+$ ]] || die "$dir: use a STEWARD_CLUSTER_DIR of letters, digits and . _ - + / only"
pgdir=$dir/pg
bin=${STEWARD_BIN:-$dir/steward}
# The nodes' database: both servers through their sockets, unless the fault suite's proxies.
if [ -n "$dbhosts" ]; then
  dbaddr="$dbhosts/steward?$dbparams"
else
  dbaddr="/steward?host=$pgdir,$pgdir&port=$p1,$p2&$dbparams"
fi

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)

# Layout and modes. DIR belongs to the caller. Under root PostgreSQL runs as postgres, which has
# to reach its data in DIR/pg and its replication password file: DIR is then 0710 root:postgres,
# so that postgres may pass through it (but not list it) and nobody else may even do that; as
# anyone else DIR is 0700. DIR/pg (data directories, server logs, unix sockets) is 0700 and
# belongs to the user PostgreSQL runs as; everything else in DIR is the caller's, 0600 or 0700.
# Nobody but the caller can create, rename or replace anything in DIR, so the binary it runs,
# the configuration HAProxy reads and the pid files it signals are its own.
if [ "$uid" = 0 ]; then
  pguser=postgres
  id -u postgres >/dev/null 2>&1 || die "under root PostgreSQL runs as the postgres user, which does not exist (apt-get install -y postgresql)"
  dirmode=710 dirgroup=$(id -g postgres)
else
  pguser=$(id -un)
  dirmode=700 dirgroup=$(id -g)
fi

# as_pg runs a command as the user PostgreSQL runs as; pg runs a PostgreSQL binary so.
as_pg() {
  if [ "$uid" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
pg() {
  local b=$1
  shift
  as_pg "$pgbin/$b" "$@"
}
# psql_su runs psql as the caller, as the PostgreSQL superuser through the private socket with
# the password.
psql_su() {
  PGPASSFILE=$dir/pgpass PGCONNECT_TIMEOUT=5 "$pgbin/psql" -X -w -h "$pgdir" -U postgres -d postgres -qAt "$@"
}

# safe_parents refuses a cluster directory another user could rename or replace: every
# directory above it must be root's or the caller's, and writable by nobody else unless sticky
# (as /tmp is, where others may create names but not rename or delete the caller's).
safe_parents() {
  local p=$parent owner mode
  while :; do
    read -r owner mode < <(stat -c '%u %a' -- "$p")
    [ "$owner" = 0 ] || [ "$owner" = "$uid" ] || die "$p belongs to uid $owner: another user could replace $dir; choose another STEWARD_CLUSTER_DIR"
    if (((8#$mode & 8#022) != 0 && (8#$mode & 8#1000) == 0)); then
      die "$p is writable by other users and not sticky: another user could replace $dir; choose another STEWARD_CLUSTER_DIR"
    fi
    [ "$p" = / ] && break
    p=$(dirname -- "$p")
  done
}

# check_dir accepts an existing cluster directory only when it is a real directory (not a
# symbolic link) of the caller's that no one else can write, made by this script, and with a
# DIR/pg of the right owner.
check_dir() {
  local owner mode
  [ ! -L "$dir" ] || die "$dir is a symbolic link: refusing it (remove it, or choose another STEWARD_CLUSTER_DIR)"
  [ -d "$dir" ] || die "$dir exists and is not a directory"
  read -r owner mode < <(stat -c '%u %a' -- "$dir")
  [ "$owner" = "$uid" ] || die "$dir belongs to uid $owner, not to you: refusing it (remove it, or choose another STEWARD_CLUSTER_DIR)"
  (((8#$mode & 8#022) == 0)) || die "$dir is writable by other users (mode $mode): refusing it (remove it, or choose another STEWARD_CLUSTER_DIR)"
  if [ ! -f "$dir/.steward-cluster" ] && [ -n "$(ls -A -- "$dir")" ]; then
    die "$dir holds something else: choose an empty STEWARD_CLUSTER_DIR"
  fi
  if [ -e "$pgdir" ] || [ -L "$pgdir" ]; then
    [ ! -L "$pgdir" ] && [ -d "$pgdir" ] || die "$pgdir is not a directory: refusing $dir"
    [ "$(stat -c %U -- "$pgdir")" = "$pguser" ] || die "$pgdir does not belong to $pguser: refusing $dir"
  fi
}

# make_dir creates the cluster directory (mkdir fails if someone made it in the meantime) or
# takes the existing one check_dir accepted, with the modes above.
make_dir() {
  if [ -e "$dir" ] || [ -L "$dir" ]; then
    check_dir
  else
    mkdir -m 700 -- "$dir" || die "cannot create $dir"
  fi
  chgrp -h "$dirgroup" "$dir"
  chmod "$dirmode" "$dir"
  # stop deletes the directory only where this marker says the script made what is in it.
  touch "$dir/.steward-cluster"
  if [ ! -d "$pgdir" ]; then
    mkdir -m 700 "$pgdir"
    chown -h "$pguser:" "$pgdir"
  fi
}

# Pid files hold the pid and the process's start time (/proc/PID/stat, field 22), so that a
# pid the kernel has given to another process since is never signalled.
proc_start() {
  local stat f
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  read -ra f <<<"${stat##*) }"
  [ "${f[0]}" != Z ] && echo "${f[19]:-}"
  return 0
}
record_pid() { echo "$2 $(proc_start "$2")" >"$1"; }
# our_pid prints the pid in a pid file when that process still runs and is the one started.
our_pid() {
  local pid start
  [ -f "$1" ] || return 1
  read -r pid start <"$1" || true
  [[ ${pid:-} =~ ^[0-9]+$ ]] && [ -n "${start:-}" ] && [ "$(proc_start "$pid")" = "$start" ] || return 1
  echo "$pid"
}

# owns_port says whether process pid itself listens on 127.0.0.1:port (or on every address):
# a port another local user took meanwhile answers readiness checks just as well.
owns_port() { # pid port
  local hex inode
  hex=$(printf '%04X' "$2")
  for inode in $(awk -v p="$hex" '$4 == "0A" && ($2 == "0100007F:" p || $2 == "00000000:" p) { print $10 }' /proc/net/tcp); do
    ls -l "/proc/$1/fd" 2>/dev/null | grep -q "socket:\[$inode\]" && return 0
  done
  return 1
}

wait_ready() { # url seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$1 did not become ready" >&2
  return 1
}

pg_running() { [ -f "$pgdir/$1/postmaster.pid" ] && pg pg_ctl -D "$pgdir/$1" status >/dev/null 2>&1; }

# parts_running counts what runs of the 6 parts: two PostgreSQL servers, three nodes, HAProxy.
parts_running() {
  local n=0 f
  [ -d "$dir" ] || { echo 0; return; }
  for f in primary standby; do pg_running "$f" && n=$((n + 1)); done
  for f in node1 node2 node3 haproxy; do our_pid "$dir/$f.pid" >/dev/null && n=$((n + 1)); done
  echo "$n"
}

newpw() { od -An -tx1 -N24 /dev/urandom | tr -d ' \n'; }

start_pg() {
  if [ ! -d "$pgdir/primary" ]; then
    local supw stpw replpw
    supw=$(newpw) stpw=$(newpw) replpw=$(newpw)
    # The caller's password file (postgres, steward), the one PostgreSQL's user reads for
    # replication, and the nodes' URL: each 0600. The passwords go to PostgreSQL through files
    # and stdin only, never through a command line.
    printf '*:*:*:postgres:%s\n*:*:*:steward:%s\n' "$supw" "$stpw" >"$dir/pgpass"
    printf '*:*:*:replicator:%s\n' "$replpw" >"$dir/replication.pgpass"
    chown -h "$pguser:" "$dir/replication.pgpass"
    printf 'postgres://steward:%s@%s\n' "$stpw" "$dbaddr" >"$dir/db.url"
    printf '%s\n' "$supw" >"$dir/initdb.pw"
    chown -h "$pguser:" "$dir/initdb.pw"
    pg initdb -D "$pgdir/primary" -U postgres --pwfile="$dir/initdb.pw" -A scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log"
    rm -f "$dir/initdb.pw"
    # synchronous_commit=on with one named synchronous standby: a commit is acknowledged only
    # once the standby has it, so promoting the standby loses no acknowledged write.
    # wal_log_hints lets pg_rewind turn the old primary into a standby after a failover.
    # The unix sockets are in DIR/pg, which only PostgreSQL's user may enter.
    as_pg tee -a "$pgdir/primary/postgresql.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $p1
unix_socket_directories = '$pgdir'
unix_socket_permissions = 0700
password_encryption = 'scram-sha-256'
max_connections = 200
wal_level = replica
wal_log_hints = on
max_wal_senders = 5
wal_keep_size = '256MB'
hot_standby = on
synchronous_commit = on
synchronous_standby_names = 'standby'
fsync = $fsync
EOF
  fi
  pg pg_ctl -D "$pgdir/primary" -l "$pgdir/primary.log" -w -t 60 start >/dev/null
  if [ ! -d "$pgdir/standby" ]; then
    local stpw replpw
    stpw=$(sed -n 's/^\*:\*:\*:steward://p' "$dir/pgpass")
    replpw=$(sed -n 's/^\*:\*:\*:replicator://p' "$dir/replication.pgpass")
    [[ $stpw =~ ^[0-9a-f]{48}$ && $replpw =~ ^[0-9a-f]{48}$ ]] || die "the password files in $dir are not the ones this script wrote"
    # The database is created while the standby is not yet there to confirm it.
    printf '%s;\n' "ALTER SYSTEM SET synchronous_standby_names = ''" "SELECT pg_reload_conf()" \
      "CREATE ROLE steward LOGIN PASSWORD '$stpw'" "CREATE DATABASE steward OWNER steward" \
      "CREATE ROLE replicator REPLICATION LOGIN PASSWORD '$replpw'" | psql_su -p "$p1" -v ON_ERROR_STOP=1 -f - >/dev/null
    as_pg env PGPASSFILE="$dir/replication.pgpass" "$pgbin/pg_basebackup" -w -h "$pgdir" -p "$p1" -U replicator \
      -D "$pgdir/standby" -X stream --no-sync --checkpoint=fast
    # The standby names itself to the primary, authenticates with the password file, and, once
    # promoted, waits for no standby of its own until one is attached again (docs/cluster.md).
    as_pg tee -a "$pgdir/standby/postgresql.auto.conf" >/dev/null <<EOF
primary_conninfo = 'host=''$pgdir'' port=$p1 user=replicator passfile=''$dir/replication.pgpass'' application_name=standby'
port = $p2
synchronous_standby_names = ''
EOF
    as_pg touch "$pgdir/standby/standby.signal"
    printf '%s;\n' "ALTER SYSTEM RESET synchronous_standby_names" "SELECT pg_reload_conf()" | psql_su -v ON_ERROR_STOP=1 -p "$p1" -f - >/dev/null
  fi
  pg pg_ctl -D "$pgdir/standby" -l "$pgdir/standby.log" -w -t 60 start >/dev/null
  local i
  for ((i = 0; i < 300; i++)); do
    [ "$(psql_su -p "$p1" -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'")" = sync ] && return 0
    sleep 0.1
  done
  echo "the standby did not become synchronous" >&2
  return 1
}

node_start() {
  local n=$1 port pid
  port=$(node_port "$n")
  our_pid "$dir/node$n.pid" >/dev/null && return 0
  # A new process group, so that stopping the cluster never reaches the caller's.
  STEWARD_DB_FILE=$dir/db.url setsid "$bin" serve --data "$dir/node$n" --addr "127.0.0.1:$port" \
    --public-url "http://127.0.0.1:$front" --trusted-proxies 127.0.0.1/32 "${nodeflags[@]}" \
    >>"$dir/node$n.log" 2>&1 </dev/null &
  pid=$!
  record_pid "$dir/node$n.pid" "$pid"
  wait_ready "http://127.0.0.1:$port/readyz" 60
  owns_port "$pid" "$port" || die "127.0.0.1:$port answers, but node $n (pid $pid) does not listen there: another process took the port (see $dir/node$n.log)"
}

start_nodes() {
  if [ -z "${STEWARD_BIN:-}" ]; then
    go build -o "$bin" ./cmd/steward
  fi
  if [ ! -f "$dir/node1/root.key" ]; then
    # init runs once per database: it creates the keyset and prints the one owner API key.
    STEWARD_DB_FILE=$dir/db.url "$bin" init --data "$dir/node1" >"$dir/init.out"
    grep -o 'stw_[A-Za-z0-9_]*' "$dir/init.out" | head -1 >"$dir/apikey"
    for n in 2 3; do
      install -d -m 700 "$dir/node$n"
      install -m 600 "$dir/node1/root.key" "$dir/node$n/root.key"
    done
  fi
  for n in 1 2 3; do node_start "$n"; done
}

start_haproxy() {
  local pid
  # When no node is ready HAProxy answers itself, as the nodes would: 503 with Retry-After.
  printf 'HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/problem+json\r\nRetry-After: 1\r\nCache-Control: no-store\r\n\r\n{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"no Steward node is ready"}\n' >"$dir/503.http"
  # A request a node did not answer within "timeout server" (its commit held while the
  # synchronous standby is away) may still be stored once the commit is released: the client
  # is told to send it again, which finds its own write (409 with existing_id, a deduplicated
  # messageId) or stores it.
  printf 'HTTP/1.0 504 Gateway Timeout\r\nContent-Type: application/problem+json\r\nRetry-After: 1\r\nCache-Control: no-store\r\n\r\n{"type":"about:blank","title":"Gateway Timeout","status":504,"detail":"the node did not answer in time; the request may or may not have been stored: send it again"}\n' >"$dir/504.http"
  cat >"$dir/haproxy.cfg" <<EOF
global
    maxconn 4096
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
    errorfile 504 $dir/504.http
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
  haproxy -c -q -f "$dir/haproxy.cfg"
  # In the foreground (-db) of a process of its own, so that its pid is the one recorded.
  setsid haproxy -db -f "$dir/haproxy.cfg" >>"$dir/haproxy.log" 2>&1 </dev/null &
  pid=$!
  record_pid "$dir/haproxy.pid" "$pid"
  wait_ready "http://127.0.0.1:$front/readyz" 30
  owns_port "$pid" "$front" || die "127.0.0.1:$front answers, but HAProxy (pid $pid) does not listen there: another process took the port"
}

stop_all() {
  local f pid n i
  if [ ! -e "$dir" ] && [ ! -L "$dir" ]; then
    echo "no cluster at $dir"
    return 0
  fi
  check_dir
  if pid=$(our_pid "$dir/haproxy.pid"); then kill "$pid" 2>/dev/null || true; fi
  for n in 1 2 3; do
    if pid=$(our_pid "$dir/node$n.pid"); then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  for n in 1 2 3; do
    for ((i = 0; i < 200; i++)); do our_pid "$dir/node$n.pid" >/dev/null || break; sleep 0.1; done
    if pid=$(our_pid "$dir/node$n.pid"); then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  for f in standby primary; do
    if [ -f "$pgdir/$f/postmaster.pid" ]; then pg pg_ctl -D "$pgdir/$f" -m fast -w stop >/dev/null 2>&1 || true; fi
  done
  if [ -f "$dir/.steward-cluster" ]; then rm -rf -- "$dir"; fi
  return 0
}

status() {
  local pid n f port role
  echo "cluster directory: $dir"
  for f in primary standby; do
    if pg_running "$f"; then
      port=$p1
      [ "$f" = standby ] && port=$p2
      role=$(psql_su -p "$port" -c "SELECT CASE WHEN pg_is_in_recovery() THEN 'standby' ELSE 'primary' END")
      echo "postgres $f: running on 127.0.0.1:$port as $role"
      [ "$role" = primary ] && psql_su -p "$port" -F ' ' \
        -c "SELECT '  replica', application_name, state, sync_state FROM pg_stat_replication"
    else
      echo "postgres $f: stopped"
    fi
  done
  for n in 1 2 3; do
    if pid=$(our_pid "$dir/node$n.pid"); then
      echo "node$n: pid $pid on 127.0.0.1:$(node_port "$n"), readyz $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(node_port "$n")/readyz")"
    else
      echo "node$n: stopped"
    fi
  done
  if pid=$(our_pid "$dir/haproxy.pid"); then echo "haproxy: pid $pid on http://127.0.0.1:$front"; else echo "haproxy: stopped"; fi
}

print_urls() {
  echo "Steward: http://127.0.0.1:$front (through HAProxy)"
  echo "owner API key: $dir/apikey"
  echo "PostgreSQL: postgres://steward@$dbaddr (password in $dir/pgpass)"
  echo "  psql: PGPASSFILE=$dir/pgpass psql -h $pgdir -p $p1 -U steward steward"
}

start() {
  local running p
  [ -n "$pgbin" ] || die "PostgreSQL binaries not found (apt-get install -y postgresql)"
  command -v haproxy >/dev/null || die "HAProxy not found (apt-get install -y haproxy)"
  safe_parents
  if [ -e "$dir" ] || [ -L "$dir" ]; then check_dir; fi
  running=$(parts_running)
  if [ "$running" = 6 ]; then
    echo "Steward cluster already running at $dir"
    print_urls
    return 0
  elif [ "$running" != 0 ]; then
    die "a cluster is partly running at $dir: scripts/cluster.sh status shows what runs, scripts/cluster.sh stop stops it"
  fi
  for p in "$p1" "$p2" "$(node_port 1)" "$(node_port 2)" "$(node_port 3)" "$front"; do
    if (: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      die "port $p on 127.0.0.1 is in use (another cluster?): stop it, or choose another STEWARD_CLUSTER_PORT"
    fi
  done
  make_dir
  start_pg
  start_nodes
  start_haproxy
  print_urls
}

# existing checks the directory of a cluster the other subcommands act on.
existing() {
  [ -n "$pgbin" ] || die "PostgreSQL binaries not found (apt-get install -y postgresql)"
  [ -e "$dir" ] || [ -L "$dir" ] || die "no cluster at $dir (scripts/cluster.sh start starts one)"
  safe_parents
  check_dir
}

# no_args and node_arg check a subcommand's arguments.
no_args() { [ $# = 1 ] || usage "$1 takes no arguments"; }
node_arg() { [ $# = 2 ] && [[ $2 =~ ^[123]$ ]] || usage "$1 takes the number of a node: 1, 2 or 3"; }

cmd=${1:-}
case $cmd in
start | stop | status | pg-stop-primary | pg-promote | pg-stop-standby | pg-start-standby) no_args "$@" ;;
node-kill | node-start) node_arg "$@" ;;
"") usage ;;
*) usage "unknown subcommand $cmd" ;;
esac
shift
case $cmd in
start) start ;;
stop)
  safe_parents
  stop_all
  ;;
status)
  existing
  status
  ;;
node-kill)
  existing
  pid=$(our_pid "$dir/node$1.pid") || die "node $1 is not running"
  kill -KILL "$pid"
  ;;
node-start)
  existing
  node_start "$1"
  ;;
pg-stop-primary)
  existing
  pg pg_ctl -D "$pgdir/primary" -m immediate -w stop >/dev/null
  ;;
pg-promote)
  existing
  pg pg_ctl -D "$pgdir/standby" -w promote >/dev/null
  ;;
pg-stop-standby)
  existing
  pg pg_ctl -D "$pgdir/standby" -m immediate -w stop >/dev/null
  ;;
pg-start-standby)
  existing
  pg pg_ctl -D "$pgdir/standby" -l "$pgdir/standby.log" -w -t 60 start >/dev/null
  ;;
esac
