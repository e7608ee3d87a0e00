//! The local copies of synced records: directory users and groups (through
//! `store::directory`), work orders (through `store::work_orders`), their
//! comments (through `store::work_order_comments`), and `synced_records`
//! for every other kind.
//!
//! A page of records and the cursor after it are applied in one
//! transaction ([`Store::apply_page`]): an interrupted sync resumes from the
//! last page that was committed, and loses or repeats nothing.
//!
//! A record whose version equals the stored one is skipped. Records from
//! webhook deliveries ([`Versions::NewerOnly`]) are also skipped when their
//! version is older than the stored one (see `store::versions` for the
//! ordering): a delivery can arrive late, out of order, or be replayed by
//! whoever captured it, and must not put an older copy back. A sync's pages
//! are the remote's state as it reads it, and are applied unless equal
//! ([`Versions::AsRead`]): some versions only order within one server (a
//! directory's USNs after a change of domain controller), and a sync must
//! be able to bring the copy back in line.

use std::collections::HashMap;

use serde_json::{Map, Value};
use sqlx::{AnyConnection, Row};

use super::directory::{self, UserColumns};
use super::params::Params;
use super::staged_deletions;
use super::sync_logs::RecordCounts;
use super::versions;
use super::work_order_comments::{self, Applied};
use super::{Store, now_millis};
use crate::runtime::types::Record;

/// The table a kind lives in and the columns that identify a row there.
fn table_of(kind: &str) -> (&'static str, bool) {
    match kind {
        "user" => ("directory_users", false),
        "group" => ("directory_groups", false),
        // Work orders are found through their links: one work order can be
        // linked to items in several systems.
        "work-order" => ("work_order_links", false),
        // Comments too, through theirs (which keep no version).
        work_order_comments::KIND => ("work_order_comment_links", false),
        _ => ("synced_records", true),
    }
}

/// The stored version column of a table from [`table_of`].
fn version_column(table: &str) -> &'static str {
    match table {
        "work_order_comment_links" => "CAST(NULL AS TEXT)",
        _ => "version",
    }
}

async fn delete(
    conn: &mut AnyConnection,
    integration_id: i64,
    record: &Record,
) -> Result<bool, sqlx::Error> {
    if record.kind == "work-order" {
        return super::work_orders::delete_remote(conn, integration_id, &record.external_id).await;
    }
    if record.kind == work_order_comments::KIND {
        return work_order_comments::delete_remote_comment(
            conn,
            integration_id,
            &record.external_id,
        )
        .await;
    }
    let (table, by_kind) = table_of(&record.kind);
    directory::changes::record_deletion(conn, table, integration_id, &record.external_id).await?;
    let sql = if by_kind {
        format!("DELETE FROM {table} WHERE integration_id = $1 AND external_id = $2 AND kind = $3")
    } else {
        format!("DELETE FROM {table} WHERE integration_id = $1 AND external_id = $2")
    };
    let mut query = sqlx::query(&sql)
        .bind(integration_id)
        .bind(&record.external_id);
    if by_kind {
        query = query.bind(&record.kind);
    }
    let done = query.execute(&mut *conn).await?;
    if record.kind == "group" {
        directory::forget_members(conn, integration_id, &record.external_id).await?;
    }
    Ok(done.rows_affected() > 0)
}

/// Writes a record other than a user (`apply_records` writes those in
/// batches); returns whether it was created (`Some(true)`), updated
/// (`Some(false)`), or neither (`None`: a comment that did not change, or
/// that has no work order here to attach to). `changed` is false for a
/// group read again with its version unchanged, only to restate its
/// members.
async fn upsert(
    conn: &mut AnyConnection,
    integration_id: i64,
    record: &Record,
    fields: &Map<String, Value>,
    seen: Option<i64>,
    (existed, changed): (bool, bool),
) -> Result<Option<bool>, sqlx::Error> {
    match record.kind.as_str() {
        "group" => {
            directory::upsert_group(
                conn,
                integration_id,
                record,
                fields,
                seen,
                (existed, changed),
            )
            .await?;
        }
        "work-order" => {
            super::work_orders::apply_remote(conn, integration_id, record, fields).await?;
        }
        work_order_comments::KIND => {
            return Ok(
                match work_order_comments::apply_remote_comment(
                    conn,
                    integration_id,
                    record,
                    fields,
                )
                .await?
                {
                    Applied::Created => Some(true),
                    Applied::Updated => Some(false),
                    Applied::Unchanged | Applied::Skipped => None,
                },
            );
        }
        _ => {
            let all = Value::Object(fields.clone()).to_string();
            sqlx::query(
                "INSERT INTO synced_records (integration_id, kind, external_id, fields_json, version, synced_at, seen_job) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (integration_id, kind, external_id) DO UPDATE \
                 SET fields_json = excluded.fields_json, version = excluded.version, synced_at = excluded.synced_at, \
                 seen_job = COALESCE(excluded.seen_job, synced_records.seen_job)",
            )
            .bind(integration_id)
            .bind(&record.kind)
            .bind(&record.external_id)
            .bind(all)
            .bind(&record.version)
            .bind(now_millis())
            .bind(seen)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(Some(!existed))
}

/// The stored versions of `records` (all of one kind), by external id,
/// and for users whether each is enabled: one query per few hundred
/// records instead of one per record.
async fn stored_versions(
    conn: &mut AnyConnection,
    integration_id: i64,
    kind: &str,
    ids: &[&str],
) -> Result<(HashMap<String, Option<String>>, HashMap<String, bool>), sqlx::Error> {
    let (table, by_kind) = table_of(kind);
    let mut found = HashMap::new();
    let mut enabled = HashMap::new();
    let enabled_column = if table == "directory_users" {
        "enabled"
    } else {
        "CAST(NULL AS BIGINT)"
    };
    for chunk in ids.chunks(400) {
        let mut params = Params::on(conn);
        let integration = params.next();
        let of_kind = if by_kind {
            format!(" AND kind = {}", params.next())
        } else {
            String::new()
        };
        let sql = format!(
            "SELECT external_id, {} AS v, {enabled_column} AS e FROM {table} \
             WHERE integration_id = {integration}{of_kind} AND external_id IN ({})",
            version_column(table),
            params.list(chunk.len())
        );
        let mut query = sqlx::query(&sql).bind(integration_id);
        if by_kind {
            query = query.bind(kind);
        }
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let id: String = row.try_get("external_id")?;
            if let Some(e) = row.try_get::<Option<i64>, _>("e")? {
                enabled.insert(id.clone(), e != 0);
            }
            found.insert(id, row.try_get("v")?);
        }
    }
    Ok((found, enabled))
}

/// Marks unchanged records as seen by `job`, a few hundred per statement.
async fn mark_seen_batch(
    conn: &mut AnyConnection,
    integration_id: i64,
    kind: &str,
    ids: &[&str],
    job: i64,
) -> Result<(), sqlx::Error> {
    let (table, by_kind) = table_of(kind);
    if table == "work_order_links" || table == "work_order_comment_links" {
        return Ok(());
    }
    for chunk in ids.chunks(400) {
        let mut params = Params::on(conn);
        let (seen, integration) = (params.next(), params.next());
        let of_kind = if by_kind {
            format!(" AND kind = {}", params.next())
        } else {
            String::new()
        };
        let sql = format!(
            "UPDATE {table} SET seen_job = {seen} WHERE integration_id = {integration}{of_kind} \
             AND external_id IN ({})",
            params.list(chunk.len())
        );
        let mut query = sqlx::query(&sql).bind(job).bind(integration_id);
        if by_kind {
            query = query.bind(kind);
        }
        for id in chunk {
            query = query.bind(*id);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Which records [`apply_records`] skips, by their version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Versions {
    /// A sync's page: skipped only when the version is the stored one.
    AsRead,
    /// A webhook delivery's records: skipped unless their version is newer
    /// than the stored one, or cannot be ordered with it.
    NewerOnly,
}

impl Versions {
    fn skips(self, stored: Option<&str>, incoming: Option<&str>) -> bool {
        match self {
            Versions::AsRead => versions::same(stored, incoming),
            Versions::NewerOnly => versions::not_newer(stored, incoming),
        }
    }
}

/// What a record stated deleted does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Deletions {
    /// Deletes it at once (a full sync's pages, a webhook delivery).
    Apply,
    /// Stages a directory user or group or a generic record for the end of
    /// this incremental job, where the deletion guard decides
    /// (`store::staged_deletions`). Work orders and comments are deleted
    /// at once.
    StageFor(i64),
}

/// Applies records in the caller's transaction; with a job, marks them
/// seen by it.
pub(super) async fn apply_records(
    conn: &mut AnyConnection,
    integration_id: i64,
    job: Option<i64>,
    records: &[Record],
    rule: Versions,
    deletions: Deletions,
) -> Result<RecordCounts, sqlx::Error> {
    let mut counts = RecordCounts {
        read: records.len() as i64,
        ..RecordCounts::default()
    };
    let mut kinds: Vec<&str> = records.iter().map(|r| r.kind.as_str()).collect();
    // Comments last: a comment on a work order that came in the same page
    // finds the work order's link.
    kinds.sort_unstable_by_key(|kind| (*kind == work_order_comments::KIND, *kind));
    kinds.dedup();
    for kind in kinds {
        let of_kind: Vec<&Record> = records.iter().filter(|r| r.kind == kind).collect();
        let ids: Vec<&str> = of_kind.iter().map(|r| r.external_id.as_str()).collect();
        let (mut stored, enabled) = stored_versions(conn, integration_id, kind, &ids).await?;
        let mut unchanged: Vec<&str> = Vec::new();
        let mut users: Vec<directory::UserWrite> = Vec::new();
        for record in of_kind {
            let before = stored.get(&record.external_id);
            let stored_version = before.and_then(Option::as_deref);
            if record.deleted
                && rule == Versions::NewerOnly
                && versions::not_newer(stored_version, record.version.as_deref())
            {
                // A deletion older than what is stored: the record came
                // back since.
                continue;
            }
            if record.deleted {
                // A write of the same user earlier in the page must not
                // outlive its deletion.
                users.retain(|(pending, ..)| pending.external_id != record.external_id);
                match deletions {
                    Deletions::StageFor(job) if staged_deletions::stages(kind) => {
                        if stored.contains_key(&record.external_id) {
                            staged_deletions::stage(conn, integration_id, job, record).await?;
                        }
                    }
                    _ => {
                        if delete(conn, integration_id, record).await? {
                            counts.deleted += 1;
                        }
                    }
                }
                stored.remove(&record.external_id);
                continue;
            }
            let unchanged_version = rule.skips(stored_version, record.version.as_deref());
            let created = if kind == "user" {
                // Only the columns are read, and users are written together
                // below: a page is mostly users.
                let Some(columns) = UserColumns::parse(&record.fields) else {
                    counts.failed += 1;
                    continue;
                };
                if unchanged_version {
                    unchanged.push(&record.external_id);
                    continue;
                }
                let was_enabled =
                    before.map(|_| enabled.get(&record.external_id).copied().unwrap_or(true));
                users.push((record, columns, was_enabled));
                Some(before.is_none())
            } else {
                let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&record.fields)
                else {
                    counts.failed += 1;
                    continue;
                };
                // A group's members are restated whenever a sync reads it,
                // whatever its version: Active Directory removes a deleted
                // member from a group without bumping the group's uSNChanged,
                // so an unchanged version does not mean unchanged members.
                // (A delivery's stale group is skipped like any record.)
                if unchanged_version && (kind != "group" || rule == Versions::NewerOnly) {
                    unchanged.push(&record.external_id);
                    continue;
                }
                let written = upsert(
                    conn,
                    integration_id,
                    record,
                    &fields,
                    job,
                    (before.is_some(), !unchanged_version),
                )
                .await?;
                if unchanged_version {
                    // Read again, members restated; not counted as a change.
                    continue;
                }
                written
            };
            match created {
                Some(true) => counts.created += 1,
                Some(false) => counts.updated += 1,
                None => {}
            }
            stored.insert(record.external_id.clone(), record.version.clone());
        }
        directory::upsert_users(conn, integration_id, &users, job).await?;
        if let Some(job) = job
            && !unchanged.is_empty()
        {
            mark_seen_batch(conn, integration_id, kind, &unchanged, job).await?;
        }
    }
    Ok(counts)
}

impl Store {
    /// Applies one page of records and stores `cursor` as the integration's
    /// sync cursor (and, with a job, as the job's resume point), all in one
    /// transaction. A record whose fields are not a JSON object is counted
    /// as failed and skipped.
    pub async fn apply_page(
        &self,
        integration_id: i64,
        job: Option<i64>,
        records: &[Record],
        cursor: Option<&str>,
    ) -> Result<RecordCounts, sqlx::Error> {
        self.apply_job_page(integration_id, job, records, cursor, false)
            .await
    }

    /// [`Store::apply_page`] for a job's last page: the job is marked as read
    /// to the end in the same transaction, so a job resumed after its node
    /// died goes straight to finishing instead of reading past the end.
    pub async fn apply_last_page(
        &self,
        integration_id: i64,
        job: i64,
        records: &[Record],
        cursor: Option<&str>,
    ) -> Result<RecordCounts, sqlx::Error> {
        self.apply_job_page(integration_id, Some(job), records, cursor, true)
            .await
    }

    async fn apply_job_page(
        &self,
        integration_id: i64,
        job: Option<i64>,
        records: &[Record],
        cursor: Option<&str>,
        last: bool,
    ) -> Result<RecordCounts, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        // An incremental job's deletions wait for its end, where the
        // deletion guard counts them all; a full sync's pages state none.
        let deletions = match job {
            Some(job) => {
                let mode: Option<String> =
                    sqlx::query_scalar("SELECT mode FROM jobs WHERE id = $1")
                        .bind(job)
                        .fetch_optional(&mut *tx)
                        .await?;
                if mode.as_deref() == Some("incremental") {
                    Deletions::StageFor(job)
                } else {
                    Deletions::Apply
                }
            }
            None => Deletions::Apply,
        };
        let counts = apply_records(
            &mut tx,
            integration_id,
            job,
            records,
            Versions::AsRead,
            deletions,
        )
        .await?;
        sqlx::query("UPDATE integrations SET sync_cursor = $1 WHERE id = $2")
            .bind(cursor)
            .bind(integration_id)
            .execute(&mut *tx)
            .await?;
        if let Some(job) = job {
            sqlx::query(
                "UPDATE jobs SET cursor = $1, pages_done = pages_done + 1, read_done = $2 \
                 WHERE id = $3",
            )
            .bind(cursor)
            .bind(i64::from(last))
            .bind(job)
            .execute(&mut *tx)
            .await?;
            // The open log entry counts what is committed, so an attempt cut
            // short still says what it saved.
            sqlx::query(
                "UPDATE integration_sync_logs SET records_read = records_read + $1, \
                 records_created = records_created + $2, records_updated = records_updated + $3, \
                 records_deleted = records_deleted + $4, records_failed = records_failed + $5 \
                 WHERE job_id = $6 AND status = 'running'",
            )
            .bind(counts.read)
            .bind(counts.created)
            .bind(counts.updated)
            .bind(counts.deleted)
            .bind(counts.failed)
            .bind(job)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(counts)
    }

    /// How many local records of each table came from an integration.
    pub async fn synced_counts(
        &self,
        integration_id: i64,
    ) -> Result<Vec<(String, i64)>, sqlx::Error> {
        let mut out = Vec::new();
        for (label, table) in [
            ("directory users", "directory_users"),
            ("directory groups", "directory_groups"),
            ("work orders", "work_order_links"),
            ("other records", "synced_records"),
        ] {
            let row = sqlx::query(&format!(
                "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM {table} WHERE integration_id = $1"
            ))
            .bind(integration_id)
            .fetch_one(self.pool())
            .await?;
            out.push((label.to_owned(), row.try_get("n")?));
        }
        Ok(out)
    }
}
