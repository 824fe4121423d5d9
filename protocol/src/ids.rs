//! Identifiers and time. Ids are lowercase hex strings so they read the same in SQL,
//! JSON, logs and foreign languages. Times are UTC milliseconds since the epoch.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// The first byte of every derived id (and of no random one): an entity whose id
/// others can compute — a member's ballot, a request's internal notes — can only ever
/// be the kind its derivation names, and no document of another kind can be created
/// under it first (see `policy`, "only the rightful creator can claim an id").
pub const DERIVED_ID_TAG: u8 = 0xd1; // "d1…" in hex: `is_derived`

/// 16 random bytes as 32 hex characters: entities, members, spaces. Never starts
/// with [`DERIVED_ID_TAG`].
pub fn new_id() -> String {
    let mut b = [0u8; 16];
    let mut rng = rand::thread_rng();
    while {
        rng.fill_bytes(&mut b);
        b[0] == DERIVED_ID_TAG
    } {}
    hex::encode(b)
}

/// A short random id for an event inside a document (8 bytes, 16 hex chars).
pub fn new_event_id() -> String {
    let mut b = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// An id derived from other ids, so that every device computes the same one
/// (the internal-notes document of a request, the ballot of a member in a deliberation).
/// It starts with [`DERIVED_ID_TAG`]; the first part names the kind of document.
pub fn derived_id(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    let mut id: [u8; 16] = h.finalize()[..16].try_into().expect("16 bytes");
    id[0] = DERIVED_ID_TAG;
    hex::encode(id)
}

/// Whether `id` has the form of a derived id (a random id never has).
pub fn is_derived(id: &str) -> bool {
    id.len() == 32 && id.starts_with("d1")
}

pub fn is_id(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// Current UTC time in milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub const DAY_MS: i64 = 24 * 3600 * 1000;
