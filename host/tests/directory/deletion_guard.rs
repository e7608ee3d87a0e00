//! The deletion guard against the real slapd, through the Active
//! Directory connector in the real sandbox and the real sync engine: when
//! more entries vanish from the directory than the threshold allows, the
//! full sync deletes none of them and ends `needs_approval`; approving
//! deletes them, and their group memberships with them.

use cube_test_support as common;

use cube_host::runtime::LdapGrant;
use cube_host::store::Store;
use cube_host::store::integrations::IntegrationFields;
use cube_host::store::jobs::Job;
use serde_json::json;

use common::SyncSetup;
use common::directory::{add_group, add_user, delete_tree, subtree};
use common::slapd;

/// The connector on the test slapd (StartTLS), reading `root`'s users and
/// groups.
async fn setup(root: &str) -> SyncSetup {
    let (port, _) = slapd::ports();
    let config = slapd::connector_config(
        port,
        json!({"user_base": root, "group_base": format!("ou=groups,{root}")}),
    );
    let fields = IntegrationFields {
        ldap_grants: vec![LdapGrant::parse(&format!("ldap://127.0.0.1:{port}")).unwrap()],
        ..IntegrationFields::new("Guarded directory", config)
    };
    SyncSetup::builder("active-directory", fields)
        .secret("password", slapd::env("CUBE_TEST_LDAP_BIND_PASSWORD"))
        .build()
        .await
}

/// Runs a full sync to its end; returns the job and its log entry's
/// (status, deleted, message).
async fn full_sync(setup: &SyncSetup) -> (Job, (String, i64, String)) {
    let job = setup.sync("full").await;
    let log = setup.logs_of(job.id).await.pop().expect("a sync log entry");
    (job, (log.status, log.counts.deleted, log.message))
}

async fn user_count(store: &Store, integration: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM directory_users WHERE integration_id = $1",
    )
    .bind(integration)
    .fetch_one(store.pool())
    .await
    .unwrap()
}

async fn external_id(store: &Store, integration: i64, username: &str) -> Option<String> {
    sqlx::query_scalar(
        "SELECT external_id FROM directory_users WHERE integration_id = $1 AND username = $2",
    )
    .bind(integration)
    .bind(username)
    .fetch_optional(store.pool())
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_vanished_entries_than_the_threshold_wait_for_approval_then_go() {
    let prefix = "ddg";
    let mut ldap = slapd::admin().await;
    let root = subtree(&mut ldap, "dguard").await;
    let dn = |n: usize| format!("uid={prefix}-u{n:02},ou=people,{root}");
    for n in 0..12 {
        add_user(&mut ldap, &dn(n), &format!("{prefix}-u{n:02}"), "pw", true).await;
    }
    let group = format!("cn={prefix}-staff,ou=groups,{root}");
    add_group(
        &mut ldap,
        &group,
        &format!("{prefix}-staff"),
        &[&dn(0), &dn(11)],
    )
    .await;
    let setup = setup(&root).await;
    let (store, id) = (setup.store(), setup.integration);

    let (first, (status, deleted, message)) = full_sync(&setup).await;
    assert_eq!(
        (first.status.as_str(), status.as_str(), deleted),
        ("succeeded", "succeeded", 0),
        "{message}"
    );
    assert_eq!(user_count(store, id).await, 12);
    let u11 = external_id(store, id, "ddg-u11").await.unwrap();
    assert_eq!(
        store.memberships_of_member(id, &u11).await.unwrap().len(),
        1
    );

    // Half the users vanish (say, moved out of the search base): 6 of 13
    // records, more than 10 % (2, rounded up).
    for n in 6..12 {
        ldap.delete(&dn(n)).await.unwrap().success().unwrap();
    }
    let (held, (status, deleted, message)) = full_sync(&setup).await;
    assert_eq!(held.status, "needs_approval", "{message}");
    assert_eq!((status.as_str(), deleted), ("needs_approval", 0));
    assert!(
        message.contains("6 records were not seen and would be deleted, more than the 2"),
        "{message}"
    );
    assert_eq!(user_count(store, id).await, 12, "nothing deleted");
    let pending = store.pending_deletions(id, 0, 50).await.unwrap().unwrap();
    assert_eq!((pending.job_id, pending.total), (held.id, 6));
    let names: Vec<_> = pending.items.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "ddg-u06", "ddg-u07", "ddg-u08", "ddg-u09", "ddg-u10", "ddg-u11"
        ]
    );
    assert!(
        pending.items[0]
            .dn
            .as_deref()
            .is_some_and(|d| d.eq_ignore_ascii_case(&dn(6))),
        "{:?}",
        pending.items[0]
    );
    assert_eq!(
        store
            .integration(id)
            .await
            .unwrap()
            .unwrap()
            .last_sync_status
            .as_deref(),
        Some("needs_approval")
    );

    let decided = store.approve_deletions(id, held.id).await.unwrap();
    assert_eq!((decided.pending, decided.deleted), (6, 6));
    assert_eq!(user_count(store, id).await, 6);
    assert!(external_id(store, id, "ddg-u11").await.is_none());
    assert!(
        store
            .memberships_of_member(id, &u11)
            .await
            .unwrap()
            .is_empty(),
        "the deleted member's membership went with it"
    );
    let u00 = external_id(store, id, "ddg-u00").await.unwrap();
    assert_eq!(
        store.memberships_of_member(id, &u00).await.unwrap().len(),
        1
    );
    assert_eq!(
        store.job(held.id).await.unwrap().unwrap().status,
        "approved"
    );

    // The directory and the copy agree again: the next full sync deletes
    // nothing and holds nothing.
    let (after, (status, deleted, message)) = full_sync(&setup).await;
    assert_eq!(
        (after.status.as_str(), status.as_str(), deleted),
        ("succeeded", "succeeded", 0),
        "{message}"
    );
    assert!(store.pending_deletions(id, 0, 50).await.unwrap().is_none());
    delete_tree(&mut ldap, &root).await;
}
