//! `/integrations/...`: the pages admins set integrations up with, and the
//! ones viewers read.
//!
//! - `list`: `/integrations/list`
//! - `editor`: `/integrations/create` and `/integrations/{id}/edit`, the
//!   form generated from the connector's configuration schema
//! - `wizard`: `/integrations/create/{connector}`, the same fields in
//!   steps, with a connection test before saving
//! - `detail`: `/integrations/{id}` and its buttons
//! - `logs`: `/integrations/logs`
//! - `dashboard`: `/integrations/dashboard`
//! - `webhooks`: an integration's webhook endpoints
//! - `live`: a running sync's progress as server-sent events

mod dashboard;
mod detail;
pub(in crate::web) mod editor;
mod list;
mod live;
mod logs;
pub(in crate::web) mod webhooks;
mod wizard;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::Router;
use axum::response::{IntoResponse, Redirect, Response};

use super::error::Error;
use super::session::SignedIn;
use super::{AppState, urlencode};
use crate::integrations::seal_secrets;
use crate::runtime::Connector;
use crate::runtime::types::ConnectorInfo;
use crate::store::audit::AuditEvent;
use crate::store::integrations::{Integration, IntegrationError, IntegrationFields};

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(list::routes())
        .merge(editor::routes())
        .merge(wizard::routes())
        .merge(detail::routes())
        .merge(logs::routes())
        .merge(dashboard::routes())
        .merge(webhooks::routes())
        .merge(live::routes())
}

/// The integration `id`, or 404.
async fn find(state: &AppState, id: i64) -> Result<Integration, Error> {
    state.store.integration(id).await?.ok_or(Error::NotFound)
}

/// Records an admin's action on an integration.
async fn audit(
    state: &AppState,
    who: &SignedIn,
    remote: SocketAddr,
    action: &str,
    integration: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> Result<(), Error> {
    state
        .store
        .audit(AuditEvent {
            actor: &who.user().username,
            action,
            target: &format!("integration:{integration}"),
            before,
            after,
            remote: Some(&remote.ip().to_string()),
        })
        .await?;
    Ok(())
}

/// To `path`, with a notice of what was done.
fn redirect_with_notice(path: &str, notice: &str) -> Response {
    Redirect::to(&format!("{path}?notice={}", urlencode(notice))).into_response()
}

/// Why a new integration was not saved, when it is the caller's to fix.
pub(in crate::web) enum NotCreated {
    NameTaken(String),
}

/// Saves a new integration with its secrets sealed to its row, and audits
/// it as `action` (with `note` added to the audited object).
#[allow(clippy::too_many_arguments)]
pub(in crate::web) async fn create_integration(
    state: &AppState,
    who: &SignedIn,
    remote: SocketAddr,
    connector: &Connector,
    info: &ConnectorInfo,
    fields: &IntegrationFields,
    secrets: &BTreeMap<String, String>,
    action: &str,
    note: Option<(&str, serde_json::Value)>,
) -> Result<Result<Integration, NotCreated>, Error> {
    state
        .store
        .upsert_provider(info, connector.digest())
        .await?;
    let sealer = state.sealer.clone();
    let created = state
        .store
        .create_integration(&info.id, fields, &who.user().username, |row| {
            seal_secrets(&sealer, row, secrets)
        })
        .await;
    let integration = match created {
        Ok(integration) => integration,
        Err(IntegrationError::NameTaken(name)) => return Ok(Err(NotCreated::NameTaken(name))),
        Err(IntegrationError::Database(e)) => return Err(e.into()),
    };
    let mut after = integration.audit_view();
    if let Some((key, value)) = note {
        after[key] = value;
    }
    audit(
        state,
        who,
        remote,
        action,
        &integration.name,
        None,
        Some(after),
    )
    .await?;
    Ok(Ok(integration))
}
