//! `work_orders`, their links to remote items (`work_order_links`), and the
//! outbox of local changes to push (`work_order_pushes`).
//!
//! Two rules keep two-way sync from looping or losing edits (see
//! `docs/decisions/0011-work-order-conflicts.md`):
//!
//! - **Echoes are not applied.** A push stores the version the remote
//!   returned on the link; a remote record carrying that version again is
//!   our own write coming back by webhook or sync, and is skipped. Changes
//!   applied from a remote system are never pushed to a system that syncs,
//!   so nothing bounces between systems; integrations that only receive
//!   (Slack) get them.
//! - **Field-level last writer wins.** A remote change is applied field by
//!   field, except for fields changed locally after the remote change was
//!   made (by the remote's own timestamp) whose push is still waiting: the
//!   local value stays, and its push will carry it to the remote.

use serde::Serialize;
use serde_json::{Map, Value, json};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{AnyQuery, Store, now_millis};

mod remote;

pub(super) use remote::{apply_remote, delete_remote};

/// The fields of a work order that sync both ways, in their JSON names.
pub const FIELDS: [&str; 7] = [
    "title",
    "description",
    "status",
    "priority",
    "assignee",
    "requester",
    "due_at",
];

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WorkOrder {
    pub id: i64,
    pub title: String,
    pub description: String,
    pub status: String,
    pub priority: String,
    pub assignee: Option<String>,
    pub requester: Option<String>,
    pub due_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a person sets on a work order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkOrderFields {
    pub title: String,
    pub description: String,
    pub status: String,
    pub priority: String,
    pub assignee: Option<String>,
    pub requester: Option<String>,
    pub due_at: Option<i64>,
}

impl WorkOrder {
    /// The synced fields as a JSON object (what a connector's push gets).
    pub fn fields_json(&self) -> Map<String, Value> {
        let Value::Object(map) = json!({
            "title": self.title, "description": self.description, "status": self.status,
            "priority": self.priority, "assignee": self.assignee, "requester": self.requester,
            "due_at": self.due_at,
        }) else {
            unreachable!("a json object literal")
        };
        map
    }

    fn fields(&self) -> WorkOrderFields {
        WorkOrderFields {
            title: self.title.clone(),
            description: self.description.clone(),
            status: self.status.clone(),
            priority: self.priority.clone(),
            assignee: self.assignee.clone(),
            requester: self.requester.clone(),
            due_at: self.due_at,
        }
    }
}

impl WorkOrderFields {
    /// The names of the fields that differ from `other`.
    fn changed_from(&self, other: &WorkOrderFields) -> Vec<String> {
        let mut changed = Vec::new();
        let pairs: [(&str, bool); 7] = [
            ("title", self.title != other.title),
            ("description", self.description != other.description),
            ("status", self.status != other.status),
            ("priority", self.priority != other.priority),
            ("assignee", self.assignee != other.assignee),
            ("requester", self.requester != other.requester),
            ("due_at", self.due_at != other.due_at),
        ];
        for (name, differs) in pairs {
            if differs {
                changed.push(name.to_owned());
            }
        }
        changed
    }

    /// Sets one field from a remote record's JSON value.
    fn set(&mut self, name: &str, value: &Value) {
        let text = || match value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        match name {
            "title" => self.title = text().unwrap_or_default(),
            "description" => self.description = text().unwrap_or_default(),
            "status" => self.status = text().unwrap_or_else(|| "open".into()),
            "priority" => self.priority = text().unwrap_or_else(|| "normal".into()),
            "assignee" => self.assignee = text().filter(|s| !s.is_empty()),
            "requester" => self.requester = text().filter(|s| !s.is_empty()),
            "due_at" => self.due_at = value.as_i64(),
            _ => {}
        }
    }
}

/// A work order's link to a remote item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Link {
    pub integration_id: i64,
    pub external_id: String,
    pub version: Option<String>,
}

const COLUMNS: &str =
    "id, title, description, status, priority, assignee, requester, due_at, created_at, updated_at";

pub(super) fn work_order_from(row: &AnyRow) -> Result<WorkOrder, sqlx::Error> {
    Ok(WorkOrder {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        status: row.try_get("status")?,
        priority: row.try_get("priority")?,
        assignee: row.try_get("assignee")?,
        requester: row.try_get("requester")?,
        due_at: row.try_get("due_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(super) async fn load(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<WorkOrder>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM work_orders WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(work_order_from).transpose()
}

/// Binds what a person sets, as `$1` to `$7` in the order of the struct.
fn bind_fields<'q>(query: AnyQuery<'q>, fields: &'q WorkOrderFields) -> AnyQuery<'q> {
    query
        .bind(&fields.title)
        .bind(&fields.description)
        .bind(&fields.status)
        .bind(&fields.priority)
        .bind(&fields.assignee)
        .bind(&fields.requester)
        .bind(fields.due_at)
}

async fn write_fields(
    conn: &mut AnyConnection,
    id: i64,
    fields: &WorkOrderFields,
    now: i64,
) -> Result<(), sqlx::Error> {
    bind_fields(
        sqlx::query(
            "UPDATE work_orders SET title = $1, description = $2, status = $3, priority = $4, \
             assignee = $5, requester = $6, due_at = $7, updated_at = $8 WHERE id = $9",
        ),
        fields,
    )
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn insert(
    conn: &mut AnyConnection,
    fields: &WorkOrderFields,
    origin: Option<(i64, &str)>,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let row = bind_fields(
        sqlx::query(
            "INSERT INTO work_orders (title, description, status, priority, assignee, requester, due_at, \
             integration_id, external_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
        ),
        fields,
    )
    .bind(origin.map(|(integration, _)| integration))
    .bind(origin.map(|(_, external)| external))
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    row.try_get("id")
}

/// The integrations local changes are pushed to: enabled, and their
/// connector implements `push`.
pub(super) async fn push_targets(conn: &mut AnyConnection) -> Result<Vec<i64>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT i.id FROM integrations i JOIN integration_providers p ON p.id = i.provider_id \
         WHERE i.enabled = 1 AND (',' || p.features || ',') LIKE '%,push,%' ORDER BY i.id",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| r.try_get("id")).collect()
}

/// The integrations that only receive: their connector pushes but does not
/// sync (Slack). A change that came from a remote system is passed on to
/// them, except to the one it came from: they never send changes back, so
/// nothing can loop, and a channel shows what happened in Jira too.
pub(super) async fn notify_targets(
    conn: &mut AnyConnection,
    source: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT i.id FROM integrations i JOIN integration_providers p ON p.id = i.provider_id \
         WHERE i.enabled = 1 AND i.id <> $1 AND (',' || p.features || ',') LIKE '%,push,%' \
         AND (',' || p.features || ',') NOT LIKE '%,sync,%' ORDER BY i.id",
    )
    .bind(source)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| r.try_get("id")).collect()
}

/// Queues a push of a local change, merged into one still waiting for the
/// same work order and integration (never into a comment's push).
async fn enqueue_push(
    conn: &mut AnyConnection,
    work_order: i64,
    integration: i64,
    operation: &str,
    changed: &[String],
    deleted_fields: Option<&Map<String, Value>>,
    now: i64,
) -> Result<(), sqlx::Error> {
    let waiting = sqlx::query(
        "SELECT id, operation, changed_fields_json FROM work_order_pushes \
         WHERE work_order_id = $1 AND integration_id = $2 AND status = 'pending' \
         AND comment_id IS NULL",
    )
    .bind(work_order)
    .bind(integration)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = waiting {
        let id: i64 = row.try_get("id")?;
        let before: String = row.try_get("operation")?;
        let mut fields: Vec<String> =
            serde_json::from_str(&row.try_get::<String, _>("changed_fields_json")?)
                .unwrap_or_default();
        for name in changed {
            if !fields.contains(name) {
                fields.push(name.clone());
            }
        }
        // A create not yet pushed stays a create; a delete wins over all.
        let operation = match (before.as_str(), operation) {
            (_, "delete") => "delete",
            ("create", _) => "create",
            _ => operation,
        };
        sqlx::query(
            "UPDATE work_order_pushes SET operation = $1, changed_fields_json = $2, fields_json = $3, \
             changed_at = $4, run_after = $4, attempts = 0, error = NULL WHERE id = $5",
        )
        .bind(operation)
        .bind(serde_json::to_string(&fields).expect("names serialise"))
        .bind(deleted_fields.map(|f| Value::Object(f.clone()).to_string()))
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO work_order_pushes (work_order_id, integration_id, operation, changed_fields_json, \
         fields_json, run_after, changed_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(work_order)
    .bind(integration)
    .bind(operation)
    .bind(serde_json::to_string(changed).expect("names serialise"))
    .bind(deleted_fields.map(|f| Value::Object(f.clone()).to_string()))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Queues outbound event `event_type` about `order` in the change's
/// transaction: its `data` is the work order, the fields that changed,
/// and the integration a remote change came from.
async fn queue_order_event(
    conn: &mut AnyConnection,
    event_type: &str,
    order: &WorkOrder,
    changed: &[String],
    source: Option<i64>,
) -> Result<(), sqlx::Error> {
    let data = json!({
        "work_order": order,
        "changed_fields": changed,
        "source_integration": source,
    });
    super::outbound::queue_event(conn, event_type, data).await
}

impl Store {
    pub async fn work_order(&self, id: i64) -> Result<Option<WorkOrder>, sqlx::Error> {
        let mut conn = self.pool().acquire().await?;
        load(&mut conn, id).await
    }

    /// Work orders, newest first.
    pub async fn work_orders(
        &self,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<WorkOrder>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM work_orders ORDER BY id DESC LIMIT $1 OFFSET $2"
        ))
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(work_order_from).collect()
    }

    /// A work order's links to remote items.
    pub async fn work_order_links(&self, id: i64) -> Result<Vec<Link>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT integration_id, external_id, version FROM work_order_links \
             WHERE work_order_id = $1 ORDER BY integration_id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Link {
                    integration_id: r.try_get("integration_id")?,
                    external_id: r.try_get("external_id")?,
                    version: r.try_get("version")?,
                })
            })
            .collect()
    }

    /// Creates a work order here and queues its push to every integration
    /// that pushes, in one transaction.
    pub async fn create_work_order(
        &self,
        fields: &WorkOrderFields,
    ) -> Result<WorkOrder, sqlx::Error> {
        let now = now_millis();
        let mut tx = self.begin_write().await?;
        let id = insert(&mut tx, fields, None, now).await?;
        let all: Vec<String> = FIELDS.iter().map(|f| (*f).to_owned()).collect();
        for integration in push_targets(&mut tx).await? {
            enqueue_push(&mut tx, id, integration, "create", &all, None, now).await?;
        }
        let created = load(&mut tx, id).await?.expect("just inserted");
        queue_order_event(&mut tx, "work_order.created", &created, &[], None).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// Changes a work order here and queues the push of the changed fields,
    /// in one transaction. `None` when there is no such work order; the
    /// changed field names otherwise (none: nothing is queued).
    pub async fn update_work_order(
        &self,
        id: i64,
        fields: &WorkOrderFields,
    ) -> Result<Option<(WorkOrder, Vec<String>)>, sqlx::Error> {
        let now = now_millis();
        let mut tx = self.begin_write().await?;
        let Some(current) = load(&mut tx, id).await? else {
            return Ok(None);
        };
        let changed = fields.changed_from(&current.fields());
        if changed.is_empty() {
            return Ok(Some((current, changed)));
        }
        write_fields(&mut tx, id, fields, now).await?;
        for integration in push_targets(&mut tx).await? {
            enqueue_push(&mut tx, id, integration, "update", &changed, None, now).await?;
        }
        let updated = load(&mut tx, id).await?.expect("just updated");
        queue_order_event(&mut tx, "work_order.updated", &updated, &changed, None).await?;
        tx.commit().await?;
        Ok(Some((updated, changed)))
    }

    /// Deletes a work order here and queues the deletion of its remote
    /// items, in one transaction.
    pub async fn delete_work_order(&self, id: i64) -> Result<bool, sqlx::Error> {
        let now = now_millis();
        let mut tx = self.begin_write().await?;
        let Some(current) = load(&mut tx, id).await? else {
            return Ok(false);
        };
        let linked: Vec<i64> = sqlx::query_scalar(
            "SELECT integration_id FROM work_order_links WHERE work_order_id = $1",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        let targets = push_targets(&mut tx).await?;
        let mut fields = current.fields_json();
        for integration in linked.into_iter().filter(|i| targets.contains(i)) {
            let external: String = sqlx::query_scalar(
                "SELECT external_id FROM work_order_links WHERE work_order_id = $1 AND integration_id = $2",
            )
            .bind(id)
            .bind(integration)
            .fetch_one(&mut *tx)
            .await?;
            fields.insert("external_id".into(), Value::String(external));
            enqueue_push(&mut tx, id, integration, "delete", &[], Some(&fields), now).await?;
        }
        // A create or update still waiting for an integration it was never
        // linked to has nothing left to push.
        sqlx::query(
            "DELETE FROM work_order_pushes WHERE work_order_id = $1 AND status = 'pending' \
             AND operation <> 'delete'",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM work_orders WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        queue_order_event(&mut tx, "work_order.deleted", &current, &[], None).await?;
        tx.commit().await?;
        Ok(true)
    }
}
