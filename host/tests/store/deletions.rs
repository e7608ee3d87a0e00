//! The deletion guard in the store, on SQLite and PostgreSQL: a full sync
//! that would delete more than the threshold holds the records instead;
//! approving deletes exactly the held records still present and unseen
//! (their memberships with them), discarding keeps them, and a later full
//! sync replaces the held set.

use cube_test_support as common;

use cube_host::runtime::types::Record;
use cube_host::store::Store;
use cube_host::store::deletions::{DecisionError, DeletionLimits, FullSyncEnd};
use cube_host::store::integrations::IntegrationFields;
use serde_json::json;

async fn integration(store: &Store, name: &str) -> i64 {
    common::probe_integration(store, &IntegrationFields::new(name, Default::default())).await
}

fn dn(id: &str) -> String {
    format!("uid={id},ou=people,dc=x")
}

fn user(id: &str) -> Record {
    common::record("user", id, json!({"username": id, "dn": dn(id)}), "1")
}

fn group(id: &str, members: &[&str]) -> Record {
    let member_dns: Vec<String> = members.iter().map(|m| dn(m)).collect();
    common::record(
        "group",
        id,
        json!({"name": id, "dn": format!("cn={id},dc=x"), "member_dns": member_dns}),
        "1",
    )
}

fn users(range: std::ops::Range<usize>) -> Vec<Record> {
    range.map(|n| user(&format!("u{n:02}"))).collect()
}

/// A running sync job of the integration.
async fn job(store: &Store, integration: i64, mode: &str) -> i64 {
    common::sync_setup::claimed_manual_sync(store, integration, mode, false).await
}

/// A full sync by a new job that reads `records` and then ends.
async fn full_sync(store: &Store, integration: i64, records: &[Record]) -> (i64, FullSyncEnd) {
    let id = job(store, integration, "full").await;
    store
        .apply_page(integration, Some(id), records, None)
        .await
        .unwrap();
    let end = store.end_full_sync(integration, id).await.unwrap();
    match end {
        FullSyncEnd::Held { .. } => store.hold_job(id, integration).await.unwrap(),
        FullSyncEnd::Deleted(_) => store.finish_job(id, None).await.unwrap(),
    }
    store.rebuild_memberships(integration).await.unwrap();
    (id, end)
}

async fn usernames(store: &Store, integration: i64) -> Vec<String> {
    let mut names: Vec<String> = sqlx::query_scalar(
        "SELECT username FROM directory_users WHERE integration_id = $1 ORDER BY username",
    )
    .bind(integration)
    .fetch_all(store.pool())
    .await
    .unwrap();
    names.sort();
    names
}

async fn status(store: &Store, job: i64) -> String {
    store.job(job).await.unwrap().unwrap().status
}

#[test]
fn the_stricter_limit_applies_and_zero_turns_a_limit_off() {
    let default = DeletionLimits::default();
    assert_eq!((default.max_objects, default.max_percent), (500, 10));
    // 10 % of 100,000 is 10,000: the 500 objects are stricter.
    assert_eq!(default.allowed(100_000), Some(500));
    assert!(default.exceeded_by(501, 100_000));
    assert!(!default.exceeded_by(500, 100_000));
    // 10 % of 1,000 is 100: stricter than 500.
    assert_eq!(default.allowed(1_000), Some(100));
    assert!(default.exceeded_by(101, 1_000));
    assert!(!default.exceeded_by(100, 1_000));
    let by_count = DeletionLimits {
        max_objects: 3,
        max_percent: 0,
    };
    assert_eq!(by_count.allowed(1_000_000), Some(3));
    let by_share = DeletionLimits {
        max_objects: 0,
        max_percent: 50,
    };
    // Rounded up: 4.5 allows 5, and one deletion is always allowed.
    assert_eq!(by_share.allowed(9), Some(5));
    assert!(!by_share.exceeded_by(5, 9));
    assert!(by_share.exceeded_by(6, 9));
    assert_eq!(default.allowed(3), Some(1));
    assert!(default.exceeded_by(2, 3));
    assert_eq!(default.allowed(0), Some(0));
    let off = DeletionLimits {
        max_objects: 0,
        max_percent: 0,
    };
    assert_eq!(off.allowed(10), None);
    assert!(!off.exceeded_by(10, 10), "no limit: everything may go");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_over_the_threshold_deletes_nothing_and_approval_deletes_exactly_the_unseen() {
    common::each_backend(|store| async move {
        let id = integration(&store, "Guarded").await;
        // 20 users and a group: the share is of the users, so 10 % allows
        // 2 deletions.
        let mut all = users(0..20);
        all.push(group("g1", &["u01", "u15"]));
        let (_, end) = full_sync(&store, id, &all).await;
        assert_eq!(end, FullSyncEnd::Deleted(0));

        // The next full sync sees u00..u09 and the group: 10 users unseen.
        let mut seen = users(0..10);
        seen.push(group("g1", &["u01", "u15"]));
        let (held_job, end) = full_sync(&store, id, &seen).await;
        assert_eq!(
            end,
            FullSyncEnd::Held {
                count: 10,
                allowed: 2
            }
        );
        assert_eq!(status(&store, held_job).await, "needs_approval");
        assert_eq!(usernames(&store, id).await.len(), 20, "nothing deleted");
        let integration = store.integration(id).await.unwrap().unwrap();
        assert_eq!(
            integration.last_sync_status.as_deref(),
            Some("needs_approval")
        );

        // The list, paged.
        let page = store.pending_deletions(id, 0, 4).await.unwrap().unwrap();
        assert_eq!(
            (page.job_id, page.total, page.items.len()),
            (held_job, 10, 4)
        );
        assert_eq!(page.items[0].kind, "user");
        assert_eq!(page.items[0].name, "u10");
        assert_eq!(page.items[0].dn.as_deref(), Some(dn("u10").as_str()));
        let last = store.pending_deletions(id, 8, 4).await.unwrap().unwrap();
        let names: Vec<_> = last.items.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["u18", "u19"]);

        // Syncs go on meanwhile: an incremental sync sees u10 again.
        let later = job(&store, id, "incremental").await;
        store
            .apply_page(id, Some(later), &[user("u10")], None)
            .await
            .unwrap();
        store.finish_job(later, None).await.unwrap();

        // An approval of another job's list is refused, and changes nothing.
        let wrong = store.approve_deletions(id, later).await.unwrap_err();
        assert!(
            matches!(wrong, DecisionError::Replaced { current, .. } if current == held_job),
            "{wrong}"
        );
        assert_eq!(usernames(&store, id).await.len(), 20);

        // u15 is a member of g1 until approved.
        let member = store.memberships_of_member(id, "u15").await.unwrap();
        assert_eq!(member.len(), 1);

        let decided = store.approve_deletions(id, held_job).await.unwrap();
        assert_eq!((decided.pending, decided.deleted), (10, 9));
        let mut expected: Vec<String> = (0..11).map(|n| format!("u{n:02}")).collect();
        expected.sort();
        assert_eq!(usernames(&store, id).await, expected, "u10 was seen again");
        assert!(
            store
                .memberships_of_member(id, "u15")
                .await
                .unwrap()
                .is_empty(),
            "a deleted user's membership goes with it"
        );
        assert_eq!(
            store.memberships_of_member(id, "u01").await.unwrap().len(),
            1
        );
        assert!(store.pending_deletions(id, 0, 10).await.unwrap().is_none());
        assert_eq!(status(&store, held_job).await, "approved");
        // Nothing is left to decide.
        assert!(matches!(
            store.approve_deletions(id, held_job).await.unwrap_err(),
            DecisionError::NothingPending
        ));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discard_keeps_the_records_and_a_later_full_sync_replaces_the_held_set() {
    common::each_backend(|store| async move {
        let id = integration(&store, "Kept").await;
        store
            .set_deletion_limits(
                id,
                DeletionLimits {
                    max_objects: 3,
                    max_percent: 0,
                },
            )
            .await
            .unwrap();
        assert_eq!(store.deletion_limits(id).await.unwrap().max_objects, 3);
        full_sync(&store, id, &users(0..10)).await;

        // 4 unseen > 3: held; discarded, all stay.
        let (first, end) = full_sync(&store, id, &users(0..6)).await;
        assert!(
            matches!(
                end,
                FullSyncEnd::Held {
                    count: 4,
                    allowed: 3
                }
            ),
            "{end:?}"
        );
        let decided = store.discard_deletions(id, first).await.unwrap();
        assert_eq!((decided.pending, decided.deleted), (4, 0));
        assert_eq!(usernames(&store, id).await.len(), 10);
        assert_eq!(status(&store, first).await, "discarded");
        assert!(store.pending_deletions(id, 0, 10).await.unwrap().is_none());

        // Held again, then a later full sync holding a different set
        // replaces it.
        let (second, _) = full_sync(&store, id, &users(0..6)).await;
        let (third, end) = full_sync(&store, id, &users(5..10)).await;
        assert!(matches!(end, FullSyncEnd::Held { count: 5, .. }), "{end:?}");
        assert_eq!(status(&store, second).await, "superseded");
        let set = store.pending_deletions(id, 0, 10).await.unwrap().unwrap();
        assert_eq!(set.job_id, third);
        let names: Vec<_> = set.items.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["u00", "u01", "u02", "u03", "u04"]);
        assert!(matches!(
            store.discard_deletions(id, second).await.unwrap_err(),
            DecisionError::Replaced { .. }
        ));

        // A full sync within the threshold deletes and clears the held set.
        let (fourth, end) = full_sync(&store, id, &users(0..8)).await;
        assert_eq!(end, FullSyncEnd::Deleted(2));
        assert_eq!(status(&store, third).await, "superseded");
        assert_eq!(status(&store, fourth).await, "succeeded");
        assert!(store.pending_deletions(id, 0, 10).await.unwrap().is_none());
        assert_eq!(usernames(&store, id).await.len(), 8);
    })
    .await;
}

fn deleted(mut record: Record) -> Record {
    record.deleted = true;
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_sync_stating_more_deletions_than_the_threshold_holds_them_all() {
    common::each_backend(|store| async move {
        let id = integration(&store, "Told").await;
        let mut all = users(0..20);
        all.push(group("g1", &["u00", "u05"]));
        full_sync(&store, id, &all).await;

        // 10 % of 20 users allows 2. The pages state 4 deletions, and u01
        // comes back on the last page: 3 remain, more than 2.
        let told = job(&store, id, "incremental").await;
        let first = [
            deleted(user("u00")),
            deleted(user("u01")),
            deleted(user("u02")),
        ];
        let counts = store
            .apply_page(id, Some(told), &first, Some("c1"))
            .await
            .unwrap();
        assert_eq!(counts.deleted, 0, "staged, not deleted");
        assert_eq!(usernames(&store, id).await.len(), 20);
        let last = [user("u01"), deleted(user("u03")), deleted(user("nobody"))];
        store
            .apply_last_page(id, told, &last, Some("c2"))
            .await
            .unwrap();
        let end = store.end_incremental_sync(id, told).await.unwrap();
        assert_eq!(
            end,
            FullSyncEnd::Held {
                count: 3,
                allowed: 2
            }
        );
        store.hold_job(told, id).await.unwrap();
        assert_eq!(usernames(&store, id).await.len(), 20, "nothing deleted");
        let pending = store.pending_deletions(id, 0, 10).await.unwrap().unwrap();
        let names: Vec<_> = pending.items.iter().map(|d| d.name.as_str()).collect();
        assert_eq!((pending.job_id, names), (told, vec!["u00", "u02", "u03"]));

        // u02 comes back before the admin decides: approval leaves it.
        let later = job(&store, id, "incremental").await;
        store
            .apply_last_page(id, later, &[user("u02")], Some("c3"))
            .await
            .unwrap();
        assert_eq!(
            store.end_incremental_sync(id, later).await.unwrap(),
            FullSyncEnd::Deleted(0)
        );
        store.finish_job(later, None).await.unwrap();
        assert!(
            store.pending_deletions(id, 0, 10).await.unwrap().is_some(),
            "a sync within the threshold leaves the held set"
        );
        let decided = store.approve_deletions(id, told).await.unwrap();
        assert_eq!((decided.pending, decided.deleted), (3, 2));
        let left = usernames(&store, id).await;
        assert_eq!(left.len(), 18);
        assert!(!left.contains(&"u00".to_owned()) && !left.contains(&"u03".to_owned()));
        assert!(left.contains(&"u01".to_owned()) && left.contains(&"u02".to_owned()));
        assert!(
            store
                .memberships_of_member(id, "u00")
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_sync_within_the_threshold_deletes_what_it_was_told_at_its_end() {
    common::each_backend(|store| async move {
        let id = integration(&store, "Within").await;
        let mut all = users(0..20);
        all.push(group("g1", &["u00"]));
        full_sync(&store, id, &all).await;

        let told = job(&store, id, "incremental").await;
        store
            .apply_page(id, Some(told), &[deleted(group("g1", &[]))], Some("c1"))
            .await
            .unwrap();
        store
            .apply_last_page(id, told, &[deleted(user("u07"))], Some("c2"))
            .await
            .unwrap();
        assert_eq!(usernames(&store, id).await.len(), 20, "not before the end");
        assert_eq!(
            store.end_incremental_sync(id, told).await.unwrap(),
            FullSyncEnd::Deleted(2)
        );
        let left = usernames(&store, id).await;
        assert_eq!(left.len(), 19);
        assert!(!left.contains(&"u07".to_owned()));
        store.rebuild_memberships(id).await.unwrap();
        assert!(
            store
                .memberships_of_member(id, "u00")
                .await
                .unwrap()
                .is_empty(),
            "the deleted group's memberships went with it"
        );
        // Ending again (a node that died after the end, finished by another)
        // deletes nothing more.
        assert_eq!(
            store.end_incremental_sync(id, told).await.unwrap(),
            FullSyncEnd::Deleted(0)
        );
    })
    .await;
}
