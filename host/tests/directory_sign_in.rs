//! Sign-in to the admin UI with directory accounts, against the real slapd
//! of `scripts/test-slapd.sh` and the real web app: an `active-directory`
//! integration is created in the store and fully synced by the sync
//! engine, then people sign in through `/login` with their directory
//! passwords (the host binds as them). Roles come from effective
//! memberships (ada is an admin through engineers, nested in admins);
//! non-members, wrong passwords and disabled accounts get the same
//! refusal, with the precise reason in the audit log; local accounts keep
//! working when the directory cannot be reached.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cube_host::integrations::seal_secrets;
use cube_host::runtime::LdapGrant;
use cube_host::secrets::{MasterKey, Sealer};
use cube_host::store::Store;
use cube_host::store::audit::AuditEntry;
use cube_host::store::integrations::IntegrationFields;
use cube_host::store::jobs::NewJob;
use cube_host::store::users::Role;
use cube_host::sync::{RetryPolicy, SyncDeps, run_job};
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::client::Browser;
use common::directory::{add_group, add_user, delete_tree, subtree};
use common::{ADMIN_PASSWORD, VIEWER_PASSWORD, slapd};

const WRONG: &str = "The user name or password is wrong.";
const UNREACHABLE: &str = "The directory could not be reached; local accounts can still sign in.";
const ADA_PASSWORD: &str = "ada-password";

/// The connector's configuration for the directory on `port` (StartTLS,
/// trusting the test CA), reading ada, grace, linus and ken of the base
/// tree, the users named `prefix*`, and the groups admins, engineers and
/// `prefix*` (not the thousands of ou=Bulk other tests may have made).
fn config(port: u16, prefix: &str) -> serde_json::Map<String, Value> {
    json!({
        "server": "127.0.0.1",
        "port": port,
        "tls": "starttls",
        "ca_pem": slapd::ca_pem(),
        "bind_dn": slapd::env("CUBE_TEST_LDAP_BIND_DN"),
        "base_dn": slapd::env("CUBE_TEST_LDAP_BASE"),
        "user_filter": format!(
            "(&(objectClass=user)(|(uid=ada)(uid=grace)(uid=linus)(uid=ken)(uid={prefix}*)))"
        ),
        "group_filter": format!("(&(objectClass=group)(|(cn=admins)(cn=engineers)(cn={prefix}*)))"),
        "page_size": 100,
    })
    .as_object()
    .unwrap()
    .clone()
}

fn fields(config: serde_json::Map<String, Value>, granted_port: u16) -> IntegrationFields {
    IntegrationFields {
        name: "Corporate directory".into(),
        enabled: true,
        config,
        http_grants: Vec::new(),
        ldap_grants: vec![LdapGrant::parse(&format!("ldap://127.0.0.1:{granted_port}")).unwrap()],
        sync_interval_secs: None,
        disable_after_failures: None,
        sync_cron: None,
    }
}

/// The web app on a store holding a fully synced directory integration.
struct Env {
    base: String,
    store: Store,
    integration: i64,
    deps: SyncDeps,
    _dir: tempfile::TempDir,
}

/// Runs a full sync of `integration` to its end with `deps`, outside any
/// server's worker.
async fn full_sync(deps: &SyncDeps, integration: i64) {
    let store = &deps.store;
    let (job, _) = store
        .enqueue_sync(NewJob {
            integration_id: integration,
            trigger: "manual",
            mode: "full",
            dry_run: false,
            requested_by: "admin",
        })
        .await
        .unwrap();
    let mut finished = None;
    for _ in 0..400 {
        let now = store.job(job.id).await.unwrap().unwrap();
        if now.status != "queued" && now.status != "running" {
            finished = Some(now);
            break;
        }
        match store.claim_job("test", 60_000).await.unwrap() {
            Some(claimed) => run_job(deps, claimed, "test").await,
            None => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
    let finished = finished.expect("the sync finished");
    assert_eq!(finished.status, "succeeded", "{finished:?}");
}

async fn env(prefix: &str) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).await.unwrap();
    let catalog = common::plugin_catalog(&["active-directory"]).await;
    let sealer = Arc::new(Sealer::new(&MasterKey::generate()));
    let (connector, info) = catalog.get("active-directory").unwrap();
    store
        .upsert_provider(&info, connector.digest())
        .await
        .unwrap();
    let (port, _) = slapd::ports();
    let secrets = BTreeMap::from([(
        "password".to_owned(),
        slapd::env("CUBE_TEST_LDAP_BIND_PASSWORD"),
    )]);
    let integration = store
        .create_integration(
            "active-directory",
            &fields(config(port, prefix), port),
            "admin",
            |id| seal_secrets(&sealer, id, &secrets),
        )
        .await
        .unwrap()
        .id;
    // The syncs run outside the app, so the app's own worker (with a key
    // of its own) never sees their jobs.
    let deps = SyncDeps {
        store: store.clone(),
        catalog: catalog.clone(),
        runtime: common::runtime(),
        sealer,
        retry: RetryPolicy {
            max_attempts: 2,
            base: Duration::from_millis(50),
            cap: Duration::from_millis(200),
        },
        outbound: Default::default(),
        events: Default::default(),
        lease_ms: cube_host::sync::LEASE_MS,
    };
    full_sync(&deps, integration).await;
    let base = common::serve_admin_app_on(catalog, store.clone()).await;
    Env {
        base,
        store,
        integration,
        deps,
        _dir: dir,
    }
}

impl Env {
    /// The external id of a synced group, by name.
    async fn group(&self, name: &str) -> String {
        self.store
            .directory_group_choices(self.integration)
            .await
            .unwrap()
            .into_iter()
            .find(|g| g.name == name)
            .unwrap_or_else(|| panic!("no synced group {name}"))
            .external_id
    }

    /// Turns directory sign-in on through the settings form, as `admin`.
    async fn enable_sign_in(&self, admin_group: &str, viewer_group: Option<&str>) {
        let (mut admin, csrf) = common::sign_in_admin(&self.base).await;
        let admin_id = self.group(admin_group).await;
        let viewer_id = match viewer_group {
            Some(name) => self.group(name).await,
            None => String::new(),
        };
        let saved = admin
            .post(
                &format!("/integrations/{}/directory-sign-in", self.integration),
                &[
                    ("csrf_token", &csrf),
                    ("enabled", "on"),
                    ("admin_group", &admin_id),
                    ("viewer_group", &viewer_id),
                ],
            )
            .await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
        let location = saved.location.unwrap();
        assert!(!location.contains("error="), "{location}");
    }

    async fn audit(&self, action: &str) -> Vec<AuditEntry> {
        self.store
            .audit_entries(200)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.action == action)
            .collect()
    }

    /// The reason the newest refused directory sign-in of `username` was
    /// given in the audit log.
    async fn refusal_reason(&self, username: &str) -> String {
        let entry = self
            .audit("session.sign-in.directory-refused")
            .await
            .into_iter()
            .find(|e| e.target == format!("user:{username}"))
            .unwrap_or_else(|| panic!("no refusal of {username} audited"));
        entry.after.unwrap()["reason"].as_str().unwrap().to_owned()
    }

    async fn role_of(&self, username: &str) -> Option<Role> {
        self.store
            .users()
            .await
            .unwrap()
            .into_iter()
            .find(|u| u.username == username)
            .map(|u| u.role)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_users_sign_in_with_their_password_and_get_the_role_of_their_groups() {
    let prefix = "dsi-roles";
    let mut ldap = slapd::admin().await;
    let root = subtree(&mut ldap, prefix).await;
    let person = |name: &str| format!("uid={prefix}-{name},ou=people,{root}");
    add_user(
        &mut ldap,
        &person("viola"),
        &format!("{prefix}-viola"),
        "viola-password",
        true,
    )
    .await;
    add_user(
        &mut ldap,
        &person("nemo"),
        &format!("{prefix}-nemo"),
        "nemo-password",
        true,
    )
    .await;
    add_user(
        &mut ldap,
        &person("off"),
        &format!("{prefix}-off"),
        "off-password",
        false,
    )
    .await;
    add_group(
        &mut ldap,
        &format!("cn={prefix}-viewers,ou=groups,{root}"),
        &format!("{prefix}-viewers"),
        &[&person("viola"), &person("off")],
    )
    .await;

    let env = env(prefix).await;
    // Nobody signs in from the directory until an admin turns it on.
    let mut ada = Browser::new(&env.base);
    let before = ada.sign_in("ada", ADA_PASSWORD).await;
    assert_eq!(before.status, StatusCode::UNAUTHORIZED);
    assert!(before.body.contains(WRONG), "{}", before.body);
    env.enable_sign_in("admins", Some(&format!("{prefix}-viewers")))
        .await;

    // ada is in engineers, which is in admins: an admin through nesting.
    let signed_in = ada.sign_in("ada", ADA_PASSWORD).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    assert_eq!(signed_in.location.as_deref(), Some("/admin/users"));
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

    let nemo = format!("{prefix}-nemo");
    let non_member = stranger.sign_in(&nemo, "nemo-password").await;
    assert_eq!(non_member.status, StatusCode::UNAUTHORIZED);
    assert!(non_member.body.contains(WRONG));
    assert_eq!(env.refusal_reason(&nemo).await, "not-a-member");
    assert_eq!(
        env.role_of(&nemo).await,
        None,
        "no account for a non-member"
    );

    let off = format!("{prefix}-off");
    let disabled = stranger.sign_in(&off, "off-password").await;
    assert_eq!(disabled.status, StatusCode::UNAUTHORIZED);
    assert!(disabled.body.contains(WRONG));
    assert_eq!(env.refusal_reason(&off).await, "disabled");

    let unknown = stranger.sign_in("nobody-at-all", "whatever").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(unknown.body.contains(WRONG));

    // A member of the viewer group is a viewer.
    let viola = format!("{prefix}-viola");
    let mut viewer = Browser::new(&env.base);
    let signed_in = viewer.sign_in(&viola, "viola-password").await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
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
    delete_tree(&mut ldap, &root).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_settings_are_for_admins_with_the_form_token_and_are_audited() {
    let env = env("dsi-form").await;
    let path = format!("/integrations/{}/directory-sign-in", env.integration);
    let admins = env.group("admins").await;
    let engineers = env.group("engineers").await;

    let mut viewer = Browser::new(&env.base);
    viewer.sign_in("vera", VIEWER_PASSWORD).await;
    let page = viewer
        .get(&format!("/integrations/{}", env.integration))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Directory sign-in"), "{}", page.body);
    assert!(!page.body.contains(&path), "no form for viewers");
    let csrf = viewer.csrf().await;
    let refused = viewer
        .post(
            &path,
            &[
                ("csrf_token", &csrf),
                ("enabled", "on"),
                ("admin_group", &engineers),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let (mut admin, csrf) = common::sign_in_admin(&env.base).await;
    let page = admin
        .get(&format!("/integrations/{}", env.integration))
        .await;
    assert!(page.body.contains(&path), "{}", page.body);
    assert!(page.body.contains(&format!("value=\"{admins}\"")));
    for token in ["", "forged"] {
        let forged = admin
            .post(
                &path,
                &[
                    ("csrf_token", token),
                    ("enabled", "on"),
                    ("admin_group", &engineers),
                ],
            )
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
    }
    assert!(
        env.store
            .directory_sign_in_settings(env.integration)
            .await
            .unwrap()
            .is_none()
    );
    // Only synced groups of this integration.
    let unknown = admin
        .post(
            &path,
            &[
                ("csrf_token", &csrf),
                ("enabled", "on"),
                ("admin_group", "not-a-group"),
            ],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::SEE_OTHER);
    assert!(unknown.location.unwrap().contains("error="));

    let saved = admin
        .post(
            &path,
            &[
                ("csrf_token", &csrf),
                ("enabled", "on"),
                ("admin_group", &engineers),
                ("viewer_group", &admins),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let shown = admin.get(saved.location.as_deref().unwrap()).await;
    assert!(
        shown
            .body
            .contains("Members of <strong>engineers</strong> sign in"),
        "{}",
        shown.body
    );
    let turned_off = admin
        .post(&path, &[("csrf_token", &csrf), ("admin_group", &engineers)])
        .await;
    assert_eq!(turned_off.status, StatusCode::SEE_OTHER);
    let settings = env
        .store
        .directory_sign_in_settings(env.integration)
        .await
        .unwrap()
        .unwrap();
    assert!(!settings.enabled);
    assert_eq!(settings.updated_by, "admin");

    let audited = env.audit("integration.directory-sign-in").await;
    assert_eq!(audited.len(), 2, "{audited:?}");
    // Newest first: on -> off, then nothing -> on.
    assert_eq!(audited[0].before.as_ref().unwrap()["enabled"], true);
    assert_eq!(audited[0].after.as_ref().unwrap()["enabled"], false);
    assert_eq!(audited[1].before.as_ref().unwrap()["enabled"], false);
    let after = audited[1].after.as_ref().unwrap();
    assert_eq!(after["admin_group"]["name"], "engineers");
    assert_eq!(after["viewer_group"]["name"], "admins");
    assert_eq!(audited[1].target, "integration:Corporate directory");

    // Turned off: ada's directory password no longer signs her in.
    let mut ada = Browser::new(&env.base);
    assert_eq!(
        ada.sign_in("ada", ADA_PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// A user record as the connector gives it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_takes_away_at_once_what_the_directory_took_away() {
    let prefix = "dsi-revoke";
    let mut ldap = slapd::admin().await;
    let root = subtree(&mut ldap, prefix).await;
    let viola = format!("uid={prefix}-viola,ou=people,{root}");
    let name = format!("{prefix}-viola");
    add_user(&mut ldap, &viola, &name, "viola-password", true).await;
    let admins = format!("cn={prefix}-admins,ou=groups,{root}");
    let viewers = format!("cn={prefix}-viewers,ou=groups,{root}");
    add_group(&mut ldap, &admins, &format!("{prefix}-admins"), &[&viola]).await;
    add_group(&mut ldap, &viewers, &format!("{prefix}-viewers"), &[&viola]).await;
    let env = env(prefix).await;
    env.enable_sign_in(
        &format!("{prefix}-admins"),
        Some(&format!("{prefix}-viewers")),
    )
    .await;
    let mut browser = Browser::new(&env.base);
    let signed_in = browser.sign_in(&name, "viola-password").await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    assert_eq!(browser.get("/admin/users").await.status, StatusCode::OK);

    // Out of the admin group in the directory: after the next sync, the
    // live session is a viewer's.
    let member = |dn: &str| std::collections::HashSet::from([dn.as_bytes().to_vec()]);
    ldap.modify(
        &admins,
        vec![ldap3::Mod::Delete(b"member".to_vec(), member(&viola))],
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    full_sync(&env.deps, env.integration).await;
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
    ldap.modify(
        &viewers,
        vec![ldap3::Mod::Delete(b"member".to_vec(), member(&viola))],
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    full_sync(&env.deps, env.integration).await;
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
    ldap.modify(
        &admins,
        vec![ldap3::Mod::Add(b"member".to_vec(), member(&viola))],
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    full_sync(&env.deps, env.integration).await;
    let again = browser.sign_in(&name, "viola-password").await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
    assert_eq!(browser.get("/admin/users").await.status, StatusCode::OK);
    env.store
        .set_integration_enabled(env.integration, false)
        .await
        .unwrap();
    assert_eq!(
        browser.get("/admin/users").await.status,
        StatusCode::SEE_OTHER
    );
    let revoked = env.audit("directory.account.revoked").await;
    assert_eq!(revoked.len(), 2, "{revoked:?}");
    delete_tree(&mut ldap, &root).await;
}

/// A DN names whoever holds it now: when the synced user is deleted and
/// another account is created under her DN (with its own password), the
/// bind as that DN succeeds, but the account is not the synced user (its
/// objectGUID differs), so its sign-in is refused, audited and shown on
/// the integration's page, before any sync could notice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_account_under_a_synced_users_dn_cannot_sign_in_as_her() {
    let prefix = "dsi-identity";
    let mut ldap = slapd::admin().await;
    let root = subtree(&mut ldap, prefix).await;
    let kim = format!("uid={prefix}-kim,ou=people,{root}");
    let name = format!("{prefix}-kim");
    add_user(&mut ldap, &kim, &name, "kim-password", true).await;
    let admins = format!("cn={prefix}-admins,ou=groups,{root}");
    add_group(&mut ldap, &admins, &format!("{prefix}-admins"), &[&kim]).await;
    let env = env(prefix).await;
    env.enable_sign_in(&format!("{prefix}-admins"), None).await;
    let signed_in = Browser::new(&env.base).sign_in(&name, "kim-password").await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );

    ldap.delete(&kim).await.unwrap().success().unwrap();
    add_user(&mut ldap, &kim, &name, "impostor-password", true).await;
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
    delete_tree(&mut ldap, &root).await;
}

/// A bind sends the password typed: over an integration without TLS it
/// would cross the network in clear. Sign-in refuses to send it until an
/// admin ticks "allow passwords in clear", and the page warns either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_without_tls_needs_the_admins_explicit_choice_and_is_flagged() {
    let env = env("dsi-plain").await;
    env.enable_sign_in("admins", None).await;
    // The integration is switched to plain LDAP on the same listener.
    let mut config = env
        .store
        .integration(env.integration)
        .await
        .unwrap()
        .unwrap()
        .config;
    config.insert("tls".into(), json!("none"));
    sqlx::query("UPDATE integrations SET config_json = $1 WHERE id = $2")
        .bind(Value::Object(config).to_string())
        .bind(env.integration)
        .execute(env.store.pool())
        .await
        .unwrap();

    let mut ada = Browser::new(&env.base);
    // A setting only an admin can fix: answered like a directory that
    // cannot be reached (local accounts still sign in).
    let refused = ada.sign_in("ada", ADA_PASSWORD).await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.body.contains(UNREACHABLE), "{}", refused.body);
    assert_eq!(env.refusal_reason("ada").await, "misconfigured");
    let refusals = env.audit("session.sign-in.directory-refused").await;
    let detail = refusals[0].after.as_ref().unwrap()["detail"].to_string();
    assert!(
        detail.contains("in clear") && detail.contains("not sent"),
        "{detail}"
    );
    let (mut admin, csrf) = common::sign_in_admin(&env.base).await;
    let page = admin
        .get(&format!("/integrations/{}", env.integration))
        .await;
    assert!(
        common::element_text(&page.body, "sign-in-in-clear").contains("without TLS"),
        "{}",
        page.body
    );

    // Saving the settings with sign-in on needs the tick.
    let admins = env.group("admins").await;
    let path = format!("/integrations/{}/directory-sign-in", env.integration);
    let mut form = vec![
        ("csrf_token", csrf.as_str()),
        ("enabled", "on"),
        ("admin_group", admins.as_str()),
        ("viewer_group", ""),
    ];
    let unticked = admin.post(&path, &form).await;
    let location = unticked.location.unwrap();
    assert!(
        location.contains("error=") && location.contains("in%20clear"),
        "{location}"
    );
    form.push(("allow_plaintext", "on"));
    let ticked = admin.post(&path, &form).await;
    assert!(!ticked.location.unwrap().contains("error="));
    let signed_in = ada.sign_in("ada", ADA_PASSWORD).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    let page = admin
        .get(&format!("/integrations/{}", env.integration))
        .await;
    let warning = &page.body[page.body.find("id=\"sign-in-in-clear\"").unwrap()..];
    let warning = &warning[..warning.find("</p>").unwrap()];
    assert!(warning.contains("sends the passwords"), "{warning}");
}

fn user_record(id: &str, name: &str, enabled: bool) -> cube_host::runtime::types::Record {
    cube_host::runtime::types::Record {
        kind: "user".into(),
        external_id: id.into(),
        fields: json!({"username": name, "dn": format!("uid={name},ou=people,dc=x"), "enabled": enabled})
            .to_string(),
        deleted: false,
        version: Some("1".into()),
    }
}

fn group_record(id: &str, name: &str, member_dns: &[&str]) -> cube_host::runtime::types::Record {
    cube_host::runtime::types::Record {
        kind: "group".into(),
        external_id: id.into(),
        fields: json!({"name": name, "dn": format!("cn={name},ou=groups,dc=x"), "member_dns": member_dns})
            .to_string(),
        deleted: false,
        version: Some("1".into()),
    }
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
