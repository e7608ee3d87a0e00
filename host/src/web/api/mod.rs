//! `/api/v1`: the JSON API for the same resources as the pages, described
//! by `/api/v1/openapi.json` (OpenAPI 3.1).
//!
//! It uses the session cookie of a signed-in user, like the pages, and
//! every call that changes something must carry the session's CSRF token
//! in the `X-CSRF-Token` header (`GET /api/v1/session` returns it). Errors
//! are JSON: `{"error": {"code", "message", "fields"}}`; internal details
//! are logged, never returned. Secrets go in and never come out: responses
//! list which secret fields are set, not their values.

mod error;
mod integrations;
mod logs;
mod marketplace;
mod webhooks;
mod work_orders;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::AppState;
use super::session::SignedIn;
use crate::store::users::Role;
pub use error::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/session", get(session))
        .merge(integrations::routes())
        .merge(logs::routes())
        .merge(marketplace::routes())
        .merge(webhooks::routes())
        .merge(work_orders::routes())
}

/// A signed-in caller of the API.
pub struct ApiUser(pub SignedIn);

/// A signed-in admin whose request carries the CSRF token.
pub struct ApiAdmin(pub SignedIn);

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(ApiUser(SignedIn::from_request_parts(parts, state).await?))
    }
}

impl FromRequestParts<AppState> for ApiAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = SignedIn::from_request_parts(parts, state).await?;
        if user.user().role != Role::Admin {
            return Err(ApiError::Forbidden);
        }
        let token = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        user.check_csrf(token)?;
        Ok(ApiAdmin(user))
    }
}

async fn session(user: ApiUser) -> Json<serde_json::Value> {
    Json(json!({
        "user": user.0.user(),
        "csrf_token": user.0.session.csrf_token,
    }))
}

async fn openapi() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        include_str!("../../../static/openapi.json"),
    )
}
