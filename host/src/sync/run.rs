//! One sync job, start to end: page by page, each page and its cursor
//! committed together; a failure that may pass is retried with backoff.
//!
//! Every attempt writes a sync log entry. A retried attempt resumes from
//! the job's last committed cursor, so nothing already applied is read
//! again. A complete full sync deletes the directory records it did not see,
//! unless they are more than the integration's threshold: then it holds
//! them for an admin's approval and the job ends `needs_approval`
//! (`store::deletions`, decision 0033).

use std::time::Duration;

use serde_json::Value;

use super::failure::Failure;
use super::finish::{Ended, Held, finish};
use super::{Progress, SyncDeps};
use crate::integrations::mapping::Mapper;
use crate::integrations::{CallConfig, call_context};
use crate::runtime::types::{SyncMode, SyncRequest};
use crate::runtime::{LogLevel, LogLine};
use crate::store::audit::AuditEvent;
use crate::store::integrations::{Integration, SyncEnded};
use crate::store::jobs::Job;
use crate::store::now_millis;
use crate::store::sync_logs::{NewSyncLog, RecordCounts};

/// Records asked for per page (a hint to the connector).
const PAGE_SIZE: u32 = 200;
/// A sync that needs more pages than this is stopped: the connector is
/// most likely not advancing.
const MAX_PAGES: u32 = 100_000;
/// Connector log lines kept in one sync log entry.
const MAX_LOG_LINES: usize = 500;

/// How failed attempts are retried.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The backoff before the second attempt; it doubles with each attempt.
    pub base: Duration,
    /// The longest backoff.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base: Duration::from_secs(2),
            cap: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1`: "full jitter" (a random time
    /// up to the exponential bound, so that many failing syncs do not retry
    /// in lockstep), and never less than what the server asked for.
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        let bound = self.base.saturating_mul(1u32 << exponent).min(self.cap);
        let jitter = bound.mul_f64(random_fraction());
        match retry_after {
            Some(asked) => jitter.max(asked),
            None => jitter,
        }
    }
}

fn random_fraction() -> f64 {
    use aes_gcm::aead::{OsRng, rand_core::RngCore};
    (OsRng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// Runs a claimed job and records how it went. Never panics on bad input:
/// every failure ends up in the job and the sync log.
pub async fn run_job(deps: &SyncDeps, job: Job, owner: &str) {
    // Keep the lease while the job runs, so that only a dead node's job
    // is taken over.
    let heartbeat = {
        let store = deps.store.clone();
        let owner = owner.to_owned();
        let id = job.id;
        let lease = deps.lease_ms;
        tokio::spawn(async move {
            let every = Duration::from_millis((lease / 3).max(100) as u64);
            loop {
                tokio::time::sleep(every).await;
                if let Err(error) = store.renew_lease(id, &owner, lease).await {
                    tracing::warn!(job = id, %error, "cannot renew the lease of a running job");
                }
            }
        })
    };
    let mut ended: Option<(RecordCounts, String)> = None;
    let started = std::time::Instant::now();
    let outcome = attempt(deps, &job, &mut ended).await;
    heartbeat.abort();
    crate::metrics::sync_duration(started.elapsed());
    crate::metrics::count(if outcome.is_ok() {
        crate::metrics::Event::SyncSucceeded
    } else {
        crate::metrics::Event::SyncFailed
    });
    let state = match &outcome {
        Ok(Some(_)) => "needs_approval",
        Ok(None) => "succeeded",
        Err(f) if f.retry.is_some() && (job.attempts as u32) < deps.retry.max_attempts => {
            "retrying"
        }
        Err(_) => "failed",
    };
    let (counts, message) = match (ended, &outcome) {
        (Some(ended), _) => ended,
        (None, Err(f)) => (RecordCounts::default(), f.message.clone()),
        (None, Ok(_)) => (RecordCounts::default(), String::new()),
    };
    let result = match outcome {
        Ok(Some(_)) => deps.store.hold_job(job.id, job.integration_id).await,
        Ok(None) => deps.store.finish_job(job.id, None).await,
        Err(failure) => match failure.retry {
            Some(asked) if (job.attempts as u32) < deps.retry.max_attempts => {
                let wait = deps.retry.backoff(job.attempts as u32, asked);
                let due = now_millis() + wait.as_millis() as i64;
                tracing::info!(
                    job = job.id,
                    attempt = job.attempts,
                    wait_ms = wait.as_millis() as u64,
                    "sync failed; retrying"
                );
                deps.store.retry_job(job.id, due, &failure.message).await
            }
            _ => deps.store.finish_job(job.id, Some(&failure.message)).await,
        },
    };
    if let Err(db) = result {
        tracing::error!(job = job.id, error = %db, "cannot record the end of a job");
    }
    // Announced once the job's row says so, so a listener that reloads sees it ended.
    report(deps, &job, 0, &counts, state, Some(message));
}

async fn attempt(
    deps: &SyncDeps,
    job: &Job,
    ended: &mut Option<(RecordCounts, String)>,
) -> Result<Option<Held>, Failure> {
    let store = &deps.store;
    let db = |e: sqlx::Error| {
        tracing::error!(job = job.id, error = %e, "database error during a sync");
        Failure {
            message: "The database failed during the sync; see the server log.".into(),
            retry: Some(None),
        }
    };
    let Some(integration) = store.integration(job.integration_id).await.map_err(db)? else {
        return Err(Failure::fatal("The integration was deleted."));
    };
    let log_id = store
        .start_sync_log(NewSyncLog {
            integration_id: integration.id,
            integration_name: &integration.name,
            job_id: Some(job.id),
            operation: "sync",
            trigger: &job.trigger,
            mode: Some(&job.mode),
        })
        .await
        .map_err(db)?;
    let mut counts = RecordCounts::default();
    let mut log: Vec<LogLine> = Vec::new();
    let result = sync_pages(deps, job, &integration, &mut counts, &mut log).await;
    let retrying =
        |f: &Failure| f.retry.is_some() && (job.attempts as u32) < deps.retry.max_attempts;
    let resumed = if job.pages_done > 0 {
        format!(
            " (resumed after {} pages committed earlier)",
            job.pages_done
        )
    } else {
        String::new()
    };
    let message = match &result {
        Ok(Ended {
            pages,
            held: Some(held),
            ..
        }) => format!(
            "Read {} records in {pages} pages{resumed}: {} created, {} updated, {} failed; \
             {} records were not seen and would be deleted, more than the {} the deletion threshold allows: \
             nothing was deleted; approve or discard the deletions on the integration's page",
            counts.read, counts.created, counts.updated, counts.failed, held.count, held.allowed
        ),
        Ok(Ended {
            pages, would_hold, ..
        }) if job.dry_run => format!(
            "Dry run: read {} records in {pages} pages; would create {}, update {}, delete {}; {} failed; nothing was written{}",
            counts.read,
            counts.created,
            counts.updated,
            counts.deleted,
            counts.failed,
            would_hold.map_or(String::new(), |h| format!(
                "; a full sync would hold the {} deletions for approval (the threshold allows {})",
                h.count, h.allowed
            ))
        ),
        Ok(Ended { pages, .. }) => format!(
            "Read {} records in {pages} pages{resumed}: {} created, {} updated, {} deleted, {} failed",
            counts.read, counts.created, counts.updated, counts.deleted, counts.failed
        ),
        Err(f) if retrying(f) => format!(
            "{} (attempt {} of {}; will retry)",
            f.message, job.attempts, deps.retry.max_attempts
        ),
        Err(f) if f.retry.is_some() => format!(
            "{} (attempt {} of {}; giving up)",
            f.message, job.attempts, deps.retry.max_attempts
        ),
        Err(f) => f.message.clone(),
    };
    *ended = Some((counts, message.clone()));
    let log_json = serde_json::to_value(&log).unwrap_or(Value::Array(Vec::new()));
    let status = match &result {
        Ok(Ended { held: Some(_), .. }) => "needs_approval",
        Ok(_) => "succeeded",
        Err(_) => "failed",
    };
    store
        .close_sync_log(log_id, status, counts, &message, &log_json)
        .await
        .map_err(db)?;
    // The job's outcome counts for the integration once it is final.
    let final_outcome = match &result {
        Ok(_) => Some(true),
        Err(f) if retrying(f) => None,
        Err(_) => Some(false),
    };
    if let Some(succeeded) = final_outcome
        && !job.dry_run
    {
        let ended = SyncEnded {
            job_id: job.id,
            mode: &job.mode,
            status: if succeeded { status } else { "failed" },
            message: &message,
            counts,
        };
        let (failures, disabled) = store
            .record_sync_result(integration.id, &ended)
            .await
            .map_err(db)?;
        if disabled {
            tracing::warn!(
                integration = integration.id,
                failures,
                "integration disabled after failing syncs"
            );
            store
                .audit(AuditEvent {
                    actor: "system",
                    action: "integration.auto-disable",
                    target: &format!("integration:{}", integration.name),
                    before: Some(serde_json::json!({"enabled": true})),
                    after: Some(
                        serde_json::json!({"enabled": false, "failed_syncs_in_a_row": failures}),
                    ),
                    remote: None,
                })
                .await
                .map_err(db)?;
        }
    }
    result.map(|ended| ended.held)
}

fn report(
    deps: &SyncDeps,
    job: &Job,
    pages: u32,
    counts: &RecordCounts,
    state: &'static str,
    message: Option<String>,
) {
    deps.events.send(Progress {
        job_id: job.id,
        integration_id: job.integration_id,
        pages,
        counts: *counts,
        state,
        message,
    });
}

/// A page of records being committed in the background.
struct Saving {
    page_number: u32,
    task: tokio::task::JoinHandle<Result<RecordCounts, sqlx::Error>>,
}

/// Waits for the page being saved, if any, and counts it.
async fn settle(
    deps: &SyncDeps,
    job: &Job,
    saving: Option<Saving>,
    counts: &mut RecordCounts,
) -> Result<(), Failure> {
    let Some(Saving { page_number, task }) = saving else {
        return Ok(());
    };
    let failed = |detail: String| {
        tracing::error!(error = %detail, "cannot apply a page of records");
        Failure {
            message: format!(
                "Page {page_number} could not be saved (database error; see the server log)."
            ),
            retry: Some(None),
        }
    };
    let applied = task
        .await
        .map_err(|e| failed(e.to_string()))?
        .map_err(|e| failed(e.to_string()))?;
    counts.add(applied);
    report(deps, job, page_number, counts, "running", None);
    Ok(())
}

/// Calls `sync` until the connector says there is no more; returns the
/// number of pages read by this attempt, and the deletions it held.
async fn sync_pages(
    deps: &SyncDeps,
    job: &Job,
    integration: &Integration,
    counts: &mut RecordCounts,
    log: &mut Vec<LogLine>,
) -> Result<Ended, Failure> {
    if !integration.enabled {
        return Err(Failure::fatal(
            "The integration is disabled; enable it to sync.",
        ));
    }
    let Some((connector, _info)) = deps.catalog.get(&integration.provider_id) else {
        // It may be being installed or upgraded: worth another attempt.
        return Err(Failure {
            message: format!(
                "The connector `{}` is not installed on this server.",
                integration.provider_id
            ),
            retry: Some(None),
        });
    };
    let config = CallConfig::of(&deps.sealer, integration)
        .map_err(|e| Failure::fatal(format!("The integration's secrets cannot be opened: {e}")))?;
    let ctx = call_context(&deps.runtime, integration, config.secrets.clone());
    let mappings = deps.store.mappings(integration.id).await.map_err(|e| {
        tracing::error!(error = %e, "cannot read mappings");
        Failure {
            message: "The database failed reading the mappings.".into(),
            retry: Some(None),
        }
    })?;
    let mapper = Mapper::new(mappings)
        .map_err(|e| Failure::fatal(format!("Fix the mappings first: {e}")))?;
    let incremental = job.mode == "incremental";
    let db = Failure::database;
    if job.dry_run {
        deps.store
            .start_dry_run(job.id)
            .await
            .map_err(db("starting the dry run"))?;
    }
    if job.read_done && !job.dry_run {
        // An earlier attempt committed the last page and died before the
        // end: finish, without asking for a page past the last.
        let pages = u32::try_from(job.pages_done).unwrap_or(u32::MAX);
        return finish(deps, job, integration, counts, pages).await;
    }
    // Resume a job that committed pages before; else start where the mode says.
    let mut cursor = if job.pages_done > 0 && !job.dry_run {
        job.cursor.clone()
    } else if incremental {
        integration.sync_cursor.clone()
    } else {
        None
    };
    // The page being saved while the connector reads the next one: reading
    // and storing overlap, and pages still commit one after the other.
    let mut saving: Option<Saving> = None;
    for page_number in 1..=MAX_PAGES {
        let request = SyncRequest {
            config: config.json.to_string(),
            mode: if incremental {
                SyncMode::Incremental
            } else {
                SyncMode::Full
            },
            cursor: cursor.clone(),
            dry_run: job.dry_run,
            page_size: PAGE_SIZE,
        };
        let outcome = connector.sync(&ctx, &request).await;
        settle(deps, job, saving.take(), counts).await?;
        let room = MAX_LOG_LINES.saturating_sub(log.len());
        log.extend(outcome.report.log.into_iter().take(room));
        let mut page = outcome
            .result
            .map_err(|e| Failure::of_call(&e, format!("Page {page_number} failed: {e}")))?;
        let mut unmappable = 0;
        if !mapper.is_empty() {
            page.records
                .retain_mut(|record| match mapper.apply(record) {
                    Ok(()) => true,
                    Err(message) => {
                        unmappable += 1;
                        if log.len() < MAX_LOG_LINES {
                            log.push(LogLine {
                                level: LogLevel::Warn,
                                message: format!("skipped: {message}"),
                            });
                        }
                        false
                    }
                });
        }
        counts.read += unmappable;
        counts.failed += unmappable;
        if job.dry_run {
            let preview = deps
                .store
                .preview_page(
                    integration.id,
                    job.id,
                    !incremental,
                    &page.records,
                    &config.secrets,
                )
                .await
                .map_err(db("during the dry run"))?;
            counts.add(preview);
            report(deps, job, page_number, counts, "running", None);
        } else {
            let (store, integration_id, job_id) = (deps.store.clone(), integration.id, job.id);
            let (records, page_cursor) = (std::mem::take(&mut page.records), page.cursor.clone());
            let last = !page.has_more;
            saving = Some(Saving {
                page_number,
                task: tokio::spawn(async move {
                    let cursor = page_cursor.as_deref();
                    if last {
                        store
                            .apply_last_page(integration_id, job_id, &records, cursor)
                            .await
                    } else {
                        store
                            .apply_page(integration_id, Some(job_id), &records, cursor)
                            .await
                    }
                }),
            });
        }
        if !page.has_more {
            settle(deps, job, saving.take(), counts).await?;
            return finish(deps, job, integration, counts, page_number).await;
        }
        if page.cursor.is_none() || page.cursor == cursor {
            settle(deps, job, saving.take(), counts).await?;
            return Err(Failure::fatal(format!(
                "The connector said more pages follow page {page_number} but gave no new cursor; \
                 stopped to avoid reading the same page forever."
            )));
        }
        cursor = page.cursor;
    }
    settle(deps, job, saving.take(), counts).await?;
    Err(Failure::fatal(format!(
        "Stopped after {MAX_PAGES} pages: the connector does not finish."
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_within_its_bound_and_honours_retry_after() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_secs(2),
            cap: Duration::from_secs(60),
        };
        for attempt in 1..=10 {
            let bound = Duration::from_secs(2)
                .saturating_mul(1 << (attempt - 1).min(30))
                .min(Duration::from_secs(60));
            for _ in 0..50 {
                assert!(policy.backoff(attempt, None) <= bound);
            }
        }
        // Full jitter spreads the waits out.
        let waits: std::collections::HashSet<_> =
            (0..20).map(|_| policy.backoff(4, None)).collect();
        assert!(waits.len() > 10);
        for _ in 0..50 {
            assert!(policy.backoff(1, Some(Duration::from_secs(30))) >= Duration::from_secs(30));
        }
    }
}
