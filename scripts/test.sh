#!/usr/bin/env bash
# Every test of the project, from a bare machine of this project's kind (Debian with
# Rust, a JDK with Maven, Python 3): the Rust workspace (unit, property, crash,
# migration, relay-process, impaired-network and attack suites), then the Python and
# Kotlin suites of the uniffi bindings against a real relay process.
# One debug build is shared by every phase.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "== build (debug, shared by every phase)"
cargo build --workspace --all-targets --locked

echo "== Rust tests"
cargo test --workspace --locked

echo "== bindings: Python (pytest) and Kotlin on the JVM (mvn test)"
bash scripts/test-bindings.sh
