//! The outbox of local work-order changes (`work_order_pushes`): claimed by
//! a worker with a lease, finished together with the link it produces, or
//! put back with a backoff. A push with a `comment_id` carries a comment
//! written here (`store::work_order_comments`) and links that comment.

use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::work_orders::work_order_from;
use super::{Store, now_millis};

/// A claimed push, with what the connector needs.
#[derive(Clone, Debug, Serialize)]
pub struct Push {
    pub id: i64,
    pub work_order_id: i64,
    pub integration_id: i64,
    pub operation: String,
    pub changed_fields: Vec<String>,
    /// The work order's fields now (for a delete: as they were).
    pub fields: Map<String, Value>,
    /// The remote item the work order is linked to, if any.
    pub external_id: Option<String>,
    pub attempts: i64,
    /// For the push of a comment (always a create): the comment.
    pub comment: Option<CommentToPush>,
}

/// A comment written here, as its push carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CommentToPush {
    pub id: i64,
    pub author: String,
    pub body: String,
    pub created_at: i64,
}

/// A push as listed for people.
#[derive(Clone, Debug, Serialize)]
pub struct PushEntry {
    pub id: i64,
    pub work_order_id: Option<i64>,
    pub integration_id: i64,
    pub operation: String,
    /// The comment it pushes, if it pushes one.
    pub comment_id: Option<i64>,
    pub status: String,
    pub attempts: i64,
    pub error: Option<String>,
    pub changed_at: i64,
    pub finished_at: Option<i64>,
}

fn entry_from_row(row: &AnyRow) -> Result<PushEntry, sqlx::Error> {
    Ok(PushEntry {
        id: row.try_get("id")?,
        work_order_id: row.try_get("work_order_id")?,
        integration_id: row.try_get("integration_id")?,
        operation: row.try_get("operation")?,
        comment_id: row.try_get("comment_id")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        error: row.try_get("error")?,
        changed_at: row.try_get("changed_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

/// Ends claimed push `id`, whose comment or work order is gone, as done
/// with `why` for its error, and commits the claim's transaction.
async fn close_unpushable(
    mut tx: sqlx::Transaction<'static, sqlx::Any>,
    id: i64,
    now: i64,
    why: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE work_order_pushes SET status = 'done', finished_at = $1, error = $2 WHERE id = $3",
    )
    .bind(now)
    .bind(why)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Links a pushed comment to the remote comment its push created. A sync
/// or webhook that raced the push may have brought that remote comment in
/// already, as a comment of its own: that copy goes, so the comment shows
/// once.
async fn link_pushed_comment(
    conn: &mut AnyConnection,
    comment: i64,
    integration: i64,
    external_id: &str,
) -> Result<(), sqlx::Error> {
    let exists: Option<i64> =
        sqlx::query_scalar("SELECT id FROM work_order_comments WHERE id = $1")
            .bind(comment)
            .fetch_optional(&mut *conn)
            .await?;
    if exists.is_none() {
        return Ok(());
    }
    sqlx::query(
        "DELETE FROM work_order_comments WHERE id <> $1 AND source_integration_id = $2 AND id IN \
         (SELECT comment_id FROM work_order_comment_links WHERE integration_id = $2 AND external_id = $3)",
    )
    .bind(comment)
    .bind(integration)
    .bind(external_id)
    .execute(&mut *conn)
    .await?;
    // Whatever else still claims that remote comment lets go of it.
    sqlx::query(
        "DELETE FROM work_order_comment_links WHERE integration_id = $1 AND external_id = $2 \
         AND comment_id <> $3",
    )
    .bind(integration)
    .bind(external_id)
    .bind(comment)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO work_order_comment_links (comment_id, integration_id, external_id) \
         VALUES ($1, $2, $3) ON CONFLICT (comment_id, integration_id) DO UPDATE \
         SET external_id = excluded.external_id",
    )
    .bind(comment)
    .bind(integration)
    .bind(external_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    /// Claims the oldest due push of an enabled integration (or one whose
    /// worker's lease ran out). The changes of one work order reach one
    /// integration in order: a push waits while an older one for the same
    /// pair is unfinished.
    pub async fn claim_push(&self, lease_ms: i64) -> Result<Option<Push>, sqlx::Error> {
        let now = now_millis();
        let candidates: Vec<i64> = sqlx::query_scalar(
            "SELECT p.id FROM work_order_pushes p JOIN integrations i ON i.id = p.integration_id \
             WHERE i.enabled = 1 AND ((p.status = 'pending' AND p.run_after <= $1) \
             OR (p.status = 'running' AND p.lease_until < $1)) AND NOT EXISTS (SELECT 1 FROM work_order_pushes r \
             WHERE r.work_order_id = p.work_order_id AND r.integration_id = p.integration_id \
             AND r.id < p.id AND r.status IN ('pending', 'running')) \
             ORDER BY p.run_after, p.id LIMIT 5",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        for candidate in candidates {
            let mut tx = self.begin_write().await?;
            let claimed = sqlx::query(
                "UPDATE work_order_pushes SET status = 'running', lease_until = $1, attempts = attempts + 1 \
                 WHERE id = $2 AND ((status = 'pending' AND run_after <= $3) \
                 OR (status = 'running' AND lease_until < $3))",
            )
            .bind(now + lease_ms)
            .bind(candidate)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if claimed.rows_affected() == 0 {
                continue;
            }
            let row = sqlx::query(
                "SELECT id, work_order_id, integration_id, operation, changed_fields_json, fields_json, attempts, \
                 comment_id FROM work_order_pushes WHERE id = $1",
            )
            .bind(candidate)
            .fetch_one(&mut *tx)
            .await?;
            let work_order_id: i64 = row.try_get("work_order_id")?;
            let integration_id: i64 = row.try_get("integration_id")?;
            let operation: String = row.try_get("operation")?;
            let stored_fields: Option<String> = row.try_get("fields_json")?;
            let comment_id: Option<i64> = row.try_get("comment_id")?;
            let comment = match comment_id {
                None => None,
                Some(comment_id) => {
                    let found = sqlx::query(
                        "SELECT id, author, body, created_at FROM work_order_comments WHERE id = $1",
                    )
                    .bind(comment_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    match found {
                        Some(c) => Some(CommentToPush {
                            id: c.try_get("id")?,
                            author: c.try_get("author")?,
                            body: c.try_get("body")?,
                            created_at: c.try_get("created_at")?,
                        }),
                        None => {
                            // Deleted comments take their pushes with them;
                            // this is only a guard.
                            let why = "the comment was deleted before it was pushed";
                            close_unpushable(tx, candidate, now, why).await?;
                            continue;
                        }
                    }
                }
            };
            let fields = match (&*operation, stored_fields) {
                ("delete", Some(json)) => serde_json::from_str(&json).unwrap_or_default(),
                _ => match sqlx::query(
                    "SELECT id, title, description, status, priority, assignee, requester, due_at, \
                     created_at, updated_at FROM work_orders WHERE id = $1",
                )
                .bind(work_order_id)
                .fetch_optional(&mut *tx)
                .await?
                {
                    Some(row) => work_order_from(&row)?.fields_json(),
                    None => {
                        // Deleted since: nothing to create or update.
                        let why = "the work order was deleted before it was pushed";
                        close_unpushable(tx, candidate, now, why).await?;
                        continue;
                    }
                },
            };
            let external_id: Option<String> = sqlx::query_scalar(
                "SELECT external_id FROM work_order_links WHERE work_order_id = $1 AND integration_id = $2",
            )
            .bind(work_order_id)
            .bind(integration_id)
            .fetch_optional(&mut *tx)
            .await?
            .or_else(|| {
                // A delete remembers the remote id of the link it removed.
                fields
                    .get("external_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
            tx.commit().await?;
            return Ok(Some(Push {
                id: candidate,
                work_order_id,
                integration_id,
                // A comment is always created; the link is its work order's.
                operation: if operation == "create" && external_id.is_some() && comment.is_none() {
                    "update".into()
                } else {
                    operation
                },
                changed_fields: serde_json::from_str(
                    &row.try_get::<String, _>("changed_fields_json")?,
                )
                .unwrap_or_default(),
                fields,
                external_id,
                attempts: row.try_get("attempts")?,
                comment,
            }));
        }
        Ok(None)
    }

    /// Records a successful push: the link to the remote item and the
    /// version the remote returned (so its echo is recognised), and the
    /// push done, in one transaction. A change made while it ran has a push
    /// row of its own, pushed next. For a comment, the link is the
    /// comment's, to the remote comment the push created.
    pub async fn finish_push(
        &self,
        push: &Push,
        external_id: &str,
        version: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        let now = now_millis();
        let mut tx = self.begin_write().await?;
        if let Some(comment) = &push.comment {
            link_pushed_comment(&mut tx, comment.id, push.integration_id, external_id).await?;
        } else if push.operation == "delete" {
            sqlx::query(
                "DELETE FROM work_order_links WHERE integration_id = $1 AND external_id = $2",
            )
            .bind(push.integration_id)
            .bind(external_id)
            .execute(&mut *tx)
            .await?;
        } else {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT id FROM work_orders WHERE id = $1")
                    .bind(push.work_order_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if exists.is_some() {
                sqlx::query(
                    "INSERT INTO work_order_links (work_order_id, integration_id, external_id, version, linked_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (work_order_id, integration_id) DO UPDATE \
                     SET external_id = excluded.external_id, version = excluded.version",
                )
                .bind(push.work_order_id)
                .bind(push.integration_id)
                .bind(external_id)
                .bind(version)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        }
        sqlx::query(
            "UPDATE work_order_pushes SET status = 'done', lease_until = NULL, error = NULL, \
             finished_at = $1 WHERE id = $2",
        )
        .bind(now)
        .bind(push.id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Puts a push back to run after `delay_ms`, or marks it failed for good.
    pub async fn retry_push(
        &self,
        id: i64,
        error: &str,
        delay_ms: Option<i64>,
    ) -> Result<(), sqlx::Error> {
        let now = now_millis();
        let (status, run_after, finished) = match delay_ms {
            Some(delay) => ("pending", now + delay, None),
            None => ("failed", now, Some(now)),
        };
        sqlx::query(
            "UPDATE work_order_pushes SET status = $1, run_after = $2, lease_until = NULL, error = $3, \
             finished_at = $4 WHERE id = $5",
        )
        .bind(status)
        .bind(run_after)
        .bind(error)
        .bind(finished)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The pushes of a work order (its comments' included), newest first.
    pub async fn pushes_of(&self, work_order: i64) -> Result<Vec<PushEntry>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, work_order_id, integration_id, operation, comment_id, status, attempts, error, \
             changed_at, finished_at FROM work_order_pushes WHERE work_order_id = $1 ORDER BY id DESC",
        )
        .bind(work_order)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(entry_from_row).collect()
    }
}
