//! Deletions in a real Active Directory (the Samba AD DC of
//! `scripts/test-samba.sh`) read by the Active Directory connector
//! (`plugins/active-directory`) with its Active Directory preset: the
//! tombstones of the Deleted Objects container between full syncs, the
//! deletion threshold over them, and a sync account that may not list
//! them.

use cube_test_support as common;

use cube_host::store::Store;
use serde_json::json;

use common::samba;
use common::samba_sync::{count, groups_of, setup_bound, sync_ok, user, usn_changed};

/// The external id of the synced group named `name`.
async fn group_id(store: &Store, integration: i64, name: &str) -> Option<String> {
    sqlx::query_scalar(
        "SELECT external_id FROM directory_groups WHERE integration_id = $1 AND name = $2",
    )
    .bind(integration)
    .bind(name)
    .fetch_optional(store.pool())
    .await
    .unwrap()
}

/// Deletions between full syncs: bound as an account that may list the
/// Deleted Objects container (the domain's Administrator), an incremental
/// sync reads the tombstones of what was deleted since the last one and
/// removes those users and groups, with their memberships. Bound as one
/// that may not (the sync account, by default), it goes on, says once that
/// it does not see deletions, and the next full sync removes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_syncs_remove_what_the_deleted_objects_container_shows() {
    let mut ldap = samba::admin().await;
    let ou = samba::scratch_ou(&mut ldap, "CubeTombstones").await;
    let ann = samba::add_user(&mut ldap, &ou, "tmb-ann").await;
    let bob = samba::add_user(&mut ldap, &ou, "tmb-bob").await;
    let cid = samba::add_user(&mut ldap, &ou, "tmb-cid").await;
    let dan = samba::add_user(&mut ldap, &ou, "tmb-dan").await;
    let team = samba::add_group(&mut ldap, &ou, "tmb-team", &[&ann, &bob, &cid, &dan]).await;
    samba::add_group(&mut ldap, &ou, "tmb-all", &[&team]).await;
    // Pages of one: the tombstones come in pages too, read ahead by the
    // host with the same control.
    let admin = json!({"bind_dn": samba::env("CUBE_TEST_SAMBA_ADMIN_DN"), "page_size": 1});
    let setup = setup_bound(&ou, admin, samba::env("CUBE_TEST_SAMBA_ADMIN_PASSWORD")).await;
    let store = &setup.deps.store;
    let id = setup.integration;
    assert_eq!(sync_ok(&setup, "full").await, (6, 6, 0, 0));
    let team_id = group_id(store, id, "tmb-team").await.unwrap();
    assert_eq!(store.members_of_group(id, &team_id).await.unwrap().len(), 4);
    assert_eq!(
        groups_of(store, id, "tmb-ann").await,
        ["tmb-all", "tmb-team*"]
    );
    let ann_id = user(store, id, "tmb-ann").await.unwrap().id;

    // ann and dan are deleted; AD takes them out of tmb-team without
    // moving its USN.
    let team_usn = usn_changed(&mut ldap, &team).await;
    ldap.delete(&ann).await.unwrap().success().unwrap();
    ldap.delete(&dan).await.unwrap().success().unwrap();
    assert_eq!(usn_changed(&mut ldap, &team).await, team_usn);
    // Two of four users are more than the threshold allows (10 % of 4,
    // rounded up: 1): the incremental sync holds them like a full sync.
    let job = setup.sync("incremental").await;
    let (status, _, _, _, deleted, text) = setup.log_of(job.id).await;
    assert_eq!(
        (job.status.as_str(), status.as_str(), deleted),
        ("needs_approval", "needs_approval", 0),
        "{text}"
    );
    assert!(!text.contains("does not see deletions"), "{text}");
    assert!(
        user(store, id, "tmb-ann").await.is_some(),
        "held, not deleted"
    );
    assert_eq!(store.members_of_group(id, &team_id).await.unwrap().len(), 4);
    let held = store.pending_deletions(id, 0, 10).await.unwrap().unwrap();
    let names: Vec<_> = held.items.iter().map(|d| d.name.as_str()).collect();
    assert_eq!((held.job_id, names), (job.id, vec!["tmb-ann", "tmb-dan"]));
    let decided = store.approve_deletions(id, job.id).await.unwrap();
    assert_eq!(decided.deleted, 2);
    assert!(user(store, id, "tmb-dan").await.is_none());
    assert!(user(store, id, "tmb-ann").await.is_none());
    assert!(
        store
            .memberships_of_member(id, &ann_id)
            .await
            .unwrap()
            .is_empty()
    );
    let members = store.members_of_group(id, &team_id).await.unwrap();
    assert_eq!(members.len(), 2, "{members:?}");
    assert!(members.iter().all(|m| m.member_external_id != ann_id));

    // A deleted group goes with its memberships.
    ldap.delete(&team).await.unwrap().success().unwrap();
    let (_, _, _, deleted) = sync_ok(&setup, "incremental").await;
    assert_eq!(deleted, 1);
    assert!(group_id(store, id, "tmb-team").await.is_none());
    assert!(groups_of(store, id, "tmb-bob").await.is_empty());
    assert_eq!(count(store, "directory_users", id).await, 2);

    // The sync account may not list Deleted Objects: the incremental sync
    // works on, says so once, and the full sync removes what is gone.
    let limited = setup_bound(&ou, json!({}), samba::env("CUBE_TEST_SAMBA_BIND_PASSWORD")).await;
    let (store, id) = (&limited.deps.store, limited.integration);
    assert_eq!(sync_ok(&limited, "full").await, (3, 3, 0, 0));
    ldap.delete(&bob).await.unwrap().success().unwrap();
    let job = limited.sync("incremental").await;
    let (status, _, _, _, deleted, text) = limited.log_of(job.id).await;
    assert_eq!((status.as_str(), deleted), ("succeeded", 0), "{text}");
    assert_eq!(text.matches("does not see deletions").count(), 1, "{text}");
    assert!(text.contains("may not list CN=Deleted Objects"), "{text}");
    assert!(user(store, id, "tmb-bob").await.is_some(), "not seen yet");
    let (_, _, _, deleted) = sync_ok(&limited, "full").await;
    assert_eq!(deleted, 1);
    assert!(user(store, id, "tmb-bob").await.is_none());
    assert!(user(store, id, "tmb-cid").await.is_some());
    samba::delete_tree(&mut ldap, &ou).await;
}
