//! `/healthz` (the process answers), `/readyz` (it can do its work: the
//! database answers and the connectors are loaded) and `/metrics`
//! (Prometheus text format: counts and gauges, no names or secrets; behind
//! a bearer token when `--metrics-token` is set).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;
use crate::shared::constant_time::constant_time_eq;

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

/// Whether the request may read `/metrics`: always when no token is
/// configured, else with `Authorization: Bearer <token>` (compared in
/// constant time).
fn may_read_metrics(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(token) = state.access.metrics_token.as_deref() else {
        return true;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        })
        .map(|(_, t)| t.trim())
        .unwrap_or("");
    // Digests of equal length, compared in constant time: neither the
    // token nor its length shows in the timing.
    use sha2::{Digest, Sha256};
    constant_time_eq(
        &Sha256::digest(given.as_bytes()),
        &Sha256::digest(token.as_bytes()),
    )
}

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> axum::response::Response {
    use axum::response::IntoResponse;
    if !may_read_metrics(&state, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\"")],
            "/metrics needs the metrics token: Authorization: Bearer <token>\n",
        )
            .into_response();
    }
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
