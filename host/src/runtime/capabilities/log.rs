//! The `log` capability: the connector's log lines, kept with the call.
//!
//! Lines are scrubbed of the call's secrets as they arrive, so a secret never
//! exists in the host's memory as log text. The log is capped per call, in
//! lines and in bytes of scrubbed text: a connector that floods it loses the
//! excess, which is counted and reported in one final line, and the call
//! itself goes on. Both caps matter: a byte cap alone lets a connector that
//! logs empty lines grow the host's memory by a `LogLine` per call until its
//! deadline.

use std::fmt;

use serde::{Deserialize, Serialize};
use wasmtime::component::HasData;

use super::{CallSetup, Capability};
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
    max_lines: usize,
    bytes: usize,
    lines: Vec<LogLine>,
    dropped_lines: usize,
    dropped_bytes: usize,
}

impl CallLog {
    /// A log that keeps at most `max_lines` lines of at most `max_bytes`
    /// scrubbed text in all.
    pub fn new(secrets: Secrets, max_bytes: usize, max_lines: usize) -> Self {
        Self {
            secrets,
            max_bytes,
            max_lines,
            bytes: 0,
            lines: Vec::new(),
            dropped_lines: 0,
            dropped_bytes: 0,
        }
    }

    /// Adds a line, scrubbed, unless the log is full. Once one line did not
    /// fit, later ones are dropped too, so the log never has a silent gap.
    pub fn write(&mut self, level: LogLevel, message: &str) {
        if self.dropped_lines > 0 || self.lines.len() >= self.max_lines {
            self.drop_line(message.len());
            return;
        }
        // Counted after scrubbing: what is kept is the scrubbed text, and a
        // secret shorter than its replacement makes the line longer.
        let message = self.secrets.scrub(message);
        if self.bytes + message.len() > self.max_bytes {
            self.drop_line(message.len());
            return;
        }
        self.bytes += message.len();
        self.lines.push(LogLine { level, message });
    }

    fn drop_line(&mut self, bytes: usize) {
        self.dropped_lines += 1;
        self.dropped_bytes = self.dropped_bytes.saturating_add(bytes);
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
            let limit = if self.lines.len() >= self.max_lines {
                format!("log limit of {} lines", self.max_lines)
            } else {
                format!("log limit of {} bytes", self.max_bytes)
            };
            self.lines.push(LogLine {
                level: LogLevel::Warn,
                message: format!(
                    "{limit} reached: {} more lines ({} bytes) were dropped",
                    self.dropped_lines, self.dropped_bytes
                ),
            });
        }
        self.lines
    }
}

impl Capability for CallLog {
    fn for_call(setup: &CallSetup<'_>) -> Self {
        let (ctx, limits) = (setup.ctx, &setup.ctx.limits);
        CallLog::new(ctx.secrets.clone(), limits.log_bytes, limits.log_lines)
    }

    fn add_to_linker<T: Send + 'static>(
        linker: &mut wasmtime::component::Linker<T>,
        get: fn(&mut T) -> &mut Self,
    ) -> wasmtime::Result<()> {
        wit::add_to_linker::<T, LogData>(linker, get)
    }
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
        let mut log = CallLog::new(Secrets::new(["s3cr3t-token"]), 40, 100);
        log.write(LogLevel::Info, "using s3cr3t-token");
        log.write(LogLevel::Info, "this line does not fit in the cap at all");
        log.write(LogLevel::Info, "nor this one");
        let lines = log.finish();
        assert_eq!(lines[0].message, "using [redacted]");
        assert_eq!(lines.len(), 2);
        assert!(lines[1].message.contains("2 more lines"), "{:?}", lines[1]);
    }

    #[test]
    fn empty_lines_count_against_the_line_cap() {
        let mut log = CallLog::new(Secrets::default(), 1 << 20, 3);
        for _ in 0..1_000 {
            log.write(LogLevel::Info, "");
        }
        let lines = log.finish();
        assert_eq!(lines.len(), 4, "three kept and the final warning");
        assert_eq!(
            lines[3].message,
            "log limit of 3 lines reached: 997 more lines (0 bytes) were dropped"
        );
    }

    #[test]
    fn the_byte_cap_counts_scrubbed_text() {
        // "abcd" scrubs to "[redacted]": 6 more bytes than the connector wrote.
        let mut log = CallLog::new(Secrets::new(["abcd"]), 12, 100);
        log.write(LogLevel::Info, "abcd");
        log.write(LogLevel::Info, "abcd");
        let lines = log.finish();
        assert_eq!(lines[0].message, "[redacted]");
        assert!(
            lines[1].message.contains("log limit of 12 bytes"),
            "{lines:?}"
        );
    }

    #[test]
    fn output_is_split_into_lines() {
        let mut log = CallLog::new(Secrets::default(), 1024, 100);
        log.write_output(LogLevel::Warn, b"one\n\ntwo\n");
        let lines = log.finish();
        assert_eq!(
            lines.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(),
            ["one", "two"]
        );
    }
}
