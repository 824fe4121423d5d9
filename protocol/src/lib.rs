//! cunwu-protocol: what every participant of a Cunwu space must agree on, and nothing
//! that touches a disk, a socket or a clock other than `ids::now_ms`. Ids and time,
//! device identity, the signed roster, the domain model (notices, requests,
//! deliberations, ballots), the mapping between an entity and its automerge document,
//! the permission policy and the wire format.
//!
//! Phones (through `cunwu-core`), the relay and the fuzz targets all link this crate,
//! so a rule judged here is judged the same way everywhere. It does no I/O: no SQLite,
//! no HTTP client or server, no async runtime (scripts/test.sh guards its dependency
//! tree). `doc` is the only module that knows automerge; other crates reach automerge
//! documents through [`doc::EntityDoc`].

// With the `uniffi` feature the protocol's records and enums are FFI types of their own
// component (namespace `cunwu_protocol`; protocol/uniffi.toml names its Kotlin package).
#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();

pub mod doc;
pub mod error;
pub mod identity;
pub mod ids;
pub mod model;
pub mod policy;
pub mod roster;
pub mod wire;

/// A change (automerge's) and its hash, the content address every participant uses.
pub use automerge::{Change, ChangeHash};
pub use error::{Error, Result};
pub use model::EntityKind;
pub use roster::{Member, Role, Roster};
