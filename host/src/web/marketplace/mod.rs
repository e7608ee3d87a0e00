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
mod installing;
pub(in crate::web) mod listing;
mod page;
pub(in crate::web) mod publishers;
pub(in crate::web) mod upload;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Form, Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use minijinja::{Value, context};
use serde::Deserialize;

use super::AppState;
use super::error::Error;
use super::forms::redirect_with_notice;
use super::render;
use super::session::{Admin, SignedIn};
use crate::marketplace::install::{self, InstallOptions};
use crate::marketplace::ownership::{self, CapabilityDiff};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/marketplace", get(list::<RegistryPage>))
        .route(
            "/marketplace/{id}/{version}",
            get(review).post(install_form),
        )
        .merge(installed::routes())
        .merge(publishers::routes())
        .merge(upload::routes())
}

/// What capability patterns ask for, in plain words (shared with the
/// CLI's upgrade check).
pub(in crate::web) use crate::marketplace::capabilities::sentences as capability_sentences;
use installing::data_dir;
pub(in crate::web) use installing::{
    Done, Failure, Replacement, Requester, install_bytes, install_package,
};
pub(in crate::web) use listing::{PackageView, load_listing};
use listing::{find, upgrade};
use page::{ListPage, list};

/// The registry's packages, and for admins the forms to install by URL or
/// upload, with why an install was refused beside them.
struct RegistryPage;

impl ListPage for RegistryPage {
    const TEMPLATE: &'static str = "marketplace/list.html";

    async fn load(state: &AppState, install_error: Option<String>) -> Result<Value, Error> {
        let listing = load_listing(state).await?;
        Ok(context! {
            registry => state.registry.as_ref().map(|r| r.to_string()),
            packages => listing.packages,
            problem => listing.problem,
            install_error => install_error,
        })
    }
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
    render::signed_in_page(
        "marketplace/review.html",
        signed_in,
        context! {
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
    let who = Requester::web(&admin, remote);
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

#[cfg(test)]
mod tests {
    use serde_json::json;

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
            let html = render::page(name, context).unwrap().0;
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
