//! The node's background work, until the process ends: sync jobs and
//! their schedules, work-order pushes, outbound webhook deliveries,
//! processing stored inbound webhook deliveries (a task of its own),
//! turning the directory's changes into webhook events (another), and the
//! retention purge of webhook payloads and of the directory change feed.
//!
//! It sits above `sync` and `webhooks`, so neither needs the other's
//! loop: webhooks hand work to syncs through `SyncDeps` and `SyncQueue`,
//! which `sync` owns.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::sync::{SyncDeps, SyncQueue};

/// How often the worker looks for due jobs when nobody woke it.
const POLL: Duration = Duration::from_secs(5);
/// How long a processed delivery's payload is kept, for replays.
const DELIVERY_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often that retention is applied.
const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// How long the delivery worker waits after a wake before it looks.
const DELIVERY_BATCHING: Duration = Duration::from_millis(20);
/// How often the directory's new changes become webhook events, and how
/// many go in one transaction.
const RELAY_EVERY: Duration = Duration::from_secs(1);
const RELAY_BATCH: i64 = 500;
/// Feed changes pruned per transaction (writers wait for one at most).
const PRUNE_BATCH: i64 = 5_000;

/// How long what the worker prunes is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// The directory change feed: a consumer whose cursor is older must
    /// read the directory in full again.
    pub directory_changes: Duration,
}

impl Default for Retention {
    /// 30 days of directory changes (Microsoft Graph keeps delta tokens of
    /// directory objects for 7 days at least; a month lets a consumer be
    /// down for a holiday).
    fn default() -> Self {
        Retention {
            directory_changes: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// Runs queued jobs until the process ends.
pub async fn run(deps: SyncDeps, queue: SyncQueue, retention: Retention) {
    // Connectors load in the background at start: a job claimed before its
    // connector is loaded would fail for nothing.
    while !deps.catalog.is_ready() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::spawn(process_deliveries(
        deps.clone(),
        queue.deliveries.clone(),
        queue.notify.clone(),
    ));
    tokio::spawn(relay_directory_events(deps.clone()));
    let owner = format!(
        "{}-{}",
        std::process::id(),
        crate::store::sessions::random_token()
    );
    let mut last_purge = None;
    loop {
        if let Err(error) = deps.store.requeue_expired_jobs().await {
            tracing::warn!(%error, "cannot requeue expired jobs");
        }
        match deps.store.enqueue_due_schedules().await {
            Ok(queued) if !queued.is_empty() => {
                tracing::info!(integrations = ?queued, "scheduled syncs queued")
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "cannot queue scheduled syncs"),
        }
        if last_purge.is_none_or(|at: std::time::Instant| at.elapsed() > PURGE_EVERY) {
            last_purge = Some(std::time::Instant::now());
            let before = crate::store::now_millis() - DELIVERY_RETENTION.as_millis() as i64;
            if let Err(error) = deps.store.purge_delivery_bodies(before).await {
                tracing::warn!(%error, "cannot purge old webhook payloads");
            }
            let before =
                crate::store::now_millis() - retention.directory_changes.as_millis() as i64;
            match deps
                .store
                .prune_directory_changes(before, PRUNE_BATCH)
                .await
            {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, "pruned old directory changes"),
                Err(error) => tracing::warn!(%error, "cannot prune old directory changes"),
            }
        }
        crate::sync::push::drain(&deps).await;
        crate::webhooks::outbound::drain(&deps).await;
        loop {
            match deps.store.claim_job(&owner, deps.lease_ms).await {
                Ok(Some(job)) => crate::sync::run_job(&deps, job, &owner).await,
                Ok(None) => break,
                Err(error) => {
                    tracing::warn!(%error, "cannot claim a job");
                    break;
                }
            }
        }
        tokio::select! {
            _ = queue.notify.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Turns the directory's changes into webhook events as they are
/// committed, and sends them.
async fn relay_directory_events(deps: SyncDeps) {
    loop {
        let mut relayed = 0;
        loop {
            match deps.store.relay_directory_changes(RELAY_BATCH).await {
                Ok(n) => {
                    relayed += n;
                    if (n as i64) < RELAY_BATCH {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot turn directory changes into webhook events");
                    break;
                }
            }
        }
        if relayed > 0 {
            crate::webhooks::outbound::drain(&deps).await;
        }
        tokio::time::sleep(RELAY_EVERY).await;
    }
}

/// Processes stored webhook deliveries when woken, and on every poll (for
/// deliveries whose retry came due or whose processor died).
async fn process_deliveries(deps: SyncDeps, woken: Arc<Notify>, jobs: Arc<Notify>) {
    loop {
        if crate::webhooks::drain(&deps).await > 0 {
            // An endpoint may have queued a sync.
            jobs.notify_one();
        }
        tokio::select! {
            _ = woken.notified() => {
                // Under a burst every delivery wakes us: gather a few
                // milliseconds' worth before looking, rather than spin
                // claiming one at a time beside the intake.
                tokio::time::sleep(DELIVERY_BATCHING).await;
            }
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}
