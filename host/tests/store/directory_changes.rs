//! The directory change feed on both backends: every committed change to a
//! user, group or membership appears once, in commit order, after the
//! cursor of the one before; a reader on PostgreSQL never passes a change
//! a running transaction may still commit before it; pruned cursors are
//! refused, and positions never go back.

use cube_test_support as common;

use cube_host::runtime::types::Record;
use cube_host::store::Store;
use cube_host::store::directory::{DirectoryChange, FeedCursor, FeedError};
use cube_host::store::integrations::IntegrationFields;
use serde_json::json;

async fn integration(store: &Store, name: &str) -> i64 {
    common::probe_integration(store, &IntegrationFields::new(name, Default::default())).await
}

fn user(id: &str, enabled: bool, version: &str) -> Record {
    common::record(
        "user",
        id,
        json!({"username": id, "enabled": enabled}),
        version,
    )
}

fn group(id: &str, members: &[&str], version: &str) -> Record {
    common::record(
        "group",
        id,
        json!({"name": id, "members": members}),
        version,
    )
}

fn deleted(kind: &str, id: &str) -> Record {
    Record {
        deleted: true,
        ..common::record(kind, id, json!({}), "9")
    }
}

/// Applies a page as a sync does, memberships rebuilt after it.
async fn sync_page(store: &Store, id: i64, records: &[Record]) {
    store.apply_page(id, None, records, None).await.unwrap();
    store.rebuild_memberships(id).await.unwrap();
}

/// `type subject` per change: the user's or group's external id, and for
/// a membership `group/member`.
fn described(changes: &[DirectoryChange]) -> Vec<String> {
    changes
        .iter()
        .map(|c| {
            let subject = match (&c.user, &c.group, &c.member) {
                (Some(user), _, _) => user.external_id.clone(),
                (_, Some(group), Some(member)) => {
                    format!("{}/{}", group.external_id, member.external_id)
                }
                (_, Some(group), None) => group.external_id.clone(),
                _ => panic!("a change about nothing: {c:?}"),
            };
            format!("{} {subject}", c.change_type)
        })
        .collect()
}

/// The `expected` changes after `cursor`, read `limit` at a time: waits
/// for them (on PostgreSQL a change is readable once every transaction
/// that began before it has ended, in any database of the server: the
/// other tests' included), checks that cursors only grow, and returns the
/// changes and the last cursor.
async fn read_all(
    store: &Store,
    mut cursor: FeedCursor,
    limit: i64,
    expected: usize,
) -> (Vec<DirectoryChange>, FeedCursor) {
    let mut all = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let page = store.directory_changes_after(cursor, limit).await.unwrap();
        for change in &page {
            assert!(change.cursor > cursor, "cursors grow: {change:?}");
            cursor = change.cursor;
        }
        let full = page.len() as i64 == limit;
        all.extend(page);
        if full {
            continue;
        }
        if all.len() >= expected {
            return (all, cursor);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {expected} changes readable after 20 s: {all:?}",
            all.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_committed_change_is_in_the_feed_once_and_in_order() {
    common::each_backend(|store| async move {
        let head = store.directory_feed_head().await.unwrap();
        let id = integration(&store, "Directory").await;
        sync_page(
            &store,
            id,
            &[
                user("ada", true, "1"),
                user("bob", true, "1"),
                group("eng", &["ada"], "1"),
            ],
        )
        .await;
        let (first, cursor) = read_all(&store, head, 500, 4).await;
        assert_eq!(
            described(&first),
            [
                "group.created eng",
                "user.created ada",
                "user.created bob",
                "membership.added eng/ada"
            ]
        );
        // Each user change carries the user as it is now, with its id.
        let ada = first[1].user.as_ref().unwrap();
        let ada_id = ada.id.expect("a stored user has an id");
        assert_eq!(ada.current.as_ref().unwrap().username, "ada");
        let membership = &first[3];
        assert_eq!(membership.member.as_ref().unwrap().id, Some(ada_id));
        assert_eq!(
            membership.member.as_ref().unwrap().kind.as_deref(),
            Some("user")
        );
        assert_eq!(membership.direct, Some(true));
        // One at a time reads the same as all at once.
        let (one_by_one, same_cursor) = read_all(&store, head, 1, 4).await;
        assert_eq!(one_by_one, first);
        assert_eq!(same_cursor, cursor);

        // Read again unchanged: no change. Disabled: `disabled`, not
        // `updated`. A group whose members change is updated, and the
        // memberships say who left and who joined.
        sync_page(
            &store,
            id,
            &[
                user("ada", false, "2"),
                user("bob", true, "1"),
                group("eng", &["ada"], "1"),
            ],
        )
        .await;
        let (second, cursor) = read_all(&store, cursor, 500, 1).await;
        assert_eq!(described(&second), ["user.disabled ada"]);
        assert!(
            !second[0]
                .user
                .as_ref()
                .unwrap()
                .current
                .as_ref()
                .unwrap()
                .enabled
        );
        sync_page(&store, id, &[group("eng", &["bob"], "2")]).await;
        let (third, cursor) = read_all(&store, cursor, 500, 3).await;
        assert_eq!(
            described(&third),
            [
                "group.updated eng",
                "membership.removed eng/ada",
                "membership.added eng/bob"
            ]
        );

        // A deletion names what was deleted, by id, with no current state.
        let bob_id = first[2].user.as_ref().unwrap().id;
        store
            .apply_page(id, None, &[deleted("user", "bob")], None)
            .await
            .unwrap();
        let (fourth, cursor) = read_all(&store, cursor, 500, 1).await;
        assert_eq!(described(&fourth), ["user.deleted bob"]);
        assert_eq!(fourth[0].user.as_ref().unwrap().id, bob_id);
        assert_eq!(fourth[0].user.as_ref().unwrap().current, None);

        // Deleting the integration is the end of all it held.
        assert!(store.delete_integration(id).await.unwrap());
        let (fifth, cursor) = read_all(&store, cursor, 500, 3).await;
        assert_eq!(
            described(&fifth),
            [
                "membership.removed eng/bob",
                "user.deleted ada",
                "group.deleted eng"
            ]
        );
        assert!(fifth.iter().all(|c| c.integration_id == id));
        assert_eq!(store.directory_feed_head().await.unwrap(), cursor);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pruned_cursor_is_refused_and_positions_never_go_back() {
    common::each_backend(|store| async move {
        let start = store.directory_feed_head().await.unwrap();
        let id = integration(&store, "Directory").await;
        let users: Vec<Record> = (0..5).map(|n| user(&format!("u{n}"), true, "1")).collect();
        store.apply_page(id, None, &users, None).await.unwrap();
        let (written, head) = read_all(&store, start, 500, 5).await;
        assert_eq!(written.len(), 5);

        // Nothing is older than an hour ago: nothing goes.
        let hour_ago = cube_host::store::now_millis() - 3_600_000;
        assert_eq!(store.prune_directory_changes(hour_ago, 2).await.unwrap(), 0);
        assert!(store.directory_changes_after(start, 10).await.is_ok());

        // Everything up to now goes, two per batch.
        let now = cube_host::store::now_millis() + 1;
        assert_eq!(store.prune_directory_changes(now, 2).await.unwrap(), 5);
        assert!(matches!(
            store.directory_changes_after(start, 10).await,
            Err(FeedError::Expired)
        ));
        assert!(matches!(
            store.directory_changes_after(written[2].cursor, 10).await,
            Err(FeedError::Expired)
        ));
        // A consumer that had read everything goes on.
        assert_eq!(store.directory_feed_head().await.unwrap(), head);
        assert!(
            store
                .directory_changes_after(head, 10)
                .await
                .unwrap()
                .is_empty()
        );
        // The next change sorts after every pruned one (ids are not
        // reused once the rows that held them are gone).
        store
            .apply_page(id, None, &[user("late", true, "1")], None)
            .await
            .unwrap();
        let (after, _) = read_all(&store, head, 500, 1).await;
        assert_eq!(described(&after), ["user.created late"]);
        assert!(after[0].cursor > head);
    })
    .await;
}

#[test]
fn cursors_read_back_as_written_and_nothing_else_parses() {
    assert_eq!(FeedCursor::parse("0.0"), Some(FeedCursor::START));
    for bad in ["", "1", "1.", ".1", "-1.2", "1.2.3", "a.b", " 1.2", "1.2 "] {
        assert_eq!(FeedCursor::parse(bad), None, "{bad:?}");
    }
    let cursor = FeedCursor::parse("12.345").unwrap();
    assert_eq!(cursor.to_string(), "12.345");
    assert!(cursor > FeedCursor::START);
    assert!(FeedCursor::parse("12.346").unwrap() > cursor);
    assert!(FeedCursor::parse("13.1").unwrap() > cursor);
}

/// Two nodes on one PostgreSQL: a transaction that began writing changes
/// before another commits after it. A reader that returned the later
/// transaction's changes first would move its cursor past the earlier
/// one's, and miss them for good; the feed holds back until the earlier
/// transaction ends, then returns both in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_reader_waits_for_a_transaction_that_began_first() {
    use sqlx::Connection;
    let url = common::postgres_database().await;
    let node_a = Store::connect(&url).await.unwrap();
    let node_b = Store::connect(&url).await.unwrap();
    let id = integration(&node_a, "Directory").await;
    let start = node_b.directory_feed_head().await.unwrap();

    // A slow writer on its own connection: its change is recorded first
    // (smaller transaction id, smaller row id) and committed last.
    let mut slow = sqlx::AnyConnection::connect(&url).await.unwrap();
    let mut open = slow.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO directory_changes (integration_id, entity, change, external_id, changed_at) \
         VALUES ($1, 'user', 'updated', 'slow', 0)",
    )
    .bind(id)
    .execute(&mut *open)
    .await
    .unwrap();

    node_a
        .apply_page(id, None, &[user("quick", true, "1")], None)
        .await
        .unwrap();
    // Node B sees nothing yet: "quick" is committed, but "slow" may still
    // commit before it.
    assert!(
        node_b
            .directory_changes_after(start, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(node_b.directory_feed_head().await.unwrap(), start);

    open.commit().await.unwrap();
    let (seen, _) = read_all(&node_b, start, 10, 2).await;
    assert_eq!(
        described(&seen),
        ["user.updated slow", "user.created quick"]
    );
    // And node A reads the same.
    let (same, _) = read_all(&node_a, start, 1, 2).await;
    assert_eq!(same, seen);
}

/// Writers on two nodes and readers alternating between them: every
/// change is read exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_two_busy_nodes_give_one_feed_without_loss_or_repeats() {
    let url = common::postgres_database().await;
    let nodes = [
        Store::connect(&url).await.unwrap(),
        Store::connect(&url).await.unwrap(),
    ];
    let integrations = [
        integration(&nodes[0], "One").await,
        integration(&nodes[0], "Two").await,
    ];
    let start = nodes[0].directory_feed_head().await.unwrap();
    const PAGES: usize = 20;
    const PER_PAGE: usize = 25;
    let writers: Vec<_> = (0..2)
        .map(|n| {
            let store = nodes[n].clone();
            let id = integrations[n];
            tokio::spawn(async move {
                for page in 0..PAGES {
                    let users: Vec<Record> = (0..PER_PAGE)
                        .map(|u| user(&format!("n{n}-p{page}-u{u}"), true, "1"))
                        .collect();
                    store.apply_page(id, None, &users, None).await.unwrap();
                }
            })
        })
        .collect();
    let mut cursor = start;
    let mut seen: Vec<String> = Vec::new();
    let mut turn = 0;
    let expected = 2 * PAGES * PER_PAGE;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while seen.len() < expected {
        assert!(
            std::time::Instant::now() < deadline,
            "read {} of {expected}",
            seen.len()
        );
        turn += 1;
        let page = nodes[turn % 2]
            .directory_changes_after(cursor, 37)
            .await
            .unwrap();
        for change in page {
            assert!(change.cursor > cursor);
            cursor = change.cursor;
            seen.push(change.user.unwrap().external_id);
        }
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no change is read twice");
    assert_eq!(seen.len(), expected);
    assert!(
        nodes[1]
            .directory_changes_after(cursor, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A consumer's cursor outlives the host: after a restart (the store
/// opened again, a new pool on PostgreSQL) it continues with exactly the
/// changes made since.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_continues_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = common::postgres_database().await;
    let reopen = |postgres: bool| {
        let (path, url) = (dir.path().to_path_buf(), url.clone());
        async move {
            if postgres {
                Store::connect(&url).await.unwrap()
            } else {
                Store::open_in(&path).await.unwrap()
            }
        }
    };
    for postgres in [false, true] {
        let store = reopen(postgres).await;
        let start = store.directory_feed_head().await.unwrap();
        let id = integration(&store, "Directory").await;
        store
            .apply_page(id, None, &[user("before", true, "1")], None)
            .await
            .unwrap();
        let (_, cursor) = read_all(&store, start, 500, 1).await;
        store.close().await;

        let store = reopen(postgres).await;
        store
            .apply_page(id, None, &[user("after", true, "1")], None)
            .await
            .unwrap();
        let (since, _) = read_all(&store, cursor, 500, 1).await;
        assert_eq!(
            described(&since),
            ["user.created after"],
            "postgres: {postgres}"
        );
        store.close().await;
    }
}

/// Two nodes relaying the feed into webhook events at the same time: each
/// change becomes one event, in the feed's order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_two_relaying_nodes_queue_each_change_once() {
    let url = common::postgres_database().await;
    let nodes = [
        Store::connect(&url).await.unwrap(),
        Store::connect(&url).await.unwrap(),
    ];
    nodes[0]
        .create_outbound_webhook(
            "https://hooks.example.com/cube",
            "directory copy",
            &["directory.user.created".to_owned()],
            "admin",
            |_| "sealed".to_owned(),
        )
        .await
        .unwrap();
    let id = integration(&nodes[0], "Directory").await;
    const USERS: usize = 300;
    for page in 0..3 {
        let users: Vec<Record> = (0..USERS / 3)
            .map(|n| user(&format!("p{page}-u{n:03}"), true, "1"))
            .collect();
        nodes[page % 2]
            .apply_page(id, None, &users, None)
            .await
            .unwrap();
    }
    let relays: Vec<_> = nodes
        .iter()
        .cloned()
        .map(|store| {
            tokio::spawn(async move {
                let mut relayed = 0;
                for _ in 0..200 {
                    relayed += store.relay_directory_changes(40).await.unwrap();
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                relayed
            })
        })
        .collect();
    let mut relayed = 0;
    for relay in relays {
        relayed += relay.await.unwrap();
    }
    assert_eq!(
        relayed, USERS,
        "between them the nodes relayed each change once"
    );
    let rows: Vec<String> =
        sqlx::query_scalar("SELECT payload_json FROM outbound_deliveries ORDER BY id")
            .fetch_all(nodes[1].pool())
            .await
            .unwrap();
    let cursors: Vec<FeedCursor> = rows
        .iter()
        .map(|payload| {
            let event: serde_json::Value = serde_json::from_str(payload).unwrap();
            assert_eq!(event["type"], "directory.user.created");
            FeedCursor::parse(event["data"]["cursor"].as_str().unwrap()).unwrap()
        })
        .collect();
    assert_eq!(cursors.len(), USERS);
    assert!(
        cursors.windows(2).all(|w| w[0] < w[1]),
        "queued once each, in the feed's order"
    );
}
