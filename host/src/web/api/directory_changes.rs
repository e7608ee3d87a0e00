//! `/api/v1/directory/changes`: the directory change feed
//! (`store::directory::feed`), for systems that keep a copy of the
//! directory (`directory:read`).
//!
//! A consumer starts by taking the head (`/changes/head`), reads the
//! directory in full through `/api/v1/directory`, then asks for the
//! changes after the head, and after the `next` of each answer from then
//! on, storing `next` once it has handled a page. While `more` is true
//! there is more to read at once; otherwise it polls. A cursor older than
//! the feed's retention answers 410 `resync_required` (as Microsoft Graph's
//! delta queries answer `syncStateNotFound`): read in full again.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::AppState;
use super::directory::{bounded_limit, params};
use super::{ApiError, DirectoryReader};
use crate::store::directory::{FeedCursor, FeedError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/directory/changes", get(changes))
        .route("/api/v1/directory/changes/head", get(head))
}

/// Changes a page holds unless `limit` says otherwise, and at most.
const DEFAULT_LIMIT: i64 = 500;
const MAX_LIMIT: i64 = 5000;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ChangeParams {
    /// A cursor: `next` of an earlier answer, or a head; none (or `0.0`)
    /// for the beginning of what the feed holds.
    after: Option<String>,
    limit: Option<i64>,
}

async fn changes(
    State(state): State<AppState>,
    _caller: DirectoryReader,
    query: Result<Query<ChangeParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let p = params(query)?;
    // Without a cursor, from the start of what the feed holds (as a first
    // delta query without a token reads from the beginning).
    let after = match p.after.as_deref() {
        Some(text) => FeedCursor::parse(text).ok_or_else(|| {
            ApiError::BadRequest("after is a cursor: a next or a head this API returned".into())
        })?,
        None => FeedCursor::START,
    };
    let limit = bounded_limit(p.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let page = state
        .store
        .directory_changes_after(after, limit)
        .await
        .map_err(|e| match e {
            FeedError::Expired => ApiError::ResyncRequired,
            FeedError::Database(e) => e.into(),
        })?;
    let next = page.last().map(|c| c.cursor).unwrap_or(after);
    let more = page.len() as i64 == limit;
    Ok(Json(json!({ "changes": page, "next": next, "more": more })))
}

async fn head(
    State(state): State<AppState>,
    _caller: DirectoryReader,
) -> Result<Json<Value>, ApiError> {
    let cursor = state.store.directory_feed_head().await?;
    Ok(Json(json!({ "cursor": cursor })))
}
