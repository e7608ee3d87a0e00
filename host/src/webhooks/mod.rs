//! Inbound webhooks: verified, stored before they are acknowledged, then
//! turned into records by the integration's connector, exactly once.
//!
//! The HTTP side (`POST /hooks/{token}`) is `crate::web::hooks`; this
//! module holds what does not depend on HTTP: the signing schemes
//! ([`signature`]), the endpoint secrets, and processing a stored delivery
//! ([`process`]), which both the intake (inline, to answer senders that wait
//! for an answer) and the worker (for everything else) use.

pub mod endpoints;
pub mod intake;
pub mod outbound;
pub mod signature;

pub use endpoints::Endpoints;
pub use intake::Intake;

use std::time::Duration;

use zeroize::Zeroizing;

use crate::integrations::{CallConfig, call_context};
use crate::runtime::types::{WebhookRequest, WebhookResponse};
use crate::secrets::{Sealer, SecretError, Slot};
use crate::store::webhooks::{Delivery, Webhook};
use crate::sync::SyncDeps;

/// The table bound into endpoints' sealed secrets.
pub const SECRETS_TABLE: &str = "integration_webhooks";
/// Attempts at processing one delivery before it is marked failed.
pub const MAX_ATTEMPTS: i64 = 5;
/// The largest body an endpoint accepts.
pub const MAX_BODY_BYTES: usize = 1 << 20;

fn slot(id: &str) -> Slot<'_> {
    Slot {
        table: SECRETS_TABLE,
        row: id,
        field: "secret",
    }
}

/// Seals an endpoint's signing secret to its row.
pub fn seal_secret(sealer: &Sealer, webhook_id: i64, secret: &str) -> String {
    sealer.seal(secret.as_bytes(), slot(&webhook_id.to_string()))
}

/// Opens an endpoint's signing secret.
pub fn open_secret(sealer: &Sealer, webhook: &Webhook) -> Result<Zeroizing<Vec<u8>>, SecretError> {
    sealer.open(&webhook.secret_sealed, slot(&webhook.id.to_string()))
}

/// What processing a delivery came to.
#[derive(Debug)]
pub enum Processed {
    /// Applied; the connector's answer for the sender, if it gave one.
    Done {
        records: usize,
        response: Option<WebhookResponse>,
    },
    /// Failed; `retry` says whether it goes back to the queue.
    Failed { message: String, retry: bool },
}

/// How an endpoint answers its senders, as chosen in the form or the API:
/// `stored` (202 as soon as the delivery is stored; the default) or
/// `connector` (the connector's answer, for senders that wait for one; the
/// default for Slack, whose slash commands show it). `None` for anything
/// else.
pub fn respond_inline(answer: &str, scheme: signature::Scheme) -> Option<bool> {
    match answer.trim() {
        "" => Some(scheme == signature::Scheme::SlackV0),
        "stored" => Some(false),
        "connector" => Some(true),
        _ => None,
    }
}

/// Runs the connector on a claimed delivery and records the outcome.
pub async fn process(deps: &SyncDeps, delivery: Delivery) -> Result<Processed, sqlx::Error> {
    let store = &deps.store;
    let outcome = run_connector(deps, &delivery).await;
    match outcome {
        Ok((records, response)) => {
            store.complete_delivery(&delivery, &records).await?;
            crate::metrics::count(crate::metrics::Event::DeliveryProcessed);
            Ok(Processed::Done {
                records: records.len(),
                response,
            })
        }
        Err((message, retryable)) => {
            let retry = retryable && delivery.attempts < MAX_ATTEMPTS;
            store.fail_delivery(delivery.id, &message, retry).await?;
            crate::metrics::count(crate::metrics::Event::DeliveryFailed);
            if !retry {
                tracing::warn!(delivery = delivery.id, %message, "webhook delivery failed for good");
            }
            Ok(Processed::Failed { message, retry })
        }
    }
}

type Outcome = (Vec<crate::runtime::types::Record>, Option<WebhookResponse>);

async fn run_connector(deps: &SyncDeps, delivery: &Delivery) -> Result<Outcome, (String, bool)> {
    let db = |e: sqlx::Error| {
        tracing::error!(error = %e, "database error while processing a webhook");
        ("database error; see the server log".to_owned(), true)
    };
    let integration = deps
        .store
        .integration(delivery.integration_id)
        .await
        .map_err(db)?
        .ok_or(("the integration was deleted".to_owned(), false))?;
    if !integration.enabled {
        // Kept for when it is enabled again: a disabled integration does not
        // lose what its senders delivered.
        return Err(("the integration is disabled".to_owned(), true));
    }
    let (connector, info) = deps.catalog.get(&integration.provider_id).ok_or((
        format!("the connector {} is not installed", integration.provider_id),
        true,
    ))?;
    let endpoint = deps.store.webhook(delivery.webhook_id).await.map_err(db)?;
    if endpoint.as_ref().is_some_and(|w| w.queue_sync) {
        deps.store
            .enqueue_sync(crate::store::jobs::NewJob {
                integration_id: integration.id,
                trigger: "webhook",
                mode: "incremental",
                dry_run: false,
                requested_by: "webhook",
            })
            .await
            .map_err(db)?;
        if !info
            .features
            .contains(crate::runtime::types::Features::WEBHOOKS)
        {
            // A sync-only connector: the sync is the processing.
            return Ok((Vec::new(), None));
        }
    }
    let config = CallConfig::of(&deps.sealer, &integration).map_err(|e| {
        (
            format!("the integration's secrets cannot be opened: {e}"),
            false,
        )
    })?;
    let ctx = call_context(&deps.runtime, &integration, config.secrets.clone());
    let request = WebhookRequest {
        method: delivery.method.clone(),
        path: delivery.path.clone(),
        query: delivery.query.clone(),
        headers: delivery.headers.clone(),
        body: delivery.body.clone(),
    };
    let outcome = connector.handle_webhook(&ctx, &config.json, &request).await;
    match outcome.result {
        Ok(outcome) => Ok((outcome.records, outcome.response)),
        Err(error) => Err((error.to_string(), error.is_retryable())),
    }
}

/// Processes pending deliveries until none is left; returns how many it
/// took (a delivery may have queued a sync, so the caller wakes the jobs).
pub async fn drain(deps: &SyncDeps) -> usize {
    let mut taken = 0;
    loop {
        match deps.store.claim_delivery(None, deps.lease_ms).await {
            Ok(Some(delivery)) => {
                taken += 1;
                if let Err(error) = process(deps, delivery).await {
                    tracing::error!(%error, "cannot record a webhook's processing");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            Ok(None) => return taken,
            Err(error) => {
                tracing::warn!(%error, "cannot claim a webhook delivery");
                return taken;
            }
        }
    }
}
