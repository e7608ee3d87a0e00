//! The tests' OpenLDAP server (`scripts/test-slapd.sh`), started on first
//! use and shared by every test binary of a run.

use std::collections::HashMap;
use std::sync::OnceLock;

/// The test directory's coordinates, as `scripts/test-slapd.sh start`
/// prints them.
fn coordinates() -> &'static HashMap<String, String> {
    static ENV: OnceLock<HashMap<String, String>> = OnceLock::new();
    ENV.get_or_init(|| super::test_service::run("test-slapd.sh", &["start"]))
}

pub fn env(name: &str) -> String {
    super::test_service::coordinate(coordinates(), "test-slapd.sh", name)
}

/// The PEM of the CA that signed the server's certificate.
pub fn ca_pem() -> String {
    std::fs::read_to_string(env("CUBE_TEST_LDAP_CA")).unwrap()
}

/// The test probe's configuration for its `ldap` action against `url`
/// with `tls`, reading `ou=People` in pages of two; `extra` overrides keys.
pub fn probe_config(url: &str, tls: &str, extra: serde_json::Value) -> String {
    let config = serde_json::json!({
        "action": "ldap",
        "url": url,
        "tls": tls,
        "ca_pem": ca_pem(),
        "bind_dn": env("CUBE_TEST_LDAP_BIND_DN"),
        "password": env("CUBE_TEST_LDAP_BIND_PASSWORD"),
        "base": format!("ou=People,{}", env("CUBE_TEST_LDAP_BASE")),
        "page_size": 2,
    });
    overridden(config, extra).to_string()
}

/// The `active-directory` connector's configuration for the test directory
/// on `port` of 127.0.0.1: StartTLS trusting the test CA, bound as the
/// sync account (whose password is a secret, not in here), reading the
/// `user` entries of the whole base; `extra` adds or overrides keys.
pub fn connector_config(
    port: u16,
    extra: serde_json::Value,
) -> serde_json::Map<String, serde_json::Value> {
    let config = serde_json::json!({
        "server": "127.0.0.1",
        "port": port,
        "tls": "starttls",
        "ca_pem": ca_pem(),
        "bind_dn": env("CUBE_TEST_LDAP_BIND_DN"),
        "base_dn": env("CUBE_TEST_LDAP_BASE"),
        // The test tree has no objectCategory (an AD-only attribute).
        "user_filter": "(objectClass=user)",
    });
    match overridden(config, extra) {
        serde_json::Value::Object(config) => config,
        _ => unreachable!("a configuration is an object"),
    }
}

/// `config` with the keys of the object `extra` set over its own.
fn overridden(mut config: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    for (key, value) in extra.as_object().unwrap() {
        config[key] = value.clone();
    }
    config
}

/// The port of plain LDAP (`ldap://127.0.0.1:PORT`), and of LDAPS.
pub fn ports() -> (u16, u16) {
    let port = |url: String| url.rsplit(':').next().unwrap().parse().unwrap();
    (
        port(env("CUBE_TEST_LDAP_URL")),
        port(env("CUBE_TEST_LDAPS_URL")),
    )
}

/// Makes sure `ou=Bulk` holds `n` generated users (every tenth disabled).
pub fn bulk(n: usize) {
    coordinates();
    super::test_service::run("test-slapd.sh", &["bulk", &n.to_string()]);
}

/// A connection bound as the directory's administrator, to change it.
pub async fn admin() -> ldap3::Ldap {
    let (conn, mut ldap) = ldap3::LdapConnAsync::new(&env("CUBE_TEST_LDAP_URL"))
        .await
        .unwrap();
    ldap3::drive!(conn);
    ldap.simple_bind(
        &env("CUBE_TEST_LDAP_ADMIN_DN"),
        &env("CUBE_TEST_LDAP_ADMIN_PASSWORD"),
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    ldap
}
