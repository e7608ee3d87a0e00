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
pub(in crate::web) mod listing;
pub(in crate::web) mod publishers;
pub(in crate::web) mod upload;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Form, Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::context;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::Error;
use super::session::{Admin, SignedIn};
use super::templates;
use super::urlencode;
use crate::marketplace::capabilities;
use crate::marketplace::install::{self, InstallError, InstallOptions};
use crate::marketplace::ownership::{self, CapabilityDiff, Impact};
use crate::marketplace::package::{COMPONENT, Package};
use crate::marketplace::registry::RegistryError;
use crate::marketplace::source::CACHE_DIR;
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
        .merge(upload::routes())
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
    /// The package would replace a bundled connector, which needs the
    /// admin's explicit choice.
    ReplacesBundled {
        message: String,
        replacement: Box<Replacement>,
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
            | Failure::ReplacesBundled { message, .. }
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
pub(in crate::web) use listing::{PackageView, load_listing};
use listing::{find, upgrade};

/// What replacing a bundled connector changes, for the admin to review.
#[derive(Clone, Debug, serde::Serialize)]
pub(in crate::web) struct Replacement {
    /// How the package's capabilities differ from the bundled connector's.
    pub diff: CapabilityDiff,
    /// The same, one line per change.
    pub lines: Vec<String>,
    /// The integrations it would serve, and their secrets.
    pub impact: Impact,
}

impl Replacement {
    async fn of(state: &AppState, id: &str, diff: CapabilityDiff) -> Result<Self, Failure> {
        let impact = Impact::of(&state.store, id)
            .await
            .map_err(|e| Failure::Internal(e.into()))?;
        Ok(Self {
            lines: diff.lines(),
            diff,
            impact,
        })
    }
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

/// Installs `id` `version` from the server's registry: [`install_bytes`]
/// with what the registry serves, checked against its index.
pub(in crate::web) async fn install_package(
    state: &AppState,
    who: &Requester<'_>,
    id: &str,
    version: &str,
    options: InstallOptions,
) -> Result<Done, Failure> {
    let Some(registry) = state.registry.clone() else {
        return Err(Failure::Refused(
            "No registry is configured: start the server with --registry DIR or URL.".to_owned(),
        ));
    };
    let cache = data_dir(state)?.join(CACHE_DIR);
    let bytes = match registry
        .fetch(&state.outbound.downloads, id, Some(version), Some(&cache))
        .await
    {
        Ok((_, bytes)) => bytes,
        Err(RegistryError::NoSuchPackage(_) | RegistryError::NoSuchVersion { .. }) => {
            return Err(Failure::NotFound);
        }
        Err(error) => return Err(Failure::Refused(error.to_string())),
    };
    install_bytes(state, who, &bytes, options, &format!("registry {registry}")).await
}

/// Verifies and installs the package `bytes` (from a registry, a URL or an
/// upload: `source` says which, for the audit log), audits it, and loads it
/// into the running catalog. `options` are the admin's consent to an
/// untrusted package and approval of new capabilities.
pub(in crate::web) async fn install_bytes(
    state: &AppState,
    who: &Requester<'_>,
    bytes: &[u8],
    options: InstallOptions,
    source: &str,
) -> Result<Done, Failure> {
    let data_dir = data_dir(state)?;
    // While the server is still loading, a bundled connector not loaded yet
    // is not in this list; the catalog refuses the package when it loads it
    // (see crate::catalog), so the bundled connector still wins.
    let bundled = state.catalog.bundled();
    // What the install changes, for the audit log (install_with makes the
    // same comparisons to refuse an unapproved one).
    let package = Package::from_bytes(bytes).ok();
    let (previous, added) = package
        .as_ref()
        .map(|p| upgrade(&data_dir, &p.manifest))
        .unwrap_or_default();
    let replacing = package.as_ref().and_then(|p| {
        let theirs = bundled.connectors.get(&p.manifest.id)?;
        let id_dir = install::connectors_dir(&data_dir).join(&p.manifest.id);
        (!ownership::may_replace_bundled(&id_dir))
            .then(|| CapabilityDiff::between(&p.manifest.capabilities, theirs))
    });
    let approver = format!("{}:{}", who.via, who.actor);
    let installed = match install::install_with(bytes, &data_dir, options, &bundled, &approver)
        .await
    {
        Ok(installed) => installed,
        Err(error @ InstallError::Io { .. }) => return Err(Failure::Internal(error.into())),
        Err(
            ref error @ InstallError::ReplacesBundled {
                ref id, ref diff, ..
            },
        ) => {
            let replacement = Replacement::of(state, id, (**diff).clone()).await?;
            let message = format!(
                "{}. Compared with the bundled connector, the package: {}. It would receive what {} hold. To replace it, tick “I replace the bundled connector” (in the API, \"replace_bundled\": true) and install again.",
                error.to_string().trim_end_matches(" (--replace-bundled)"),
                replacement.lines.join("; "),
                replacement.impact.sentence()
            );
            return Err(Failure::ReplacesBundled {
                message,
                replacement: Box::new(replacement),
            });
        }
        Err(InstallError::Downgrade {
            id,
            version,
            current,
        }) => {
            return Err(Failure::Refused(format!(
                "{id} {version} is older than the installed {current}. Nothing was changed. Installing an older version can bring back what a newer one fixed; if you mean it, use Roll back on the Installed page, or tick “I install an older version” (in the API, \"allow_downgrade\": true) and install again."
            )));
        }
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
    if let Some(diff) = &replacing {
        let impact = Impact::of(&state.store, &record.id)
            .await
            .map_err(|e| Failure::Internal(e.into()))?;
        ownership::audit_replacement(
            &state.store,
            who.actor,
            Some(&who.address()),
            &record,
            diff,
            &impact,
        )
        .await
        .map_err(|e| Failure::Internal(e.into()))?;
    }
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
        "source": source,
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
    list_page(&state, &signed_in, query.notice, None).await
}

/// The marketplace page: the registry's packages, and for admins the forms
/// to install by URL or upload, with `install_error` beside them.
async fn list_page(
    state: &AppState,
    signed_in: &SignedIn,
    notice: Option<String>,
    install_error: Option<String>,
) -> Result<Html<String>, Error> {
    let listing = load_listing(state).await?;
    templates::page(
        "marketplace/list.html",
        context! {
            user => signed_in.user(),
            csrf_token => &signed_in.session.csrf_token,
            registry => state.registry.as_ref().map(|r| r.to_string()),
            packages => listing.packages,
            problem => listing.problem,
            notice => notice,
            install_error => install_error,
        },
    )
}

async fn review(
    State(state): State<AppState>,
    signed_in: SignedIn,
    UrlPath((id, version)): UrlPath<(String, String)>,
) -> Result<Html<String>, Error> {
    let package = find(&state, &id, &version).await?.ok_or(Error::NotFound)?;
    let replacement = bundled_replacement(&state, &package).await?;
    review_page(
        &signed_in,
        &package,
        None,
        None,
        replacement,
        &InstallForm::default(),
    )
}

/// What installing `package` would replace, when its id is a bundled
/// connector's that no admin chose to replace yet.
async fn bundled_replacement(
    state: &AppState,
    package: &PackageView,
) -> Result<Option<Replacement>, Error> {
    let bundled = state.catalog.bundled();
    let (Some(theirs), Some(data_dir)) = (bundled.connectors.get(&package.id), &state.data_dir)
    else {
        return Ok(None);
    };
    if ownership::may_replace_bundled(&install::connectors_dir(data_dir).join(&package.id)) {
        return Ok(None);
    }
    let diff = CapabilityDiff::between(&package.capabilities, theirs);
    match Replacement::of(state, &package.id, diff).await {
        Ok(replacement) => Ok(Some(replacement)),
        Err(Failure::Internal(error)) => Err(Error::Internal(error)),
        Err(_) => Ok(None),
    }
}

/// The review page; `new_capabilities` is what an install refused for
/// asking more said (else the page's own comparison shows).
fn review_page(
    signed_in: &SignedIn,
    package: &PackageView,
    error: Option<String>,
    new_capabilities: Option<Vec<String>>,
    replacement: Option<Replacement>,
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
            replacement => replacement,
            accept_untrusted => form.accept_untrusted.is_some(),
            approve_capabilities => form.approve_capabilities.is_some(),
            replace_bundled => form.replace_bundled.is_some(),
            allow_downgrade => form.allow_downgrade.is_some(),
        },
    )
}

#[derive(Deserialize, Default)]
struct InstallForm {
    csrf_token: String,
    accept_untrusted: Option<String>,
    approve_capabilities: Option<String>,
    replace_bundled: Option<String>,
    allow_downgrade: Option<String>,
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
        replace_bundled: form.replace_bundled.is_some(),
        allow_downgrade: form.allow_downgrade.is_some(),
    };
    let who = Requester {
        actor: &admin.0.user().username,
        remote,
        via: "web",
    };
    let outcome = install_package(&state, &who, &id, &version, options).await;
    let (status, error, added, replacement) = match outcome {
        Ok(done) => {
            return Ok(redirect_with_notice(
                "/marketplace",
                &installed_notice(&done),
            ));
        }
        Err(Failure::NewCapabilities { message, added, .. }) => {
            (StatusCode::UNPROCESSABLE_ENTITY, message, Some(added), None)
        }
        Err(Failure::ReplacesBundled {
            message,
            replacement,
        }) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            message,
            None,
            Some(*replacement),
        ),
        Err(other) => {
            let (status, message) = other.refusal()?;
            (status, message, None, None)
        }
    };
    let package = find(&state, &id, &version).await?.ok_or(Error::NotFound)?;
    let replacement = match replacement {
        Some(replacement) => Some(replacement),
        None => bundled_replacement(&state, &package).await?,
    };
    let html = review_page(&admin.0, &package, Some(error), added, replacement, &form)?;
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
    use crate::marketplace::package::Capabilities;

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
