//! The `ldap` capability against a real slapd (`scripts/test-slapd.sh`):
//! plain LDAP, StartTLS and LDAPS with a private CA, binds refused in plain
//! words, grants and address rules enforced, and a paged search that goes
//! on across `sync` calls because the job keeps its connection.

use cube_test_support as common;

use std::collections::BTreeSet;

use cube_host::runtime::types::{SyncMode, SyncRequest};
use cube_host::runtime::{CallContext, CallError, LdapGrant, Runtime};
use serde_json::json;

fn env(name: &str) -> String {
    common::slapd::env(name)
}

/// The probe's LDAP configuration for `url` and `tls`.
fn config(url: &str, tls: &str, extra: serde_json::Value) -> String {
    common::slapd::probe_config(url, tls, extra)
}

fn context(runtime: &Runtime, grants: &[&str]) -> CallContext {
    runtime
        .context("integration:ldap-test")
        .with_ldap_grants(grants.iter().map(|g| LdapGrant::parse(g).unwrap()))
}

async fn test_connection(grants: &[&str], config: String) -> Result<String, CallError> {
    let runtime = common::runtime();
    let probe = common::probe(&runtime);
    let ctx = context(&runtime, grants);
    probe.test_connection(&ctx, &config).await.result
}

fn message(result: Result<String, CallError>) -> String {
    match result {
        Ok(ok) => panic!("expected a failure, got {ok}"),
        Err(error) => error.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binds_and_reads_over_plain_ldap_starttls_and_ldaps() {
    let plain = env("CUBE_TEST_LDAP_URL");
    let tls = env("CUBE_TEST_LDAPS_URL");
    for (url, mode) in [(&plain, "none"), (&plain, "start-tls"), (&tls, "ldaps")] {
        let answer = test_connection(&[url], config(url, mode, json!({})))
            .await
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert!(answer.contains("bound as cn=sync"), "{mode}: {answer}");
        assert!(answer.contains("1 entry"), "{mode}: {answer}");
    }
    // Without the private CA the certificate is not trusted, and the
    // message says what to do.
    let untrusted =
        message(test_connection(&[&tls], config(&tls, "ldaps", json!({"ca_pem": ""}))).await);
    assert!(untrusted.contains("CA certificate"), "{untrusted}");
    let garbage = message(
        test_connection(
            &[&tls],
            config(&tls, "ldaps", json!({"ca_pem": "not a certificate"})),
        )
        .await,
    );
    assert!(garbage.contains("PEM"), "{garbage}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_the_problem() {
    let url = env("CUBE_TEST_LDAP_URL");
    let not_granted = message(test_connection(&[], config(&url, "none", json!({}))).await);
    assert!(not_granted.contains("not granted"), "{not_granted}");

    let wrong =
        message(test_connection(&[&url], config(&url, "none", json!({"password": "wrong"}))).await);
    assert!(wrong.contains("bind DN or password is wrong"), "{wrong}");

    let missing = message(
        test_connection(
            &[&url],
            config(
                &url,
                "none",
                json!({"base": "ou=Nowhere,dc=example,dc=com"}),
            ),
        )
        .await,
    );
    assert!(missing.contains("base DN does not exist"), "{missing}");

    let mismatch = message(test_connection(&[&url], config(&url, "ldaps", json!({}))).await);
    assert!(mismatch.contains("ldaps://"), "{mismatch}");

    // Granted, but a cloud metadata address: never.
    let metadata = "ldap://169.254.169.254:389";
    let refused = message(test_connection(&[metadata], config(metadata, "none", json!({}))).await);
    assert!(refused.contains("may not reach"), "{refused}");

    let closed = format!("ldap://127.0.0.1:{}", common::closed_port());
    let unreachable =
        message(test_connection(&[&closed], config(&closed, "none", json!({}))).await);
    assert!(unreachable.contains("cannot reach"), "{unreachable}");
}

async fn sync_page(
    runtime: &Runtime,
    ctx: &CallContext,
    config: &str,
    cursor: Option<String>,
) -> Result<cube_host::runtime::types::SyncPage, CallError> {
    let probe = common::probe(runtime);
    let request = SyncRequest {
        config: config.to_owned(),
        mode: SyncMode::Full,
        cursor,
        dry_run: false,
        page_size: 2,
    };
    probe.sync(ctx, &request).await.result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paged_search_goes_on_across_calls_on_the_jobs_connection() {
    let runtime = common::runtime();
    let url = env("CUBE_TEST_LDAP_URL");
    let config = config(&url, "none", json!({}));
    // One context is one job: its calls share its connections.
    let job = context(&runtime, &[&url]);
    let mut cursor = None;
    let mut users = Vec::new();
    let mut pages = 0;
    loop {
        let page = sync_page(&runtime, &job, &config, cursor.take())
            .await
            .unwrap();
        pages += 1;
        users.extend(page.records.iter().map(|r| r.external_id.clone()));
        assert!(page.records.len() <= 2);
        if !page.has_more {
            break;
        }
        cursor = page.cursor;
        assert!(pages < 100, "the search never ended");
    }
    let distinct: BTreeSet<_> = users.iter().cloned().collect();
    assert_eq!(distinct.len(), users.len(), "no user twice: {users:?}");
    assert!(users.len() >= 5, "every user of ou=People: {users:?}");
    assert!(pages >= 3, "read in pages of two: {pages}");
    assert_eq!(
        job.ldap_sessions.len().await,
        1,
        "one connection for the whole job"
    );

    // A cookie is worthless on another connection: that is why the job
    // keeps its own.
    let first = sync_page(&runtime, &job, &config, None).await.unwrap();
    let elsewhere = context(&runtime, &[&url]);
    let lost = sync_page(&runtime, &elsewhere, &config, first.cursor).await;
    assert!(
        lost.is_err(),
        "a cookie from another connection was accepted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_job_reads_the_directory_page_by_page_into_the_store() {
    use cube_host::store::integrations::IntegrationFields;

    let url = env("CUBE_TEST_LDAP_URL");
    let mut config: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&config(&url, "start-tls", json!({}))).unwrap();
    // The password is a secret: sealed in the store, not in the config.
    let password = config.remove("password").unwrap();
    let fields = IntegrationFields {
        ldap_grants: vec![LdapGrant::parse(&url).unwrap()],
        ..IntegrationFields::new("Directory", config)
    };
    // One attempt: the job runs once, as the sync engine's worker runs it.
    let setup = common::SyncSetup::probe_builder(fields)
        .secret("password", password.as_str().unwrap())
        .max_attempts(1)
        .build()
        .await;
    let job = setup.sync("full").await;
    assert_eq!(job.status, "succeeded", "{job:?}");
    assert!(
        job.pages_done >= 3,
        "read in pages of two over StartTLS: {job:?}"
    );
    let users = setup
        .store()
        .synced_counts(setup.integration)
        .await
        .unwrap()[0]
        .1;
    assert_eq!(users, 6, "every user of ou=People");
}
