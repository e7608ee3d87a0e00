//! `/marketplace`: the connector packages of the server's registry
//! (`cube serve --registry DIR`), and installing them from the admin UI;
//! [`installed`] for the installed connectors (roll back, uninstall) and
//! [`publishers`] for the trusted publisher keys.
//!
//! Anyone signed in may look; only admins install. Installing goes through
//! [`crate::marketplace::install::install_with`], the same checks as `cube
//! plugin install`: the registry's index is only a list, the package itself
//! is verified. A package that is unsigned, or signed by a key this host
//! does not trust, needs the admin's explicit consent, and is audited as
//! `marketplace.install.untrusted`. An upgrade that asks for capabilities
//! the installed version does not needs the admin's approval of exactly
//! those, which the audit entry lists. The installed connector is loaded
//! into the running catalog at once; installing grants it nothing (grants
//! stay per integration).

pub(in crate::web) mod installed;
pub(in crate::web) mod publishers;

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
use crate::marketplace::capabilities;
use crate::marketplace::install::{self, CONNECTORS_DIR, CURRENT, InstallError, InstallOptions};
use crate::marketplace::keys::TrustedKeys;
use crate::marketplace::package::{COMPONENT, Capabilities, Manifest, Package};
use crate::marketplace::registry::{self, Entry, Index, RegistryError};
use crate::marketplace::signature;
use crate::store::audit::AuditEvent;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/marketplace", get(list))
        .route(
            "/marketplace/{id}/{version}",
            get(review).post(install_form),
        )
        .merge(installed::routes())
        .merge(publishers::routes())
}

/// Who asks for a change, for the audit log.
pub(in crate::web) struct Requester<'a> {
    pub actor: &'a str,
    pub remote: SocketAddr,
    /// `web` or `api`.
    pub via: &'static str,
}

impl Requester<'_> {
    fn address(&self) -> String {
        self.remote.ip().to_string()
    }
}

/// Why a marketplace action did nothing. Pages and the API each show it
/// their way; the messages say what to do, in both.
pub(in crate::web) enum Failure {
    /// No such package, installed connector or trusted key.
    NotFound,
    /// The message says which check failed and what to do.
    Refused(String),
    /// An upgrade asks for capabilities the installed version does not.
    NewCapabilities {
        message: String,
        /// The installed version.
        current: String,
        /// What is new, in plain words, each with its pattern.
        added: Vec<String>,
    },
    /// Integrations use the connector.
    InUse {
        message: String,
        integrations: Vec<String>,
    },
    /// A submitted field is unusable (`field` names it).
    Invalid {
        field: &'static str,
        message: String,
    },
    Internal(anyhow::Error),
}

impl Failure {
    fn panicked(what: &str, error: tokio::task::JoinError) -> Self {
        Failure::Internal(anyhow::anyhow!("{what} panicked: {error}"))
    }

    /// For a page: a refusal's status (409 when in use, else 422) and
    /// message, shown on the page the admin acted on; a missing thing or
    /// an internal error is the error page.
    fn refusal(self) -> Result<(StatusCode, String), Error> {
        match self {
            Failure::NotFound => Err(Error::NotFound),
            Failure::Internal(error) => Err(Error::Internal(error)),
            Failure::InUse { message, .. } => Ok((StatusCode::CONFLICT, message)),
            Failure::Refused(message)
            | Failure::NewCapabilities { message, .. }
            | Failure::Invalid { message, .. } => Ok((StatusCode::UNPROCESSABLE_ENTITY, message)),
        }
    }
}

/// The data directory, or why there is none.
fn data_dir(state: &AppState) -> Result<std::path::PathBuf, Failure> {
    state.data_dir.clone().ok_or_else(|| {
        Failure::Refused(
            "This server has no data directory: start it with --data-dir DIR (or CUBE_DATA_DIR)."
                .to_owned(),
        )
    })
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
    /// What this version asks for that the installed version does not, in
    /// plain words with each pattern ([`capabilities::added_sentences`],
    /// from the package's own manifest); installing it needs approval.
    /// Empty when this version is installed, or none is.
    pub new_capabilities: Vec<String>,
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
    let (status, key_id, manifest, problem) = match check(registry, entry, trusted) {
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
        installed_version,
        new_capabilities: capabilities::added_sentences(&new_capabilities),
    }
}

/// Installing `manifest` over what is installed: the current version when
/// it is another one, and what `manifest` asks for that it does not (as
/// [`install::install_with`] compares them).
fn upgrade(data_dir: &Path, manifest: &Manifest) -> (Option<String>, Capabilities) {
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
fn check(
    registry: &Path,
    entry: &Entry,
    trusted: &TrustedKeys,
) -> Result<(Status, Option<String>, Manifest), String> {
    let (_, bytes) =
        registry::fetch(registry, &entry.id, Some(&entry.version)).map_err(|e| e.to_string())?;
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

/// A finished install.
pub(in crate::web) struct Done {
    pub record: install::InstallRecord,
    pub already: bool,
    /// The version that was current before, when it was another one (it
    /// stays installed, for a rollback).
    pub previous: Option<String>,
    /// The new capabilities the admin approved, in plain words.
    pub approved: Vec<String>,
    /// Why the installed connector did not load into the running catalog.
    pub load_error: Option<String>,
}

/// Installs `id` `version` from the registry, audits it, and loads it
/// into the running catalog. `options` are the admin's consent to an
/// untrusted package and approval of new capabilities.
pub(in crate::web) async fn install_package(
    state: &AppState,
    who: &Requester<'_>,
    id: &str,
    version: &str,
    options: InstallOptions,
) -> Result<Done, Failure> {
    let Some(registry) = state.registry.clone() else {
        return Err(Failure::Refused(
            "No registry is configured: start the server with --registry DIR.".to_owned(),
        ));
    };
    let data_dir = data_dir(state)?;
    let fetched = {
        let (id, version, data_dir) = (id.to_owned(), version.to_owned(), data_dir.clone());
        tokio::task::spawn_blocking(move || {
            let (_, bytes) = registry::fetch(&registry, &id, Some(&version))?;
            // What the install changes, for the audit log (install_with
            // makes the same comparison to refuse an unapproved one).
            let upgrade = Package::from_bytes(&bytes)
                .map(|p| upgrade(&data_dir, &p.manifest))
                .unwrap_or_default();
            Ok::<_, RegistryError>((bytes, upgrade))
        })
        .await
        .map_err(|e| Failure::panicked("reading the registry", e))?
    };
    let (bytes, (previous, added)) = match fetched {
        Ok(fetched) => fetched,
        Err(RegistryError::NoSuchPackage(_) | RegistryError::NoSuchVersion { .. }) => {
            return Err(Failure::NotFound);
        }
        Err(error) => return Err(Failure::Refused(error.to_string())),
    };
    let installed = match install::install_with(&bytes, &data_dir, options).await {
        Ok(installed) => installed,
        Err(error @ InstallError::Io { .. }) => return Err(Failure::Internal(error.into())),
        Err(InstallError::NewCapabilities {
            id,
            version,
            current,
            added,
        }) => {
            let message = format!(
                "{id} {version} asks for more than the installed {current}: {}. Nothing was changed. If you accept that, tick “I approve these new capabilities” (in the API, \"approve_capabilities\": true) and install it again. Integrations keep their grants: each one reaches something new only once you grant it there.",
                added.join("; ")
            );
            return Err(Failure::NewCapabilities {
                message,
                current,
                added,
            });
        }
        Err(error) => {
            let mut message = error.to_string();
            if !options.allow_untrusted
                && matches!(
                    error,
                    InstallError::Verify(
                        crate::marketplace::verify::VerifyError::Unsigned
                            | crate::marketplace::verify::VerifyError::Untrusted { .. }
                    )
                )
            {
                message.push_str(
                    ". In the admin UI, tick “I accept a package whose publisher I have not trusted” (in the API, \"accept_untrusted\": true) to install it anyway, or trust the publisher's key on the Trusted publishers page first.",
                );
            }
            return Err(Failure::Refused(message));
        }
    };
    let record = installed.record;
    let action = if record.trusted {
        "marketplace.install"
    } else {
        "marketplace.install.untrusted"
    };
    let previous = previous.filter(|p| *p != record.version);
    let approved = capabilities::added_sentences(&added);
    let mut after = json!({
        "version": record.version,
        "publisher": record.publisher,
        "trusted": record.trusted,
        "key_id": record.key_id,
        "sha256": record.sha256,
        "already_installed": installed.already,
        "via": who.via,
    });
    if let Some(previous) = &previous {
        after["previous_version"] = json!(previous);
    }
    if !approved.is_empty() {
        after["approved_capabilities"] = json!(added);
        after["approved_in_words"] = json!(approved);
    }
    state
        .store
        .audit(AuditEvent {
            actor: who.actor,
            action,
            target: &format!("connector:{}", record.id),
            before: previous.as_ref().map(|p| json!({ "version": p })),
            after: Some(after),
            remote: Some(&who.address()),
        })
        .await
        .map_err(|e| Failure::Internal(e.into()))?;
    let load_error = state
        .catalog
        .load_installed(&state.runtime, installed.dir.join(COMPONENT))
        .await
        .err();
    Ok(Done {
        record,
        already: installed.already,
        previous,
        approved,
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
    review_page(&signed_in, &package, None, None, &InstallForm::default())
}

/// The review page; `new_capabilities` is what an install refused for
/// asking more said (else the page's own comparison shows).
fn review_page(
    signed_in: &SignedIn,
    package: &PackageView,
    error: Option<String>,
    new_capabilities: Option<Vec<String>>,
    form: &InstallForm,
) -> Result<Html<String>, Error> {
    templates::page(
        "marketplace/review.html",
        context! {
            user => signed_in.user(),
            csrf_token => &signed_in.session.csrf_token,
            p => package,
            new_capabilities => new_capabilities.unwrap_or_else(|| package.new_capabilities.clone()),
            error => error,
            accept_untrusted => form.accept_untrusted.is_some(),
            approve_capabilities => form.approve_capabilities.is_some(),
        },
    )
}

#[derive(Deserialize, Default)]
struct InstallForm {
    csrf_token: String,
    accept_untrusted: Option<String>,
    approve_capabilities: Option<String>,
}

async fn install_form(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    UrlPath((id, version)): UrlPath<(String, String)>,
    Form(form): Form<InstallForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    let options = InstallOptions {
        allow_untrusted: form.accept_untrusted.is_some(),
        approve_capabilities: form.approve_capabilities.is_some(),
    };
    let who = Requester {
        actor: &admin.0.user().username,
        remote,
        via: "web",
    };
    let (status, error, added) = match install_package(&state, &who, &id, &version, options).await {
        Ok(done) => {
            return Ok(redirect_with_notice(
                "/marketplace",
                &installed_notice(&done),
            ));
        }
        Err(Failure::NewCapabilities { message, added, .. }) => {
            (StatusCode::UNPROCESSABLE_ENTITY, message, Some(added))
        }
        Err(other) => {
            let (status, message) = other.refusal()?;
            (status, message, None)
        }
    };
    let package = find(&state, &id, &version).await?.ok_or(Error::NotFound)?;
    let html = review_page(&admin.0, &package, Some(error), added, &form)?;
    Ok((status, html).into_response())
}

/// What the marketplace page says after an install.
fn installed_notice(done: &Done) -> String {
    let r = &done.record;
    let how = if r.trusted {
        "verified"
    } else {
        "publisher not trusted, accepted by you"
    };
    let verb = match &done.previous {
        Some(previous) => {
            format!("is installed in place of {previous}, which is kept for a rollback")
        }
        None if done.already => "was already installed".to_owned(),
        None => "is installed".to_owned(),
    };
    let approved = if done.approved.is_empty() {
        String::new()
    } else {
        format!(
            "; you approved what it asks for anew ({}), which no integration is granted until you grant it there",
            done.approved.join("; ")
        )
    };
    let loaded = match &done.load_error {
        None => {
            "it is on the Connectors page now; grant it what it needs per integration".to_owned()
        }
        Some(why) => format!("but it did not load: {why}"),
    };
    format!("{} {} {verb} ({how}){approved}; {loaded}.", r.id, r.version)
}

/// A redirect to `path` showing `notice`.
fn redirect_with_notice(path: &str, notice: &str) -> Response {
    Redirect::to(&format!("{path}?notice={}", urlencode(notice))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marketplace_pages_compile_and_escape() {
        let user = json!({"username": "admin", "role": "admin"});
        let evil = "<script>alert(1)</script>";
        let connector = json!({
            "id": "jira", "name": evil, "version": "0.2.0", "other_versions": ["0.1.0"],
            "trust": "no_longer_trusted", "trust_label": "publisher no longer trusted",
            "asks_for": [evil], "used_by": [evil], "rollback_to": "0.1.0",
        });
        let pages = [
            (
                "marketplace/installed.html",
                context! { user, csrf_token => "t", connectors => [&connector] },
            ),
            (
                "marketplace/uninstall.html",
                context! { user, csrf_token => "t", c => &connector, versions => ["0.2.0"] },
            ),
            (
                "marketplace/publishers.html",
                context! { user, csrf_token => "t", keys => [json!({
                    "publisher": evil, "key_id": "0123456789abcdef", "file": "x.pub", "signs": [],
                })], broken => [json!({"file": evil, "problem": evil})] },
            ),
        ];
        for (name, context) in pages {
            let html = templates::page(name, context).unwrap().0;
            assert!(html.contains("&lt;script&gt;"), "{name}: {html}");
            assert!(!html.contains(evil), "{name}: {html}");
        }
    }

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
