//! What the directory sign-in tests (`host/tests/directory_sign_in*.rs`)
//! start from: an `active-directory` integration reading the test slapd
//! (`common::slapd`), created in a store and fully synced by the sync
//! engine, and the real web app on that store; with the messages a
//! sign-in page answers and the directory password of ada.

use cube_host::runtime::LdapGrant;
use cube_host::store::Store;
use cube_host::store::audit::AuditEntry;
use cube_host::store::integrations::IntegrationFields;
use cube_host::store::jobs::NewJob;
use cube_host::store::users::Role;
use cube_host::sync::{SyncDeps, run_job};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

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
    pub deps: SyncDeps,
    /// Holds the store's directory.
    _setup: SyncSetup,
}

/// Runs a full sync of `integration` to its end with `deps`, outside any
/// server's worker.
pub async fn full_sync(deps: &SyncDeps, integration: i64) {
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

/// [`Env`] for a test whose own users and groups are named `prefix*`.
pub async fn env(prefix: &str) -> Env {
    let (port, _) = slapd::ports();
    let setup = SyncSetup::builder("active-directory", fields(config(port, prefix), port))
        .secret("password", slapd::env("CUBE_TEST_LDAP_BIND_PASSWORD"))
        .max_attempts(2)
        .build()
        .await;
    // The syncs run outside the app, so the app's own worker (with a key
    // of its own) never sees their jobs.
    let deps = setup.deps.clone();
    full_sync(&deps, setup.integration).await;
    let base = super::serve_admin_app_on(deps.catalog.clone(), deps.store.clone()).await;
    Env {
        base,
        store: deps.store.clone(),
        integration: setup.integration,
        deps,
        _setup: setup,
    }
}

impl Env {
    /// The external id of a synced group, by name.
    pub async fn group(&self, name: &str) -> String {
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
    pub async fn enable_sign_in(&self, admin_group: &str, viewer_group: Option<&str>) {
        let (mut admin, csrf) = super::sign_in_admin(&self.base).await;
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

    /// The entries of `action` among the newest 200 of the audit log,
    /// newest first.
    pub async fn audit(&self, action: &str) -> Vec<AuditEntry> {
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
