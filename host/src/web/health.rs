//! `/healthz` (the process answers) and `/readyz` (it can do its work: the
//! database answers and the connectors are loaded).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let (loaded, failed) = state.catalog.counts();
    if let Err(error) = state.store.ping().await {
        tracing::error!(%error, "readiness: the database does not answer");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "database unavailable"})),
        );
    }
    if state.catalog.is_ready() {
        (
            StatusCode::OK,
            Json(json!({"status": "ready", "connectors": loaded, "failed_connectors": failed})),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "starting", "connectors": loaded})),
        )
    }
}
