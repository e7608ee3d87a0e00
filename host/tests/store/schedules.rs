//! The two sync schedules of an integration (incremental and full), on
//! SQLite and on PostgreSQL: when each comes due, which wins when both do,
//! and when they run next after a sync.

use cube_test_support as common;

use cube_host::store::Store;
use cube_host::store::integrations::{Integration, IntegrationFields};
use cube_host::store::jobs::NewJob;
use cube_host::store::now_millis;
use cube_host::store::schedules::FullSyncSchedule;

use common::sync_setup::manual_sync;

const MINUTE: i64 = 60_000;

/// An integration of the probe connector, incremental syncs every ten
/// minutes (or on demand), full syncs every hour.
async fn integration(store: &Store, name: &str, incremental: bool) -> i64 {
    let fields = IntegrationFields {
        sync_interval_secs: incremental.then_some(600),
        ..IntegrationFields::new(name, serde_json::Map::new())
    };
    let id = common::probe_integration(store, &fields).await;
    let hourly = FullSyncSchedule {
        interval_secs: Some(3600),
        cron: None,
    };
    store.set_full_sync_schedule(id, &hourly).await.unwrap();
    id
}

async fn stored(store: &Store, id: i64) -> Integration {
    store.integration(id).await.unwrap().unwrap()
}

/// Sets when the schedules run next (`None`: as never seen).
async fn set_next(store: &Store, id: i64, incremental: Option<i64>, full: Option<i64>) {
    sqlx::query("UPDATE integrations SET next_sync_at = $1, next_full_sync_at = $2 WHERE id = $3")
        .bind(incremental)
        .bind(full)
        .bind(id)
        .execute(store.pool())
        .await
        .unwrap();
}

/// Runs the integration's pending job to a successful end.
async fn run_pending(store: &Store, id: i64) -> String {
    let job = store.claim_job("node-1", 60_000).await.unwrap().unwrap();
    assert_eq!(job.integration_id, id);
    store.finish_job(job.id, None).await.unwrap();
    store
        .record_sync_result(id, &common::sync_ended(&job.mode, true))
        .await
        .unwrap();
    job.mode
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_schedule_comes_due_on_its_own_and_the_full_sync_wins_when_both_do() {
    common::each_backend(|store| async move {
        let id = integration(&store, "Directory", true).await;
        let now = now_millis();
        // A new full schedule runs one interval from now; the incremental
        // one, never run, is due at once.
        let full_next = stored(&store, id).await.next_full_sync_at.unwrap();
        assert!(
            full_next >= now + 59 * MINUTE && full_next <= now + 61 * MINUTE,
            "{full_next}"
        );
        assert_eq!(store.enqueue_due_schedules().await.unwrap(), vec![id]);
        let job = store.pending_job(id).await.unwrap().unwrap();
        assert_eq!(
            (job.trigger.as_str(), job.mode.as_str()),
            ("schedule", "incremental")
        );
        assert_eq!(
            stored(&store, id).await.next_full_sync_at,
            Some(full_next),
            "untouched"
        );
        assert_eq!(run_pending(&store, id).await, "incremental");
        assert!(store.enqueue_due_schedules().await.unwrap().is_empty());

        // Both due: one job, a full one, and both schedules move on.
        set_next(&store, id, Some(now - 1000), Some(now - 1000)).await;
        assert_eq!(store.enqueue_due_schedules().await.unwrap(), vec![id]);
        assert!(
            store.enqueue_due_schedules().await.unwrap().is_empty(),
            "one job"
        );
        let job = store.pending_job(id).await.unwrap().unwrap();
        assert_eq!(
            (job.trigger.as_str(), job.mode.as_str()),
            ("schedule", "full")
        );
        let after = stored(&store, id).await;
        assert!(after.next_sync_at.unwrap() >= now + 9 * MINUTE);
        assert!(after.next_full_sync_at.unwrap() >= now + 59 * MINUTE);

        // After the full sync, each runs one interval after its end.
        let before_end = now_millis();
        assert_eq!(run_pending(&store, id).await, "full");
        let after = stored(&store, id).await;
        let since_end = |at: Option<i64>| at.unwrap() - before_end;
        assert!((10 * MINUTE..11 * MINUTE).contains(&since_end(after.next_sync_at)));
        assert!((60 * MINUTE..61 * MINUTE).contains(&since_end(after.next_full_sync_at)));

        // Only the full one due: a full sync; only the incremental one: an
        // incremental one, and an incremental sync leaves the full schedule be.
        set_next(&store, id, Some(now + 5 * MINUTE), Some(now - 1000)).await;
        assert_eq!(store.enqueue_due_schedules().await.unwrap(), vec![id]);
        assert_eq!(run_pending(&store, id).await, "full");
        let full_next = stored(&store, id).await.next_full_sync_at;
        set_next(&store, id, Some(now - 1000), full_next).await;
        assert_eq!(store.enqueue_due_schedules().await.unwrap(), vec![id]);
        assert_eq!(run_pending(&store, id).await, "incremental");
        assert_eq!(stored(&store, id).await.next_full_sync_at, full_next);

        // A disabled integration runs neither.
        set_next(&store, id, Some(now - 1000), Some(now - 1000)).await;
        store
            .set_integration_enabled(id, false, "admin")
            .await
            .unwrap();
        assert!(store.enqueue_due_schedules().await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_full_sync_takes_over_a_queued_incremental_job_and_waits_for_a_running_one() {
    common::each_backend(|store| async move {
        // Incremental syncs on demand only: the full schedule alone.
        let id = integration(&store, "Directory", false).await;
        let now = now_millis();
        let manual = |mode| manual_sync(id, mode);
        let (queued, _) = store.enqueue_sync(manual("incremental")).await.unwrap();
        set_next(&store, id, None, Some(now - 1000)).await;
        assert_eq!(store.enqueue_due_schedules().await.unwrap(), vec![id]);
        let job = store.job(queued.id).await.unwrap().unwrap();
        assert_eq!(job.mode, "full", "the queued job became the full sync");
        assert!(stored(&store, id).await.next_full_sync_at.unwrap() > now + 59 * MINUTE);

        // Due while a job runs: it waits, still due, and is queued once
        // that job ends.
        let running = store.claim_job("node-1", 60_000).await.unwrap().unwrap();
        set_next(&store, id, None, Some(now - 1000)).await;
        assert!(store.enqueue_due_schedules().await.unwrap().is_empty());
        assert_eq!(stored(&store, id).await.next_full_sync_at, Some(now - 1000));
        store.finish_job(running.id, None).await.unwrap();
        assert_eq!(store.enqueue_due_schedules().await.unwrap(), vec![id]);
        let job = store.pending_job(id).await.unwrap().unwrap();
        assert_ne!(job.id, running.id);
        assert_eq!(
            (job.trigger.as_str(), job.mode.as_str()),
            ("schedule", "full")
        );
        store.finish_job(job.id, None).await.unwrap();

        // A queued dry run is not turned into a real full sync: the full
        // sync waits for it.
        let (dry, _) = store
            .enqueue_sync(NewJob {
                dry_run: true,
                ..manual("incremental")
            })
            .await
            .unwrap();
        set_next(&store, id, None, Some(now - 1000)).await;
        assert!(store.enqueue_due_schedules().await.unwrap().is_empty());
        assert_eq!(
            store.job(dry.id).await.unwrap().unwrap().mode,
            "incremental"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sync_schedules_by_cron_and_changes_start_over() {
    common::each_backend(|store| async move {
        let id = integration(&store, "Directory", false).await;
        let hourly_next = stored(&store, id).await.next_full_sync_at;
        // Storing the same schedule again keeps its next run.
        let hourly = FullSyncSchedule::of(&stored(&store, id).await);
        assert_eq!(hourly.interval_secs, Some(3600));
        store.set_full_sync_schedule(id, &hourly).await.unwrap();
        assert_eq!(stored(&store, id).await.next_full_sync_at, hourly_next);

        // A cron expression: first seen, it learns its next time and
        // queues nothing.
        let nightly = FullSyncSchedule {
            interval_secs: None,
            cron: Some("0 4 * * *".into()),
        };
        store.set_full_sync_schedule(id, &nightly).await.unwrap();
        let after = stored(&store, id).await;
        assert_eq!(after.full_sync_cron.as_deref(), Some("0 4 * * *"));
        assert_eq!(after.full_sync_interval_secs, None);
        assert_eq!(after.next_full_sync_at, None);
        assert!(store.enqueue_due_schedules().await.unwrap().is_empty());
        let next = stored(&store, id).await.next_full_sync_at.unwrap();
        let now = now_millis();
        assert!(next > now && next <= now + 86_400_000);
        assert_eq!(next % 86_400_000, 4 * 3_600_000, "at 04:00 UTC");
        // At that time a full sync is queued, and the next is a day on.
        set_next(&store, id, None, Some(now - 1000)).await;
        assert_eq!(store.enqueue_due_schedules().await.unwrap(), vec![id]);
        assert_eq!(store.pending_job(id).await.unwrap().unwrap().mode, "full");
        let moved = stored(&store, id).await.next_full_sync_at.unwrap();
        assert!(moved > now && moved % 86_400_000 == 4 * 3_600_000);
        // A sync's end keeps the cron's next time.
        run_pending(&store, id).await;
        assert_eq!(stored(&store, id).await.next_full_sync_at, Some(moved));

        // No schedule: never due.
        store
            .set_full_sync_schedule(id, &FullSyncSchedule::default())
            .await
            .unwrap();
        set_next(&store, id, None, Some(now - 1000)).await;
        assert!(store.enqueue_due_schedules().await.unwrap().is_empty());
        assert!(store.pending_job(id).await.unwrap().is_none());
    })
    .await;
}
