//! `/api/v1/work-orders`: CUBE's work orders. A change made here is pushed
//! to every enabled integration whose connector pushes (queued in the same
//! transaction, sent by the workers); each work order lists the remote
//! items it is linked to and how its pushes went.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::AppState;
use super::{ApiAdmin, ApiError, ApiUser};
use crate::store::audit::AuditEvent;
use crate::store::work_orders::{WorkOrder, WorkOrderFields};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/work-orders", get(list).post(create))
        .route(
            "/api/v1/work-orders/{id}",
            get(show).put(update).delete(remove),
        )
}

/// What a caller sends to create or replace a work order.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    priority: Option<String>,
    #[serde(default)]
    assignee: Option<String>,
    #[serde(default)]
    requester: Option<String>,
    /// Milliseconds since the epoch.
    #[serde(default)]
    due_at: Option<i64>,
}

fn one_line(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

impl Input {
    /// The fields, or what is wrong with them, by field.
    fn validate(self) -> Result<WorkOrderFields, ApiError> {
        let mut problems = BTreeMap::new();
        let title = self.title.trim().to_owned();
        if title.is_empty() || title.chars().count() > 200 || !one_line(&title) {
            problems.insert("title".into(), "One line of 1 to 200 characters.".into());
        }
        if self.description.chars().count() > 20_000 {
            problems.insert("description".into(), "At most 20,000 characters.".into());
        }
        let short =
            |name: &str, value: &Option<String>, problems: &mut BTreeMap<String, String>| {
                if let Some(value) = value
                    && (value.chars().count() > 100 || !one_line(value))
                {
                    problems.insert(name.into(), "One line of at most 100 characters.".into());
                }
            };
        short("status", &self.status, &mut problems);
        short("priority", &self.priority, &mut problems);
        short("assignee", &self.assignee, &mut problems);
        short("requester", &self.requester, &mut problems);
        if !problems.is_empty() {
            return Err(ApiError::Invalid(problems));
        }
        let some =
            |value: Option<String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        Ok(WorkOrderFields {
            title,
            description: self.description,
            status: some(self.status).unwrap_or_else(|| "open".into()),
            priority: some(self.priority).unwrap_or_else(|| "normal".into()),
            assignee: some(self.assignee),
            requester: some(self.requester),
            due_at: self.due_at,
        })
    }
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    offset: i64,
}

async fn list(
    State(state): State<AppState>,
    _user: ApiUser,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    let orders = state.store.work_orders(100, page.offset.max(0)).await?;
    Ok(Json(json!({ "work_orders": orders })))
}

async fn detail(state: &AppState, order: WorkOrder) -> Result<Value, ApiError> {
    let links = state.store.work_order_links(order.id).await?;
    let pushes = state.store.pushes_of(order.id).await?;
    let mut body = json!(order);
    body["links"] = json!(links);
    body["pushes"] = json!(pushes);
    Ok(body)
}

async fn show(
    State(state): State<AppState>,
    _user: ApiUser,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let order = state
        .store
        .work_order(id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(detail(&state, order).await?))
}

async fn record(
    state: &AppState,
    admin: &ApiAdmin,
    remote: SocketAddr,
    action: &str,
    id: i64,
    after: Value,
) -> Result<(), ApiError> {
    state
        .store
        .audit(AuditEvent {
            actor: &admin.0.user().username,
            action,
            target: &format!("work-order:{id}"),
            before: None,
            after: Some(after),
            remote: Some(&remote.ip().to_string()),
        })
        .await?;
    Ok(())
}

async fn create(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: ApiAdmin,
    Json(input): Json<Input>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let fields = input.validate()?;
    let order = state.store.create_work_order(&fields).await?;
    record(
        &state,
        &admin,
        remote,
        "work-order.create",
        order.id,
        json!({"title": order.title}),
    )
    .await?;
    state.sync.wake();
    Ok((StatusCode::CREATED, Json(detail(&state, order).await?)))
}

async fn update(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: ApiAdmin,
    Path(id): Path<i64>,
    Json(input): Json<Input>,
) -> Result<Json<Value>, ApiError> {
    let fields = input.validate()?;
    let (order, changed) = state
        .store
        .update_work_order(id, &fields)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !changed.is_empty() {
        record(
            &state,
            &admin,
            remote,
            "work-order.update",
            id,
            json!({"changed": changed}),
        )
        .await?;
        state.sync.wake();
    }
    Ok(Json(detail(&state, order).await?))
}

async fn remove(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: ApiAdmin,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if !state.store.delete_work_order(id).await? {
        return Err(ApiError::NotFound);
    }
    record(
        &state,
        &admin,
        remote,
        "work-order.delete",
        id,
        json!({"deleted": true}),
    )
    .await?;
    state.sync.wake();
    Ok(StatusCode::NO_CONTENT)
}
