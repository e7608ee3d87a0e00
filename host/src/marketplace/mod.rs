//! Connector packages: signed files that travel from a publisher to a host.
//!
//! A connector built by someone else must not be run on trust in the file
//! name. This module turns a component into a package that says what it is
//! and who vouches for it, and installs a package only after everything it
//! claims has been checked against the bytes:
//!
//! - [`package`]: the `.cubepkg` file (a tar of a manifest and a component),
//!   read under hard size limits.
//! - [`keys`]: publisher key pairs and the host's trusted keys.
//! - [`signature`]: what a publisher signs, and checking it.
//! - [`verify`]: every check a package passes before anything is installed.
//! - [`registry`]: a directory of packages with an `index.json`.
//! - [`install`]: verified packages into `<data dir>/connectors`, all or
//!   nothing, where the catalog picks them up; an upgrade that asks for
//!   more than the installed version needs the admin's approval.
//! - [`lifecycle`]: rolling back to an older installed version, and
//!   uninstalling.
//! - [`capabilities`]: what a package asks to reach, in plain words.
//! - [`ownership`]: who may publish under a connector id (bundled ids are
//!   the host's; others their first publisher's).
//!
//! `docs/marketplace.md` is the admin's and publisher's guide;
//! `docs/decisions/0018-package-signatures.md` says why it is built so.

pub mod capabilities;
pub mod install;
pub mod keys;
pub mod lifecycle;
pub mod ownership;
pub mod package;
pub mod record;
pub mod registry;
pub mod signature;
pub mod source;
pub mod verify;

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Writes `bytes` to `path` through a temporary file in the same directory
/// and a rename, so readers see the old file or the new one, never half.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}-{}", std::process::id(), nanos()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A number that differs between calls, for temporary names.
pub(crate) fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}
