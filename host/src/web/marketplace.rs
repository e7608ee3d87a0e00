//! `/marketplace`: the connector packages of the server's registry
//! (`cube serve --registry DIR`), and installing them from the admin UI.
//!
//! Anyone signed in may look; only admins install. Installing goes through
//! [`crate::marketplace::install::install`], the same checks as `cube plugin
//! install`: the registry's index is only a list, the package itself is
//! verified. A package that is unsigned, or signed by a key this host does
//! not trust, needs the admin's explicit consent, and is audited as
//! `marketplace.install.untrusted`. The installed connector is loaded into
//! the running catalog at once; installing grants it nothing (grants stay
//! per integration).

use std::net::SocketAddr;
use std::path::Path;

use axum::Router;
use axum::extract::{ConnectInfo, Form, Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppState;
use super::error::Error;
use super::session::{Admin, SignedIn};
use super::templates;
use super::urlencode;
use crate::marketplace::install::{self, CONNECTORS_DIR, CURRENT, InstallError};
use crate::marketplace::keys::TrustedKeys;
use crate::marketplace::package::{COMPONENT, Capabilities, Package};
use crate::marketplace::registry::{self, Entry, Index, RegistryError};
use crate::marketplace::signature;
use crate::store::audit::AuditEvent;

pub fn routes() -> Router<AppState> {
    Router::new().route("/marketplace", get(list)).route(
        "/marketplace/{id}/{version}",
        get(review).post(install_form),
    )
}

/// What capability patterns ask for, in plain words (shared with the
/// CLI's upgrade check).
pub(in crate::web) use crate::marketplace::capabilities::sentences as capability_sentences;

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
    fn label(self) -> &'static str {
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
}

/// The registry's packages, or why there are none to show.
pub(in crate::web) struct Listing {
    pub packages: Vec<PackageView>,
    pub problem: Option<String>,
}

/// Reads the registry and checks each package's signature (not the whole
/// verification: that runs on install). Blocking: files are read.
fn listing(registry: Option<&Path>, data_dir: Option<&Path>) -> Listing {
    let Some(registry) = registry else {
        return Listing {
            packages: Vec::new(),
            problem: Some(
                "No registry is configured. Start the server with --registry DIR (or CUBE_REGISTRY) naming a directory that `cube plugin publish` writes to."
                    .to_owned(),
            ),
        };
    };
    let index = match Index::read(registry) {
        Ok(Some(index)) => index,
        Ok(None) => {
            return Listing {
                packages: Vec::new(),
                problem: Some(format!(
                    "The registry {} has no index.json yet: nothing has been published to it.",
                    registry.display()
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
    let packages = index
        .packages
        .iter()
        .map(|entry| view(registry, data_dir, entry, &trusted))
        .collect();
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

fn view(
    registry: &Path,
    data_dir: Option<&Path>,
    entry: &Entry,
    trusted: &TrustedKeys,
) -> PackageView {
    let (status, key_id, problem) = match check(registry, entry, trusted) {
        Ok((status, key_id)) => (status, key_id, None),
        Err(problem) => (Status::Invalid, None, Some(problem)),
    };
    let installed_version = data_dir.and_then(|dir| installed_version(dir, &entry.id));
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
        installed_version,
    }
}

/// The package's signature status and signer key id, from its bytes.
fn check(
    registry: &Path,
    entry: &Entry,
    trusted: &TrustedKeys,
) -> Result<(Status, Option<String>), String> {
    let (_, bytes) =
        registry::fetch(registry, &entry.id, Some(&entry.version)).map_err(|e| e.to_string())?;
    let package = Package::from_bytes(&bytes).map_err(|e| e.to_string())?;
    if package.manifest.id != entry.id || package.manifest.version != entry.version {
        return Err(format!(
            "the registry lists it as {} {}, but the package is {} {}",
            entry.id, entry.version, package.manifest.id, package.manifest.version
        ));
    }
    match signature::check(&package)
        .map_err(|why| format!("the package's signature is invalid: {why}"))?
    {
        None => Ok((Status::Unsigned, None)),
        Some(signer) => {
            let status = match trusted.find(&signer.key) {
                Some(key) if key.publisher == signer.publisher => Status::Verified,
                _ => Status::Untrusted,
            };
            Ok((status, Some(signer.key_id)))
        }
    }
}

/// `<data dir>/connectors/<id>/current`.
fn installed_version(data_dir: &Path, id: &str) -> Option<String> {
    let text =
        std::fs::read_to_string(data_dir.join(CONNECTORS_DIR).join(id).join(CURRENT)).ok()?;
    let version = text.trim();
    (!version.is_empty()).then(|| version.to_owned())
}

/// [`listing`], off the async workers.
pub(in crate::web) async fn load_listing(state: &AppState) -> Result<Listing, Error> {
    let registry = state.registry.clone();
    let data_dir = state.data_dir.clone();
    tokio::task::spawn_blocking(move || listing(registry.as_deref(), data_dir.as_deref()))
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("reading the registry panicked: {e}")))
}

/// One package of the registry; `None` when the registry has no such id
/// and version.
async fn find(state: &AppState, id: &str, version: &str) -> Result<Option<PackageView>, Error> {
    let listing = load_listing(state).await?;
    Ok(listing
        .packages
        .into_iter()
        .find(|p| p.id == id && p.version == version))
}

/// Why an install did not happen. Nothing was installed.
pub(in crate::web) enum InstallFailure {
    /// The registry has no such package or version.
    NotFound,
    /// The message says which check failed and what to do.
    Refused(String),
    Internal(anyhow::Error),
}

/// A finished install.
pub(in crate::web) struct Done {
    pub record: install::InstallRecord,
    pub already: bool,
    /// Why the installed connector did not load into the running catalog.
    pub load_error: Option<String>,
}

/// Installs `id` `version` from the registry, audits it, and loads it
/// into the running catalog.
pub(in crate::web) async fn install_package(
    state: &AppState,
    actor: &str,
    remote: SocketAddr,
    id: &str,
    version: &str,
    accept_untrusted: bool,
    via: &str,
) -> Result<Done, InstallFailure> {
    let Some(registry) = state.registry.clone() else {
        return Err(InstallFailure::Refused(
            "No registry is configured: start the server with --registry DIR.".to_owned(),
        ));
    };
    let Some(data_dir) = state.data_dir.clone() else {
        return Err(InstallFailure::Refused(
            "This server has no data directory to install into.".to_owned(),
        ));
    };
    let fetched = {
        let (id, version) = (id.to_owned(), version.to_owned());
        tokio::task::spawn_blocking(move || registry::fetch(&registry, &id, Some(&version)))
            .await
            .map_err(|e| {
                InstallFailure::Internal(anyhow::anyhow!("reading the registry panicked: {e}"))
            })?
    };
    let bytes = match fetched {
        Ok((_, bytes)) => bytes,
        Err(RegistryError::NoSuchPackage(_) | RegistryError::NoSuchVersion { .. }) => {
            return Err(InstallFailure::NotFound);
        }
        Err(error) => return Err(InstallFailure::Refused(error.to_string())),
    };
    let installed = match install::install(&bytes, &data_dir, accept_untrusted).await {
        Ok(installed) => installed,
        Err(error @ InstallError::Io { .. }) => return Err(InstallFailure::Internal(error.into())),
        Err(error) => {
            let mut message = error.to_string();
            if !accept_untrusted
                && matches!(
                    error,
                    InstallError::Verify(
                        crate::marketplace::verify::VerifyError::Unsigned
                            | crate::marketplace::verify::VerifyError::Untrusted { .. }
                    )
                )
            {
                message.push_str(
                    ". In the admin UI, tick “I accept a package whose publisher I have not trusted” (in the API, \"accept_untrusted\": true) to install it anyway.",
                );
            }
            return Err(InstallFailure::Refused(message));
        }
    };
    let record = installed.record;
    let action = if record.trusted {
        "marketplace.install"
    } else {
        "marketplace.install.untrusted"
    };
    state
        .store
        .audit(AuditEvent {
            actor,
            action,
            target: &format!("connector:{}", record.id),
            before: None,
            after: Some(json!({
                "version": record.version,
                "publisher": record.publisher,
                "trusted": record.trusted,
                "key_id": record.key_id,
                "sha256": record.sha256,
                "already_installed": installed.already,
                "via": via,
            })),
            remote: Some(&remote.ip().to_string()),
        })
        .await
        .map_err(|e| InstallFailure::Internal(e.into()))?;
    let load_error = state
        .catalog
        .load_installed(&state.runtime, installed.dir.join(COMPONENT))
        .await
        .err();
    Ok(Done {
        record,
        already: installed.already,
        load_error,
    })
}

#[derive(Deserialize)]
struct Notice {
    notice: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<Notice>,
) -> Result<Html<String>, Error> {
    let listing = load_listing(&state).await?;
    templates::page(
        "marketplace/list.html",
        context! {
            user => signed_in.user(),
            csrf_token => &signed_in.session.csrf_token,
            registry => state.registry.as_ref().map(|p| p.display().to_string()),
            packages => listing.packages,
            problem => listing.problem,
            notice => query.notice,
        },
    )
}

async fn review(
    State(state): State<AppState>,
    signed_in: SignedIn,
    UrlPath((id, version)): UrlPath<(String, String)>,
) -> Result<Html<String>, Error> {
    let package = find(&state, &id, &version).await?.ok_or(Error::NotFound)?;
    review_page(&signed_in, &package, None, false)
}

fn review_page(
    signed_in: &SignedIn,
    package: &PackageView,
    error: Option<String>,
    accept_untrusted: bool,
) -> Result<Html<String>, Error> {
    templates::page(
        "marketplace/review.html",
        context! {
            user => signed_in.user(),
            csrf_token => &signed_in.session.csrf_token,
            p => package,
            error => error,
            accept_untrusted => accept_untrusted,
        },
    )
}

#[derive(Deserialize)]
struct InstallForm {
    csrf_token: String,
    accept_untrusted: Option<String>,
}

async fn install_form(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    UrlPath((id, version)): UrlPath<(String, String)>,
    Form(form): Form<InstallForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    let accept = form.accept_untrusted.is_some();
    let username = admin.0.user().username.clone();
    match install_package(&state, &username, remote, &id, &version, accept, "web").await {
        Ok(done) => {
            let r = &done.record;
            let how = if r.trusted {
                "verified"
            } else {
                "publisher not trusted, accepted by you"
            };
            let verb = if done.already {
                "was already installed"
            } else {
                "is installed"
            };
            let loaded = match &done.load_error {
                None => "it is on the Connectors page now; grant it what it needs per integration"
                    .to_owned(),
                Some(why) => format!("but it did not load: {why}"),
            };
            let notice = format!("{} {} {verb} ({how}); {loaded}.", r.id, r.version);
            Ok(
                Redirect::to(&format!("/marketplace?notice={}", urlencode(&notice)))
                    .into_response(),
            )
        }
        Err(InstallFailure::NotFound) => Err(Error::NotFound),
        Err(InstallFailure::Internal(error)) => Err(Error::Internal(error)),
        Err(InstallFailure::Refused(message)) => {
            let package = find(&state, &id, &version).await?.ok_or(Error::NotFound)?;
            let html = review_page(&admin.0, &package, Some(message), accept)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_read_as_sentences() {
        let caps = |http: &[&str], ldap: &[&str]| Capabilities {
            http: http.iter().map(|s| s.to_string()).collect(),
            ldap: ldap.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(
            capability_sentences(&caps(&["https://*"], &[])),
            ["Connects to any HTTPS server you grant it"]
        );
        assert_eq!(
            capability_sentences(&caps(&[], &["ldap://*", "ldaps://*"])),
            [
                "Connects to LDAP servers you grant it",
                "Connects to LDAP servers over TLS (LDAPS) you grant it"
            ]
        );
        assert_eq!(
            capability_sentences(&caps(&["https://*.atlassian.net"], &[])),
            ["Connects to HTTPS servers matching `*.atlassian.net` that you grant it"]
        );
        assert_eq!(
            capability_sentences(&caps(&["https://slack.com"], &[])),
            ["Connects to the HTTPS server `slack.com`, if you grant it"]
        );
        assert_eq!(
            capability_sentences(&Capabilities::default()),
            ["Connects to nothing outside this host"]
        );
    }
}
