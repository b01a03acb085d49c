#!/usr/bin/env bash
# Throwaway PostgreSQL server for tests and CI (Debian 12, no Docker).
#
# Usage: scripts/postgres.sh {start|stop|status|url|reset}
#
#   start   install binaries if needed, initdb on first use, start the server,
#           create the test database; prints the SQLAlchemy URL. Idempotent.
#   stop    fast shutdown (aborts open sessions; fine for a test server).
#   status  exit 0 if running, 3 if not (same convention as pg_ctl status).
#   url     print the SQLAlchemy URL.
#   reset   stop and delete the data directory (next start is a cold start).
#
# Environment:
#   PG_DATA_DIR  data directory        (default /tmp/credit-registry-pg)
#   PG_PORT      TCP port on 127.0.0.1 (default 55432; not 5432, so we never
#                collide with a system cluster the Debian package may start)
#   PG_DATABASE  database to create    (default credit_registry)
#
# We deliberately run our own cluster with pg_ctl instead of the Debian
# service / pg_ctlcluster: it works without systemd (containers, CI runners),
# needs no edits under /etc, and `reset` can throw it away completely.
set -euo pipefail

PG_DATA_DIR="${PG_DATA_DIR:-/tmp/credit-registry-pg}"
PG_PORT="${PG_PORT:-55432}"
PG_DATABASE="${PG_DATABASE:-credit_registry}"
# Bounded waits so a broken server fails CI instead of hanging it.
PG_WAIT_SECONDS="${PG_WAIT_SECONDS:-60}"

PG_USER=postgres   # OS user owning the cluster, and the superuser role name
PG_HOST=127.0.0.1
LOG_FILE="$PG_DATA_DIR/server.log"
# Our settings live in their own file, rewritten on every start, so a change
# of PG_PORT etc. takes effect without a reset and a half-finished first start
# cannot leave a cluster with the stock (port 5432, all-interfaces) config.
CONF_FILE_NAME=credit_registry.conf

die() { echo "postgres.sh: $*" >&2; exit 1; }
log() { echo "postgres.sh: $*" >&2; }

url() {
    echo "postgresql+psycopg://${PG_USER}@${PG_HOST}:${PG_PORT}/${PG_DATABASE}"
}

# Newest installed major version wins (several may coexist after upgrades).
find_bin_dir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -n "$d" && -x "$d/initdb" ]]; then
        echo "$d"
    fi
}

ensure_binaries() {
    PG_BIN="$(find_bin_dir)"
    if [[ -z "$PG_BIN" ]]; then
        [[ $EUID -eq 0 ]] || die "PostgreSQL is not installed and we are not root to apt-get it"
        log "initdb not found under /usr/lib/postgresql/*/bin; installing postgresql"
        # noninteractive: never block CI on a debconf prompt.
        # Note: the package's postinst creates/starts the system cluster on
        # 5432 where it can; we ignore it (different port, different data dir).
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
        PG_BIN="$(find_bin_dir)"
        [[ -n "$PG_BIN" ]] || die "postgresql installed but no initdb in /usr/lib/postgresql/*/bin"
    fi
}

# initdb and pg_ctl refuse to run as root, so as root we drop to the postgres
# OS user. `cd /` first: as root our cwd may be e.g. /root, which postgres
# cannot enter, and initdb/pg_ctl complain about that. When not root (a dev
# running as themselves), the cluster simply belongs to the current user.
# `9>&-`: fd 9 holds our flock (see main); pg_ctl start daemonizes the
# postmaster, which would otherwise inherit fd 9 and keep the lock held for
# the server's whole lifetime, blocking every later stop/start/status.
as_pg() {
    if [[ $EUID -eq 0 ]]; then
        (cd / && runuser -u "$PG_USER" -- "$@") 9>&-
    else
        (cd / && "$@") 9>&-
    fi
}

ensure_os_user() {
    [[ $EUID -eq 0 ]] || return 0
    if ! id -u "$PG_USER" >/dev/null 2>&1; then
        log "creating OS user $PG_USER"
        useradd --system --user-group --home-dir /var/lib/postgresql \
                --shell /bin/bash "$PG_USER"
    fi
}

is_running() {
    # pg_ctl status exits 0 only if a postmaster from *this* data dir is alive
    # (it checks the PID in postmaster.pid), so a stale pid file is not
    # mistaken for a running server.
    [[ -f "$PG_DATA_DIR/PG_VERSION" ]] || return 1
    as_pg "$PG_BIN/pg_ctl" status -D "$PG_DATA_DIR" >/dev/null 2>&1
}

# Unix sockets have a ~107 byte path limit; a long PG_DATA_DIR would make the
# server fail to start with an obscure error, so fall back to /tmp then.
socket_dir() {
    local sock="$PG_DATA_DIR/.s.PGSQL.$PG_PORT"
    if (( ${#sock} < 100 )); then echo "$PG_DATA_DIR"; else echo /tmp; fi
}

init_cluster() {
    if [[ -f "$PG_DATA_DIR/PG_VERSION" ]]; then
        return 0
    fi
    if [[ -d "$PG_DATA_DIR" ]] && [[ -n "$(ls -A "$PG_DATA_DIR")" ]]; then
        # Never rm -rf something we did not create; make the user decide.
        die "$PG_DATA_DIR exists, is not empty and is not a cluster; run '$0 reset' or pick another PG_DATA_DIR"
    fi
    mkdir -p "$PG_DATA_DIR"
    if [[ $EUID -eq 0 ]]; then
        chown "$PG_USER:" "$PG_DATA_DIR"
    fi
    chmod 700 "$PG_DATA_DIR"   # postgres refuses group/world-accessible data dirs
    as_pg test -w "$PG_DATA_DIR" \
        || die "$PG_USER cannot write $PG_DATA_DIR (a parent directory is probably not traversable); pick another PG_DATA_DIR"

    # C.UTF-8 gives deterministic, libc-version-independent sorting while
    # still classifying non-ASCII characters correctly for upper()/ILIKE.
    local locale=C
    if locale -a 2>/dev/null | grep -qix 'c\.utf-\?8'; then
        locale=C.UTF-8
    fi
    log "initdb $PG_DATA_DIR"
    # trust auth: throwaway server bound to loopback only, no secrets needed
    # in test config. --auth covers both local sockets and host 127.0.0.1/::1.
    as_pg "$PG_BIN/initdb" -D "$PG_DATA_DIR" -U "$PG_USER" \
        --auth=trust --encoding=UTF8 --locale="$locale" >/dev/null
    # Pull in our settings file; later settings override the stock ones.
    printf "\ninclude_if_exists = '%s'\n" "$CONF_FILE_NAME" >> "$PG_DATA_DIR/postgresql.conf"
}

write_conf() {
    # Written as the data dir owner so the server can read it.
    as_pg tee "$PG_DATA_DIR/$CONF_FILE_NAME" >/dev/null <<EOF
# Managed by scripts/postgres.sh -- rewritten on every start.
listen_addresses = '$PG_HOST'    # loopback only: trust auth must not be reachable from outside
port = $PG_PORT
unix_socket_directories = '$(socket_dir)'    # not /var/run/postgresql: may not exist, owned by the system cluster
max_connections = 200           # parallel test workers + connection pools
# Durability is pointless for a throwaway test database and fsync dominates
# the cost of the many small transactions tests do; a crash loses data we
# would recreate anyway (worst case: '$0 reset').
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
}

start() {
    ensure_binaries
    ensure_os_user
    if is_running; then
        log "already running from $PG_DATA_DIR"
        # Line 4 of postmaster.pid is the port the live server actually uses;
        # if PG_PORT changed since it started, the URL we print would be wrong.
        local running_port
        running_port=$(sed -n 4p "$PG_DATA_DIR/postmaster.pid")
        if [[ "$running_port" != "$PG_PORT" ]]; then
            die "server from $PG_DATA_DIR is running on port $running_port, not PG_PORT=$PG_PORT; run '$0 stop' first"
        fi
        # It may still be starting or in crash recovery (e.g. started by
        # someone else); wait, bounded, until it accepts connections.
        # (pg_isready answers "rejecting" immediately, so poll it.)
        local deadline=$((SECONDS + PG_WAIT_SECONDS))
        until "$PG_BIN/pg_isready" -q -h "$PG_HOST" -p "$PG_PORT" -t 5; do
            (( SECONDS < deadline )) \
                || die "server is running but not accepting connections (log: $LOG_FILE)"
            sleep 0.5
        done
    else
        init_cluster
        write_conf
        log "starting PostgreSQL ($("$PG_BIN/postgres" --version)) on $PG_HOST:$PG_PORT"
        if ! as_pg "$PG_BIN/pg_ctl" start -D "$PG_DATA_DIR" -l "$LOG_FILE" \
                -w -t "$PG_WAIT_SECONDS" >/dev/null; then
            # The reason (port in use, bad config, ...) is only in the log.
            tail -n 30 "$LOG_FILE" >&2 || true
            die "server failed to start (log: $LOG_FILE)"
        fi
    fi
    ensure_database
    url
}

psql_admin() {
    # -X: ignore any ~/.psqlrc; ON_ERROR_STOP: make SQL errors fail the script.
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" \
        -U "$PG_USER" -d postgres "$@"
}

ensure_database() {
    # The database name goes through a psql variable (:'db' quoting) instead
    # of being pasted into SQL; that only works for SQL read from stdin.
    local exists
    exists=$(echo "SELECT 1 FROM pg_database WHERE datname = :'db'" \
        | psql_admin -tA -v db="$PG_DATABASE")
    if [[ "$exists" != 1 ]]; then
        log "creating database $PG_DATABASE"
        # createdb quotes the identifier itself. Tests create their own
        # scratch databases as role postgres, a superuser, so nothing else
        # is needed to allow CREATE DATABASE.
        "$PG_BIN/createdb" -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" "$PG_DATABASE"
    fi
}

stop() {
    PG_BIN="$(find_bin_dir)"
    if [[ -z "$PG_BIN" ]] || ! is_running; then
        log "not running"
        return 0
    fi
    # -m fast: disconnect sessions instead of waiting for pools to close them.
    as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA_DIR" -m fast -w -t "$PG_WAIT_SECONDS" >/dev/null
    log "stopped"
}

status() {
    PG_BIN="$(find_bin_dir)"
    if [[ -n "$PG_BIN" ]] && is_running; then
        echo "running: $(url) (data: $PG_DATA_DIR)"
        return 0
    fi
    echo "not running (data: $PG_DATA_DIR)"
    return 3
}

reset() {
    stop
    # Guard against a PG_DATA_DIR like "" or "/" turning into rm -rf /.
    case "$PG_DATA_DIR" in
        ""|/|/tmp|/tmp/|/var|/var/lib|"$HOME") die "refusing to delete '$PG_DATA_DIR'" ;;
    esac
    rm -rf -- "$PG_DATA_DIR"
    log "removed $PG_DATA_DIR"
}

main() {
    local cmd="${1:-}"
    case "$cmd" in
        start|stop|status|url|reset) ;;
        *) echo "usage: $0 {start|stop|status|url|reset}" >&2; exit 2 ;;
    esac
    # Serialize concurrent invocations (e.g. several CI jobs or test workers
    # calling `start` at once) so they cannot race on initdb/pg_ctl.
    if [[ "$cmd" != url ]]; then
        exec 9>"${PG_DATA_DIR%/}.lock"
        flock -w "$PG_WAIT_SECONDS" 9 || die "timed out waiting for ${PG_DATA_DIR%/}.lock"
    fi
    "$cmd"
}

main "$@"
