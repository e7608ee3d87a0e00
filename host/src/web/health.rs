//! `/healthz` (the process answers), `/readyz` (it can do its work: the
//! database answers and the connectors are loaded) and `/metrics`
//! (Prometheus text format: counts and gauges, no names or secrets).

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
        .route("/metrics", get(metrics))
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if let Err(error) = state.store.ping().await {
        tracing::error!(%error, "readiness: the database does not answer");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "database unavailable"})),
        );
    }
    // Readiness first, counts after: the counts are complete once ready.
    let ready = state.catalog.is_ready();
    let (loaded, failed) = state.catalog.counts();
    if ready {
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

async fn metrics(State(state): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let backlog = match state.store.backlog().await {
        Ok(backlog) => backlog,
        Err(error) => {
            tracing::error!(%error, "metrics: the database does not answer");
            return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response();
        }
    };
    let text = crate::metrics::render(&crate::metrics::Gauges {
        jobs_queued: backlog.jobs_queued,
        jobs_running: backlog.jobs_running,
        deliveries_waiting: backlog.deliveries_waiting,
        pushes_waiting: backlog.pushes_waiting,
        integrations_enabled: backlog.integrations_enabled,
        integrations_failing: backlog.integrations_failing,
    });
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
