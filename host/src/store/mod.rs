//! Persistence: embedded SQLite by default, PostgreSQL for shared deployments.
//!
//! One [`Store`] wraps a sqlx `Any` pool, so every query is written once and
//! runs on both: `$1` parameters, `ON CONFLICT ... DO UPDATE`, integers for
//! timestamps (milliseconds since the epoch), and no dialect-only functions.
//! Where a dialect matters (DDL, `FOR UPDATE SKIP LOCKED`), code asks
//! [`Store::backend`]. Migrations are embedded per dialect (`migrations/`).
//!
//! Each concern keeps its queries next to its types, in a module of its
//! own: [`state`] for connectors' key-value state, [`users`], [`sessions`],
//! [`login_attempts`] (sign-in throttling), [`api_tokens`] (machine access),
//! [`audit`].
//!
//! On SQLite, WAL checkpoints run in the background, beside the writers
//! (`checkpoint.rs`); decision 0024 says why.

pub mod api_tokens;
pub mod audit;
mod checkpoint;
pub mod deletions;
pub mod directory;
pub mod directory_sign_in;
pub mod drafts;
pub mod dry_runs;
pub mod integrations;
pub mod jobs;
pub mod login_attempts;
pub mod mappings;
pub mod outbound;
mod params;
pub mod records;
pub mod reseal;
pub mod schedules;
pub mod scim;
pub mod service_accounts;
pub mod sessions;
mod staged_deletions;
pub mod state;
pub mod sync_logs;
pub mod token_scopes;
pub mod users;
mod versions;
mod webhook_secrets;
pub mod webhooks;
pub mod work_order_comments;
pub mod work_order_pushes;
pub mod work_orders;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// A query of the `Any` driver with its arguments, for helpers that bind
/// a group of parameters on a caller's query.
type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Which database is behind a [`Store`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The host's database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite's WAL checkpoints, run beside the writers ([`checkpoint`]).
    checkpoints: Option<std::sync::Arc<checkpoint::Checkpoints>>,
}

impl Store {
    /// The embedded database: `<data dir>/cube.db`, created on first use.
    pub async fn open_in(data_dir: &Path) -> anyhow::Result<Store> {
        let path = data_dir.join("cube.db");
        Self::connect(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    /// Connects to `sqlite://PATH` or `postgres://...` and applies pending
    /// migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!("unsupported database URL (use sqlite://PATH or postgres://...)");
        };
        let options = AnyConnectOptions::from_str(url).context("invalid database URL")?;
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                // SQLite serialises writers; a few readers beside them help.
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        // Checkpoints run in the background; this is the
                        // backstop ([`checkpoint`]).
                        conn.execute(
                            format!(
                                "PRAGMA wal_autocheckpoint = {}",
                                checkpoint::AUTOCHECKPOINT_PAGES
                            )
                            .as_str(),
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .with_context(|| format!("cannot open the {backend:?} database"))?;
        let mut store = Store {
            pool,
            backend,
            checkpoints: None,
        };
        store.migrate().await?;
        if backend == Backend::Sqlite {
            store.checkpoints = Some(std::sync::Arc::new(checkpoint::Checkpoints::start(
                store.pool.clone(),
            )));
        }
        Ok(store)
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&self.pool)
            .await
            .context("cannot apply the database migrations")
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A transaction that will write. On SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`): a deferred transaction that reads first and
    /// writes later fails with "database is locked" when another writer got
    /// in between, which busy waiting cannot fix.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => {
                let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                // What earlier transactions committed is checkpointed
                // beside this one, so the log never grows to the backstop
                // under a steady stream of writes.
                self.checkpoint_soon();
                Ok(tx)
            }
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool, waiting for connections in use.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Milliseconds since the Unix epoch: the one timestamp type in the schema.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
