//! `jobs`: syncs waiting to run, running, and done.
//!
//! A worker claims a queued job with a conditional update, so two workers
//! (or two nodes on one PostgreSQL) never both run it, and an integration
//! never has two syncs running at once.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Backend, Store, now_millis};

/// A sync job.
#[derive(Clone, Debug, Serialize)]
pub struct Job {
    pub id: i64,
    pub integration_id: i64,
    pub kind: String,
    pub trigger: String,
    pub mode: String,
    pub dry_run: bool,
    pub status: String,
    pub attempts: i64,
    pub requested_by: String,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
    /// Where the job resumes: the cursor after its last committed page.
    pub cursor: Option<String>,
    /// Pages committed so far.
    pub pages_done: i64,
    /// The connector's last page is committed: what is left is the end of
    /// the sync, not reading.
    pub read_done: bool,
    /// When the job is due (a retried job waits for its backoff).
    pub run_after: i64,
}

const COLUMNS: &str = "id, integration_id, kind, trigger, mode, dry_run, status, attempts, \
    requested_by, created_at, started_at, finished_at, error, cursor, pages_done, read_done, run_after";

fn job_from_row(row: &AnyRow) -> Result<Job, sqlx::Error> {
    Ok(Job {
        id: row.try_get("id")?,
        integration_id: row.try_get("integration_id")?,
        kind: row.try_get("kind")?,
        trigger: row.try_get("trigger")?,
        mode: row.try_get("mode")?,
        dry_run: row.try_get::<i64, _>("dry_run")? != 0,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        requested_by: row.try_get("requested_by")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        error: row.try_get("error")?,
        cursor: row.try_get("cursor")?,
        pages_done: row.try_get("pages_done")?,
        read_done: row.try_get::<i64, _>("read_done")? != 0,
        run_after: row.try_get("run_after")?,
    })
}

/// A job to queue.
pub struct NewJob<'a> {
    pub integration_id: i64,
    pub trigger: &'a str,
    pub mode: &'a str,
    pub dry_run: bool,
    pub requested_by: &'a str,
}

impl Store {
    /// Queues a sync, unless one is already queued or running for the
    /// integration: then returns that one (`false` = not newly queued).
    pub async fn enqueue_sync(&self, new: NewJob<'_>) -> Result<(Job, bool), sqlx::Error> {
        if let Some(pending) = self.pending_job(new.integration_id).await? {
            return Ok((pending, false));
        }
        let now = now_millis();
        let row = sqlx::query(
            "INSERT INTO jobs (integration_id, kind, trigger, mode, dry_run, status, run_after, \
             requested_by, created_at) VALUES ($1, 'sync', $2, $3, $4, 'queued', $5, $6, $5) RETURNING id",
        )
        .bind(new.integration_id)
        .bind(new.trigger)
        .bind(new.mode)
        .bind(new.dry_run as i64)
        .bind(now)
        .bind(new.requested_by)
        .fetch_one(self.pool())
        .await?;
        let id: i64 = row.try_get("id")?;
        let job = self.job(id).await?.expect("the job was just queued");
        Ok((job, true))
    }

    /// The queued or running job of an integration.
    pub async fn pending_job(&self, integration_id: i64) -> Result<Option<Job>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE integration_id = $1 AND status IN ('queued', 'running') \
             ORDER BY id LIMIT 1"
        ))
        .bind(integration_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    pub async fn job(&self, id: i64) -> Result<Option<Job>, sqlx::Error> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Claims the oldest due job whose integration has none running, for
    /// `owner` until `lease_ms` from now. On PostgreSQL the candidate row is
    /// locked with `FOR UPDATE SKIP LOCKED`, so nodes polling together pick
    /// different jobs instead of racing for one; on both, the update only
    /// succeeds while the job is still queued, so a job is never claimed twice.
    pub async fn claim_job(&self, owner: &str, lease_ms: i64) -> Result<Option<Job>, sqlx::Error> {
        let now = now_millis();
        const DUE: &str = "SELECT id FROM jobs j WHERE status = 'queued' AND run_after <= $1 AND NOT EXISTS \
             (SELECT 1 FROM jobs r WHERE r.integration_id = j.integration_id AND r.status = 'running') \
             ORDER BY run_after, id";
        const CLAIM: &str = "UPDATE jobs SET status = 'running', lease_owner = $1, lease_until = $2, \
             started_at = COALESCE(started_at, $3), attempts = attempts + 1 WHERE status = 'queued' AND id = ";
        if self.backend() == Backend::Postgres {
            let row = sqlx::query(
                &format!("{CLAIM}({DUE} LIMIT 1 FOR UPDATE OF j SKIP LOCKED) RETURNING id")
                    .replace("run_after <= $1", "run_after <= $3"),
            )
            .bind(owner)
            .bind(now + lease_ms)
            .bind(now)
            .fetch_optional(self.pool())
            .await?;
            return match row {
                Some(row) => self.job(row.try_get("id")?).await,
                None => Ok(None),
            };
        }
        let candidates = sqlx::query(&format!("{DUE} LIMIT 5"))
            .bind(now)
            .fetch_all(self.pool())
            .await?;
        for candidate in candidates {
            let id: i64 = candidate.try_get("id")?;
            let claimed = sqlx::query(&format!("{CLAIM}$4"))
                .bind(owner)
                .bind(now + lease_ms)
                .bind(now)
                .bind(id)
                .execute(self.pool())
                .await?;
            if claimed.rows_affected() == 1 {
                return self.job(id).await;
            }
        }
        Ok(None)
    }

    /// Claims the queued job `id` itself (for `cube sync`, which runs the
    /// job it queued); `None` when someone else took it first.
    pub async fn claim_job_id(
        &self,
        id: i64,
        owner: &str,
        lease_ms: i64,
    ) -> Result<Option<Job>, sqlx::Error> {
        let now = now_millis();
        let claimed = sqlx::query(
            "UPDATE jobs SET status = 'running', lease_owner = $1, lease_until = $2, \
             started_at = COALESCE(started_at, $3), attempts = attempts + 1 WHERE id = $4 AND status = 'queued'",
        )
        .bind(owner)
        .bind(now + lease_ms)
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        if claimed.rows_affected() == 1 {
            self.job(id).await
        } else {
            Ok(None)
        }
    }

    /// Ends a job.
    pub async fn finish_job(&self, id: i64, error: Option<&str>) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE jobs SET status = $1, finished_at = $2, error = $3, lease_owner = NULL, \
             lease_until = NULL WHERE id = $4",
        )
        .bind(if error.is_some() {
            "failed"
        } else {
            "succeeded"
        })
        .bind(now_millis())
        .bind(error)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Puts a failed attempt back in the queue, due at `run_after`; the job
    /// keeps its cursor, so the next attempt resumes where this one stopped.
    pub async fn retry_job(&self, id: i64, run_after: i64, error: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE jobs SET status = 'queued', run_after = $1, error = $2, lease_owner = NULL, \
             lease_until = NULL WHERE id = $3",
        )
        .bind(run_after)
        .bind(error)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Extends the lease of a running job held by `owner`; false when the
    /// job is no longer this owner's (its lease ran out and another took it).
    pub async fn renew_lease(
        &self,
        id: i64,
        owner: &str,
        lease_ms: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND status = 'running'",
        )
        .bind(now_millis() + lease_ms)
        .bind(id)
        .bind(owner)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Jobs of an integration, newest first.
    pub async fn jobs_of(&self, integration_id: i64, limit: i64) -> Result<Vec<Job>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE integration_id = $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(integration_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Returns jobs whose lease ran out (their node died) to the queue, and
    /// closes the sync log entries those attempts left open.
    pub async fn requeue_expired_jobs(&self) -> Result<u64, sqlx::Error> {
        let now = now_millis();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE integration_sync_logs SET status = 'failed', finished_at = $1, duration_ms = $1 - started_at, \
             message = 'Interrupted: the node running this sync stopped; it resumes from its last saved page (the counts are what it saved).' \
             WHERE status = 'running' AND job_id IN \
             (SELECT id FROM jobs WHERE status = 'running' AND lease_until < $1)",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query(
            "UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_until = NULL \
             WHERE status = 'running' AND lease_until < $1",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// What is waiting and failing, for `/metrics`.
    pub async fn backlog(&self) -> Result<Backlog, sqlx::Error> {
        let count = |sql: &'static str| async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(self.pool())
                .await
        };
        Ok(Backlog {
            jobs_queued: count("SELECT CAST(COUNT(*) AS BIGINT) FROM jobs WHERE status = 'queued'").await?,
            jobs_running: count("SELECT CAST(COUNT(*) AS BIGINT) FROM jobs WHERE status = 'running'").await?,
            deliveries_waiting: count(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_deliveries WHERE status IN ('pending', 'processing')",
            )
            .await?,
            pushes_waiting: count(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM work_order_pushes WHERE status IN ('pending', 'running')",
            )
            .await?,
            integrations_enabled: count("SELECT CAST(COUNT(*) AS BIGINT) FROM integrations WHERE enabled = 1").await?,
            integrations_failing: count(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM integrations WHERE last_sync_status = 'failed'",
            )
            .await?,
        })
    }
}

/// Counts of waiting work and failing integrations: the database gauges
/// `/metrics` shows.
pub type Backlog = crate::metrics::Gauges;
