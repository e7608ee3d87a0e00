//! The Active Directory connector (`plugins/active-directory`) with its
//! Active Directory preset, in the real sandbox, against a real Active
//! Directory: the Samba AD DC of `scripts/test-samba.sh` (CUBE.TEST on
//! 127.0.0.2, LDAPS). What doubles cannot show: objectGUIDs as the DC
//! stores them, `userAccountControl`, nesting, `uSNChanged` windows up to
//! `highestCommittedUSN` of one `invocationId`, a membership change that
//! moves the group's USN and not the user's, and AD's bind sub-codes.

use cube_test_support as common;

use std::collections::HashSet;

use ldap3::Mod;
use serde_json::{Value, json};

use common::SyncSetup;
use common::samba;
use common::samba_sync::{count, groups_of, setup, sync_ok, user, usn_changed};

/// The connector's stored cursor.
async fn cursor(setup: &SyncSetup) -> Value {
    let text: Option<String> =
        sqlx::query_scalar("SELECT sync_cursor FROM integrations WHERE id = $1")
            .bind(setup.integration)
            .fetch_one(setup.deps.store.pool())
            .await
            .unwrap();
    serde_json::from_str(&text.expect("a stored cursor")).unwrap()
}

/// The DC's `invocationId` (of its NTDS Settings) as canonical text, and
/// its `highestCommittedUSN`, read over LDAP.
async fn dc_state(ldap: &mut ldap3::Ldap) -> (String, i64) {
    let service = samba::read_text(ldap, "", "dsServiceName").await;
    let invocation = samba::guid_text(&samba::read_binary(ldap, &service, "invocationId").await);
    let usn = samba::read_text(ldap, "", "highestCommittedUSN")
        .await
        .parse()
        .unwrap();
    (invocation, usn)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_reads_guids_disabled_accounts_and_nested_groups_from_active_directory() {
    let ou = samba::env("CUBE_TEST_SAMBA_OU");
    let mut ldap = samba::admin().await;
    let setup = setup(&ou, json!({})).await;
    let store = &setup.deps.store;
    let id = setup.integration;

    let (read, created, updated, deleted) = sync_ok(&setup, "full").await;
    // ada, grace, linus, ken; engineers and admins.
    assert_eq!((read, created, updated, deleted), (6, 6, 0, 0));
    assert_eq!(count(store, "directory_users", id).await, 4);
    assert_eq!(count(store, "directory_groups", id).await, 2);

    // objectGUIDs in their canonical text: as Samba's own samba-tool writes
    // it, and as the bytes on the wire read with AD's byte order.
    let ada = user(store, id, "ada").await.unwrap();
    assert_eq!(ada.id, samba::samba_tool_guid("ada"));
    for (name, cn) in [
        ("ada", "Ada Lovelace"),
        ("grace", "Grace Hopper"),
        ("linus", "Linus Torvalds"),
        ("ken", "Ken Thompson"),
    ] {
        let synced = user(store, id, name).await.unwrap();
        let dn = format!("CN={cn},{ou}");
        assert!(synced.dn.eq_ignore_ascii_case(&dn), "{synced:?}");
        let guid = samba::guid_text(&samba::read_binary(&mut ldap, &dn, "objectGUID").await);
        assert_eq!(synced.id, guid, "{name}");
        // userAccountControl 514 (ACCOUNTDISABLE) for ken only.
        assert_eq!(synced.enabled, name != "ken", "{synced:?}");
    }

    // admins holds linus and the engineers group, which holds ada and grace.
    assert_eq!(groups_of(store, id, "ada").await, ["admins", "engineers*"]);
    assert_eq!(
        groups_of(store, id, "grace").await,
        ["admins", "engineers*"]
    );
    assert_eq!(groups_of(store, id, "linus").await, ["admins*"]);
    assert!(groups_of(store, id, "ken").await.is_empty());

    // The sync followed uSNChanged of this DC's database, up to its
    // highestCommittedUSN when it started.
    let (invocation, highest) = dc_state(&mut ldap).await;
    let cursor = cursor(&setup).await;
    assert_eq!(cursor["tracking"], "usn", "{cursor}");
    assert_eq!(cursor["invocation"], invocation.as_str(), "{cursor}");
    assert_eq!(cursor["phase"], "done", "{cursor}");
    let since = cursor["since"].as_i64().unwrap();
    let admins = usn_changed(&mut ldap, &format!("CN=admins,{ou}")).await;
    assert!(
        admins < since && since <= highest + 1,
        "the next sync starts after the newest USN seen ({admins}), at most after the DC's \
         highest ({highest}): {cursor}"
    );

    // Nothing changed under the OU: an incremental sync reads nothing.
    assert_eq!(sync_ok(&setup, "incremental").await, (0, 0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_syncs_read_exactly_what_changed_by_usn_including_group_changes() {
    let mut ldap = samba::admin().await;
    let ou = samba::scratch_ou(&mut ldap, "CubeIncremental").await;
    let u1 = samba::add_user(&mut ldap, &ou, "inc-u1").await;
    let u2 = samba::add_user(&mut ldap, &ou, "inc-u2").await;
    let u3 = samba::add_user(&mut ldap, &ou, "inc-u3").await;
    let g1 = samba::add_group(&mut ldap, &ou, "inc-g1", &[&u1, &u2]).await;
    samba::add_group(&mut ldap, &ou, "inc-g2", &[&g1]).await;

    // Pages of two: the DC's paged results under uSNChanged windows.
    let setup = setup(&ou, json!({"page_size": 2})).await;
    let store = &setup.deps.store;
    let id = setup.integration;
    assert_eq!(sync_ok(&setup, "full").await, (5, 5, 0, 0));
    assert_eq!(groups_of(store, id, "inc-u2").await, ["inc-g1*", "inc-g2"]);
    assert!(groups_of(store, id, "inc-u3").await.is_empty());
    let first = cursor(&setup).await;
    assert_eq!(first["tracking"], "usn", "{first}");

    // Nothing changed: an incremental sync reads nothing.
    assert_eq!(sync_ok(&setup, "incremental").await, (0, 0, 0, 0));

    // A user modified, a user added to a group, a new user, a user disabled.
    samba::modify(
        &mut ldap,
        &u1,
        vec![
            Mod::Replace("title", HashSet::from(["Chief Engineer"])),
            Mod::Replace("displayName", HashSet::from(["Ada the Chief"])),
        ],
    )
    .await;
    let u3_before = usn_changed(&mut ldap, &u3).await;
    let g1_before = usn_changed(&mut ldap, &g1).await;
    samba::modify(
        &mut ldap,
        &g1,
        vec![Mod::Add("member", HashSet::from([u3.as_str()]))],
    )
    .await;
    // On AD the membership is the group's: its uSNChanged moves, the user's
    // does not (memberOf is a back link), so the sync must read groups too.
    assert_eq!(usn_changed(&mut ldap, &u3).await, u3_before);
    assert!(usn_changed(&mut ldap, &g1).await > g1_before);
    samba::add_user(&mut ldap, &ou, "inc-u4").await;
    samba::modify(
        &mut ldap,
        &u2,
        vec![Mod::Replace("userAccountControl", HashSet::from(["514"]))],
    )
    .await;

    // inc-u1, inc-u2 and inc-g1 updated, inc-u4 created; nothing else read.
    assert_eq!(sync_ok(&setup, "incremental").await, (4, 1, 3, 0));
    assert_eq!(count(store, "directory_users", id).await, 4);
    assert_eq!(count(store, "directory_groups", id).await, 2);
    assert_eq!(
        user(store, id, "inc-u1")
            .await
            .unwrap()
            .display_name
            .as_deref(),
        Some("Ada the Chief")
    );
    assert!(!user(store, id, "inc-u2").await.unwrap().enabled);
    assert!(user(store, id, "inc-u4").await.unwrap().enabled);
    assert_eq!(groups_of(store, id, "inc-u3").await, ["inc-g1*", "inc-g2"]);
    assert_eq!(groups_of(store, id, "inc-u2").await, ["inc-g1*", "inc-g2"]);
    assert!(groups_of(store, id, "inc-u4").await.is_empty());

    // The same DC database (invocationId), later USNs.
    let second = cursor(&setup).await;
    assert_eq!(second["tracking"], "usn", "{second}");
    assert_eq!(second["invocation"], first["invocation"], "{second}");
    let u2_now = usn_changed(&mut ldap, &u2).await;
    assert!(
        second["since"].as_i64().unwrap() > u2_now,
        "the next sync starts after the last change ({u2_now}): {second}"
    );

    // And nothing more after that.
    assert_eq!(sync_ok(&setup, "incremental").await, (0, 0, 0, 0));
    samba::delete_tree(&mut ldap, &ou).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_from_the_domains_root_passes_over_the_referrals_to_other_partitions() {
    // No user or group base: the base DN, the domain's root, whose subtree
    // searches AD answers with a reference to the Configuration partition
    // (ldaps://cube.test/CN=Configuration,...) besides the entries.
    let root = samba::env("CUBE_TEST_SAMBA_BASE");
    let setup = setup(&root, json!({"user_base": "", "group_base": ""})).await;
    let store = &setup.deps.store;
    let id = setup.integration;
    let job = setup.sync("full").await;
    let (status, .., text) = setup.log_of(job.id).await;
    assert_eq!(
        (job.status.as_str(), status.as_str()),
        ("succeeded", "succeeded"),
        "{text}"
    );
    // The seeded users, and the domain's own accounts (krbtgt is disabled).
    assert!(user(store, id, "ada").await.unwrap().enabled);
    assert!(!user(store, id, "ken").await.unwrap().enabled);
    assert!(!user(store, id, "krbtgt").await.unwrap().enabled);
    assert!(user(store, id, "Administrator").await.unwrap().enabled);
    assert_eq!(groups_of(store, id, "ada").await, ["admins", "engineers*"]);
    // Built-in groups (Domain Users, Domain Admins, ...) are read too.
    let groups = count(store, "directory_groups", id).await;
    assert!(groups > 10, "{groups} groups");
}
