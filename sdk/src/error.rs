//! Errors a connector returns, and how they map to the host's retry rules.
//!
//! The host retries [`Error::Unreachable`], [`Error::RateLimited`] and
//! [`Error::Transient`], and never the others. Conversions from this crate's
//! HTTP errors and from `serde_json` pick the right case for you.

pub use crate::types::ConnectorError as Error;
use crate::types::RateLimit;

/// The result of a connector operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The configuration is wrong or incomplete.
    pub fn config(message: impl Into<String>) -> Self {
        Error::Config(message.into())
    }

    /// The credentials were refused or lack a permission.
    pub fn auth(message: impl Into<String>) -> Self {
        Error::Auth(message.into())
    }

    /// The remote system could not be reached.
    pub fn unreachable(message: impl Into<String>) -> Self {
        Error::Unreachable(message.into())
    }

    /// The remote system asked to slow down; `retry_after_ms` if it said how long.
    pub fn rate_limited(retry_after_ms: Option<u64>, message: impl Into<String>) -> Self {
        Error::RateLimited(RateLimit {
            retry_after_ms,
            message: message.into(),
        })
    }

    /// A failure that may pass on its own.
    pub fn transient(message: impl Into<String>) -> Self {
        Error::Transient(message.into())
    }

    /// Anything a retry cannot fix.
    pub fn fatal(message: impl Into<String>) -> Self {
        Error::Fatal(message.into())
    }

    /// Whether the host will retry this error.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Unreachable(_) | Error::RateLimited(_) | Error::Transient(_)
        )
    }

    /// The error's message, whatever its case.
    pub fn message(&self) -> &str {
        match self {
            Error::Config(m)
            | Error::Auth(m)
            | Error::Unreachable(m)
            | Error::Transient(m)
            | Error::Fatal(m) => m,
            Error::RateLimited(r) => &r.message,
        }
    }
}

impl From<serde_json::Error> for Error {
    /// JSON that does not parse as expected is the remote system's fault
    /// (or ours), never fixed by a retry.
    fn from(error: serde_json::Error) -> Self {
        Error::Fatal(format!("unexpected JSON: {error}"))
    }
}
