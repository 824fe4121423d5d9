//! The relay's errors, each mapped to one HTTP status with a reason a developer can act on.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cunwu_core::wire::control::ErrorBody;

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
    /// A body beyond a documented bound (413).
    #[error("{0}")]
    TooLarge(String),
    /// The relay cannot do this now; retry later (503).
    #[error("{0}")]
    Unavailable(String),
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
            RelayError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            RelayError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            RelayError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<cunwu_core::Error> for RelayError {
    fn from(e: cunwu_core::Error) -> Self {
        use cunwu_core::Error as E;
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
        (
            status,
            axum::Json(ErrorBody {
                error: self.to_string(),
            }),
        )
            .into_response()
    }
}
