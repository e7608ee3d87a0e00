//! Running syncs: the queue of jobs and the worker that runs them.
//!
//! A sync is a row in `jobs` first (queued by "Sync now", the API or a
//! schedule), so a request never waits for one, and a job survives a
//! restart. The worker claims jobs one at a time with a lease; a job whose
//! worker died is returned to the queue when its lease runs out. Integrations
//! with an interval get an incremental sync queued when it comes round.

mod events;
mod failure;
pub mod push;
mod run;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::catalog::Catalog;
use crate::runtime::Runtime;
use crate::secrets::Sealer;
use crate::store::Store;

pub use events::{Progress, SyncEvents};
pub use run::{RetryPolicy, run_job};

/// How long a claimed job stays with its worker before others may take it,
/// by default; the worker renews it every third of that while the job runs.
pub const LEASE_MS: i64 = 60 * 1000;

/// How often the worker looks for due jobs when nobody woke it.
const POLL: Duration = Duration::from_secs(5);
/// How long a processed delivery's payload is kept, for replays.
const DELIVERY_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often that retention is applied.
const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// How long the delivery worker waits after a wake before it looks.
const DELIVERY_BATCHING: Duration = Duration::from_millis(20);

/// Wakes the workers when work is queued, and carries the progress of
/// running syncs to listeners.
#[derive(Clone, Debug, Default)]
pub struct SyncQueue {
    /// Jobs and work-order pushes.
    notify: Arc<Notify>,
    /// Stored webhook deliveries: a worker of their own, so a burst of
    /// deliveries costs one cheap claim per wake and does not make the job
    /// worker repeat its housekeeping writes under the intake's feet.
    deliveries: Arc<Notify>,
    pub events: SyncEvents,
}

impl SyncQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Tells the worker a job or a push is waiting.
    pub fn wake(&self) {
        self.notify.notify_one();
    }

    /// Tells the delivery worker a webhook delivery is stored.
    pub fn wake_deliveries(&self) {
        self.deliveries.notify_one();
    }
}

/// What running a job needs.
#[derive(Clone)]
pub struct SyncDeps {
    pub store: Store,
    pub catalog: Catalog,
    pub runtime: Runtime,
    pub sealer: Arc<Sealer>,
    pub retry: RetryPolicy,
    /// The host's own HTTP clients (outbound webhooks), on the admin's
    /// address policy.
    pub outbound: Arc<crate::net::Outbound>,
    /// Where running syncs report progress.
    pub events: SyncEvents,
    /// How long a claimed job stays with this node without a renewal
    /// (milliseconds); a dead node's job is taken over after that.
    pub lease_ms: i64,
}

/// Runs queued jobs until the process ends.
pub async fn work(deps: SyncDeps, queue: SyncQueue) {
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
        }
        push::drain(&deps).await;
        crate::webhooks::outbound::drain(&deps).await;
        loop {
            match deps.store.claim_job(&owner, deps.lease_ms).await {
                Ok(Some(job)) => run_job(&deps, job, &owner).await,
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
