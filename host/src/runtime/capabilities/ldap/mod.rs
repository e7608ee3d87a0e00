//! The `ldap` capability: directory access inside the integration's grant.
//!
//! The contract (`wit/host.wit`, interface `ldap`) is fixed now so that
//! connectors can be written against it; the client behind it arrives with
//! the directory connector (issue #8). Until then `open` checks the grant,
//! exactly as it will, and then reports that this host has no LDAP client,
//! so a connector gets a clear, stable error instead of a link failure.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wasmtime::component::{HasData, Resource, ResourceTable};

use crate::runtime::bindings::cube::connector::ldap::{
    self as wit, ConnectOptions, LdapError, SearchPage, SearchRequest,
};

/// One LDAP server an integration may reach: `ldap://host[:port]` or
/// `ldaps://host[:port]`, exact host names only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LdapGrant {
    scheme: String,
    host: String,
    port: u16,
}

impl LdapGrant {
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let (scheme, host, port) = split_ldap_url(pattern).ok_or_else(|| {
            format!("invalid LDAP grant `{pattern}` (expected ldap://host[:port] or ldaps://host[:port])")
        })?;
        Ok(Self { scheme, host, port })
    }

    fn matches(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.scheme == scheme && self.host.eq_ignore_ascii_case(host) && self.port == port
    }
}

impl TryFrom<String> for LdapGrant {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        LdapGrant::parse(&s)
    }
}

impl From<LdapGrant> for String {
    fn from(g: LdapGrant) -> String {
        g.to_string()
    }
}

impl std::fmt::Display for LdapGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

fn split_ldap_url(url: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "ldap" => 389,
        "ldaps" => 636,
        _ => return None,
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (rest, default_port),
    };
    if host.is_empty() || host.contains('/') {
        return None;
    }
    Some((scheme, host.to_ascii_lowercase(), port))
}

/// An open directory connection held for the guest.
pub struct LdapConnection {
    _server: LdapGrant,
}

/// One call's view of the LDAP capability.
pub struct LdapCall {
    grants: Arc<[LdapGrant]>,
    table: ResourceTable,
}

impl LdapCall {
    pub fn new(grants: Arc<[LdapGrant]>) -> Self {
        Self {
            grants,
            table: ResourceTable::new(),
        }
    }
}

/// Links `cube:connector/ldap` for stores whose data is `T`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    get: fn(&mut T) -> &mut LdapCall,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, LdapData>(linker, get)
}

struct LdapData;
impl HasData for LdapData {
    type Data<'a> = &'a mut LdapCall;
}

impl wit::Host for LdapCall {}

impl wit::HostConnection for LdapCall {
    async fn open(
        &mut self,
        options: ConnectOptions,
    ) -> Result<Resource<LdapConnection>, LdapError> {
        let Some((scheme, host, port)) = split_ldap_url(&options.url) else {
            return Err(LdapError::Connection(format!(
                "`{}` is not an ldap:// or ldaps:// URL",
                options.url
            )));
        };
        if !self.grants.iter().any(|g| g.matches(&scheme, &host, port)) {
            return Err(LdapError::Denied(format!(
                "{scheme}://{host}:{port} is not granted to this integration; an admin can grant it"
            )));
        }
        Err(LdapError::Connection(
            "this version of the CUBE host has no LDAP client; upgrade the host to use directory connectors"
                .to_owned(),
        ))
    }

    async fn bind(
        &mut self,
        connection: Resource<LdapConnection>,
        _dn: String,
        _password: String,
    ) -> Result<(), LdapError> {
        self.table
            .get(&connection)
            .map_err(|e| LdapError::Connection(e.to_string()))?;
        Err(LdapError::Connection("the connection is closed".to_owned()))
    }

    async fn search(
        &mut self,
        connection: Resource<LdapConnection>,
        _request: SearchRequest,
    ) -> Result<SearchPage, LdapError> {
        self.table
            .get(&connection)
            .map_err(|e| LdapError::Connection(e.to_string()))?;
        Err(LdapError::Connection("the connection is closed".to_owned()))
    }

    async fn drop(&mut self, connection: Resource<LdapConnection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_parse_with_default_ports() {
        assert_eq!(
            LdapGrant::parse("ldaps://DC1.corp.example")
                .unwrap()
                .to_string(),
            "ldaps://dc1.corp.example:636"
        );
        assert_eq!(
            LdapGrant::parse("ldap://127.0.0.1:3389")
                .unwrap()
                .to_string(),
            "ldap://127.0.0.1:3389"
        );
        assert!(LdapGrant::parse("http://dc1").is_err());
        assert!(LdapGrant::parse("ldap://dc1:x").is_err());
    }
}
