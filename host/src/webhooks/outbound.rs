//! Outbound webhooks: work order events sent to subscribers, signed per
//! Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`
//! with the subscriber's `whsec_` secret).
//!
//! An event is queued with the change it reports (`store::outbound`); here
//! the worker sends it. A 2xx delivers it; 410 Gone disables the subscriber
//! (it said it wants no more); anything else, or no answer, is tried again
//! on [`SCHEDULE`], then given up. Every attempt is logged, and a delivery
//! can be replayed by hand.

use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::signature::sign_standard;
use crate::secrets::{Sealer, SecretError, Slot};
use crate::store::now_millis;
use crate::store::outbound::{AttemptOutcome, OutboundWebhook, Outgoing};
use crate::sync::SyncDeps;

/// The wait before each attempt after the first (which is immediate).
pub const SCHEDULE: [Duration; 6] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
];
/// How long a receiver may take to answer (the webhooks client's timeout).
use crate::net::WEBHOOK_TIMEOUT as TIMEOUT;
/// The table bound into subscribers' sealed secrets.
pub const SECRETS_TABLE: &str = "outbound_webhooks";

fn slot(id: &str) -> Slot<'_> {
    Slot {
        table: SECRETS_TABLE,
        row: id,
        field: "secret",
    }
}

/// Seals a subscriber's signing secret to its row.
pub fn seal_secret(sealer: &Sealer, id: i64, secret: &str) -> String {
    sealer.seal(secret.as_bytes(), slot(&id.to_string()))
}

fn open_secret(
    sealer: &Sealer,
    webhook: &OutboundWebhook,
) -> Result<Zeroizing<Vec<u8>>, SecretError> {
    sealer.open(&webhook.secret_sealed, slot(&webhook.id.to_string()))
}

/// What happened to one attempt.
struct Attempt {
    status: Option<u16>,
    error: Option<String>,
}

async fn send(deps: &SyncDeps, outgoing: &Outgoing) -> Attempt {
    let secret = match open_secret(&deps.sealer, &outgoing.webhook) {
        Ok(secret) => secret,
        Err(error) => {
            return Attempt {
                status: None,
                error: Some(format!("the subscriber's secret cannot be opened: {error}")),
            };
        }
    };
    let timestamp = now_millis() / 1000;
    let secret = String::from_utf8_lossy(&secret).into_owned();
    let Some(signature) = sign_standard(
        &secret,
        &outgoing.event_id,
        timestamp,
        outgoing.payload.as_bytes(),
    ) else {
        return Attempt {
            status: None,
            error: Some("the subscriber's secret is not a whsec_ secret".into()),
        };
    };
    let url = match url::Url::parse(&outgoing.webhook.url) {
        Ok(url) => url,
        Err(error) => {
            return Attempt {
                status: None,
                error: Some(format!("the subscriber's URL is not a URL: {error}")),
            };
        }
    };
    // The host's client for webhooks: no redirects (a receiver that moved
    // is updated by an admin), the address policy of `crate::net`.
    let request = match deps.outbound.webhooks.request(reqwest::Method::POST, &url) {
        Ok(request) => request,
        Err(denied) => {
            return Attempt {
                status: None,
                error: Some(format!("cannot reach the receiver: {denied}")),
            };
        }
    };
    let sent = request
        .header("content-type", "application/json")
        .header("webhook-id", &outgoing.event_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(outgoing.payload.clone())
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status();
            Attempt {
                status: Some(status.as_u16()),
                error: (!status.is_success()).then(|| format!("the receiver answered {status}")),
            }
        }
        Err(error) => Attempt {
            status: None,
            error: Some(if error.is_timeout() {
                format!("the receiver did not answer within {} s", TIMEOUT.as_secs())
            } else if let Some(denied) = crate::net::denial_in(&error) {
                format!("cannot reach the receiver: {denied}")
            } else {
                format!("cannot reach the receiver: {error}")
            }),
        },
    }
}

/// Where a delivery goes after attempt number `attempts` ended so.
fn next_step(attempts: i64, status: Option<u16>, now: i64) -> AttemptOutcome {
    match status {
        Some(code) if (200..300).contains(&code) => AttemptOutcome::Delivered,
        Some(410) => AttemptOutcome::Gone,
        _ => match SCHEDULE.get((attempts.max(1) - 1) as usize) {
            Some(wait) => AttemptOutcome::RetryAt(now + wait.as_millis() as i64),
            None => AttemptOutcome::GiveUp,
        },
    }
}

/// Sends every due delivery, then returns.
pub async fn drain(deps: &SyncDeps) {
    loop {
        let outgoing = match deps.store.claim_outbound(deps.lease_ms).await {
            Ok(Some(outgoing)) => outgoing,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, "cannot claim an outbound webhook delivery");
                return;
            }
        };
        let started = Instant::now();
        let attempt = send(deps, &outgoing).await;
        let outcome = next_step(outgoing.attempts, attempt.status, now_millis());
        if outcome == AttemptOutcome::Gone {
            tracing::warn!(
                subscriber = outgoing.webhook.id,
                "an outbound webhook receiver answered 410: disabled"
            );
        }
        let recorded = deps
            .store
            .record_outbound_attempt(
                &outgoing,
                attempt.status,
                attempt.error.as_deref(),
                started.elapsed().as_millis() as i64,
                outcome,
            )
            .await;
        if let Err(error) = recorded {
            tracing::error!(%error, delivery = outgoing.id, "cannot record an outbound attempt");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_retries_then_gives_up_and_410_stops_at_once() {
        assert_eq!(next_step(1, Some(204), 0), AttemptOutcome::Delivered);
        assert_eq!(next_step(1, Some(410), 0), AttemptOutcome::Gone);
        assert_eq!(next_step(1, Some(500), 0), AttemptOutcome::RetryAt(5_000));
        assert_eq!(next_step(2, None, 0), AttemptOutcome::RetryAt(300_000));
        assert_eq!(
            next_step(6, Some(503), 0),
            AttemptOutcome::RetryAt(36_000_000)
        );
        assert_eq!(next_step(7, Some(503), 0), AttemptOutcome::GiveUp);
    }
}
