//! Group commit for webhook intake.
//!
//! A delivery may be acknowledged only once it is on disk, and a commit
//! costs one disk flush whatever it holds. So requests do not write their
//! deliveries themselves: they hand them to one writer task, which takes
//! everything that arrived while it was busy and stores it in a single
//! transaction, then answers each request. Under a trickle each batch is
//! one delivery and nothing waits; under load a batch grows and the flushes
//! per delivery fall, which is what lets a small machine acknowledge
//! thousands of durable deliveries a second.

use tokio::sync::{mpsc, oneshot};

use crate::store::Store;
use crate::store::webhooks::{NewDelivery, Stored};

/// The most deliveries one transaction holds.
const MAX_BATCH: usize = 256;
/// How many deliveries may wait for the writer before senders are slowed.
const QUEUE: usize = 4096;

/// Why a delivery was not stored. The sender should send it again.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("the delivery could not be stored: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the intake writer has stopped")]
    Stopped,
}

struct Pending {
    delivery: NewDelivery,
    stored: oneshot::Sender<Result<Stored, IntakeError>>,
}

/// The handle requests store deliveries through. Cheap to clone.
#[derive(Clone)]
pub struct Intake {
    queue: mpsc::Sender<Pending>,
}

impl Intake {
    /// Starts the writer task; it runs until every handle is dropped.
    pub fn start(store: Store) -> Self {
        let (queue, pending) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(store, pending));
        Self { queue }
    }

    /// Stores a verified delivery; returns once it is committed (or found
    /// to be a duplicate).
    pub async fn store(&self, delivery: NewDelivery) -> Result<Stored, IntakeError> {
        let (stored, answer) = oneshot::channel();
        self.queue
            .send(Pending { delivery, stored })
            .await
            .map_err(|_| IntakeError::Stopped)?;
        answer.await.map_err(|_| IntakeError::Stopped)?
    }
}

async fn write_batches(store: Store, mut pending: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while pending.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let deliveries: Vec<&NewDelivery> = batch.iter().map(|p| &p.delivery).collect();
        let written = store.store_deliveries(deliveries).await;
        match written {
            Ok(stored) => {
                for (waiting, stored) in batch.drain(..).zip(stored) {
                    // A sender that hung up still has its delivery stored.
                    let _ = waiting.stored.send(Ok(stored));
                }
            }
            Err(error) => {
                if batch.len() > 1 {
                    tracing::warn!(%error, size = batch.len(), "a batch of webhook deliveries failed; storing them one by one");
                }
                // One bad delivery must not cost the others theirs: each
                // is stored again on its own, with its own answer.
                for waiting in batch.drain(..) {
                    let stored = store
                        .store_deliveries([&waiting.delivery])
                        .await
                        .map(|mut stored| stored.remove(0))
                        .map_err(IntakeError::from);
                    let _ = waiting.stored.send(stored);
                }
            }
        }
    }
}
