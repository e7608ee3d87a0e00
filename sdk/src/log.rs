//! Log lines, stored with the call by the host.
//!
//! The host caps the log's size per call and replaces secret values with
//! `[redacted]`, but log what helps an admin, not payloads.
//!
//! Natively, the lines stay in memory, where
//! [`testing::logs`](crate::testing::logs) reads them.
//!
//! ```
//! cube_connector_sdk::log::info("reading page 2");
//! cube_connector_sdk::info!("read {} users", 42);
//!
//! let logs = cube_connector_sdk::testing::logs();
//! assert_eq!(logs.last(), Some(&("info".to_owned(), "read 42 users".to_owned())));
//! ```

use crate::sys::{self, Level};

/// Logs at trace level: step-by-step detail for the connector's author.
pub fn trace(message: impl AsRef<str>) {
    sys::log_write(Level::Trace, message.as_ref())
}

/// Logs at debug level: detail that helps diagnose a problem.
pub fn debug(message: impl AsRef<str>) {
    sys::log_write(Level::Debug, message.as_ref())
}

/// Logs at info level: progress an admin wants to see (which page was
/// read, how many records it held).
pub fn info(message: impl AsRef<str>) {
    sys::log_write(Level::Info, message.as_ref())
}

/// Logs at warn level: something is off, but the call goes on (a record
/// skipped, and why).
pub fn warn(message: impl AsRef<str>) {
    sys::log_write(Level::Warn, message.as_ref())
}

/// Logs at error level: something failed. Return the failure as an
/// [`Error`](crate::Error) too; the log only explains it.
pub fn error(message: impl AsRef<str>) {
    sys::log_write(Level::Error, message.as_ref())
}

/// `info!("...", args)`: formats and logs at info level.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::info(format!($($arg)*)) };
}

/// `warn!("...", args)`: formats and logs at warn level.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::warn(format!($($arg)*)) };
}

/// `debug!("...", args)`: formats and logs at debug level.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::debug(format!($($arg)*)) };
}

/// `error!("...", args)`: formats and logs at error level.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::error(format!($($arg)*)) };
}
