//! Talking to the server: connecting and binding, and what the root DSE
//! says about change tracking.

use std::time::Duration;

use cube_connector_sdk::ldap::{self, Directory, EntryExt, LdapError, Scope};
use cube_connector_sdk::prelude::*;

use crate::config::{ChangeTracking, Config};
use crate::entries::stable_id;
use crate::tracking::{Tracking, generalized_time_micros};

/// Opens the server (within a sync job, the job's connection) and binds.
pub fn open(config: &Config) -> Result<Directory> {
    let directory = ldap::connect(config.url(), config.tls_mode())
        .ca_pem(config.ca_pem.clone())
        .timeout(Duration::from_secs(config.timeout_seconds.max(1).into()))
        .open()
        .map_err(|e| explain(config, e))?;
    if config.bind_dn.trim().is_empty() {
        return Err(Error::config("Enter the bind DN of the service account."));
    }
    directory
        .bind(config.bind_dn.trim(), &config.password)
        .map_err(|e| explain(config, e))?;
    Ok(directory)
}

/// Says which server and step an error is about.
pub fn explain(config: &Config, error: LdapError) -> Error {
    let url = config.url();
    match error {
        // The host's message names the server already.
        LdapError::Connection(m) if m.contains(&url) => Error::unreachable(m),
        LdapError::Connection(m) => Error::unreachable(format!("{url}: {m}")),
        LdapError::Tls(m) => Error::config(format!("TLS with {url} failed: {m}")),
        LdapError::InvalidCredentials(m) => Error::auth(format!(
            "{url} refused the bind as {}: {m}",
            config.bind_dn.trim()
        )),
        LdapError::Server((code @ (7 | 8 | 13 | 48), m)) => {
            Error::config(format!("{url} (LDAP result {code}): {m}"))
        }
        other => Error::from(other),
    }
}

/// What the server says about change tracking, read at the start of a sync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerState {
    pub tracking: Tracking,
    /// The stamp of the newest change the server has committed, when it
    /// says (`highestCommittedUSN`, `contextCSN`).
    pub newest: Option<i64>,
    /// Active Directory's `invocationId` of the domain controller's
    /// database: USNs of one database mean nothing to another.
    pub invocation: Option<String>,
}

fn root_dse(directory: &Directory) -> Result<ldap::Entry> {
    let page = directory
        .search("", "(objectClass=*)")
        .scope(Scope::Base)
        .attributes(&["highestCommittedUSN", "dsServiceName", "namingContexts"])
        .send()?;
    page.entries
        .into_iter()
        .next()
        .ok_or_else(|| Error::fatal("the server returned no root DSE"))
}

/// One attribute of one entry, by base search (`None` if it has none or the
/// entry cannot be read).
fn read_one(directory: &Directory, dn: &str, attribute: &str) -> Option<Vec<Vec<u8>>> {
    let page = directory
        .search(dn, "(objectClass=*)")
        .scope(Scope::Base)
        .attributes(&[attribute])
        .send()
        .ok()?;
    let entry = page.entries.into_iter().next()?;
    let values = entry.values(attribute).to_vec();
    (!values.is_empty()).then_some(values)
}

/// The naming context `base` lives in: the longest one it ends with.
fn naming_context(root: &ldap::Entry, base: &str) -> Option<String> {
    let base = base.to_lowercase().replace(' ', "");
    root.texts("namingContexts")
        .into_iter()
        .filter(|nc| !nc.is_empty() && base.ends_with(&nc.to_lowercase().replace(' ', "")))
        .max_by_key(|nc| nc.len())
        .map(str::to_owned)
}

/// The Deleted Objects container of the naming context the base DN is in:
/// where Active Directory keeps what was deleted, as tombstones, for the
/// tombstone lifetime. `None` when the root DSE names no naming context
/// the base DN lies in.
pub fn deleted_objects(directory: &Directory, config: &Config) -> Option<String> {
    let root = root_dse(directory).ok()?;
    naming_context(&root, &config.base_dn).map(|nc| format!("CN=Deleted Objects,{nc}"))
}

pub fn state(directory: &Directory, config: &Config) -> Result<ServerState> {
    let root = root_dse(directory)?;
    let usn = root
        .first("highestCommittedUSN")
        .and_then(|v| v.trim().parse::<i64>().ok());
    let csn = || {
        let context = naming_context(&root, &config.base_dn)?;
        let values = read_one(directory, &context, "contextCSN")?;
        values
            .iter()
            .filter_map(|v| std::str::from_utf8(v).ok())
            .filter_map(|v| Tracking::Csn.parse(v))
            .max()
    };
    let (tracking, newest) = match config.change_tracking {
        ChangeTracking::Usn => (Tracking::Usn, usn),
        ChangeTracking::Csn => (Tracking::Csn, csn()),
        ChangeTracking::Timestamp => (Tracking::Timestamp, None),
        ChangeTracking::Auto => match usn {
            Some(usn) => (Tracking::Usn, Some(usn)),
            None => match csn() {
                Some(csn) => (Tracking::Csn, Some(csn)),
                None => (Tracking::Timestamp, None),
            },
        },
    };
    if tracking == Tracking::Usn && newest.is_none() {
        return Err(Error::config(
            "Change tracking is set to uSNChanged, but the server announces no highestCommittedUSN \
             (it is not Active Directory?). Choose auto.",
        ));
    }
    if tracking == Tracking::Csn && newest.is_none() {
        return Err(Error::config(
            "Change tracking is set to entryCSN, but the base DN's naming context has no contextCSN \
             (OpenLDAP keeps one with the syncprov overlay). Choose auto.",
        ));
    }
    let invocation = match tracking {
        Tracking::Usn => root
            .first("dsServiceName")
            .and_then(|dn| read_one(directory, dn, "invocationId"))
            .and_then(|values| {
                let entry = ldap::Entry {
                    dn: String::new(),
                    attributes: vec![ldap::Attribute {
                        name: "invocationId".into(),
                        values,
                    }],
                };
                stable_id(&entry, "invocationId")
            }),
        _ => None,
    };
    Ok(ServerState {
        tracking,
        newest,
        invocation,
    })
}

/// The oldest stamp an entry under `base` can have: the base was created
/// before anything below it, and every change after. `0` when unknown.
pub fn oldest_below(directory: &Directory, base: &str, tracking: Tracking) -> i64 {
    let (attribute, parse): (&str, fn(&str) -> Option<i64>) = match tracking {
        Tracking::Usn => ("uSNCreated", |v| v.trim().parse().ok()),
        Tracking::Csn => ("createTimestamp", generalized_time_micros),
        Tracking::Timestamp => ("createTimestamp", |v| {
            generalized_time_micros(v).map(|us| us / 1_000_000)
        }),
    };
    read_one(directory, base, attribute)
        .and_then(|values| {
            values
                .first()
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(parse)
        })
        .unwrap_or(0)
}
