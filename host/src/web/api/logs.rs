//! `/api/v1/sync-logs`: the history of syncs and tests, filtered and paged.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::AppState;
use super::{ApiError, ApiUser};
use crate::store::sync_logs::SyncLogFilter;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/sync-logs", get(list))
        .route("/api/v1/sync-logs/{id}", get(show))
}

/// The most entries one call returns.
const MAX_LIMIT: i64 = 200;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    integration: Option<i64>,
    status: Option<String>,
    operation: Option<String>,
    /// Milliseconds since the epoch, inclusive.
    from: Option<i64>,
    /// Milliseconds since the epoch, exclusive.
    until: Option<i64>,
    q: Option<String>,
    offset: Option<i64>,
    limit: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    _user: ApiUser,
    Query(p): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    for (value, allowed, name) in [
        (
            &p.status,
            &["running", "succeeded", "failed", "needs_approval"][..],
            "status",
        ),
        (&p.operation, &["sync", "test"][..], "operation"),
    ] {
        if let Some(v) = value
            && !allowed.contains(&v.as_str())
        {
            return Err(ApiError::BadRequest(format!(
                "{name} must be one of {}",
                allowed.join(", ")
            )));
        }
    }
    let filter = SyncLogFilter {
        integration_id: p.integration,
        status: p.status,
        operation: p.operation,
        from: p.from,
        until: p.until,
        text: p.q.filter(|q| !q.trim().is_empty()),
    };
    let offset = p.offset.unwrap_or(0).max(0);
    let limit = p.limit.unwrap_or(50).clamp(1, MAX_LIMIT);
    let (logs, total) = state.store.sync_logs(&filter, offset, limit).await?;
    Ok(Json(
        json!({"total": total, "offset": offset, "limit": limit, "sync_logs": logs}),
    ))
}

async fn show(
    State(state): State<AppState>,
    _user: ApiUser,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let log = state.store.sync_log(id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(json!(log)))
}
