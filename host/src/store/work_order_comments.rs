//! Comments on work orders (`work_order_comments`) and the remote comments
//! they are linked to (`work_order_comment_links`), synced both ways.
//!
//! A comment written here is pushed, like a change of a work order, to every
//! integration that pushes: a row in `work_order_pushes` with its
//! `comment_id`, queued in the same transaction, in the work order's queue so
//! that it reaches a remote system after the work order's own create. It is
//! never merged with a change of the work order's fields. A comment brought
//! in from a remote system (records of kind `work-order-comment`) is stored
//! with the integration it came from and is never pushed to a system that
//! syncs, only passed on to those that just receive (Slack), as for work
//! orders (`docs/decisions/0011-work-order-conflicts.md`).

use serde::Serialize;
use serde_json::{Map, Value, json};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Store, now_millis};
use crate::runtime::types::Record;

/// The record kind of remote comments.
pub const KIND: &str = "work-order-comment";

/// The longest comment accepted here, in characters.
pub const MAX_BODY_CHARS: usize = 10_000;

/// A comment's link to a remote comment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CommentLink {
    pub integration_id: i64,
    pub external_id: String,
}

/// A comment on a work order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Comment {
    pub id: i64,
    pub work_order_id: i64,
    pub author: String,
    pub body: String,
    /// When it was written (ms): here, or on the remote system.
    pub created_at: i64,
    /// The integration it came from; `None`: written in CUBE.
    pub source_integration_id: Option<i64>,
    /// The remote comments it is linked to: the one it came from, or those
    /// its pushes created.
    pub links: Vec<CommentLink>,
}

const COLUMNS: &str = "id, work_order_id, author, body, created_at, source_integration_id";

fn comment_from(row: &AnyRow) -> Result<Comment, sqlx::Error> {
    Ok(Comment {
        id: row.try_get("id")?,
        work_order_id: row.try_get("work_order_id")?,
        author: row.try_get("author")?,
        body: row.try_get("body")?,
        created_at: row.try_get("created_at")?,
        source_integration_id: row.try_get("source_integration_id")?,
        links: Vec::new(),
    })
}

async fn load(conn: &mut AnyConnection, id: i64) -> Result<Option<Comment>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM work_order_comments WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(mut comment) = row.as_ref().map(comment_from).transpose()? else {
        return Ok(None);
    };
    let links = sqlx::query(
        "SELECT integration_id, external_id FROM work_order_comment_links \
         WHERE comment_id = $1 ORDER BY integration_id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    for row in &links {
        comment.links.push(CommentLink {
            integration_id: row.try_get("integration_id")?,
            external_id: row.try_get("external_id")?,
        });
    }
    Ok(Some(comment))
}

/// The `data` of a `work_order.commented` event: the work order, the new
/// comment, and the integration it came from (`null`: written here).
async fn queue_commented(
    conn: &mut AnyConnection,
    comment: &Comment,
    source: Option<i64>,
) -> Result<(), sqlx::Error> {
    let order = super::work_orders::load(conn, comment.work_order_id)
        .await?
        .expect("comments cascade with their work order");
    super::outbound::queue_event(
        conn,
        "work_order.commented",
        json!({
            "work_order": order,
            "comment": comment,
            "changed_fields": ["comment"],
            "source_integration": source,
        }),
    )
    .await
}

/// What applying a remote comment did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Applied {
    Created,
    /// Its body was edited remotely.
    Updated,
    /// Known, and the same.
    Unchanged,
    /// Its work order is not linked to this integration (or the record does
    /// not name one): nothing to attach it to.
    Skipped,
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn millis(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Applies a remote comment from `integration`: its `fields` are
/// `{"work_order": <the remote id of the work order's item>, "author",
/// "body", "created_at" (ms)}` and the record's external id is the remote
/// comment's. Never queues a push.
pub(super) async fn apply_remote_comment(
    conn: &mut AnyConnection,
    integration: i64,
    record: &Record,
    fields: &Map<String, Value>,
) -> Result<Applied, sqlx::Error> {
    let body = text(fields.get("body")).unwrap_or_default();
    let known: Option<AnyRow> = sqlx::query(
        "SELECT c.id, c.body FROM work_order_comment_links l \
         JOIN work_order_comments c ON c.id = l.comment_id \
         WHERE l.integration_id = $1 AND l.external_id = $2",
    )
    .bind(integration)
    .bind(&record.external_id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = known {
        let id: i64 = row.try_get("id")?;
        let before: String = row.try_get("body")?;
        if before == body || fields.get("body").is_none() {
            return Ok(Applied::Unchanged);
        }
        sqlx::query("UPDATE work_order_comments SET body = $1 WHERE id = $2")
            .bind(&body)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        return Ok(Applied::Updated);
    }
    let Some(remote_order) = text(fields.get("work_order")) else {
        return Ok(Applied::Skipped);
    };
    let work_order: Option<i64> = sqlx::query_scalar(
        "SELECT work_order_id FROM work_order_links WHERE integration_id = $1 AND external_id = $2",
    )
    .bind(integration)
    .bind(&remote_order)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(work_order) = work_order else {
        return Ok(Applied::Skipped);
    };
    let author = text(fields.get("author"))
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| "unknown".into());
    let created_at = millis(fields.get("created_at")).unwrap_or_else(now_millis);
    let row = sqlx::query(
        "INSERT INTO work_order_comments (work_order_id, author, body, created_at, source_integration_id) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(work_order)
    .bind(&author)
    .bind(&body)
    .bind(created_at)
    .bind(integration)
    .fetch_one(&mut *conn)
    .await?;
    let id: i64 = row.try_get("id")?;
    sqlx::query(
        "INSERT INTO work_order_comment_links (comment_id, integration_id, external_id) \
         VALUES ($1, $2, $3)",
    )
    .bind(id)
    .bind(integration)
    .bind(&record.external_id)
    .execute(&mut *conn)
    .await?;
    // Passed on to the integrations that only receive (Slack), never back
    // to a system that syncs (decision 0011).
    let sinks = super::work_orders::notify_targets(conn, integration).await?;
    queue_pushes(conn, work_order, id, &sinks, now_millis()).await?;
    let comment = load(conn, id).await?.expect("just inserted");
    queue_commented(conn, &comment, Some(integration)).await?;
    Ok(Applied::Created)
}

/// A remote comment was deleted: the local comment linked to it goes.
pub(super) async fn delete_remote_comment(
    conn: &mut AnyConnection,
    integration: i64,
    external_id: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM work_order_comments WHERE id IN (SELECT comment_id FROM work_order_comment_links \
         WHERE integration_id = $1 AND external_id = $2)",
    )
    .bind(integration)
    .bind(external_id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Queues the push of comment `comment` to those of `targets` that have
/// (or are getting) its work order: the integrations it is linked to, and
/// those a push of it is still queued for. A work order that never reached
/// an integration has no item there to comment on.
async fn queue_pushes(
    conn: &mut AnyConnection,
    work_order_id: i64,
    comment: i64,
    targets: &[i64],
    now: i64,
) -> Result<(), sqlx::Error> {
    let reached: Vec<i64> = sqlx::query_scalar(
        "SELECT integration_id FROM work_order_links WHERE work_order_id = $1 \
         UNION SELECT integration_id FROM work_order_pushes WHERE work_order_id = $1 \
         AND status IN ('pending', 'running') AND comment_id IS NULL",
    )
    .bind(work_order_id)
    .fetch_all(&mut *conn)
    .await?;
    for integration in targets.iter().filter(|i| reached.contains(i)) {
        // A push of its own, never merged: it follows the work order's own
        // pushes to this integration in their queue.
        sqlx::query(
            "INSERT INTO work_order_pushes (work_order_id, integration_id, operation, \
             changed_fields_json, run_after, changed_at, comment_id) \
             VALUES ($1, $2, 'create', '[\"comment\"]', $3, $3, $4)",
        )
        .bind(work_order_id)
        .bind(integration)
        .bind(now)
        .bind(comment)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

impl Store {
    /// Adds a comment written here to a work order and queues its push to
    /// every integration that pushes and has the work order, and its `work_order.commented` event,
    /// in one transaction. `None` when there is no such work order.
    pub async fn add_work_order_comment(
        &self,
        work_order_id: i64,
        author: &str,
        body: &str,
    ) -> Result<Option<Comment>, sqlx::Error> {
        let now = now_millis();
        let mut tx = self.begin_write().await?;
        if super::work_orders::load(&mut tx, work_order_id)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        let row = sqlx::query(
            "INSERT INTO work_order_comments (work_order_id, author, body, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(work_order_id)
        .bind(author)
        .bind(body)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let id: i64 = row.try_get("id")?;
        let targets = super::work_orders::push_targets(&mut tx).await?;
        queue_pushes(&mut tx, work_order_id, id, &targets, now).await?;
        let comment = load(&mut tx, id).await?.expect("just inserted");
        queue_commented(&mut tx, &comment, None).await?;
        tx.commit().await?;
        Ok(Some(comment))
    }

    /// A work order's comments, oldest first, each with its links.
    pub async fn work_order_comments(
        &self,
        work_order_id: i64,
    ) -> Result<Vec<Comment>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM work_order_comments WHERE work_order_id = $1 \
             ORDER BY created_at, id"
        ))
        .bind(work_order_id)
        .fetch_all(self.pool())
        .await?;
        let mut comments = rows
            .iter()
            .map(comment_from)
            .collect::<Result<Vec<_>, _>>()?;
        let links = sqlx::query(
            "SELECT l.comment_id, l.integration_id, l.external_id FROM work_order_comment_links l \
             JOIN work_order_comments c ON c.id = l.comment_id WHERE c.work_order_id = $1 \
             ORDER BY l.integration_id",
        )
        .bind(work_order_id)
        .fetch_all(self.pool())
        .await?;
        for row in &links {
            let comment_id: i64 = row.try_get("comment_id")?;
            if let Some(comment) = comments.iter_mut().find(|c| c.id == comment_id) {
                comment.links.push(CommentLink {
                    integration_id: row.try_get("integration_id")?,
                    external_id: row.try_get("external_id")?,
                });
            }
        }
        Ok(comments)
    }
}
