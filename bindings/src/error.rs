//! The one public error of the bindings. Core's `Error` has a variant per cause so the
//! relay and CLI can react precisely; an app needs fewer: what to show the person and
//! whether to retry. Each variant carries core's readable message unchanged (e.g.
//! "invalid input: title must not be empty"). It is a flat error, so Kotlin sees
//! `CunwuException.InvalidInput` with that text as `message`, Swift sees
//! `CunwuError.InvalidInput(message:)` and Python `CunwuError.InvalidInput`.

use cunwu_core::Error as Core;

#[derive(Debug, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum CunwuError {
    /// The input was refused: empty or over-long text, an unknown kind, a workflow
    /// step not allowed from the current state (a request that is resolved cannot be
    /// accepted). Show the message; retrying the same input fails the same way.
    #[error("{0}")]
    InvalidInput(String),
    /// This member's role may not do that (a resident posting a notice), or the relay
    /// refused on those grounds (an invite already used, a revoked device).
    #[error("{0}")]
    NotAllowed(String),
    /// No such notice, request, deliberation or member on this device.
    #[error("{0}")]
    NotFound(String),
    /// The device has not joined a space yet: enroll with an invite first.
    #[error("{0}")]
    NotEnrolled(String),
    /// The relay could not be reached, timed out, or is overloaded. Work stays in the
    /// outbox; try again later (WorkManager: `Result.retry()`).
    #[error("{0}")]
    Network(String),
    /// The store file could not be read or written (disk full, not a Cunwu database).
    #[error("{0}")]
    Storage(String),
    /// Data failed its checks (bad signature, malformed or unsupported message) or
    /// an internal failure. Report it; it is not the person's fault.
    #[error("{0}")]
    Internal(String),
}

impl From<Core> for CunwuError {
    fn from(e: Core) -> Self {
        let msg = e.to_string();
        match e {
            Core::Invalid(_) | Core::InvalidTransition(_) | Core::TooLarge(_) => {
                CunwuError::InvalidInput(msg)
            }
            Core::NotAllowed(_) => CunwuError::NotAllowed(msg),
            Core::NotFound(_) => CunwuError::NotFound(msg),
            Core::NotEnrolled => CunwuError::NotEnrolled(msg),
            Core::Network(_) => CunwuError::Network(msg),
            Core::Relay { status, .. } => match status {
                400 | 413 | 422 => CunwuError::InvalidInput(msg),
                401 | 403 | 409 | 410 => CunwuError::NotAllowed(msg),
                404 => CunwuError::NotFound(msg),
                _ => CunwuError::Network(msg),
            },
            Core::Database(_) | Core::Io(_) => CunwuError::Storage(msg),
            Core::BadSignature(_)
            | Core::Malformed(_)
            | Core::UnsupportedVersion { .. }
            | Core::Document(_) => CunwuError::Internal(msg),
        }
    }
}

/// A protocol error (ids, model, wire...) as the core error it maps to.
impl From<cunwu_core::ProtocolError> for CunwuError {
    fn from(e: cunwu_core::ProtocolError) -> Self {
        Core::from(e).into()
    }
}

pub type Result<T, E = CunwuError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    type IsVariant = fn(&CunwuError) -> bool;

    #[test]
    fn core_errors_map_to_few_readable_variants() {
        let cases: Vec<(Core, IsVariant)> = vec![
            (Core::invalid("title must not be empty"), |e| {
                matches!(e, CunwuError::InvalidInput(_))
            }),
            (
                Core::InvalidTransition("resolved cannot become accepted".into()),
                |e| matches!(e, CunwuError::InvalidInput(_)),
            ),
            (Core::not_allowed("only cadres publish notices"), |e| {
                matches!(e, CunwuError::NotAllowed(_))
            }),
            (Core::NotFound("notice 00".into()), |e| {
                matches!(e, CunwuError::NotFound(_))
            }),
            (Core::NotEnrolled, |e| {
                matches!(e, CunwuError::NotEnrolled(_))
            }),
            (Core::Network("connection refused".into()), |e| {
                matches!(e, CunwuError::Network(_))
            }),
            (
                Core::Relay {
                    status: 503,
                    reason: "busy".into(),
                },
                |e| matches!(e, CunwuError::Network(_)),
            ),
            (
                Core::Relay {
                    status: 403,
                    reason: "invite already used".into(),
                },
                |e| matches!(e, CunwuError::NotAllowed(_)),
            ),
            (
                Core::Relay {
                    status: 422,
                    reason: "bad name".into(),
                },
                |e| matches!(e, CunwuError::InvalidInput(_)),
            ),
            (Core::Database("disk full".into()), |e| {
                matches!(e, CunwuError::Storage(_))
            }),
            (Core::BadSignature("roster".into()), |e| {
                matches!(e, CunwuError::Internal(_))
            }),
        ];
        for (core, expected) in cases {
            let text = core.to_string();
            let e = CunwuError::from(core);
            assert!(expected(&e), "{text} became {e:?}");
            assert_eq!(e.to_string(), text, "the message is core's, unchanged");
        }
    }
}
