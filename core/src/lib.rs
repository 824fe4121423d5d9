//! cunwu-core: the shared core of Cunwu (村务), an offline-first app for village
//! governance. Domain model, one automerge document per entity, the SQLite store with
//! its projections, the permission policy, device identity, the wire format shared
//! with the relay, bundles and the sync client. No FFI and no HTTP server here.
//!
//! Start at `store::Store` (what a phone does), `policy` (who may do what) and `wire`
//! (what travels). docs/ARCHITECTURE.md has the whole picture.

// With the `uniffi` feature the core's records are FFI types of their own component
// (namespace `cunwu_core`; core/uniffi.toml names its Kotlin package); cunwu-ffi uses them.
#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();

pub mod bundle;
pub mod doc;
pub mod error;
pub mod identity;
pub mod ids;
pub mod local_space;
pub mod model;
pub mod policy;
pub mod roster;
pub mod store;
pub mod sync;
pub mod wire;

pub use error::{Error, Result};
pub use model::EntityKind;
pub use roster::{Member, Role, Roster};
pub use store::Store;
