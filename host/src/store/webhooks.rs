//! `integration_webhooks` (an integration's inbound endpoints) and
//! `webhook_deliveries` (what arrived on them).
//!
//! A delivery is stored before it is acknowledged, at most once per
//! (endpoint, delivery id), the delivery id being what the signature covers
//! (`webhooks::signature::Verified`); processing applies its records and marks it
//! processed in one transaction, so a delivery is applied exactly once even
//! if the node dies half-way.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::params::Params;
use super::records::{Deletions, Versions, apply_records};
use super::sync_logs::RecordCounts;
use super::{Store, now_millis, webhook_secrets};
use crate::runtime::types::Record;

/// An inbound endpoint. The secret stays sealed here.
#[derive(Clone, Debug, Serialize)]
pub struct Webhook {
    pub id: i64,
    pub integration_id: i64,
    pub token: String,
    #[serde(skip)]
    pub secret_sealed: String,
    pub scheme: String,
    pub description: String,
    pub enabled: bool,
    /// Whether the sender gets the connector's answer (it waits for one,
    /// like a Slack slash command) rather than a 202 as soon as the delivery
    /// is stored.
    pub respond_inline: bool,
    /// Whether each delivery also queues an incremental sync.
    pub queue_sync: bool,
    pub created_at: i64,
    pub last_received_at: Option<i64>,
}

/// Deliveries of an endpoint, by status.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DeliveryCounts {
    pub pending: i64,
    pub processed: i64,
    pub failed: i64,
}

/// A stored delivery.
#[derive(Clone, Debug, Serialize)]
pub struct Delivery {
    pub id: i64,
    pub webhook_id: i64,
    pub integration_id: i64,
    pub delivery_id: String,
    /// The sender's own, unsigned, id (see [`NewDelivery::sender_id`]).
    pub sender_id: Option<String>,
    pub received_at: i64,
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    #[serde(skip)]
    pub body: Vec<u8>,
    pub status: String,
    pub attempts: i64,
    pub records: i64,
    pub error: Option<String>,
}

/// A delivery as listed for people: no body, its size instead.
#[derive(Clone, Debug, Serialize)]
pub struct DeliveryEntry {
    pub id: i64,
    pub delivery_id: String,
    pub sender_id: Option<String>,
    pub received_at: i64,
    pub processed_at: Option<i64>,
    pub method: String,
    pub path: String,
    pub status: String,
    pub attempts: i64,
    pub records: i64,
    pub error: Option<String>,
    pub body_bytes: i64,
    /// Processed or failed, with its payload still kept.
    pub replayable: bool,
}

/// A verified delivery to store.
#[derive(Clone, Debug)]
pub struct NewDelivery {
    pub webhook_id: i64,
    pub integration_id: i64,
    /// What the delivery is recognised by: an id its signature covers, or
    /// the hash of its signed content. Never an unsigned header.
    pub delivery_id: String,
    /// The id the sender gave in a header it does not sign, for people to
    /// find the delivery in the sender's log; not unique, not trusted.
    pub sender_id: Option<String>,
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

const WEBHOOK_COLUMNS: &str = "id, integration_id, token, secret_sealed, scheme, description, enabled, respond_inline, queue_sync, created_at, last_received_at";
const DELIVERY_COLUMNS: &str = "id, webhook_id, integration_id, delivery_id, sender_id, received_at, method, path, \
    query, headers_json, body, status, attempts, records, error";

fn webhook_from_row(row: &AnyRow) -> Result<Webhook, sqlx::Error> {
    Ok(Webhook {
        id: row.try_get("id")?,
        integration_id: row.try_get("integration_id")?,
        token: row.try_get("token")?,
        secret_sealed: row.try_get("secret_sealed")?,
        scheme: row.try_get("scheme")?,
        description: row.try_get("description")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        respond_inline: row.try_get::<i64, _>("respond_inline")? != 0,
        queue_sync: row.try_get::<i64, _>("queue_sync")? != 0,
        created_at: row.try_get("created_at")?,
        last_received_at: row.try_get("last_received_at")?,
    })
}

fn delivery_from_row(row: &AnyRow) -> Result<Delivery, sqlx::Error> {
    let headers: String = row.try_get("headers_json")?;
    Ok(Delivery {
        id: row.try_get("id")?,
        webhook_id: row.try_get("webhook_id")?,
        integration_id: row.try_get("integration_id")?,
        delivery_id: row.try_get("delivery_id")?,
        sender_id: row.try_get("sender_id")?,
        received_at: row.try_get("received_at")?,
        method: row.try_get("method")?,
        path: row.try_get("path")?,
        query: row.try_get("query")?,
        headers: serde_json::from_str(&headers).unwrap_or_default(),
        body: row.try_get("body")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        records: row.try_get("records")?,
        error: row.try_get("error")?,
    })
}

/// Deliveries per `INSERT` statement (10 parameters each, far below
/// SQLite's and PostgreSQL's limits).
const INSERT_CHUNK: usize = 128;

/// Whether a delivery was stored, or had been already.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
    New(i64),
    Duplicate,
}

impl Store {
    /// Creates an endpoint; `seal` receives its id and returns the sealed
    /// secret (bound to the row, so the id must exist first).
    pub async fn create_webhook(
        &self,
        integration_id: i64,
        token: &str,
        scheme: &str,
        description: &str,
        respond_inline: bool,
        seal: impl FnOnce(i64) -> String,
    ) -> Result<Webhook, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        let insert = sqlx::query(
            "INSERT INTO integration_webhooks (integration_id, token, secret_sealed, description, scheme, \
             respond_inline, created_at) VALUES ($1, $2, '', $3, $4, $5, $6) RETURNING id",
        )
        .bind(integration_id)
        .bind(token)
        .bind(description)
        .bind(scheme)
        .bind(i64::from(respond_inline))
        .bind(now_millis());
        let id =
            webhook_secrets::insert_sealed(&mut tx, "integration_webhooks", insert, seal).await?;
        tx.commit().await?;
        Ok(self
            .webhook(id)
            .await?
            .expect("the webhook was just created"))
    }

    pub async fn webhook(&self, id: i64) -> Result<Option<Webhook>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM integration_webhooks WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(webhook_from_row).transpose()
    }

    /// The endpoint with this URL token.
    pub async fn webhook_by_token(&self, token: &str) -> Result<Option<Webhook>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM integration_webhooks WHERE token = $1"
        ))
        .bind(token)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(webhook_from_row).transpose()
    }

    /// An integration's endpoints with their delivery counts.
    pub async fn webhooks_of(
        &self,
        integration_id: i64,
    ) -> Result<Vec<(Webhook, DeliveryCounts)>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM integration_webhooks WHERE integration_id = $1 ORDER BY id"
        ))
        .bind(integration_id)
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::new();
        for row in &rows {
            let webhook = webhook_from_row(row)?;
            let counts = sqlx::query(
                "SELECT CAST(SUM(CASE WHEN status IN ('pending', 'processing') THEN 1 ELSE 0 END) AS BIGINT) AS pending, \
                 CAST(SUM(CASE WHEN status = 'processed' THEN 1 ELSE 0 END) AS BIGINT) AS processed, \
                 CAST(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS BIGINT) AS failed \
                 FROM webhook_deliveries WHERE webhook_id = $1",
            )
            .bind(webhook.id)
            .fetch_one(self.pool())
            .await?;
            let counts = DeliveryCounts {
                pending: counts.try_get::<Option<i64>, _>("pending")?.unwrap_or(0),
                processed: counts.try_get::<Option<i64>, _>("processed")?.unwrap_or(0),
                failed: counts.try_get::<Option<i64>, _>("failed")?.unwrap_or(0),
            };
            out.push((webhook, counts));
        }
        Ok(out)
    }

    /// Sets whether an endpoint's deliveries also queue a sync.
    pub async fn set_webhook_queue_sync(
        &self,
        id: i64,
        queue_sync: bool,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE integration_webhooks SET queue_sync = $1 WHERE id = $2")
            .bind(i64::from(queue_sync))
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn delete_webhook(&self, integration_id: i64, id: i64) -> Result<bool, sqlx::Error> {
        let done =
            sqlx::query("DELETE FROM integration_webhooks WHERE id = $1 AND integration_id = $2")
                .bind(id)
                .bind(integration_id)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Stores verified deliveries in one transaction (one commit, one disk
    /// flush for all of them: the intake's group commit), each unless its
    /// endpoint has it already. The answers are in the order given.
    pub async fn store_deliveries<'a>(
        &self,
        deliveries: impl IntoIterator<Item = &'a NewDelivery>,
    ) -> Result<Vec<Stored>, sqlx::Error> {
        let deliveries: Vec<&NewDelivery> = deliveries.into_iter().collect();
        let now = now_millis();
        let mut tx = self.begin_write().await?;
        let mut stored = Vec::with_capacity(deliveries.len());
        let mut endpoints: Vec<i64> = Vec::new();
        // One multi-row statement per chunk: a statement costs more than a
        // row, and the intake's batches are what make it fast.
        for chunk in deliveries.chunks(INSERT_CHUNK) {
            let mut params = Params::on(&tx);
            let values: Vec<String> = (0..chunk.len())
                .map(|_| format!("({}, 'pending')", params.list(10)))
                .collect();
            let sql = format!(
                "INSERT INTO webhook_deliveries (webhook_id, integration_id, delivery_id, sender_id, received_at, \
                 method, path, query, headers_json, body, status) VALUES {} \
                 ON CONFLICT (webhook_id, delivery_id) DO NOTHING RETURNING id, webhook_id, delivery_id",
                values.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for new in chunk {
                query = query
                    .bind(new.webhook_id)
                    .bind(new.integration_id)
                    .bind(new.delivery_id.as_str())
                    .bind(new.sender_id.as_deref())
                    .bind(now)
                    .bind(new.method.as_str())
                    .bind(new.path.as_str())
                    .bind(new.query.as_str())
                    .bind(serde_json::to_string(&new.headers).expect("headers serialise"))
                    .bind(new.body.as_slice());
            }
            let mut inserted: Vec<(i64, String, i64)> = Vec::new();
            for row in query.fetch_all(&mut *tx).await? {
                inserted.push((
                    row.try_get("webhook_id")?,
                    row.try_get("delivery_id")?,
                    row.try_get("id")?,
                ));
            }
            // Rows are inserted in order, so when one delivery is in the
            // chunk twice, its first occurrence is the one stored.
            for new in chunk {
                let found = inserted
                    .iter()
                    .position(|(w, d, _)| *w == new.webhook_id && *d == new.delivery_id);
                stored.push(match found {
                    Some(at) => {
                        if !endpoints.contains(&new.webhook_id) {
                            endpoints.push(new.webhook_id);
                        }
                        Stored::New(inserted.swap_remove(at).2)
                    }
                    None => Stored::Duplicate,
                });
            }
        }
        for endpoint in endpoints {
            sqlx::query("UPDATE integration_webhooks SET last_received_at = $1 WHERE id = $2")
                .bind(now)
                .bind(endpoint)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(stored)
    }

    /// Claims a delivery for processing: `id` when given, else the oldest
    /// pending one (or one whose processor's lease ran out). Deliveries of a
    /// disabled integration are not claimed: they wait, without using up
    /// their attempts, until it is enabled again.
    pub async fn claim_delivery(
        &self,
        id: Option<i64>,
        lease_ms: i64,
    ) -> Result<Option<Delivery>, sqlx::Error> {
        let now = now_millis();
        let candidates: Vec<i64> = match id {
            Some(id) => vec![id],
            None => {
                let mut ids: Vec<i64> = sqlx::query_scalar(
                    // CROSS JOIN makes SQLite walk the (few) integrations
                    // first: it would otherwise scan every pending delivery,
                    // a disabled integration's backlog included.
                    "SELECT d.id FROM integrations i CROSS JOIN webhook_deliveries d \
                     WHERE i.enabled = 1 AND d.integration_id = i.id AND d.status = 'pending' \
                     ORDER BY d.id LIMIT 5",
                )
                .fetch_all(self.pool())
                .await?;
                if ids.is_empty() {
                    // Deliveries whose processor died with the lease.
                    ids = sqlx::query_scalar(
                        "SELECT d.id FROM integrations i CROSS JOIN webhook_deliveries d \
                         WHERE i.enabled = 1 AND d.integration_id = i.id AND d.status = 'processing' \
                         AND d.lease_until < $1 ORDER BY d.id LIMIT 5",
                    )
                    .bind(now)
                    .fetch_all(self.pool())
                    .await?;
                }
                ids
            }
        };
        for candidate in candidates {
            let claimed = sqlx::query(
                "UPDATE webhook_deliveries SET status = 'processing', lease_until = $1, attempts = attempts + 1 \
                 WHERE id = $2 AND (status = 'pending' OR (status = 'processing' AND lease_until < $3)) \
                 AND integration_id IN (SELECT id FROM integrations WHERE enabled = 1)",
            )
            .bind(now + lease_ms)
            .bind(candidate)
            .bind(now)
            .execute(self.pool())
            .await?;
            if claimed.rows_affected() == 1 {
                let row = sqlx::query(&format!(
                    "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1"
                ))
                .bind(candidate)
                .fetch_one(self.pool())
                .await?;
                return delivery_from_row(&row).map(Some);
            }
        }
        Ok(None)
    }

    /// Applies a delivery's records and marks it processed, together.
    pub async fn complete_delivery(
        &self,
        delivery: &Delivery,
        records: &[Record],
    ) -> Result<RecordCounts, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        // A late, out-of-order or replayed delivery never puts an older
        // version of a record back.
        let counts = apply_records(
            &mut tx,
            delivery.integration_id,
            None,
            records,
            Versions::NewerOnly,
            Deletions::Apply,
        )
        .await?;
        sqlx::query(
            "UPDATE webhook_deliveries SET status = 'processed', processed_at = $1, records = $2, \
             lease_until = NULL, error = NULL, body = $3 WHERE id = $4",
        )
        .bind(now_millis())
        .bind(records.len() as i64)
        // Kept for replays until the retention purge clears it.
        .bind(delivery.body.as_slice())
        .bind(delivery.id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(counts)
    }

    /// Records a failed processing attempt: back to pending to be retried,
    /// or failed for good.
    pub async fn fail_delivery(
        &self,
        id: i64,
        error: &str,
        retry: bool,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, error = $2, lease_until = NULL WHERE id = $3",
        )
        .bind(if retry { "pending" } else { "failed" })
        .bind(error)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// An endpoint's deliveries, newest first, without their bodies.
    pub async fn deliveries_of(
        &self,
        webhook_id: i64,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<DeliveryEntry>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, delivery_id, sender_id, received_at, processed_at, method, path, status, attempts, records, \
             error, CAST(LENGTH(body) AS BIGINT) AS body_bytes FROM webhook_deliveries \
             WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3",
        )
        .bind(webhook_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let status: String = row.try_get("status")?;
                let body_bytes: i64 = row.try_get::<Option<i64>, _>("body_bytes")?.unwrap_or(0);
                Ok(DeliveryEntry {
                    replayable: matches!(status.as_str(), "processed" | "failed") && body_bytes > 0,
                    id: row.try_get("id")?,
                    delivery_id: row.try_get("delivery_id")?,
                    sender_id: row.try_get("sender_id")?,
                    received_at: row.try_get("received_at")?,
                    processed_at: row.try_get("processed_at")?,
                    method: row.try_get("method")?,
                    path: row.try_get("path")?,
                    status,
                    attempts: row.try_get("attempts")?,
                    records: row.try_get("records")?,
                    error: row.try_get("error")?,
                    body_bytes,
                })
            })
            .collect()
    }

    /// Queues a processed or failed delivery of `webhook_id` to be processed
    /// again, as if it had just arrived. False when there is no such
    /// delivery, it is still waiting, or its payload was purged.
    pub async fn replay_delivery(&self, webhook_id: i64, id: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, error = NULL, \
             lease_until = NULL, processed_at = NULL WHERE id = $1 AND webhook_id = $2 \
             AND status IN ('processed', 'failed') AND LENGTH(body) > 0",
        )
        .bind(id)
        .bind(webhook_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Clears the payloads of deliveries processed before `before` (ms):
    /// the rows stay, for the record, but can no longer be replayed.
    pub async fn purge_delivery_bodies(&self, before: i64) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET body = $1 WHERE status = 'processed' \
             AND processed_at < $2 AND LENGTH(body) > 0",
        )
        .bind(Vec::<u8>::new())
        .bind(before)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    pub async fn delivery(&self, id: i64) -> Result<Option<Delivery>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(delivery_from_row).transpose()
    }
}
