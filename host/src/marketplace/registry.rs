//! A registry: a directory of packages with an `index.json` that lists them.
//!
//! A directory is the simplest registry that works: it can be a shared
//! drive, served by any static web server later, or copied to a machine
//! without network access. The index is a convenience for finding packages
//! by id and version; it is never trusted: installing re-checks the file's
//! digest against the index and then verifies the package itself.
//!
//! Publishing keeps every other version, refuses to replace a published
//! version with different bytes (a version names one content, forever), and
//! rewrites the index through a temporary file and a rename, under a lock
//! file, so readers never see half an index and two publishers do not lose
//! each other's entries.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::keys::TrustedKeys;
use super::package::{Capabilities, Manifest, Package, read_limited};
use super::verify::{Policy, VerifyError, verify};

pub const INDEX: &str = "index.json";
const LOCK: &str = "index.lock";

/// `index.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Index {
    pub packages: Vec<Entry>,
}

/// One package version in a registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub name: String,
    pub version: String,
    pub publisher: String,
    pub description: String,
    pub capabilities: Capabilities,
    /// The package's file name, in the registry directory.
    pub file: String,
    /// SHA-256 of the package file, hex.
    pub sha256: String,
    pub key_id: Option<String>,
    pub signed: bool,
}

impl Entry {
    /// The entry of the package file `bytes` with `manifest`, signed with
    /// the key `key_id` (none: unsigned).
    pub fn of(manifest: &Manifest, bytes: &[u8], key_id: Option<String>) -> Entry {
        Entry {
            id: manifest.id.clone(),
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            publisher: manifest.publisher.clone(),
            description: manifest.description.clone(),
            capabilities: manifest.capabilities.clone(),
            file: manifest.file_name(),
            sha256: super::sha256_hex(bytes),
            signed: key_id.is_some(),
            key_id,
        }
    }
}

/// Why publishing or finding a package failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(
        "{id} {version} is already in the registry with different contents; a published version never changes: raise the version and pack again"
    )]
    VersionTaken { id: String, version: String },
    #[error(
        "the registry is locked by another publish ({0} exists); if no publish is running, remove that file"
    )]
    Locked(PathBuf),
    #[error("{0} is not a registry: {1}")]
    NotARegistry(String, String),
    #[error("cannot download {url}: {why}")]
    Download { url: String, why: String },
    #[error("the registry has no package `{0}`")]
    NoSuchPackage(String),
    #[error("the registry has no version {version} of `{id}` (it has {available})")]
    NoSuchVersion {
        id: String,
        version: String,
        available: String,
    },
    #[error(
        "the registry's index says {file} has the SHA-256 {expected}, but the file has {actual}: the registry is inconsistent or was altered; ask its maintainer to publish again"
    )]
    FileMismatch {
        file: String,
        expected: String,
        actual: String,
    },
    #[error("cannot use {path}: {error}")]
    Io { path: String, error: std::io::Error },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |error| RegistryError::Io {
        path: path.display().to_string(),
        error,
    }
}

impl Index {
    /// Reads `dir/index.json`; `None` when there is none.
    pub fn read(dir: &Path) -> Result<Option<Self>, RegistryError> {
        let path = dir.join(INDEX);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                RegistryError::NotARegistry(
                    dir.display().to_string(),
                    format!("{INDEX} is malformed ({e})"),
                )
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(io(&path)(error)),
        }
    }

    /// Adds `entry`, replacing the same id and version only when it is the
    /// same file. Keeps the list sorted by id, then version.
    pub fn upsert(&mut self, entry: Entry) -> Result<(), RegistryError> {
        if let Some(existing) = self
            .packages
            .iter_mut()
            .find(|e| e.id == entry.id && e.version == entry.version)
        {
            if existing.sha256 != entry.sha256 {
                return Err(RegistryError::VersionTaken {
                    id: entry.id,
                    version: entry.version,
                });
            }
            *existing = entry;
        } else {
            self.packages.push(entry);
        }
        self.packages.sort_by(|a, b| {
            a.id.cmp(&b.id)
                .then_with(|| version_of(&a.version).cmp(&version_of(&b.version)))
        });
        Ok(())
    }

    /// The entry for `id` at `version`, or its highest version.
    pub fn find(&self, id: &str, version: Option<&str>) -> Result<&Entry, RegistryError> {
        let versions: Vec<&Entry> = self.packages.iter().filter(|e| e.id == id).collect();
        if versions.is_empty() {
            return Err(RegistryError::NoSuchPackage(id.to_owned()));
        }
        match version {
            Some(version) => versions
                .iter()
                .find(|e| e.version == version)
                .copied()
                .ok_or_else(|| RegistryError::NoSuchVersion {
                    id: id.to_owned(),
                    version: version.to_owned(),
                    available: versions
                        .iter()
                        .map(|e| e.version.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            None => Ok(versions
                .into_iter()
                .max_by(|a, b| version_of(&a.version).cmp(&version_of(&b.version)))
                .expect("not empty")),
        }
    }
}

fn version_of(text: &str) -> Option<semver::Version> {
    semver::Version::parse(text).ok()
}

/// Verifies the package at `file` (its signature must be valid; its key
/// need not be trusted here), copies it into the registry `dir` and lists
/// it in the index.
pub async fn publish(file: &Path, dir: &Path) -> Result<Entry, RegistryError> {
    let bytes = read_limited(file).map_err(VerifyError::from)?;
    let verified = verify(
        Package::from_bytes(&bytes).map_err(VerifyError::from)?,
        &TrustedKeys::default(),
        Policy::RequireSigned,
    )
    .await?;
    let key_id = verified.trust.signer().map(|s| s.key_id.clone());
    let entry = Entry::of(&verified.package.manifest, &bytes, key_id);
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let _lock = Lock::take(dir)?;
    let mut index = Index::read(dir)?.unwrap_or_default();
    index.upsert(entry.clone())?;
    let target = dir.join(&entry.file);
    super::write_atomic(&target, &bytes).map_err(io(&target))?;
    let mut text = serde_json::to_vec_pretty(&index).expect("an index serialises");
    text.push(b'\n');
    let index_path = dir.join(INDEX);
    super::write_atomic(&index_path, &text).map_err(io(&index_path))?;
    Ok(entry)
}

/// Finds `id` (at `version`, or its highest) in the registry `dir` and
/// returns its entry and the package's bytes, checked against the index.
pub fn fetch(
    dir: &Path,
    id: &str,
    version: Option<&str>,
) -> Result<(Entry, Vec<u8>), RegistryError> {
    let index = Index::read(dir)?.ok_or_else(|| {
        RegistryError::NotARegistry(dir.display().to_string(), format!("it has no {INDEX}"))
    })?;
    let entry = index.find(id, version)?.clone();
    if entry.file.contains(['/', '\\']) || entry.file.contains("..") {
        return Err(RegistryError::NotARegistry(
            dir.display().to_string(),
            format!(
                "its index names the file {:?}, outside the registry",
                entry.file
            ),
        ));
    }
    let bytes = read_limited(&dir.join(&entry.file)).map_err(VerifyError::from)?;
    let actual = super::sha256_hex(&bytes);
    if actual != entry.sha256 {
        return Err(RegistryError::FileMismatch {
            file: entry.file,
            expected: entry.sha256,
            actual,
        });
    }
    Ok((entry, bytes))
}

/// `index.lock`, held while the index is rewritten.
struct Lock(PathBuf);

impl Lock {
    fn take(dir: &Path) -> Result<Self, RegistryError> {
        let path = dir.join(LOCK);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(_) => Ok(Self(path)),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(RegistryError::Locked(path))
            }
            Err(error) => Err(io(&path)(error)),
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, version: &str, sha: &str) -> Entry {
        Entry {
            id: id.into(),
            name: id.into(),
            version: version.into(),
            publisher: "acme".into(),
            description: String::new(),
            capabilities: Capabilities::default(),
            file: format!("{id}-{version}.cubepkg"),
            sha256: sha.into(),
            key_id: Some("0123456789abcdef".into()),
            signed: true,
        }
    }

    #[test]
    fn the_index_keeps_every_version_and_finds_the_highest() {
        let mut index = Index::default();
        index.upsert(entry("jira", "0.10.0", "a")).unwrap();
        index.upsert(entry("jira", "0.9.0", "b")).unwrap();
        index.upsert(entry("slack", "1.0.0", "c")).unwrap();
        index.upsert(entry("jira", "0.9.0", "b")).unwrap();
        assert_eq!(index.packages.len(), 3);
        assert_eq!(index.packages[0].version, "0.9.0");
        assert_eq!(index.find("jira", None).unwrap().version, "0.10.0");
        assert_eq!(index.find("jira", Some("0.9.0")).unwrap().sha256, "b");
        let error = index.find("jira", Some("2.0.0")).unwrap_err().to_string();
        assert!(error.contains("it has 0.9.0, 0.10.0"), "{error}");
        assert!(matches!(
            index.find("servicenow", None),
            Err(RegistryError::NoSuchPackage(_))
        ));
        assert!(matches!(
            index.upsert(entry("jira", "0.9.0", "different")),
            Err(RegistryError::VersionTaken { .. })
        ));
    }

    #[test]
    fn a_held_lock_refuses_a_second_publisher() {
        let dir = tempfile::tempdir().unwrap();
        let lock = Lock::take(dir.path()).unwrap();
        assert!(matches!(
            Lock::take(dir.path()),
            Err(RegistryError::Locked(_))
        ));
        drop(lock);
        assert!(Lock::take(dir.path()).is_ok());
    }

    #[test]
    fn the_index_is_checked_against_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("jira-1.0.0.cubepkg"), b"bytes").unwrap();
        let mut index = Index::default();
        index.upsert(entry("jira", "1.0.0", "nope")).unwrap();
        std::fs::write(dir.path().join(INDEX), serde_json::to_vec(&index).unwrap()).unwrap();
        assert!(matches!(
            fetch(dir.path(), "jira", None),
            Err(RegistryError::FileMismatch { .. })
        ));
        assert!(matches!(
            fetch(&dir.path().join("nothing"), "jira", None),
            Err(RegistryError::NotARegistry(..))
        ));
    }
}
