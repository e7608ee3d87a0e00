//! What the host records about each installed version
//! (`connectors/<id>/<version>/install.json`): who published it, whether it
//! was trusted, and the digests it was installed with. Written by
//! `install`, read by `ownership` (who may take an id) and the admin UI.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// What the host records about an install.
pub const INSTALL_RECORD: &str = "install.json";

/// `connectors/<id>/<version>/install.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstallRecord {
    pub id: String,
    pub version: String,
    pub publisher: String,
    /// False when installed with `--allow-untrusted` (unsigned, or signed by
    /// a key this host does not trust).
    pub trusted: bool,
    pub key_id: Option<String>,
    /// RFC 3339.
    pub installed_at: String,
    /// SHA-256 of the package file, hex.
    pub sha256: String,
    /// SHA-256 of `connector.wasm`, hex.
    pub component_sha256: String,
}

/// Reads `install.json` of an installed version.
pub fn read_record(version_dir: &Path) -> Option<InstallRecord> {
    let bytes = std::fs::read(version_dir.join(INSTALL_RECORD)).ok()?;
    serde_json::from_slice(&bytes).ok()
}
