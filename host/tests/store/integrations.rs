//! Integrations, jobs, synced records, sync logs and wizard drafts in the
//! store, on SQLite and on PostgreSQL.

use cube_test_support as common;

use std::collections::BTreeMap;

use cube_host::runtime::types::Record;

use common::record;
use common::sync_setup::manual_sync;
use cube_host::store::Store;
use cube_host::store::integrations::{IntegrationError, IntegrationFields};
use cube_host::store::sync_logs::{NewSyncLog, RecordCounts, SyncLogFilter};
use cube_host::store::users::Role;

fn fields(name: &str) -> IntegrationFields {
    IntegrationFields {
        http_grants: vec![cube_host::runtime::HttpGrant::parse("https://x.example").unwrap()],
        sync_interval_secs: Some(600),
        disable_after_failures: Some(2),
        ..IntegrationFields::new(
            name,
            serde_json::Map::from_iter([("base_url".into(), "https://x.example".into())]),
        )
    }
}

/// When the integration `id` is next due for a scheduled sync.
async fn next_sync_at(store: &Store, id: i64) -> Option<i64> {
    store.integration(id).await.unwrap().unwrap().next_sync_at
}

async fn integration(store: &Store, name: &str) -> i64 {
    common::register_probe(store).await;
    store
        .create_integration("probe", &fields(name), "admin", |id| {
            BTreeMap::from([("password".to_owned(), format!("sealed-for-{id}"))])
        })
        .await
        .unwrap()
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integrations_round_trip_and_names_are_unique() {
    common::each_backend(|store| async move {
        let id = integration(&store, "Directory").await;
        let stored = store.integration(id).await.unwrap().unwrap();
        assert_eq!(stored.name, "Directory");
        assert_eq!(
            stored.sealed_secrets["password"],
            format!("sealed-for-{id}")
        );
        assert_eq!(stored.http_grants.len(), 1);
        assert_eq!(stored.sync_interval_secs, Some(600));
        let again = store
            .create_integration("probe", &fields("Directory"), "admin", |_| BTreeMap::new())
            .await;
        assert!(matches!(again, Err(IntegrationError::NameTaken(_))));
        store
            .set_integration_enabled(id, false, "admin")
            .await
            .unwrap();
        assert_eq!(
            store
                .record_sync_result(id, &common::sync_ended("incremental", false))
                .await
                .unwrap(),
            (1, false)
        );
        let stored = store.integration(id).await.unwrap().unwrap();
        assert!(!stored.enabled);
        assert_eq!(stored.last_sync_status.as_deref(), Some("failed"));
        assert!(stored.next_sync_at.unwrap() > stored.last_sync_at.unwrap());
        assert!(store.delete_integration(id).await.unwrap());
        assert!(store.integration(id).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_job_per_integration_is_queued_and_claimed_once() {
    common::each_backend(|store| async move {
        let a = integration(&store, "A").await;
        let b = integration(&store, "B").await;
        let job = |id| manual_sync(id, "full");
        let (first, queued) = store.enqueue_sync(job(a)).await.unwrap();
        assert!(queued);
        let (same, queued) = store.enqueue_sync(job(a)).await.unwrap();
        assert!(!queued);
        assert_eq!(same.id, first.id);
        store.enqueue_sync(job(b)).await.unwrap();

        let claimed = store.claim_job("node-1", 60_000).await.unwrap().unwrap();
        assert_eq!(claimed.id, first.id);
        assert_eq!(claimed.status, "running");
        let other = store.claim_job("node-2", 60_000).await.unwrap().unwrap();
        assert_eq!(other.integration_id, b);
        assert!(store.claim_job("node-3", 60_000).await.unwrap().is_none());

        store.finish_job(claimed.id, None).await.unwrap();
        store.finish_job(other.id, Some("boom")).await.unwrap();
        assert_eq!(store.job(other.id).await.unwrap().unwrap().status, "failed");
        assert!(store.pending_job(a).await.unwrap().is_none());

        // Schedules: `fields()` asks for every 10 minutes; due at once.
        let due = store.enqueue_due_schedules().await.unwrap();
        assert_eq!(due, vec![a, b]);
        assert!(
            store.enqueue_due_schedules().await.unwrap().is_empty(),
            "not due again yet"
        );
        let scheduled = store.pending_job(a).await.unwrap().unwrap();
        assert_eq!(
            (scheduled.trigger.as_str(), scheduled.mode.as_str()),
            ("schedule", "incremental")
        );
        let next = next_sync_at(&store, a).await.unwrap();
        assert!(next > cube_host::store::now_millis() + 590_000);
        for id in [a, b] {
            let job = store.claim_job("node-1", 60_000).await.unwrap().unwrap();
            assert_eq!(job.integration_id, id);
            store.finish_job(job.id, None).await.unwrap();
        }

        // A job whose worker died (lease over) goes back to the queue.
        store.enqueue_sync(job(a)).await.unwrap();
        let lost = store.claim_job("dead-node", -1).await.unwrap().unwrap();
        assert_eq!(store.requeue_expired_jobs().await.unwrap(), 1);
        let retaken = store.claim_job("node-1", 60_000).await.unwrap().unwrap();
        assert_eq!(retaken.id, lost.id);
        assert_eq!(retaken.attempts, 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_records_are_applied_with_their_cursor() {
    common::each_backend(|store| async move {
        let id = integration(&store, "Dir").await;
        let page = vec![
            record("user", "u1", serde_json::json!({"username": "ada", "mail": "ada@example.com", "enabled": false}), "1"),
            record("group", "g1", serde_json::json!({"name": "ops", "members": ["u1", "u2"]}), "1"),
            record("work-order", "WO-1", serde_json::json!({"title": "Fix it", "status": "open"}), "1"),
            record("ticket", "T-1", serde_json::json!({"x": 1}), "1"),
            Record { fields: "[1, 2]".into(), ..record("ticket", "T-2", serde_json::json!({}), "1") },
        ];
        let counts = store.apply_page(id, None, &page, Some("c1")).await.unwrap();
        assert_eq!(counts, RecordCounts { read: 5, created: 4, updated: 0, deleted: 0, failed: 1 });
        assert_eq!(store.integration(id).await.unwrap().unwrap().sync_cursor.as_deref(), Some("c1"));

        let again = vec![
            record("user", "u1", serde_json::json!({"username": "ada"}), "1"),
            record("group", "g1", serde_json::json!({"name": "ops-renamed"}), "2"),
            Record { deleted: true, ..record("work-order", "WO-1", serde_json::json!({}), "2") },
            Record { deleted: true, ..record("ticket", "T-404", serde_json::json!({}), "2") },
        ];
        let counts = store.apply_page(id, None, &again, Some("c2")).await.unwrap();
        assert_eq!(counts, RecordCounts { read: 4, created: 0, updated: 1, deleted: 1, failed: 0 });
        let synced = store.synced_counts(id).await.unwrap();
        assert_eq!(
            synced,
            vec![("directory users".into(), 1), ("directory groups".into(), 1), ("work orders".into(), 0), ("other records".into(), 1)]
        );
        let enabled: i64 = sqlx::query_scalar("SELECT enabled FROM directory_users WHERE external_id = 'u1'")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(enabled, 0, "a disabled account must be stored disabled");
        let stated = common::store_rows::count(
            &store,
            "SELECT CAST(COUNT(*) AS BIGINT) FROM directory_group_members WHERE group_external_id = 'g1'",
        )
        .await;
        assert_eq!(stated, 2, "members stay when a page does not list them");
        store.rebuild_memberships(id).await.unwrap();
        let members: Vec<String> =
            store.members_of_group(id, "g1").await.unwrap().into_iter().map(|m| m.member_external_id).collect();
        assert_eq!(members, vec!["u1".to_owned()], "only members that were synced resolve");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_logs_filter_search_and_page() {
    common::each_backend(|store| async move {
        let id = integration(&store, "Logs").await;
        for n in 0..7 {
            let log = store
                .start_sync_log(NewSyncLog {
                    integration_id: id,
                    integration_name: "Logs",
                    job_id: None,
                    operation: if n % 2 == 0 { "sync" } else { "test" },
                    trigger: "manual",
                    mode: None,
                })
                .await
                .unwrap();
            let message = if n == 3 {
                "LDAP server refused 100% of binds_now"
            } else {
                "fine"
            };
            let lines = serde_json::json!([{"level": "info", "message": format!("line {n}")}]);
            store
                .finish_sync_log(log, n != 3, RecordCounts::default(), message, &lines)
                .await
                .unwrap();
        }
        let all = SyncLogFilter {
            integration_id: Some(id),
            ..Default::default()
        };
        let (page, total) = store.sync_logs(&all, 0, 5).await.unwrap();
        assert_eq!((page.len(), total), (5, 7));
        let (rest, _) = store.sync_logs(&all, 5, 5).await.unwrap();
        assert_eq!(rest.len(), 2);
        assert!(page[0].id > rest[0].id, "newest first");

        let search = |text: &str| SyncLogFilter {
            text: Some(text.into()),
            ..all.clone()
        };
        assert_eq!(
            store
                .sync_logs(&search("refused ldap"), 0, 10)
                .await
                .unwrap()
                .1,
            1
        );
        assert_eq!(
            store.sync_logs(&search("100%"), 0, 10).await.unwrap().1,
            1,
            "% is literal"
        );
        assert_eq!(
            store.sync_logs(&search("binds_"), 0, 10).await.unwrap().1,
            1,
            "_ is literal"
        );
        assert_eq!(store.sync_logs(&search("b_nds"), 0, 10).await.unwrap().1, 0);
        assert_eq!(
            store.sync_logs(&search("LINE 6"), 0, 10).await.unwrap().1,
            1,
            "log lines are searched"
        );
        let failed = SyncLogFilter {
            status: Some("failed".into()),
            ..all.clone()
        };
        assert_eq!(store.sync_logs(&failed, 0, 10).await.unwrap().1, 1);
        let tests = SyncLogFilter {
            operation: Some("test".into()),
            ..all.clone()
        };
        assert_eq!(store.sync_logs(&tests, 0, 10).await.unwrap().1, 3);
        let future = SyncLogFilter {
            from: Some(cube_host::store::now_millis() + 60_000),
            ..all.clone()
        };
        assert_eq!(store.sync_logs(&future, 0, 10).await.unwrap().1, 0);

        let days = store.sync_outcomes_by_day(0).await.unwrap();
        assert_eq!(days.len(), 1);
        assert_eq!(
            (days[0].1, days[0].2),
            (4, 0),
            "four syncs succeeded; the failure was a test"
        );

        // Logs outlive their integration.
        store.delete_integration(id).await.unwrap();
        let (kept, _) = store
            .sync_logs(&SyncLogFilter::default(), 0, 10)
            .await
            .unwrap();
        assert_eq!(kept.len(), 7);
        assert!(
            kept.iter()
                .all(|l| l.integration_id.is_none() && l.integration_name == "Logs")
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drafts_belong_to_their_user_and_connector() {
    common::each_backend(|store| async move {
        let ada = store
            .create_user("ada", "a long password 1", Role::Admin)
            .await
            .unwrap();
        let bob = store
            .create_user("bob", "a long password 2", Role::Admin)
            .await
            .unwrap();
        let mut draft = store.create_draft(ada.id, "probe").await.unwrap();
        draft.values.insert("url".into(), "https://x".into());
        draft.step = 2;
        store.save_draft(&draft).await.unwrap();
        // The draft as `user` sees it on the wizard of `connector`.
        let draft_of = async |user: i64, connector: &str| {
            store.draft(&draft.id, user, connector).await.unwrap()
        };
        let loaded = draft_of(ada.id, "probe").await.unwrap();
        assert_eq!(loaded.step, 2);
        assert_eq!(loaded.values["url"], "https://x");
        assert!(draft_of(bob.id, "probe").await.is_none());
        assert!(draft_of(ada.id, "jira").await.is_none());
        store.delete_user(ada.id).await.unwrap();
        assert!(draft_of(ada.id, "probe").await.is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_schedules_run_at_the_times_they_name() {
    common::each_backend(|store| async move {
        let cron = IntegrationFields {
            sync_interval_secs: None,
            sync_cron: Some("0 3 * * *".into()),
            ..fields("Nightly")
        };
        let id = common::probe_integration(&store, &cron).await;
        // First seen: its next run is set, nothing is queued now.
        assert!(store.enqueue_due_schedules().await.unwrap().is_empty());
        let next = next_sync_at(&store, id).await.unwrap();
        let now = cube_host::store::now_millis();
        assert!(
            next > now && next <= now + 86_400_000,
            "within a day: {next}"
        );
        assert_eq!(next % 86_400_000, 3 * 3_600_000, "at 03:00 UTC");
        // When that time has come, it is queued and moved to the next day.
        sqlx::query("UPDATE integrations SET next_sync_at = $1 WHERE id = $2")
            .bind(now - 1000)
            .bind(id)
            .execute(store.pool())
            .await
            .unwrap();
        assert_eq!(store.enqueue_due_schedules().await.unwrap(), vec![id]);
        let moved = next_sync_at(&store, id).await.unwrap();
        assert!(moved > now && moved % 86_400_000 == 3 * 3_600_000);
        assert!(
            store.enqueue_due_schedules().await.unwrap().is_empty(),
            "once per time"
        );
        // A finished sync keeps the cron's next time.
        store
            .record_sync_result(id, &common::sync_ended("incremental", true))
            .await
            .unwrap();
        assert_eq!(next_sync_at(&store, id).await, Some(moved));
    })
    .await;
}
