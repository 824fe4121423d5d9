//! Errors of the core. `Error` has one variant per thing that can go wrong so that
//! callers (CLI, FFI) can map it to their own, smaller public error types. The
//! protocol's errors (`cunwu_protocol::Error`) arrive here variant for variant; the
//! I/O ones (`Database`, `Network`, `Relay`, `Io`) exist only here, because only the
//! device's store and sync client touch a disk or a socket.

use thiserror::Error;

/// Every failure the core can report. Messages are written for the developer who
/// has to act on them: they say what was wrong and, where it helps, what is allowed.
#[derive(Debug, Error)]
pub enum Error {
    /// An argument failed validation (empty title, negative amount, text too long...).
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The permission policy refused the operation.
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// A workflow transition that the lifecycle does not permit from the current state.
    #[error("invalid transition: {0}")]
    InvalidTransition(String),
    /// No entity with this id in the store.
    #[error("not found: {0}")]
    NotFound(String),
    /// The device has not enrolled in a space yet.
    #[error("this device is not enrolled in a space yet (run enroll with an invite first)")]
    NotEnrolled,
    /// A signature did not verify or a signer is unknown / revoked.
    #[error("signature check failed: {0}")]
    BadSignature(String),
    /// Bytes from outside (wire message, bundle, stored change) could not be decoded.
    #[error("malformed data: {0}")]
    Malformed(String),
    /// A wire message or bundle of a format version we do not speak.
    #[error("unsupported format version {found} (this build reads versions 1 to {supported}; update the app or relay that wrote it)")]
    UnsupportedVersion { found: u8, supported: u8 },
    /// Input beyond a documented bound (inflated size, operations, nesting, text).
    #[error("too large: {0}")]
    TooLarge(String),
    /// The database file is not a Cunwu store or is damaged.
    #[error("database error: {0}")]
    Database(String),
    /// Network failure talking to the relay.
    #[error("network error: {0}")]
    Network(String),
    /// The relay answered with an error status.
    #[error("relay refused the request ({status}): {reason}")]
    Relay { status: u16, reason: String },
    /// A CRDT operation failed.
    #[error("document error: {0}")]
    Document(String),
    /// Filesystem error (bundle files, store directory).
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(
                    f.code,
                    rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt
                ) =>
            {
                Error::Database(format!(
                    "the file is not a valid Cunwu database or is corrupt ({e})"
                ))
            }
            _ => Error::Database(e.to_string()),
        }
    }
}

/// Each protocol variant to the core variant of the same name; the protocol's
/// `Corrupt` (stored bytes that do not load) is the core's `Database`.
impl From<cunwu_protocol::Error> for Error {
    fn from(e: cunwu_protocol::Error) -> Self {
        use cunwu_protocol::Error as P;
        match e {
            P::Invalid(m) => Error::Invalid(m),
            P::NotAllowed(m) => Error::NotAllowed(m),
            P::InvalidTransition(m) => Error::InvalidTransition(m),
            P::NotFound(m) => Error::NotFound(m),
            P::BadSignature(m) => Error::BadSignature(m),
            P::Malformed(m) => Error::Malformed(m),
            P::UnsupportedVersion { found, supported } => {
                Error::UnsupportedVersion { found, supported }
            }
            P::TooLarge(m) => Error::TooLarge(m),
            P::Corrupt(m) => Error::Database(m),
            P::Document(m) => Error::Document(m),
        }
    }
}

impl From<automerge::AutomergeError> for Error {
    fn from(e: automerge::AutomergeError) -> Self {
        Error::Document(e.to_string())
    }
}

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }
    pub fn not_allowed(msg: impl Into<String>) -> Self {
        Error::NotAllowed(msg.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cunwu_protocol::Error as P;

    /// What callers match on (`Error::TooLarge(..)`, ...) and what they print must not
    /// change when an error crosses from the protocol into the core.
    #[test]
    fn a_protocol_error_keeps_its_variant_and_its_message_in_the_core() {
        type Is = fn(&Error) -> bool;
        let m = || "m".to_string();
        let cases: Vec<(P, Is)> = vec![
            (
                P::Invalid(m()),
                |e| matches!(e, Error::Invalid(m) if m == "m"),
            ),
            (
                P::NotAllowed(m()),
                |e| matches!(e, Error::NotAllowed(m) if m == "m"),
            ),
            (
                P::InvalidTransition(m()),
                |e| matches!(e, Error::InvalidTransition(m) if m == "m"),
            ),
            (
                P::NotFound(m()),
                |e| matches!(e, Error::NotFound(m) if m == "m"),
            ),
            (
                P::BadSignature(m()),
                |e| matches!(e, Error::BadSignature(m) if m == "m"),
            ),
            (
                P::Malformed(m()),
                |e| matches!(e, Error::Malformed(m) if m == "m"),
            ),
            (
                P::UnsupportedVersion {
                    found: 9,
                    supported: 3,
                },
                |e| {
                    matches!(
                        e,
                        Error::UnsupportedVersion {
                            found: 9,
                            supported: 3
                        }
                    )
                },
            ),
            (
                P::TooLarge(m()),
                |e| matches!(e, Error::TooLarge(m) if m == "m"),
            ),
            (
                P::Corrupt(m()),
                |e| matches!(e, Error::Database(m) if m == "m"),
            ),
            (
                P::Document(m()),
                |e| matches!(e, Error::Document(m) if m == "m"),
            ),
        ];
        for (p, is) in cases {
            let text = p.to_string();
            let e = Error::from(p);
            assert!(is(&e), "{text:?} became {e:?}");
            assert_eq!(e.to_string(), text, "the message changed on the way");
        }
    }
}
