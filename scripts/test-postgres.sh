#!/usr/bin/env bash
# A throwaway PostgreSQL for the tests, in target/postgres, on 127.0.0.1.
#
#   scripts/test-postgres.sh start   # install if missing, start if stopped; prints the URL
#   scripts/test-postgres.sh url     # prints the URL of the running server
#   scripts/test-postgres.sh stop
#   scripts/test-postgres.sh dump DATABASE_URL   # pg_dump of one test database
#
# Idempotent and safe to call from parallel test processes (flock). Tests
# create a database of their own on this server for each test.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib/test-service.sh
dir="$PWD/target/postgres"
data="$dir/data"
lock_service_dir "$dir"

log() { echo "test-postgres: $*" >&2; }

pg_bin() {
    local bin
    for bin in /usr/lib/postgresql/*/bin; do
        [ -x "$bin/initdb" ] && { echo "$bin"; return 0; }
    done
    command -v initdb >/dev/null && { dirname "$(command -v initdb)"; return 0; }
    return 1
}

install_postgres() {
    install_debian_packages "$dir/apt.log" postgresql
}

# Runs a PostgreSQL program as a user it accepts: initdb and postgres
# refuse to run as root.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

url() {
    echo "postgres://cube@127.0.0.1:$(cat "$dir/port")/postgres"
}

running() {
    local bin
    bin=$(pg_bin) || return 1
    [ -f "$data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1
}

case "${1:-start}" in
start)
    if running; then url; exit 0; fi
    bin=$(pg_bin) || { install_postgres; bin=$(pg_bin); }
    if [ "$(id -u)" -eq 0 ]; then chown -R postgres "$dir"; fi
    if [ ! -f "$data/PG_VERSION" ]; then
        as_owner "$bin/initdb" -D "$data" -U cube --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    port=$(free_port)
    echo "$port" > "$dir/port"
    as_owner "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w \
        -o "-h 127.0.0.1 -p $port -k $data -c fsync=off -c max_connections=200" start >/dev/null 9>&-
    log "PostgreSQL listening on 127.0.0.1:$port"
    url
    ;;
url)
    running || { log "not running; use start"; exit 1; }
    url
    ;;
stop)
    if running; then
        as_owner "$(pg_bin)/pg_ctl" -D "$data" -m fast -w stop >/dev/null
        log "stopped"
    fi
    ;;
dump)
    [ -n "${2:-}" ] || { log "usage: $0 dump DATABASE_URL"; exit 2; }
    exec 9>&-
    "$(pg_bin)/pg_dump" --no-owner --dbname="$2"
    ;;
*)
    echo "usage: $0 start|url|stop|dump DATABASE_URL" >&2
    exit 2
    ;;
esac
