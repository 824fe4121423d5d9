//! CLI errors and exit codes: 2 for bad input or an operation that is not allowed
//! (the user can fix the command), 1 for every other failure (network, disk, a
//! damaged file). Messages are printed as `cunwu: <message>` on stderr.

use cunwu_core::Error as CoreError;
use std::fmt;

#[derive(Debug)]
pub enum CliError {
    /// Bad input or not allowed: exit 2.
    Usage(String),
    /// Anything else: exit 1.
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
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Failure(m) => f.write_str(m),
            CliError::Core(e) => write!(f, "{e}"),
        }
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
        CliError::Failure(format!("i/o error: {e}"))
    }
}
