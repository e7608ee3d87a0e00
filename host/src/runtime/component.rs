//! A loaded connector component and the calls it answers.

use std::sync::Arc;

use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

use super::RuntimeShared;
use super::bindings::ConnectorPre;
use super::bindings::types::{
    Change, Choice, ConnectorInfo, PushResult, SyncPage, SyncRequest, WebhookOutcome,
    WebhookRequest,
};
use super::call::{CallOutcome, Run};
use super::capabilities::CallContext;

/// The world every connector implements.
pub const WORLD: &str = "cube:connector/connector@0.1.0";

/// The functions a connector must export.
pub const REQUIRED_EXPORTS: [&str; 6] = [
    "info",
    "test-connection",
    "choices",
    "sync",
    "push",
    "handle-webhook",
];

/// The interfaces of our package a connector may import.
const OUR_INTERFACES: [&str; 5] = ["types", "http", "ldap", "log", "state"];

/// Why bytes could not be loaded as a connector.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("not a WebAssembly file (it does not start with the `\\0asm` magic bytes)")]
    NotWasm,
    #[error(
        "this is a core WebAssembly module, not a component{hint}; connectors must be components of the {WORLD} world"
    )]
    CoreModule { hint: &'static str },
    #[error("the component is malformed: {0}")]
    Malformed(String),
    #[error("this component does not implement the {WORLD} world: {0}")]
    WrongWorld(String),
    #[error("cannot read {path}: {error}")]
    Io { path: String, error: std::io::Error },
}

/// A connector component, compiled and linked, ready to be called.
///
/// Cloning is cheap. Every call creates a fresh instance (a few
/// microseconds with the pooling allocator), so calls never share memory.
#[derive(Clone)]
pub struct Connector {
    shared: Arc<RuntimeShared>,
    pre: ConnectorPre<super::call::CallState>,
    digest: String,
    imports: Arc<[String]>,
    exports: Arc<[String]>,
}

/// Whether `bytes` are a component; otherwise, what they are instead.
pub fn check_kind(bytes: &[u8]) -> Result<(), LoadError> {
    if wasmparser::Parser::is_component(bytes) {
        return Ok(());
    }
    if wasmparser::Parser::is_core_wasm(bytes) {
        let has_component_type = wasmparser::Parser::new(0)
            .parse_all(bytes)
            .filter_map(Result::ok)
            .any(|payload| {
                matches!(payload, wasmparser::Payload::CustomSection(s) if s.name().starts_with("component-type"))
            });
        let hint = if has_component_type {
            " (it carries component type information: `cube plugin build` or `wasm-tools component new` turns it into a component)"
        } else {
            ""
        };
        return Err(LoadError::CoreModule { hint });
    }
    if bytes.starts_with(b"\0asm") {
        return Err(LoadError::Malformed(
            "unknown WebAssembly version or layer".to_owned(),
        ));
    }
    Err(LoadError::NotWasm)
}

/// Checks the component's imports and exports against the connector world,
/// with messages that name what is missing or foreign.
pub(crate) fn check_world(
    engine: &wasmtime::Engine,
    component: &Component,
) -> Result<(Vec<String>, Vec<String>), LoadError> {
    let ty = component.component_type();
    let exports: Vec<(String, bool)> = ty
        .exports(engine)
        .map(|(name, item)| {
            (
                name.to_owned(),
                matches!(item.ty, ComponentItem::ComponentFunc(_)),
            )
        })
        .collect();
    let imports: Vec<String> = ty
        .imports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();

    let missing: Vec<&str> = REQUIRED_EXPORTS
        .iter()
        .copied()
        .filter(|required| {
            !exports
                .iter()
                .any(|(name, is_func)| name == required && *is_func)
        })
        .collect();
    if !missing.is_empty() {
        let found = if exports.is_empty() {
            "nothing".to_owned()
        } else {
            exports
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(LoadError::WrongWorld(format!(
            "it does not export {} (it exports {found}). Build connectors with the cube-connector-sdk crate or against this host's wit/ directory",
            missing.join(", ")
        )));
    }
    let foreign: Vec<&str> = imports
        .iter()
        .map(String::as_str)
        .filter(|name| !is_known_import(name))
        .collect();
    if !foreign.is_empty() {
        return Err(LoadError::WrongWorld(format!(
            "it imports {}, which this host does not provide (it provides cube:connector/{{http,ldap,log,state}}@0.1 and WASI 0.2)",
            foreign.join(", ")
        )));
    }
    Ok((imports, exports.into_iter().map(|(name, _)| name).collect()))
}

fn is_known_import(name: &str) -> bool {
    if let Some(rest) = name.strip_prefix("cube:connector/") {
        let (interface, version) = rest.split_once('@').unwrap_or((rest, ""));
        return OUR_INTERFACES.contains(&interface) && version.starts_with("0.1.");
    }
    name.starts_with("wasi:") && name.contains("@0.2.")
}

macro_rules! invoke {
    ($connector:ident, $ctx:ident, $method:ident ( $($arg:expr),* )) => {{
        let mut run = Run::begin(&$connector.shared, $ctx);
        // Backstop for time spent waiting on the host, where no epoch
        // check runs; a little later than the deadline so that a guest
        // which is running gets stopped by its epoch check first.
        let backstop = tokio::time::Instant::from_std(run.deadline) + std::time::Duration::from_millis(250);
        match tokio::time::timeout_at(backstop, $connector.pre.instantiate_async(&mut run.store)).await {
            Ok(Ok(instance)) => {
                let call = instance.$method(&mut run.store, $($arg),*);
                let result = tokio::time::timeout_at(backstop, call).await.ok();
                run.finish(result, true)
            }
            Ok(Err(error)) => run.finish(Some(Err(error)), false),
            Err(_) => run.finish(None, false),
        }
    }};
}

impl Connector {
    pub(crate) fn new(
        shared: Arc<RuntimeShared>,
        pre: ConnectorPre<super::call::CallState>,
        digest: String,
        imports: Vec<String>,
        exports: Vec<String>,
    ) -> Self {
        Self {
            shared,
            pre,
            digest,
            imports: imports.into(),
            exports: exports.into(),
        }
    }

    /// The SHA-256 of the component's bytes, hex.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The names the component imports (interfaces, like `cube:connector/http@0.1.0`).
    pub fn imports(&self) -> &[String] {
        &self.imports
    }

    /// The names the component exports.
    pub fn exports(&self) -> &[String] {
        &self.exports
    }

    /// Whether the component imports WASI (built by another toolchain).
    pub fn uses_wasi(&self) -> bool {
        self.imports.iter().any(|i| i.starts_with("wasi:"))
    }

    /// Instantiates once and times `iterations` calls of `test-connection`
    /// on that one instance. For the instantiation benchmark only: the host
    /// otherwise never calls one instance twice.
    #[doc(hidden)]
    pub async fn time_warm_calls(
        &self,
        ctx: &CallContext,
        config: &str,
        iterations: usize,
    ) -> anyhow::Result<Vec<std::time::Duration>> {
        let mut run = Run::begin(&self.shared, ctx);
        let instance = self.pre.instantiate_async(&mut run.store).await?;
        let config = config.to_owned();
        let mut times = Vec::with_capacity(iterations);
        for _ in 0..iterations {
            let started = std::time::Instant::now();
            let result = instance
                .call_test_connection(&mut run.store, &config)
                .await?;
            times.push(started.elapsed());
            std::hint::black_box(result).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        }
        Ok(times)
    }

    pub async fn info(&self, ctx: &CallContext) -> CallOutcome<ConnectorInfo> {
        invoke!(self, ctx, call_info())
    }

    pub async fn test_connection(&self, ctx: &CallContext, config: &str) -> CallOutcome<String> {
        let config = config.to_owned();
        invoke!(self, ctx, call_test_connection(&config)).flatten(&ctx.secrets)
    }

    /// The values the connector offers for a configuration field.
    pub async fn choices(
        &self,
        ctx: &CallContext,
        config: &str,
        field: &str,
    ) -> CallOutcome<Vec<Choice>> {
        let (config, field) = (config.to_owned(), field.to_owned());
        invoke!(self, ctx, call_choices(&config, &field)).flatten(&ctx.secrets)
    }

    pub async fn sync(&self, ctx: &CallContext, request: &SyncRequest) -> CallOutcome<SyncPage> {
        invoke!(self, ctx, call_sync(request)).flatten(&ctx.secrets)
    }

    pub async fn push(
        &self,
        ctx: &CallContext,
        config: &str,
        change: &Change,
    ) -> CallOutcome<PushResult> {
        let config = config.to_owned();
        invoke!(self, ctx, call_push(&config, change)).flatten(&ctx.secrets)
    }

    pub async fn handle_webhook(
        &self,
        ctx: &CallContext,
        config: &str,
        request: &WebhookRequest,
    ) -> CallOutcome<WebhookOutcome> {
        let config = config.to_owned();
        invoke!(self, ctx, call_handle_webhook(&config, request)).flatten(&ctx.secrets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_imports_are_ours_and_wasi_0_2() {
        assert!(is_known_import("cube:connector/http@0.1.0"));
        assert!(is_known_import("cube:connector/types@0.1.3"));
        assert!(is_known_import("wasi:cli/environment@0.2.9"));
        assert!(!is_known_import("cube:connector/files@0.1.0"));
        assert!(!is_known_import("cube:connector/http@0.2.0"));
        assert!(!is_known_import("wasi:http/outgoing-handler@0.3.0"));
        assert!(!is_known_import("acme:evil/backdoor"));
    }

    #[test]
    fn kinds_are_told_apart() {
        assert!(matches!(check_kind(b"hello"), Err(LoadError::NotWasm)));
        assert!(matches!(
            check_kind(b"\0asm\x01\0\0\0"),
            Err(LoadError::CoreModule { hint: "" })
        ));
        assert!(check_kind(b"\0asm\x0d\0\x01\0").is_ok());
        assert!(matches!(
            check_kind(b"\0asm\x07\0\x09\0"),
            Err(LoadError::Malformed(_))
        ));
    }
}
