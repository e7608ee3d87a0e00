//! `outbound_webhooks` (subscribers to events), their
//! `outbound_deliveries` (one event for one subscriber) and every attempt
//! (`outbound_attempts`).
//!
//! Events are queued in the transaction that makes the change they report
//! ([`queue_event`]), so a change and its notification are one fact.

use serde::Serialize;
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Store, now_millis, webhook_secrets};

#[derive(Clone, Debug, Serialize)]
pub struct OutboundWebhook {
    pub id: i64,
    pub url: String,
    pub description: String,
    #[serde(skip)]
    pub secret_sealed: String,
    pub events: Vec<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub created_by: String,
    pub created_at: i64,
}

fn webhook_from(row: &AnyRow) -> Result<OutboundWebhook, sqlx::Error> {
    let events: String = row.try_get("events_json")?;
    Ok(OutboundWebhook {
        id: row.try_get("id")?,
        url: row.try_get("url")?,
        description: row.try_get("description")?,
        secret_sealed: row.try_get("secret_sealed")?,
        events: serde_json::from_str(&events).unwrap_or_default(),
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        disabled_reason: row.try_get("disabled_reason")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
    })
}

/// A delivery claimed for sending, with its subscriber.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub id: i64,
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    pub attempts: i64,
    pub created_at: i64,
    pub webhook: OutboundWebhook,
}

/// A delivery as listed for people, with its attempts.
#[derive(Clone, Debug, Serialize)]
pub struct OutboundEntry {
    pub id: i64,
    pub event_id: String,
    pub event_type: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
}

/// The event types subscribers can choose: work orders, the directory's
/// changes (as the change feed gives them), and how syncs and integrations
/// fare.
pub const EVENT_TYPES: [&str; 18] = [
    "work_order.created",
    "work_order.updated",
    "work_order.deleted",
    "work_order.commented",
    "directory.user.created",
    "directory.user.updated",
    "directory.user.enabled",
    "directory.user.disabled",
    "directory.user.deleted",
    "directory.group.created",
    "directory.group.updated",
    "directory.group.deleted",
    "directory.membership.added",
    "directory.membership.updated",
    "directory.membership.removed",
    "sync.succeeded",
    "sync.failed",
    "integration.disabled",
];

/// The enabled subscribers and the event types each chose.
async fn subscribers(conn: &mut AnyConnection) -> Result<Vec<(i64, Vec<String>)>, sqlx::Error> {
    sqlx::query("SELECT id, events_json FROM outbound_webhooks WHERE enabled = 1")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            let events: String = r.try_get("events_json")?;
            Ok((
                r.try_get("id")?,
                serde_json::from_str(&events).unwrap_or_default(),
            ))
        })
        .collect()
}

/// Whether an enabled subscriber chose an event type `wanted` accepts.
pub(super) async fn anyone_wants(
    conn: &mut AnyConnection,
    wanted: impl Fn(&str) -> bool,
) -> Result<bool, sqlx::Error> {
    Ok(subscribers(conn)
        .await?
        .iter()
        .any(|(_, events)| events.iter().any(|e| wanted(e))))
}

/// Queues `event_type` with `data` for every enabled subscriber to it, in
/// the caller's transaction.
pub(super) async fn queue_event(
    conn: &mut AnyConnection,
    event_type: &str,
    data: Value,
) -> Result<(), sqlx::Error> {
    queue_events(conn, &[(event_type.to_owned(), data)]).await
}

/// Queues events, in order, for every enabled subscriber to each, in the
/// caller's transaction.
pub(super) async fn queue_events(
    conn: &mut AnyConnection,
    events: &[(String, Value)],
) -> Result<(), sqlx::Error> {
    let subscribers = subscribers(conn).await?;
    let now = now_millis();
    for (event_type, data) in events {
        for (id, chosen) in &subscribers {
            if !chosen.iter().any(|e| e == event_type) {
                continue;
            }
            let event_id = format!("msg_{}", super::sessions::random_token());
            let payload = serde_json::json!({
                "type": event_type,
                "timestamp": now,
                "data": data,
            });
            sqlx::query(
                "INSERT INTO outbound_deliveries (webhook_id, event_id, event_type, payload_json, next_attempt_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(*id)
            .bind(event_id)
            .bind(event_type)
            .bind(payload.to_string())
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

impl Store {
    /// Adds a subscriber; `seal` receives its id and returns the sealed
    /// secret (bound to the row).
    pub async fn create_outbound_webhook(
        &self,
        url: &str,
        description: &str,
        events: &[String],
        created_by: &str,
        seal: impl FnOnce(i64) -> String,
    ) -> Result<OutboundWebhook, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        let insert = sqlx::query(
            "INSERT INTO outbound_webhooks (url, description, secret_sealed, events_json, created_by, created_at) \
             VALUES ($1, $2, '', $3, $4, $5) RETURNING id",
        )
        .bind(url)
        .bind(description)
        .bind(serde_json::to_string(events).expect("names serialise"))
        .bind(created_by)
        .bind(now_millis());
        let id = webhook_secrets::insert_sealed(&mut tx, "outbound_webhooks", insert, seal).await?;
        tx.commit().await?;
        Ok(self.outbound_webhook(id).await?.expect("just created"))
    }

    pub async fn outbound_webhook(&self, id: i64) -> Result<Option<OutboundWebhook>, sqlx::Error> {
        let row = sqlx::query("SELECT * FROM outbound_webhooks WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(webhook_from).transpose()
    }

    pub async fn outbound_webhooks(&self) -> Result<Vec<OutboundWebhook>, sqlx::Error> {
        let rows = sqlx::query("SELECT * FROM outbound_webhooks ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(webhook_from).collect()
    }

    pub async fn delete_outbound_webhook(&self, id: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM outbound_webhooks WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Enables a subscriber again (after a 410), clearing the reason.
    pub async fn enable_outbound_webhook(&self, id: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE outbound_webhooks SET enabled = 1, disabled_reason = NULL WHERE id = $1",
        )
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Claims the oldest due delivery of an enabled subscriber.
    pub async fn claim_outbound(&self, lease_ms: i64) -> Result<Option<Outgoing>, sqlx::Error> {
        let now = now_millis();
        let candidates: Vec<i64> = sqlx::query_scalar(
            "SELECT d.id FROM outbound_deliveries d JOIN outbound_webhooks w ON w.id = d.webhook_id \
             WHERE w.enabled = 1 AND ((d.status = 'pending' AND d.next_attempt_at <= $1) \
             OR (d.status = 'sending' AND d.lease_until < $1)) ORDER BY d.next_attempt_at, d.id LIMIT 5",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        for id in candidates {
            let claimed = sqlx::query(
                "UPDATE outbound_deliveries SET status = 'sending', lease_until = $1, attempts = attempts + 1 \
                 WHERE id = $2 AND ((status = 'pending' AND next_attempt_at <= $3) \
                 OR (status = 'sending' AND lease_until < $3))",
            )
            .bind(now + lease_ms)
            .bind(id)
            .bind(now)
            .execute(self.pool())
            .await?;
            if claimed.rows_affected() == 0 {
                continue;
            }
            let row = sqlx::query(
                "SELECT id, webhook_id, event_id, event_type, payload_json, attempts, created_at \
                 FROM outbound_deliveries WHERE id = $1",
            )
            .bind(id)
            .fetch_one(self.pool())
            .await?;
            let Some(webhook) = self.outbound_webhook(row.try_get("webhook_id")?).await? else {
                continue;
            };
            return Ok(Some(Outgoing {
                id,
                event_id: row.try_get("event_id")?,
                event_type: row.try_get("event_type")?,
                payload: row.try_get("payload_json")?,
                attempts: row.try_get("attempts")?,
                created_at: row.try_get("created_at")?,
                webhook,
            }));
        }
        Ok(None)
    }

    /// Records one attempt and where the delivery goes next: delivered,
    /// due again at `retry_at`, or given up (`retry_at` none). `gone` (a
    /// 410) disables the subscriber and cancels what it still had queued.
    pub async fn record_outbound_attempt(
        &self,
        outgoing: &Outgoing,
        status_code: Option<u16>,
        error: Option<&str>,
        duration_ms: i64,
        outcome: AttemptOutcome,
    ) -> Result<(), sqlx::Error> {
        let now = now_millis();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO outbound_attempts (delivery_id, attempted_at, status_code, error, duration_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(outgoing.id)
        .bind(now)
        .bind(status_code.map(i64::from))
        .bind(error)
        .bind(duration_ms)
        .execute(&mut *tx)
        .await?;
        let (status, next, delivered) = match outcome {
            AttemptOutcome::Delivered => ("delivered", now, Some(now)),
            AttemptOutcome::RetryAt(at) => ("pending", at, None),
            AttemptOutcome::GiveUp => ("failed", now, None),
            AttemptOutcome::Gone => ("cancelled", now, None),
        };
        sqlx::query(
            "UPDATE outbound_deliveries SET status = $1, next_attempt_at = $2, delivered_at = $3, \
             lease_until = NULL WHERE id = $4",
        )
        .bind(status)
        .bind(next)
        .bind(delivered)
        .bind(outgoing.id)
        .execute(&mut *tx)
        .await?;
        if outcome == AttemptOutcome::Gone {
            sqlx::query(
                "UPDATE outbound_webhooks SET enabled = 0, disabled_reason = $1 WHERE id = $2",
            )
            .bind("the receiver answered 410 Gone: it no longer wants these events")
            .bind(outgoing.webhook.id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE outbound_deliveries SET status = 'cancelled' WHERE webhook_id = $1 AND status = 'pending'",
            )
            .bind(outgoing.webhook.id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A subscriber's deliveries, newest first, with their last attempt.
    pub async fn outbound_deliveries_of(
        &self,
        webhook_id: i64,
        limit: i64,
    ) -> Result<Vec<OutboundEntry>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT d.id, d.event_id, d.event_type, d.status, d.attempts, d.next_attempt_at, d.created_at, \
             d.delivered_at, a.status_code AS last_status_code, a.error AS last_error \
             FROM outbound_deliveries d LEFT JOIN outbound_attempts a ON a.id = \
             (SELECT MAX(id) FROM outbound_attempts WHERE delivery_id = d.id) \
             WHERE d.webhook_id = $1 ORDER BY d.id DESC LIMIT $2",
        )
        .bind(webhook_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(OutboundEntry {
                    id: row.try_get("id")?,
                    event_id: row.try_get("event_id")?,
                    event_type: row.try_get("event_type")?,
                    status: row.try_get("status")?,
                    attempts: row.try_get("attempts")?,
                    next_attempt_at: row.try_get("next_attempt_at")?,
                    created_at: row.try_get("created_at")?,
                    delivered_at: row.try_get("delivered_at")?,
                    last_status_code: row.try_get("last_status_code")?,
                    last_error: row.try_get("last_error")?,
                })
            })
            .collect()
    }

    /// Sends a delivery again from its first attempt (a manual replay).
    pub async fn replay_outbound(&self, webhook_id: i64, id: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE outbound_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, \
             lease_until = NULL WHERE id = $2 AND webhook_id = $3 AND status <> 'sending'",
        )
        .bind(now_millis())
        .bind(id)
        .bind(webhook_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// Where a delivery goes after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    RetryAt(i64),
    GiveUp,
    Gone,
}
