//! Running syncs: the queue of jobs and the worker that runs them.
//!
//! A sync is a row in `jobs` first (queued by "Sync now", the API or a
//! schedule), so a request never waits for one, and a job survives a
//! restart. The worker (`crate::worker`) claims jobs one at a time with a
//! lease; a job whose worker died is returned to the queue when its lease
//! runs out. Integrations with an interval get an incremental sync queued
//! when it comes round.
//!
//! Other rooms hand work to syncs through what this module owns:
//! [`SyncDeps`] (what running one needs) and [`SyncQueue`] (waking the
//! workers). Nothing here depends on webhooks or the web layer.

mod events;
mod failure;
mod finish;
pub mod push;
mod run;

use std::sync::Arc;

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

/// Wakes the workers when work is queued, and carries the progress of
/// running syncs to listeners.
#[derive(Clone, Debug, Default)]
pub struct SyncQueue {
    /// Jobs and work-order pushes.
    pub(crate) notify: Arc<Notify>,
    /// Stored webhook deliveries: a worker of their own, so a burst of
    /// deliveries costs one cheap claim per wake and does not make the job
    /// worker repeat its housekeeping writes under the intake's feet.
    pub(crate) deliveries: Arc<Notify>,
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
