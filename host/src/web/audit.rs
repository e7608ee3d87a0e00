//! `/admin/audit`: the audit log, newest first; and [`record`], what the
//! pages and the API write to it when a signed-in user changes something.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use minijinja::context;

use super::AppState;
use super::error::Error;
use super::render;
use super::session::{Actor, Admin};
use crate::store::audit::AuditEvent;

pub fn routes() -> Router<AppState> {
    Router::new().route("/admin/audit", get(list))
}

async fn list(State(state): State<AppState>, admin: Admin) -> Result<Html<String>, Error> {
    let entries = state.store.audit_entries(500).await?;
    let html = render::signed_in_page(
        "admin/audit.html",
        &admin.0,
        context! {
            entries => entries,
        },
    )?;
    Ok(html)
}

/// Records that `who`, from `remote`, did `action` to `target`
/// (`user:alice`, `integration:HR`), with what it was and became.
pub(in crate::web) async fn record(
    state: &AppState,
    who: &impl Actor,
    remote: SocketAddr,
    action: &str,
    target: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> Result<(), sqlx::Error> {
    state
        .store
        .audit(AuditEvent {
            actor: who.actor(),
            action,
            target,
            before,
            after,
            remote: Some(&remote.ip().to_string()),
        })
        .await
}
