//! Identifiers and time. Ids are lowercase hex strings so they read the same in SQL,
//! JSON, logs and foreign languages. Times are UTC milliseconds since the epoch.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// 16 random bytes as 32 hex characters: entities, members, spaces.
pub fn new_id() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
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
pub fn derived_id(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..16])
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
