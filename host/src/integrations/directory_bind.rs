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

use std::time::Duration;

use serde_json::Value;

use crate::runtime::LdapGrant;
use crate::runtime::bindings::cube::connector::ldap::{LdapError, TlsMode};
use crate::runtime::capabilities::ldap::connect::{self, Target};
use crate::runtime::capabilities::ldap::errors;
use crate::store::Store;
use crate::store::directory_sign_in::{DirectorySignInError, SignInCandidate};
use crate::store::integrations::Integration;
use crate::store::users::User;

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

/// Binds to the integration's directory server as `dn` with `password`,
/// then lets the connection go. `Ok` means the server accepted both.
pub async fn bind_as_user(
    integration: &Integration,
    dn: &str,
    password: &str,
) -> Result<(), BindFailure> {
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
    let bind = async {
        let mut ldap = connect::open(&target).await.map_err(classify)?.ldap;
        let outcome = ldap
            .with_timeout(BIND_TIMEOUT)
            .simple_bind(dn, password)
            .await
            .and_then(|result| result.success())
            .map(|_| ())
            .map_err(|e| classify(errors::from_client(e, &server, "bind")));
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
    if let Err(failure) = bind_as_user(&integration, dn, password).await {
        return Ok(Err(match failure {
            BindFailure::Refused(m) => (Refusal::BadPassword, m),
            BindFailure::Unreachable(m) => (Refusal::Unreachable, m),
            BindFailure::Misconfigured(m) => (Refusal::Misconfigured, m),
        }));
    }
    match store.upsert_directory_account(candidate, role).await {
        Ok(user) => Ok(Ok((user, dn.to_owned()))),
        Err(DirectorySignInError::Database(e)) => Err(e),
        Err(other) => Ok(Err((Refusal::NameTaken, other.to_string()))),
    }
}
