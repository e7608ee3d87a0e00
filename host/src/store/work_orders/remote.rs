//! Work orders changed in a remote system, as syncs and webhook deliveries
//! bring them: applied field by field, unless a local change made later is
//! still waiting to be pushed (the local value stays); passed on to the
//! integrations that only receive; and deleted with the remote item when it
//! came from there (the rules of the parent module and decision 0011).

use serde_json::{Map, Value};
use sqlx::{AnyConnection, Row};

use super::{
    FIELDS, WorkOrderFields, enqueue_push, insert, load, notify_targets, queue_order_event,
    write_fields,
};
use crate::runtime::types::Record;
use crate::store::now_millis;

/// A remote record's change time: its `updated_at` field, in milliseconds
/// since the epoch (connectors convert their system's timestamps).
fn remote_updated_at(fields: &Map<String, Value>) -> Option<i64> {
    match fields.get("updated_at")? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A remote record's value for one of [`FIELDS`], under its name or a
/// common alias (`summary` for the title, `reporter` for the requester).
fn remote_value<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    let alias = match name {
        "title" => "summary",
        "requester" => "reporter",
        _ => name,
    };
    fields.get(name).or_else(|| fields.get(alias))
}

/// Applies a remote work-order record from `integration` (the caller has
/// checked that its version is new). Returns whether it created one.
pub(in crate::store) async fn apply_remote(
    conn: &mut AnyConnection,
    integration: i64,
    record: &Record,
    fields: &Map<String, Value>,
) -> Result<bool, sqlx::Error> {
    let now = now_millis();
    let remote_at = remote_updated_at(fields);
    let linked: Option<i64> = sqlx::query_scalar(
        "SELECT work_order_id FROM work_order_links WHERE integration_id = $1 AND external_id = $2",
    )
    .bind(integration)
    .bind(&record.external_id)
    .fetch_optional(&mut *conn)
    .await?;
    let created = match linked {
        Some(id) => {
            let current = load(conn, id)
                .await?
                .expect("links cascade with their work order");
            // Fields changed here after the remote change, not yet pushed
            // to this integration: the local values win.
            let pending = sqlx::query(
                "SELECT changed_fields_json, changed_at FROM work_order_pushes \
                 WHERE work_order_id = $1 AND integration_id = $2 AND status IN ('pending', 'running')",
            )
            .bind(id)
            .bind(integration)
            .fetch_all(&mut *conn)
            .await?;
            let mut kept: Vec<String> = Vec::new();
            for row in &pending {
                let changed_at: i64 = row.try_get("changed_at")?;
                if remote_at.is_none_or(|remote| changed_at > remote) {
                    let names: Vec<String> =
                        serde_json::from_str(&row.try_get::<String, _>("changed_fields_json")?)
                            .unwrap_or_default();
                    kept.extend(names);
                }
            }
            let mut next = current.fields();
            for name in FIELDS {
                if kept.iter().any(|k| k == name) {
                    continue;
                }
                if let Some(value) = remote_value(fields, name) {
                    next.set(name, value);
                }
            }
            if next != current.fields() {
                let changed = next.changed_from(&current.fields());
                write_fields(conn, id, &next, now).await?;
                for sink in notify_targets(conn, integration).await? {
                    enqueue_push(conn, id, sink, "update", &changed, None, now).await?;
                }
                let updated = load(conn, id).await?.expect("just updated");
                queue_order_event(
                    conn,
                    "work_order.updated",
                    &updated,
                    &changed,
                    Some(integration),
                )
                .await?;
            }
            false
        }
        None => {
            let mut new = WorkOrderFields {
                title: record.external_id.clone(),
                status: "open".into(),
                priority: "normal".into(),
                ..WorkOrderFields::default()
            };
            for name in FIELDS {
                if let Some(value) = remote_value(fields, name) {
                    new.set(name, value);
                }
            }
            if new.title.is_empty() {
                new.title = record.external_id.clone();
            }
            let id = insert(conn, &new, Some((integration, &record.external_id)), now).await?;
            sqlx::query(
                "INSERT INTO work_order_links (work_order_id, integration_id, external_id, linked_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(integration)
            .bind(&record.external_id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            let all: Vec<String> = FIELDS.iter().map(|f| (*f).to_owned()).collect();
            for sink in notify_targets(conn, integration).await? {
                enqueue_push(conn, id, sink, "create", &all, None, now).await?;
            }
            let created = load(conn, id).await?.expect("just inserted");
            queue_order_event(conn, "work_order.created", &created, &[], Some(integration)).await?;
            true
        }
    };
    sqlx::query(
        "UPDATE work_order_links SET version = $1, remote_updated_at = $2 \
         WHERE integration_id = $3 AND external_id = $4",
    )
    .bind(&record.version)
    .bind(remote_at)
    .bind(integration)
    .bind(&record.external_id)
    .execute(&mut *conn)
    .await?;
    Ok(created)
}

/// A remote item was deleted: its link goes; the work order goes too when
/// it came from that integration and is linked nowhere else.
pub(in crate::store) async fn delete_remote(
    conn: &mut AnyConnection,
    integration: i64,
    external_id: &str,
) -> Result<bool, sqlx::Error> {
    let linked: Option<i64> = sqlx::query_scalar(
        "SELECT work_order_id FROM work_order_links WHERE integration_id = $1 AND external_id = $2",
    )
    .bind(integration)
    .bind(external_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(id) = linked else {
        return Ok(false);
    };
    sqlx::query("DELETE FROM work_order_links WHERE integration_id = $1 AND external_id = $2")
        .bind(integration)
        .bind(external_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "DELETE FROM work_orders WHERE id = $1 AND integration_id = $2 \
         AND NOT EXISTS (SELECT 1 FROM work_order_links WHERE work_order_id = $1)",
    )
    .bind(id)
    .bind(integration)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}
