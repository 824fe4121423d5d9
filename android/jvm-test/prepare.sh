#!/usr/bin/env bash
# Run by Maven (generate-sources): builds what the JVM suite needs and generates the
# Kotlin bindings into target/generated-sources/uniffi.
#   - cunwu-ffi (debug): the library JNA loads from <repo>/target/debug
#   - cunwu-relay (debug): the relay process the tests start, unless CUNWU_RELAY_BIN is set
#   - cunwu (debug CLI): VisibleResultTest compares with it, unless CUNWU_CLI_BIN is set
# CUNWU_NO_BUILD=1 skips cargo when the artifacts exist (scripts/test-bindings.sh
# builds them first).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
if [ -z "${CUNWU_RELAY_BIN:-}" ]; then
  if [ "${CUNWU_NO_BUILD:-0}" != "1" ] || [ ! -x "$target/debug/cunwu-relay" ]; then
    (cd "$root" && cargo build --quiet -p cunwu-relay)
  fi
fi
if [ -z "${CUNWU_CLI_BIN:-}" ]; then
  if [ "${CUNWU_NO_BUILD:-0}" != "1" ] || [ ! -x "$target/debug/cunwu" ]; then
    (cd "$root" && cargo build --quiet -p cunwu-cli)
  fi
fi
"$root/android/generate-kotlin.sh" "$here/target/generated-sources/uniffi"
