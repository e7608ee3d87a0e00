//! The Active Directory / LDAP connector's connection test in the real
//! sandbox against the real slapd: StartTLS and LDAPS with the test CA, the
//! same server without the CA refused with a TLS message, a wrong password
//! with its meaning, an unreachable server, a server not granted to the
//! integration, a missing base DN, and the preview of what a sync reads.

use cube_test_support as common;

use cube_host::runtime::{CallError, LdapGrant};
use serde_json::{Value, json};

use common::slapd;

fn config(extra: Value) -> String {
    let (port, _) = slapd::ports();
    let base = slapd::env("CUBE_TEST_LDAP_BASE");
    let mut config = slapd::connector_config(
        port,
        json!({
            "password": slapd::env("CUBE_TEST_LDAP_BIND_PASSWORD"),
            "user_base": format!("ou=People,{base}"),
            "group_base": format!("ou=Groups,{base}"),
        }),
    );
    config.extend(extra.as_object().unwrap().clone());
    Value::Object(config).to_string()
}

async fn test_connection(grants: &[String], config: String) -> Result<String, CallError> {
    let runtime = common::runtime();
    let connector = runtime
        .load(&common::plugin_wasm("active-directory"))
        .unwrap();
    let ctx = runtime
        .context("integration:directory-test")
        .with_ldap_grants(grants.iter().map(|g| LdapGrant::parse(g).unwrap()));
    connector.test_connection(&ctx, &config).await.result
}

fn grants() -> Vec<String> {
    let (plain, tls) = slapd::ports();
    vec![
        format!("ldap://127.0.0.1:{plain}"),
        format!("ldaps://127.0.0.1:{tls}"),
    ]
}

fn failure(result: Result<String, CallError>) -> String {
    match result {
        Ok(ok) => panic!("expected a failure, got {ok}"),
        Err(error) => error.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_and_ldaps_with_the_ca_pass_and_preview_the_sync() {
    let (_, tls_port) = slapd::ports();
    for extra in [json!({}), json!({"tls": "ldaps", "port": tls_port})] {
        let report = test_connection(&grants(), config(extra.clone()))
            .await
            .unwrap_or_else(|e| panic!("{extra}: {e}"));
        assert!(report.contains("bound as cn=sync,ou=Service"), "{report}");
        // ou=People's six users and ou=Groups' three groups, by name.
        assert!(
            report.contains("6 users under ou=People,dc=example,dc=com (first 6: "),
            "{report}"
        );
        assert!(report.contains("ada") && report.contains("ken"), "{report}");
        assert!(
            report.contains("3 groups under ou=Groups,dc=example,dc=com (first 3: "),
            "{report}"
        );
        assert!(report.contains("engineers"), "{report}");
        assert!(
            report.contains("Incremental syncs follow entryCSN."),
            "{report}"
        );
    }
    // Without the base, the test stops after the bind.
    let bind_only = test_connection(
        &grants(),
        config(json!({"base_dn": "", "user_base": "", "group_base": ""})),
    )
    .await
    .unwrap();
    assert!(
        bind_only.starts_with("Connected to ldap://127.0.0.1:"),
        "{bind_only}"
    );
    assert!(!bind_only.contains("users"), "{bind_only}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_name_what_went_wrong() {
    let (_, tls_port) = slapd::ports();
    // The same server without the CA: its certificate is not trusted.
    for extra in [
        json!({"ca_pem": ""}),
        json!({"ca_pem": "", "tls": "ldaps", "port": tls_port}),
    ] {
        let untrusted = failure(test_connection(&grants(), config(extra)).await);
        assert!(untrusted.contains("TLS with ldap"), "{untrusted}");
        assert!(untrusted.contains("CA certificate"), "{untrusted}");
    }

    let wrong = failure(test_connection(&grants(), config(json!({"password": "wrong"}))).await);
    assert!(wrong.contains("refused the bind as cn=sync"), "{wrong}");
    assert!(wrong.contains("bind DN or password is wrong"), "{wrong}");

    let closed = common::closed_port();
    let unreachable = failure(
        test_connection(
            &[format!("ldap://127.0.0.1:{closed}")],
            config(json!({"port": closed})),
        )
        .await,
    );
    assert!(unreachable.contains("cannot reach"), "{unreachable}");

    let denied = failure(test_connection(&[], config(json!({}))).await);
    assert!(denied.contains("not granted"), "{denied}");

    let missing = failure(
        test_connection(
            &grants(),
            config(json!({"base_dn": "ou=Nowhere,dc=example,dc=com"})),
        )
        .await,
    );
    assert!(
        missing.contains("The base DN ou=Nowhere,dc=example,dc=com does not exist"),
        "{missing}"
    );

    let bad_filter = failure(
        test_connection(
            &grants(),
            config(json!({"user_filter": "(objectClass=user"})),
        )
        .await,
    );
    assert!(bad_filter.contains("(objectClass=user"), "{bad_filter}");
}
