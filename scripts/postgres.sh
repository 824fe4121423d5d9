#!/usr/bin/env bash
# A throwaway PostgreSQL server for the relay's PostgreSQL tests, on loopback.
#
#   scripts/postgres.sh start   installs PostgreSQL if missing (apt), creates a cluster in
#                               target/pg (trust auth, port $CUNWU_PG_PORT or 54329),
#                               starts it and prints the URL to use as `--db`
#   scripts/postgres.sh stop    stops it
#
# As root (CI), the server runs as the `postgres` system user that the package creates;
# otherwise as the calling user.
set -euo pipefail
cd "$(dirname "$0")/.."
port="${CUNWU_PG_PORT:-54329}"
dir="$PWD/target/pg"
data="$dir/data"

find_bin() {
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
    done
    command -v pg_ctl >/dev/null 2>&1 && { dirname "$(command -v pg_ctl)"; return 0; }
    return 1
}

as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

case "${1:-}" in
start)
    if ! bin=$(find_bin); then
        echo "installing PostgreSQL (apt)" >&2
        if [ "$(id -u)" = 0 ]; then
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2; }
        else
            sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2
        fi
        bin=$(find_bin)
    fi
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    if [ ! -f "$data/PG_VERSION" ]; then
        as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    if ! as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        # fsync stays on: the relay's durability tests (SIGKILL) are about what it acked
        as_owner "$bin/pg_ctl" -D "$data" -w -t 60 -l "$dir/server.log" \
            -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300" start >&2 \
            || { cat "$dir/server.log" >&2; exit 1; }
    fi
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
stop)
    bin=$(find_bin) || exit 0
    [ -f "$data/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$data" -m fast stop >&2 || true
    ;;
*)
    echo "usage: scripts/postgres.sh start|stop" >&2
    exit 2
    ;;
esac
