//! The deletion guard on an integration (decision 0033): its threshold in
//! the forms and the API, the list of deletions a full sync held back, and
//! the admin's Approve or Discard. The pages and the API decide through
//! [`decide`], which audits who decided and how many records it touched.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Form, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::super::error::Error;
use super::super::session::{Actor, Admin};
use super::super::{AppState, urlencode};
use super::{audit, find, redirect_with_notice};
use crate::integrations::schema::FieldErrors;
use crate::store::deletions::{Decided, DecisionError, DeletionLimits, MAX_OBJECTS};
use crate::store::integrations::Integration;

/// The form inputs of the threshold.
pub(in crate::web) const OBJECTS_KEY: &str = "deletion_max_objects";
pub(in crate::web) const PERCENT_KEY: &str = "deletion_max_percent";

/// Pending deletions shown per page.
pub(in crate::web) const PAGE: i64 = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/integrations/{id}/deletions/approve",
            post(decide_page::<true>),
        )
        .route(
            "/integrations/{id}/deletions/discard",
            post(decide_page::<false>),
        )
}

/// Reads the threshold from a submitted form; an empty input takes the
/// default, 0 turns that limit off. Problems go into `errors`.
pub(in crate::web) fn read_limits(
    input: &HashMap<String, String>,
    errors: &mut FieldErrors,
) -> DeletionLimits {
    let defaults = DeletionLimits::default();
    let mut read = |key: &str, default: i64, max: i64, message: String| match input
        .get(key)
        .map(|s| s.trim())
        .unwrap_or("")
    {
        "" => default,
        text => match text.parse::<i64>() {
            Ok(n) if (0..=max).contains(&n) => n,
            _ => {
                errors.insert(key.into(), message);
                default
            }
        },
    };
    let max_objects = read(
        OBJECTS_KEY,
        defaults.max_objects,
        MAX_OBJECTS,
        format!(
            "Enter a whole number of records from 0 (no limit) to {MAX_OBJECTS}, or leave empty for {}.",
            defaults.max_objects
        ),
    );
    let max_percent = read(
        PERCENT_KEY,
        defaults.max_percent,
        100,
        format!(
            "Enter a whole percentage from 0 (no limit) to 100, or leave empty for {}.",
            defaults.max_percent
        ),
    );
    DeletionLimits {
        max_objects,
        max_percent,
    }
}

/// The form values of a threshold.
pub(in crate::web) fn limit_values(limits: DeletionLimits, values: &mut Map<String, Value>) {
    values.insert(OBJECTS_KEY.into(), json!(limits.max_objects.to_string()));
    values.insert(PERCENT_KEY.into(), json!(limits.max_percent.to_string()));
}

/// What the integration's page shows: the threshold, and the page of
/// pending deletions starting at `offset` (with paging links' offsets).
pub(super) async fn view(
    state: &AppState,
    integration: &Integration,
    offset: i64,
) -> Result<Value, Error> {
    let limits = state.store.deletion_limits(integration.id).await?;
    let offset = offset.max(0);
    let pending = state
        .store
        .pending_deletions(integration.id, offset, PAGE)
        .await?;
    let paging = pending.as_ref().map(|set| {
        json!({
            "from": if set.items.is_empty() { offset } else { offset + 1 },
            "to": offset + set.items.len() as i64,
            "previous": (offset > 0).then(|| (offset - PAGE).max(0)),
            "next": (offset + PAGE < set.total).then_some(offset + PAGE),
        })
    });
    Ok(json!({
        "limits": limits,
        "pending": pending,
        "paging": paging,
    }))
}

/// Approves (`approve`) or discards the deletions of job `job` and audits
/// it. `Ok(Err(message))` when there was nothing to decide on, or the set
/// was replaced since the admin read it.
pub(in crate::web) async fn decide(
    state: &AppState,
    who: &impl Actor,
    remote: SocketAddr,
    integration: &Integration,
    job: i64,
    approve: bool,
) -> Result<Result<Decided, String>, Error> {
    let decided = if approve {
        state.store.approve_deletions(integration.id, job).await
    } else {
        state.store.discard_deletions(integration.id, job).await
    };
    let decided = match decided {
        Ok(decided) => decided,
        Err(DecisionError::Database(e)) => return Err(e.into()),
        Err(other) => return Ok(Err(format!("Nothing was changed: {other}."))),
    };
    let action = if approve {
        "integration.deletions.approve"
    } else {
        "integration.deletions.discard"
    };
    audit(
        state,
        who,
        remote,
        action,
        &integration.name,
        Some(json!({"job": decided.job_id, "pending": decided.pending})),
        Some(json!({"deleted": decided.deleted, "kept": decided.pending - decided.deleted})),
    )
    .await?;
    Ok(Ok(decided))
}

#[derive(Deserialize)]
struct DecisionForm {
    csrf_token: String,
    /// The job whose list the admin reviewed.
    job: i64,
}

/// The Approve (`APPROVE`) or Discard button under the held deletions.
async fn decide_page<const APPROVE: bool>(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Path(id): Path<i64>,
    Form(form): Form<DecisionForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    let integration = find(&state, id).await?;
    let back = format!("/integrations/{id}");
    Ok(
        match decide(&state, &admin.0, remote, &integration, form.job, APPROVE).await? {
            Ok(decided) if APPROVE && decided.deleted == decided.pending => redirect_with_notice(
                &back,
                &format!(
                    "Approved: the {} records held were deleted.",
                    decided.deleted
                ),
            ),
            Ok(decided) if APPROVE => redirect_with_notice(
                &back,
                &format!(
                    "Approved: {} of the {} records held were deleted; the others were seen again or changed since, and are kept.",
                    decided.deleted, decided.pending
                ),
            ),
            Ok(decided) => redirect_with_notice(
                &back,
                &format!("Discarded: the {} records held are kept.", decided.pending),
            ),
            Err(message) => {
                Redirect::to(&format!("{back}?error={}", urlencode(&message))).into_response()
            }
        },
    )
}
