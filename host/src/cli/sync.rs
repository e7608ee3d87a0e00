//! `cube sync INTEGRATION [--full] [--dry-run]`: runs one sync here and now,
//! with a progress line and a summary, against the same database and
//! connectors as the server.
//!
//! The job goes through the queue like any other (so the server never runs
//! a second sync of the same integration beside it) and is claimed by this
//! process at once. Failures that may pass are retried, with their backoff,
//! as the server would.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use crate::catalog::Catalog;
use crate::secrets::{MasterKey, Sealer};
use crate::store::jobs::NewJob;
use crate::sync::{LEASE_MS, SyncDeps, SyncEvents, run_job};

#[derive(Args)]
pub struct SyncArgs {
    /// The integration, by name or id.
    integration: String,
    /// Read everything, not only what changed since the last sync.
    #[arg(long)]
    full: bool,
    /// Read without writing anything.
    #[arg(long)]
    dry_run: bool,
    #[arg(long, env = "CUBE_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    #[arg(long, env = "CUBE_DATABASE_URL")]
    database_url: Option<String>,
    #[command(flatten)]
    connectors: super::connectors::ConnectorArgs,
}

pub async fn run(args: SyncArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_store(args.database_url.as_deref(), &args.data_dir).await?;
    let integration = match args.integration.parse::<i64>() {
        Ok(id) => store.integration(id).await?,
        Err(_) => None,
    };
    let integration = match integration {
        Some(i) => i,
        None => store
            .integrations()
            .await?
            .into_iter()
            .find(|i| i.name == args.integration)
            .with_context(|| {
                format!(
                    "no integration is named `{}` (or has that id)",
                    args.integration
                )
            })?,
    };
    let (key, _) = MasterKey::load_existing(&args.data_dir)?;
    let runtime = super::connectors::host_runtime(&store, &args.data_dir)?;
    let catalog = Catalog::new();
    catalog
        .clone()
        .load_dirs(
            runtime.clone(),
            args.connectors.with_installed(&args.data_dir),
        )
        .await;
    if catalog.get(&integration.provider_id).is_none() {
        anyhow::bail!(
            "the connector `{}` is not in {} (pass --connectors)",
            integration.provider_id,
            args.connectors
                .connector_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let (job, queued) = store
        .enqueue_sync(NewJob {
            integration_id: integration.id,
            trigger: "cli",
            mode: if args.full { "full" } else { "incremental" },
            dry_run: args.dry_run,
            requested_by: &format!("cli:{user}"),
        })
        .await?;
    if !queued {
        anyhow::bail!(
            "a sync of {} is already {} (job {}); wait for it to end",
            integration.name,
            job.status,
            job.id
        );
    }
    let events = SyncEvents::default();
    let deps = SyncDeps {
        store: store.clone(),
        catalog,
        runtime,
        sealer: Arc::new(Sealer::new(&key)),
        retry: Default::default(),
        outbound: Default::default(),
        events: events.clone(),
        lease_ms: LEASE_MS,
    };
    let owner = format!("cli-{}", std::process::id());
    let mut progress = events.subscribe();
    let printer = tokio::spawn(async move {
        let mut err = std::io::stderr();
        while let Ok(step) = progress.recv().await {
            match step.state {
                "running" => {
                    let c = step.counts;
                    let _ = write!(
                        err,
                        "\r  page {:>5} │ {:>8} read │ {:>7} created │ {:>7} updated │ {:>7} deleted │ {:>5} failed ",
                        step.pages, c.read, c.created, c.updated, c.deleted, c.failed
                    );
                }
                "retrying" => {
                    let _ = writeln!(err, "\n  {}", step.message.unwrap_or_default());
                }
                _ => {
                    let _ = writeln!(err);
                }
            }
            let _ = err.flush();
        }
    });
    eprintln!(
        "Syncing {} ({}{}), job {}",
        integration.name,
        if args.full {
            "full"
        } else {
            "changes since the last sync"
        },
        if args.dry_run { ", dry run" } else { "" },
        job.id
    );
    // Attempts until the job ends; a retried attempt waits for its backoff.
    loop {
        let Some(claimed) = store.claim_job_id(job.id, &owner, LEASE_MS).await? else {
            let current = store.job(job.id).await?.context("the job disappeared")?;
            match current.status.as_str() {
                // Waiting for its backoff.
                "queued" => {
                    let wait = (current.run_after - crate::store::now_millis()).clamp(50, 60_000);
                    tokio::time::sleep(std::time::Duration::from_millis(wait as u64)).await;
                }
                // A server's worker took it: wait for it to end.
                "running" => tokio::time::sleep(std::time::Duration::from_millis(500)).await,
                _ => break,
            }
            continue;
        };
        run_job(&deps, claimed, &owner).await;
    }
    drop(deps);
    printer.abort();
    let job = store.job(job.id).await?.context("the job disappeared")?;
    let filter = crate::store::sync_logs::SyncLogFilter {
        integration_id: Some(integration.id),
        operation: Some("sync".into()),
        ..Default::default()
    };
    let (logs, _) = store.sync_logs(&filter, 0, 1).await?;
    let summary = logs.first().map(|l| l.message.clone()).unwrap_or_default();
    store.close().await;
    if job.status == "succeeded" {
        println!("{summary}");
        Ok(ExitCode::SUCCESS)
    } else if job.status == "needs_approval" {
        // Not a failure, and not done: an admin decides on the deletions.
        println!("Needs approval: {summary}");
        Ok(ExitCode::from(2))
    } else {
        println!("Sync failed after {} attempts: {summary}", job.attempts);
        Ok(ExitCode::from(1))
    }
}
