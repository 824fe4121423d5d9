#!/usr/bin/env bash
# Generate the Python module for cunwu-ffi from the built library (uniffi library mode).
#
#   bindings/python/generate.sh [OUT_DIR]     (default: bindings/python/generated)
#
# Builds cunwu-ffi (debug) unless CUNWU_NO_BUILD=1, runs the workspace's own uniffi-bindgen (the
# exact uniffi version of the scaffolding), and copies libcunwu_ffi next to the
# generated cunwu_ffi.py, where the module loads it from. Generated code is not
# committed (see .gitignore); the tests run this script themselves.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$here/generated}"
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
  --library "$target/debug/$lib" --language python --out-dir "$out"
cp "$target/debug/$lib" "$out/$lib"
echo "generated $out/cunwu_ffi.py"
