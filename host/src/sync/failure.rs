//! Why an attempt (a sync page, a push) failed, and whether another may
//! succeed: one classification for every worker that retries.

use std::time::Duration;

use crate::runtime::{CallError, ConnectorError};

pub(super) struct Failure {
    pub message: String,
    /// `Some(wait the remote asked for)` when retrying may help.
    pub retry: Option<Option<Duration>>,
}

impl Failure {
    pub fn fatal(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retry: None,
        }
    }

    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retry: Some(None),
        }
    }

    /// A database error while `what` (for example "reading the
    /// deletion threshold"): logged with its detail, retried, and told to
    /// the admin without it.
    pub fn database(what: &'static str) -> impl Fn(sqlx::Error) -> Self {
        move |e: sqlx::Error| {
            tracing::error!(error = %e, "database error: {what}");
            Self::retryable(format!("The database failed {what}."))
        }
    }

    /// A failed connector call: rate limits carry their Retry-After,
    /// unreachable and transient errors are retried, the rest are not.
    pub fn of_call(error: &CallError, message: String) -> Self {
        let retry = match error {
            CallError::Connector(ConnectorError::RateLimited { retry_after_ms, .. }) => {
                Some(retry_after_ms.map(Duration::from_millis))
            }
            other if other.is_retryable() => Some(None),
            _ => None,
        };
        Self { message, retry }
    }
}
