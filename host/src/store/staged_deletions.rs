//! The deletion guard for incremental syncs (decision 0033).
//!
//! A full sync finds deletions at its end, by what it did not see
//! (`store::deletions`). An incremental sync is told of them record by
//! record: Active Directory's Deleted Objects, a connector's deleted
//! records. A mistake upstream (a script that deletes an OU, a restore gone
//! wrong) arrives that way too, so those deletions pass the same threshold:
//! each page stages its deletions in `staged_deletions`, in the page's own
//! transaction (a job resumed after a crash keeps what its committed pages
//! staged), and [`Store::end_incremental_sync`] applies them all, or holds
//! them all for approval, when the job has read its last page.
//!
//! A staged record's `seen_job` is cleared, so that a write of it later in
//! the same job (the object came back) or by a later job wins over the
//! staged deletion, and an approval deletes it only if nothing wrote it
//! since.

use sqlx::AnyConnection;

use super::Store;
use super::deletions::{FullSyncEnd, Pending, TABLES, qualified_kind};
use crate::runtime::types::Record;

/// Whether deletions of `kind` are staged: those a full sync would delete
/// (directory users and groups, generic records), not work orders or
/// comments, which are never deleted in bulk.
pub(super) fn stages(kind: &str) -> bool {
    TABLES.iter().any(|(table, _, _)| *table == table_of(kind))
}

fn table_of(kind: &str) -> &'static str {
    match kind {
        "user" => "directory_users",
        "group" => "directory_groups",
        "work-order" | super::work_order_comments::KIND => "",
        _ => "synced_records",
    }
}

/// The SQL that picks the rows of `table` staged by job `$2`: the
/// `kind` expression of [`TABLES`] against the staged kind.
fn staged_rows(table: &str, kind: &str) -> String {
    let kind = qualified_kind(table, kind);
    format!(
        "integration_id = $1 AND EXISTS (SELECT 1 FROM staged_deletions s WHERE s.job_id = $2 \
         AND s.kind = {kind} AND s.external_id = {table}.external_id) \
         AND (seen_job IS NULL OR seen_job <> $2)"
    )
}

/// Stages the deletion of a stored record, in the page's transaction.
pub(super) async fn stage(
    conn: &mut AnyConnection,
    integration_id: i64,
    job: i64,
    record: &Record,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO staged_deletions (job_id, integration_id, kind, external_id) \
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(job)
    .bind(integration_id)
    .bind(&record.kind)
    .bind(&record.external_id)
    .execute(&mut *conn)
    .await?;
    let table = table_of(&record.kind);
    let by_kind = if table == "synced_records" {
        " AND kind = $3"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE {table} SET seen_job = NULL WHERE integration_id = $1 AND external_id = $2{by_kind}"
    );
    let mut query = sqlx::query(&sql)
        .bind(integration_id)
        .bind(&record.external_id);
    if table == "synced_records" {
        query = query.bind(&record.kind);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

impl Store {
    /// After an incremental job's last page: deletes the records its pages
    /// stated deleted that are still stored and were not written again
    /// since, unless they are more than the threshold allows: then they
    /// replace the pending set (as a full sync's finding would) and wait
    /// for approval, and nothing is deleted. Within the threshold, a
    /// pending set of an earlier full sync stays as it is.
    pub async fn end_incremental_sync(
        &self,
        integration_id: i64,
        job: i64,
    ) -> Result<FullSyncEnd, sqlx::Error> {
        // Most incremental syncs are told of no deletion. The queries below
        // look for staged rows from the records' side, a scan of everything
        // the integration holds (about 120 ms for 100,000 users, every few
        // minutes): ask the staging table, by its key, first.
        let staged: i64 = sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM staged_deletions WHERE job_id = $1",
        )
        .bind(job)
        .fetch_one(self.pool())
        .await?;
        if staged == 0 {
            return Ok(FullSyncEnd::Deleted(0));
        }
        self.end_sync_deletions(
            (integration_id, job),
            Pending::Keep,
            staged_rows,
            Some("DELETE FROM staged_deletions WHERE job_id = $1"),
        )
        .await
    }
}
