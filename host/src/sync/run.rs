//! One sync job, start to end: page by page, each page and its cursor
//! committed together, the outcome written to the sync log.

use serde_json::Value;

use super::SyncDeps;
use crate::integrations::{CallConfig, call_context};
use crate::runtime::types::{SyncMode, SyncRequest};
use crate::runtime::{CallError, LogLine};
use crate::store::jobs::Job;
use crate::store::sync_logs::{NewSyncLog, RecordCounts};

/// Records asked for per page (a hint to the connector).
const PAGE_SIZE: u32 = 200;
/// A sync that needs more pages than this is stopped: the connector is
/// most likely not advancing.
const MAX_PAGES: u32 = 100_000;
/// Connector log lines kept in one sync log entry.
const MAX_LOG_LINES: usize = 500;

/// Runs a claimed job and records how it went. Never panics on bad input:
/// every failure ends up in the job and the sync log.
pub async fn run_job(deps: &SyncDeps, job: Job) {
    let error = run(deps, &job).await.err();
    if let Err(db) = deps.store.finish_job(job.id, error.as_deref()).await {
        tracing::error!(job = job.id, error = %db, "cannot record the end of a job");
    }
}

async fn run(deps: &SyncDeps, job: &Job) -> Result<(), String> {
    let store = &deps.store;
    let db = |e: sqlx::Error| {
        tracing::error!(job = job.id, error = %e, "database error during a sync");
        "the database failed during the sync; see the server log".to_string()
    };
    let Some(integration) = store.integration(job.integration_id).await.map_err(db)? else {
        return Err("the integration was deleted".into());
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
    let message = match &result {
        Ok(pages) if job.dry_run => format!(
            "Dry run: read {} records in {pages} pages; nothing was written",
            counts.read
        ),
        Ok(pages) => format!(
            "Read {} records in {pages} pages: {} created, {} updated, {} deleted, {} failed",
            counts.read, counts.created, counts.updated, counts.deleted, counts.failed
        ),
        Err(message) => message.clone(),
    };
    let log_json = serde_json::to_value(&log).unwrap_or(Value::Array(Vec::new()));
    store
        .finish_sync_log(log_id, result.is_ok(), counts, &message, &log_json)
        .await
        .map_err(db)?;
    store
        .record_sync_result(
            integration.id,
            if result.is_ok() {
                "succeeded"
            } else {
                "failed"
            },
        )
        .await
        .map_err(db)?;
    result.map(|_| ())
}

/// Calls `sync` until the connector says there is no more; returns the
/// number of pages read.
async fn sync_pages(
    deps: &SyncDeps,
    job: &Job,
    integration: &crate::store::integrations::Integration,
    counts: &mut RecordCounts,
    log: &mut Vec<LogLine>,
) -> Result<u32, String> {
    if !integration.enabled {
        return Err("The integration is disabled; enable it to sync.".into());
    }
    let Some((connector, _info)) = deps.catalog.get(&integration.provider_id) else {
        return Err(format!(
            "The connector `{}` is not installed on this server.",
            integration.provider_id
        ));
    };
    let config = CallConfig::of(&deps.sealer, integration)
        .map_err(|e| format!("The integration's secrets cannot be opened: {e}"))?;
    let ctx = call_context(&deps.runtime, integration, config.secrets.clone());
    let incremental = job.mode == "incremental";
    let mut cursor = if incremental {
        integration.sync_cursor.clone()
    } else {
        None
    };
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
        let room = MAX_LOG_LINES.saturating_sub(log.len());
        log.extend(outcome.report.log.into_iter().take(room));
        let page = outcome.result.map_err(|e| describe(&e, page_number))?;
        if job.dry_run {
            counts.read += page.records.len() as i64;
        } else {
            let applied = deps
                .store
                .apply_page(integration.id, &page.records, page.cursor.as_deref())
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "cannot apply a page of records");
                    format!("Page {page_number} could not be saved (database error; see the server log).")
                })?;
            counts.add(applied);
        }
        if !page.has_more {
            return Ok(page_number);
        }
        if page.cursor.is_none() || page.cursor == cursor {
            return Err(format!(
                "The connector said more pages follow page {page_number} but gave no new cursor; \
                 stopped to avoid reading the same page forever."
            ));
        }
        cursor = page.cursor;
    }
    Err(format!(
        "Stopped after {MAX_PAGES} pages: the connector does not finish."
    ))
}

fn describe(error: &CallError, page: u32) -> String {
    format!("Page {page} failed: {error}")
}
