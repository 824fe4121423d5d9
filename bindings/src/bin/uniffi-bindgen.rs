//! The uniffi bindings generator, built from the exact uniffi version the FFI crate
//! uses (pinned in the workspace), so generated Kotlin/Swift/Python always match the
//! scaffolding compiled into libcunwu_ffi.

fn main() {
    uniffi::uniffi_bindgen_main()
}
