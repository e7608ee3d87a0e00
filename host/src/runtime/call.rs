//! One call into a connector: its context, its store, and what came of it.
//!
//! Every call gets a fresh instance in a fresh [`Store`], so nothing a
//! connector did in one call can affect the next, and a call that traps,
//! times out or runs out of memory takes nothing else down with it.

use std::time::{Duration, Instant};

use serde::Serialize;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtxView, WasiView};

use super::RuntimeShared;
use super::bindings::types as wit;
use super::capabilities::log::{LogLevel, LogLine};
use super::capabilities::wasi::WasiCall;
use super::capabilities::{CallContext, CallSetup, Capabilities, HasCapabilities};
use super::limits::{Limits, MemoryLimiter};
use super::scrub::Secrets;

/// A failure reported by the connector itself, scrubbed of secrets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", content = "message", rename_all = "kebab-case")]
pub enum ConnectorError {
    #[error("configuration problem: {0}")]
    Config(String),
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error("cannot reach the remote system: {0}")]
    Unreachable(String),
    #[error("rate limited by the remote system: {message}{}", retry_hint(.retry_after_ms))]
    RateLimited {
        retry_after_ms: Option<u64>,
        message: String,
    },
    #[error("temporary failure: {0}")]
    Transient(String),
    #[error("{0}")]
    Fatal(String),
}

fn retry_hint(retry_after_ms: &Option<u64>) -> String {
    match retry_after_ms {
        Some(ms) => format!(" (retry after {:.1} s)", *ms as f64 / 1000.0),
        None => String::new(),
    }
}

impl ConnectorError {
    /// Whether the same call may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ConnectorError::Unreachable(_)
                | ConnectorError::RateLimited { .. }
                | ConnectorError::Transient(_)
        )
    }

    pub(crate) fn from_wit(error: wit::ConnectorError, secrets: &Secrets) -> Self {
        use wit::ConnectorError as E;
        match error {
            E::Config(m) => Self::Config(secrets.scrub(&m)),
            E::Auth(m) => Self::Auth(secrets.scrub(&m)),
            E::Unreachable(m) => Self::Unreachable(secrets.scrub(&m)),
            E::RateLimited(r) => Self::RateLimited {
                retry_after_ms: r.retry_after_ms,
                message: secrets.scrub(&r.message),
            },
            E::Transient(m) => Self::Transient(secrets.scrub(&m)),
            E::Fatal(m) => Self::Fatal(secrets.scrub(&m)),
        }
    }
}

/// Why a call produced no result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", content = "detail", rename_all = "kebab-case")]
pub enum CallError {
    /// The connector ran and reported an error.
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    /// The call ran past its deadline and was stopped.
    #[error("the connector was stopped after running past its deadline of {} ms", .0.as_millis())]
    DeadlineExceeded(#[serde(serialize_with = "as_millis")] Duration),
    /// The connector tried to grow its memory past its limit.
    #[error("the connector was stopped after trying to use more than its memory limit of {} MiB", .0 >> 20)]
    MemoryExceeded(usize),
    /// The connector crashed (a panic, an `unreachable`, a stack overflow).
    #[error("the connector crashed: {0}")]
    Trap(String),
    /// The component could not be instantiated.
    #[error("the connector could not be started: {0}")]
    Instantiate(String),
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

impl CallError {
    /// Whether the same call may succeed if tried again later. A deadline or
    /// a crash may be caused by the remote system's data, but retrying it
    /// right away would only burn the same resources again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, CallError::Connector(e) if e.is_retryable())
    }
}

/// What a call cost and said, whatever its result.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CallReport {
    pub log: Vec<LogLine>,
    #[serde(serialize_with = "as_millis")]
    pub duration: Duration,
    pub http_requests: u32,
}

/// The result of a call and its report.
#[derive(Debug)]
pub struct CallOutcome<T> {
    pub result: Result<T, CallError>,
    pub report: CallReport,
}

impl<T> CallOutcome<T> {
    /// Moves a connector-reported error into `result`.
    pub(crate) fn flatten<U>(self, secrets: &Secrets) -> CallOutcome<U>
    where
        T: Into<Result<U, wit::ConnectorError>>,
    {
        let result = match self.result {
            Ok(inner) => inner
                .into()
                .map_err(|e| CallError::Connector(ConnectorError::from_wit(e, secrets))),
            Err(e) => Err(e),
        };
        crate::metrics::count(match &result {
            Ok(_) => crate::metrics::Event::CallOk,
            Err(CallError::Connector(_)) => crate::metrics::Event::CallConnectorError,
            Err(CallError::DeadlineExceeded(_)) => crate::metrics::Event::CallDeadline,
            Err(CallError::MemoryExceeded(_)) => crate::metrics::Event::CallMemory,
            Err(CallError::Trap(_)) => crate::metrics::Event::CallTrap,
            Err(CallError::Instantiate(_)) => crate::metrics::Event::CallInstantiate,
        });
        CallOutcome {
            result,
            report: self.report,
        }
    }
}

/// The store data of one call: each capability's per-call state.
pub struct CallState {
    pub(crate) limiter: MemoryLimiter,
    pub(crate) capabilities: Capabilities,
    /// Created on first use: most connectors never touch WASI.
    wasi: Option<WasiCall>,
    max_output: usize,
}

impl HasCapabilities for CallState {
    fn capabilities(&mut self) -> &mut Capabilities {
        &mut self.capabilities
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let max_output = self.max_output;
        self.wasi
            .get_or_insert_with(|| WasiCall::new(max_output))
            .ctx()
    }
}

/// The epoch callback's verdict when the deadline has passed.
#[derive(Debug, thiserror::Error)]
#[error("deadline exceeded")]
struct DeadlineReached;

/// A call in progress: its store and its deadline.
pub(crate) struct Run {
    pub(crate) store: Store<CallState>,
    pub(crate) deadline: Instant,
    started: Instant,
    limits: Limits,
    secrets: Secrets,
}

impl Run {
    pub(crate) fn begin(shared: &RuntimeShared, ctx: &CallContext) -> Run {
        let started = Instant::now();
        let deadline = started + ctx.limits.deadline;
        let state = CallState {
            limiter: MemoryLimiter::new(ctx.limits.memory_bytes),
            capabilities: Capabilities::for_call(&CallSetup {
                shared,
                ctx,
                deadline,
            }),
            wasi: None,
            max_output: ctx.limits.log_bytes,
        };
        let mut store = Store::new(&shared.engine, state);
        store.limiter(|s| &mut s.limiter);
        // Checked at every epoch tick: past the deadline the guest traps,
        // otherwise it yields so a busy guest never starves the executor.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(wasmtime::Error::from(DeadlineReached))
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        Run {
            store,
            deadline,
            started,
            limits: ctx.limits.clone(),
            secrets: ctx.secrets.clone(),
        }
    }

    /// Ends the call: classifies a failure and gathers the report.
    ///
    /// `result` is `None` when the host-side backstop timeout fired (the
    /// guest was waiting on the host, not running).
    pub(crate) fn finish<T>(
        self,
        result: Option<wasmtime::Result<T>>,
        instantiated: bool,
    ) -> CallOutcome<T> {
        let state = self.store.into_data();
        let result = match result {
            None => Err(CallError::DeadlineExceeded(self.limits.deadline)),
            Some(Ok(value)) => Ok(value),
            Some(Err(error)) => Err(classify(
                error,
                &state,
                &self.limits,
                &self.secrets,
                instantiated,
            )),
        };
        let mut log = state.capabilities.log;
        if let Some(wasi) = &state.wasi {
            let (stdout, stderr) = wasi.output();
            log.write_output(LogLevel::Info, &stdout);
            log.write_output(LogLevel::Warn, &stderr);
        }
        CallOutcome {
            result,
            report: CallReport {
                log: log.finish(),
                duration: self.started.elapsed(),
                http_requests: state.capabilities.http.requests,
            },
        }
    }
}

fn classify(
    error: wasmtime::Error,
    state: &CallState,
    limits: &Limits,
    secrets: &Secrets,
    instantiated: bool,
) -> CallError {
    if error.downcast_ref::<DeadlineReached>().is_some() {
        return CallError::DeadlineExceeded(limits.deadline);
    }
    if state.limiter.exceeded {
        return CallError::MemoryExceeded(limits.memory_bytes);
    }
    // Say what happened first (the trap, or the innermost cause); the wasm
    // backtrace that follows helps the connector's author, so keep a
    // bounded part of it.
    let cause = match error.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => error.root_cause().to_string(),
    };
    let mut message = secrets.scrub(&cause);
    if let Some(backtrace) = error.downcast_ref::<wasmtime::WasmBacktrace>() {
        let frames = backtrace.to_string();
        let frames: Vec<&str> = frames.lines().take(12).collect();
        message.push('\n');
        message.push_str(&secrets.scrub(&frames.join("\n")));
    }
    if instantiated {
        CallError::Trap(message)
    } else {
        CallError::Instantiate(message)
    }
}
