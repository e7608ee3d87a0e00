//! `/api/v1/directory`: the users and groups the host syncs, for other
//! systems to read (`directory:read`), with cursor pages that stay correct
//! while a sync writes (`store::directory::keyset`).
//!
//! Users and groups are named by the host's id for them (stable for as long
//! as the identity exists, across renames and moves); each also carries its
//! integration and its external id (the directory's own `objectGUID` or
//! `entryUUID`). A list answers `{"users" | "groups" | "members": [...],
//! "next": <cursor or null>}`; pass `after=<next>` for the next page.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::AppState;
use super::{ApiError, DirectoryReader};
use crate::store::directory::{DirectoryFilter, DirectorySearch};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/directory/users", get(users))
        .route("/api/v1/directory/users/{id}", get(user))
        .route("/api/v1/directory/users/{id}/groups", get(user_groups))
        .route("/api/v1/directory/groups", get(groups))
        .route("/api/v1/directory/groups/{id}", get(group))
        .route("/api/v1/directory/groups/{id}/members", get(members))
        .route("/api/v1/directory/groups/{id}/groups", get(group_groups))
}

/// Items a page holds unless `limit` says otherwise, and at most.
const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ListParams {
    /// An integration's id.
    integration: Option<i64>,
    /// Users only.
    enabled: Option<bool>,
    /// Words each found in a user's username, display name or email, or a
    /// group's name.
    q: Option<String>,
    /// Milliseconds since the epoch, or an RFC 3339 time.
    updated_since: Option<String>,
    after: Option<String>,
    limit: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MemberParams {
    /// Also the members (or groups) through nested groups.
    #[serde(default)]
    effective: bool,
    after: Option<String>,
    limit: Option<i64>,
}

/// Query parameters, or a 400 that says which one is wrong.
pub(super) fn params<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query
        .map(|Query(p)| p)
        .map_err(|e| ApiError::BadRequest(e.body_text()))
}

/// A page's `limit`: `default` when none was asked, at most `max`.
pub(super) fn bounded_limit(limit: Option<i64>, default: i64, max: i64) -> Result<i64, ApiError> {
    match limit.unwrap_or(default) {
        n if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::BadRequest(format!("limit is 1 to {max}"))),
    }
}

fn limit(limit: Option<i64>) -> Result<i64, ApiError> {
    bounded_limit(limit, DEFAULT_LIMIT, MAX_LIMIT)
}

/// A list's cursor: the last id of the page before.
fn id_cursor(after: Option<&str>) -> Result<i64, ApiError> {
    match after {
        None => Ok(0),
        Some(text) => text
            .parse()
            .ok()
            .filter(|id: &i64| *id >= 0)
            .ok_or_else(|| {
                ApiError::BadRequest("after is a cursor a page returned as next".into())
            }),
    }
}

/// A member list's cursor: the last member's external id, base64url.
fn member_cursor(after: Option<&str>) -> Result<Option<String>, ApiError> {
    after
        .map(|text| {
            URL_SAFE_NO_PAD
                .decode(text)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| {
                    ApiError::BadRequest("after is a cursor a page returned as next".into())
                })
        })
        .transpose()
}

fn updated_since(text: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(text) = text else { return Ok(None) };
    if let Ok(millis) = text.parse::<i64>() {
        return Ok(Some(millis));
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| Some(t.timestamp_millis()))
        .map_err(|_| {
            ApiError::BadRequest(
                "updated_since is milliseconds since the epoch or an RFC 3339 time".into(),
            )
        })
}

fn filter(p: &ListParams) -> Result<DirectoryFilter, ApiError> {
    Ok(DirectoryFilter {
        search: DirectorySearch {
            integration_id: p.integration,
            text: p.q.clone(),
        },
        enabled: p.enabled,
        updated_since: updated_since(p.updated_since.as_deref())?,
    })
}

/// `next` for a page of `limit` asked, whose last key is `last`: none when
/// the page was not full (there is nothing after it).
fn next<T: ToString>(got: usize, limit: i64, last: Option<T>) -> Value {
    match last {
        Some(last) if got as i64 == limit => json!(last.to_string()),
        _ => Value::Null,
    }
}

async fn users(
    State(state): State<AppState>,
    _caller: DirectoryReader,
    query: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let p = params(query)?;
    let limit = limit(p.limit)?;
    let page = state
        .store
        .directory_users_after(&filter(&p)?, id_cursor(p.after.as_deref())?, limit)
        .await?;
    let next = next(page.len(), limit, page.last().map(|u| u.id));
    Ok(Json(json!({ "users": page, "next": next })))
}

async fn groups(
    State(state): State<AppState>,
    _caller: DirectoryReader,
    query: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let p = params(query)?;
    if p.enabled.is_some() {
        return Err(ApiError::BadRequest("groups have no enabled filter".into()));
    }
    let limit = limit(p.limit)?;
    let page = state
        .store
        .directory_groups_after(&filter(&p)?, id_cursor(p.after.as_deref())?, limit)
        .await?;
    let next = next(page.len(), limit, page.last().map(|g| g.id));
    Ok(Json(json!({ "groups": page, "next": next })))
}

async fn user_key(state: &AppState, id: i64) -> Result<(i64, String), ApiError> {
    state
        .store
        .directory_user_key(id)
        .await?
        .ok_or(ApiError::NotFound)
}

async fn group_key(state: &AppState, id: i64) -> Result<(i64, String), ApiError> {
    state
        .store
        .directory_group_key(id)
        .await?
        .ok_or(ApiError::NotFound)
}

async fn user(
    State(state): State<AppState>,
    _caller: DirectoryReader,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let (integration, external_id) = user_key(&state, id).await?;
    let detail = state
        .store
        .directory_user(integration, &external_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let groups = state
        .store
        .groups_of_member_keyed(integration, &external_id, false)
        .await?;
    let mut body = json!(detail.user);
    body["id"] = json!(id);
    body["first_name"] = json!(detail.first_name);
    body["last_name"] = json!(detail.last_name);
    body["principal_name"] = json!(detail.principal_name);
    body["groups"] = json!(groups);
    Ok(Json(body))
}

async fn group(
    State(state): State<AppState>,
    _caller: DirectoryReader,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let (integration, external_id) = group_key(&state, id).await?;
    let detail = state
        .store
        .directory_group(integration, &external_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut body = json!(detail.group);
    body["id"] = json!(id);
    body["description"] = json!(detail.description);
    Ok(Json(body))
}

async fn members(
    State(state): State<AppState>,
    _caller: DirectoryReader,
    Path(id): Path<i64>,
    query: Result<Query<MemberParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let p = params(query)?;
    let limit = limit(p.limit)?;
    let after = member_cursor(p.after.as_deref())?;
    let (integration, external_id) = group_key(&state, id).await?;
    let page = state
        .store
        .group_members_after(
            integration,
            &external_id,
            p.effective,
            after.as_deref(),
            limit,
        )
        .await?;
    let last = page.last().map(|m| URL_SAFE_NO_PAD.encode(&m.external_id));
    Ok(Json(
        json!({ "members": page, "next": next(page.len(), limit, last) }),
    ))
}

async fn memberships(
    state: &AppState,
    integration: i64,
    external_id: &str,
    query: Result<Query<MemberParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let p = params(query)?;
    if p.after.is_some() || p.limit.is_some() {
        return Err(ApiError::BadRequest(
            "a member's groups come in one answer: leave out after and limit".into(),
        ));
    }
    let groups = state
        .store
        .groups_of_member_keyed(integration, external_id, p.effective)
        .await?;
    Ok(Json(json!({ "groups": groups })))
}

async fn user_groups(
    State(state): State<AppState>,
    _caller: DirectoryReader,
    Path(id): Path<i64>,
    query: Result<Query<MemberParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let (integration, external_id) = user_key(&state, id).await?;
    memberships(&state, integration, &external_id, query).await
}

async fn group_groups(
    State(state): State<AppState>,
    _caller: DirectoryReader,
    Path(id): Path<i64>,
    query: Result<Query<MemberParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let (integration, external_id) = group_key(&state, id).await?;
    memberships(&state, integration, &external_id, query).await
}
