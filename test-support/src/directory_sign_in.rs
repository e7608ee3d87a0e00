//! What the directory sign-in tests (`host/tests/directory_sign_in*.rs`)
//! start from: an `active-directory` integration reading the test slapd
//! (`common::slapd`), created in a store and fully synced by the sync
//! engine, and the real web app on that store; with the messages a
//! sign-in page answers and the directory password of ada.

use cube_host::runtime::LdapGrant;
use cube_host::store::Store;
use cube_host::store::audit::AuditEntry;
use cube_host::store::integrations::IntegrationFields;
use cube_host::store::users::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{SyncSetup, slapd};

pub const WRONG: &str = "The user name or password is wrong.";
pub const UNREACHABLE: &str =
    "The directory could not be reached; local accounts can still sign in.";
pub const ADA_PASSWORD: &str = "ada-password";

/// The connector's configuration for the directory on `port` (StartTLS,
/// trusting the test CA), reading ada, grace, linus and ken of the base
/// tree, the users named `prefix*`, and the groups admins, engineers and
/// `prefix*` (not the thousands of ou=Bulk other tests may have made).
pub fn config(port: u16, prefix: &str) -> serde_json::Map<String, Value> {
    slapd::connector_config(
        port,
        json!({
            "user_filter": format!(
                "(&(objectClass=user)(|(uid=ada)(uid=grace)(uid=linus)(uid=ken)(uid={prefix}*)))"
            ),
            "group_filter": format!("(&(objectClass=group)(|(cn=admins)(cn=engineers)(cn={prefix}*)))"),
            "page_size": 100,
        }),
    )
}

/// The integration "Corporate directory" with `config`, granted the LDAP
/// server on `granted_port` of 127.0.0.1.
pub fn fields(config: serde_json::Map<String, Value>, granted_port: u16) -> IntegrationFields {
    IntegrationFields {
        ldap_grants: vec![LdapGrant::parse(&format!("ldap://127.0.0.1:{granted_port}")).unwrap()],
        ..IntegrationFields::new("Corporate directory", config)
    }
}

/// The web app on a store holding a fully synced directory integration.
pub struct Env {
    pub base: String,
    pub store: Store,
    pub integration: i64,
    /// The integration's syncs, run outside the app; holds the store's
    /// directory.
    setup: SyncSetup,
}

/// [`Env`] for a test whose own users and groups are named `prefix*`.
pub async fn env(prefix: &str) -> Env {
    let (port, _) = slapd::ports();
    let setup = SyncSetup::builder("active-directory", fields(config(port, prefix), port))
        .secret("password", slapd::env("CUBE_TEST_LDAP_BIND_PASSWORD"))
        .max_attempts(2)
        .build()
        .await;
    full_sync(&setup).await;
    let base = super::serve_admin_app_on(setup.deps.catalog.clone(), setup.store().clone()).await;
    Env {
        base,
        store: setup.store().clone(),
        integration: setup.integration,
        setup,
    }
}

/// Runs a full sync of `setup`'s integration to its end, outside any
/// server's worker (the syncs run outside the app, so the app's own
/// worker, with a key of its own, never sees their jobs); it must succeed.
async fn full_sync(setup: &SyncSetup) {
    let job = setup.sync("full").await;
    assert_eq!(job.status, "succeeded", "{job:?}");
}

/// The external id of the group named `name` synced by `integration`.
pub async fn group_id(store: &Store, integration: i64, name: &str) -> String {
    store
        .directory_group_choices(integration)
        .await
        .unwrap()
        .into_iter()
        .find(|g| g.name == name)
        .unwrap_or_else(|| panic!("no synced group {name}"))
        .external_id
}

/// Turns directory sign-in of `integration` on through the settings form
/// of the app at `base` on `store`, as `admin`: members of the synced
/// group named `admin_group` sign in as admins, of `viewer_group` (if any)
/// as viewers.
pub async fn enable_sign_in(
    base: &str,
    store: &Store,
    integration: i64,
    admin_group: &str,
    viewer_group: Option<&str>,
) {
    let (mut admin, csrf) = super::sign_in_admin(base).await;
    let admin_id = group_id(store, integration, admin_group).await;
    let viewer_id = match viewer_group {
        Some(name) => group_id(store, integration, name).await,
        None => String::new(),
    };
    let saved = admin
        .post(
            &format!("/integrations/{integration}/directory-sign-in"),
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

impl Env {
    /// [`full_sync`] of the integration.
    pub async fn full_sync(&self) {
        full_sync(&self.setup).await;
    }

    /// The external id of a synced group, by name.
    pub async fn group(&self, name: &str) -> String {
        group_id(&self.store, self.integration, name).await
    }

    /// Turns directory sign-in on through the settings form, as `admin`.
    pub async fn enable_sign_in(&self, admin_group: &str, viewer_group: Option<&str>) {
        let integration = self.integration;
        enable_sign_in(
            &self.base,
            &self.store,
            integration,
            admin_group,
            viewer_group,
        )
        .await;
    }

    /// The entries of `action` among the newest 200 of the audit log,
    /// newest first.
    pub async fn audit(&self, action: &str) -> Vec<AuditEntry> {
        super::audit_log::audited(&self.store, action).await
    }

    /// The reason the newest refused directory sign-in of `username` was
    /// given in the audit log.
    pub async fn refusal_reason(&self, username: &str) -> String {
        let entry = self
            .audit("session.sign-in.directory-refused")
            .await
            .into_iter()
            .find(|e| e.target == format!("user:{username}"))
            .unwrap_or_else(|| panic!("no refusal of {username} audited"));
        entry.after.unwrap()["reason"].as_str().unwrap().to_owned()
    }

    /// The role of the account `username`, if it has one.
    pub async fn role_of(&self, username: &str) -> Option<Role> {
        self.store
            .users()
            .await
            .unwrap()
            .into_iter()
            .find(|u| u.username == username)
            .map(|u| u.role)
    }
}
