//! Applying records: how fast a large page-by-page sync lands in SQLite.
//!
//! 100,000 directory users in pages of 200, through `Store::apply_page`
//! (what a sync does: look up each record's version, upsert it, mark it seen
//! by the job, store the cursor and the job's progress, one transaction per
//! page), first as new records, then again as changed ones, then unchanged.
//! The baseline, in the same run and database, inserts the same rows with
//! one plain `INSERT` each, one transaction per page: the least any
//! durable page-by-page import can do. Run with
//! `cargo bench -p cube --bench apply_records`; figures go to BENCHMARKS.md.

use std::time::{Duration, Instant};

use cube_host::runtime::types::{Features, Record};
use cube_host::store::Store;
use cube_host::store::integrations::IntegrationFields;
use cube_host::store::jobs::NewJob;
use cube_test_support::store_rows::{integration_of, provider_info};

const RECORDS: usize = 100_000;
const PAGE: usize = 200;

fn page_of(start: usize, version: &str) -> Vec<Record> {
    cube_test_support::store_rows::directory_users(start, PAGE, version)
}

async fn integration(store: &Store, name: &str) -> i64 {
    let info = provider_info("bench", "Bench", Features::SYNC);
    let fields = IntegrationFields::new(name, serde_json::Map::new());
    integration_of(store, &info, &fields).await
}

fn rate(elapsed: Duration) -> f64 {
    RECORDS as f64 / elapsed.as_secs_f64()
}

fn main() {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tokio.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).await.unwrap();
        let pages: Vec<Vec<Record>> = (0..RECORDS / PAGE).map(|p| page_of(p * PAGE, "1")).collect();
        let changed: Vec<Vec<Record>> = (0..RECORDS / PAGE).map(|p| page_of(p * PAGE, "2")).collect();

        // Baseline: plain inserts, one transaction per page.
        let base_id = integration(&store, "baseline").await;
        let started = Instant::now();
        for page in &pages {
            let mut tx = store.begin_write().await.unwrap();
            for record in page {
                sqlx::query(
                    "INSERT INTO directory_users (integration_id, external_id, username, attributes_json, synced_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(base_id)
                .bind(&record.external_id)
                .bind(&record.external_id)
                .bind(&record.fields)
                .bind(0i64)
                .execute(&mut *tx)
                .await
                .unwrap();
            }
            tx.commit().await.unwrap();
        }
        let baseline = started.elapsed();

        let id = integration(&store, "sync").await;
        let mut results = Vec::new();
        for (label, data) in [("new records", &pages), ("changed records", &changed), ("unchanged records", &changed)] {
            let (job, _) = store
                .enqueue_sync(NewJob { integration_id: id, trigger: "bench", mode: "full", dry_run: false, requested_by: "bench" })
                .await
                .unwrap();
            let started = Instant::now();
            for (n, page) in data.iter().enumerate() {
                let cursor = n.to_string();
                store.apply_page(id, Some(job.id), page, Some(&cursor)).await.unwrap();
            }
            results.push((label, started.elapsed()));
            store.finish_job(job.id, None).await.unwrap();
        }

        println!("{RECORDS} directory users in pages of {PAGE}, SQLite (WAL, synchronous=FULL)\n");
        println!("{:<40} {:>10} {:>14} {:>10}", "path", "seconds", "records/s", "vs base");
        println!("{:<40} {:>10.2} {:>14.0} {:>10}", "baseline: plain INSERT per row", baseline.as_secs_f64(), rate(baseline), "1.00x");
        for (label, elapsed) in results {
            println!(
                "{:<40} {:>10.2} {:>14.0} {:>9.2}x",
                format!("apply_page: {label}"),
                elapsed.as_secs_f64(),
                rate(elapsed),
                rate(elapsed) / rate(baseline)
            );
        }
    });
}
