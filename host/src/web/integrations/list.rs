//! `/integrations/list`: every integration with its status, last and next sync.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use minijinja::context;
use serde_json::json;

use super::super::AppState;
use super::super::error::Error;
use super::super::forms::Notice;
use super::super::render;
use super::super::session::SignedIn;

pub fn routes() -> Router<AppState> {
    Router::new().route("/integrations/list", get(list))
}

async fn list(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(q): Query<Notice>,
) -> Result<Html<String>, Error> {
    let integrations = state.store.integrations().await?;
    let mut rows = Vec::with_capacity(integrations.len());
    for integration in &integrations {
        let connector = state
            .catalog
            .get(&integration.provider_id)
            .map(|(_, info)| format!("{} {}", info.name, info.version));
        let pending = state.store.pending_job(integration.id).await?;
        rows.push(json!({
            "integration": integration,
            "connector": connector,
            "pending": pending.map(|j| j.status),
        }));
    }
    render::signed_in_page(
        "integrations/list.html",
        &signed_in,
        context! {
            rows => rows,
            notice => q.notice,
        },
    )
}
