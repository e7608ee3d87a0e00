//! What a dry run would do, record by record: created, updated (with the
//! fields that change, old and new), disabled, deleted. Kept with the job,
//! so the listing can be read after the run.
//!
//! Memory and storage stay bounded: a page is looked at and forgotten, at
//! most [`MAX_ITEMS`] records are listed per job, and the totals per action
//! and kind count the rest ("and N more"). A full dry run finds what it
//! would delete the way a full sync does, by what it did not read: the ids
//! it read go to `dry_run_seen` (not to the records), compared with the
//! stored records at the end, then removed.
//!
//! Values that are, or contain, one of the integration's secrets are shown
//! redacted, and fields named like secrets (password, pwd, secret, token,
//! credential) are never shown at all.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{Map, Value, json};
use sqlx::{AnyConnection, Row};

use super::Store;
use super::deletions::{TABLES, qualified_kind};
use super::params::Params;
use super::sync_logs::RecordCounts;
use super::work_order_comments;
use crate::runtime::scrub::Secrets;
use crate::runtime::types::Record;

/// Records listed per dry run; the totals count every one.
pub const MAX_ITEMS: i64 = 1000;
/// Changed fields listed per record.
const MAX_CHANGES: usize = 50;
/// Characters of a value shown.
const MAX_VALUE: usize = 200;
/// What a hidden value shows.
pub const HIDDEN: &str = "(hidden)";

/// A field that changes: its value before and after (as text).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Change {
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// One record a dry run would touch.
#[derive(Clone, Debug, Serialize)]
pub struct DryRunItem {
    /// `create`, `update`, `disable` or `delete`.
    pub action: String,
    pub kind: String,
    pub external_id: String,
    pub name: String,
    pub changes: Vec<Change>,
}

/// How many records of a kind an action touches, and how many are listed.
#[derive(Clone, Debug, Serialize)]
pub struct DryRunTotal {
    pub action: String,
    pub kind: String,
    pub total: i64,
    pub listed: i64,
}

/// A page of a dry run's listing.
#[derive(Clone, Debug, Serialize)]
pub struct DryRunListing {
    pub totals: Vec<DryRunTotal>,
    /// Records listed in all (at most [`MAX_ITEMS`]).
    pub listed: i64,
    /// Records the totals count beyond those listed.
    pub more: i64,
    pub items: Vec<DryRunItem>,
}

/// A stored record as a dry run compares it.
struct Stored {
    version: Option<String>,
    fields: Option<Map<String, Value>>,
    enabled: Option<bool>,
}

fn is_secret_name(field: &str) -> bool {
    let lower = field.to_ascii_lowercase();
    ["password", "pwd", "secret", "token", "credential"]
        .iter()
        .any(|word| lower.contains(word))
}

/// A value as the listing shows it: text as is, anything else as JSON,
/// secrets redacted, cut short.
fn shown(value: &Value, secrets: &Secrets) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let text = secrets.scrub(&text);
    if text.chars().count() > MAX_VALUE {
        let cut: String = text.chars().take(MAX_VALUE).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// The fields whose values differ between `old` and `new`.
pub fn changes(
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    secrets: &Secrets,
) -> Vec<Change> {
    let fields: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut out = Vec::new();
    for field in fields {
        // The host derives a user's groups from the memberships.
        if field == "member_of" {
            continue;
        }
        let (before, after) = (old.get(field), new.get(field));
        if before == after {
            continue;
        }
        let hide = is_secret_name(field);
        let show = |v: Option<&Value>| {
            v.map(|v| {
                if hide {
                    HIDDEN.to_owned()
                } else {
                    shown(v, secrets)
                }
            })
        };
        out.push(Change {
            field: field.clone(),
            old: show(before),
            new: show(after),
        });
        if out.len() == MAX_CHANGES {
            break;
        }
    }
    out
}

/// A readable name for a record from its fields.
fn name_of(fields: &Map<String, Value>, external_id: &str) -> String {
    ["username", "name", "title", "cn", "summary"]
        .iter()
        .find_map(|key| fields.get(*key).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .unwrap_or(external_id)
        .to_owned()
}

async fn stored(
    conn: &mut AnyConnection,
    integration_id: i64,
    record: &Record,
) -> Result<Option<Stored>, sqlx::Error> {
    let (sql, by_kind) = match record.kind.as_str() {
        "user" => (
            "SELECT version, attributes_json AS fields, enabled FROM directory_users \
             WHERE integration_id = $1 AND external_id = $2",
            false,
        ),
        "group" => (
            "SELECT version, attributes_json AS fields, CAST(NULL AS BIGINT) AS enabled \
             FROM directory_groups WHERE integration_id = $1 AND external_id = $2",
            false,
        ),
        "work-order" => (
            "SELECT version, CAST(NULL AS TEXT) AS fields, CAST(NULL AS BIGINT) AS enabled \
             FROM work_order_links WHERE integration_id = $1 AND external_id = $2",
            false,
        ),
        work_order_comments::KIND => (
            "SELECT CAST(NULL AS TEXT) AS version, CAST(NULL AS TEXT) AS fields, \
             CAST(NULL AS BIGINT) AS enabled FROM work_order_comment_links \
             WHERE integration_id = $1 AND external_id = $2",
            false,
        ),
        _ => (
            "SELECT version, fields_json AS fields, CAST(NULL AS BIGINT) AS enabled \
             FROM synced_records WHERE integration_id = $1 AND external_id = $2 AND kind = $3",
            true,
        ),
    };
    let mut query = sqlx::query(sql)
        .bind(integration_id)
        .bind(&record.external_id);
    if by_kind {
        query = query.bind(&record.kind);
    }
    let Some(row) = query.fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    let fields: Option<String> = row.try_get("fields")?;
    Ok(Some(Stored {
        version: row.try_get("version")?,
        fields: fields.and_then(|f| serde_json::from_str(&f).ok()),
        enabled: row.try_get::<Option<i64>, _>("enabled")?.map(|e| e != 0),
    }))
}

/// Lists `item` under `job` (within [`MAX_ITEMS`]) and counts it.
async fn list(
    conn: &mut AnyConnection,
    job: i64,
    listed: &mut i64,
    item: DryRunItem,
) -> Result<(), sqlx::Error> {
    if *listed < MAX_ITEMS {
        *listed += 1;
        sqlx::query(
            "INSERT INTO dry_run_items (job_id, seq, action, kind, external_id, name, changes_json) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(job)
        .bind(*listed)
        .bind(&item.action)
        .bind(&item.kind)
        .bind(&item.external_id)
        .bind(&item.name)
        .bind(json!(item.changes).to_string())
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query(
        "INSERT INTO dry_run_totals (job_id, action, kind, total) VALUES ($1, $2, $3, 1) \
         ON CONFLICT (job_id, action, kind) DO UPDATE SET total = dry_run_totals.total + 1",
    )
    .bind(job)
    .bind(&item.action)
    .bind(&item.kind)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn listed_so_far(conn: &mut AnyConnection, job: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM dry_run_items WHERE job_id = $1")
        .bind(job)
        .fetch_one(&mut *conn)
        .await
}

impl Store {
    /// Forgets what an earlier attempt of dry run `job` listed: a retried
    /// dry run starts again from the first page.
    pub async fn start_dry_run(&self, job: i64) -> Result<(), sqlx::Error> {
        let mut tx = self.begin_write().await?;
        for table in ["dry_run_items", "dry_run_totals", "dry_run_seen"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE job_id = $1"))
                .bind(job)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// What applying `records` would do, without writing them (a dry run
    /// by `job`): counts of records that would be created, updated,
    /// deleted, or are malformed, and each one listed with the job. A full
    /// dry run (`full`) also remembers which records it read.
    pub async fn preview_page(
        &self,
        integration_id: i64,
        job: i64,
        full: bool,
        records: &[Record],
        secrets: &Secrets,
    ) -> Result<RecordCounts, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        let mut counts = RecordCounts {
            read: records.len() as i64,
            ..RecordCounts::default()
        };
        let mut listed = listed_so_far(&mut tx, job).await?;
        let mut seen: Vec<&Record> = Vec::new();
        for record in records {
            let before = stored(&mut tx, integration_id, record).await?;
            if record.deleted {
                // Counted here, so not again among the unseen.
                seen.push(record);
                if before.is_some() {
                    counts.deleted += 1;
                    let name = before
                        .as_ref()
                        .and_then(|b| b.fields.as_ref())
                        .map(|f| name_of(f, &record.external_id))
                        .unwrap_or_else(|| record.external_id.clone());
                    let item = DryRunItem {
                        action: "delete".into(),
                        kind: record.kind.clone(),
                        external_id: record.external_id.clone(),
                        name,
                        changes: Vec::new(),
                    };
                    list(&mut tx, job, &mut listed, item).await?;
                }
                continue;
            }
            let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&record.fields) else {
                counts.failed += 1;
                continue;
            };
            seen.push(record);
            let item = |action: &str, changes| DryRunItem {
                action: action.into(),
                kind: record.kind.clone(),
                external_id: record.external_id.clone(),
                name: name_of(&fields, &record.external_id),
                changes,
            };
            match before {
                None => {
                    counts.created += 1;
                    let created = item("create", Vec::new());
                    list(&mut tx, job, &mut listed, created).await?;
                }
                Some(old) if old.version.is_some() && old.version == record.version => {}
                Some(old) => {
                    counts.updated += 1;
                    let changed = old
                        .fields
                        .as_ref()
                        .map(|f| changes(f, &fields, secrets))
                        .unwrap_or_default();
                    let disabled = old.enabled == Some(true)
                        && fields.get("enabled") == Some(&Value::Bool(false));
                    let action = if disabled { "disable" } else { "update" };
                    list(&mut tx, job, &mut listed, item(action, changed)).await?;
                }
            }
        }
        if full {
            for chunk in seen.chunks(300) {
                let sql = format!(
                    "INSERT INTO dry_run_seen (job_id, kind, external_id) VALUES {} \
                     ON CONFLICT (job_id, kind, external_id) DO NOTHING",
                    Params::on(&tx).rows(chunk.len(), 3)
                );
                let mut query = sqlx::query(&sql);
                for record in chunk {
                    query = query.bind(job).bind(&record.kind).bind(&record.external_id);
                }
                query.execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(counts)
    }

    /// At the end of a complete full dry run by `job`: lists the users,
    /// groups and other records it did not read (those a full sync would
    /// delete) and returns how many.
    pub async fn finish_full_dry_run(
        &self,
        integration_id: i64,
        job: i64,
    ) -> Result<i64, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        let mut listed = listed_so_far(&mut tx, job).await?;
        let mut unseen = 0;
        for (table, kind, name) in TABLES {
            let rows = sqlx::query(&format!(
                "SELECT {kind} AS kind, external_id, {name} AS name FROM {table} t \
                 WHERE integration_id = $1 AND NOT EXISTS (SELECT 1 FROM dry_run_seen s \
                 WHERE s.job_id = $2 AND s.kind = {kind_of_t} AND s.external_id = t.external_id) \
                 ORDER BY external_id",
                kind_of_t = qualified_kind("t", kind),
            ))
            .bind(integration_id)
            .bind(job)
            .fetch_all(&mut *tx)
            .await?;
            for row in rows {
                unseen += 1;
                let item = DryRunItem {
                    action: "delete".into(),
                    kind: row.try_get("kind")?,
                    external_id: row.try_get("external_id")?,
                    name: row.try_get("name")?,
                    changes: Vec::new(),
                };
                list(&mut tx, job, &mut listed, item).await?;
            }
        }
        sqlx::query("DELETE FROM dry_run_seen WHERE job_id = $1")
            .bind(job)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(unseen)
    }

    /// A page of what dry run `job` would do, in the order it was found;
    /// `None` when the job listed nothing.
    pub async fn dry_run_listing(
        &self,
        job: i64,
        offset: i64,
        limit: i64,
    ) -> Result<Option<DryRunListing>, sqlx::Error> {
        let totals = sqlx::query(
            "SELECT t.action, t.kind, t.total, CAST((SELECT COUNT(*) FROM dry_run_items i \
             WHERE i.job_id = t.job_id AND i.action = t.action AND i.kind = t.kind) AS BIGINT) AS listed \
             FROM dry_run_totals t WHERE t.job_id = $1 ORDER BY t.kind, t.action",
        )
        .bind(job)
        .fetch_all(self.pool())
        .await?;
        if totals.is_empty() {
            return Ok(None);
        }
        let totals = totals
            .iter()
            .map(|row| {
                Ok(DryRunTotal {
                    action: row.try_get("action")?,
                    kind: row.try_get("kind")?,
                    total: row.try_get("total")?,
                    listed: row.try_get("listed")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let rows = sqlx::query(
            "SELECT action, kind, external_id, name, changes_json FROM dry_run_items \
             WHERE job_id = $1 ORDER BY seq LIMIT $2 OFFSET $3",
        )
        .bind(job)
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await?;
        let items = rows
            .iter()
            .map(|row| {
                let changes: String = row.try_get("changes_json")?;
                Ok(DryRunItem {
                    action: row.try_get("action")?,
                    kind: row.try_get("kind")?,
                    external_id: row.try_get("external_id")?,
                    name: row.try_get("name")?,
                    changes: serde_json::from_str(&changes).unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let listed: i64 = totals.iter().map(|t| t.listed).sum();
        let total: i64 = totals.iter().map(|t| t.total).sum();
        Ok(Some(DryRunListing {
            totals,
            listed,
            more: total - listed,
            items,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_named_like_secrets_are_hidden_and_secret_values_redacted() {
        for name in [
            "password",
            "unicodePwd",
            "client_secret",
            "api_token",
            "Credentials",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["mail", "displayName", "title"] {
            assert!(!is_secret_name(name), "{name}");
        }
        let secrets = Secrets::new(["s3cret-Value"]);
        let old = json!({"unicodePwd": "a", "note": "x"});
        let new = json!({"unicodePwd": "b", "note": "has s3cret-Value in it"});
        let found = changes(old.as_object().unwrap(), new.as_object().unwrap(), &secrets);
        assert_eq!(found[0].field, "note");
        assert_eq!(found[0].new.as_deref(), Some("has [redacted] in it"));
        assert_eq!(found[1].old.as_deref(), Some(HIDDEN));
        assert_eq!(found[1].new.as_deref(), Some(HIDDEN));
        let long = json!({"note": "y".repeat(500)});
        let cut = changes(
            old.as_object().unwrap(),
            long.as_object().unwrap(),
            &secrets,
        );
        let note = cut.iter().find(|c| c.field == "note").unwrap();
        assert_eq!(note.new.as_ref().unwrap().chars().count(), MAX_VALUE + 1);
    }
}
