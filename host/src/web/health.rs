//! `/healthz` (the process answers) and `/readyz` (it can do its work).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::Catalog;

pub fn routes() -> Router<Catalog> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(catalog): State<Catalog>) -> (StatusCode, Json<Value>) {
    let (loaded, failed) = catalog.counts();
    if catalog.is_ready() {
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
