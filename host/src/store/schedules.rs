//! Sync schedules: when an integration's syncs are queued without anyone
//! asking.
//!
//! An integration has two schedules, after Keycloak's `changedSyncPeriod`
//! and `fullSyncPeriod`: incremental syncs (`sync_interval_secs` or
//! `sync_cron`) read what changed since the last cursor, cheaply and often;
//! full syncs (`full_sync_interval_secs` or `full_sync_cron`) read
//! everything and remove what is gone, which most directories never show
//! an incremental sync. Each is an interval, a cron expression (UTC), or
//! unset. When both come due together one job runs, a full one: it does
//! all an incremental sync would (decision 0032).

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::integrations::Integration;
use super::jobs::{Job, NewJob};
use super::{Store, now_millis};

/// When an integration's scheduled full syncs run: an interval, or a cron
/// expression (UTC); neither means no scheduled full syncs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FullSyncSchedule {
    pub interval_secs: Option<i64>,
    pub cron: Option<String>,
}

impl FullSyncSchedule {
    /// A full sync every day: the default of a directory integration.
    pub fn daily() -> Self {
        Self {
            interval_secs: Some(24 * 3600),
            cron: None,
        }
    }

    /// The schedule stored with an integration.
    pub fn of(integration: &Integration) -> Self {
        Self {
            interval_secs: integration.full_sync_interval_secs,
            cron: integration.full_sync_cron.clone(),
        }
    }

    pub fn is_set(&self) -> bool {
        self.interval_secs.is_some() || self.cron.is_some()
    }
}

/// One of an integration's two schedules, as read to see whether it is due.
struct Schedule {
    interval_secs: Option<i64>,
    cron: Option<String>,
    next: Option<i64>,
}

/// What a schedule that came due does now.
struct Due {
    /// Whether a sync runs: a cron schedule seen for the first time only
    /// learns its next time (it runs at the times it names, not at once).
    runs: bool,
    /// Its next run after this one.
    next: i64,
}

impl Schedule {
    fn read(row: &AnyRow, interval: &str, cron: &str, next: &str) -> Result<Self, sqlx::Error> {
        Ok(Self {
            interval_secs: row.try_get(interval)?,
            cron: row.try_get(cron)?,
            next: row.try_get(next)?,
        })
    }

    /// Whether it is due at `now`; `None` when it is not (or is unset).
    fn due(&self, now: i64, integration: i64) -> Option<Due> {
        if self.next.is_some_and(|next| next > now) {
            return None;
        }
        match (self.interval_secs, &self.cron) {
            (Some(secs), _) => Some(Due {
                runs: true,
                next: now + secs * 1000,
            }),
            (None, Some(cron)) => match crate::schedule::next_cron_run(cron, now) {
                Some(next) => Some(Due {
                    runs: self.next.is_some(),
                    next,
                }),
                None => {
                    tracing::warn!(integration, %cron, "a stored cron expression names no future time");
                    None
                }
            },
            (None, None) => None,
        }
    }
}

/// Whether a job already waiting can simply become the full sync that came
/// due: queued, incremental, not a dry run, and not begun.
fn can_become_full(job: &Job) -> bool {
    job.status == "queued" && job.mode == "incremental" && !job.dry_run && job.pages_done == 0
}

impl Store {
    /// Stores an integration's full-sync schedule. A changed schedule
    /// starts over: an interval's first run is one interval from now, a
    /// cron expression's the first time it names.
    pub async fn set_full_sync_schedule(
        &self,
        id: i64,
        schedule: &FullSyncSchedule,
    ) -> Result<(), sqlx::Error> {
        let first = schedule
            .interval_secs
            .map(|secs| now_millis() + secs * 1000);
        sqlx::query(
            "UPDATE integrations SET next_full_sync_at = CASE \
             WHEN full_sync_interval_secs IS NOT DISTINCT FROM $1 AND full_sync_cron IS NOT DISTINCT FROM $2 \
             THEN next_full_sync_at ELSE $3 END, full_sync_interval_secs = $1, full_sync_cron = $2 \
             WHERE id = $4",
        )
        .bind(schedule.interval_secs)
        .bind(&schedule.cron)
        .bind(first)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Queues a sync for every enabled integration with a schedule that is
    /// due, and moves the schedules on (one interval, or to the cron
    /// expression's next time). A due full-sync schedule wins over a due
    /// incremental one: one job, mode full, and both move on; an
    /// incremental job still queued becomes that full sync. A full sync
    /// that comes due while another job runs waits for it (it stays due).
    /// Returns the ids of the integrations queued.
    pub async fn enqueue_due_schedules(&self) -> Result<Vec<i64>, sqlx::Error> {
        let now = now_millis();
        let due = sqlx::query(
            "SELECT id, sync_interval_secs, sync_cron, next_sync_at, full_sync_interval_secs, \
             full_sync_cron, next_full_sync_at FROM integrations WHERE enabled = 1 AND ( \
             ((sync_interval_secs IS NOT NULL OR sync_cron IS NOT NULL) AND (next_sync_at IS NULL OR next_sync_at <= $1)) \
             OR ((full_sync_interval_secs IS NOT NULL OR full_sync_cron IS NOT NULL) \
                 AND (next_full_sync_at IS NULL OR next_full_sync_at <= $1))) ORDER BY id",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        let mut queued = Vec::new();
        for row in due {
            let id: i64 = row.try_get("id")?;
            let incremental =
                Schedule::read(&row, "sync_interval_secs", "sync_cron", "next_sync_at")?;
            let full = Schedule::read(
                &row,
                "full_sync_interval_secs",
                "full_sync_cron",
                "next_full_sync_at",
            )?;
            let incremental_due = incremental.due(now, id);
            let mut full_due = full.due(now, id);
            let mut pending = None;
            if full_due.as_ref().is_some_and(|due| due.runs) {
                pending = self.pending_job(id).await?;
                if pending.as_ref().is_some_and(|job| !can_become_full(job)) {
                    // Runs after the job that is running now.
                    full_due = None;
                }
            }
            if incremental_due.is_none() && full_due.is_none() {
                continue;
            }
            let next_incremental = incremental_due
                .as_ref()
                .map_or(incremental.next, |d| Some(d.next));
            let next_full = full_due.as_ref().map_or(full.next, |d| Some(d.next));
            // Claim this run of the schedules first, so that two nodes do
            // not both queue it.
            let claimed = sqlx::query(
                "UPDATE integrations SET next_sync_at = $1, next_full_sync_at = $2 WHERE id = $3 \
                 AND next_sync_at IS NOT DISTINCT FROM $4 AND next_full_sync_at IS NOT DISTINCT FROM $5",
            )
            .bind(next_incremental)
            .bind(next_full)
            .bind(id)
            .bind(incremental.next)
            .bind(full.next)
            .execute(self.pool())
            .await?;
            if claimed.rows_affected() == 0 {
                continue;
            }
            let mode = if full_due.is_some_and(|d| d.runs) {
                "full"
            } else if incremental_due.is_some_and(|d| d.runs) {
                "incremental"
            } else {
                continue;
            };
            if mode == "full"
                && let Some(waiting) = pending
            {
                let upgraded = sqlx::query(
                    "UPDATE jobs SET mode = 'full' WHERE id = $1 AND status = 'queued' \
                     AND mode = 'incremental' AND dry_run = 0 AND pages_done = 0",
                )
                .bind(waiting.id)
                .execute(self.pool())
                .await?;
                if upgraded.rows_affected() == 1 {
                    queued.push(id);
                    continue;
                }
            }
            let (job, new) = self
                .enqueue_sync(NewJob {
                    integration_id: id,
                    trigger: "schedule",
                    mode,
                    dry_run: false,
                    requested_by: "scheduler",
                })
                .await?;
            if new {
                queued.push(id);
            } else if mode == "full" && job.mode != "full" {
                // Another node began the waiting job meanwhile: give the
                // full run back, so it comes due again once that job ends.
                sqlx::query(
                    "UPDATE integrations SET next_full_sync_at = $1 WHERE id = $2 \
                     AND next_full_sync_at IS NOT DISTINCT FROM $3",
                )
                .bind(full.next)
                .bind(id)
                .bind(next_full)
                .execute(self.pool())
                .await?;
            }
        }
        Ok(queued)
    }
}
