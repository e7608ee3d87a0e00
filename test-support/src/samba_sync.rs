//! The Active Directory connector (`plugins/active-directory`) with its
//! Active Directory preset against the tests' Samba AD DC
//! (`common::samba`), for the tests of `host/tests/directory_samba*.rs`:
//! its configuration, a [`SyncSetup`] of it reading one OU, running a sync
//! that must succeed, and reading back what the syncs stored and the DC's
//! `uSNChanged`.

use cube_host::runtime::LdapGrant;
use cube_host::store::Store;
use cube_host::store::integrations::IntegrationFields;
use serde_json::{Value, json};

use super::{SyncSetup, samba};

pub use super::synced_directory::{User, groups_of, user};

/// The connector's configuration for the DC: LDAPS trusting the test CA,
/// the Active Directory preset (its defaults for attributes and groups),
/// searches under `base` (from the domain's root AD answers with
/// referrals to its other partitions).
pub fn config(base: &str, extra: Value) -> serde_json::Map<String, Value> {
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

/// The LDAP grant of the DC's LDAPS listener.
pub fn grant() -> String {
    samba::env("CUBE_TEST_SAMBA_URL")
}

/// An integration reading under `base` with [`config`] and `extra`,
/// bound as the sync account.
pub async fn setup(base: &str, extra: Value) -> SyncSetup {
    setup_bound(base, extra, samba::env("CUBE_TEST_SAMBA_BIND_PASSWORD")).await
}

/// [`setup`], binding with `password` (for a `bind_dn` in `extra`).
pub async fn setup_bound(base: &str, extra: Value, password: String) -> SyncSetup {
    let fields = IntegrationFields {
        ldap_grants: vec![LdapGrant::parse(&grant()).unwrap()],
        ..IntegrationFields::new("Samba AD", config(base, extra))
    };
    SyncSetup::builder("active-directory", fields)
        .secret("password", password)
        .max_attempts(2)
        .build()
        .await
}

/// Runs a sync that must succeed; returns (read, created, updated, deleted).
pub async fn sync_ok(setup: &SyncSetup, mode: &str) -> (i64, i64, i64, i64) {
    let job = setup.sync(mode).await;
    let (status, read, created, updated, deleted, text) = setup.log_of(job.id).await;
    assert_eq!(
        (job.status.as_str(), status.as_str()),
        ("succeeded", "succeeded"),
        "{mode} sync: {text}"
    );
    (read, created, updated, deleted)
}

/// How many rows of `table` belong to `integration`.
pub async fn count(store: &Store, table: &str, integration: i64) -> i64 {
    sqlx::query_scalar(&format!(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM {table} WHERE integration_id = $1"
    ))
    .bind(integration)
    .fetch_one(store.pool())
    .await
    .unwrap()
}

/// The `uSNChanged` of the entry `dn`, read over LDAP.
pub async fn usn_changed(ldap: &mut ldap3::Ldap, dn: &str) -> i64 {
    samba::read_text(ldap, dn, "uSNChanged")
        .await
        .parse()
        .unwrap()
}
