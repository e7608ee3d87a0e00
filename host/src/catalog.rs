//! The connectors this host has loaded.
//!
//! Loading happens in the background at start (compiling a large component
//! takes seconds): the server answers at once, `/readyz` says when every
//! connector is in. A file that fails to load is listed with why, and does
//! not keep the others from serving.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::runtime::types::ConnectorInfo;
use crate::runtime::{Connector, Runtime};

/// The connectors this server has loaded, by id.
#[derive(Clone, Default)]
pub struct Catalog {
    inner: Arc<RwLock<CatalogState>>,
}

#[derive(Default)]
struct CatalogState {
    ready: bool,
    connectors: BTreeMap<String, (Connector, ConnectorInfo)>,
    failed: Vec<(PathBuf, String)>,
}

impl Catalog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads every `*.wasm` in `dirs`, and the current version of every
    /// package installed there (see [`crate::marketplace::install`]), then
    /// marks the catalog ready. A file
    /// that fails to load is logged and skipped: one bad connector does not
    /// keep the others from serving.
    pub async fn load_dirs(self, runtime: Runtime, dirs: Vec<PathBuf>) {
        for dir in dirs {
            let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
                Ok(entries) => entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
                    .collect(),
                Err(error) => {
                    tracing::warn!(dir = %dir.display(), %error, "cannot read the connector directory");
                    continue;
                }
            };
            files.sort();
            // Installed packages: `<id>/<current version>/connector.wasm`.
            files.extend(crate::marketplace::install::current_components(&dir));
            for file in files {
                let _ = self.load_file(&runtime, file).await;
            }
        }
        let mut state = self.inner.write().expect("catalog poisoned");
        state.ready = true;
        tracing::info!(
            loaded = state.connectors.len(),
            failed = state.failed.len(),
            "connectors loaded"
        );
    }

    /// Loads one component into the running catalog, as after an install
    /// from the admin UI: a loaded connector with the same id is replaced.
    /// Returns its info, or why it did not load (also listed as failed).
    pub async fn load_installed(
        &self,
        runtime: &Runtime,
        file: PathBuf,
    ) -> Result<ConnectorInfo, String> {
        self.load_file(runtime, file).await
    }

    async fn load_file(&self, runtime: &Runtime, file: PathBuf) -> Result<ConnectorInfo, String> {
        let loaded = {
            let runtime = runtime.clone();
            let file = file.clone();
            // Compiling is CPU-bound: keep it off the async workers.
            tokio::task::spawn_blocking(move || runtime.load_file(&file)).await
        };
        let connector = match loaded {
            Ok(Ok(connector)) => connector,
            Ok(Err(error)) => return Err(self.fail(file, error.to_string())),
            Err(error) => return Err(self.fail(file, format!("loading panicked: {error}"))),
        };
        let outcome = connector.info(&runtime.context("catalog")).await;
        match outcome.result {
            Ok(info) => {
                tracing::info!(file = %file.display(), id = %info.id, version = %info.version, "connector loaded");
                let mut state = self.inner.write().expect("catalog poisoned");
                state
                    .connectors
                    .insert(info.id.clone(), (connector, info.clone()));
                Ok(info)
            }
            Err(error) => Err(self.fail(file, format!("its info() call failed: {error}"))),
        }
    }

    fn fail(&self, file: PathBuf, message: String) -> String {
        tracing::error!(file = %file.display(), error = %message, "connector not loaded");
        self.inner
            .write()
            .expect("catalog poisoned")
            .failed
            .push((file, message.clone()));
        message
    }

    pub fn is_ready(&self) -> bool {
        self.inner.read().expect("catalog poisoned").ready
    }

    /// Loaded connectors and failed files, counted.
    pub fn counts(&self) -> (usize, usize) {
        let state = self.inner.read().expect("catalog poisoned");
        (state.connectors.len(), state.failed.len())
    }

    /// Loaded connectors (by id) and the files that failed, with why.
    #[allow(clippy::type_complexity)]
    pub fn list(&self) -> (Vec<(Connector, ConnectorInfo)>, Vec<(PathBuf, String)>) {
        let state = self.inner.read().expect("catalog poisoned");
        (
            state.connectors.values().cloned().collect(),
            state.failed.clone(),
        )
    }

    /// Takes a connector out of the running catalog, as after an uninstall
    /// from the admin UI. Returns whether it was loaded.
    pub fn remove(&self, id: &str) -> bool {
        let mut state = self.inner.write().expect("catalog poisoned");
        state.connectors.remove(id).is_some()
    }

    /// A loaded connector and its info.
    pub fn get(&self, id: &str) -> Option<(Connector, ConnectorInfo)> {
        let state = self.inner.read().expect("catalog poisoned");
        state.connectors.get(id).cloned()
    }
}
