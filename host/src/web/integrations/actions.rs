//! What the pages and the JSON API both do to an integration: create it,
//! replace its settings, test its connection, queue a sync, delete it. Each audits or logs what it
//! did; callers only turn the outcome into a page or a JSON answer.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde_json::json;

use super::super::AppState;
use super::super::error::Error;
use super::super::session::Actor;
use super::audit;
use super::form::Submitted;
use crate::integrations::schema::ConfigForm;
use crate::integrations::{self, CallConfig, Verdict, call_context, seal_secrets};
use crate::runtime::Connector;
use crate::runtime::types::ConnectorInfo;
use crate::store::integrations::{Integration, IntegrationError};
use crate::store::jobs::{Job, NewJob};
use crate::store::sync_logs::{NewSyncLog, RecordCounts};

/// Another integration has this name: the caller shows it beside the field.
pub(in crate::web) struct NameTaken(pub String);

impl NameTaken {
    pub(in crate::web) fn message(&self) -> String {
        format!("An integration named “{}” exists already.", self.0)
    }
}

/// Saves a new integration with its secrets sealed to its row and its
/// full-sync schedule, and audits it as `action` (with `note` added to the
/// audited object).
#[allow(clippy::too_many_arguments)]
pub(in crate::web) async fn create(
    state: &AppState,
    who: &impl Actor,
    remote: SocketAddr,
    connector: &Connector,
    info: &ConnectorInfo,
    submitted: &Submitted,
    action: &str,
    note: Option<(&str, serde_json::Value)>,
) -> Result<Result<Integration, NameTaken>, Error> {
    state
        .store
        .upsert_provider(info, connector.digest())
        .await?;
    let sealer = state.sealer.clone();
    let (fields, secrets) = (&submitted.fields, &submitted.secrets);
    let created = state
        .store
        .create_integration(&info.id, fields, who.actor(), |row| {
            seal_secrets(&sealer, row, secrets)
        })
        .await;
    let integration = match created {
        Ok(integration) => integration,
        Err(IntegrationError::NameTaken(name)) => return Ok(Err(NameTaken(name))),
        Err(IntegrationError::Database(e)) => return Err(e.into()),
    };
    let integration = store_outside_row(state, integration.id, submitted).await?;
    let mut after = integration.audit_view();
    after["deletion_limits"] = json!(submitted.deletion_limits);
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

/// Stores the settings of integration `id` kept outside its row (the full
/// sync schedule, the deletion threshold), and reads it back.
async fn store_outside_row(
    state: &AppState,
    id: i64,
    submitted: &Submitted,
) -> Result<Integration, Error> {
    state
        .store
        .set_full_sync_schedule(id, &submitted.full_sync)
        .await?;
    state
        .store
        .set_deletion_limits(id, submitted.deletion_limits)
        .await?;
    super::find(state, id).await
}

/// Replaces an integration's settings: stored secrets left empty are kept,
/// new ones sealed, those of fields the schema no longer has dropped.
/// Audited with the settings before and after and which secrets changed.
pub(in crate::web) async fn update(
    state: &AppState,
    who: &impl Actor,
    remote: SocketAddr,
    before: &Integration,
    form: &ConfigForm,
    submitted: &Submitted,
) -> Result<Result<Integration, NameTaken>, Error> {
    let mut sealed: BTreeMap<String, String> = before
        .sealed_secrets
        .iter()
        .filter(|(field, _)| form.fields.iter().any(|f| f.secret && &f.name == *field))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    sealed.extend(seal_secrets(&state.sealer, before.id, &submitted.secrets));
    let limits_before = state.store.deletion_limits(before.id).await?;
    match state
        .store
        .update_integration(before.id, &submitted.fields, &sealed)
        .await
    {
        Ok(()) => {}
        Err(IntegrationError::NameTaken(name)) => return Ok(Err(NameTaken(name))),
        Err(IntegrationError::Database(e)) => return Err(e.into()),
    }
    let after = store_outside_row(state, before.id, submitted).await?;
    let mut before_view = before.audit_view();
    before_view["deletion_limits"] = json!(limits_before);
    let mut after_view = after.audit_view();
    after_view["deletion_limits"] = json!(submitted.deletion_limits);
    after_view["secrets_replaced"] = json!(submitted.secrets.keys().collect::<Vec<_>>());
    audit(
        state,
        who,
        remote,
        "integration.update",
        &after.name,
        Some(before_view),
        Some(after_view),
    )
    .await?;
    Ok(Ok(after))
}

/// Runs the connection test with the stored settings, writes it to the
/// sync log and keeps its verdict on the integration.
pub(in crate::web) async fn test(
    state: &AppState,
    integration: &Integration,
    trigger: &str,
) -> Result<Verdict, Error> {
    let Some((connector, _)) = state.catalog.get(&integration.provider_id) else {
        return Err(Error::BadRequest(format!(
            "The connector {} is not installed on this server.",
            integration.provider_id
        )));
    };
    let config = CallConfig::of(&state.sealer, integration)
        .map_err(|e| Error::BadRequest(format!("The stored secrets cannot be opened: {e}")))?;
    let log_id = state
        .store
        .start_sync_log(NewSyncLog {
            integration_id: integration.id,
            integration_name: &integration.name,
            job_id: None,
            operation: "test",
            trigger,
            mode: None,
        })
        .await?;
    let ctx = call_context(&state.runtime, integration, config.secrets.clone());
    let verdict = integrations::test_connection(&connector, &ctx, &config).await;
    let log = serde_json::to_value(&verdict.log).unwrap_or_default();
    state
        .store
        .finish_sync_log(
            log_id,
            verdict.ok,
            RecordCounts::default(),
            &verdict.summary(),
            &log,
        )
        .await?;
    let stored = serde_json::to_string(&verdict).map_err(|e| Error::Internal(e.into()))?;
    state
        .store
        .record_test_result(integration.id, verdict.ok, &stored)
        .await?;
    Ok(verdict)
}

/// Queues a sync of `integration` for `who`, unless one is waiting or
/// running already: the job, and whether it is new. A new one wakes the
/// workers and is audited.
pub(in crate::web) async fn queue_sync(
    state: &AppState,
    who: &impl Actor,
    remote: SocketAddr,
    integration: &Integration,
    trigger: &str,
    mode: &str,
    dry_run: bool,
) -> Result<(Job, bool), Error> {
    let (job, queued) = state
        .store
        .enqueue_sync(NewJob {
            integration_id: integration.id,
            trigger,
            mode,
            dry_run,
            requested_by: who.actor(),
        })
        .await?;
    if queued {
        state.sync.wake();
        let after = json!({"job": job.id, "mode": mode, "dry_run": dry_run});
        let name = &integration.name;
        audit(
            state,
            who,
            remote,
            "integration.sync",
            name,
            None,
            Some(after),
        )
        .await?;
    }
    Ok((job, queued))
}

/// Deletes an integration with what was synced for it, forgets the
/// webhook endpoints (they are looked up again), and audits it.
pub(in crate::web) async fn delete(
    state: &AppState,
    who: &impl Actor,
    remote: SocketAddr,
    integration: &Integration,
) -> Result<(), Error> {
    state.store.delete_integration(integration.id).await?;
    state.endpoints.forget_all();
    let before = Some(integration.audit_view());
    audit(
        state,
        who,
        remote,
        "integration.delete",
        &integration.name,
        before,
        None,
    )
    .await
}
