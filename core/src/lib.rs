//! cunwu-core: the device side of Cunwu (村务), an offline-first app for village
//! governance. The SQLite store with its projections, bundles and the sync client,
//! built on `cunwu-protocol` (ids, identity, roster, model, document mapping, policy,
//! wire format: what every participant must agree on, with no I/O). No FFI and no
//! HTTP server here; the HTTP client is the default feature `http`.
//!
//! The protocol's modules are re-exported at their old paths (`cunwu_core::model`,
//! `cunwu_core::wire`, ...), so a device-side caller needs only this crate.
//!
//! Start at `store::Store` (what a phone does), `policy` (who may do what) and `wire`
//! (what travels). docs/ARCHITECTURE.md has the whole picture.

pub use cunwu_protocol::{doc, identity, ids, model, policy, roster, wire};

// With the `uniffi` feature the core's records are FFI types of their own component
// (namespace `cunwu_core`; core/uniffi.toml names its Kotlin package); cunwu-ffi uses them.
#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();

// A file path crosses the FFI as its text (`NewRequest::attachments`).
#[cfg(feature = "uniffi")]
use std::path::PathBuf;
#[cfg(feature = "uniffi")]
uniffi::custom_type!(PathBuf, String);

#[cfg(feature = "uniffi")]
impl UniffiCustomTypeConverter for PathBuf {
    type Builtin = String;

    fn into_custom(val: String) -> uniffi::Result<Self> {
        Ok(std::path::PathBuf::from(val))
    }

    fn from_custom(obj: Self) -> String {
        obj.to_string_lossy().into_owned()
    }
}

#[cfg(feature = "http")]
pub mod blobs;
pub mod bundle;
pub mod error;
#[cfg(feature = "testing")]
pub mod local_space;
pub mod store;
pub mod sync;
pub mod words;

pub use cunwu_protocol::Error as ProtocolError;
pub use error::{Error, Result};
pub use model::EntityKind;
pub use roster::{Member, Role, Roster};
pub use store::Store;
