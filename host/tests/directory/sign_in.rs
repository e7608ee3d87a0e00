//! Sign-in to the admin UI with directory accounts, against the real slapd
//! of `scripts/test-slapd.sh` and the real web app: an `active-directory`
//! integration is created in the store and fully synced by the sync
//! engine, then people sign in through `/login` with their directory
//! passwords (the host binds as them). Roles come from effective
//! memberships (ada is an admin through engineers, nested in admins);
//! non-members, wrong passwords and disabled accounts get the same
//! refusal, with the precise reason in the audit log; local accounts keep
//! working when the directory cannot be reached.
//! The other directory sign-in tests are in `directory_sign_in_*.rs`.

use cube_test_support as common;

use cube_host::store::users::Role;
use reqwest::StatusCode;

use common::client::Browser;
use common::directory::Scratch;
use common::directory_sign_in::{ADA_PASSWORD, UNREACHABLE, WRONG, config, env, fields};
use common::web_forms::signed_in;
use common::{ADMIN_PASSWORD, VIEWER_PASSWORD, slapd};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_users_sign_in_with_their_password_and_get_the_role_of_their_groups() {
    let mut dir = Scratch::new("dsi-roles").await;
    let viola = dir.add_user("viola", "viola-password", true).await;
    dir.add_user("nemo", "nemo-password", true).await;
    let off = dir.add_user("off", "off-password", false).await;
    dir.add_group("viewers", &[&viola, &off]).await;

    let env = env(&dir.prefix).await;
    // Nobody signs in from the directory until an admin turns it on.
    let mut ada = Browser::new(&env.base);
    let before = ada.sign_in("ada", ADA_PASSWORD).await;
    assert_eq!(before.status, StatusCode::UNAUTHORIZED);
    assert!(before.body.contains(WRONG), "{}", before.body);
    env.enable_sign_in("admins", Some(&dir.name("viewers")))
        .await;

    // ada is in engineers, which is in admins: an admin through nesting.
    let admin_page = signed_in(&mut ada, "ada", ADA_PASSWORD).await;
    assert_eq!(admin_page.location.as_deref(), Some("/admin/users"));
    let users = ada.get("/admin/users").await;
    assert_eq!(users.status, StatusCode::OK, "an admin page");
    assert!(users.body.contains("ada (admin)"), "{}", users.body);
    assert_eq!(env.role_of("ada").await, Some(Role::Admin));
    let audited = env.audit("session.sign-in.directory").await;
    let entry = audited.iter().find(|e| e.actor == "ada").unwrap();
    let after = entry.after.as_ref().unwrap();
    assert_eq!(after["role"], "admin");
    assert_eq!(after["integration"], "Corporate directory");
    assert_eq!(after["dn"], "uid=ada,ou=People,dc=example,dc=com");
    // Names compare case-insensitively; it is the same account.
    let mut again = Browser::new(&env.base);
    assert_eq!(
        again.sign_in("ADA", ADA_PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        env.store
            .users()
            .await
            .unwrap()
            .iter()
            .filter(|u| u.username.eq_ignore_ascii_case("ada"))
            .count(),
        1
    );

    // Refusals all read the same; the audit log says why.
    let mut stranger = Browser::new(&env.base);
    let wrong = stranger.sign_in("ada", "not her password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains(WRONG), "{}", wrong.body);
    assert_eq!(env.refusal_reason("ada").await, "bad-password");
    // An empty password is never sent (an unauthenticated bind would pass).
    let empty = stranger.sign_in("ada", "").await;
    assert_eq!(empty.status, StatusCode::UNAUTHORIZED);
    let refusals = env.audit("session.sign-in.directory-refused").await;
    let newest = refusals[0].after.as_ref().unwrap();
    assert_eq!(newest["reason"], "bad-password");
    assert!(
        newest["detail"].as_str().unwrap().contains("never sent"),
        "{newest}"
    );

    let nemo = dir.name("nemo");
    let non_member = stranger.sign_in(&nemo, "nemo-password").await;
    assert_eq!(non_member.status, StatusCode::UNAUTHORIZED);
    assert!(non_member.body.contains(WRONG));
    assert_eq!(env.refusal_reason(&nemo).await, "not-a-member");
    assert_eq!(
        env.role_of(&nemo).await,
        None,
        "no account for a non-member"
    );

    let off = dir.name("off");
    let disabled = stranger.sign_in(&off, "off-password").await;
    assert_eq!(disabled.status, StatusCode::UNAUTHORIZED);
    assert!(disabled.body.contains(WRONG));
    assert_eq!(env.refusal_reason(&off).await, "disabled");

    let unknown = stranger.sign_in("nobody-at-all", "whatever").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(unknown.body.contains(WRONG));

    // A member of the viewer group is a viewer.
    let viola = dir.name("viola");
    let mut viewer = Browser::new(&env.base);
    signed_in(&mut viewer, &viola, "viola-password").await;
    assert_eq!(
        viewer.get("/admin/users").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        viewer.get("/integrations/providers").await.status,
        StatusCode::OK
    );
    assert_eq!(env.role_of(&viola).await, Some(Role::Viewer));

    // A directory user's account has no local password: only the
    // directory signs it in.
    assert!(env.store.authenticate("ada", "!").await.unwrap().is_none());
    // Throttling counts directory guesses too.
    for _ in 0..5 {
        stranger.sign_in(&viola, "a guess").await;
    }
    assert_eq!(
        stranger.sign_in(&viola, "viola-password").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Local accounts sign in as before.
    let mut vera = Browser::new(&env.base);
    assert_eq!(
        vera.sign_in("vera", VIEWER_PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    let log = serde_json::to_string(&env.store.audit_entries(200).await.unwrap()).unwrap();
    for password in [
        ADA_PASSWORD,
        "not her password",
        "viola-password",
        "nemo-password",
        "off-password",
    ] {
        assert!(
            !log.contains(password),
            "no password in the audit log: {log}"
        );
    }
    dir.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_accounts_sign_in_when_the_directory_cannot_be_reached() {
    let env = env("dsi-down").await;
    env.enable_sign_in("admins", None).await;
    let mut ada = Browser::new(&env.base);
    assert_eq!(
        ada.sign_in("ada", ADA_PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );

    // The directory's server goes away (nothing listens on its port).
    let closed = common::closed_port();
    let integration = env
        .store
        .integration(env.integration)
        .await
        .unwrap()
        .unwrap();
    let mut down = fields(config(closed, "dsi-down"), closed);
    down.name = integration.name.clone();
    env.store
        .update_integration(env.integration, &down, &integration.sealed_secrets)
        .await
        .unwrap();
    let mut browser = Browser::new(&env.base);
    // Each attempt counts, though the password was never checked: an
    // attacker must not guess freely while a directory is down.
    for _ in 0..4 {
        let page = browser.sign_in("ada", ADA_PASSWORD).await;
        assert_eq!(
            page.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            page.body
        );
        assert!(page.body.contains(UNREACHABLE), "{}", page.body);
    }
    assert_eq!(env.refusal_reason("ada").await, "directory-unreachable");
    let mut admin = Browser::new(&env.base);
    let local = admin.sign_in("admin", ADMIN_PASSWORD).await;
    assert_eq!(local.status, StatusCode::SEE_OTHER, "{}", local.body);
    assert_eq!(admin.get("/admin/users").await.status, StatusCode::OK);
    // A disabled account is refused without asking the directory.
    let ken = browser.sign_in("ken", "any password").await;
    assert_eq!(ken.status, StatusCode::UNAUTHORIZED);
    assert!(ken.body.contains(WRONG));
    assert_eq!(env.refusal_reason("ken").await, "disabled");

    // A server the integration is not granted is never contacted: the
    // configuration names the live server, the grant another port.
    let (port, _) = slapd::ports();
    let mut ungranted = fields(config(port, "dsi-down"), closed);
    ungranted.name = integration.name.clone();
    env.store
        .update_integration(env.integration, &ungranted, &integration.sealed_secrets)
        .await
        .unwrap();
    let page = browser.sign_in("ada", ADA_PASSWORD).await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.body.contains(UNREACHABLE));
    let refusals = env.audit("session.sign-in.directory-refused").await;
    let newest = refusals[0].after.as_ref().unwrap();
    assert_eq!(newest["reason"], "misconfigured");
    assert!(
        newest["detail"].as_str().unwrap().contains("not granted"),
        "{newest}"
    );
    // Four unreachable and one misconfigured: the sixth attempt from this
    // address waits.
    let page = browser.sign_in("ada", ADA_PASSWORD).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS, "{}", page.body);
}
