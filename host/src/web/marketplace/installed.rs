//! `/marketplace/installed`: the connectors installed on this host
//! (`<data dir>/connectors/<id>/`), and rolling one back or uninstalling it
//! from the admin UI, as `cube plugin rollback` and `uninstall` do.
//!
//! Anyone signed in may look; only admins act. A rollback makes the highest
//! installed version below the current one current, loads it into the
//! running catalog, and is audited as `marketplace.rollback`. An uninstall
//! is refused while integrations use the connector, naming them, unless the
//! admin asks for them to be disabled; [`lifecycle::uninstall_from`] audits
//! the disables and the uninstall. The connector then leaves the running
//! catalog.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::Router;
use axum::extract::{ConnectInfo, Form, Path as UrlPath, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::super::AppState;
use super::super::error::Error;
use super::super::forms::CsrfForm;
use super::super::render;
use super::super::session::{Admin, SignedIn};
use super::page::{ListPage, list, list_page};
use super::{Failure, Requester, capability_sentences, redirect_with_notice};
use crate::marketplace::install::{self, connectors_dir};
use crate::marketplace::keys::{self, PublicKey};
use crate::marketplace::lifecycle::{self, LifecycleError};
use crate::marketplace::package::COMPONENT;
use crate::shared::connector_id::is_id;
use crate::store::audit::AuditEvent;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/marketplace/installed", get(list::<InstalledPage>))
        .route("/marketplace/installed/{id}/rollback", post(rollback_form))
        .route(
            "/marketplace/installed/{id}/uninstall",
            get(confirm).post(uninstall_form),
        )
}

/// Who vouches for an installed connector now.
#[derive(Serialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub(in crate::web) enum Trust {
    /// Signed by a key this host trusts.
    Trusted,
    /// Installed as trusted, but its signer's key has been untrusted since.
    NoLongerTrusted,
    /// Signed by a key this host does not trust; installed with consent.
    Untrusted,
    /// Unsigned; installed with consent.
    Unsigned,
    /// Its install record is missing or unreadable.
    Unknown,
}

impl Trust {
    fn label(self) -> &'static str {
        match self {
            Trust::Trusted => "publisher trusted",
            Trust::NoLongerTrusted => "publisher no longer trusted",
            Trust::Untrusted => "publisher not trusted, installed with consent",
            Trust::Unsigned => "unsigned, installed with consent",
            Trust::Unknown => "install record missing",
        }
    }
}

/// One installed connector, as the page and the API show it.
#[derive(Serialize)]
pub(in crate::web) struct InstalledView {
    pub id: String,
    /// From the current version's manifest.
    pub name: Option<String>,
    pub description: Option<String>,
    /// The version in use (`current`); none when `current` is missing or
    /// names no usable version.
    pub version: Option<String>,
    /// The other installed versions, newest first.
    pub other_versions: Vec<String>,
    pub publisher: Option<String>,
    /// The signer's key id, from the install record.
    pub key_id: Option<String>,
    pub trust: Trust,
    pub trust_label: &'static str,
    /// RFC 3339, from the install record.
    pub installed_at: Option<String>,
    /// What the current version asks for, in plain words.
    pub asks_for: Vec<String>,
    /// The version a rollback goes to.
    pub rollback_to: Option<String>,
    /// The integrations whose connector this is.
    pub used_by: Vec<String>,
    /// The version of this connector the running server serves, if loaded.
    pub loaded_version: Option<String>,
}

/// The installed connectors, or why there are none to show.
pub(in crate::web) struct Installed {
    pub connectors: Vec<InstalledView>,
    pub problem: Option<String>,
}

/// Reads `<data dir>/connectors` and the trusted keys. Blocking.
fn read_installed(data_dir: &Path) -> Vec<InstalledView> {
    let trusted: Vec<PublicKey> = keys::trusted_files(data_dir)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|f| f.key.ok())
        .collect();
    let Ok(entries) = std::fs::read_dir(connectors_dir(data_dir)) else {
        return Vec::new();
    };
    let mut ids: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .filter_map(|e| {
            Some((
                e.file_name().to_str().filter(|n| is_id(n))?.to_owned(),
                e.path(),
            ))
        })
        .collect();
    ids.sort();
    ids.into_iter()
        .map(|(id, dir)| view(id, &dir, &trusted))
        .collect()
}

fn view(id: String, dir: &Path, trusted: &[PublicKey]) -> InstalledView {
    let version = install::current_version(dir).filter(|v| dir.join(v).join(COMPONENT).is_file());
    let other_versions: Vec<String> = lifecycle::installed_versions(dir)
        .iter()
        .rev()
        .map(ToString::to_string)
        .filter(|v| Some(v) != version.as_ref())
        .collect();
    let version_dir = version.as_ref().map(|v| dir.join(v));
    let record = version_dir.as_deref().and_then(install::read_record);
    let manifest = version_dir.as_deref().and_then(install::read_manifest);
    let trust = match &record {
        None => Trust::Unknown,
        Some(record) => match &record.key_id {
            None => Trust::Unsigned,
            Some(key_id) => {
                let trusted_now = trusted
                    .iter()
                    .any(|k| k.key_id() == *key_id && k.publisher == record.publisher);
                match (trusted_now, record.trusted) {
                    (true, _) => Trust::Trusted,
                    (false, true) => Trust::NoLongerTrusted,
                    (false, false) => Trust::Untrusted,
                }
            }
        },
    };
    InstalledView {
        rollback_to: version
            .as_deref()
            .and_then(|v| lifecycle::previous_version(dir, v)),
        id,
        name: manifest.as_ref().map(|m| m.name.clone()),
        description: manifest.as_ref().map(|m| m.description.clone()),
        asks_for: manifest
            .as_ref()
            .map(|m| capability_sentences(&m.capabilities))
            .unwrap_or_default(),
        version,
        other_versions,
        publisher: record
            .as_ref()
            .map(|r| r.publisher.clone())
            .or_else(|| manifest.as_ref().map(|m| m.publisher.clone())),
        key_id: record.as_ref().and_then(|r| r.key_id.clone()),
        trust,
        trust_label: trust.label(),
        installed_at: record.as_ref().map(|r| r.installed_at.clone()),
        used_by: Vec::new(),
        loaded_version: None,
    }
}

/// The installed connectors, with the integrations using each and what the
/// running catalog serves.
pub(in crate::web) async fn load_installed(state: &AppState) -> Result<Installed, Error> {
    let Some(data_dir) = state.data_dir.clone() else {
        return Ok(Installed {
            connectors: Vec::new(),
            problem: Some(
                "This server has no data directory, so nothing can be installed: start it with --data-dir DIR (or CUBE_DATA_DIR)."
                    .to_owned(),
            ),
        });
    };
    let mut connectors = tokio::task::spawn_blocking(move || read_installed(&data_dir))
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("reading the connectors panicked: {e}")))?;
    let integrations = state.store.integrations().await?;
    for connector in &mut connectors {
        connector.used_by = integrations
            .iter()
            .filter(|i| i.provider_id == connector.id)
            .map(|i| i.name.clone())
            .collect();
        connector.loaded_version = state.catalog.get(&connector.id).map(|(_, i)| i.version);
    }
    Ok(Installed {
        connectors,
        problem: None,
    })
}

/// A rollback that happened.
pub(in crate::web) struct RolledBack {
    pub id: String,
    pub from: String,
    pub to: String,
    /// Why the version rolled back to did not load into the running
    /// catalog (which then still serves the one rolled back from).
    pub load_error: Option<String>,
}

/// Rolls `id` back to its highest installed version below the current
/// one, audits it as `marketplace.rollback`, and loads that version into
/// the running catalog. Integrations keep their grants.
pub(in crate::web) async fn roll_back(
    state: &AppState,
    who: &Requester<'_>,
    id: &str,
) -> Result<RolledBack, Failure> {
    let data_dir = super::data_dir(state)?;
    let rolled = {
        let id = id.to_owned();
        tokio::task::spawn_blocking(move || lifecycle::rollback(&data_dir, &id))
            .await
            .map_err(|e| Failure::panicked("rolling back", e))?
    };
    let rolled = match rolled {
        Ok(rolled) => rolled,
        Err(LifecycleError::NotInstalled(_)) => return Err(Failure::NotFound),
        Err(LifecycleError::NoEarlierVersion { id, current }) => {
            return Err(Failure::Refused(format!(
                "{id} {current} is the oldest installed version: there is no earlier version to roll back to. Nothing was changed. To use another version, install it from the marketplace."
            )));
        }
        Err(error) => return Err(Failure::Internal(error.into())),
    };
    state
        .store
        .audit(AuditEvent {
            actor: who.actor,
            action: "marketplace.rollback",
            target: &format!("connector:{}", rolled.id),
            before: Some(json!({ "version": rolled.from })),
            after: Some(json!({ "version": rolled.to, "from": rolled.from, "via": who.via })),
            remote: Some(&who.address()),
        })
        .await
        .map_err(|e| Failure::Internal(e.into()))?;
    let load_error = state
        .catalog
        .load_installed(&state.runtime, rolled.dir.join(COMPONENT))
        .await
        .err();
    Ok(RolledBack {
        id: rolled.id,
        from: rolled.from,
        to: rolled.to,
        load_error,
    })
}

/// An uninstall that happened.
pub(in crate::web) struct Removed {
    pub id: String,
    /// The versions whose files were removed.
    pub versions: Vec<String>,
    /// The integrations it disabled.
    pub disabled: Vec<String>,
    /// Whether the running catalog served it (it no longer does).
    pub unloaded: bool,
}

/// Uninstalls every version of `id` (refused while integrations use it,
/// unless `disable_integrations`), audited by [`lifecycle::uninstall_from`],
/// and takes it out of the running catalog.
pub(in crate::web) async fn uninstall(
    state: &AppState,
    who: &Requester<'_>,
    id: &str,
    disable_integrations: bool,
) -> Result<Removed, Failure> {
    let data_dir = super::data_dir(state)?;
    let removed = lifecycle::uninstall_from(
        &data_dir,
        Some(&state.store),
        id,
        disable_integrations,
        who.actor,
        Some(&who.address()),
    )
    .await;
    let removed = match removed {
        Ok(removed) => removed,
        Err(LifecycleError::NotInstalled(_)) => return Err(Failure::NotFound),
        Err(LifecycleError::InUse { id, integrations }) => {
            let names = integrations
                .iter()
                .map(|n| format!("“{n}”"))
                .collect::<Vec<_>>()
                .join(", ");
            let which = if integrations.len() == 1 {
                "an integration"
            } else {
                "integrations"
            };
            return Err(Failure::InUse {
                message: format!(
                    "{id} is used by {which}: {names}. Nothing was removed. Delete those integrations first, or tick “Disable the integrations that use it” (in the API, disable_integrations=true) to disable them and uninstall; they keep their settings and grants."
                ),
                integrations,
            });
        }
        Err(error) => return Err(Failure::Internal(error.into())),
    };
    let unloaded = state.catalog.remove(&removed.id);
    Ok(Removed {
        id: removed.id,
        versions: removed.versions,
        disabled: removed.disabled,
        unloaded,
    })
}

/// The installed connectors' page.
pub(super) struct InstalledPage;

impl ListPage for InstalledPage {
    const TEMPLATE: &'static str = "marketplace/installed.html";

    async fn load(state: &AppState, error: Option<String>) -> Result<Value, Error> {
        let installed = load_installed(state).await?;
        Ok(context! {
            connectors => installed.connectors,
            problem => installed.problem,
            error => error,
        })
    }
}

async fn rollback_form(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    UrlPath(id): UrlPath<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    let who = Requester::web(&admin, remote);
    match roll_back(&state, &who, &id).await {
        Ok(rolled) => {
            let loaded = match &rolled.load_error {
                None => format!("the server runs {} now", rolled.to),
                Some(why) => format!(
                    "but it did not load ({why}); the server still runs {}",
                    rolled.from
                ),
            };
            let notice = format!(
                "{} is rolled back from {} to {}; {loaded}. {} stays installed. Integrations keep their grants.",
                rolled.id, rolled.from, rolled.to, rolled.from
            );
            Ok(redirect_with_notice("/marketplace/installed", &notice))
        }
        Err(failure) => {
            let (status, message) = failure.refusal()?;
            let html = list_page::<InstalledPage>(&state, &admin.0, None, Some(message)).await?;
            Ok((status, html).into_response())
        }
    }
}

/// The uninstall page of one connector: what goes, who uses it.
async fn confirm(
    State(state): State<AppState>,
    admin: Admin,
    UrlPath(id): UrlPath<String>,
) -> Result<Html<String>, Error> {
    confirm_page(&state, &admin.0, &id, None, false).await
}

async fn confirm_page(
    state: &AppState,
    signed_in: &SignedIn,
    id: &str,
    error: Option<String>,
    disable_integrations: bool,
) -> Result<Html<String>, Error> {
    let installed = load_installed(state).await?;
    let connector = installed
        .connectors
        .into_iter()
        .find(|c| c.id == id)
        .ok_or(Error::NotFound)?;
    let versions: Vec<&String> = connector
        .version
        .iter()
        .chain(&connector.other_versions)
        .collect();
    render::signed_in_page(
        "marketplace/uninstall.html",
        signed_in,
        context! {
            versions => versions,
            c => connector,
            error => error,
            disable_integrations => disable_integrations,
        },
    )
}

#[derive(Deserialize)]
struct UninstallForm {
    csrf_token: String,
    disable_integrations: Option<String>,
}

async fn uninstall_form(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    UrlPath(id): UrlPath<String>,
    Form(form): Form<UninstallForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    let who = Requester::web(&admin, remote);
    let disable = form.disable_integrations.is_some();
    let (status, message) = match uninstall(&state, &who, &id, disable).await {
        Ok(removed) => {
            let mut notice = format!(
                "{} is uninstalled (removed {}){}.",
                removed.id,
                if removed.versions.is_empty() {
                    "its files".to_owned()
                } else {
                    format!("versions {}", removed.versions.join(", "))
                },
                if removed.unloaded {
                    "; the server no longer runs it"
                } else {
                    ""
                }
            );
            if !removed.disabled.is_empty() {
                notice.push_str(&format!(
                    " Disabled integrations: {}; they keep their settings, and run again once the connector is installed and they are enabled.",
                    removed.disabled.join(", ")
                ));
            }
            return Ok(redirect_with_notice("/marketplace/installed", &notice));
        }
        Err(failure) => failure.refusal()?,
    };
    let html = confirm_page(&state, &admin.0, &id, Some(message), disable).await?;
    Ok((status, html).into_response())
}
