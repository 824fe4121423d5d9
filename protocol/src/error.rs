//! Errors of the protocol: what can be wrong with an argument, a change, a signature
//! or bytes from outside. Storage, network and filesystem failures are not here (this
//! crate does no I/O): they are `cunwu_core::Error`'s own variants, and core maps each
//! variant below to its same-named variant (`Corrupt` to `Database`).

use thiserror::Error;

/// Every failure the protocol can report. Messages are written for the developer who
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
    /// No entity (or event) with this id.
    #[error("not found: {0}")]
    NotFound(String),
    /// A signature did not verify or a signer is unknown / revoked.
    #[error("signature check failed: {0}")]
    BadSignature(String),
    /// Bytes from outside (wire message, bundle, change) could not be decoded.
    #[error("malformed data: {0}")]
    Malformed(String),
    /// A wire message or bundle of a format version we do not speak.
    #[error("unsupported format version {found} (this build reads versions 1 to {supported}; update the app or relay that wrote it)")]
    UnsupportedVersion { found: u8, supported: u8 },
    /// Input beyond a documented bound (inflated size, operations, nesting, text).
    #[error("too large: {0}")]
    TooLarge(String),
    /// Bytes a device or relay stored itself (a saved document, a stored change) do not
    /// load: its storage is damaged. Core reports it as `Error::Database`.
    #[error("database error: {0}")]
    Corrupt(String),
    /// A CRDT operation failed.
    #[error("document error: {0}")]
    Document(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

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
