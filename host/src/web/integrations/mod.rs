//! `/integrations/...`: the pages admins set integrations up with, and the
//! ones viewers read.
//!
//! - `actions`: what the pages and the JSON API both do (create, update,
//!   test an integration), in one place
//! - `list`: `/integrations/list`
//! - `editor`: `/integrations/create` and `/integrations/{id}/edit`, the
//!   form generated from the connector's configuration schema
//! - `wizard`: `/integrations/create/{connector}`, the same fields in
//!   steps, with a connection test before saving
//! - `detail`: `/integrations/{id}` and its buttons
//! - `deletions`: the deletion threshold, and approving or discarding the
//!   deletions a full sync held back
//! - `directory_sign_in`: a directory integration's sign-in settings
//! - `logs`: `/integrations/logs`
//! - `dashboard`: `/integrations/dashboard`
//! - `webhooks`: an integration's webhook endpoints
//! - `live`: a running sync's progress as server-sent events

pub(in crate::web) mod actions;
mod dashboard;
pub(in crate::web) mod deletions;
mod detail;
mod directory_sign_in;
mod editor;
pub(in crate::web) mod form;
pub(in crate::web) mod full_sync;
mod list;
mod live;
mod logs;
pub(in crate::web) mod webhooks;
mod wizard;

use std::net::SocketAddr;

use axum::Router;

use super::AppState;
use super::audit::record;
use super::error::Error;
use super::forms::redirect_with_notice;
use super::session::Actor;
use crate::store::integrations::Integration;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(list::routes())
        .merge(editor::routes())
        .merge(wizard::routes())
        .merge(detail::routes())
        .merge(deletions::routes())
        .merge(directory_sign_in::routes())
        .merge(logs::routes())
        .merge(dashboard::routes())
        .merge(webhooks::routes())
        .merge(live::routes())
}

/// The integration `id`, or 404.
pub(in crate::web) async fn find(state: &AppState, id: i64) -> Result<Integration, Error> {
    state.store.integration(id).await?.ok_or(Error::NotFound)
}

/// Records an admin's action on an integration.
pub(in crate::web) async fn audit(
    state: &AppState,
    who: &impl Actor,
    remote: SocketAddr,
    action: &str,
    integration: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> Result<(), Error> {
    let target = format!("integration:{integration}");
    record(state, who, remote, action, &target, before, after).await?;
    Ok(())
}
