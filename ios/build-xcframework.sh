#!/usr/bin/env bash
# Build CunwuFFI.xcframework (iOS device, iOS simulator and macOS slices of the
# static library libcunwu_ffi.a) and generate the Swift bindings into Sources/Cunwu.
# Runs on macOS with Xcode and rustup; not on Linux.
#
#   ios/build-xcframework.sh          release build of every slice
#   PROFILE=debug ios/build-xcframework.sh
#
# Then: cd ios && swift test   (the XCTest suite; it starts target/debug/cunwu-relay)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
profile="${PROFILE:-release}"
flag=$([ "$profile" = release ] && echo --release || true)

if [ "$(uname -s)" != Darwin ]; then
  echo "build-xcframework.sh needs macOS with Xcode (xcodebuild, lipo)" >&2
  exit 1
fi

device=aarch64-apple-ios
simulators=(aarch64-apple-ios-sim x86_64-apple-ios)
macs=(aarch64-apple-darwin x86_64-apple-darwin)
rustup target add "$device" "${simulators[@]}" "${macs[@]}"

cd "$root"
for t in "$device" "${simulators[@]}" "${macs[@]}"; do
  cargo build $flag -p cunwu-ffi --lib --no-default-features --target "$t"
done
lib() { echo "$target_dir/$1/$profile/libcunwu_ffi.a"; }

work="$here/build"
rm -rf "$work"
mkdir -p "$work/headers" "$work/ios-simulator" "$work/macos" "$work/swift"

# The Swift bindings, C header and module map, from the host library (same sources).
cargo build -p cunwu-ffi
"$target_dir/debug/uniffi-bindgen" generate --no-format \
  --library "$target_dir/debug/libcunwu_ffi.dylib" --language swift --out-dir "$work/swift"
# Three uniffi components (cunwu-ffi, core's records and the protocol's, each crate's
# uniffi.toml): every Swift file goes into the one module Cunwu, every header into the
# framework, one module map for all.
cp "$work/swift/"*.h "$work/headers/"
cat "$work/swift/"*.modulemap >"$work/headers/module.modulemap"
cp "$work/swift/Cunwu.swift" "$here/Sources/Cunwu/Cunwu.swift"
cp "$work/swift/CunwuCore.swift" "$here/Sources/Cunwu/CunwuCore.swift"
cp "$work/swift/CunwuProtocol.swift" "$here/Sources/Cunwu/CunwuProtocol.swift"

lipo -create "$(lib "${simulators[0]}")" "$(lib "${simulators[1]}")" -output "$work/ios-simulator/libcunwu_ffi.a"
lipo -create "$(lib "${macs[0]}")" "$(lib "${macs[1]}")" -output "$work/macos/libcunwu_ffi.a"

rm -rf "$here/CunwuFFI.xcframework"
xcodebuild -create-xcframework \
  -library "$(lib "$device")" -headers "$work/headers" \
  -library "$work/ios-simulator/libcunwu_ffi.a" -headers "$work/headers" \
  -library "$work/macos/libcunwu_ffi.a" -headers "$work/headers" \
  -output "$here/CunwuFFI.xcframework"
echo "built $here/CunwuFFI.xcframework and $here/Sources/Cunwu/Cunwu.swift"
