//! The "Directory sign-in" section of an `active-directory` integration's
//! page: whether its users may sign in to this admin UI, and which synced
//! groups make admins and viewers. Saved by admins only, CSRF-checked,
//! audited with the settings before and after.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Form, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::error::Error;
use super::super::session::Admin;
use super::super::{AppState, urlencode};
use super::{audit, find, redirect_with_notice};
use crate::integrations::directory_bind::{IDENTITY_MISMATCH, sends_in_clear};
use crate::store::directory_sign_in::{
    DIRECTORY_CONNECTOR, DirectorySignInError, DirectorySignInSettings, GroupChoice,
};
use crate::store::integrations::Integration;

/// How many refused sign-ins of another account under a synced user's DN
/// the page lists (the audit log has them all).
const RECENT_MISMATCHES: i64 = 20;

pub fn routes() -> Router<AppState> {
    Router::new().route("/integrations/{id}/directory-sign-in", post(save))
}

/// What the integration page shows of the settings; `None` for
/// integrations of other connectors.
pub(super) async fn view(
    state: &AppState,
    integration: &Integration,
) -> Result<Option<Value>, Error> {
    if integration.provider_id != DIRECTORY_CONNECTOR {
        return Ok(None);
    }
    let settings = state
        .store
        .directory_sign_in_settings(integration.id)
        .await?;
    let groups = state.store.directory_group_choices(integration.id).await?;
    let identity_mismatches = state
        .store
        .audit_entries_of(
            &format!("integration:{}", integration.id),
            IDENTITY_MISMATCH,
            RECENT_MISMATCHES,
        )
        .await?;
    Ok(Some(json!({
        "identity_mismatches": identity_mismatches,
        "in_clear": sends_in_clear(integration),
        "described": describe(settings.as_ref(), &groups),
        "settings": settings,
        "groups": groups,
    })))
}

/// The settings with group names, for the page and the audit log.
fn describe(settings: Option<&DirectorySignInSettings>, groups: &[GroupChoice]) -> Value {
    let Some(settings) = settings else {
        return json!({ "enabled": false });
    };
    let group = |id: Option<&str>| {
        id.map(|id| {
            let name = groups
                .iter()
                .find(|g| g.external_id == id)
                .map(|g| g.name.as_str());
            json!({ "external_id": id, "name": name.unwrap_or(id) })
        })
    };
    json!({
        "enabled": settings.enabled,
        "admin_group": group(Some(&settings.admin_group_external_id)),
        "viewer_group": group(settings.viewer_group_external_id.as_deref()),
        "allow_plaintext": settings.allow_plaintext,
    })
}

#[derive(Deserialize)]
struct SettingsForm {
    csrf_token: String,
    enabled: Option<String>,
    #[serde(default)]
    admin_group: String,
    #[serde(default)]
    viewer_group: String,
    allow_plaintext: Option<String>,
}

async fn save(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Path(id): Path<i64>,
    Form(form): Form<SettingsForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    let integration = find(&state, id).await?;
    if integration.provider_id != DIRECTORY_CONNECTOR {
        return Err(Error::NotFound);
    }
    let back = format!("/integrations/{id}");
    let refuse = |problem: &str| {
        Ok(Redirect::to(&format!(
            "{back}?error={}#directory-sign-in",
            urlencode(problem)
        ))
        .into_response())
    };
    let admin_group = form.admin_group.trim();
    if admin_group.is_empty() {
        return refuse("Choose the group whose members sign in as admins.");
    }
    let viewer_group = Some(form.viewer_group.trim()).filter(|g| !g.is_empty());
    if form.enabled.is_some() && sends_in_clear(&integration) && form.allow_plaintext.is_none() {
        return refuse(
            "This integration connects without TLS, so sign-in would send passwords in clear. \
             Switch it to StartTLS or LDAPS, or tick \"allow passwords in clear\".",
        );
    }
    let before = state.store.directory_sign_in_settings(id).await?;
    let saved = state
        .store
        .set_directory_sign_in_settings(
            id,
            form.enabled.is_some(),
            admin_group,
            viewer_group,
            form.allow_plaintext.is_some(),
            &admin.0.user().username,
        )
        .await;
    let after = match saved {
        Ok(after) => after,
        Err(DirectorySignInError::Database(e)) => return Err(e.into()),
        Err(other) => return refuse(&other.to_string()),
    };
    let groups = state.store.directory_group_choices(id).await?;
    // Accounts signed in under the old settings follow the new ones now.
    state
        .store
        .reconcile_directory_accounts(id, &admin.0.user().username)
        .await?;
    audit(
        &state,
        &admin.0,
        remote,
        "integration.directory-sign-in",
        &integration.name,
        Some(describe(before.as_ref(), &groups)),
        Some(describe(Some(&after), &groups)),
    )
    .await?;
    let notice = if after.enabled {
        "Directory sign-in saved: members of the chosen groups can sign in."
    } else {
        "Directory sign-in saved: it is off."
    };
    Ok(redirect_with_notice(&back, notice))
}
