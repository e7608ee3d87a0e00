//! Progress of running syncs, for whoever listens: the detail page's live
//! view (server-sent events) and `cube sync`'s progress line.

use serde::Serialize;
use tokio::sync::broadcast;

use crate::store::sync_logs::RecordCounts;

/// One step of a running sync.
#[derive(Clone, Debug, Serialize)]
pub struct Progress {
    pub job_id: i64,
    pub integration_id: i64,
    /// Pages read by this attempt so far.
    pub pages: u32,
    pub counts: RecordCounts,
    /// `running`, or how the attempt ended: `succeeded`, `retrying`, `failed`.
    pub state: &'static str,
    /// The outcome in words, once it ended.
    pub message: Option<String>,
}

/// A channel of [`Progress`]; listeners that fall behind miss steps, never
/// the sync.
#[derive(Clone, Debug)]
pub struct SyncEvents(broadcast::Sender<Progress>);

impl Default for SyncEvents {
    fn default() -> Self {
        Self(broadcast::channel(256).0)
    }
}

impl SyncEvents {
    pub fn subscribe(&self) -> broadcast::Receiver<Progress> {
        self.0.subscribe()
    }

    pub(crate) fn send(&self, progress: Progress) {
        // No listener is fine.
        let _ = self.0.send(progress);
    }
}
