//! `/api/v1/marketplace`: the registry's connector packages, and installing
//! one (admins), with the same checks and audit as the page.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::AppState;
use super::super::marketplace::{InstallFailure, install_package, load_listing};
use super::{ApiAdmin, ApiError, ApiUser};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/marketplace", get(list))
        .route("/api/v1/marketplace/install", post(install))
}

async fn list(State(state): State<AppState>, _user: ApiUser) -> Result<Json<Value>, ApiError> {
    let listing = load_listing(&state).await?;
    Ok(Json(json!({
        "registry": state.registry.as_ref().map(|p| p.display().to_string()),
        "problem": listing.problem,
        "packages": listing.packages,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    id: String,
    version: String,
    /// Consent to a package that is unsigned or signed by a key this host
    /// does not trust.
    #[serde(default)]
    accept_untrusted: bool,
}

async fn install(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: ApiAdmin,
    Json(input): Json<Input>,
) -> Result<Response, ApiError> {
    let username = admin.0.user().username.clone();
    match install_package(
        &state,
        &username,
        remote,
        &input.id,
        &input.version,
        input.accept_untrusted,
        "api",
    )
    .await
    {
        Ok(done) => {
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
                    "loaded": done.load_error.is_none(),
                    "load_error": done.load_error,
                })),
            )
                .into_response())
        }
        Err(InstallFailure::NotFound) => Err(ApiError::NotFound),
        Err(InstallFailure::Internal(error)) => Err(ApiError::Internal(error)),
        Err(InstallFailure::Refused(message)) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": {"code": "refused", "message": message, "fields": {}}})),
        )
            .into_response()),
    }
}
