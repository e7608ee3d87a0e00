//! Pushing local work-order changes to the integrations that push.
//!
//! A change is queued in the same transaction that makes it
//! (`store::work_orders`); here a worker claims it, hands it to the
//! connector's `push`, and records the remote id and version it returns on
//! the work order's link, so the echo of that write is recognised when it
//! comes back by webhook or sync. Failures that may pass are retried with
//! the sync engine's retry policy (its bound on attempts, its backoff,
//! Retry-After honoured); config and auth errors stop at once, with the
//! reason kept on the push.
//!
//! A comment written here is pushed the same way, as a change of kind
//! `work-order-comment` naming the remote item of its work order; the
//! remote comment's id is kept on the comment's link.

use super::SyncDeps;
use super::failure::Failure;
use crate::integrations::{CallConfig, call_context};
use crate::runtime::types::{Change, ChangeOperation};
use crate::store::work_order_pushes::Push;

/// Pushes every due change, then returns.
pub async fn drain(deps: &SyncDeps) {
    loop {
        let push = match deps.store.claim_push(deps.lease_ms).await {
            Ok(Some(push)) => push,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, "cannot claim a work order push");
                return;
            }
        };
        let outcome = push_one(deps, &push).await;
        crate::metrics::count(if outcome.is_ok() {
            crate::metrics::Event::PushSucceeded
        } else {
            crate::metrics::Event::PushFailed
        });
        let recorded = match outcome {
            Ok((external_id, version)) => {
                tracing::info!(push = push.id, work_order = push.work_order_id, integration = push.integration_id,
                               %external_id, "work order pushed");
                deps.store
                    .finish_push(&push, &external_id, version.as_deref())
                    .await
            }
            Err(failure) => {
                let delay = failure
                    .retry
                    .filter(|_| push.attempts < i64::from(deps.retry.max_attempts))
                    .map(|asked| {
                        deps.retry.backoff(push.attempts as u32, asked).as_millis() as i64
                    });
                if delay.is_none() {
                    tracing::warn!(push = push.id, work_order = push.work_order_id,
                                   integration = push.integration_id, error = %failure.message,
                                   "work order push failed for good");
                }
                deps.store
                    .retry_push(push.id, &failure.message, delay)
                    .await
            }
        };
        if let Err(error) = recorded {
            tracing::error!(%error, push = push.id, "cannot record a push's outcome");
            return;
        }
    }
}

/// What the connector's `push` gets for a claimed push.
fn change_of(push: &Push) -> Result<Change, Failure> {
    let Some(comment) = &push.comment else {
        return Ok(Change {
            kind: "work-order".into(),
            local_id: push.work_order_id.to_string(),
            external_id: push.external_id.clone(),
            operation: match push.operation.as_str() {
                "create" => ChangeOperation::Create,
                "delete" => ChangeOperation::Delete,
                _ => ChangeOperation::Update,
            },
            fields: serde_json::Value::Object(push.fields.clone()).to_string(),
            changed_fields: push.changed_fields.clone(),
        });
    };
    // The work order's own pushes to this integration ran before this one
    // (one queue per pair): without a link, its create failed for good.
    let work_order = push.external_id.as_deref().ok_or_else(|| {
        Failure::fatal(
            "the work order is not linked to this integration yet: its own push has not succeeded",
        )
    })?;
    Ok(Change {
        kind: crate::store::work_order_comments::KIND.into(),
        local_id: comment.id.to_string(),
        external_id: None,
        operation: ChangeOperation::Create,
        fields: serde_json::json!({
            "work_order": work_order,
            "author": comment.author,
            "body": comment.body,
            "created_at": comment.created_at,
        })
        .to_string(),
        changed_fields: vec!["comment".into()],
    })
}

async fn push_one(deps: &SyncDeps, push: &Push) -> Result<(String, Option<String>), Failure> {
    let change = change_of(push)?;
    let integration = deps
        .store
        .integration(push.integration_id)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "database error while pushing");
            Failure::retryable("database error; see the server log")
        })?
        .ok_or_else(|| Failure::fatal("the integration was deleted"))?;
    let (connector, _) = deps.catalog.get(&integration.provider_id).ok_or_else(|| {
        Failure::retryable(format!(
            "the connector {} is not installed",
            integration.provider_id
        ))
    })?;
    let config = CallConfig::of(&deps.sealer, &integration)
        .map_err(|e| Failure::fatal(format!("the integration's secrets cannot be opened: {e}")))?;
    let ctx = call_context(&deps.runtime, &integration, config.secrets.clone());
    let outcome = connector.push(&ctx, &config.json, &change).await;
    match outcome.result {
        Ok(result) if result.external_id.trim().is_empty() => {
            Err(Failure::fatal("the connector's push returned no remote id"))
        }
        Ok(result) => Ok((result.external_id, result.version)),
        Err(error) => Err(Failure::of_call(&error, error.to_string())),
    }
}
