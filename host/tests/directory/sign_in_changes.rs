//! Directory sign-in when the directory changes, against the real slapd
//! of `scripts/test-slapd.sh` and the real web app on a fully synced
//! `active-directory` integration: a sync takes away at once the roles
//! (and sessions) the directory took away, and another account created
//! under a synced user's DN cannot sign in as her.

use cube_test_support as common;

use std::collections::HashSet;

use cube_host::store::audit::AuditEntry;
use cube_host::store::users::Role;
use ldap3::Mod;
use reqwest::StatusCode;

use common::client::Browser;
use common::directory::{Scratch, add_user, modify};
use common::directory_sign_in::{WRONG, env};
use common::web_forms::signed_in;

/// Puts `member` into the directory group `group`, or takes it out.
async fn set_member(dir: &mut Scratch, group: &str, member: &str, is_member: bool) {
    let values = HashSet::from([member]);
    let change = if is_member {
        Mod::Add("member", values)
    } else {
        Mod::Delete("member", values)
    };
    modify(&mut dir.ldap, group, vec![change]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_takes_away_at_once_what_the_directory_took_away() {
    let mut dir = Scratch::new("dsi-revoke").await;
    let viola = dir.add_user("viola", "viola-password", true).await;
    let name = dir.name("viola");
    let admins = dir.add_group("admins", &[&viola]).await;
    let viewers = dir.add_group("viewers", &[&viola]).await;
    let env = env(&dir.prefix).await;
    env.enable_sign_in(&dir.name("admins"), Some(&dir.name("viewers")))
        .await;
    let mut browser = Browser::new(&env.base);
    signed_in(&mut browser, &name, "viola-password").await;
    assert_eq!(browser.get("/admin/users").await.status, StatusCode::OK);

    // Out of the admin group in the directory: after the next sync, the
    // live session is a viewer's.
    set_member(&mut dir, &admins, &viola, false).await;
    env.full_sync().await;
    assert_eq!(env.role_of(&name).await, Some(Role::Viewer));
    assert_eq!(
        browser.get("/admin/users").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        browser.get("/integrations/list").await.status,
        StatusCode::OK
    );
    let changed = env.audit("directory.account.role").await;
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0].actor, "system");

    // Out of both groups: the session ends at the next sync.
    set_member(&mut dir, &viewers, &viola, false).await;
    env.full_sync().await;
    let page = browser.get("/integrations/list").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "signed out");
    let revoked = env.audit("directory.account.revoked").await;
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    let after = revoked[0].after.as_ref().unwrap();
    assert_eq!(
        after["reason"],
        "the user is in neither sign-in group any more"
    );
    assert_eq!(after["sessions_ended"], 1);

    // Back in the admin group, signed in again; then the integration is
    // disabled, and with it every directory session.
    set_member(&mut dir, &admins, &viola, true).await;
    env.full_sync().await;
    let again = browser.sign_in(&name, "viola-password").await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
    assert_eq!(browser.get("/admin/users").await.status, StatusCode::OK);
    env.store
        .set_integration_enabled(env.integration, false, "admin")
        .await
        .unwrap();
    assert_eq!(
        browser.get("/admin/users").await.status,
        StatusCode::SEE_OTHER
    );
    let revoked = env.audit("directory.account.revoked").await;
    assert_eq!(revoked.len(), 2, "{revoked:?}");
    dir.delete().await;
}

/// A DN names whoever holds it now: when the synced user is deleted and
/// another account is created under her DN (with its own password), the
/// bind as that DN succeeds, but the account is not the synced user (its
/// objectGUID differs), so its sign-in is refused, audited and shown on
/// the integration's page, before any sync could notice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_account_under_a_synced_users_dn_cannot_sign_in_as_her() {
    let mut dir = Scratch::new("dsi-identity").await;
    let kim = dir.add_user("kim", "kim-password", true).await;
    let name = dir.name("kim");
    dir.add_group("admins", &[&kim]).await;
    let env = env(&dir.prefix).await;
    env.enable_sign_in(&dir.name("admins"), None).await;
    signed_in(&mut Browser::new(&env.base), &name, "kim-password").await;

    dir.ldap.delete(&kim).await.unwrap().success().unwrap();
    add_user(&mut dir.ldap, &kim, &name, "impostor-password", true).await;
    let refused = Browser::new(&env.base)
        .sign_in(&name, "impostor-password")
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(
        refused.body.contains(WRONG),
        "the same refusal as any other"
    );
    assert_eq!(env.refusal_reason(&name).await, "identity-mismatch");
    let mismatches = env.audit("directory.identity-mismatch").await;
    assert_eq!(mismatches.len(), 1, "{mismatches:?}");
    let after = mismatches[0].after.as_ref().unwrap();
    assert_eq!(after["dn"], kim.as_str());
    assert!(
        after["detail"]
            .as_str()
            .unwrap()
            .contains("run a full sync"),
        "{after}"
    );
    let (mut admin, _) = common::sign_in_admin(&env.base).await;
    let page = admin
        .get(&format!("/integrations/{}", env.integration))
        .await;
    assert!(
        page.body.contains("id=\"identity-mismatches\"") && page.body.contains(&name),
        "the refusal is on the integration's page: {}",
        page.body
    );
    // The real account's role was not handed to the other one.
    let logins: Vec<AuditEntry> = env
        .audit("session.sign-in.directory")
        .await
        .into_iter()
        .filter(|e| e.actor == name)
        .collect();
    assert_eq!(logins.len(), 1, "only the real kim signed in: {logins:?}");
    dir.delete().await;
}
