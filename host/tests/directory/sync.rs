//! The Active Directory / LDAP connector (`plugins/active-directory`) in
//! the real sandbox, against the real slapd of `scripts/test-slapd.sh` (an
//! AD-like tree: `user` and `group` classes, `objectGUID`,
//! `userAccountControl`, `memberOf`), through the real sync engine and
//! store: thousands of users over many pages, nested groups and disabled
//! accounts, incremental syncs that read exactly what changed, deletions
//! found by full syncs, and a connection dropped in the middle of a paged
//! search.

use cube_test_support as common;

use std::sync::Arc;
use std::time::Duration;

use cube_host::runtime::LdapGrant;
use cube_host::store::Store;
use cube_host::store::integrations::IntegrationFields;
use serde_json::{Value, json};

use common::SyncSetup;
use common::directory::{add_group, add_user, delete_tree, modify, subtree};
use common::slapd;
use common::synced_directory::{User, groups_of, user};

/// The connector's configuration for the test server on `port` (plain
/// LDAP upgraded with StartTLS, trusting the test CA), in pages of 100
/// unless `extra` says otherwise.
fn config(port: u16, extra: Value) -> serde_json::Map<String, Value> {
    let mut config = slapd::connector_config(port, json!({"page_size": 100}));
    config.extend(extra.as_object().unwrap().clone());
    config
}

async fn setup(port: u16, extra: Value) -> SyncSetup {
    let fields = IntegrationFields {
        ldap_grants: vec![LdapGrant::parse(&format!("ldap://127.0.0.1:{port}")).unwrap()],
        ..IntegrationFields::new("Directory", config(port, extra))
    };
    SyncSetup::builder("active-directory", fields)
        .secret("password", slapd::env("CUBE_TEST_LDAP_BIND_PASSWORD"))
        .max_attempts(4)
        .build()
        .await
}

async fn scalar(store: &Store, sql: &str, integration: i64) -> i64 {
    sqlx::query_scalar(sql)
        .bind(integration)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_reads_thousands_of_users_with_nested_groups_and_disabled_accounts() {
    slapd::bulk(5000);
    let (port, _) = slapd::ports();
    let setup = setup(
        port,
        json!({
            "group_base": format!("ou=Groups,{}", slapd::env("CUBE_TEST_LDAP_BASE")),
            // Not the users other tests add meanwhile, nor the benchmark's
            // 100,000 under ou=Bench.
            "user_filter": format!(
                "(&(objectClass=user)(!(employeeType={}))(!(uid=bench*)))",
                common::directory::SCRATCH
            ),
        }),
    )
    .await;
    let job = setup.sync("full").await;
    let logs = setup.log_rows(job.id).await;
    assert_eq!(job.status, "succeeded", "{logs:?}");
    let store = &setup.deps.store;
    let id = setup.integration;
    // ou=People's six and ou=Bulk's 5,000; cn=sync is a `person`, not a `user`.
    let users = scalar(
        store,
        "SELECT CAST(COUNT(*) AS BIGINT) FROM directory_users WHERE integration_id = $1",
        id,
    )
    .await;
    assert_eq!(users, 5006);
    // Every tenth bulk user, and ken.
    let disabled = scalar(store, "SELECT CAST(COUNT(*) AS BIGINT) FROM directory_users WHERE integration_id = $1 AND enabled = 0", id).await;
    assert_eq!(disabled, 501);
    assert!(
        !user(store, id, "ken").await.unwrap().enabled,
        "ken is disabled"
    );
    assert!(
        user(store, id, "bulk000010")
            .await
            .is_some_and(|u| !u.enabled)
    );
    assert!(
        user(store, id, "bulk000011")
            .await
            .is_some_and(|u| u.enabled)
    );
    assert!(job.pages_done >= 25, "pages of 100: {}", job.pages_done);
    // objectGUID in its canonical form (base.ldif's ERITFBUWFxgZGhscHR4fIA==).
    assert_eq!(
        user(store, id, "ada").await.unwrap().id,
        "14131211-1615-1817-191a-1b1c1d1e1f20"
    );
    // admins holds linus and the engineers group, which holds ada and grace.
    assert_eq!(groups_of(store, id, "ada").await, ["admins", "engineers*"]);
    assert_eq!(groups_of(store, id, "linus").await, ["admins*"]);
    let groups = scalar(
        store,
        "SELECT CAST(COUNT(*) AS BIGINT) FROM directory_groups WHERE integration_id = $1",
        id,
    )
    .await;
    assert_eq!(groups, 3);
    let (_, read, created, ..) = logs.last().unwrap().clone();
    assert_eq!(created, 5009);
    // OpenLDAP's stamps are entryCSNs: one plain paged search reads every
    // entry once (stamp windows would make slapd walk its CSN index for
    // every page), then a one-sided search finds nothing changed meanwhile.
    assert_eq!(read, 5009, "every entry read once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_syncs_read_exactly_the_changes_and_full_syncs_find_deletions() {
    use ldap3::Mod;
    use std::collections::HashSet as Set;

    let mut ldap = slapd::admin().await;
    let root = subtree(&mut ldap, "incremental").await;
    let people = format!("ou=people,{root}");
    let groups = format!("ou=groups,{root}");
    let dn = |name: &str| format!("uid={name},{people}");
    for name in ["u1", "u2", "u3", "u4"] {
        add_user(&mut ldap, &dn(name), name, "pw", true).await;
    }
    let g1 = format!("cn=g1,{groups}");
    let g2 = format!("cn=g2,{groups}");
    add_group(&mut ldap, &g1, "g1", &[&dn("u1"), &dn("u2"), &dn("u3")]).await;
    add_group(&mut ldap, &g2, "g2", &[&g1]).await;

    let (port, _) = slapd::ports();
    let setup = setup(
        port,
        json!({"user_base": root, "group_base": groups, "page_size": 2}),
    )
    .await;
    let store = &setup.deps.store;
    let id = setup.integration;
    let first = setup.sync("full").await;
    assert_eq!(
        first.status,
        "succeeded",
        "{:?}",
        setup.log_rows(first.id).await
    );
    let u3_id = user(store, id, "u3").await.unwrap().id;
    assert_eq!(groups_of(store, id, "u2").await, ["g1*", "g2"]);

    // Nothing changed: an incremental sync reads nothing.
    let idle = setup.sync("incremental").await;
    let logs = setup.log_rows(idle.id).await;
    assert_eq!(logs.last().unwrap().1, 0, "{logs:?}");

    // modify, disable, move between groups, rename, move to another OU, add.
    modify(
        &mut ldap,
        &dn("u1"),
        vec![Mod::Replace("mail", Set::from(["ada@new.example"]))],
    )
    .await;
    modify(
        &mut ldap,
        &dn("u2"),
        vec![Mod::Replace("userAccountControl", Set::from(["514"]))],
    )
    .await;
    modify(
        &mut ldap,
        &g1,
        vec![Mod::Delete("member", Set::from([dn("u2").as_str()]))],
    )
    .await;
    modify(
        &mut ldap,
        &g2,
        vec![Mod::Add("member", Set::from([dn("u2").as_str()]))],
    )
    .await;
    ldap.modifydn(&dn("u3"), "uid=u3-renamed", true, None)
        .await
        .unwrap()
        .success()
        .unwrap();
    ldap.modifydn(&dn("u4"), "uid=u4", true, Some(&format!("ou=moved,{root}")))
        .await
        .unwrap()
        .success()
        .unwrap();
    add_user(&mut ldap, &dn("u5"), "u5", "pw", true).await;

    let incremental = setup.sync("incremental").await;
    let logs = setup.log_rows(incremental.id).await;
    let (status, read, created, updated, deleted, _) = logs.last().unwrap().clone();
    assert_eq!(status, "succeeded", "{logs:?}");
    // u1, u2, u3 (renamed), u4 (moved), u5 (new), g1 and g2; u3's rename
    // rewrote g1 again (the refint overlay), which changes nothing here.
    assert_eq!(
        (read, created, updated, deleted),
        (7, 1, 6, 0),
        "exactly the changed entries: {logs:?}"
    );
    let email: Option<String> = sqlx::query_scalar(
        "SELECT email FROM directory_users WHERE integration_id = $1 AND username = 'u1'",
    )
    .bind(id)
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(email.as_deref(), Some("ada@new.example"));
    assert!(
        !user(store, id, "u2").await.unwrap().enabled,
        "u2 is disabled"
    );
    assert_eq!(groups_of(store, id, "u2").await, ["g2*"]);
    assert_eq!(groups_of(store, id, "u1").await, ["g1*", "g2"]);
    // Renamed and moved users keep their identity (and u3 its groups).
    let User {
        id: renamed_id,
        dn: renamed_dn,
        ..
    } = user(store, id, "u3").await.unwrap();
    assert_eq!(renamed_id, u3_id);
    assert!(renamed_dn.starts_with("uid=u3-renamed,"), "{renamed_dn}");
    assert_eq!(groups_of(store, id, "u3").await, ["g1*", "g2"]);
    assert!(user(store, id, "u4").await.unwrap().dn.contains("ou=moved"));
    assert!(user(store, id, "u5").await.is_some());
    let users = scalar(
        store,
        "SELECT CAST(COUNT(*) AS BIGINT) FROM directory_users WHERE integration_id = $1",
        id,
    )
    .await;
    assert_eq!(users, 5);

    // A deletion is invisible to incremental syncs; a full sync finds it.
    // OpenLDAP has no Deleted Objects (nor the show-deleted control): the
    // incremental sync works on and says once that it cannot see them.
    ldap.delete(&dn("u5")).await.unwrap().success().unwrap();
    let blind = setup.sync("incremental").await;
    let logs = setup.log_rows(blind.id).await;
    let (status, _, _, _, _, text) = logs.last().unwrap();
    assert_eq!(status, "succeeded", "{logs:?}");
    assert_eq!(text.matches("does not see deletions").count(), 1, "{text}");
    assert!(
        text.contains("does not support the show-deleted control"),
        "{text}"
    );
    assert!(user(store, id, "u5").await.is_some());
    let full = setup.sync("full").await;
    let logs = setup.log_rows(full.id).await;
    assert_eq!(logs.last().unwrap().4, 1, "{logs:?}");
    assert!(user(store, id, "u5").await.is_none());
    assert_eq!(groups_of(store, id, "u1").await, ["g1*", "g2"]);
    delete_tree(&mut ldap, &root).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_mid_search_is_retried_and_resumes_where_it_stopped() {
    slapd::bulk(5000);
    let (port, _) = slapd::ports();
    let relay = common::proxy::Relay::start(port).await;
    let base = slapd::env("CUBE_TEST_LDAP_BASE");
    let setup = Arc::new(
        setup(
            relay.port,
            json!({"user_base": format!("ou=Bulk,{base}"), "group_base": format!("ou=Groups,{base}")}),
        )
        .await,
    );
    let job = setup.queue("full").await;
    let runner = tokio::spawn({
        let setup = setup.clone();
        async move { setup.finish(job).await }
    });
    // Once a good part of the users is committed, the server dies in the
    // middle of its next answer (a page of 100 entries is ~30 kB).
    loop {
        let now = setup.deps.store.job(job).await.unwrap().unwrap();
        assert!(
            now.attempts <= 1 && now.status != "succeeded",
            "the job ended before the cut: {now:?}"
        );
        if now.pages_done >= 28 {
            relay.cut_after(10_000);
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let done = runner.await.unwrap();
    let logs = setup.log_rows(job).await;
    assert_eq!(done.status, "succeeded", "{logs:?}");
    // The cut either fails the attempt (the engine retries it on a new
    // connection) or lands on the page the host was reading ahead (the
    // connector's next search finds the connection gone, opens another and
    // resumes within the attempt). Both must resume the same way.
    match done.attempts {
        1 => assert_eq!(logs.len(), 1, "{logs:?}"),
        2 => {
            assert_eq!(logs[0].0, "failed", "{logs:?}");
            assert!(logs[0].5.contains("will retry"), "{logs:?}");
        }
        n => panic!("{n} attempts: {logs:?}"),
    }
    let users = scalar(
        &setup.deps.store,
        "SELECT CAST(COUNT(*) AS BIGINT) FROM directory_users WHERE integration_id = $1",
        setup.integration,
    )
    .await;
    assert_eq!(users, 5000);
    // The resumed search passed over the entries read before the cut once
    // their DNs matched...
    let resumed = logs.last().unwrap().5.clone();
    let passed: i64 = resumed
        .split("passed over the ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no pass-over in {logs:?}"));
    assert!(
        passed >= 1000,
        "the cut came late enough to matter: {logs:?}"
    );
    // ...and handed on only the rest: read counts (what each attempt
    // committed) add up to every entry once, nothing mapped or stored twice.
    let read: i64 = logs.iter().map(|l| l.1).sum();
    assert_eq!(read, 5003, "{logs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_that_cannot_work_fail_at_once_with_the_reason() {
    let (port, _) = slapd::ports();
    let base = slapd::env("CUBE_TEST_LDAP_BASE");
    let people = json!({"user_base": format!("ou=People,{base}"), "group_base": format!("ou=Groups,{base}")});

    // A wrong password is not retried: a retry cannot fix it.
    let setup_wrong = setup(port, people.clone()).await;
    sqlx::query("UPDATE integrations SET config_json = $1 WHERE id = $2")
        .bind({
            let mut config = config(port, people.clone());
            config.insert(
                "bind_dn".into(),
                json!("cn=nobody,ou=Service,dc=example,dc=com"),
            );
            Value::Object(config).to_string()
        })
        .bind(setup_wrong.integration)
        .execute(setup_wrong.deps.store.pool())
        .await
        .unwrap();
    let job = setup_wrong.sync("full").await;
    let logs = setup_wrong.log_rows(job.id).await;
    assert_eq!(
        (job.status.as_str(), job.attempts),
        ("failed", 1),
        "{logs:?}"
    );
    assert!(
        logs[0].5.contains("refused the bind as cn=nobody"),
        "{logs:?}"
    );

    // A server the integration was not granted is refused by the host.
    let other = common::closed_port();
    let setup_denied = setup(port, people.clone()).await;
    sqlx::query("UPDATE integrations SET config_json = $1 WHERE id = $2")
        .bind(Value::Object(config(other, people)).to_string())
        .bind(setup_denied.integration)
        .execute(setup_denied.deps.store.pool())
        .await
        .unwrap();
    let job = setup_denied.sync("full").await;
    let logs = setup_denied.log_rows(job.id).await;
    assert_eq!(
        (job.status.as_str(), job.attempts),
        ("failed", 1),
        "{logs:?}"
    );
    assert!(
        logs[0]
            .5
            .contains(&format!("ldap://127.0.0.1:{other} is not granted")),
        "{logs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_membership_only_change_reaches_the_users_member_of_in_an_incremental_sync() {
    use ldap3::Mod;
    use std::collections::HashSet as Set;

    let mut ldap = slapd::admin().await;
    let root = subtree(&mut ldap, "memberof").await;
    let people = format!("ou=people,{root}");
    let groups = format!("ou=groups,{root}");
    let dn = |name: &str| format!("uid={name},{people}");
    for name in ["m1", "m2"] {
        add_user(&mut ldap, &dn(name), name, "pw", true).await;
    }
    let team = format!("cn=team,{groups}");
    add_group(&mut ldap, &team, "team", &[&dn("m1")]).await;
    let (port, _) = slapd::ports();
    let setup = setup(port, json!({"user_base": people, "group_base": groups})).await;
    let store = &setup.deps.store;
    let id = setup.integration;
    let member_of = async |name: &str| {
        let external_id = user(store, id, name).await.unwrap().id;
        let detail = store
            .directory_user(id, &external_id)
            .await
            .unwrap()
            .unwrap();
        detail
            .member_of
            .iter()
            .map(|dn| dn.to_lowercase())
            .collect::<Vec<_>>()
    };
    assert_eq!(setup.sync("full").await.status, "succeeded");
    assert_eq!(member_of("m1").await, [team.to_lowercase()]);
    assert!(member_of("m2").await.is_empty());

    // The group alone changes: m1 out, m2 in.
    modify(
        &mut ldap,
        &team,
        vec![Mod::Replace("member", Set::from([dn("m2").as_str()]))],
    )
    .await;
    let job = setup.sync("incremental").await;
    assert_eq!(
        job.status,
        "succeeded",
        "{:?}",
        setup.log_rows(job.id).await
    );
    assert!(member_of("m1").await.is_empty());
    assert_eq!(member_of("m2").await, [team.to_lowercase()]);
    delete_tree(&mut ldap, &root).await;
}
