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

echo "== build (debug, shared by every phase)"
cargo build --workspace --all-targets --locked

echo "== Rust tests"
cargo test --workspace --locked

echo "== relay suites again, on PostgreSQL storage (a throwaway server: scripts/postgres.sh)"
pg_url=$(bash scripts/postgres.sh start)
trap 'bash scripts/postgres.sh stop' EXIT
CUNWU_TEST_POSTGRES="$pg_url" cargo test --locked -p cunwu-tests --test attacks --test network --test hardening_relay --test hardening_store

echo "== bindings: Python (pytest) and Kotlin on the JVM (mvn test)"
bash scripts/test-bindings.sh
