//! `/api/v1`: the JSON API for the same resources as the pages, described
//! by `/api/v1/openapi.json` (OpenAPI 3.1).
//!
//! Programs call it with an API token (`Authorization: Bearer`, checked
//! and rate-limited by `bearer`); browsers with the session cookie of a
//! signed-in user, like the pages, and then every call that changes
//! something must carry the session's CSRF token in the `X-CSRF-Token`
//! header (`GET /api/v1/session` returns it). Each handler's extractor
//! (`caller`) says what it needs: a scope of a token, a role of a session.
//! Errors
//! are JSON: `{"error": {"code", "message", "fields"}}`; internal details
//! are logged, never returned. Secrets go in and never come out: responses
//! list which secret fields are set, not their values.

pub(in crate::web) mod bearer;
mod caller;
mod directory;
mod directory_changes;
pub(in crate::web) mod error;
mod integrations;
mod logs;
mod marketplace;
mod webhooks;
mod work_orders;

use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router, middleware};
use serde_json::json;

use super::AppState;
pub use bearer::RateLimiter;
pub use caller::{ApiAdmin, ApiSession, ApiUser, ApiWriter, Caller, Credential, DirectoryReader};
pub use error::ApiError;

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/session", get(session))
        .merge(directory::routes())
        .merge(directory_changes::routes())
        .merge(integrations::routes())
        .merge(logs::routes())
        .merge(marketplace::routes())
        .merge(webhooks::routes())
        .merge(work_orders::routes())
        .route_layer(middleware::from_fn_with_state(state, bearer::authenticate))
}

async fn session(signed_in: ApiSession) -> Json<serde_json::Value> {
    Json(json!({
        "user": signed_in.0.user(),
        "csrf_token": signed_in.0.session.csrf_token,
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
