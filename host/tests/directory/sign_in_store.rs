//! The store's side of directory sign-in, on both backends (SQLite and
//! PostgreSQL), with records as the `active-directory` connector gives
//! them: the sign-in settings, candidates by effective (nested)
//! membership, the accounts directory users get, their reconciliation with
//! what a sync stored, and their removal with the integration.

use cube_test_support as common;

use std::collections::BTreeMap;

use cube_host::runtime::types::Record;
use cube_host::store::users::Role;
use serde_json::json;

use common::directory_sign_in::fields;

/// A user record as the connector gives it, at version 1.
fn user_record(id: &str, name: &str, enabled: bool) -> Record {
    let dn = format!("uid={name},ou=people,dc=x");
    common::record(
        "user",
        id,
        json!({"username": name, "dn": dn, "enabled": enabled}),
        "1",
    )
}

/// A group record as the connector gives it, at version 1.
fn group_record(id: &str, name: &str, member_dns: &[&str]) -> Record {
    let dn = format!("cn={name},ou=groups,dc=x");
    common::record(
        "group",
        id,
        json!({"name": name, "dn": dn, "member_dns": member_dns}),
        "1",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_finds_candidates_by_effective_membership_on_both_backends() {
    let runtime = common::runtime();
    let connector = runtime
        .load(&common::plugin_wasm("active-directory"))
        .unwrap();
    let info = connector.info(&runtime.context("t")).await.result.unwrap();
    common::each_backend(|store| {
        let info = info.clone();
        async move {
            store.upsert_provider(&info, "sha256:test").await.unwrap();
            let id = store
                .create_integration(
                    "active-directory",
                    &fields(serde_json::Map::new(), 389),
                    "admin",
                    |_| BTreeMap::new(),
                )
                .await
                .unwrap()
                .id;
            let records = vec![
                user_record("u-ada", "Ada", true),
                user_record("u-grace", "grace", true),
                user_record("u-nemo", "nemo", true),
                user_record("u-ken", "ken", false),
                user_record("u-local", "local", true),
                // admins holds engineers, which holds Ada and ken.
                group_record(
                    "g-eng",
                    "engineers",
                    &["uid=Ada,ou=people,dc=x", "uid=ken,ou=people,dc=x"],
                ),
                group_record(
                    "g-admins",
                    "admins",
                    &["cn=engineers,ou=groups,dc=x", "uid=local,ou=people,dc=x"],
                ),
                group_record("g-view", "viewers", &["uid=grace,ou=people,dc=x"]),
            ];
            store.apply_page(id, None, &records, None).await.unwrap();
            store.rebuild_memberships(id).await.unwrap();

            assert!(
                store
                    .directory_sign_in_settings(id)
                    .await
                    .unwrap()
                    .is_none()
            );
            let invalid = store
                .set_directory_sign_in_settings(id, true, "g-missing", None, false, "admin")
                .await;
            assert!(invalid.is_err(), "only synced groups");
            let same = store
                .set_directory_sign_in_settings(
                    id,
                    true,
                    "g-admins",
                    Some("g-admins"),
                    false,
                    "admin",
                )
                .await;
            assert!(same.is_err(), "two different groups");
            // Off: nobody is a candidate.
            store
                .set_directory_sign_in_settings(
                    id,
                    false,
                    "g-admins",
                    Some("g-view"),
                    false,
                    "admin",
                )
                .await
                .unwrap();
            assert!(
                store
                    .directory_sign_in_candidates("ada")
                    .await
                    .unwrap()
                    .is_empty()
            );
            let saved = store
                .set_directory_sign_in_settings(
                    id,
                    true,
                    "g-admins",
                    Some("g-view"),
                    false,
                    "alice",
                )
                .await
                .unwrap();
            assert_eq!(
                store.directory_sign_in_settings(id).await.unwrap(),
                Some(saved)
            );
            let names: Vec<String> = store
                .directory_group_choices(id)
                .await
                .unwrap()
                .into_iter()
                .map(|g| g.name)
                .collect();
            assert_eq!(names, ["admins", "engineers", "viewers"]);

            let role = |name: &'static str| {
                let store = store.clone();
                async move {
                    let found = store.directory_sign_in_candidates(name).await.unwrap();
                    assert_eq!(found.len(), 1, "{name}: {found:?}");
                    (found[0].role, found[0].enabled)
                }
            };
            // Case-insensitive names; nested membership counts.
            assert_eq!(role("ADA").await, (Some(Role::Admin), true));
            assert_eq!(role("grace").await, (Some(Role::Viewer), true));
            assert_eq!(role("nemo").await, (None, true));
            assert_eq!(role("ken").await, (Some(Role::Admin), false));
            assert!(
                store
                    .directory_sign_in_candidates("nobody")
                    .await
                    .unwrap()
                    .is_empty()
            );

            // The account a directory user gets has no local password.
            let ada = store
                .directory_sign_in_candidates("ada")
                .await
                .unwrap()
                .remove(0);
            let account = store
                .upsert_directory_account(&ada, Role::Admin)
                .await
                .unwrap();
            assert_eq!(
                (account.username.as_str(), account.role),
                ("Ada", Role::Admin)
            );
            assert!(store.authenticate("Ada", "!").await.unwrap().is_none());
            assert!(store.authenticate("Ada", "").await.unwrap().is_none());
            assert!(!store.is_local_account("ada").await.unwrap());
            // Later sign-ins update the same account.
            let again = store
                .upsert_directory_account(&ada, Role::Viewer)
                .await
                .unwrap();
            assert_eq!((again.id, again.role), (account.id, Role::Viewer));
            assert_eq!(store.count_users().await.unwrap(), 1);

            // A local account's name (in any case) is never taken over.
            store
                .create_user("LOCAL", "a long enough password", Role::Viewer)
                .await
                .unwrap();
            assert!(store.is_local_account("local").await.unwrap());
            let local = store
                .directory_sign_in_candidates("local")
                .await
                .unwrap()
                .remove(0);
            assert!(
                store
                    .upsert_directory_account(&local, Role::Admin)
                    .await
                    .is_err()
            );

            // Reconciling with the synced data: Ada (account role viewer)
            // is an admin by her groups, and gets it; with her user
            // disabled by a sync, her session ends.
            let ada_user = store
                .users()
                .await
                .unwrap()
                .into_iter()
                .find(|u| u.username == "Ada")
                .unwrap();
            store.create_session(&ada_user).await.unwrap();
            let changes = store
                .reconcile_directory_accounts(id, "system")
                .await
                .unwrap();
            assert_eq!(changes.len(), 1, "{changes:?}");
            assert_eq!(
                (changes[0].before, changes[0].after),
                (Role::Viewer, Some(Role::Admin))
            );
            assert!(
                store
                    .reconcile_directory_accounts(id, "system")
                    .await
                    .unwrap()
                    .is_empty()
            );
            let mut disabled = user_record("u-ada", "Ada", false);
            disabled.version = Some("2".into());
            store.apply_page(id, None, &[disabled], None).await.unwrap();
            let changes = store
                .reconcile_directory_accounts(id, "system")
                .await
                .unwrap();
            assert_eq!(changes.len(), 1, "{changes:?}");
            assert_eq!(changes[0].after, None);
            assert_eq!(changes[0].reason, "the user is disabled in the directory");
            assert_eq!(changes[0].sessions_ended, 1);

            // The integration's accounts go with it.
            assert!(store.delete_integration(id).await.unwrap());
            let left: Vec<String> = store
                .users()
                .await
                .unwrap()
                .into_iter()
                .map(|u| u.username)
                .collect();
            assert_eq!(left, ["LOCAL"]);
            assert!(
                store
                    .directory_sign_in_settings(id)
                    .await
                    .unwrap()
                    .is_none()
            );
        }
    })
    .await;
}
