//! The registry's packages as the marketplace page and the API show them:
//! each one's signature checked against this host's trusted keys, what it
//! asks for in plain words, and how it relates to what is installed.
//!
//! The index is only a list: each package is fetched (from the download
//! cache, for an HTTP registry, once its digest is known) and its
//! signature checked, so a badge never repeats what the index claims.

use std::path::Path;

use serde::Serialize;

use super::super::AppState;
use super::super::error::Error;
use super::capability_sentences;
use crate::marketplace::capabilities;
use crate::marketplace::install::{self, CONNECTORS_DIR, CURRENT};
use crate::marketplace::keys::TrustedKeys;
use crate::marketplace::package::{Capabilities, Manifest, Package};
use crate::marketplace::registry::Entry;
use crate::marketplace::signature;
use crate::marketplace::source::{CACHE_DIR, RegistrySource};
use crate::net::GuardedClient;

/// Who vouches for a package in the registry, checked against its bytes
/// (the index's `signed` and `key_id` are not believed).
#[derive(Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(in crate::web) enum Status {
    /// Signed by a key this host trusts.
    Verified,
    /// Validly signed, by a key this host does not trust.
    Untrusted,
    Unsigned,
    /// The file cannot be used: missing, altered, signature invalid.
    Invalid,
}

impl Status {
    pub(super) fn label(self) -> &'static str {
        match self {
            Status::Verified => "verified",
            Status::Untrusted => "signed, publisher not trusted",
            Status::Unsigned => "unsigned",
            Status::Invalid => "cannot be installed",
        }
    }
}

/// One package version of the registry, as the page and the API show it.
#[derive(Serialize)]
pub(in crate::web) struct PackageView {
    pub id: String,
    pub name: String,
    pub version: String,
    pub publisher: String,
    pub description: String,
    pub capabilities: Capabilities,
    /// [`capability_sentences`].
    pub asks_for: Vec<String>,
    pub status: Status,
    pub status_label: &'static str,
    /// Why the package cannot be installed ([`Status::Invalid`]).
    pub problem: Option<String>,
    /// The signer's key id, from the package's signature.
    pub key_id: Option<String>,
    /// SHA-256 of the package file, hex.
    pub sha256: String,
    /// The version of this connector installed on this host, if any.
    pub installed_version: Option<String>,
    /// Whether this version is the one installed.
    pub installed: bool,
    /// What this version asks for that the installed version does not, in
    /// plain words with each pattern ([`capabilities::added_sentences`],
    /// from the package's own manifest); installing it needs approval.
    /// Empty when this version is installed, or none is.
    pub new_capabilities: Vec<String>,
    /// Whether this version is older than the installed one (installing
    /// it needs the admin's confirmation).
    pub older: bool,
}

/// The registry's packages, or why there are none to show.
pub(in crate::web) struct Listing {
    pub packages: Vec<PackageView>,
    pub problem: Option<String>,
}

/// Reads the registry and checks each package's signature (not the whole
/// verification: that runs on install).
async fn listing(
    client: &GuardedClient,
    registry: Option<&RegistrySource>,
    data_dir: Option<&Path>,
) -> Listing {
    let Some(registry) = registry else {
        return Listing {
            packages: Vec::new(),
            problem: Some(
                "No registry is configured. Start the server with --registry naming a directory that `cube plugin publish` writes to, or the http(s) URL where one is served (or set CUBE_REGISTRY). Packages can also be installed by URL or upload below."
                    .to_owned(),
            ),
        };
    };
    let index = match registry.index(client).await {
        Ok(Some(index)) => index,
        Ok(None) => {
            return Listing {
                packages: Vec::new(),
                problem: Some(format!(
                    "The registry {registry} has no index.json yet: nothing has been published to it."
                )),
            };
        }
        Err(error) => {
            return Listing {
                packages: Vec::new(),
                problem: Some(error.to_string()),
            };
        }
    };
    let trusted = trusted_keys(data_dir);
    let mut packages = Vec::with_capacity(index.packages.len());
    for entry in &index.packages {
        packages.push(view(client, registry, data_dir, entry, &trusted).await);
    }
    Listing {
        packages,
        problem: None,
    }
}

/// The host's trusted keys; none when there is no data directory or they
/// cannot be read (installing then says why).
fn trusted_keys(data_dir: Option<&Path>) -> TrustedKeys {
    data_dir
        .and_then(|dir| install::trusted_keys(dir).ok())
        .unwrap_or_default()
}

async fn view(
    client: &GuardedClient,
    registry: &RegistrySource,
    data_dir: Option<&Path>,
    entry: &Entry,
    trusted: &TrustedKeys,
) -> PackageView {
    let cache = data_dir.map(|dir| dir.join(CACHE_DIR));
    let (status, key_id, manifest, problem) =
        match check(client, registry, cache.as_deref(), entry, trusted).await {
            Ok((status, key_id, manifest)) => (status, key_id, Some(manifest), None),
            Err(problem) => (Status::Invalid, None, None, Some(problem)),
        };
    let installed_version = data_dir.and_then(|dir| installed_version(dir, &entry.id));
    let new_capabilities = match (data_dir, &manifest) {
        (Some(dir), Some(manifest)) => upgrade(dir, manifest).1,
        _ => Capabilities::default(),
    };
    PackageView {
        id: entry.id.clone(),
        name: entry.name.clone(),
        version: entry.version.clone(),
        publisher: entry.publisher.clone(),
        description: entry.description.clone(),
        capabilities: entry.capabilities.clone(),
        asks_for: capability_sentences(&entry.capabilities),
        status,
        status_label: status.label(),
        problem,
        key_id,
        sha256: entry.sha256.clone(),
        installed: installed_version.as_deref() == Some(entry.version.as_str()),
        older: installed_version
            .as_deref()
            .is_some_and(|current| install::is_older(&entry.version, current)),
        installed_version,
        new_capabilities: capabilities::added_sentences(&new_capabilities),
    }
}

/// Installing `manifest` over what is installed: the current version when
/// it is another one, and what `manifest` asks for that it does not (as
/// [`install::install_with`] compares them).
pub(super) fn upgrade(data_dir: &Path, manifest: &Manifest) -> (Option<String>, Capabilities) {
    let id_dir = install::connectors_dir(data_dir).join(&manifest.id);
    match install::current_version(&id_dir) {
        Some(current) if current != manifest.version => {
            let installed = install::read_manifest(&id_dir.join(&current))
                .map(|m| m.capabilities)
                .unwrap_or_default();
            let added = capabilities::added(&manifest.capabilities, &installed);
            (Some(current), added)
        }
        _ => (None, Capabilities::default()),
    }
}

/// The package's signature status, signer key id and manifest, from its
/// bytes.
async fn check(
    client: &GuardedClient,
    registry: &RegistrySource,
    cache: Option<&Path>,
    entry: &Entry,
    trusted: &TrustedKeys,
) -> Result<(Status, Option<String>, Manifest), String> {
    let (_, bytes) = registry
        .fetch(client, &entry.id, Some(&entry.version), cache)
        .await
        .map_err(|e| e.to_string())?;
    let package = Package::from_bytes(&bytes).map_err(|e| e.to_string())?;
    if package.manifest.id != entry.id || package.manifest.version != entry.version {
        return Err(format!(
            "the registry lists it as {} {}, but the package is {} {}",
            entry.id, entry.version, package.manifest.id, package.manifest.version
        ));
    }
    let (status, key_id) = match signature::check(&package)
        .map_err(|why| format!("the package's signature is invalid: {why}"))?
    {
        None => (Status::Unsigned, None),
        Some(signer) => {
            let status = match trusted.find(&signer.key) {
                Some(key) if key.publisher == signer.publisher => Status::Verified,
                _ => Status::Untrusted,
            };
            (status, Some(signer.key_id))
        }
    };
    Ok((status, key_id, package.manifest))
}

/// `<data dir>/connectors/<id>/current`.
fn installed_version(data_dir: &Path, id: &str) -> Option<String> {
    let text =
        std::fs::read_to_string(data_dir.join(CONNECTORS_DIR).join(id).join(CURRENT)).ok()?;
    let version = text.trim();
    (!version.is_empty()).then(|| version.to_owned())
}

/// [`listing`] of the server's registry.
pub(in crate::web) async fn load_listing(state: &AppState) -> Result<Listing, Error> {
    Ok(listing(
        &state.outbound.downloads,
        state.registry.as_ref(),
        state.data_dir.as_deref(),
    )
    .await)
}

/// One package of the registry; `None` when the registry has no such id
/// and version.
pub(super) async fn find(
    state: &AppState,
    id: &str,
    version: &str,
) -> Result<Option<PackageView>, Error> {
    let listing = load_listing(state).await?;
    Ok(listing
        .packages
        .into_iter()
        .find(|p| p.id == id && p.version == version))
}
