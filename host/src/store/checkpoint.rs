//! SQLite's WAL checkpoints, taken off the writers' path.
//!
//! In WAL mode a commit appends the pages it changed to the write-ahead log,
//! and a checkpoint copies them back into the database file. Left to
//! SQLite, the connection whose commit takes the log past
//! `wal_autocheckpoint` pages does that copy (and its fsync) inside its
//! commit. During a full directory sync that was every sixth page: those
//! commits took 10-15 ms instead of 1.5, on the one path the sync waits on.
//!
//! So the store checkpoints from a task of its own, on another connection,
//! while writers go on: a `PASSIVE` checkpoint waits for no reader or
//! writer. Each write transaction asks for one as it begins
//! ([`Store::begin_write`]), so what the earlier ones committed is copied
//! beside it; every few seconds one runs anyway, for writes made outside
//! transactions. SQLite's own checkpoint stays as a backstop at a higher
//! mark ([`AUTOCHECKPOINT_PAGES`]), should the task fall behind or be gone
//! (its runtime shut down, say). PostgreSQL needs none of this.

use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::Store;

/// The log size, in pages, at which a committing connection checkpoints
/// itself (SQLite's default is 1,000): about 40 MB, reached only when the
/// background checkpoints do not keep up.
pub(super) const AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// How often a checkpoint runs when nobody asks for one.
const EVERY: Duration = Duration::from_secs(5);

/// The least time between two checkpoints. Each ends with an fsync of the
/// database file; under a stream of small transactions this bounds those to
/// four a second, which still keeps the log far below the backstop. (The
/// figures in BENCHMARKS.md were measured with this gap; its effect alone
/// was not measured.)
const GAP: Duration = Duration::from_millis(250);

/// The background checkpoints of one SQLite store. Dropped with the last
/// clone of its [`Store`], which stops the task.
#[derive(Debug)]
pub(super) struct Checkpoints {
    wake: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Checkpoints {
    /// Starts checkpointing `pool`'s database in the background.
    pub(super) fn start(pool: AnyPool) -> Self {
        let wake = Arc::new(Notify::new());
        let task = tokio::spawn(run(pool, wake.clone()));
        Checkpoints { wake, task }
    }
}

impl Drop for Checkpoints {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(pool: AnyPool, wake: Arc<Notify>) {
    loop {
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(EVERY) => {}
        }
        if pool.is_closed() {
            return;
        }
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(%error, "a background WAL checkpoint failed; SQLite's own checkpoint is the backstop");
        }
        // Requests meanwhile are kept (one), and served after the gap.
        tokio::time::sleep(GAP).await;
    }
}

impl Store {
    /// Asks for a checkpoint now, beside whatever writes come next.
    /// Requests while one runs make one more run after it, not one each.
    /// Nothing on PostgreSQL.
    pub(super) fn checkpoint_soon(&self) {
        if let Some(checkpoints) = &self.checkpoints {
            checkpoints.wake.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// Without the background checkpoint the written pages would stay in
    /// the log (far below the backstop mark), and the database file would
    /// not grow.
    #[tokio::test]
    async fn a_write_transaction_brings_earlier_writes_into_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).await.unwrap();
        let mark: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(mark, i64::from(AUTOCHECKPOINT_PAGES));
        let file = dir.path().join("cube.db");
        // About 2 MB (some 500 pages, well under the backstop), written
        // outside a write transaction: nothing asks for a checkpoint.
        sqlx::query("CREATE TABLE scratch (data BLOB)")
            .execute(store.pool())
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO scratch (data) WITH RECURSIVE n (i) AS \
             (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) \
             SELECT randomblob(1000) FROM n",
        )
        .execute(store.pool())
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = std::fs::metadata(&file).unwrap().len();
        assert!(
            before < 1_000_000,
            "nothing but the schema in the file yet ({before} bytes)"
        );

        // A write transaction asks for a checkpoint as it begins.
        let tx = store.begin_write().await.unwrap();
        tx.commit().await.unwrap();
        // Sooner than the periodic run: the request is what counts.
        let deadline = Instant::now() + EVERY / 2;
        let mut size = before;
        while size < before + 2_000_000 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            size = std::fs::metadata(&file).unwrap().len();
        }
        assert!(
            size >= before + 2_000_000,
            "the database file stayed at {size} bytes (from {before})"
        );
    }
}
