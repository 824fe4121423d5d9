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
    /// The relay is too busy right now: 503 with a Retry-After of `RETRY_AFTER_SECS`.
    #[error("{0}")]
    Unavailable(String),
    /// A request body over a limit (413).
    #[error("{0}")]
    TooLarge(String),
    /// A request body that did not arrive in time (408).
    #[error("{0}")]
    Timeout(String),
    #[error("storage: {0}")]
    Storage(String),
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
            RelayError::Counter { .. } => StatusCode::CONFLICT,
            RelayError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            RelayError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            RelayError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            RelayError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<cunwu_protocol::Error> for RelayError {
    fn from(e: cunwu_protocol::Error) -> Self {
        use cunwu_protocol::Error as E;
        match e {
            E::Malformed(_) | E::UnsupportedVersion { .. } | E::Invalid(_) => {
                RelayError::BadRequest(e.to_string())
            }
            E::BadSignature(_) => RelayError::Unauthorized(e.to_string()),
            E::NotAllowed(_) => RelayError::Forbidden(e.to_string()),
            E::NotFound(_) => RelayError::NotFound(e.to_string()),
            E::TooLarge(_) => RelayError::TooLarge(e.to_string()),
            other => RelayError::Storage(other.to_string()),
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
        let body = axum::Json(ErrorBody {
            error: self.to_string(),
            expected_counter,
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
