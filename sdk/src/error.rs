//! Errors a connector returns, and how they map to the host's retry rules.
//!
//! The host retries [`Error::Unreachable`], [`Error::RateLimited`] and
//! [`Error::Transient`], and never the others. Conversions from this crate's
//! HTTP errors and from `serde_json` pick the right case for you.
//!
//! Messages are shown to admins in the sync log. Write them for a person
//! who knows the remote system but not your code: say what failed and what
//! to check. The host scrubs secret values from them, but do not put
//! secrets in them on purpose.
//!
//! ```
//! use cube_connector_sdk::Error;
//!
//! let err = Error::config("project OPS does not exist; check the project key");
//! assert!(!err.is_retryable(), "a retry would fail the same way");
//! assert!(Error::transient("the search index is rebuilding").is_retryable());
//! ```

pub use crate::types::ConnectorError as Error;
use crate::types::RateLimit;

/// The result of a connector operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The configuration is wrong or incomplete (a missing field, a URL that
    /// is not one, a project that does not exist).
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

    /// The remote system asked to slow down; `retry_after_ms` if it said how
    /// long. HTTP connectors get this from
    /// [`Response::error_for_status`](crate::http::Response::error_for_status).
    pub fn rate_limited(retry_after_ms: Option<u64>, message: impl Into<String>) -> Self {
        Error::RateLimited(RateLimit {
            retry_after_ms,
            message: message.into(),
        })
    }

    /// A failure that may pass on its own (a 5xx, a dropped connection).
    pub fn transient(message: impl Into<String>) -> Self {
        Error::Transient(message.into())
    }

    /// Anything a retry cannot fix (a bug, an unexpected response).
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
