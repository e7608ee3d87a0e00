//! Per-call limits: what one connector call may consume.
//!
//! Every call runs under a [`Limits`]. The runtime has defaults; an admin can
//! override any of them per integration with a [`LimitOverrides`], within the
//! ceilings the runtime was built with (the pooling allocator reserves memory
//! for the largest allowed instance, so the memory ceiling is fixed at start).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use wasmtime::ResourceLimiter;

/// What one call may consume. Exceeding `deadline` or `memory_bytes` fails the
/// call; the log and HTTP limits fail only the offending operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Wall-clock time for the whole call, host waits included.
    #[serde(with = "millis")]
    pub deadline: Duration,
    /// Linear memory the instance may grow to, per memory.
    pub memory_bytes: usize,
    /// Log text kept per call (scrubbed); what comes after is counted and
    /// dropped.
    pub log_bytes: usize,
    /// Log lines kept per call, however short; what comes after is counted
    /// and dropped.
    #[serde(default = "default_log_lines")]
    pub log_lines: usize,
    /// Largest HTTP response body accepted.
    pub http_response_bytes: usize,
    /// Outbound HTTP requests per call, redirects included.
    pub http_requests: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(30),
            memory_bytes: 64 << 20,
            log_bytes: 256 << 10,
            log_lines: default_log_lines(),
            http_response_bytes: 16 << 20,
            http_requests: 1_000,
        }
    }
}

fn default_log_lines() -> usize {
    10_000
}

/// An admin's per-integration changes to the defaults. Missing fields keep the
/// runtime's default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitOverrides {
    pub deadline_ms: Option<u64>,
    pub memory_bytes: Option<usize>,
    pub log_bytes: Option<usize>,
    pub log_lines: Option<usize>,
    pub http_response_bytes: Option<usize>,
    pub http_requests: Option<u32>,
}

/// An override outside what this runtime can honour.
#[derive(Debug, thiserror::Error)]
#[error("limit `{name}` is {value}, but this host allows at most {max}")]
pub struct LimitError {
    pub name: &'static str,
    pub value: u64,
    pub max: u64,
}

impl Limits {
    /// Applies `overrides` on top of `self`, refusing values above `ceiling`.
    pub fn with_overrides(
        &self,
        overrides: &LimitOverrides,
        ceiling: &Limits,
    ) -> Result<Limits, LimitError> {
        fn pick<T: Copy + Into<u64>>(
            name: &'static str,
            value: Option<T>,
            default: T,
            max: T,
        ) -> Result<T, LimitError> {
            match value {
                Some(v) if v.into() > max.into() => Err(LimitError {
                    name,
                    value: v.into(),
                    max: max.into(),
                }),
                Some(v) => Ok(v),
                None => Ok(default),
            }
        }
        let as_u64 = |v: usize| v as u64;
        let deadline_ms = pick(
            "deadline_ms",
            overrides.deadline_ms,
            self.deadline.as_millis() as u64,
            ceiling.deadline.as_millis() as u64,
        )?;
        Ok(Limits {
            deadline: Duration::from_millis(deadline_ms),
            memory_bytes: pick(
                "memory_bytes",
                overrides.memory_bytes.map(as_u64),
                as_u64(self.memory_bytes),
                as_u64(ceiling.memory_bytes),
            )? as usize,
            log_bytes: pick(
                "log_bytes",
                overrides.log_bytes.map(as_u64),
                as_u64(self.log_bytes),
                as_u64(ceiling.log_bytes),
            )? as usize,
            log_lines: pick(
                "log_lines",
                overrides.log_lines.map(as_u64),
                as_u64(self.log_lines),
                as_u64(ceiling.log_lines),
            )? as usize,
            http_response_bytes: pick(
                "http_response_bytes",
                overrides.http_response_bytes.map(as_u64),
                as_u64(self.http_response_bytes),
                as_u64(ceiling.http_response_bytes),
            )? as usize,
            http_requests: pick(
                "http_requests",
                overrides.http_requests,
                self.http_requests,
                ceiling.http_requests,
            )?,
        })
    }

    /// The largest limits the runtime accepts in overrides.
    pub fn ceiling() -> Limits {
        Limits {
            deadline: Duration::from_secs(15 * 60),
            memory_bytes: 1 << 30,
            log_bytes: 16 << 20,
            log_lines: 1_000_000,
            http_response_bytes: 256 << 20,
            http_requests: 100_000,
        }
    }
}

/// Enforces `memory_bytes` and remembers whether it had to, so that the trap
/// that follows a refused `memory.grow` is reported as what it really is.
pub(crate) struct MemoryLimiter {
    max_bytes: usize,
    pub(crate) exceeded: bool,
}

impl MemoryLimiter {
    pub(crate) fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            exceeded: false,
        }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; a million is far beyond any real
        // connector and keeps a table bomb from taking the host's memory.
        Ok(desired <= 1_000_000)
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_defaults_within_the_ceiling() {
        let overrides = LimitOverrides {
            deadline_ms: Some(5_000),
            memory_bytes: Some(128 << 20),
            ..Default::default()
        };
        let limits = Limits::default()
            .with_overrides(&overrides, &Limits::ceiling())
            .unwrap();
        assert_eq!(limits.deadline, Duration::from_secs(5));
        assert_eq!(limits.memory_bytes, 128 << 20);
        assert_eq!(limits.log_bytes, Limits::default().log_bytes);
    }

    #[test]
    fn overrides_above_the_ceiling_are_refused() {
        let overrides = LimitOverrides {
            memory_bytes: Some(4 << 30),
            ..Default::default()
        };
        let err = Limits::default()
            .with_overrides(&overrides, &Limits::ceiling())
            .unwrap_err();
        assert_eq!(err.name, "memory_bytes");
        assert!(err.to_string().contains("at most 1073741824"));
    }

    #[test]
    fn the_limiter_refuses_growth_past_its_cap_and_remembers() {
        let mut limiter = MemoryLimiter::new(1 << 20);
        assert!(limiter.memory_growing(0, 1 << 20, None).unwrap());
        assert!(!limiter.exceeded);
        assert!(!limiter.memory_growing(1 << 20, 2 << 20, None).unwrap());
        assert!(limiter.exceeded);
    }
}
