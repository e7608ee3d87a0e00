//! The `log` capability: the connector's log lines, kept with the call.
//!
//! Lines are scrubbed of the call's secrets as they arrive, so a secret never
//! exists in the host's memory as log text. The log is capped per call: a
//! connector that floods it loses the excess, which is counted and reported
//! in one final line, and the call itself goes on.

use std::fmt;

use serde::{Deserialize, Serialize};
use wasmtime::component::HasData;

use crate::runtime::bindings::cube::connector::log::{self as wit, Level};
use crate::runtime::scrub::Secrets;

/// How important a line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        })
    }
}

/// One line of a connector's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub level: LogLevel,
    pub message: String,
}

/// The log of one call.
pub struct CallLog {
    secrets: Secrets,
    max_bytes: usize,
    bytes: usize,
    lines: Vec<LogLine>,
    dropped_lines: usize,
    dropped_bytes: usize,
}

impl CallLog {
    pub fn new(secrets: Secrets, max_bytes: usize) -> Self {
        Self {
            secrets,
            max_bytes,
            bytes: 0,
            lines: Vec::new(),
            dropped_lines: 0,
            dropped_bytes: 0,
        }
    }

    /// Adds a line, scrubbed, unless the log is full. Once one line did not
    /// fit, later ones are dropped too, so the log never has a silent gap.
    pub fn write(&mut self, level: LogLevel, message: &str) {
        if self.dropped_lines > 0 || self.bytes + message.len() > self.max_bytes {
            self.dropped_lines += 1;
            self.dropped_bytes += message.len();
            return;
        }
        self.bytes += message.len();
        let message = self.secrets.scrub(message);
        self.lines.push(LogLine { level, message });
    }

    /// Adds text a WASI program wrote to stdout or stderr, one line per line.
    pub fn write_output(&mut self, level: LogLevel, output: &[u8]) {
        let text = String::from_utf8_lossy(output);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            self.write(level, line);
        }
    }

    /// The lines kept, and a final line saying what was dropped, if anything.
    pub fn finish(mut self) -> Vec<LogLine> {
        if self.dropped_lines > 0 {
            self.lines.push(LogLine {
                level: LogLevel::Warn,
                message: format!(
                    "log limit of {} bytes reached: {} more lines ({} bytes) were dropped",
                    self.max_bytes, self.dropped_lines, self.dropped_bytes
                ),
            });
        }
        self.lines
    }
}

/// Links `cube:connector/log` for stores whose data is `T`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    get: fn(&mut T) -> &mut CallLog,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, LogData>(linker, get)
}

struct LogData;
impl HasData for LogData {
    type Data<'a> = &'a mut CallLog;
}

impl wit::Host for CallLog {
    async fn write(&mut self, level: Level, message: String) {
        let level = match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        CallLog::write(self, level, &message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_scrubbed_and_capped() {
        let mut log = CallLog::new(Secrets::new(["s3cr3t-token"]), 40);
        log.write(LogLevel::Info, "using s3cr3t-token");
        log.write(LogLevel::Info, "this line does not fit in the cap at all");
        log.write(LogLevel::Info, "nor this one");
        let lines = log.finish();
        assert_eq!(lines[0].message, "using [redacted]");
        assert_eq!(lines.len(), 2);
        assert!(lines[1].message.contains("2 more lines"), "{:?}", lines[1]);
    }

    #[test]
    fn output_is_split_into_lines() {
        let mut log = CallLog::new(Secrets::default(), 1024);
        log.write_output(LogLevel::Warn, b"one\n\ntwo\n");
        let lines = log.finish();
        assert_eq!(
            lines.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(),
            ["one", "two"]
        );
    }
}
