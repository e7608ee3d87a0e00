//! What every sync test starts from: a store in a temporary folder with one
//! integration of a connector (a first-party plugin or the probe
//! component, its secrets sealed under a fresh key), and what running its
//! jobs needs, with a quick retry policy; then running a job to its end in
//! the test's own task and reading its sync log.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cube_host::integrations::seal_secrets;
use cube_host::secrets::{MasterKey, Sealer};
use cube_host::store::Store;
use cube_host::store::integrations::{Integration, IntegrationFields};
use cube_host::store::jobs::{Job, NewJob};
use cube_host::store::sync_logs::{SyncLog, SyncLogFilter};
use cube_host::sync::{RetryPolicy, SyncDeps, run_job};
use cube_host::web::Catalog;

/// One integration and what its syncs need.
pub struct SyncSetup {
    pub deps: SyncDeps,
    pub integration: i64,
    _dir: tempfile::TempDir,
}

/// How a [`SyncSetup`] is made: [`SyncSetup::builder`].
pub struct SyncSetupBuilder {
    connector: String,
    component: Component,
    fields: IntegrationFields,
    secrets: BTreeMap<String, String>,
    max_attempts: u32,
    retry_cap: Duration,
}

/// Where the builder's connector comes from.
enum Component {
    /// `plugins/<connector>`, built from source.
    Plugin,
    /// The probe component (`tests/components/probe`).
    Probe,
}

/// A sync log entry as tests compare it: (status, records read, created,
/// updated, deleted, the message followed by the connector's log).
pub type LogRow = (String, i64, i64, i64, i64, String);

impl SyncSetup {
    /// An integration of the first-party connector `connector`
    /// (`plugins/<connector>`, built from source) with `fields`.
    pub fn builder(connector: &str, fields: IntegrationFields) -> SyncSetupBuilder {
        SyncSetupBuilder {
            connector: connector.to_owned(),
            component: Component::Plugin,
            fields,
            secrets: BTreeMap::new(),
            max_attempts: 3,
            retry_cap: Duration::from_millis(200),
        }
    }

    /// An integration of the probe component with `fields`.
    pub fn probe_builder(fields: IntegrationFields) -> SyncSetupBuilder {
        SyncSetupBuilder {
            component: Component::Probe,
            ..Self::builder("probe", fields)
        }
    }

    pub fn store(&self) -> &Store {
        &self.deps.store
    }

    /// Queues a sync (`full` or `incremental`) and runs it, and its
    /// retries, to the end; returns the job as it ended.
    pub async fn sync(&self, mode: &str) -> Job {
        let job = self.queue(mode).await;
        self.finish(job).await
    }

    /// Queues a manual sync (`full` or `incremental`); returns the job's id.
    pub async fn queue(&self, mode: &str) -> i64 {
        let (job, _) = self
            .deps
            .store
            .enqueue_sync(manual_sync(self.integration, mode))
            .await
            .unwrap();
        job.id
    }

    /// The integration as the store holds it now.
    pub async fn stored_integration(&self) -> Integration {
        self.deps
            .store
            .integration(self.integration)
            .await
            .unwrap()
            .unwrap()
    }

    /// Runs due jobs until job `id` has ended.
    pub async fn finish(&self, id: i64) -> Job {
        for _ in 0..800 {
            let job = self.deps.store.job(id).await.unwrap().unwrap();
            if job.status != "queued" && job.status != "running" {
                return job;
            }
            if let Some(claimed) = self.deps.store.claim_job("test", 60_000).await.unwrap() {
                run_job(&self.deps, claimed, "test").await;
            } else {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
        panic!("job {id} did not finish");
    }

    /// The sync log entries of job `job`, oldest first.
    pub async fn logs_of(&self, job: i64) -> Vec<SyncLog> {
        let filter = SyncLogFilter {
            integration_id: Some(self.integration),
            ..Default::default()
        };
        let (logs, _) = self.deps.store.sync_logs(&filter, 0, 100).await.unwrap();
        logs.into_iter()
            .rev()
            .filter(|l| l.job_id == Some(job))
            .collect()
    }

    /// [`SyncSetup::logs_of`], as [`LogRow`]s.
    pub async fn log_rows(&self, job: i64) -> Vec<LogRow> {
        self.logs_of(job).await.iter().map(row).collect()
    }

    /// The last sync log entry of job `job`, as a [`LogRow`].
    pub async fn log_of(&self, job: i64) -> LogRow {
        self.logs_of(job)
            .await
            .last()
            .map(row)
            .unwrap_or_else(|| panic!("job {job} left no sync log"))
    }
}

/// A manual sync (`full` or `incremental`) of `integration`, as the admin
/// asks for one: not a dry run.
pub fn manual_sync(integration: i64, mode: &str) -> NewJob<'_> {
    NewJob {
        integration_id: integration,
        trigger: "manual",
        mode,
        dry_run: false,
        requested_by: "admin",
    }
}

/// Queues a [`manual_sync`] of `integration` (a dry run when `dry_run`)
/// and claims it as the node `test`, as a worker does before it runs a
/// job; returns the job's id.
pub async fn claimed_manual_sync(
    store: &Store,
    integration: i64,
    mode: &str,
    dry_run: bool,
) -> i64 {
    let (job, _) = store
        .enqueue_sync(NewJob {
            dry_run,
            ..manual_sync(integration, mode)
        })
        .await
        .unwrap();
    store.claim_job_id(job.id, "test", 60_000).await.unwrap();
    job.id
}

/// A log entry as a [`LogRow`].
pub fn row(log: &SyncLog) -> LogRow {
    (
        log.status.clone(),
        log.counts.read,
        log.counts.created,
        log.counts.updated,
        log.counts.deleted,
        format!("{} {}", log.message, log.log),
    )
}

impl SyncSetupBuilder {
    /// A secret of the integration (sealed when it is created).
    pub fn secret(mut self, name: &str, value: impl Into<String>) -> Self {
        self.secrets.insert(name.to_owned(), value.into());
        self
    }

    /// Attempts of a job in all (3 unless set), 50 ms apart at first.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// The longest wait between attempts (200 ms unless set).
    pub fn retry_cap(mut self, cap: Duration) -> Self {
        self.retry_cap = cap;
        self
    }

    pub async fn build(self) -> SyncSetup {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).await.unwrap();
        let catalog = match self.component {
            Component::Plugin => super::plugin_catalog(&[&self.connector]).await,
            Component::Probe => super::probe_catalog().await,
        };
        let sealer = Arc::new(Sealer::new(&MasterKey::generate()));
        let integration = create_sealed_integration(
            &store,
            &catalog,
            &self.connector,
            &self.fields,
            &sealer,
            &self.secrets,
        )
        .await;
        let deps = SyncDeps {
            store,
            catalog,
            runtime: super::runtime(),
            sealer,
            retry: RetryPolicy {
                max_attempts: self.max_attempts,
                base: Duration::from_millis(50),
                cap: self.retry_cap,
            },
            outbound: Default::default(),
            events: Default::default(),
            lease_ms: cube_host::sync::LEASE_MS,
        };
        SyncSetup {
            deps,
            integration,
            _dir: dir,
        }
    }
}

/// Registers `connector` of `catalog` as a provider in `store`, then
/// creates an integration of it with `fields` and `secrets` sealed by
/// `sealer`; returns the integration's id.
pub async fn create_sealed_integration(
    store: &Store,
    catalog: &Catalog,
    connector: &str,
    fields: &IntegrationFields,
    sealer: &Sealer,
    secrets: &BTreeMap<String, String>,
) -> i64 {
    let (component, info) = catalog.get(connector).unwrap();
    store
        .upsert_provider(&info, component.digest())
        .await
        .unwrap();
    store
        .create_integration(connector, fields, "admin", |id| {
            seal_secrets(sealer, id, secrets)
        })
        .await
        .unwrap()
        .id
}

/// The fields of a probe integration named `name` that fetches `pages`
/// pages from `url`, which it may reach on 127.0.0.1.
pub fn probe_fetching(name: &str, url: &str, pages: u32) -> IntegrationFields {
    IntegrationFields {
        http_grants: vec![
            cube_host::runtime::HttpGrant::parse("http://127.0.0.1:*")
                .unwrap()
                .allow_private(true),
        ],
        ..IntegrationFields::new(
            name,
            serde_json::json!({"action": "fetch", "url": url, "pages": pages})
                .as_object()
                .unwrap()
                .clone(),
        )
    }
}
