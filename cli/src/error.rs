//! CLI errors and exit codes: 2 for bad input or an operation that is not allowed
//! (the user can fix the command), 1 for every other failure (network, disk, a
//! damaged file). A person reads `cunwu: <message>` on stderr, the message from the
//! catalogue in this run's language; with `--json`, stderr holds one object
//! `{"error": {"kind": "<stable id>", "message": "<catalogue text>"}}`. A core error
//! reads as the catalogue sentence for its kind with the core's developer detail
//! (English, as in the logs) after it.

use crate::output::shorten_ids;
use crate::t;
use cunwu_core::Error as CoreError;
use std::fmt;

#[derive(Debug)]
pub enum CliError {
    /// Bad input or not allowed: exit 2. The message is already in the run's language.
    Usage(String),
    /// Anything else: exit 1. The message is already in the run's language.
    Failure(String),
    /// An error from the core, mapped by its kind.
    Core(CoreError),
}

pub type CliResult<T> = Result<T, CliError>;

impl CliError {
    pub fn usage(msg: impl Into<String>) -> CliError {
        CliError::Usage(msg.into())
    }
    pub fn failure(msg: impl Into<String>) -> CliError {
        CliError::Failure(msg.into())
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Failure(_) => 1,
            CliError::Core(e) => match e {
                CoreError::Invalid(_)
                | CoreError::NotAllowed(_)
                | CoreError::InvalidTransition(_)
                | CoreError::NotFound(_)
                | CoreError::NotEnrolled => 2,
                // The relay refused what we asked (bad invite code, not a cadre...).
                CoreError::Relay { status, .. }
                    if (400..500).contains(status) && *status != 429 =>
                {
                    2
                }
                _ => 1,
            },
        }
    }

    /// A stable identifier of what went wrong, for scripts (`--json`): `usage` and
    /// `failure` for the CLI's own checks, else the core error's kind.
    pub fn kind(&self) -> &'static str {
        match self {
            CliError::Usage(_) => "usage",
            CliError::Failure(_) => "failure",
            CliError::Core(e) => match e {
                CoreError::Invalid(_) => "invalid",
                CoreError::NotAllowed(_) => "not_allowed",
                CoreError::InvalidTransition(_) => "invalid_transition",
                CoreError::NotFound(_) => "not_found",
                CoreError::NotEnrolled => "not_enrolled",
                CoreError::BadSignature(_) => "bad_signature",
                CoreError::Malformed(_) => "malformed",
                CoreError::UnsupportedVersion { .. } => "unsupported_version",
                CoreError::TooLarge(_) => "too_large",
                CoreError::Database(_) => "database",
                CoreError::Network(_) => "network",
                CoreError::Relay { .. } => "relay",
                CoreError::Document(_) => "document",
                CoreError::Io(_) => "io",
            },
        }
    }

    /// What a person reads, in the run's language.
    pub fn message(&self) -> String {
        let e = match self {
            CliError::Usage(m) | CliError::Failure(m) => return m.clone(),
            CliError::Core(e) => e,
        };
        let (sentence, detail) = match e {
            CoreError::Invalid(d) => (t!("cli-error-invalid"), d.clone()),
            CoreError::NotAllowed(d) => (t!("cli-error-not-allowed"), d.clone()),
            CoreError::InvalidTransition(d) => (t!("cli-error-invalid-transition"), d.clone()),
            CoreError::NotFound(d) => (t!("cli-error-not-found"), d.clone()),
            CoreError::NotEnrolled => return t!("cli-error-not-enrolled"),
            CoreError::BadSignature(d) => (t!("cli-error-bad-signature"), d.clone()),
            CoreError::Malformed(d) => (t!("cli-error-malformed"), d.clone()),
            CoreError::UnsupportedVersion { found, supported } => {
                return t!(
                    "cli-error-unsupported-version",
                    found = *found,
                    supported = *supported
                )
            }
            CoreError::TooLarge(d) => (t!("cli-error-too-large"), d.clone()),
            CoreError::Database(d) => (t!("cli-error-database"), d.clone()),
            CoreError::Network(d) => (t!("cli-error-network"), d.clone()),
            CoreError::Relay { status, reason } => {
                (t!("cli-error-relay", status = *status), reason.clone())
            }
            CoreError::Document(d) => (t!("cli-error-document"), d.clone()),
            CoreError::Io(err) => (t!("cli-error-io"), err.to_string()),
        };
        if detail.trim().is_empty() {
            sentence
        } else {
            t!(
                "cli-error-with-detail",
                message = sentence,
                detail = shorten_ids(&detail)
            )
        }
    }

    /// The `--json` form on stderr.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "error": { "kind": self.kind(), "message": self.message() } })
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl From<CoreError> for CliError {
    fn from(e: CoreError) -> Self {
        CliError::Core(e)
    }
}

/// A protocol error (ids, model, wire...) is reported as the core error it maps to.
impl From<cunwu_core::ProtocolError> for CliError {
    fn from(e: cunwu_core::ProtocolError) -> Self {
        CliError::Core(e.into())
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Core(CoreError::Io(e))
    }
}
