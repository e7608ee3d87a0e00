//! Directory sign-in against a real Active Directory: the Samba AD DC of
//! `scripts/test-samba.sh`, synced by the Active Directory connector
//! (`plugins/active-directory`) with its Active Directory preset. What
//! doubles cannot show: AD takes a deleted user out of her groups without
//! moving their `uSNChanged`, and a new account under her DN has an
//! objectGUID of its own.

use cube_test_support as common;

use reqwest::StatusCode;
use serde_json::json;

use common::directory_sign_in::enable_sign_in;
use common::samba;
use common::samba_sync::{groups_of, setup, sync_ok, user, usn_changed};

/// The hole of issue 18: Active Directory takes a deleted user out of its
/// groups without moving the groups' uSNChanged, so nothing tells a sync
/// that the group changed; a new account created under the freed DN (same
/// name, a new objectGUID) must not inherit the old one's admin group,
/// neither through the membership stored before the sync nor after one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_account_under_a_deleted_admins_dn_gets_no_role_before_or_after_a_sync() {
    let mut ldap = samba::admin().await;
    let ou = samba::scratch_ou(&mut ldap, "CubeIdentity").await;
    let kim = samba::add_user(&mut ldap, &ou, "idt-kim").await;
    let admins = samba::add_group(&mut ldap, &ou, "idt-admins", &[&kim]).await;
    let setup = setup(&ou, json!({})).await;
    let store = &setup.deps.store;
    let id = setup.integration;
    sync_ok(&setup, "full").await;
    let old = user(store, id, "idt-kim").await.unwrap();
    assert_eq!(groups_of(store, id, "idt-kim").await, ["idt-admins*"]);

    let base = common::serve_admin_app_on(setup.deps.catalog.clone(), store.clone()).await;
    enable_sign_in(&base, store, id, "idt-admins", None).await;
    let (mut admin, _) = common::sign_in_admin(&base).await;
    let password = samba::env("CUBE_TEST_SAMBA_USER_PASSWORD");
    let sign_in = async || {
        common::client::Browser::new(&base)
            .sign_in("idt-kim", &password)
            .await
    };
    // The real kim is an admin, and the DC lets her read her own objectGUID.
    assert_eq!(sign_in().await.status, StatusCode::SEE_OTHER);

    // kim leaves; someone creates another idt-kim under the same DN.
    let admins_usn = usn_changed(&mut ldap, &admins).await;
    ldap.delete(&kim).await.unwrap().success().unwrap();
    let members = samba::search(
        &mut ldap,
        &admins,
        ldap3::Scope::Base,
        "(objectClass=*)",
        &["member"],
    )
    .await;
    assert!(
        !members[0].attrs.contains_key("member"),
        "AD took kim out of the group: {members:?}"
    );
    assert_eq!(
        usn_changed(&mut ldap, &admins).await,
        admins_usn,
        "the premise: the group's uSNChanged did not move"
    );
    let impostor = samba::add_user(&mut ldap, &ou, "idt-kim").await;
    assert!(impostor.eq_ignore_ascii_case(&kim));

    // Before any sync: the stored kim is an admin, but the account behind
    // her DN is not her. Refused, audited, and on the integration's page.
    let refused = sign_in().await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    let audit = store.audit_entries(50).await.unwrap();
    let reason = audit
        .iter()
        .find(|e| e.action == "session.sign-in.directory-refused")
        .and_then(|e| e.after.as_ref())
        .map(|a| a["reason"].clone());
    assert_eq!(reason, Some(json!("identity-mismatch")), "{audit:?}");
    let mismatch = audit
        .iter()
        .find(|e| e.action == "directory.identity-mismatch")
        .unwrap_or_else(|| panic!("no identity mismatch audited: {audit:?}"));
    assert_eq!(mismatch.target, format!("integration:{id}"));
    assert_eq!(mismatch.before.as_ref().unwrap()["external_id"], old.id);
    let page = admin.get(&format!("/integrations/{id}")).await;
    let warning = &page.body[page
        .body
        .find("id=\"identity-mismatches\"")
        .unwrap_or_else(|| panic!("no refused sign-ins on the page: {}", page.body))..];
    assert!(warning.contains("idt-kim"), "{warning}");
    assert!(warning.contains(&old.id), "{warning}");

    // An incremental sync reads the new account (its USN is new) but not
    // the group; a full sync reads everything and drops the old kim.
    for mode in ["incremental", "full"] {
        sync_ok(&setup, mode).await;
        // The old kim stays until a full sync finds her gone.
        let synced: Vec<String> = sqlx::query_scalar(
            "SELECT external_id FROM directory_users WHERE integration_id = $1 AND username = $2",
        )
        .bind(id)
        .bind("idt-kim")
        .fetch_all(store.pool())
        .await
        .unwrap();
        let new = synced
            .iter()
            .find(|synced| **synced != old.id)
            .unwrap_or_else(|| panic!("the new account is synced after the {mode} sync"));
        assert_eq!(
            synced.len(),
            if mode == "full" { 1 } else { 2 },
            "{synced:?}"
        );
        let memberships = store.memberships_of_member(id, new).await.unwrap();
        assert!(
            memberships.is_empty(),
            "after the {mode} sync the new account is in no group: {memberships:?}"
        );
        let refused = sign_in().await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "after {mode}");
    }
    // Nobody signed in as idt-kim after the real one was deleted.
    let signed_in_after: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM audit_log WHERE action = 'session.sign-in.directory' AND actor = 'idt-kim' AND id > $1",
    )
    .bind(mismatch.id)
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(signed_in_after, 0);
    samba::delete_tree(&mut ldap, &ou).await;
}
