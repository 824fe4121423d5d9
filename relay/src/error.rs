//! The relay's errors, each mapped to one HTTP status with a reason a developer can act on.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cunwu_protocol::wire::control::ErrorBody;

/// Seconds a client is asked to wait after a 503 (`Retry-After`).
pub const RETRY_AFTER_SECS: u64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooMany(String),
    /// A sync counter the relay will not take (a replay, or one far beyond its
    /// clock): 409, with the lowest counter it will accept in `ErrorBody`.
    #[error("{reason}")]
    Counter { reason: String, expected: u64 },
    /// A control request whose nonce's time is too far from the relay's clock: 409,
    /// with the relay's clock in `ErrorBody::relay_time` (the device signs again).
    #[error("{reason}")]
    Clock { reason: String, relay_time: i64 },
    /// The relay is too busy right now: 503 with a Retry-After of `RETRY_AFTER_SECS`.
    #[error("{0}")]
    Unavailable(String),
    /// A request body over a limit (413).
    #[error("{0}")]
    TooLarge(String),
    /// A request body that did not arrive in time (408).
    #[error("{0}")]
    Timeout(String),
    /// Well-formed input whose content is wrong: a corrupt attachment piece, a piece
    /// list that does not hash to its attachment (422).
    #[error("{0}")]
    Unprocessable(String),
    #[error("storage: {0}")]
    Storage(String),
    /// The relay's database cannot be written (disk full, or read-only): 507. Syncs
    /// that only receive still work; the phones keep their changes.
    #[error("{0}")]
    Full(String),
}

/// What the relay says when its database cannot be written, after the storage's own
/// words (`detail`).
pub fn full(detail: impl std::fmt::Display) -> RelayError {
    RelayError::Full(format!(
        "the relay cannot write its database ({detail}): its disk is full or read-only. \
         Nothing of this request was stored; syncs that only receive still work, and phones keep \
         their changes and send them once the relay's operator has freed space"
    ))
}

impl RelayError {
    pub fn status(&self) -> StatusCode {
        match self {
            RelayError::BadRequest(_) => StatusCode::BAD_REQUEST,
            RelayError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            RelayError::Forbidden(_) => StatusCode::FORBIDDEN,
            RelayError::NotFound(_) => StatusCode::NOT_FOUND,
            RelayError::Conflict(_) => StatusCode::CONFLICT,
            RelayError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            RelayError::Counter { .. } | RelayError::Clock { .. } => StatusCode::CONFLICT,
            RelayError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            RelayError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            RelayError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            RelayError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            RelayError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
            RelayError::Full(_) => StatusCode::INSUFFICIENT_STORAGE,
        }
    }
}

/// Every core error, mapped explicitly (no catch-all): what a request's input caused
/// is a 4xx with the reason, and only the relay's own storage failing is a 5xx. A new
/// core error variant does not compile here until it is given its status.
impl From<cunwu_protocol::Error> for RelayError {
    fn from(e: cunwu_protocol::Error) -> Self {
        use cunwu_protocol::Error as E;
        let msg = e.to_string();
        match e {
            // input that does not decode or validate
            E::Malformed(_) | E::UnsupportedVersion { .. } | E::Invalid(_) => {
                RelayError::BadRequest(msg)
            }
            // a change or operation that does not apply to the document it names
            E::Document(_) => RelayError::BadRequest(msg),
            // who is asking: an unknown device or a signature that does not verify
            E::BadSignature(_) => RelayError::Unauthorized(msg),
            // the policy refused it
            E::NotAllowed(_) => RelayError::Forbidden(msg),
            // the entity's state does not allow it (a refused transition)
            E::InvalidTransition(_) => RelayError::Conflict(msg),
            E::NotFound(_) => RelayError::NotFound(msg),
            E::TooLarge(_) => RelayError::TooLarge(msg),
            // a document stored on the relay does not load: its own storage failed
            E::Corrupt(_) => RelayError::Storage(msg),
        }
    }
}

impl IntoResponse for RelayError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::info!(status = status.as_u16(), reason = %self, "request refused");
        }
        let expected_counter = match &self {
            RelayError::Counter { expected, .. } => Some(*expected),
            _ => None,
        };
        let relay_time = match &self {
            RelayError::Clock { relay_time, .. } => Some(*relay_time),
            _ => None,
        };
        let body = axum::Json(ErrorBody {
            error: self.to_string(),
            expected_counter,
            relay_time,
        });
        match self {
            RelayError::Unavailable(_) => (
                status,
                [(
                    axum::http::header::RETRY_AFTER,
                    RETRY_AFTER_SECS.to_string(),
                )],
                body,
            )
                .into_response(),
            _ => (status, body).into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cunwu_protocol::Error as E;

    #[test]
    fn every_core_error_a_request_can_cause_is_a_4xx() {
        let caused_by_input = [
            E::Invalid("empty title".into()),
            E::NotAllowed("only cadres".into()),
            E::InvalidTransition("submitted → resolved".into()),
            E::NotFound("request".into()),
            E::BadSignature("batch".into()),
            E::Malformed("frame".into()),
            E::UnsupportedVersion {
                found: 9,
                supported: 3,
            },
            E::TooLarge("body".into()),
            E::Document("no event list".into()),
        ];
        for e in caused_by_input {
            let what = format!("{e:?}");
            let status = RelayError::from(e).status();
            assert!(status.is_client_error(), "{what} → {status}");
        }
        assert_eq!(
            RelayError::from(E::InvalidTransition("closed".into())).status(),
            StatusCode::CONFLICT
        );
        // only the relay's own storage failing is a server error
        assert!(RelayError::from(E::Corrupt("stored document".into()))
            .status()
            .is_server_error());
    }
}
