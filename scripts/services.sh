#!/usr/bin/env bash
# Throwaway PostgreSQL + Redis for the test suite. See docs/testing.md.
#
#   scripts/services.sh install           ensure postgres (15/16/17), redis-server, jq, faketime,
#                                         prometheus, chromium and firefox-esr are installed
#   scripts/services.sh start DIR         start both under DIR, write DIR/env
#   scripts/services.sh stop DIR          stop both, remove DIR (idempotent)
#   scripts/services.sh run [--] CMD...   start in a temp dir, run CMD with DIR/env exported,
#                                         always stop; exits with CMD's status
#
# Knobs (environment): CRONSTREAM_SERVICES_USER (unprivileged user that runs the
# servers when invoked as root, default cronstream-test), CRONSTREAM_SERVICES_TIMEOUT
# (seconds to wait for readiness, default 60), CRONSTREAM_TEST_PG_BIN and
# CRONSTREAM_TEST_REDIS_SERVER (override binary discovery).
set -euo pipefail

PROG=${0##*/}
MARKER=.cronstream-services
SVC_USER_DEFAULT=cronstream-test
TIMEOUT=${CRONSTREAM_SERVICES_TIMEOUT:-60}
PG_SUPERUSER=postgres
PG_DB=cronstream

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }
usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# ---------------------------------------------------------------- discovery

find_pg_bin() {
  if [ -n "${CRONSTREAM_TEST_PG_BIN:-}" ]; then
    [ -x "$CRONSTREAM_TEST_PG_BIN/postgres" ] || return 1
    printf '%s\n' "$CRONSTREAM_TEST_PG_BIN"
    return 0
  fi
  local v d
  for v in 17 16 15; do
    d=/usr/lib/postgresql/$v/bin
    if [ -x "$d/postgres" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
      printf '%s\n' "$d"
      return 0
    fi
  done
  return 1
}

find_redis_server() {
  if [ -n "${CRONSTREAM_TEST_REDIS_SERVER:-}" ]; then
    [ -x "$CRONSTREAM_TEST_REDIS_SERVER" ] || return 1
    printf '%s\n' "$CRONSTREAM_TEST_REDIS_SERVER"
    return 0
  fi
  local p
  p=$(command -v redis-server 2>/dev/null) || p=/usr/bin/redis-server
  [ -x "$p" ] || return 1
  printf '%s\n' "$p"
}

# ------------------------------------------------------------------ install

# Print "version cluster" of every system cluster that is currently online.
online_clusters() {
  command -v pg_lsclusters >/dev/null 2>&1 || return 0
  pg_lsclusters -h 2>/dev/null | awk '$4 == "online" { print $1, $2 }' || true
}

system_redis_running() {
  local pid
  pid=$(cat /run/redis/redis-server.pid 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

POLICY=/usr/sbin/policy-rc.d
POLICY_BACKUP=

restore_policy() {
  if [ -n "$POLICY_BACKUP" ]; then
    mv -f "$POLICY_BACKUP" "$POLICY"
  else
    rm -f "$POLICY"
  fi
}

cmd_install() {
  local missing=() clusters_before redis_before=0 pkg
  find_pg_bin >/dev/null || missing+=(postgresql)
  find_redis_server >/dev/null || missing+=(redis-server)
  # jq: the docs' grpcurl sessions (docs/api.md), which a test runs, use it.
  command -v jq >/dev/null 2>&1 || missing+=(jq)
  # faketime (libfaketime): the clock-skew test runs one replica minutes off.
  command -v faketime >/dev/null 2>&1 || missing+=(faketime)
  # prometheus: the metrics test scrapes a server with the real thing.
  command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
  # chromium: the dashboard's browser tests drive Debian's build headless.
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  # firefox-esr: the same browser tests in Firefox, driven by Puppeteer over BiDi.
  [ -x /usr/bin/firefox-esr ] || missing+=(firefox-esr)
  [ "${#missing[@]}" -eq 0 ] && return 0

  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to install: ${missing[*]}"
    log "not root: re-running install via sudo"
    exec sudo -- "$0" install
  fi

  log "installing: ${missing[*]}"
  clusters_before=$(online_clusters)
  if system_redis_running; then redis_before=1; fi

  # Refuse every service start while the packages' maintainer scripts run, so
  # Debian's postinst does not bring up the main cluster / redis-server.service.
  if [ -e "$POLICY" ]; then
    POLICY_BACKUP=$(mktemp "$POLICY.cronstream-bak.XXXXXX")
    cp -p "$POLICY" "$POLICY_BACKUP"
  fi
  trap restore_policy EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
  printf '#!/bin/sh\n# temporary, written by cronstream %s\nexit 101\n' "$PROG" >"$POLICY"
  chmod 0755 "$POLICY"

  export DEBIAN_FRONTEND=noninteractive
  local out
  out=$(mktemp)
  if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$out" 2>&1; then
    cat "$out" >&2
    rm -f "$out"
    die "apt-get failed"
  fi
  rm -f "$out"

  restore_policy
  trap - EXIT INT TERM HUP

  # Do not leave the freshly installed system services enabled (at boot) ...
  for pkg in "${missing[@]}"; do
    case "$pkg" in jq | faketime | chromium | firefox-esr) continue ;; esac
    systemctl disable --quiet "$pkg.service" >/dev/null 2>&1 ||
      deb-systemd-helper disable "$pkg.service" >/dev/null 2>&1 || true
    update-rc.d "$pkg" disable >/dev/null 2>&1 || true
  done
  # ... nor running, should something have started them anyway.
  local v c
  while read -r v c; do
    [ -n "$v" ] || continue
    if ! grep -qxF "$v $c" <<<"$clusters_before"; then
      log "stopping system cluster $v/$c started by the package install"
      pg_ctlcluster "$v" "$c" stop || true
    fi
  done < <(online_clusters)
  if [ "$redis_before" -eq 0 ] && system_redis_running; then
    log "stopping system redis-server started by the package install"
    if [ -d /run/systemd/system ]; then
      systemctl stop redis-server.service || true
    else
      kill "$(cat /run/redis/redis-server.pid)" 2>/dev/null || true
    fi
  fi

  find_pg_bin >/dev/null || die "postgres binaries still missing after install"
  find_redis_server >/dev/null || die "redis-server still missing after install"
  log "installed: ${missing[*]}"
}

# -------------------------------------------------------------- primitives

SVC_USER=
setup_user() {
  if [ "$(id -u)" -ne 0 ]; then
    SVC_USER=$(id -un)
    return 0
  fi
  SVC_USER=${CRONSTREAM_SERVICES_USER:-$SVC_USER_DEFAULT}
  id -g "$SVC_USER" >/dev/null 2>&1 && return 0
  # Serialise with concurrent starts: useradd writes passwd before group.
  (
    if command -v flock >/dev/null 2>&1; then
      lockdir=/run/lock
      [ -d "$lockdir" ] && [ -w "$lockdir" ] || lockdir=/tmp
      exec 9>"$lockdir/cronstream-services-useradd.lock"
      flock -w 60 9
    fi
    id -g "$SVC_USER" >/dev/null 2>&1 ||
      useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin --comment "Cronstream test services" "$SVC_USER"
  ) || die "could not create system user $SVC_USER"
  id -g "$SVC_USER" >/dev/null 2>&1 || die "system user $SVC_USER unusable"
}

# as_svc USER CMD...: run CMD as USER (dropping root if we have it).
as_svc() {
  local user=$1
  shift
  if [ "$(id -u)" -ne 0 ]; then
    "$@"
  elif command -v runuser >/dev/null 2>&1; then
    runuser -u "$user" -- "$@"
  else
    setpriv --reuid="$user" --regid="$user" --init-groups -- "$@"
  fi
}

PY_OK=
port_free() {
  local port=$1
  if [ -z "$PY_OK" ]; then
    if python3 -c 'pass' >/dev/null 2>&1; then PY_OK=1; else PY_OK=0; fi
  fi
  if [ "$PY_OK" = 1 ]; then
    python3 - "$port" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
  elif command -v ss >/dev/null 2>&1; then
    [ -z "$(ss -Htan "( sport = :$port )" 2>/dev/null)" ]
  else
    # Last resort: nobody accepts connections there.
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 1; fi
  fi
}

# Random free port below the usual ephemeral range (32768+), never 5432/6379.
pick_port() {
  local avoid=${1:-0} port
  for _ in $(seq 1 100); do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
    [ "$port" -ne "$avoid" ] || continue
    if port_free "$port"; then
      printf '%s\n' "$port"
      return 0
    fi
  done
  die "no free TCP port found on 127.0.0.1"
}

redis_ping() {
  local port=$1 cli
  cli=$(dirname "$REDIS_SERVER")/redis-cli
  [ -x "$cli" ] || cli=$(command -v redis-cli 2>/dev/null || true)
  if [ -n "$cli" ]; then
    [ "$(timeout 3 "$cli" -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]
  else
    (
      exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
      printf 'PING\r\n' >&3
      IFS= read -r -t 2 reply <&3 || exit 1
      [[ $reply == +PONG* ]]
    ) 2>/dev/null
  fi
}

marker_get() { # DIR KEY
  sed -n "s/^$2=//p" "$1/$MARKER" 2>/dev/null | head -n1
}

is_pid_of() { # PID NAME: PID is alive and its command name contains NAME
  local pid=$1 name=$2 comm
  [ -n "$pid" ] && [ "$pid" -gt 1 ] 2>/dev/null || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  [[ $comm == *"$name"* ]]
}

wait_gone() { # PID SECONDS
  local pid=$1 n=$(($2 * 10))
  while [ "$n" -gt 0 ] && kill -0 "$pid" 2>/dev/null; do
    sleep 0.1
    n=$((n - 1))
  done
  ! kill -0 "$pid" 2>/dev/null
}

# -------------------------------------------------------------- start/stop

REDIS_SERVER=
START_OK=0

start_postgres() { # DIR -> sets PG_PORT
  local dir=$1 pg_bin=$2 attempt seen
  install -d -m 0700 -o "$SVC_USER" -g "$(id -g "$SVC_USER")" "$dir/pg" "$dir/run"
  install -m 0644 -o "$SVC_USER" -g "$(id -g "$SVC_USER")" /dev/null "$dir/pg.log"
  chmod 0755 "$dir/run"
  as_svc "$SVC_USER" test -w "$dir/pg" ||
    die "$SVC_USER cannot write $dir/pg (is a parent directory private? use a dir under /tmp)"

  local sock=$dir/run/.s.PGSQL.65535
  [ "${#sock}" -lt 100 ] || die "DIR path too long for a unix socket: $dir"

  (cd "$dir" && as_svc "$SVC_USER" "$pg_bin/initdb" -D "$dir/pg" -U "$PG_SUPERUSER" \
    --auth=trust --encoding=UTF8 --locale=C.UTF-8 --no-sync) >"$dir/initdb.log" 2>&1 ||
    die "initdb failed, see $dir/initdb.log"

  cat >"$dir/pg/pg_hba.conf" <<'EOF'
# written by scripts/services.sh: trust, loopback only
local all         all                trust
host  all         all  127.0.0.1/32  trust
host  all         all  ::1/128       trust
local replication all                trust
host  replication all  127.0.0.1/32  trust
EOF
  chown "$SVC_USER" "$dir/pg/pg_hba.conf"
  printf "\ninclude_if_exists = 'cronstream.conf'\n" >>"$dir/pg/postgresql.conf"

  for attempt in 1 2 3 4 5; do
    seen=$(wc -l <"$dir/pg.log")
    PG_PORT=$(pick_port "${REDIS_PORT:-0}")
    cat >"$dir/pg/cronstream.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$dir/run'
max_connections = 200
EOF
    chown "$SVC_USER" "$dir/pg/cronstream.conf"
    if (cd "$dir" && as_svc "$SVC_USER" "$pg_bin/pg_ctl" start -D "$dir/pg" -l "$dir/pg.log" \
      -w -t "$TIMEOUT" -s) >/dev/null 2>&1; then
      break
    fi
    if tail -n +"$((seen + 1))" "$dir/pg.log" | grep -q 'could not bind\|Address already in use' &&
      [ "$attempt" -lt 5 ]; then
      log "postgres port $PG_PORT taken, retrying"
      as_svc "$SVC_USER" "$pg_bin/pg_ctl" stop -D "$dir/pg" -m immediate -s >/dev/null 2>&1 || true
      continue
    fi
    die "postgres failed to start, see $dir/pg.log"
  done

  local n=$((TIMEOUT * 10))
  until "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U "$PG_SUPERUSER" -d postgres; do
    n=$((n - 1))
    [ "$n" -gt 0 ] || die "postgres not ready after ${TIMEOUT}s, see $dir/pg.log"
    sleep 0.1
  done
  "$pg_bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_SUPERUSER" -O "$PG_SUPERUSER" "$PG_DB" ||
    die "createdb $PG_DB failed"
}

start_redis() { # DIR -> sets REDIS_PORT
  local dir=$1 attempt pid n
  install -d -m 0700 -o "$SVC_USER" -g "$(id -g "$SVC_USER")" "$dir/redis"
  install -m 0644 -o "$SVC_USER" -g "$(id -g "$SVC_USER")" /dev/null "$dir/redis.log"
  for attempt in 1 2 3 4 5; do
    REDIS_PORT=$(pick_port "${PG_PORT:-0}")
    rm -f "$dir/redis/redis.pid"
    : >"$dir/redis.log"
    (cd "$dir/redis" && as_svc "$SVC_USER" "$REDIS_SERVER" \
      --port "$REDIS_PORT" --bind 127.0.0.1 --protected-mode yes \
      --save '' --appendonly no --dir "$dir/redis" \
      --daemonize yes --pidfile "$dir/redis/redis.pid" --logfile "$dir/redis.log") ||
      die "redis-server failed to launch, see $dir/redis.log"
    n=$((TIMEOUT * 10))
    while :; do
      if redis_ping "$REDIS_PORT"; then
        return 0
      fi
      # The daemon logs "pid=N, just started" right after forking; it may die
      # (e.g. port taken) before it ever writes its pidfile.
      pid=$(sed -n 's/.*pid=\([0-9][0-9]*\), just started.*/\1/p' "$dir/redis.log" | tail -n1)
      if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then break; fi
      n=$((n - 1))
      if [ "$n" -le 0 ]; then
        die "redis not ready after ${TIMEOUT}s, see $dir/redis.log"
      fi
      sleep 0.1
    done
    if grep -q 'Address already in use' "$dir/redis.log" && [ "$attempt" -lt 5 ]; then
      log "redis port $REDIS_PORT taken, retrying"
      continue
    fi
    die "redis-server exited, see $dir/redis.log"
  done
}

start_services() { # DIR (absolute, marker already written)
  local dir=$1 pg_bin
  pg_bin=$(find_pg_bin) || die "no PostgreSQL 15/16/17 server binaries; run: $PROG install"
  REDIS_SERVER=$(find_redis_server) || die "no redis-server; run: $PROG install"
  setup_user
  printf 'user=%s\npg_bin=%s\nredis_server=%s\n' "$SVC_USER" "$pg_bin" "$REDIS_SERVER" >>"$dir/$MARKER"

  PG_PORT=
  REDIS_PORT=
  start_postgres "$dir" "$pg_bin"
  start_redis "$dir"

  cat >"$dir/env.tmp" <<EOF
CRONSTREAM_TEST_POSTGRES_URL=postgresql+asyncpg://$PG_SUPERUSER@127.0.0.1:$PG_PORT/$PG_DB
CRONSTREAM_TEST_POSTGRES_DSN=postgresql://$PG_SUPERUSER@127.0.0.1:$PG_PORT/$PG_DB
CRONSTREAM_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
CRONSTREAM_TEST_POSTGRES_PORT=$PG_PORT
CRONSTREAM_TEST_REDIS_PORT=$REDIS_PORT
CRONSTREAM_TEST_REDIS_SERVER=$REDIS_SERVER
CRONSTREAM_TEST_PG_BIN=$pg_bin
EOF
  chmod 0644 "$dir/env.tmp"
  mv -f "$dir/env.tmp" "$dir/env"
  START_OK=1
  log "postgres 127.0.0.1:$PG_PORT (db $PG_DB, user $PG_SUPERUSER), redis 127.0.0.1:$REDIS_PORT"
  log "env: $dir/env"
}

# Stop whatever runs under DIR; never fails.
stop_processes() {
  local dir=$1 user pg_bin pid
  [ -f "$dir/$MARKER" ] || return 0
  user=$(marker_get "$dir" user)
  pg_bin=$(marker_get "$dir" pg_bin)
  [ -n "$user" ] || user=$(id -un)

  if [ -f "$dir/pg/postmaster.pid" ]; then
    pid=$(head -n1 "$dir/pg/postmaster.pid" 2>/dev/null || true)
    if [ -n "$pg_bin" ] && [ -x "$pg_bin/pg_ctl" ]; then
      (cd / && as_svc "$user" "$pg_bin/pg_ctl" stop -D "$dir/pg" -m fast -w -t 30 -s) \
        >/dev/null 2>&1 || true
    fi
    if is_pid_of "$pid" postgres; then
      kill -INT "$pid" 2>/dev/null || true # fast shutdown
      wait_gone "$pid" 15 || { kill -KILL "$pid" 2>/dev/null || true; }
    fi
  fi

  pid=$(cat "$dir/redis/redis.pid" 2>/dev/null || true)
  if is_pid_of "$pid" redis; then
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" 15 || { kill -KILL "$pid" 2>/dev/null || true; wait_gone "$pid" 5 || true; }
  fi
}

remove_dir() {
  local dir=$1
  [ -d "$dir" ] || return 0
  if [ ! -f "$dir/$MARKER" ]; then
    log "warning: $dir was not created by $PROG start; not removing it"
    return 0
  fi
  rm -rf -- "$dir"
}

dump_logs() {
  local dir=$1 f
  for f in "$dir/initdb.log" "$dir/pg.log" "$dir/redis.log"; do
    [ -s "$f" ] || continue
    log "---- last lines of $f"
    tail -n 20 "$f" >&2 || true
  done
}

abs_dir() {
  local d=$1
  case $d in /*) ;; *) d=$PWD/$d ;; esac
  printf '%s\n' "${d%/}"
}

prepare_dir() { # DIR: create (or accept empty), write marker
  local dir=$1
  # It ends up in postgresql.conf and unquoted env values: keep it plain.
  [[ $dir =~ ^[A-Za-z0-9._/+-]+$ ]] || die "DIR must match [A-Za-z0-9._/+-]+: $dir"
  if [ -e "$dir" ]; then
    [ -d "$dir" ] || die "$dir exists and is not a directory"
    [ ! -f "$dir/$MARKER" ] || die "$dir already holds services; run: $PROG stop $dir"
    [ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
  else
    mkdir -p "$dir"
  fi
  chmod 0755 "$dir" # the unprivileged server user must traverse it
  printf 'created=%s\n' "$(date -u +%FT%TZ)" >"$dir/$MARKER"
}

# ------------------------------------------------------------- subcommands

CLEAN_DIR=
CLEAN_REMOVE=0
on_exit() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [ -n "$CLEAN_DIR" ]; then
    if [ "$START_OK" -ne 1 ]; then dump_logs "$CLEAN_DIR"; fi
    stop_processes "$CLEAN_DIR"
    if [ "$CLEAN_REMOVE" -eq 1 ]; then remove_dir "$CLEAN_DIR"; fi
  fi
  exit "$rc"
}

cmd_start() {
  [ $# -eq 1 ] || usage
  local dir
  dir=$(abs_dir "$1")
  prepare_dir "$dir"
  # On failure: kill what was started, keep DIR (logs) for `stop` to remove.
  CLEAN_DIR=$dir
  trap on_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
  start_services "$dir"
  CLEAN_DIR=
  trap - EXIT INT TERM HUP
  printf '%s\n' "$dir/env"
}

cmd_stop() {
  [ $# -eq 1 ] || usage
  local dir
  dir=$(abs_dir "$1")
  stop_processes "$dir"
  remove_dir "$dir"
}

CHILD=
forward() { if [ -n "$CHILD" ]; then kill -"$1" "$CHILD" 2>/dev/null || true; fi; }

cmd_run() {
  [ "${1:-}" != -- ] || shift
  [ $# -ge 1 ] || usage
  local dir rc r2
  dir=$(mktemp -d "${TMPDIR:-/tmp}/cronstream-services.XXXXXX")
  CLEAN_DIR=$dir
  CLEAN_REMOVE=1
  trap on_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
  prepare_dir "$dir"
  start_services "$dir"

  set -a
  # shellcheck disable=SC1091
  . "$dir/env"
  set +a

  # Run CMD in the background so INT/TERM/HUP reach us promptly; forward them.
  # Without job control bash starts background jobs with INT/QUIT ignored and
  # stdin on /dev/null: undo both so CMD behaves as in the foreground (Ctrl-C, pdb).
  trap 'forward INT' INT
  trap 'forward TERM' TERM
  trap 'forward HUP' HUP
  (
    trap - INT QUIT
    exec "$@"
  ) <&0 &
  CHILD=$!
  rc=0
  wait "$CHILD" || rc=$?
  while kill -0 "$CHILD" 2>/dev/null; do
    rc=0
    wait "$CHILD" || rc=$?
  done
  if [ "$rc" -gt 128 ]; then # wait may have been cut short by a trapped signal
    r2=0
    wait "$CHILD" 2>/dev/null || r2=$?
    [ "$r2" -eq 127 ] || rc=$r2
  fi
  exit "$rc" # on_exit stops the services and removes DIR
}

main() {
  [ $# -ge 1 ] || usage
  local sub=$1
  shift
  case $sub in
    install) [ $# -eq 0 ] || usage; cmd_install ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    run) cmd_run "$@" ;;
    -h | --help | help) usage ;;
    *) usage ;;
  esac
}

main "$@"
