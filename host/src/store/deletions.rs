//! The deletion guard (decision 0033): what a complete full sync deletes,
//! and what it holds back for an admin instead.
//!
//! A full sync deletes the records it did not see. When a directory's
//! search base is mistyped, an OU is moved away, or the bind account loses
//! its read rights, "not seen" is nearly everything, and a sync would wipe
//! the users (and with them directory sign-in) in one go. So each
//! integration has a threshold, an object count and a share of what it
//! holds, the stricter applying; a sync that would delete more stores the
//! records it would delete in `pending_deletions` and deletes nothing.
//! An admin then approves (exactly those records go, unless a later sync
//! saw them again) or discards (they stay). A later full sync replaces the
//! pending set with its own (or with nothing, when it deletes within the
//! threshold), so what waits is always the latest finding.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::directory::changes;
use super::{Store, now_millis};

/// An integration's threshold. 0 turns a limit off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct DeletionLimits {
    /// Hold a full sync's deletions when they are more than this many.
    pub max_objects: i64,
    /// ...or more than this percentage of the integration's users (of all
    /// its records when it holds no directory users): see [`deletion_base`].
    pub max_percent: i64,
}

impl Default for DeletionLimits {
    /// 500 objects (Entra Connect's default) or 10 %.
    fn default() -> Self {
        Self {
            max_objects: 500,
            max_percent: 10,
        }
    }
}

/// The largest object count an admin can set.
pub const MAX_OBJECTS: i64 = 1_000_000;

impl DeletionLimits {
    /// The most deletions allowed without approval when the integration
    /// holds `held` records; `None` when both limits are off. The share is
    /// rounded up: deleting one record is never a mass deletion, and a
    /// directory of a few entries must not need approval for each.
    pub fn allowed(&self, held: i64) -> Option<i64> {
        let by_count = (self.max_objects > 0).then_some(self.max_objects);
        let by_share = (self.max_percent > 0).then(|| (held.max(0) * self.max_percent + 99) / 100);
        match (by_count, by_share) {
            (Some(count), Some(share)) => Some(count.min(share)),
            (count, share) => count.or(share),
        }
    }

    /// Whether deleting `deleting` of `held` records needs approval.
    pub fn exceeded_by(&self, deleting: i64, held: i64) -> bool {
        self.allowed(held).is_some_and(|max| deleting > max)
    }
}

/// How a complete full sync ended its deletions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FullSyncEnd {
    /// Deleted this many records (within the threshold).
    Deleted(i64),
    /// Held this many for approval; `allowed` is what the threshold allowed.
    Held { count: i64, allowed: i64 },
}

/// A record a full sync would delete.
#[derive(Clone, Debug, Serialize)]
pub struct PendingDeletion {
    /// `user`, `group`, or the kind of another record.
    pub kind: String,
    pub external_id: String,
    /// A user's username, a group's name, else the external id.
    pub name: String,
    pub dn: Option<String>,
}

/// The deletions waiting for an integration's admin, a page of them.
#[derive(Clone, Debug, Serialize)]
pub struct PendingSet {
    /// The full sync that found them.
    pub job_id: i64,
    pub held_at: i64,
    pub total: i64,
    pub items: Vec<PendingDeletion>,
}

/// What an admin's decision did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Decided {
    pub job_id: i64,
    /// Records that were pending.
    pub pending: i64,
    /// Records deleted (0 on discard): the pending ones still present and
    /// not seen since.
    pub deleted: i64,
}

/// Why a decision was not taken.
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    #[error("no deletions are waiting for approval")]
    NothingPending,
    #[error(
        "the deletions waiting are those of job {current}, not job {asked}: a later full sync replaced them; review the list again"
    )]
    Replaced { asked: i64, current: i64 },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The records of an integration a full sync by `job` did not see, in
/// every table a full sync deletes from.
const UNSEEN: &str = "(seen_job IS NULL OR seen_job <> $2)";

/// The tables a full sync deletes from, with the `kind` expression and
/// the name column their records are listed under (in the pending list,
/// and in a full dry run's deletions).
pub(super) const TABLES: [(&str, &str, &str); 3] = [
    ("directory_users", "'user'", "username"),
    ("directory_groups", "'group'", "name"),
    ("synced_records", "kind", "external_id"),
];

async fn count(
    conn: &mut AnyConnection,
    sql: &str,
    integration_id: i64,
    job: Option<i64>,
) -> Result<i64, sqlx::Error> {
    let mut query = sqlx::query_scalar::<_, i64>(sql).bind(integration_id);
    if let Some(job) = job {
        query = query.bind(job);
    }
    query.fetch_one(&mut *conn).await
}

/// Ends the pending set of an integration (if any), marking its job
/// `status`.
async fn close_pending(
    conn: &mut AnyConnection,
    integration_id: i64,
    status: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE jobs SET status = $1 WHERE status = 'needs_approval' AND id IN \
         (SELECT DISTINCT job_id FROM pending_deletions WHERE integration_id = $2)",
    )
    .bind(status)
    .bind(integration_id)
    .execute(&mut *conn)
    .await?;
    // A held job whose set is gone (a sync held nothing new) is superseded too.
    sqlx::query(
        "UPDATE jobs SET status = 'superseded' WHERE status = 'needs_approval' AND integration_id = $1",
    )
    .bind(integration_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM pending_deletions WHERE integration_id = $1")
        .bind(integration_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// What the threshold's percentage is taken of: the integration's
/// directory users, as the admin thinks of a directory's size (Entra
/// Connect and the issue that asked for the guard count users); for an
/// integration that holds no users (a Jira, a REST source), all the records
/// it holds.
async fn deletion_base(conn: &mut AnyConnection, integration_id: i64) -> Result<i64, sqlx::Error> {
    let users = count(
        conn,
        "SELECT CAST(COUNT(*) AS BIGINT) FROM directory_users WHERE integration_id = $1",
        integration_id,
        None,
    )
    .await?;
    if users > 0 {
        return Ok(users);
    }
    let mut all = 0;
    for (table, _, _) in TABLES {
        all += count(
            conn,
            &format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table} WHERE integration_id = $1"),
            integration_id,
            None,
        )
        .await?;
    }
    Ok(all)
}

/// Replaces the pending set of an integration with the records job `job`
/// holds back: the rows of each of [`TABLES`] that `rows(table, kind)`
/// picks (an SQL condition over `$1`, the integration, and `$2`, the job).
async fn hold(
    conn: &mut AnyConnection,
    integration_id: i64,
    job: i64,
    rows: &impl Fn(&str, &str) -> String,
) -> Result<(), sqlx::Error> {
    close_pending(conn, integration_id, "superseded").await?;
    let now = now_millis();
    for (table, kind, name) in TABLES {
        let dn = if table == "synced_records" {
            "CAST(NULL AS TEXT)"
        } else {
            "dn"
        };
        sqlx::query(&format!(
            "INSERT INTO pending_deletions (integration_id, job_id, held_at, kind, external_id, name, dn) \
             SELECT integration_id, $2, $3, {kind}, external_id, {name}, {dn} FROM {table} \
             WHERE {}",
            rows(table, kind)
        ))
        .bind(integration_id)
        .bind(job)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// What deleting within the threshold does to a pending set.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Pending {
    /// Replaces it (a full sync's finding is the latest word).
    Replace,
    /// Leaves it (an incremental sync saw only what it was told).
    Keep,
}

/// The `kind` expression of a [`TABLES`] entry as it reads inside a
/// subquery: a column (`kind`) qualified by `table` (or its alias), a
/// constant as it is.
pub(super) fn qualified_kind(table: &str, kind: &str) -> String {
    if kind == "kind" {
        format!("{table}.kind")
    } else {
        kind.to_owned()
    }
}

/// The end of a sync's deletions, in the caller's transaction: the records
/// of each of [`TABLES`] that `rows(table, kind)` picks (an SQL condition
/// over `$1`, the integration, and `$2`, the job) are held for approval
/// when they are more than `limits` allow, else deleted with the
/// memberships of the groups among them.
async fn end_deletions(
    conn: &mut AnyConnection,
    (integration_id, job): (i64, i64),
    limits: DeletionLimits,
    pending: Pending,
    rows: impl Fn(&str, &str) -> String,
) -> Result<FullSyncEnd, sqlx::Error> {
    let mut found = 0;
    for (table, kind, _) in TABLES {
        found += count(
            conn,
            &format!(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM {table} WHERE {}",
                rows(table, kind)
            ),
            integration_id,
            Some(job),
        )
        .await?;
    }
    let base = deletion_base(conn, integration_id).await?;
    if found > 0 && limits.exceeded_by(found, base) {
        hold(conn, integration_id, job, &rows).await?;
        return Ok(FullSyncEnd::Held {
            count: found,
            allowed: limits.allowed(base).unwrap_or(0),
        });
    }
    if pending == Pending::Replace {
        close_pending(conn, integration_id, "superseded").await?;
    }
    sqlx::query(&format!(
        "DELETE FROM directory_group_members WHERE integration_id = $1 AND group_external_id IN \
         (SELECT external_id FROM directory_groups WHERE {})",
        rows("directory_groups", "'group'")
    ))
    .bind(integration_id)
    .bind(job)
    .execute(&mut *conn)
    .await?;
    let mut deleted = 0;
    for (table, kind, _) in TABLES {
        if let Some(sql) = changes::rows_sql(table, "deleted", &rows(table, kind)) {
            sqlx::query(&sql)
                .bind(integration_id)
                .bind(job)
                .execute(&mut *conn)
                .await?;
        }
        let done = sqlx::query(&format!("DELETE FROM {table} WHERE {}", rows(table, kind)))
            .bind(integration_id)
            .bind(job)
            .execute(&mut *conn)
            .await?;
        deleted += done.rows_affected() as i64;
    }
    Ok(FullSyncEnd::Deleted(deleted))
}

impl Store {
    /// What the threshold's percentage of an integration is taken of (see
    /// [`deletion_base`]).
    pub async fn deletion_base(&self, integration_id: i64) -> Result<i64, sqlx::Error> {
        let mut conn = self.pool().acquire().await?;
        deletion_base(&mut conn, integration_id).await
    }

    /// An integration's threshold (the defaults when none was set).
    pub async fn deletion_limits(
        &self,
        integration_id: i64,
    ) -> Result<DeletionLimits, sqlx::Error> {
        let row = sqlx::query(
            "SELECT max_objects, max_percent FROM integration_deletion_limits WHERE integration_id = $1",
        )
        .bind(integration_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(row) => DeletionLimits {
                max_objects: row.try_get("max_objects")?,
                max_percent: row.try_get("max_percent")?,
            },
            None => DeletionLimits::default(),
        })
    }

    pub async fn set_deletion_limits(
        &self,
        integration_id: i64,
        limits: DeletionLimits,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO integration_deletion_limits (integration_id, max_objects, max_percent) \
             VALUES ($1, $2, $3) ON CONFLICT (integration_id) DO UPDATE \
             SET max_objects = excluded.max_objects, max_percent = excluded.max_percent",
        )
        .bind(integration_id)
        .bind(limits.max_objects)
        .bind(limits.max_percent)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// After a complete full sync by `job`: deletes the directory users and
    /// groups (with their memberships) and generic records of the
    /// integration that the job did not see, unless they are more than
    /// the threshold allows: then they are held for approval instead, and
    /// nothing is deleted. Either way an earlier pending set is replaced.
    /// Work orders are never deleted this way: they may have been created
    /// here.
    pub async fn end_full_sync(
        &self,
        integration_id: i64,
        job: i64,
    ) -> Result<FullSyncEnd, sqlx::Error> {
        self.end_sync_deletions(
            (integration_id, job),
            Pending::Replace,
            |_, _| format!("integration_id = $1 AND {UNSEEN}"),
            None,
        )
        .await
    }

    /// Ends the deletions of sync `job` in a transaction of its own, under
    /// the integration's threshold (see [`end_deletions`] for `pending`
    /// and `rows`). `then`, when given, is a statement over `$1`, the job,
    /// run in the same transaction.
    pub(super) async fn end_sync_deletions(
        &self,
        (integration_id, job): (i64, i64),
        pending: Pending,
        rows: impl Fn(&str, &str) -> String,
        then: Option<&str>,
    ) -> Result<FullSyncEnd, sqlx::Error> {
        let limits = self.deletion_limits(integration_id).await?;
        let mut tx = self.begin_write().await?;
        let end = end_deletions(&mut tx, (integration_id, job), limits, pending, rows).await?;
        if let Some(sql) = then {
            sqlx::query(sql).bind(job).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(end)
    }

    /// A page of the deletions waiting for approval, by kind and name;
    /// `None` when nothing waits.
    pub async fn pending_deletions(
        &self,
        integration_id: i64,
        offset: i64,
        limit: i64,
    ) -> Result<Option<PendingSet>, sqlx::Error> {
        let head = sqlx::query(
            "SELECT job_id, MIN(held_at) AS held_at, CAST(COUNT(*) AS BIGINT) AS total \
             FROM pending_deletions WHERE integration_id = $1 GROUP BY job_id",
        )
        .bind(integration_id)
        .fetch_optional(self.pool())
        .await?;
        let Some(head) = head else {
            return Ok(None);
        };
        let rows = sqlx::query(
            "SELECT kind, external_id, name, dn FROM pending_deletions WHERE integration_id = $1 \
             ORDER BY kind, name, external_id LIMIT $2 OFFSET $3",
        )
        .bind(integration_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await?;
        let items = rows
            .iter()
            .map(|row| {
                Ok(PendingDeletion {
                    kind: row.try_get("kind")?,
                    external_id: row.try_get("external_id")?,
                    name: row.try_get("name")?,
                    dn: row.try_get("dn")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(Some(PendingSet {
            job_id: head.try_get("job_id")?,
            held_at: head.try_get("held_at")?,
            total: head.try_get("total")?,
            items,
        }))
    }

    /// The job and size of the pending set, checked against the job the
    /// admin reviewed.
    async fn pending_head(
        conn: &mut AnyConnection,
        integration_id: i64,
        reviewed_job: i64,
    ) -> Result<(i64, i64, i64), DecisionError> {
        let head = sqlx::query(
            "SELECT job_id, MIN(held_at) AS held_at, CAST(COUNT(*) AS BIGINT) AS total \
             FROM pending_deletions WHERE integration_id = $1 GROUP BY job_id",
        )
        .bind(integration_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(DecisionError::NothingPending)?;
        let job: i64 = head.try_get("job_id")?;
        if job != reviewed_job {
            return Err(DecisionError::Replaced {
                asked: reviewed_job,
                current: job,
            });
        }
        Ok((job, head.try_get("held_at")?, head.try_get("total")?))
    }

    /// Deletes the held records of job `reviewed_job` that are still
    /// present and still unseen: not seen by that job's or a later sync,
    /// and not written since they were held. Memberships are rebuilt and
    /// directory accounts reconciled as after a sync. The caller audits.
    pub async fn approve_deletions(
        &self,
        integration_id: i64,
        reviewed_job: i64,
    ) -> Result<Decided, DecisionError> {
        let mut tx = self.begin_write().await?;
        let (job, held_at, pending) =
            Self::pending_head(&mut tx, integration_id, reviewed_job).await?;
        // Still unseen: no sync since the hold saw it (job ids grow), and
        // nothing wrote it (a webhook delivery keeps `seen_job`).
        let still_unseen = "(seen_job IS NULL OR seen_job < $2) AND synced_at <= $3";
        sqlx::query(&format!(
            "DELETE FROM directory_group_members WHERE integration_id = $1 AND group_external_id IN \
             (SELECT external_id FROM directory_groups WHERE integration_id = $1 AND {still_unseen} \
              AND external_id IN (SELECT external_id FROM pending_deletions \
              WHERE integration_id = $1 AND kind = 'group'))"
        ))
        .bind(integration_id)
        .bind(job)
        .bind(held_at)
        .execute(&mut *tx)
        .await?;
        let mut deleted = 0;
        for (table, kind, _) in TABLES {
            let held = format!(
                "integration_id = $1 AND {still_unseen} AND EXISTS \
                 (SELECT 1 FROM pending_deletions p WHERE p.integration_id = $1 \
                  AND p.kind = {kind} AND p.external_id = {table}.external_id)",
                kind = qualified_kind(table, kind),
            );
            if let Some(sql) = changes::rows_sql(table, "deleted", &held) {
                sqlx::query(&sql)
                    .bind(integration_id)
                    .bind(job)
                    .bind(held_at)
                    .execute(&mut *tx)
                    .await?;
            }
            let done = sqlx::query(&format!("DELETE FROM {table} WHERE {held}"))
                .bind(integration_id)
                .bind(job)
                .bind(held_at)
                .execute(&mut *tx)
                .await?;
            deleted += done.rows_affected() as i64;
        }
        close_pending(&mut tx, integration_id, "approved").await?;
        tx.commit().await?;
        self.rebuild_memberships(integration_id).await?;
        self.reconcile_directory_accounts(integration_id, "system")
            .await?;
        Ok(Decided {
            job_id: job,
            pending,
            deleted,
        })
    }

    /// Keeps the held records of job `reviewed_job` and forgets the
    /// pending set. The caller audits.
    pub async fn discard_deletions(
        &self,
        integration_id: i64,
        reviewed_job: i64,
    ) -> Result<Decided, DecisionError> {
        let mut tx = self.begin_write().await?;
        let (job, _, pending) = Self::pending_head(&mut tx, integration_id, reviewed_job).await?;
        close_pending(&mut tx, integration_id, "discarded").await?;
        tx.commit().await?;
        Ok(Decided {
            job_id: job,
            pending,
            deleted: 0,
        })
    }

    /// Ends a job that held deletions, and says so on the integration.
    pub async fn hold_job(&self, id: i64, integration_id: i64) -> Result<(), sqlx::Error> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE jobs SET status = 'needs_approval', finished_at = $1, error = NULL, \
             lease_owner = NULL, lease_until = NULL WHERE id = $2",
        )
        .bind(now_millis())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE integrations SET last_sync_status = 'needs_approval' WHERE id = $1")
            .bind(integration_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
