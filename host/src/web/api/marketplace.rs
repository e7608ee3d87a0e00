//! `/api/v1/marketplace`: the registry's connector packages and installing
//! one (with approval of new capabilities), the installed connectors
//! (roll back, uninstall), and the trusted publisher keys, with the same
//! checks and audit as the pages. Anyone signed in may read; changes are
//! for admins with the CSRF header.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::AppState;
use super::super::marketplace::installed::{self, load_installed};
use super::super::marketplace::publishers::{self, load_publishers};
use super::super::marketplace::{
    Done, Failure, Requester, install_bytes, install_package, load_listing,
};
use super::super::session::Actor;
use super::{ApiAdmin, ApiError, ApiUser};
use crate::marketplace::install::InstallOptions;
use crate::marketplace::package::PACKAGE_LIMIT;
use crate::marketplace::source;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/marketplace", get(list))
        .route("/api/v1/marketplace/install", post(install))
        .route(
            "/api/v1/marketplace/upload",
            post(upload).layer(DefaultBodyLimit::max(PACKAGE_LIMIT as usize)),
        )
        .route("/api/v1/marketplace/installed", get(list_installed))
        .route("/api/v1/marketplace/installed/{id}", delete(uninstall))
        .route(
            "/api/v1/marketplace/installed/{id}/rollback",
            post(rollback),
        )
        .route(
            "/api/v1/marketplace/publishers",
            get(list_publishers).post(trust),
        )
        .route("/api/v1/marketplace/publishers/{key_id}", delete(untrust))
}

/// A marketplace action's failure as the API answers it: 404, 409 with
/// the integrations in the way, 422 `refused` (with what is new, for an
/// upgrade that asks for more) or `invalid`.
fn failure(failure: Failure) -> Result<Response, ApiError> {
    let (status, body) = match failure {
        Failure::NotFound => return Err(ApiError::NotFound),
        Failure::Internal(error) => return Err(ApiError::Internal(error)),
        Failure::Refused(message) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"code": "refused", "message": message, "fields": {}}),
        ),
        Failure::NewCapabilities {
            message,
            current,
            added,
        } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"code": "refused", "message": message, "fields": {},
                   "installed_version": current, "new_capabilities": added}),
        ),
        Failure::ReplacesBundled {
            message,
            replacement,
        } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"code": "refused", "message": message, "fields": {},
            "replaces_bundled": {
                "added_capabilities": replacement.diff.added,
                "removed_capabilities": replacement.diff.removed,
                "integrations": replacement.impact.integrations,
                "secrets": replacement.impact.secrets,
            }}),
        ),
        Failure::InUse {
            message,
            integrations,
        } => (
            StatusCode::CONFLICT,
            json!({"code": "conflict", "message": message, "fields": {},
                   "integrations": integrations}),
        ),
        Failure::Invalid { field, message } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"code": "invalid", "message": message, "fields": {field: message}}),
        ),
    };
    Ok((status, Json(json!({ "error": body }))).into_response())
}

fn requester(admin: &ApiAdmin, remote: SocketAddr) -> Requester<'_> {
    Requester {
        actor: admin.0.actor(),
        remote,
        via: admin.0.via(),
    }
}

async fn list(State(state): State<AppState>, _user: ApiUser) -> Result<Json<Value>, ApiError> {
    let listing = load_listing(&state).await?;
    Ok(Json(json!({
        "registry": state.registry.as_ref().map(|r| r.to_string()),
        "problem": listing.problem,
        "packages": listing.packages,
    })))
}

/// An install: `id` and `version` from the server's registry, or a
/// package's `url`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    id: Option<String>,
    version: Option<String>,
    url: Option<String>,
    /// Consent to a package that is unsigned or signed by a key this host
    /// does not trust.
    #[serde(default)]
    accept_untrusted: bool,
    /// Approval of what an upgrade asks for that the installed version
    /// does not.
    #[serde(default)]
    approve_capabilities: bool,
    /// The choice to replace the bundled connector of the same id.
    #[serde(default)]
    replace_bundled: bool,
    /// Consent to making an older version current.
    #[serde(default)]
    allow_downgrade: bool,
}

/// The consent and approval flags of an upload (`?accept_untrusted=true`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadFlags {
    #[serde(default)]
    accept_untrusted: bool,
    #[serde(default)]
    approve_capabilities: bool,
    #[serde(default)]
    replace_bundled: bool,
    #[serde(default)]
    allow_downgrade: bool,
}

async fn install(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: ApiAdmin,
    Json(input): Json<Input>,
) -> Result<Response, ApiError> {
    let options = InstallOptions {
        allow_untrusted: input.accept_untrusted,
        approve_capabilities: input.approve_capabilities,
        replace_bundled: input.replace_bundled,
        allow_downgrade: input.allow_downgrade,
    };
    let who = requester(&admin, remote);
    let outcome = match (&input.id, &input.version, &input.url) {
        (Some(id), Some(version), None) => {
            install_package(&state, &who, id, version, options).await
        }
        (None, None, Some(url)) => match source::download_package(&state.outbound.downloads, url)
            .await
        {
            Ok(bytes) => install_bytes(&state, &who, &bytes, options, &format!("url {url}")).await,
            Err(error) => Err(Failure::Refused(error.to_string())),
        },
        _ => Err(Failure::Invalid {
            field: "url",
            message: "give either `id` and `version` (from the registry) or `url`".into(),
        }),
    };
    installed_answer(outcome)
}

/// An install of the request's body: the package file itself
/// (`application/octet-stream`).
async fn upload(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: ApiAdmin,
    Query(flags): Query<UploadFlags>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let options = InstallOptions {
        allow_untrusted: flags.accept_untrusted,
        approve_capabilities: flags.approve_capabilities,
        replace_bundled: flags.replace_bundled,
        allow_downgrade: flags.allow_downgrade,
    };
    let who = requester(&admin, remote);
    let outcome = if body.is_empty() {
        Err(Failure::Invalid {
            field: "body",
            message: "the request's body must be the .cubepkg file".into(),
        })
    } else {
        install_bytes(&state, &who, &body, options, "upload (api)").await
    };
    installed_answer(outcome)
}

/// 201 with the installed version (200 when it was installed already), or
/// the failure.
fn installed_answer(outcome: Result<Done, Failure>) -> Result<Response, ApiError> {
    let done = match outcome {
        Ok(done) => done,
        Err(error) => return failure(error),
    };
    let status = if done.already {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let r = &done.record;
    Ok((
        status,
        Json(json!({
            "id": r.id,
            "version": r.version,
            "publisher": r.publisher,
            "trusted": r.trusted,
            "key_id": r.key_id,
            "sha256": r.sha256,
            "already_installed": done.already,
            "previous_version": done.previous,
            "approved_capabilities": done.approved,
            "loaded": done.load_error.is_none(),
            "load_error": done.load_error,
        })),
    )
        .into_response())
}

async fn list_installed(
    State(state): State<AppState>,
    _user: ApiUser,
) -> Result<Json<Value>, ApiError> {
    let installed = load_installed(&state).await?;
    Ok(Json(json!({
        "problem": installed.problem,
        "connectors": installed.connectors,
    })))
}

async fn rollback(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: ApiAdmin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match installed::roll_back(&state, &requester(&admin, remote), &id).await {
        Ok(rolled) => Ok(Json(json!({
            "id": rolled.id,
            "from": rolled.from,
            "to": rolled.to,
            "loaded": rolled.load_error.is_none(),
            "load_error": rolled.load_error,
        }))
        .into_response()),
        Err(error) => failure(error),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct UninstallInput {
    /// Disable the integrations that use the connector (otherwise they
    /// refuse the uninstall).
    #[serde(default)]
    disable_integrations: bool,
}

/// `DELETE /api/v1/marketplace/installed/{id}`, with
/// `{"disable_integrations": true}` as its body or
/// `?disable_integrations=true`.
async fn uninstall(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: ApiAdmin,
    Path(id): Path<String>,
    Query(query): Query<UninstallInput>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let input: UninstallInput = if body.iter().all(u8::is_ascii_whitespace) {
        UninstallInput::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::BadRequest(format!(
                "the body must be {{\"disable_integrations\": true|false}}, or empty: {e}"
            ))
        })?
    };
    let disable = input.disable_integrations || query.disable_integrations;
    match installed::uninstall(&state, &requester(&admin, remote), &id, disable).await {
        Ok(removed) => Ok(Json(json!({
            "id": removed.id,
            "versions": removed.versions,
            "disabled_integrations": removed.disabled,
            "unloaded": removed.unloaded,
        }))
        .into_response()),
        Err(error) => failure(error),
    }
}

async fn list_publishers(
    State(state): State<AppState>,
    _user: ApiUser,
) -> Result<Json<Value>, ApiError> {
    let publishers = load_publishers(&state).await?;
    Ok(Json(json!({
        "problem": publishers.problem,
        "publishers": publishers.keys,
        "broken": publishers.broken,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustInput {
    /// The text of the publisher's `.pub` file.
    key: String,
}

async fn trust(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: ApiAdmin,
    Json(input): Json<TrustInput>,
) -> Result<Response, ApiError> {
    match publishers::trust(&state, &requester(&admin, remote), input.key).await {
        Ok(trusted) => {
            let status = if trusted.already {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            Ok((
                status,
                Json(json!({
                    "publisher": trusted.publisher,
                    "key_id": trusted.key_id,
                    "file": trusted.file,
                    "already_trusted": trusted.already,
                })),
            )
                .into_response())
        }
        Err(error) => failure(error),
    }
}

async fn untrust(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: ApiAdmin,
    Path(key_id): Path<String>,
) -> Result<Response, ApiError> {
    match publishers::untrust(&state, &requester(&admin, remote), &key_id).await {
        Ok(removed) => Ok(Json(json!({ "removed": removed })).into_response()),
        Err(error) => failure(error),
    }
}
