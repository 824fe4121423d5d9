#!/usr/bin/env bash
# Build libcunwu_ffi.so (release, stripped) for the Android ABIs into the library
# module's jniLibs, with cargo-ndk.
#
# Needs, once:
#   - the Android NDK (r26 or newer): export ANDROID_NDK_HOME=$ANDROID_HOME/ndk/<version>
#   - cargo install cargo-ndk
#   - rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android
#
#   android/build-jni.sh            all three ABIs
#   ABIS="arm64-v8a" android/build-jni.sh
#   CARGO_PROFILE=mobile android/build-jni.sh   (a size-tuned profile, when the workspace has one)
#
# The Kotlin in cunwu/src/main/kotlin must come from the same bindings/ sources;
# run ./generate-kotlin.sh after changing bindings/.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
abis="${ABIS:-arm64-v8a armeabi-v7a x86_64}"
platform="${ANDROID_PLATFORM:-24}"   # = minSdk of the module
profile="${CARGO_PROFILE:-release}"

if ! cargo ndk --version >/dev/null 2>&1; then
  echo "cargo-ndk is missing: cargo install cargo-ndk" >&2
  exit 1
fi
if [ -z "${ANDROID_NDK_HOME:-}${ANDROID_NDK_ROOT:-}" ]; then
  echo "set ANDROID_NDK_HOME to the NDK (e.g. \$ANDROID_HOME/ndk/27.2.12479018)" >&2
  exit 1
fi

args=()
for abi in $abis; do args+=(-t "$abi"); done
cd "$root"
# The workspace release profile strips symbols and uses thin LTO.
cargo ndk "${args[@]}" --platform "$platform" -o "$here/cunwu/src/main/jniLibs" \
  build --profile "$profile" -p cunwu-ffi --lib --no-default-features
for abi in $abis; do
  so="$here/cunwu/src/main/jniLibs/$abi/libcunwu_ffi.so"
  printf '%-12s %s bytes\n' "$abi" "$(wc -c <"$so")"
done
