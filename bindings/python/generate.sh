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

# Core's records and enums are uniffi components of their own (cunwu_core.py, one module
# per crate with FFI types). Apps keep one module: cunwu_ffi re-exports every type of
# those modules, under its app name where bindings/app-names.txt gives one (and under
# core's name too).
{
  echo
  echo "# ---- added by bindings/python/generate.sh: core's types, under the names apps use"
  for py in "$out"/*.py; do
    module="$(basename "$py" .py)"
    [ "$module" = cunwu_ffi ] && continue
    echo "import $module as _component"
    echo "for _name in _component.__all__:"
    echo "    if _name not in globals():"
    echo "        globals()[_name] = getattr(_component, _name)"
    echo "        __all__.append(_name)"
  done
  while read -r app core; do
    case "$app" in ''|'#'*) continue ;; esac
    echo "$app = globals()[\"$core\"]"
    echo "__all__.append(\"$app\")"
  done <"$root/bindings/app-names.txt"
} >>"$out/cunwu_ffi.py"
echo "generated $out/cunwu_ffi.py (with $(ls "$out"/*.py | wc -l) modules)"
