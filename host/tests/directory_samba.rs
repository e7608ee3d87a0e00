//! The Active Directory connector (`plugins/active-directory`) with its
//! Active Directory preset, in the real sandbox, against a real Active
//! Directory: the Samba AD DC of `scripts/test-samba.sh` (CUBE.TEST on
//! 127.0.0.2, LDAPS). What doubles cannot show: objectGUIDs as the DC
//! stores them, `userAccountControl`, nesting, `uSNChanged` windows up to
//! `highestCommittedUSN` of one `invocationId`, a membership change that
//! moves the group's USN and not the user's, and AD's bind sub-codes.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use cube_host::integrations::seal_secrets;
use cube_host::runtime::LdapGrant;
use cube_host::secrets::{MasterKey, Sealer};
use cube_host::store::Store;
use cube_host::store::integrations::IntegrationFields;
use cube_host::store::jobs::NewJob;
use cube_host::store::sync_logs::SyncLogFilter;
use cube_host::sync::{RetryPolicy, SyncDeps, run_job};
use ldap3::Mod;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use common::samba;

/// The connector's configuration for the DC: LDAPS trusting the test CA,
/// the Active Directory preset (its defaults for attributes and groups),
/// searches under `base` (from the domain's root AD answers with
/// referrals to its other partitions).
fn config(base: &str, extra: Value) -> serde_json::Map<String, Value> {
    let mut config = json!({
        "server": samba::env("CUBE_TEST_SAMBA_HOST"),
        "port": 636,
        "tls": "ldaps",
        "ca_pem": samba::ca_pem(),
        "bind_dn": samba::env("CUBE_TEST_SAMBA_BIND_DN"),
        "base_dn": samba::env("CUBE_TEST_SAMBA_BASE"),
        "user_base": base,
        "group_base": base,
        "preset": "active-directory",
        "user_filter": "(&(objectCategory=person)(objectClass=user))",
    });
    for (key, value) in extra.as_object().unwrap() {
        config[key] = value.clone();
    }
    config.as_object().unwrap().clone()
}

fn grant() -> String {
    samba::env("CUBE_TEST_SAMBA_URL")
}

struct Setup {
    deps: SyncDeps,
    integration: i64,
    _dir: tempfile::TempDir,
}

async fn setup(base: &str, extra: Value) -> Setup {
    setup_bound(base, extra, samba::env("CUBE_TEST_SAMBA_BIND_PASSWORD")).await
}

/// [`setup`], binding with `password` (for a `bind_dn` in `extra`).
async fn setup_bound(base: &str, extra: Value, password: String) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).await.unwrap();
    let catalog = common::plugin_catalog(&["active-directory"]).await;
    let sealer = Arc::new(Sealer::new(&MasterKey::generate()));
    let (connector, info) = catalog.get("active-directory").unwrap();
    store
        .upsert_provider(&info, connector.digest())
        .await
        .unwrap();
    let fields = IntegrationFields {
        name: "Samba AD".into(),
        enabled: true,
        config: config(base, extra),
        http_grants: Vec::new(),
        ldap_grants: vec![LdapGrant::parse(&grant()).unwrap()],
        sync_interval_secs: None,
        disable_after_failures: None,
        sync_cron: None,
    };
    let secrets = BTreeMap::from([("password".to_owned(), password)]);
    let integration = store
        .create_integration("active-directory", &fields, "admin", |id| {
            seal_secrets(&sealer, id, &secrets)
        })
        .await
        .unwrap()
        .id;
    let deps = SyncDeps {
        store,
        catalog,
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
    Setup {
        deps,
        integration,
        _dir: dir,
    }
}

/// Queues a sync and runs it (and its retries) to the end; returns the job.
async fn sync(setup: &Setup, mode: &str) -> cube_host::store::jobs::Job {
    let (job, _) = setup
        .deps
        .store
        .enqueue_sync(NewJob {
            integration_id: setup.integration,
            trigger: "manual",
            mode,
            dry_run: false,
            requested_by: "admin",
        })
        .await
        .unwrap();
    for _ in 0..400 {
        let now = setup.deps.store.job(job.id).await.unwrap().unwrap();
        if now.status != "queued" && now.status != "running" {
            return now;
        }
        if let Some(claimed) = setup.deps.store.claim_job("test", 60_000).await.unwrap() {
            run_job(&setup.deps, claimed, "test").await;
        } else {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    panic!("job {} did not finish", job.id);
}

/// The last sync log entry of a job: (status, records read, created,
/// updated, deleted, message and the connector's log).
async fn log_of(setup: &Setup, job: i64) -> (String, i64, i64, i64, i64, String) {
    let filter = SyncLogFilter {
        integration_id: Some(setup.integration),
        ..Default::default()
    };
    let (logs, _) = setup.deps.store.sync_logs(&filter, 0, 100).await.unwrap();
    logs.into_iter()
        .find(|l| l.job_id == Some(job))
        .map(|l| {
            (
                l.status,
                l.counts.read,
                l.counts.created,
                l.counts.updated,
                l.counts.deleted,
                format!("{} {}", l.message, l.log),
            )
        })
        .unwrap_or_else(|| panic!("job {job} left no sync log"))
}

/// Runs a sync that must succeed; returns (read, created, updated, deleted).
async fn sync_ok(setup: &Setup, mode: &str) -> (i64, i64, i64, i64) {
    let job = sync(setup, mode).await;
    let (status, read, created, updated, deleted, text) = log_of(setup, job.id).await;
    assert_eq!(
        (job.status.as_str(), status.as_str()),
        ("succeeded", "succeeded"),
        "{mode} sync: {text}"
    );
    (read, created, updated, deleted)
}

/// The connector's stored cursor.
async fn cursor(setup: &Setup) -> Value {
    let text: Option<String> =
        sqlx::query_scalar("SELECT sync_cursor FROM integrations WHERE id = $1")
            .bind(setup.integration)
            .fetch_one(setup.deps.store.pool())
            .await
            .unwrap();
    serde_json::from_str(&text.expect("a stored cursor")).unwrap()
}

async fn count(store: &Store, table: &str, integration: i64) -> i64 {
    sqlx::query_scalar(&format!(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM {table} WHERE integration_id = $1"
    ))
    .bind(integration)
    .fetch_one(store.pool())
    .await
    .unwrap()
}

/// A synced user, by `sAMAccountName`.
#[derive(Debug)]
struct User {
    id: String,
    enabled: bool,
    dn: String,
    display_name: Option<String>,
}

async fn user(store: &Store, integration: i64, name: &str) -> Option<User> {
    let row: Option<(String, i64, String, Option<String>)> = sqlx::query_as(
        "SELECT external_id, enabled, dn, display_name FROM directory_users \
         WHERE integration_id = $1 AND username = $2",
    )
    .bind(integration)
    .bind(name)
    .fetch_optional(store.pool())
    .await
    .unwrap();
    row.map(|(id, enabled, dn, display_name)| User {
        id,
        enabled: enabled != 0,
        dn,
        display_name,
    })
}

/// The names of the groups a user belongs to, with `*` after the direct ones.
async fn groups_of(store: &Store, integration: i64, name: &str) -> Vec<String> {
    let id = user(store, integration, name).await.unwrap().id;
    let mut names = Vec::new();
    for m in store.memberships_of_member(integration, &id).await.unwrap() {
        let group: String = sqlx::query_scalar(
            "SELECT name FROM directory_groups WHERE integration_id = $1 AND external_id = $2",
        )
        .bind(integration)
        .bind(&m.group_external_id)
        .fetch_one(store.pool())
        .await
        .unwrap();
        names.push(if m.direct { format!("{group}*") } else { group });
    }
    names.sort();
    names
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

async fn usn_changed(ldap: &mut ldap3::Ldap, dn: &str) -> i64 {
    samba::read_text(ldap, dn, "uSNChanged")
        .await
        .parse()
        .unwrap()
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
async fn the_connection_test_previews_the_ou_and_names_a_wrong_password_by_ads_sub_code() {
    let ou = samba::env("CUBE_TEST_SAMBA_OU");
    let catalog = common::plugin_catalog(&["active-directory"]).await;
    let (base, _store, _dir) = common::serve_admin_app(catalog).await;
    let api = common::client::Api::sign_in(&base, "admin", common::ADMIN_PASSWORD).await;
    let test = async |name: &str, password: &str| -> Value {
        let mut config = config(&ou, json!({}));
        config.insert("password".into(), json!(password));
        let (status, created) = api
            .json(
                Method::POST,
                "/api/v1/integrations",
                Some(
                    json!({"name": name, "connector": "active-directory", "config": config,
                            "ldap_grants": [grant()], "allow_private": true, "enabled": true}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let (status, verdict) = api
            .json(
                Method::POST,
                &format!("/api/v1/integrations/{}/test", created["id"]),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{verdict}");
        verdict
    };

    let right = test("Samba AD", &samba::env("CUBE_TEST_SAMBA_BIND_PASSWORD")).await;
    assert_eq!(right["ok"], true, "{right}");
    let detail = right["detail"].as_str().unwrap();
    assert!(detail.contains("(LDAPS)"), "{detail}");
    assert!(detail.contains(&format!("4 users under {ou}")), "{detail}");
    assert!(detail.contains(&format!("2 groups under {ou}")), "{detail}");
    assert!(detail.contains("uSNChanged"), "{detail}");

    // AD answers 49 with "80090308: LdapErr: ..., data 52e, ...".
    let wrong = test("Samba AD, wrong password", "not-the-password").await;
    assert_eq!(wrong["ok"], false, "{wrong}");
    assert_eq!(wrong["headline"], "The credentials were refused", "{wrong}");
    let text = wrong.to_string();
    assert!(
        text.contains("52e") && text.contains("password is wrong"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simple_bind_over_plain_ldap_is_told_to_use_ldaps_or_starttls() {
    // Samba, like Windows with LDAP signing required, refuses a simple bind
    // on 389 without TLS: strongerAuthRequired, "BindSimple: Transport
    // encryption required". That is a setting to change, not a defect.
    let ou = samba::env("CUBE_TEST_SAMBA_OU");
    let host = samba::env("CUBE_TEST_SAMBA_HOST");
    let catalog = common::plugin_catalog(&["active-directory"]).await;
    let (base, _store, _dir) = common::serve_admin_app(catalog).await;
    let api = common::client::Api::sign_in(&base, "admin", common::ADMIN_PASSWORD).await;
    let mut config = config(&ou, json!({"port": 389, "tls": "none"}));
    config.insert(
        "password".into(),
        json!(samba::env("CUBE_TEST_SAMBA_BIND_PASSWORD")),
    );
    let (status, created) = api
        .json(
            Method::POST,
            "/api/v1/integrations",
            Some(
                json!({"name": "Samba AD, plain LDAP", "connector": "active-directory", "config": config,
                        "ldap_grants": [format!("ldap://{host}:389")], "allow_private": true, "enabled": true}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, verdict) = api
        .json(
            Method::POST,
            &format!("/api/v1/integrations/{}/test", created["id"]),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{verdict}");
    assert_eq!(verdict["ok"], false, "{verdict}");
    assert_eq!(
        verdict["headline"], "The server requires TLS or signing",
        "{verdict}"
    );
    let detail = verdict["detail"].as_str().unwrap();
    assert!(
        detail.contains("the server requires TLS or signing: use LDAPS (636) or StartTLS"),
        "{detail}"
    );
    let advice = verdict["advice"].as_str().unwrap();
    assert!(!advice.contains("author"), "{advice}");
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
    let job = sync(&setup, "full").await;
    let (status, .., text) = log_of(&setup, job.id).await;
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
    let (mut admin, csrf) = common::sign_in_admin(&base).await;
    let admins_id = store
        .directory_group_choices(id)
        .await
        .unwrap()
        .into_iter()
        .find(|g| g.name == "idt-admins")
        .unwrap()
        .external_id;
    let saved = admin
        .post(
            &format!("/integrations/{id}/directory-sign-in"),
            &[
                ("csrf_token", &csrf),
                ("enabled", "on"),
                ("admin_group", &admins_id),
                ("viewer_group", ""),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
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
    let job = sync(&setup, "incremental").await;
    let (status, _, _, _, deleted, text) = log_of(&setup, job.id).await;
    assert_eq!(status, "succeeded", "{text}");
    assert_eq!(deleted, 2, "{text}");
    assert!(user(store, id, "tmb-dan").await.is_none());
    assert!(!text.contains("does not see deletions"), "{text}");
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
    let job = sync(&limited, "incremental").await;
    let (status, _, _, _, deleted, text) = log_of(&limited, job.id).await;
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
