//! __TITLE__: users and groups from an LDAP directory.
//!
//! Made by `cube plugin new --template ldap`. A sync reads the users under
//! the base DN page by page (the Simple Paged Results control), then the
//! groups with their members. The host keeps the job's LDAP connection open
//! between calls, so the paged-search cookie in the cursor stays valid.
//!
//! `src/tests.rs` answers the searches with the SDK's LDAP double.

use cube_connector_sdk::ldap::{Directory, Entry, TlsMode};
use cube_connector_sdk::prelude::*;
use serde::{Deserialize, Serialize};

/// The integration's settings (the schema in `info()` draws the form).
#[derive(Deserialize)]
pub struct Config {
    /// `ldap://host[:port]` or `ldaps://host[:port]`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS.
    #[serde(default)]
    pub starttls: bool,
    pub bind_dn: String,
    /// The bind password (a secret: `writeOnly` in the schema).
    pub password: String,
    /// Where users and groups are searched.
    pub base_dn: String,
    #[serde(default = "default_user_filter")]
    pub user_filter: String,
    #[serde(default = "default_group_filter")]
    pub group_filter: String,
}

fn default_user_filter() -> String {
    "(objectClass=inetOrgPerson)".into()
}

fn default_group_filter() -> String {
    "(objectClass=groupOfNames)".into()
}

/// What a sync reads, in order.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Users,
    Groups,
}

/// Where a sync goes on from.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Cursor {
    pub phase: Phase,
    /// The paged-results cookie of the search in progress, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
}

const USER_ATTRIBUTES: &[&str] = &["uid", "mail", "cn", "displayName", "entryUUID"];
const GROUP_ATTRIBUTES: &[&str] = &["cn", "member", "entryUUID"];

pub struct __TYPE__;

impl Connector for __TYPE__ {
    type Config = Config;

    fn info() -> ConnectorInfo {
        ConnectorInfo::builder("__ID__", "__TITLE__", env!("CARGO_PKG_VERSION"))
            .description("__DESCRIPTION__")
            .config_schema(json!({
                "type": "object",
                "required": ["url", "bind_dn", "password", "base_dn"],
                "properties": {
                    "url": {"type": "string", "title": "Server", "description": "ldap://host[:port] or ldaps://host[:port]"},
                    "starttls": {"type": "boolean", "title": "Use StartTLS", "default": false},
                    "bind_dn": {"type": "string", "title": "Bind DN"},
                    "password": {"type": "string", "title": "Password", "writeOnly": true},
                    "base_dn": {"type": "string", "title": "Base DN"},
                    "user_filter": {"type": "string", "title": "User filter", "default": default_user_filter()},
                    "group_filter": {"type": "string", "title": "Group filter", "default": default_group_filter()}
                }
            }))
            .ldap("ldap://*")
            .ldap("ldaps://*")
            .features(Features::SYNC)
            .build()
    }

    fn test_connection(config: Config) -> Result<String> {
        let directory = open(&config)?;
        // One page of one entry: enough to know the filter matches, and
        // unlike a size limit, not an error when more would.
        let page = directory
            .search(&config.base_dn, &config.user_filter)
            .attributes(&["uid"])
            .page_size(1)
            .send()?;
        Ok(format!(
            "Bound to {} as {}; the user filter matches{} under {}",
            config.url,
            config.bind_dn,
            if page.entries.is_empty() {
                " nobody"
            } else {
                ""
            },
            config.base_dn
        ))
    }

    fn sync(config: Config, input: SyncInput) -> Result<SyncPage> {
        let cursor: Cursor = match &input.cursor {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| Error::config(format!("unreadable cursor `{text}`: {e}")))?,
            None => Cursor {
                phase: Phase::Users,
                cookie: None,
            },
        };
        let cookie = cursor.cookie.as_deref().map(from_hex).transpose()?;
        let directory = open(&config)?;
        let (filter, attributes) = match cursor.phase {
            Phase::Users => (&config.user_filter, USER_ATTRIBUTES),
            Phase::Groups => (&config.group_filter, GROUP_ATTRIBUTES),
        };
        let page = directory
            .search(&config.base_dn, filter)
            .attributes(attributes)
            .page_size(input.page_size.clamp(1, 1000))
            .cookie(cookie)
            .send()?;
        let records = page
            .entries
            .iter()
            .map(|entry| match cursor.phase {
                Phase::Users => user(entry),
                Phase::Groups => group(entry),
            })
            .collect::<Result<Vec<_>>>()?;
        let next = match (page.cookie.filter(|c| !c.is_empty()), cursor.phase) {
            (Some(cookie), phase) => Some(Cursor {
                phase,
                cookie: Some(to_hex(&cookie)),
            }),
            (None, Phase::Users) => Some(Cursor {
                phase: Phase::Groups,
                cookie: None,
            }),
            (None, Phase::Groups) => None,
        };
        Ok(match next {
            Some(next) => SyncPage::more(records, serde_json::to_string(&next)?),
            // Every sync reads everything: the host finds deletions by
            // what a complete sync did not see.
            None => SyncPage::last(records),
        })
    }
}

fn open(config: &Config) -> Result<Directory> {
    let tls = if config.url.starts_with("ldaps://") {
        TlsMode::Ldaps
    } else if config.starttls {
        TlsMode::StartTls
    } else {
        TlsMode::None
    };
    let directory = ldap::connect(config.url.clone(), tls).open()?;
    directory.bind(&config.bind_dn, &config.password)?;
    Ok(directory)
}

/// The entry's stable id: renames and moves keep it, unlike the DN.
fn stable_id(entry: &Entry) -> Result<String> {
    entry.first("entryUUID").map(str::to_owned).ok_or_else(|| {
        Error::fatal(format!(
            "{} has no entryUUID; is the server OpenLDAP?",
            entry.dn
        ))
    })
}

fn user(entry: &Entry) -> Result<Record> {
    Ok(Record::builder("user", stable_id(entry)?)
        .field("dn", &entry.dn)
        .field("username", entry.first("uid"))
        .field("email", entry.first("mail"))
        .field(
            "display_name",
            entry.first("displayName").or(entry.first("cn")),
        )
        .build())
}

fn group(entry: &Entry) -> Result<Record> {
    Ok(Record::builder("group", stable_id(entry)?)
        .field("dn", &entry.dn)
        .field("name", entry.first("cn"))
        // Members by DN; the host resolves them to the users it synced.
        .field("member_dns", entry.texts("member"))
        .build())
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Result<Vec<u8>> {
    let bad = || Error::config(format!("the cursor's cookie `{text}` is not hex"));
    if !text.len().is_multiple_of(2) {
        return Err(bad());
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2).ok_or_else(bad)?, 16).map_err(|_| bad()))
        .collect()
}

cube_connector_sdk::export_connector!(__TYPE__);

#[cfg(test)]
mod tests;
