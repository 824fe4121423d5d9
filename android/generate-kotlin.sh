#!/usr/bin/env bash
# Generate the Kotlin bindings of cunwu-ffi (uniffi library mode).
#
#   android/generate-kotlin.sh [OUT_DIR]   (default: android/cunwu/src/main/kotlin)
#
# The default output is committed: the Gradle module ships these sources, so an app
# build needs no Rust toolchain for Kotlin, only the .so files (build-jni.sh). Run it
# after changing bindings/ and commit the result; scripts/test-bindings.sh fails
# when the committed file differs from a fresh generation.
# The JVM test project (android/jvm-test) generates its own copy into target/.
#
# Builds cunwu-ffi (debug) first unless CUNWU_NO_BUILD=1.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${1:-$here/cunwu/src/main/kotlin}"
target="${CARGO_TARGET_DIR:-$root/target}"
case "$(uname -s)" in
  Darwin) lib="libcunwu_ffi.dylib" ;;
  *) lib="libcunwu_ffi.so" ;;
esac

if [ "${CUNWU_NO_BUILD:-0}" != "1" ] || [ ! -f "$target/debug/$lib" ] || [ ! -x "$target/debug/uniffi-bindgen" ]; then
  (cd "$root" && cargo build --quiet -p cunwu-ffi)
fi
mkdir -p "$out"
"$target/debug/uniffi-bindgen" generate --no-format \
  --library "$target/debug/$lib" --language kotlin --out-dir "$out"
echo "generated $out/org/cunwu/cunwu_ffi.kt"
