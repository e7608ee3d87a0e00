//! The sandbox that runs connectors.
//!
//! A [`Runtime`] owns one wasmtime [`Engine`] (component model, pooling
//! allocator, epoch interruption), the [`Linker`] with every capability, the
//! on-disk cache of compiled components, and the shared HTTP clients. It
//! loads component bytes into [`Connector`]s; each call on a connector runs
//! in a fresh instance under the call's [`Limits`], with only the grants of
//! its [`CallContext`].
//!
//! ```no_run
//! # async fn demo(bytes: &[u8]) -> anyhow::Result<()> {
//! use cube_host::runtime::{CallContext, Runtime};
//! let runtime = Runtime::builder().cache_dir("/var/lib/cube/compiled").build()?;
//! let connector = runtime.load(bytes)?;
//! let info = connector.info(&CallContext::new("inspect")).await.result?;
//! println!("{} {}", info.name, info.version);
//! # Ok(()) }
//! ```
//!
//! [`Linker`]: wasmtime::component::Linker

pub mod bindings;
mod cache;
mod call;
pub mod capabilities;
mod component;
mod limits;
mod linker;
pub mod scrub;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

pub use bindings::types;
pub use call::{CallError, CallOutcome, CallReport, CallState, ConnectorError};
pub use capabilities::CallContext;
pub use capabilities::denials::Denials;
pub use capabilities::http::{HttpGrant, HttpRecording, RecordingMode, grant::GrantError};
pub use capabilities::ldap::{LdapGrant, LdapSessions};
pub use capabilities::log::{LogLevel, LogLine};
pub use capabilities::state::{MemoryStateStore, StateStore};
pub use component::{Connector, LoadError, REQUIRED_EXPORTS, WORLD, check_kind};
pub use limits::{LimitError, LimitOverrides, Limits};
pub use scrub::Secrets;

use cache::CompiledCache;
use capabilities::http::HttpClients;

/// How often the engine's epoch advances: the granularity of deadlines.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Configures a [`Runtime`].
pub struct RuntimeBuilder {
    pooling: bool,
    max_instances: u32,
    cache_dir: Option<PathBuf>,
    limits: Limits,
    ceiling: Limits,
    state_store: Option<Arc<dyn StateStore>>,
    perf_map: bool,
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        Self {
            pooling: true,
            max_instances: 128,
            cache_dir: None,
            limits: Limits::default(),
            ceiling: Limits::ceiling(),
            state_store: None,
            perf_map: false,
        }
    }
}

impl RuntimeBuilder {
    /// Whether instances come from a pre-allocated pool (on by default).
    /// Pooling makes instantiation several times faster, at the cost of
    /// reserving address space for `max_instances` up front.
    pub fn pooling(mut self, enabled: bool) -> Self {
        self.pooling = enabled;
        self
    }

    /// How many calls may run at once (with pooling; default 128).
    pub fn max_instances(mut self, count: u32) -> Self {
        self.max_instances = count.max(1);
        self
    }

    /// Where compiled components are cached. Without one, every load
    /// compiles.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// The default limits of a call.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Whether compiled connector code is named in `/tmp/perf-<pid>.map`,
    /// so `perf report` shows a connector's own functions instead of bare
    /// addresses (off by default: the file grows with every component
    /// compiled). For profiling; see BENCHMARKS.md.
    pub fn perf_map(mut self, enabled: bool) -> Self {
        self.perf_map = enabled;
        self
    }

    /// Where connectors' `state` is kept (in memory by default).
    pub fn state_store(mut self, store: Arc<dyn StateStore>) -> Self {
        self.state_store = Some(store);
        self
    }

    pub fn build(self) -> anyhow::Result<Runtime> {
        anyhow::ensure!(
            self.limits.memory_bytes <= self.ceiling.memory_bytes,
            "the default memory limit ({} bytes) is above the ceiling ({} bytes)",
            self.limits.memory_bytes,
            self.ceiling.memory_bytes
        );
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        if self.perf_map {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        if self.pooling {
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling_config(
                self.max_instances,
                self.ceiling.memory_bytes,
            )));
        }
        let engine = Engine::new(&config)?;
        let linker = linker::build(&engine)?;
        let cache = match &self.cache_dir {
            Some(dir) => Some(CompiledCache::open(dir, &engine).map_err(|e| {
                anyhow::anyhow!(
                    "cannot use {} as the compiled-component cache: {e}",
                    dir.display()
                )
            })?),
            None => None,
        };
        let stop = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(engine.clone(), stop.clone());
        Ok(Runtime {
            shared: Arc::new(RuntimeShared {
                engine,
                linker,
                cache,
                http: Arc::new(HttpClients::new()),
                state_store: self
                    .state_store
                    .unwrap_or_else(|| Arc::new(MemoryStateStore::default())),
                limits: self.limits,
                ceiling: self.ceiling,
                loaded: Mutex::new(HashMap::new()),
                stop_ticker: stop,
            }),
        })
    }
}

/// Pool sizes generous enough for components from other toolchains
/// (componentize-py links a dozen core instances and a large function table)
/// while keeping the reservation in address space, not memory.
fn pooling_config(max_instances: u32, max_memory: usize) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(max_instances)
        .total_core_instances(max_instances * 16)
        .total_memories(max_instances * 2)
        .total_tables(max_instances * 8)
        .total_stacks(max_instances)
        .max_core_instances_per_component(32)
        .max_memories_per_component(4)
        .max_tables_per_component(16)
        .max_memory_size(max_memory)
        .table_elements(64 * 1024)
        .max_core_instance_size(2 << 20)
        .max_component_instance_size(1 << 20)
        // Reset the low part of a slot with memset instead of madvise, so
        // the next instance in the slot takes no page faults there: most
        // connector calls touch little more than their stack and first heap
        // pages.
        .linear_memory_keep_resident(2 << 20)
        .table_keep_resident(64 << 10)
        // Where the kernel can tell which pages were touched (Linux 6.7+),
        // only those are reset.
        .pagemap_scan(wasmtime::Enabled::Auto);
    pool
}

fn spawn_epoch_ticker(engine: Engine, stop: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("cube-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .expect("cannot start the epoch thread");
}

/// What every connector and call of one runtime share.
pub(crate) struct RuntimeShared {
    pub(crate) engine: Engine,
    linker: Linker<CallState>,
    cache: Option<CompiledCache>,
    pub(crate) http: Arc<HttpClients>,
    pub(crate) state_store: Arc<dyn StateStore>,
    limits: Limits,
    ceiling: Limits,
    loaded: Mutex<HashMap<String, Connector>>,
    stop_ticker: Arc<AtomicBool>,
}

impl Drop for RuntimeShared {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

/// The connector sandbox. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    shared: Arc<RuntimeShared>,
}

impl Runtime {
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// The limits of a call when the integration overrides nothing.
    pub fn default_limits(&self) -> &Limits {
        &self.shared.limits
    }

    /// The limits of a call for an integration with `overrides`.
    pub fn limits_with(&self, overrides: &LimitOverrides) -> Result<Limits, LimitError> {
        self.shared
            .limits
            .with_overrides(overrides, &self.shared.ceiling)
    }

    /// A context for a call on behalf of `integration`, with this runtime's
    /// default limits.
    pub fn context(&self, integration: impl Into<String>) -> CallContext {
        CallContext::new(integration).with_limits(self.shared.limits.clone())
    }

    /// Compiles (or loads from the cache), checks and links a component.
    pub fn load(&self, bytes: &[u8]) -> Result<Connector, LoadError> {
        component::check_kind(bytes)?;
        let digest = hex::encode(Sha256::digest(bytes));
        if let Some(loaded) = self.shared.loaded.lock().expect("poisoned").get(&digest) {
            return Ok(loaded.clone());
        }
        let engine = &self.shared.engine;
        let compiled = match &self.shared.cache {
            Some(cache) => cache.load_or_compile(engine, &digest, bytes),
            None => Component::new(engine, bytes),
        };
        let component = compiled.map_err(|e| LoadError::Malformed(format!("{e:#}")))?;
        let (imports, exports) = component::check_world(engine, &component)?;
        let pre = self
            .shared
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::WrongWorld(format!("{e:#}")))?;
        let pre = bindings::ConnectorPre::new(pre)
            .map_err(|e| LoadError::WrongWorld(format!("{e:#}")))?;
        let connector = Connector::new(self.shared.clone(), pre, digest.clone(), imports, exports);
        self.shared
            .loaded
            .lock()
            .expect("poisoned")
            .insert(digest, connector.clone());
        Ok(connector)
    }

    /// Reads and loads a component file.
    pub fn load_file(&self, path: &Path) -> Result<Connector, LoadError> {
        let bytes = std::fs::read(path).map_err(|error| LoadError::Io {
            path: path.display().to_string(),
            error,
        })?;
        self.load(&bytes)
    }
}
