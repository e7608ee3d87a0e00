//! Directory sign-in: the typed password is checked by binding to the
//! integration's LDAP server *as the user* (their synced DN).
//!
//! The connection is made by the same code as the connector's `ldap`
//! capability (`runtime::capabilities::ldap::connect`): the host resolves
//! the server's name and checks every address, StartTLS or LDAPS with the
//! system's roots plus the integration's CA. The server must be one of the
//! integration's LDAP grants; nothing else is ever contacted. An empty
//! password is never sent (an LDAP simple bind with a DN and no password is
//! an *unauthenticated* bind, which many servers accept). Every step has a
//! short timeout, and the whole bind is bounded by [`BIND_TIMEOUT`]. The
//! password is neither logged nor stored.
//!
//! Who may sign in at all is decided before any bind, from the synced data
//! (`store::directory_sign_in`): a disabled account or a user in neither
//! group is refused without their password going anywhere.
//!
//! A DN is an address, not an identity: after a bind succeeds, the host
//! reads the entry's stable id (`objectGUID`, `entryUUID`, or the
//! integration's `id_attribute`) on the same connection, as the user, and
//! compares it with the synced user's. A different account that took a
//! deleted one's DN (and so its synced groups) is refused, audited, and
//! shown on the integration's page.

use std::time::Duration;

use serde_json::{Value, json};

use crate::runtime::LdapGrant;
use crate::runtime::bindings::cube::connector::ldap::{LdapError, TlsMode};
use crate::runtime::capabilities::ldap::connect::{self, Target};
use crate::runtime::capabilities::ldap::errors;
use crate::store::Store;
use crate::store::audit::AuditEvent;
use crate::store::directory_sign_in::{DirectorySignInError, SignInCandidate};
use crate::store::integrations::Integration;
use crate::store::users::User;

/// The audit action of a sign-in refused because the account behind the DN
/// was not the synced user.
pub const IDENTITY_MISMATCH: &str = "directory.identity-mismatch";

/// The longest a sign-in waits for the directory, all steps together.
pub const BIND_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a bind did not succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindFailure {
    /// The server refused the DN and password (or the account).
    Refused(String),
    /// The server could not be reached, did not answer in time, or TLS
    /// failed.
    Unreachable(String),
    /// The integration's settings do not allow a bind: no server, a server
    /// that is not granted, an address directory connections may not reach.
    Misconfigured(String),
}

/// The server an integration's configuration names, as the connector
/// builds it (`plugins/active-directory/src/config.rs`): `server`, `port`
/// (default 389, or 636 for LDAPS), `tls` (`starttls`, `ldaps`, `none`),
/// `ca_pem`. Checked against the integration's LDAP grants.
pub fn target_of(integration: &Integration, timeout: Duration) -> Result<Target, BindFailure> {
    let config = &integration.config;
    let text = |name: &str| config.get(name).and_then(Value::as_str).unwrap_or("");
    let (scheme, tls, default_port) = match text("tls") {
        "" | "starttls" => ("ldap", TlsMode::StartTls, 389),
        "ldaps" => ("ldaps", TlsMode::Ldaps, 636),
        "none" => ("ldap", TlsMode::None, 389),
        other => {
            return Err(BindFailure::Misconfigured(format!(
                "unknown TLS mode `{other}`"
            )));
        }
    };
    let port = match config.get("port") {
        None | Some(Value::Null) => default_port,
        Some(value) => value
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p > 0)
            .ok_or_else(|| BindFailure::Misconfigured(format!("invalid port {value}")))?,
    };
    let server = text("server").trim();
    let host = server
        .strip_prefix("ldaps://")
        .or_else(|| server.strip_prefix("ldap://"))
        .unwrap_or(server)
        .trim_end_matches('/');
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(BindFailure::Misconfigured(
            "the integration names no server".to_owned(),
        ));
    }
    let bracketed = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    let url = format!("{scheme}://{bracketed}:{port}");
    let grant = LdapGrant::parse(&url).map_err(BindFailure::Misconfigured)?;
    if !integration.ldap_grants.contains(&grant) {
        return Err(BindFailure::Misconfigured(format!(
            "{grant} is not granted to the integration"
        )));
    }
    Ok(Target {
        scheme: scheme.to_owned(),
        host: host.to_ascii_lowercase(),
        port,
        tls,
        ca_pem: Some(text("ca_pem").to_owned()).filter(|pem| !pem.trim().is_empty()),
        timeout,
    })
}

/// Why a sign-in over an integration without TLS was refused, for the
/// audit log (the person sees the usual refusal).
pub const PLAINTEXT_REFUSED: &str = "the integration connects without TLS (tls: none), so the password would cross the network in clear; the password was not sent. Use StartTLS or LDAPS, or tick \"allow passwords in clear\" in its directory sign-in settings";

/// Whether binds to the integration's server send passwords in clear: its
/// TLS mode is `none`.
pub fn sends_in_clear(integration: &Integration) -> bool {
    integration.config.get("tls").and_then(Value::as_str) == Some("none")
}

/// The attribute an integration's connector takes users' stable ids from,
/// as the connector chooses it (`plugins/active-directory/src/config.rs`):
/// `id_attribute`, else the preset's.
pub fn id_attribute(integration: &Integration) -> String {
    let config = &integration.config;
    let text = |name: &str| config.get(name).and_then(Value::as_str).unwrap_or("");
    match text("id_attribute").trim() {
        "" if text("preset") == "openldap" => "entryUUID".to_owned(),
        "" => "objectGUID".to_owned(),
        attribute => attribute.to_owned(),
    }
}

/// Binds to the integration's directory server as `dn` with `password`,
/// reads the entry's stable id as that user, then lets the connection go.
/// `Ok` means the server accepted both; it holds the id's text (as the
/// connector writes it), or `None` if the entry showed none.
pub async fn bind_as_user(
    integration: &Integration,
    dn: &str,
    password: &str,
) -> Result<Option<String>, BindFailure> {
    // Never an unauthenticated bind: a DN with an empty password "succeeds"
    // on many servers without checking anything.
    if password.is_empty() {
        return Err(BindFailure::Refused(
            "an empty password is never sent to the directory".to_owned(),
        ));
    }
    if dn.trim().is_empty() {
        return Err(BindFailure::Misconfigured(
            "the synced user has no DN to bind as".to_owned(),
        ));
    }
    let target = target_of(integration, BIND_TIMEOUT)?;
    let server = target.name();
    let attribute = id_attribute(integration);
    let bind = async {
        let mut ldap = connect::open(&target).await.map_err(classify)?.ldap;
        let mut outcome = ldap
            .with_timeout(BIND_TIMEOUT)
            .simple_bind(dn, password)
            .await
            .and_then(|result| result.success())
            .map(|_| None)
            .map_err(|e| classify(errors::from_client(e, &server, "bind")));
        if outcome.is_ok() {
            outcome = read_own_id(&mut ldap, dn, &attribute)
                .await
                .map_err(|e| classify(errors::from_client(e, &server, "search")));
        }
        let _ = ldap.unbind().await;
        outcome
    };
    match tokio::time::timeout(BIND_TIMEOUT, bind).await {
        Ok(outcome) => outcome,
        Err(_) => Err(BindFailure::Unreachable(format!(
            "{server} did not answer within {} s",
            BIND_TIMEOUT.as_secs()
        ))),
    }
}

/// The stable id of the entry `dn`, read by a base search on a connection
/// bound as that entry.
async fn read_own_id(
    ldap: &mut ldap3::Ldap,
    dn: &str,
    attribute: &str,
) -> Result<Option<String>, ldap3::LdapError> {
    let (entries, _) = ldap
        .with_timeout(BIND_TIMEOUT)
        .search(dn, ldap3::Scope::Base, "(objectClass=*)", vec![attribute])
        .await?
        .success()?;
    let Some(entry) = entries.into_iter().next() else {
        return Ok(None);
    };
    let entry = ldap3::SearchEntry::construct(entry);
    // ldap3 puts values that are not UTF-8 (most binary GUIDs) apart.
    let named = |name: &String| name.eq_ignore_ascii_case(attribute);
    let value = entry
        .bin_attrs
        .iter()
        .find(|(name, _)| named(name))
        .and_then(|(_, values)| values.first().cloned())
        .or_else(|| {
            let (_, values) = entry.attrs.iter().find(|(name, _)| named(name))?;
            values.first().map(|text| text.as_bytes().to_vec())
        });
    Ok(value.and_then(|bytes| cube_connector_sdk::stable_id::text_of(attribute, &bytes)))
}

/// The capability's error as a sign-in failure.
fn classify(error: LdapError) -> BindFailure {
    match error {
        LdapError::InvalidCredentials(m) => BindFailure::Refused(m),
        LdapError::NoSuchObject(m) => BindFailure::Refused(m),
        // busy, unavailable: the server is there but cannot answer now.
        LdapError::Server((51 | 52, m)) => BindFailure::Unreachable(m),
        LdapError::Server((_, m)) => BindFailure::Refused(m),
        LdapError::Connection(m) | LdapError::Tls(m) => BindFailure::Unreachable(m),
        LdapError::Denied(m) => BindFailure::Misconfigured(m),
    }
}

/// Why a directory sign-in was refused, as the audit log records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The last sync found the account disabled.
    Disabled,
    /// In neither the admin group nor the viewer group.
    NotAMember,
    /// The directory refused the password (or it was empty).
    BadPassword,
    /// The directory could not be reached.
    Unreachable,
    /// The integration's settings do not allow a bind.
    Misconfigured,
    /// A local account (or another directory's user) has the name.
    NameTaken,
    /// The password was right, but the account behind the DN is not the
    /// synced user (its stable id differs, or it shows none).
    IdentityMismatch,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Disabled => "disabled",
            Refusal::NotAMember => "not-a-member",
            Refusal::BadPassword => "bad-password",
            Refusal::Unreachable => "directory-unreachable",
            Refusal::Misconfigured => "misconfigured",
            Refusal::NameTaken => "name-taken",
            Refusal::IdentityMismatch => "identity-mismatch",
        }
    }

    /// Whether the directory, rather than the person, is the problem.
    pub fn is_unreachable(self) -> bool {
        matches!(self, Refusal::Unreachable | Refusal::Misconfigured)
    }
}

/// One refused attempt against one integration.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub integration_id: i64,
    pub integration: String,
    /// The user's name in the directory.
    pub username: String,
    pub dn: Option<String>,
    pub reason: Refusal,
    /// For the audit log: the server's words, never the password.
    pub detail: String,
}

/// What a directory sign-in came to.
#[derive(Debug)]
pub enum DirectorySignIn {
    /// No sign-in-enabled directory has a user of that name.
    UnknownUser,
    /// The directory accepted the password; `user` is the local account,
    /// created or updated with the role the memberships give.
    SignedIn {
        user: User,
        integration_id: i64,
        integration: String,
        dn: String,
    },
    /// Every matching directory user was refused.
    Refused(Vec<Attempt>),
}

impl DirectorySignIn {
    /// Whether a directory could not be reached (and nothing else was
    /// wrong that the person could fix).
    pub fn unreachable(&self) -> bool {
        match self {
            DirectorySignIn::Refused(attempts) => {
                attempts.iter().any(|a| a.reason.is_unreachable())
            }
            _ => false,
        }
    }
}

/// Signs `username` in with a directory: each sign-in-enabled integration
/// with a synced user of that name (case-insensitively), oldest first,
/// until one accepts.
pub async fn sign_in(
    store: &Store,
    username: &str,
    password: &str,
) -> Result<DirectorySignIn, sqlx::Error> {
    let candidates = store.directory_sign_in_candidates(username).await?;
    if candidates.is_empty() {
        return Ok(DirectorySignIn::UnknownUser);
    }
    let mut attempts = Vec::new();
    for candidate in candidates {
        match try_candidate(store, &candidate, password).await? {
            Ok((user, dn)) => {
                return Ok(DirectorySignIn::SignedIn {
                    user,
                    integration_id: candidate.integration_id,
                    integration: candidate.integration_name,
                    dn,
                });
            }
            Err((reason, detail)) => attempts.push(Attempt {
                integration_id: candidate.integration_id,
                integration: candidate.integration_name,
                username: candidate.username,
                dn: candidate.dn,
                reason,
                detail,
            }),
        }
    }
    Ok(DirectorySignIn::Refused(attempts))
}

type TryResult = Result<(User, String), (Refusal, String)>;

async fn try_candidate(
    store: &Store,
    candidate: &SignInCandidate,
    password: &str,
) -> Result<TryResult, sqlx::Error> {
    if !candidate.enabled {
        return Ok(Err((
            Refusal::Disabled,
            "the account was disabled at the last sync".to_owned(),
        )));
    }
    let Some(role) = candidate.role else {
        return Ok(Err((
            Refusal::NotAMember,
            "in neither the admin group nor the viewer group (the password was not checked)"
                .to_owned(),
        )));
    };
    let Some(dn) = candidate.dn.as_deref() else {
        return Ok(Err((
            Refusal::Misconfigured,
            "the synced user has no DN to bind as".to_owned(),
        )));
    };
    let Some(integration) = store.integration(candidate.integration_id).await? else {
        return Ok(Err((
            Refusal::Misconfigured,
            "the integration is gone".to_owned(),
        )));
    };
    if sends_in_clear(&integration) && !candidate.allow_plaintext {
        return Ok(Err((Refusal::Misconfigured, PLAINTEXT_REFUSED.to_owned())));
    }
    let found = match bind_as_user(&integration, dn, password).await {
        Ok(found) => found,
        Err(failure) => {
            return Ok(Err(match failure {
                BindFailure::Refused(m) => (Refusal::BadPassword, m),
                BindFailure::Unreachable(m) => (Refusal::Unreachable, m),
                BindFailure::Misconfigured(m) => (Refusal::Misconfigured, m),
            }));
        }
    };
    if found.as_deref() != Some(candidate.external_id.as_str()) {
        let attribute = id_attribute(&integration);
        let detail = match &found {
            Some(found) => format!(
                "the account at {dn} has the {attribute} {found}, but the synced user {} has {}: another account holds the DN now; run a full sync",
                candidate.username, candidate.external_id
            ),
            None => format!(
                "the account at {dn} does not show its {attribute}, so it cannot be told apart from another account under the same DN; let accounts read their own {attribute}"
            ),
        };
        record_identity_mismatch(store, candidate, dn, found.as_deref(), &detail).await?;
        return Ok(Err((Refusal::IdentityMismatch, detail)));
    }
    match store.upsert_directory_account(candidate, role).await {
        Ok(user) => Ok(Ok((user, dn.to_owned()))),
        Err(DirectorySignInError::Database(e)) => Err(e),
        Err(other) => Ok(Err((Refusal::NameTaken, other.to_string()))),
    }
}

/// Audits a sign-in whose account was not the synced user, on the
/// integration, where its page shows it (see
/// [`Store::audit_entries_of`] with [`IDENTITY_MISMATCH`]).
async fn record_identity_mismatch(
    store: &Store,
    candidate: &SignInCandidate,
    dn: &str,
    found: Option<&str>,
    detail: &str,
) -> Result<(), sqlx::Error> {
    tracing::warn!(integration = candidate.integration_id, %dn, "directory sign-in refused: the account behind the DN is not the synced user");
    store
        .audit(AuditEvent {
            actor: "system",
            action: IDENTITY_MISMATCH,
            target: &format!("integration:{}", candidate.integration_id),
            before: Some(json!({
                "username": candidate.username,
                "external_id": candidate.external_id,
            })),
            after: Some(json!({ "dn": dn, "found": found, "detail": detail })),
            remote: None,
        })
        .await
}
