//! The connectors this host has loaded.
//!
//! Loading happens in the background at start (compiling a large component
//! takes seconds): the server answers at once, `/readyz` says when every
//! connector is in. A file that fails to load is listed with why, and does
//! not keep the others from serving.
//!
//! Two kinds of file load: bundled connectors (the `*.wasm` files of a
//! connector directory) and installed packages (`<id>/<current>/` inside
//! one, see [`crate::marketplace::install`]). An installed package never
//! takes a bundled connector's id unless an admin chose that replacement
//! (see [`crate::marketplace::ownership`]); this is checked here, when
//! loading, so no file put in place by other means gets around it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::marketplace::ownership::{self, Bundled};
use crate::marketplace::package::Capabilities;
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
    /// What each bundled connector asks for, by id, whether or not an
    /// installed package replaced it.
    bundled: Bundled,
    /// The bundled connectors themselves, to serve again when a package
    /// that replaced one is uninstalled.
    bundled_loaded: BTreeMap<String, (Connector, ConnectorInfo)>,
}

/// Where a file comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    Bundled,
    Installed,
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
            for file in files {
                let _ = self.load_file(&runtime, file, Origin::Bundled).await;
            }
            // Installed packages: `<id>/<current version>/connector.wasm`.
            for file in crate::marketplace::install::current_components(&dir) {
                let _ = self.load_file(&runtime, file, Origin::Installed).await;
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

    /// Loads one installed component (`<id>/<version>/connector.wasm`) into
    /// the running catalog, as after an install from the admin UI: a loaded
    /// connector with the same id is replaced, a bundled one only if an
    /// admin chose that replacement. Returns its info, or why it did not
    /// load (also listed as failed).
    pub async fn load_installed(
        &self,
        runtime: &Runtime,
        file: PathBuf,
    ) -> Result<ConnectorInfo, String> {
        self.load_file(runtime, file, Origin::Installed).await
    }

    /// The bundled connectors' ids and what each asks for: the ids no
    /// package takes without an admin's explicit choice.
    pub fn bundled(&self) -> Bundled {
        self.inner.read().expect("catalog poisoned").bundled.clone()
    }

    async fn load_file(
        &self,
        runtime: &Runtime,
        file: PathBuf,
        origin: Origin,
    ) -> Result<ConnectorInfo, String> {
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
                let mut state = self.inner.write().expect("catalog poisoned");
                match origin {
                    Origin::Bundled => {
                        let capabilities = Capabilities {
                            http: info.capabilities.http.clone(),
                            ldap: info.capabilities.ldap.clone(),
                        };
                        state
                            .bundled
                            .connectors
                            .insert(info.id.clone(), capabilities);
                        state
                            .bundled_loaded
                            .insert(info.id.clone(), (connector.clone(), info.clone()));
                    }
                    Origin::Installed => {
                        if state.bundled.contains(&info.id)
                            && !ownership::may_replace_bundled(&installed_id_dir(&file))
                        {
                            drop(state);
                            return Err(self.fail(
                                file,
                                format!(
                                    "it is an installed package with the id `{}` of a bundled connector, and no admin chose to replace the bundled one; the bundled connector stays. Uninstall the package, or confirm the replacement by installing it again from the marketplace page (or `cube plugin install --replace-bundled`)",
                                    info.id
                                ),
                            ));
                        }
                    }
                }
                tracing::info!(file = %file.display(), id = %info.id, version = %info.version, "connector loaded");
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
    /// from the admin UI; the bundled connector of the same id, if there is
    /// one, serves again. Returns whether it was loaded.
    pub fn remove(&self, id: &str) -> bool {
        let mut state = self.inner.write().expect("catalog poisoned");
        let removed = state.connectors.remove(id).is_some();
        if let Some(bundled) = state.bundled_loaded.get(id).cloned() {
            state.connectors.insert(id.to_owned(), bundled);
        }
        removed
    }

    /// A loaded connector and its info.
    pub fn get(&self, id: &str) -> Option<(Connector, ConnectorInfo)> {
        let state = self.inner.read().expect("catalog poisoned");
        state.connectors.get(id).cloned()
    }
}

/// `<id dir>` of `<id dir>/<version>/connector.wasm`.
fn installed_id_dir(file: &Path) -> PathBuf {
    file.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}
