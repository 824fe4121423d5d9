#!/usr/bin/env bash
# Every test of the project, from a bare machine of this project's kind (Debian with
# Rust, a JDK with Maven, Python 3): the Rust workspace (unit, property, crash,
# migration, relay-process, impaired-network and attack suites), the relay suites again
# with the relay on PostgreSQL (installed with apt and started on loopback when
# missing), then the Python and Kotlin suites of the uniffi bindings against a real
# relay process.
# One debug build is shared by every phase.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "== format and lints (cargo fmt --check, clippy -D warnings)"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== crate graph: the protocol does no I/O; the relay links no HTTP client, no device core, no automerge of its own"
# `cargo tree` lists each crate of the normal (non-dev) dependency tree; the grep fails
# the run when a forbidden crate appears in it.
forbid() { # crate, cargo tree options, forbidden names (a regex)
    local crate=$1 opts=$2 names=$3 found
    # shellcheck disable=SC2086
    found=$(cargo tree --locked -p "$crate" -e normal --prefix none $opts | cut -d' ' -f1 | grep -xE "$names" | sort -u || true)
    if [ -n "$found" ]; then
        echo "$crate ($opts) must not depend on: $found" >&2
        exit 1
    fi
}
forbid cunwu-protocol "" 'rusqlite|libsqlite3-sys|reqwest|tokio|axum|hyper|postgres'
forbid cunwu-protocol "--all-features" 'rusqlite|libsqlite3-sys|reqwest|tokio|axum|hyper|postgres'
forbid cunwu-relay "" 'reqwest|cunwu-core'
forbid cunwu-relay "--depth 1" 'automerge'
forbid cunwu-core "--no-default-features" 'reqwest|tokio|hyper|axum'
forbid cunwu-cli "--no-default-features" 'cunwu-relay|axum'

echo "== build (debug, shared by every phase)"
cargo build --workspace --all-targets --locked

echo "== Rust tests"
cargo test --workspace --locked

echo "== relay suites again, on PostgreSQL storage (a throwaway server: scripts/postgres.sh)"
pg_url=$(bash scripts/postgres.sh start)
trap 'bash scripts/postgres.sh stop' EXIT
# --workspace: the same feature set as the shared build above (with -p alone cargo
# resolves features for cunwu-tests only and rebuilds core and relay)
CUNWU_TEST_POSTGRES="$pg_url" cargo test --workspace --locked --test attacks --test network --test hardening_relay --test hardening_store --test blobs_relay --test county --test village --test read_index
# and the relay's PostgreSQL storage tests (schema upgrades), skipped without a server
CUNWU_TEST_POSTGRES="$pg_url" cargo test --workspace --locked --lib -- pg::tests

echo "== bindings: Python (pytest) and Kotlin on the JVM (mvn test)"
bash scripts/test-bindings.sh
