#!/usr/bin/env bash
# The binding suites, each against a real cunwu-relay process:
#   - Python: the generated cunwu_ffi module under pytest (bindings/python)
#   - Kotlin: the generated bindings on the desktop JVM with JNA, JUnit via Maven
#     (android/jvm-test)
# and a check that the committed Android Kotlin (android/cunwu/src/main/kotlin)
# matches a fresh generation. Swift runs on macOS only (ios/, see docs/MOBILE.md).
#
# Expects `cargo build --workspace` to have built target/debug; builds cunwu-ffi and
# cunwu-relay itself when their artifacts are missing (CUNWU_BUILD=1: always).
# Installs pytest with pip when it is missing. Needs: Rust, Python 3, JDK 17, Maven.
# Exits non-zero when any part fails; runs every part regardless.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
lib="$target/debug/libcunwu_ffi.so"
[ "$(uname -s)" = Darwin ] && lib="$target/debug/libcunwu_ffi.dylib"
relay="${CUNWU_RELAY_BIN:-$target/debug/cunwu-relay}"
cli="${CUNWU_CLI_BIN:-$target/debug/cunwu}"

step() { printf '\n== %s\n' "$*"; }
failed=()

step "build (cunwu-ffi, uniffi-bindgen, cunwu-relay, cunwu)"
if [ "${CUNWU_BUILD:-0}" = 1 ] || [ ! -f "$lib" ] || [ ! -x "$target/debug/uniffi-bindgen" ] || [ ! -x "$relay" ] || [ ! -x "$cli" ]; then
  cargo build -p cunwu-ffi -p cunwu-relay -p cunwu-cli || exit 1
else
  echo "using the existing build in $target/debug"
fi
export CUNWU_NO_BUILD=1
export CUNWU_RELAY_BIN="$relay"
export CUNWU_CLI_BIN="$cli"

step "android: committed Kotlin matches the bindings"
fresh="$(mktemp -d)"
trap 'rm -rf "$fresh"' EXIT
android/generate-kotlin.sh "$fresh" >/dev/null
if diff -r -q "$fresh/org/cunwu" android/cunwu/src/main/kotlin/org/cunwu >/dev/null; then
  echo "android/cunwu/src/main/kotlin/org/cunwu is up to date"
else
  echo "android/cunwu/src/main/kotlin is stale: run android/generate-kotlin.sh and commit the result" >&2
  failed+=("android kotlin up to date")
fi

step "python: pytest"
if ! python3 -m pytest --version >/dev/null 2>&1; then
  # pip; on a Debian system Python (PEP 668) a user install, else Debian's package.
  python3 -m pip install --quiet --disable-pip-version-check pytest 2>/dev/null ||
    python3 -m pip install --quiet --disable-pip-version-check --user --break-system-packages pytest 2>/dev/null ||
    { command -v apt-get >/dev/null && apt-get install -y -q python3-pytest >/dev/null; } ||
    failed+=("install pytest")
fi
python3 -m pytest -q -p no:cacheprovider bindings/python || failed+=("pytest")

step "kotlin (JVM): mvn test"
mvn_repo=()
[ -n "${CUNWU_MAVEN_REPO:-}" ] && mvn_repo=(-Dmaven.repo.local="$CUNWU_MAVEN_REPO")
rm -rf android/jvm-test/target/surefire-reports
# JNA loads the library from the same target dir as everything else (CARGO_TARGET_DIR too)
if (cd android/jvm-test && mvn -B -q -Dstyle.color=never -Dcunwu.lib.dir="$target/debug" "${mvn_repo[@]}" test); then
  mvn_ok=1
else
  mvn_ok=0
  failed+=("mvn test")
fi
# Maven -q hides Surefire's summary; count the reports so the log shows what ran.
python3 - android/jvm-test/target/surefire-reports <<'PY' || { [ "$mvn_ok" = 1 ] && failed+=("surefire reports"); }
import sys, pathlib, xml.etree.ElementTree as ET
tests = failures = skipped = 0
for f in pathlib.Path(sys.argv[1]).glob("TEST-*.xml"):
    s = ET.parse(f).getroot()
    tests += int(s.get("tests", 0)); skipped += int(s.get("skipped", 0))
    failures += int(s.get("failures", 0)) + int(s.get("errors", 0))
print(f"kotlin: {tests - failures - skipped} passed, {failures} failed" + (f", {skipped} skipped" if skipped else ""))
sys.exit(0 if tests > 0 else 1)
PY

if [ "${#failed[@]}" -gt 0 ]; then
  printf '\nbinding tests FAILED: %s\n' "${failed[*]}" >&2
  exit 1
fi
printf '\nbinding tests passed\n'
