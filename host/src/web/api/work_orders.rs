//! `/api/v1/work-orders`: CUBE's work orders. A change made here is pushed
//! to every enabled integration whose connector pushes (queued in the same
//! transaction, sent by the workers); each work order lists the remote
//! items it is linked to and how its pushes went. Comments
//! (`/api/v1/work-orders/{id}/comments`) are listed with where they came
//! from and where they went, and a comment added here is pushed like a
//! change.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::AppState;
use super::super::work_orders::{
    CommentInput, WorkOrderInput, comment_on_work_order, create_work_order, delete_work_order,
    update_work_order,
};
use super::{ApiError, ApiUser, ApiWriter};
use crate::store::work_orders::WorkOrder;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/work-orders", get(list).post(create))
        .route(
            "/api/v1/work-orders/{id}",
            get(show).put(update).delete(remove),
        )
        .route(
            "/api/v1/work-orders/{id}/comments",
            get(comments).post(add_comment),
        )
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

async fn create(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    writer: ApiWriter,
    Json(input): Json<WorkOrderInput>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let fields = input.validate().map_err(ApiError::Invalid)?;
    let order = create_work_order(&state, &writer.0, remote, &fields).await?;
    Ok((StatusCode::CREATED, Json(detail(&state, order).await?)))
}

async fn update(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    writer: ApiWriter,
    Path(id): Path<i64>,
    Json(input): Json<WorkOrderInput>,
) -> Result<Json<Value>, ApiError> {
    let fields = input.validate().map_err(ApiError::Invalid)?;
    let (order, _) = update_work_order(&state, &writer.0, remote, id, &fields)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(detail(&state, order).await?))
}

async fn remove(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    writer: ApiWriter,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if !delete_work_order(&state, &writer.0, remote, id).await? {
        return Err(ApiError::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn comments(
    State(state): State<AppState>,
    _user: ApiUser,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    state
        .store
        .work_order(id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let comments = state.store.work_order_comments(id).await?;
    Ok(Json(json!({ "comments": comments })))
}

async fn add_comment(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    writer: ApiWriter,
    Path(id): Path<i64>,
    Json(input): Json<CommentInput>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = input.validate().map_err(ApiError::Invalid)?;
    let comment = comment_on_work_order(&state, &writer.0, remote, id, &body)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok((StatusCode::CREATED, Json(json!(comment))))
}
