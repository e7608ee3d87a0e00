//! Installing a verified package into `<data dir>/connectors`.
//!
//! Layout: `connectors/<id>/<version>/{connector.wasm, manifest.json,
//! install.json}` and `connectors/<id>/current`, a one-line file naming the
//! version the host loads. Versions sit side by side so that an upgrade or
//! a rollback is a change of `current`, not a copy. An upgrade that asks for
//! capabilities the current version does not is refused unless approved.
//!
//! Nothing is left half-installed: the package is verified before anything
//! is written; the files go into a temporary directory inside `connectors`
//! (same file system), which is renamed into place as the last step, and
//! removed on any failure. `current` is replaced through a rename too.

use std::path::{Path, PathBuf};

use super::capabilities;
use super::keys::{KeyError, TRUSTED_DIR, TrustedKeys};
use super::ownership::{self, Bundled, CapabilityDiff, Claimant, Owner, Refusal, Replacement};
use super::package::{COMPONENT, Capabilities, MANIFEST, Manifest, Package};
pub use super::record::{INSTALL_RECORD, InstallRecord, read_record};
use super::verify::{Policy, Trust, VerifyError, verify};
use crate::shared::connector_id::is_id;

/// The directory of installed packages inside a data directory.
pub const CONNECTORS_DIR: &str = "connectors";
/// The file in `connectors/<id>/` that names the version in use.
pub const CURRENT: &str = "current";

/// Why an install failed. Nothing was installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error("cannot read the trusted keys: {0}")]
    TrustedKeys(#[from] KeyError),
    #[error(
        "{id} {version} is already installed from a different package (SHA-256 {installed}); a version names one content. Install a new version, or remove {dir} first if you mean to replace it"
    )]
    Conflict {
        id: String,
        version: String,
        installed: String,
        dir: String,
    },
    #[error(
        "{id} {version} asks for more than the installed {current}: {}. Nothing was changed. If you accept that, install it again with --approve-capabilities; integrations keep their grants, and each one reaches something new only once you grant it there",
        .added.join("; ")
    )]
    NewCapabilities {
        id: String,
        version: String,
        current: String,
        /// What is new, in plain words, each with its pattern.
        added: Vec<String>,
    },
    #[error(
        "the connector id `{id}` belongs to the publisher `{owner}`{key}, who installed it first (on {since}); this package is from `{publisher}`. One publisher's package cannot replace another's connector: it would receive the secrets of every integration that uses `{id}`. Nothing was changed. Ask `{publisher}` to publish under an id of its own, or, if you mean to switch publishers, uninstall `{id}` (every version) first",
        key = .owner_key.as_ref().map(|k| format!(" (key {k})")).unwrap_or_default()
    )]
    IdOwned {
        id: String,
        publisher: String,
        owner: String,
        owner_key: Option<String>,
        since: String,
    },
    #[error(
        "`{id}` is the id of a connector bundled with this host, and this package (publisher `{publisher}`) would replace it: the replacement receives the decrypted secrets of every integration that uses `{id}` and writes the data they sync. Nothing was changed. If you mean to replace the bundled connector, review what the package asks for and confirm the replacement (--replace-bundled)"
    )]
    ReplacesBundled {
        id: String,
        publisher: String,
        /// How what the package asks for differs from the bundled
        /// connector.
        diff: Box<CapabilityDiff>,
    },
    #[error(
        "{id} {version} is older than the installed {current}. Nothing was changed. Installing an older version can bring back what a newer one fixed; if you mean it, use rollback, or install it again confirming the downgrade (--allow-downgrade)"
    )]
    Downgrade {
        id: String,
        version: String,
        current: String,
    },
    #[error("cannot install into {path}: {error}")]
    Io { path: String, error: std::io::Error },
}

/// What the admin allowed for an install.
#[derive(Clone, Copy, Debug, Default)]
pub struct InstallOptions {
    /// Install an unsigned package, or one signed by a key this host does
    /// not trust (`--allow-untrusted`).
    pub allow_untrusted: bool,
    /// Switch to a version that asks for capabilities the current version
    /// does not (`--approve-capabilities`).
    pub approve_capabilities: bool,
    /// Replace the bundled connector of the same id (`--replace-bundled`).
    pub replace_bundled: bool,
    /// Make an older version than the current one current
    /// (`--allow-downgrade`).
    pub allow_downgrade: bool,
}

/// An install that succeeded.
#[derive(Debug)]
pub struct Installed {
    pub dir: PathBuf,
    pub record: InstallRecord,
    /// True when this exact package was installed already.
    pub already: bool,
}

/// `<data dir>/connectors`.
pub fn connectors_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(CONNECTORS_DIR)
}

/// The keys `<data dir>/trusted-keys` holds.
pub fn trusted_keys(data_dir: &Path) -> Result<TrustedKeys, KeyError> {
    TrustedKeys::load(&data_dir.join(TRUSTED_DIR))
}

/// Verifies the package `bytes` and installs it under `data_dir`, making it
/// the current version of its connector. An upgrade that asks for more than
/// the current version is refused (see [`install_with`]); so is a package
/// under an id bundled with the server (as it recorded at its last start)
/// or owned by another publisher.
pub async fn install(
    bytes: &[u8],
    data_dir: &Path,
    allow_untrusted: bool,
) -> Result<Installed, InstallError> {
    let bundled = Bundled::recorded(&connectors_dir(data_dir));
    install_with(
        bytes,
        data_dir,
        InstallOptions {
            allow_untrusted,
            ..Default::default()
        },
        &bundled,
        "cli",
    )
    .await
}

/// Verifies the package `bytes` and installs it under `data_dir`, making it
/// the current version of its connector.
///
/// The id must be free or the package's publisher's (see
/// [`super::ownership`]): a package under an id of `bundled` is refused
/// ([`InstallError::ReplacesBundled`]) unless `replace_bundled`, which is
/// recorded with the id as `approver`'s choice; one under an id another
/// publisher owns is refused ([`InstallError::IdOwned`]) whatever the
/// options.
///
/// When another version of the connector is current, the package passes the
/// same checks, and then its manifest's capabilities are compared with the
/// current version's: anything new refuses the install
/// ([`InstallError::NewCapabilities`]) unless `approve_capabilities`, and an
/// older version refuses it ([`InstallError::Downgrade`]) unless
/// `allow_downgrade`. The versions already installed stay, for
/// [`super::lifecycle::rollback`].
pub async fn install_with(
    bytes: &[u8],
    data_dir: &Path,
    options: InstallOptions,
    bundled: &Bundled,
    approver: &str,
) -> Result<Installed, InstallError> {
    let trusted = trusted_keys(data_dir)?;
    let policy = if options.allow_untrusted {
        Policy::AllowUntrusted
    } else {
        Policy::RequireTrusted
    };
    let package = Package::from_bytes(bytes).map_err(VerifyError::from)?;
    let verified = verify(package, &trusted, policy).await?;
    let package = &verified.package;
    let manifest = &package.manifest;
    let signer = verified.trust.signer();
    let record = InstallRecord {
        id: manifest.id.clone(),
        version: manifest.version.clone(),
        publisher: manifest.publisher.clone(),
        trusted: matches!(verified.trust, Trust::Trusted(_)),
        key_id: signer.map(|s| s.key_id.clone()),
        installed_at: chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        sha256: super::sha256_hex(bytes),
        component_sha256: manifest.component_sha256.clone(),
    };

    let connectors = connectors_dir(data_dir);
    let id_dir = connectors.join(&manifest.id);
    let target = id_dir.join(&manifest.version);
    let owner = claim_id(
        &id_dir,
        manifest,
        &record,
        bundled,
        options.replace_bundled,
        approver,
    )?;
    if !options.allow_downgrade
        && let Some(current) = current_version(&id_dir)
        && is_older(&manifest.version, &current)
    {
        return Err(InstallError::Downgrade {
            id: manifest.id.clone(),
            version: manifest.version.clone(),
            current,
        });
    }
    if !options.approve_capabilities
        && let Some(current) = current_version(&id_dir)
        && current != manifest.version
    {
        let current_capabilities = read_manifest(&id_dir.join(&current))
            .map(|m| m.capabilities)
            .unwrap_or_default();
        let added = capabilities::added(&manifest.capabilities, &current_capabilities);
        if !added.http.is_empty() || !added.ldap.is_empty() {
            return Err(InstallError::NewCapabilities {
                id: manifest.id.clone(),
                version: manifest.version.clone(),
                current,
                added: capabilities::added_sentences(&added),
            });
        }
    }
    if target.exists() {
        let installed = read_record(&target).map(|r| r.sha256).unwrap_or_default();
        if installed != record.sha256 {
            return Err(InstallError::Conflict {
                id: manifest.id.clone(),
                version: manifest.version.clone(),
                installed,
                dir: target.display().to_string(),
            });
        }
        if let Some(owner) = &owner {
            ownership::write_owner(&id_dir, owner).map_err(io(&id_dir))?;
        }
        set_current(&id_dir, &manifest.version)?;
        return Ok(Installed {
            record: read_record(&target).unwrap_or(record),
            dir: target,
            already: true,
        });
    }

    std::fs::create_dir_all(&connectors).map_err(io(&connectors))?;
    if let Some(owner) = &owner {
        ownership::write_owner(&id_dir, owner).map_err(io(&id_dir))?;
    }
    let staging = Staging::create(&connectors, &manifest.id, &manifest.version)?;
    let mut record_bytes = serde_json::to_vec_pretty(&record).expect("a record serialises");
    record_bytes.push(b'\n');
    staging.write(COMPONENT, &package.component)?;
    staging.write(MANIFEST, &package.manifest_bytes)?;
    staging.write(INSTALL_RECORD, &record_bytes)?;
    std::fs::create_dir_all(&id_dir).map_err(io(&id_dir))?;
    staging.finish(&target)?;
    if let Err(error) = set_current(&id_dir, &manifest.version) {
        // Not current means not installed: take the version back out.
        let _ = std::fs::remove_dir_all(&target);
        return Err(error);
    }
    Ok(Installed {
        dir: target,
        record,
        already: false,
    })
}

/// Checks that the package may take its id (see [`super::ownership`]), and
/// returns the owner record to write, if it changes: the first install of
/// an id records its publisher; an approved replacement of a bundled
/// connector records the approval.
fn claim_id(
    id_dir: &Path,
    manifest: &Manifest,
    record: &InstallRecord,
    bundled: &Bundled,
    replace_bundled: bool,
    approver: &str,
) -> Result<Option<Owner>, InstallError> {
    let existing = ownership::owner(id_dir);
    let is_bundled = bundled.contains(&manifest.id);
    let claimant = Claimant {
        publisher: &manifest.publisher,
        key_id: record.key_id.as_deref(),
        trusted: record.trusted,
    };
    let mut owner = existing.clone().unwrap_or_else(|| Owner {
        publisher: record.publisher.clone(),
        key_id: record.key_id.clone(),
        trusted: record.trusted,
        since: record.installed_at.clone(),
        replaces_bundled: None,
    });
    if is_bundled && replace_bundled && owner.replaces_bundled.is_none() {
        owner.replaces_bundled = Some(Replacement {
            approved_by: approver.to_owned(),
            approved_at: record.installed_at.clone(),
        });
    }
    let checked = if is_bundled && replace_bundled {
        ownership::check(Some(&owner), true, claimant)
    } else {
        ownership::check(existing.as_ref(), is_bundled, claimant)
    };
    match checked {
        Ok(()) => Ok((existing.as_ref() != Some(&owner)).then_some(owner)),
        Err(Refusal::Bundled) => {
            let empty = Capabilities::default();
            let theirs = bundled.connectors.get(&manifest.id).unwrap_or(&empty);
            Err(InstallError::ReplacesBundled {
                id: manifest.id.clone(),
                publisher: manifest.publisher.clone(),
                diff: Box::new(CapabilityDiff::between(&manifest.capabilities, theirs)),
            })
        }
        Err(Refusal::OwnedByAnother(owner)) => Err(InstallError::IdOwned {
            id: manifest.id.clone(),
            publisher: manifest.publisher.clone(),
            owner: owner.publisher,
            owner_key: owner.key_id,
            since: owner.since,
        }),
    }
}

/// Whether `version` is older than `current` by semver; versions that are
/// not semver are not compared.
pub fn is_older(version: &str, current: &str) -> bool {
    match (
        semver::Version::parse(version),
        semver::Version::parse(current),
    ) {
        (Ok(version), Ok(current)) => version < current,
        _ => false,
    }
}

/// Replaces `<id dir>/current` through a temporary file and a rename.
pub(crate) fn set_current(id_dir: &Path, version: &str) -> Result<(), InstallError> {
    let path = id_dir.join(CURRENT);
    super::write_atomic(&path, format!("{version}\n").as_bytes()).map_err(io(&path))
}

/// The version `<id dir>/current` names, if it names a usable one.
pub fn current_version(id_dir: &Path) -> Option<String> {
    let version = std::fs::read_to_string(id_dir.join(CURRENT)).ok()?;
    let version = version.trim();
    if version.is_empty() || version.contains(['/', '\\']) || version.contains("..") {
        return None;
    }
    Some(version.to_owned())
}

/// Reads `manifest.json` of an installed version.
pub fn read_manifest(version_dir: &Path) -> Option<Manifest> {
    let bytes = std::fs::read(version_dir.join(MANIFEST)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The current component of every connector installed in `connectors`
/// (`<id>/<current version>/connector.wasm`), sorted. Directories without a
/// valid `current` are skipped; so is anything that is not one.
pub fn current_components(connectors: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(connectors) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(is_id))
        .filter_map(|e| {
            let version = current_version(&e.path())?;
            let file = e.path().join(version).join(COMPONENT);
            file.is_file().then_some(file)
        })
        .collect();
    files.sort();
    files
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> InstallError + '_ {
    move |error| InstallError::Io {
        path: path.display().to_string(),
        error,
    }
}

/// A temporary directory inside `connectors`, removed unless renamed into
/// place.
struct Staging {
    dir: PathBuf,
    done: bool,
}

impl Staging {
    fn create(connectors: &Path, id: &str, version: &str) -> Result<Self, InstallError> {
        let dir = connectors.join(format!(
            ".installing-{id}-{version}-{}-{}",
            std::process::id(),
            super::nanos()
        ));
        std::fs::create_dir(&dir).map_err(io(&dir))?;
        Ok(Self { dir, done: false })
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), InstallError> {
        let path = self.dir.join(name);
        (|| {
            use std::io::Write;
            let mut file = std::fs::File::create(&path)?;
            file.write_all(bytes)?;
            file.sync_all()
        })()
        .map_err(io(&path))
    }

    fn finish(mut self, target: &Path) -> Result<(), InstallError> {
        std::fs::rename(&self.dir, target).map_err(io(target))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_current_versions_are_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (id, version) in [("jira", "1.0.0"), ("jira", "1.1.0"), ("slack", "2.0.0")] {
            let version_dir = root.join(id).join(version);
            std::fs::create_dir_all(&version_dir).unwrap();
            std::fs::write(version_dir.join(COMPONENT), b"x").unwrap();
        }
        std::fs::write(root.join("jira").join(CURRENT), "1.0.0\n").unwrap();
        // slack has no `current`: not loaded. A staging directory is never one.
        std::fs::create_dir_all(root.join(".installing-x").join("1.0.0")).unwrap();
        std::fs::create_dir_all(root.join("evil")).unwrap();
        std::fs::write(root.join("evil").join(CURRENT), "../jira/1.1.0").unwrap();
        assert_eq!(
            current_components(root),
            vec![root.join("jira/1.0.0/connector.wasm")]
        );
        assert!(current_components(&root.join("missing")).is_empty());
    }

    #[test]
    fn a_staging_directory_that_is_not_finished_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let staging = Staging::create(dir.path(), "jira", "1.0.0").unwrap();
        staging.write(COMPONENT, b"x").unwrap();
        drop(staging);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
