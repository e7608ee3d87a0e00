//! `/marketplace/publishers`: the publisher keys this host trusts
//! (`<data dir>/trusted-keys/*.pub`), trusting one by pasting its `.pub`
//! file, and stopping trusting one, as `cube plugin trust` and deleting
//! the file do.
//!
//! Anyone signed in may look; only admins change the keys, audited as
//! `marketplace.trust` and `marketplace.untrust`. A pasted key passes the
//! same checks as a key file (its key-id line must match its key); a
//! secret key is refused and never repeated. Stopping trusting a key
//! uninstalls nothing: the connectors it signed are marked "publisher no
//! longer trusted" on the installed list.

use std::net::SocketAddr;
use std::path::Path;

use axum::Router;
use axum::extract::{ConnectInfo, Form, Path as UrlPath, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::super::AppState;
use super::super::error::Error;
use super::super::forms::CsrfForm;
use super::super::session::Admin;
use super::page::{ListPage, list, list_page};
use super::{Failure, Requester, redirect_with_notice};
use crate::marketplace::keys::{self, KeyError};
use crate::store::audit::AuditEvent;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/marketplace/publishers",
            get(list::<PublishersPage>).post(trust_form),
        )
        .route(
            "/marketplace/publishers/{key_id}/untrust",
            post(untrust_form),
        )
}

/// A trusted key, as the page and the API show it.
#[derive(Serialize)]
pub(in crate::web) struct KeyView {
    pub publisher: String,
    pub key_id: String,
    /// Its file name in `<data dir>/trusted-keys`.
    pub file: String,
    /// The installed connectors whose current version it signed.
    pub signs: Vec<String>,
}

/// A `.pub` file that is not a usable key (installs fail until it is
/// fixed or removed).
#[derive(Serialize)]
pub(in crate::web) struct BrokenView {
    pub file: String,
    pub problem: String,
}

/// The trusted keys, or why there are none to show.
pub(in crate::web) struct Publishers {
    pub keys: Vec<KeyView>,
    pub broken: Vec<BrokenView>,
    pub problem: Option<String>,
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The trusted keys and the installed connectors each signed.
pub(in crate::web) async fn load_publishers(state: &AppState) -> Result<Publishers, Error> {
    let Some(data_dir) = state.data_dir.clone() else {
        return Ok(Publishers {
            keys: Vec::new(),
            broken: Vec::new(),
            problem: Some(
                "This server has no data directory, so it trusts no publisher: start it with --data-dir DIR (or CUBE_DATA_DIR)."
                    .to_owned(),
            ),
        });
    };
    let files = {
        let data_dir = data_dir.clone();
        tokio::task::spawn_blocking(move || keys::trusted_files(&data_dir))
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("reading the keys panicked: {e}")))?
    };
    let files = match files {
        Ok(files) => files,
        Err(error) => {
            return Ok(Publishers {
                keys: Vec::new(),
                broken: Vec::new(),
                problem: Some(error.to_string()),
            });
        }
    };
    let installed = super::installed::load_installed(state).await?.connectors;
    let mut out = Publishers {
        keys: Vec::new(),
        broken: Vec::new(),
        problem: None,
    };
    for file in files {
        match file.key {
            Ok(key) => {
                let key_id = key.key_id();
                out.keys.push(KeyView {
                    signs: installed
                        .iter()
                        .filter(|c| c.key_id.as_deref() == Some(key_id.as_str()))
                        .map(|c| match &c.version {
                            Some(version) => format!("{} {version}", c.id),
                            None => c.id.clone(),
                        })
                        .collect(),
                    publisher: key.publisher,
                    key_id,
                    file: file_name(&file.path),
                });
            }
            Err(problem) => out.broken.push(BrokenView {
                file: file_name(&file.path),
                problem,
            }),
        }
    }
    Ok(out)
}

/// A key trusted.
pub(in crate::web) struct Trusted {
    pub publisher: String,
    pub key_id: String,
    pub file: String,
    /// It was trusted already (the file is rewritten, unchanged).
    pub already: bool,
}

/// Trusts the public key `text` (a `.pub` file's text), audited as
/// `marketplace.trust`. Nothing is written unless it is a whole,
/// consistent public key.
pub(in crate::web) async fn trust(
    state: &AppState,
    who: &Requester<'_>,
    text: String,
) -> Result<Trusted, Failure> {
    let data_dir = super::data_dir(state)?;
    let written = tokio::task::spawn_blocking(move || {
        let key = keys::parse_pasted(&text)?;
        let already = keys::trusted_files(&data_dir)
            .unwrap_or_default()
            .iter()
            .any(|f| {
                f.key
                    .as_ref()
                    .is_ok_and(|k| k.key == key.key && k.publisher == key.publisher)
            });
        keys::trust_text(&data_dir, &text).map(|(key, path)| (key, path, already))
    })
    .await
    .map_err(|e| Failure::panicked("trusting a key", e))?;
    let (key, path, already) = match written {
        Ok(written) => written,
        Err(error @ KeyError::Malformed { .. }) => {
            return Err(Failure::Invalid {
                field: "key",
                message: format!("{error}. Nothing was trusted."),
            });
        }
        Err(error) => return Err(Failure::Internal(error.into())),
    };
    let trusted = Trusted {
        key_id: key.key_id(),
        publisher: key.publisher,
        file: file_name(&path),
        already,
    };
    state
        .store
        .audit(AuditEvent {
            actor: who.actor,
            action: "marketplace.trust",
            target: &format!("publisher:{}", trusted.publisher),
            before: None,
            after: Some(json!({
                "publisher": trusted.publisher,
                "key_id": trusted.key_id,
                "file": trusted.file,
                "already_trusted": already,
                "via": who.via,
            })),
            remote: Some(&who.address()),
        })
        .await
        .map_err(|e| Failure::Internal(e.into()))?;
    Ok(trusted)
}

/// A key no longer trusted.
#[derive(Serialize)]
pub(in crate::web) struct Untrusted {
    pub publisher: String,
    pub key_id: String,
    pub file: String,
}

/// Stops trusting the key `key_id` (deletes its files), audited as
/// `marketplace.untrust`, one entry per file. Uninstalls nothing.
pub(in crate::web) async fn untrust(
    state: &AppState,
    who: &Requester<'_>,
    key_id: &str,
) -> Result<Vec<Untrusted>, Failure> {
    let data_dir = super::data_dir(state)?;
    if key_id.len() != 16 || !key_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Failure::NotFound);
    }
    let removed = {
        let key_id = key_id.to_owned();
        tokio::task::spawn_blocking(move || keys::untrust(&data_dir, &key_id))
            .await
            .map_err(|e| Failure::panicked("untrusting a key", e))?
            .map_err(|e| Failure::Internal(e.into()))?
    };
    if removed.is_empty() {
        return Err(Failure::NotFound);
    }
    let mut out = Vec::new();
    for (key, path) in removed {
        let gone = Untrusted {
            key_id: key.key_id(),
            publisher: key.publisher,
            file: file_name(&path),
        };
        state
            .store
            .audit(AuditEvent {
                actor: who.actor,
                action: "marketplace.untrust",
                target: &format!("publisher:{}", gone.publisher),
                before: Some(json!({
                    "publisher": gone.publisher,
                    "key_id": gone.key_id,
                    "file": gone.file,
                })),
                after: Some(json!({ "trusted": false, "via": who.via })),
                remote: Some(&who.address()),
            })
            .await
            .map_err(|e| Failure::Internal(e.into()))?;
        out.push(gone);
    }
    Ok(out)
}

/// The trusted keys' page.
struct PublishersPage;

impl ListPage for PublishersPage {
    const TEMPLATE: &'static str = "marketplace/publishers.html";

    async fn load(state: &AppState, error: Option<String>) -> Result<Value, Error> {
        let publishers = load_publishers(state).await?;
        Ok(context! {
            keys => publishers.keys,
            broken => publishers.broken,
            problem => publishers.problem,
            error => error,
        })
    }
}

#[derive(Deserialize)]
struct TrustForm {
    csrf_token: String,
    #[serde(default)]
    key: String,
}

async fn trust_form(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Form(form): Form<TrustForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    let who = Requester::web(&admin, remote);
    let (status, message) = match trust(&state, &who, form.key).await {
        Ok(trusted) => {
            let notice = format!(
                "{} {} key {} ({}). Packages it signs for {} are verified now.",
                if trusted.already {
                    "Already trusting"
                } else {
                    "Trusting"
                },
                trusted.publisher,
                trusted.key_id,
                trusted.file,
                trusted.publisher
            );
            return Ok(redirect_with_notice("/marketplace/publishers", &notice));
        }
        Err(failure) => failure.refusal()?,
    };
    // The pasted text is not shown again: it may have been a secret key.
    let html = list_page::<PublishersPage>(&state, &admin.0, None, Some(message)).await?;
    Ok((status, html).into_response())
}

async fn untrust_form(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    UrlPath(key_id): UrlPath<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    let who = Requester::web(&admin, remote);
    match untrust(&state, &who, &key_id).await {
        Ok(gone) => {
            let publishers: Vec<&str> = gone.iter().map(|g| g.publisher.as_str()).collect();
            let notice = format!(
                "No longer trusting {} key {}. Nothing was uninstalled: the connectors it signed show as “publisher no longer trusted” on the installed list, and its packages need your consent to install.",
                publishers.join(", "),
                key_id
            );
            Ok(redirect_with_notice("/marketplace/publishers", &notice))
        }
        Err(failure) => {
            let (status, message) = failure.refusal()?;
            let html = list_page::<PublishersPage>(&state, &admin.0, None, Some(message)).await?;
            Ok((status, html).into_response())
        }
    }
}
