//! What the commands that run connectors for the host's integrations
//! (`cube serve`, `cube sync`) share: the connector directories they load,
//! `--connectors` and then the packages `cube plugin install` installed,
//! and the sandbox the connectors run in.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use crate::runtime::Runtime;
use crate::store::Store;
use crate::store::state::DbStateStore;

#[derive(Args, Clone, Debug)]
pub struct ConnectorArgs {
    /// Directories of connector components (`*.wasm`) to load at start.
    #[arg(
        long = "connectors",
        env = "CUBE_CONNECTORS",
        value_delimiter = ',',
        default_value = "target/components"
    )]
    pub connector_dirs: Vec<PathBuf>,
}

impl ConnectorArgs {
    /// The directories to load, in order: those of `--connectors`, then
    /// the installed packages' in `data_dir` when there is one. Loaded
    /// last, an installed package wins over the same connector bundled.
    pub fn with_installed(&self, data_dir: &Path) -> Vec<PathBuf> {
        let mut dirs = self.connector_dirs.clone();
        let installed = crate::marketplace::install::connectors_dir(data_dir);
        if installed.is_dir() {
            dirs.push(installed);
        }
        dirs
    }
}

/// The sandbox for the host's integrations: compiled components cached in
/// `data_dir`, connector state kept in the database.
pub fn host_runtime(store: &Store, data_dir: &Path) -> anyhow::Result<Runtime> {
    Runtime::builder()
        .cache_dir(data_dir.join("compiled"))
        .state_store(Arc::new(DbStateStore::new(store.clone())))
        .build()
}
