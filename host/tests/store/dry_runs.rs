//! A dry run's listing in the store, on SQLite and PostgreSQL: per record
//! what would be created, updated (the changed fields, old and new, secrets
//! hidden), disabled and deleted (named by a deletion, or unseen by a full
//! dry run), nothing written to the records, at most `MAX_ITEMS` listed
//! with the rest counted.

use cube_test_support as common;

use cube_host::runtime::Secrets;
use cube_host::runtime::types::Record;

use common::record;
use cube_host::store::Store;
use cube_host::store::dry_runs::{Change, HIDDEN, MAX_ITEMS};
use cube_host::store::integrations::IntegrationFields;
use serde_json::json;

async fn integration(store: &Store) -> i64 {
    common::probe_integration(
        store,
        &IntegrationFields::new("Previewed", Default::default()),
    )
    .await
}

async fn dry_job(store: &Store, integration: i64) -> i64 {
    common::sync_setup::claimed_manual_sync(store, integration, "full", true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_dry_run_lists_each_change_with_old_and_new_values_and_writes_nothing() {
    common::each_backend(|store| async move {
        let id = integration(&store).await;
        let secrets = Secrets::new(["hunter2-Secret"]);
        store
            .apply_page(
                id,
                None,
                &[
                    record("user", "ada", json!({"username": "ada", "email": "ada@old.example", "enabled": true}), "1"),
                    record("user", "ken", json!({"username": "ken", "enabled": true}), "1"),
                    record("user", "gone", json!({"username": "gone"}), "1"),
                    record("ticket", "T-1", json!({"title": "Printer", "api_token": "abc", "note": "old"}), "1"),
                    record("ticket", "T-2", json!({"title": "Unchanged"}), "1"),
                    record("ticket", "T-3", json!({"title": "Removed"}), "1"),
                ],
                None,
            )
            .await
            .unwrap();
        let job = dry_job(&store, id).await;
        store.start_dry_run(job).await.unwrap();
        let mut removed = record("ticket", "T-3", json!({}), "2");
        removed.deleted = true;
        let counts = store
            .preview_page(
                id,
                job,
                true,
                &[
                    record("user", "ada", json!({"username": "ada", "email": "ada@new.example", "enabled": true}), "2"),
                    record("user", "ken", json!({"username": "ken", "enabled": false}), "2"),
                    record("user", "new", json!({"username": "new"}), "1"),
                    record("ticket", "T-1", json!({"title": "Printer", "api_token": "xyz", "note": "see hunter2-Secret"}), "2"),
                    record("ticket", "T-2", json!({"title": "Unchanged"}), "1"),
                    removed,
                ],
                &secrets,
            )
            .await
            .unwrap();
        assert_eq!(
            (counts.created, counts.updated, counts.deleted),
            (1, 3, 1)
        );
        // `gone` was not read: a full sync would delete it.
        assert_eq!(store.finish_full_dry_run(id, job).await.unwrap(), 1);
        // The threshold's share is of the users it holds (3), not of all
        // its records (6).
        assert_eq!(store.deletion_base(id).await.unwrap(), 3);

        let listing = store.dry_run_listing(job, 0, 100).await.unwrap().unwrap();
        assert_eq!((listing.listed, listing.more), (6, 0));
        let of = |action: &str, external_id: &str| {
            listing
                .items
                .iter()
                .find(|i| i.action == action && i.external_id == external_id)
                .unwrap_or_else(|| panic!("no {action} of {external_id}: {:?}", listing.items))
                .clone()
        };
        assert_eq!(
            of("update", "ada").changes,
            [Change {
                field: "email".into(),
                old: Some("ada@old.example".into()),
                new: Some("ada@new.example".into())
            }]
        );
        let ken = of("disable", "ken");
        assert_eq!(ken.changes[0].field, "enabled");
        assert_eq!(ken.changes[0].new.as_deref(), Some("false"));
        assert_eq!(of("create", "new").name, "new");
        let ticket = of("update", "T-1");
        assert_eq!(ticket.name, "Printer");
        assert_eq!(
            ticket.changes,
            [
                Change {
                    field: "api_token".into(),
                    old: Some(HIDDEN.into()),
                    new: Some(HIDDEN.into())
                },
                Change {
                    field: "note".into(),
                    old: Some("old".into()),
                    new: Some("see [redacted]".into())
                },
            ]
        );
        assert_eq!(of("delete", "T-3").name, "Removed");
        assert_eq!(of("delete", "gone").kind, "user");
        let text = serde_json::to_string(&listing).unwrap();
        assert!(!text.contains("hunter2") && !text.contains("xyz") && !text.contains("abc"));
        let totals: Vec<_> = listing
            .totals
            .iter()
            .map(|t| (t.action.as_str(), t.kind.as_str(), t.total))
            .collect();
        assert_eq!(
            totals,
            [
                ("delete", "ticket", 1),
                ("update", "ticket", 1),
                ("create", "user", 1),
                ("delete", "user", 1),
                ("disable", "user", 1),
                ("update", "user", 1),
            ]
        );
        // Paged.
        let second = store.dry_run_listing(job, 2, 2).await.unwrap().unwrap();
        assert_eq!(second.items.len(), 2);
        assert_eq!(second.items[0].external_id, listing.items[2].external_id);

        // Nothing was written to the records.
        let email: Option<String> = sqlx::query_scalar(
            "SELECT email FROM directory_users WHERE integration_id = $1 AND external_id = 'ada'",
        )
        .bind(id)
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(email.as_deref(), Some("ada@old.example"));
        assert_eq!(store.synced_counts(id).await.unwrap()[0].1, 3);
        assert_eq!(store.synced_counts(id).await.unwrap()[3].1, 3);

        // A retried attempt starts its listing again.
        store.start_dry_run(job).await.unwrap();
        assert!(store.dry_run_listing(job, 0, 10).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_lists_at_most_max_items_and_counts_the_rest() {
    common::each_backend(|store| async move {
        let id = integration(&store).await;
        let job = dry_job(&store, id).await;
        let extra = 7;
        let records: Vec<Record> = (0..MAX_ITEMS + extra)
            .map(|n| {
                record(
                    "item",
                    &n.to_string(),
                    json!({"name": format!("item {n}")}),
                    "1",
                )
            })
            .collect();
        for page in records.chunks(400) {
            store
                .preview_page(id, job, false, page, &Secrets::default())
                .await
                .unwrap();
        }
        let listing = store.dry_run_listing(job, 0, 5).await.unwrap().unwrap();
        assert_eq!((listing.listed, listing.more), (MAX_ITEMS, extra));
        assert_eq!(listing.totals[0].total, MAX_ITEMS + extra);
        assert_eq!(listing.totals[0].listed, MAX_ITEMS);
        assert_eq!(listing.items.len(), 5);
    })
    .await;
}
