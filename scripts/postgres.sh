#!/usr/bin/env bash
# A throwaway PostgreSQL server for the relay's PostgreSQL tests, on loopback.
#
#   scripts/postgres.sh start   installs PostgreSQL if missing (apt), creates a cluster
#                               (trust auth) in a state directory of this clone, starts
#                               it and prints the URL to use as `--db`
#   scripts/postgres.sh stop    stops it
#
# The state directory is outside the clone: /tmp/cunwu-pg-<user>-<hash of the clone's
# path> ($CUNWU_PG_DIR overrides it). As root (CI) the server runs as the `postgres`
# system user that the package creates, and that user may not be able to enter the
# clone (a clone inside a directory of mode 700); a directory of its own under /tmp it
# can. Each clone gets its own directory and its own port (derived from the same hash;
# $CUNWU_PG_PORT overrides it), so clones side by side do not share a server. Start and
# stop are idempotent and serialised per clone (flock).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ]; then owner=postgres; else owner=$(id -un); fi
hash=$(printf '%s' "$PWD" | sha256sum | cut -c1-12)
dir="${CUNWU_PG_DIR:-${TMPDIR:-/tmp}/cunwu-pg-$owner-$hash}"
port="${CUNWU_PG_PORT:-$((20000 + 0x${hash:0:8} % 10000))}"
data="$dir/data"

find_bin() {
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
    done
    command -v pg_ctl >/dev/null 2>&1 && { dirname "$(command -v pg_ctl)"; return 0; }
    return 1
}

# Run a PostgreSQL program as the server's owner, from a directory it may enter, without
# the lock's descriptor (a server that inherited it would hold the lock while it runs).
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        (cd / && runuser -u postgres -- "$@" 9>&-)
    else
        (cd / && "$@" 9>&-)
    fi
}

# The state directory: created for the owner with mode 700, or, when it exists, a real
# directory (not a link) of that owner; anything else is refused rather than used.
state_dir() {
    if [ ! -e "$dir" ] && [ ! -L "$dir" ]; then
        mkdir -m 700 "$dir"
        [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    fi
    if [ -L "$dir" ] || [ ! -d "$dir" ] || [ "$(stat -c %U "$dir")" != "$owner" ]; then
        echo "postgres.sh: $dir is not a directory owned by $owner; remove it or set CUNWU_PG_DIR" >&2
        exit 1
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
    state_dir
    exec 9>>"$dir/lock"
    flock 9
    if [ ! -f "$data/PG_VERSION" ]; then
        rm -rf "$data"
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
    [ -d "$dir" ] || exit 0
    exec 9>>"$dir/lock"
    flock 9
    if [ -f "$data/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        as_owner "$bin/pg_ctl" -D "$data" -m fast stop >&2
    fi
    ;;
*)
    echo "usage: scripts/postgres.sh start|stop" >&2
    exit 2
    ;;
esac
