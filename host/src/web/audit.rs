//! `/admin/audit`: the audit log, newest first.

use axum::Router;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use minijinja::context;

use super::AppState;
use super::error::Error;
use super::render;
use super::session::Admin;

pub fn routes() -> Router<AppState> {
    Router::new().route("/admin/audit", get(list))
}

async fn list(State(state): State<AppState>, admin: Admin) -> Result<Html<String>, Error> {
    let entries = state.store.audit_entries(500).await?;
    let html = render::page(
        "admin/audit.html",
        context! {
            user => admin.0.user(),
            csrf_token => &admin.0.session.csrf_token,
            entries => entries,
        },
    )?;
    Ok(html)
}
