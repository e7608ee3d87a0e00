//! The `ldap` capability: directory access inside the integration's grant,
//! through the host's ldap3 client.
//!
//! `open` connects only to servers granted to the integration ([`LdapGrant`],
//! exact hosts) and checks the addresses they resolve to ([`connect`]).
//! Connections belong to an [`LdapSessions`], which the sync engine keeps
//! for the length of one job: each call runs in a fresh instance, but a
//! paged-results cookie is only valid on the connection that made it, so
//! the job's calls share its connections. They are never shared between
//! integrations. Failures come back in words an admin can act on
//! ([`errors`]).

mod ahead;
pub(crate) mod connect;
pub mod errors;
mod search;
pub mod worker;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ldap3::Ldap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wasmtime::component::{HasData, Resource, ResourceTable};

use super::denials::Denials;
use super::{CallSetup, Capability};
use crate::runtime::bindings::cube::connector::ldap::{
    self as wit, ConnectOptions, LdapError, PackedPage, SearchControl, SearchPage, SearchRequest,
};
use ahead::ReadAhead;
use connect::Target;
use search::{Page, Shape};

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

/// The LDAP connections of one sync job (or of one call outside a job),
/// shared by its calls: a paged-results cookie is only valid on the
/// connection that made it, and each call runs in a fresh instance. Cheap
/// to clone; the connections close when the last clone is dropped.
#[derive(Clone, Default)]
pub struct LdapSessions {
    open: Arc<tokio::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<Live>>>>>,
}

/// The most connections one job keeps open.
const MAX_CONNECTIONS: usize = 8;
/// The timeout of an operation when the connector names none (still capped
/// by the call's deadline).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The most entry data one search page may bring into the host.
const MAX_PAGE_BYTES: usize = 64 << 20;

/// A live connection and who it is bound as.
struct Live {
    ldap: Ldap,
    /// The runtime of the connection's thread, where read-aheads run.
    worker: tokio::runtime::Handle,
    /// The bind DN and a digest of the password of the last successful bind.
    bound: Option<(String, [u8; 32])>,
    /// The next page of the last search, being read.
    ahead: Option<ReadAhead>,
}

impl Live {
    /// Lets a read-ahead finish before another operation.
    async fn settle(&mut self) {
        if let Some(ahead) = self.ahead.take() {
            ahead.settle().await;
        }
    }
}

impl std::fmt::Debug for LdapSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LdapSessions")
    }
}

impl LdapSessions {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many connections are open.
    pub async fn len(&self) -> usize {
        self.open.lock().await.len()
    }

    /// Whether none is open.
    pub async fn is_empty(&self) -> bool {
        self.len().await == 0
    }

    async fn get_or_open(
        &self,
        key: &str,
        target: &Target,
    ) -> Result<Arc<tokio::sync::Mutex<Live>>, LdapError> {
        let mut open = self.open.lock().await;
        if let Some(live) = open.get(key) {
            let closed = live.lock().await.ldap.is_closed();
            if !closed {
                return Ok(live.clone());
            }
            open.remove(key);
        }
        if open.len() >= MAX_CONNECTIONS {
            return Err(LdapError::Connection(format!(
                "a connector may keep at most {MAX_CONNECTIONS} directory connections open"
            )));
        }
        let connect::Connection { ldap, worker } = connect::open(target).await?;
        let live = Arc::new(tokio::sync::Mutex::new(Live {
            ldap,
            worker,
            bound: None,
            ahead: None,
        }));
        open.insert(key.to_owned(), live.clone());
        Ok(live)
    }

    /// After a failure that may have broken the connection: forgets it,
    /// so the next `open` connects again.
    async fn forget_if_broken(&self, key: &str, error: &LdapError) {
        if matches!(error, LdapError::Connection(_) | LdapError::Tls(_)) {
            self.open.lock().await.remove(key);
        }
    }

    /// Unbinds and closes every connection (the end of a job).
    pub async fn close(&self) {
        let open: Vec<_> = self
            .open
            .lock()
            .await
            .drain()
            .map(|(_, live)| live)
            .collect();
        for live in open {
            let mut live = live.lock().await;
            live.settle().await;
            let _ = live.ldap.unbind().await;
        }
    }
}

/// An open directory connection as the guest holds it.
pub struct LdapConnection {
    key: String,
    server: String,
    timeout: Duration,
    live: Arc<tokio::sync::Mutex<Live>>,
}

/// One call's view of the LDAP capability.
pub struct LdapCall {
    grants: Arc<[LdapGrant]>,
    sessions: LdapSessions,
    deadline: Instant,
    table: ResourceTable,
    denials: Denials,
}

impl LdapCall {
    pub fn new(grants: Arc<[LdapGrant]>, sessions: LdapSessions, deadline: Instant) -> Self {
        Self {
            grants,
            sessions,
            deadline,
            table: ResourceTable::new(),
            denials: Denials::default(),
        }
    }

    /// Notes refused servers in `denials` (shared with the call's context).
    pub fn with_denials(mut self, denials: Denials) -> Self {
        self.denials = denials;
        self
    }

    /// `wanted`, but never past the call's deadline.
    fn within_deadline(&self, wanted: Duration) -> Duration {
        wanted.min(self.deadline.saturating_duration_since(Instant::now()))
    }

    /// What the guest's handle stands for: the handle is the generated
    /// resource type, the connection sits in this call's table under its rep.
    fn connection(&self, handle: &Resource<wit::Connection>) -> Result<&LdapConnection, LdapError> {
        self.table
            .get(&Resource::<LdapConnection>::new_borrow(handle.rep()))
            .map_err(|e| LdapError::Connection(format!("not an open connection: {e}")))
    }
}

impl Capability for LdapCall {
    fn for_call(setup: &CallSetup<'_>) -> Self {
        let ctx = setup.ctx;
        LdapCall::new(
            ctx.ldap_grants.clone(),
            ctx.ldap_sessions.clone(),
            setup.deadline,
        )
        .with_denials(ctx.denials.clone())
    }

    fn add_to_linker<T: Send + 'static>(
        linker: &mut wasmtime::component::Linker<T>,
        get: fn(&mut T) -> &mut Self,
    ) -> wasmtime::Result<()> {
        wit::add_to_linker::<T, LdapData>(linker, get)
    }
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
    ) -> Result<Resource<wit::Connection>, LdapError> {
        let Some((scheme, host, port)) = split_ldap_url(&options.url) else {
            return Err(LdapError::Connection(format!(
                "`{}` is not an ldap:// or ldaps:// URL",
                options.url
            )));
        };
        if !self.grants.iter().any(|g| g.matches(&scheme, &host, port)) {
            self.denials.record(format!("{scheme}://{host}:{port}"));
            return Err(LdapError::Denied(format!(
                "{scheme}://{host}:{port} is not granted to this integration; an admin can grant it"
            )));
        }
        let wanted = options
            .timeout_ms
            .map_or(DEFAULT_TIMEOUT, |ms| Duration::from_millis(u64::from(ms)));
        let target = Target {
            scheme,
            host,
            port,
            tls: options.tls,
            ca_pem: options.ca_pem,
            timeout: self.within_deadline(wanted),
        };
        let ca_digest = hex::encode(Sha256::digest(target.ca_pem.as_deref().unwrap_or("")));
        let key = format!("{}|{:?}|{ca_digest}", target.name(), target.tls);
        let live = self.sessions.get_or_open(&key, &target).await?;
        let connection = LdapConnection {
            key,
            server: target.name(),
            timeout: wanted,
            live,
        };
        let stored = self
            .table
            .push(connection)
            .map_err(|e| LdapError::Connection(e.to_string()))?;
        Ok(Resource::new_own(stored.rep()))
    }

    async fn bind(
        &mut self,
        connection: Resource<wit::Connection>,
        dn: String,
        password: String,
    ) -> Result<(), LdapError> {
        let conn = self.connection(&connection)?;
        let (key, server, live) = (conn.key.clone(), conn.server.clone(), conn.live.clone());
        let timeout = self.within_deadline(conn.timeout);
        let sessions = self.sessions.clone();
        let digest: [u8; 32] = Sha256::digest(password.as_bytes()).into();
        let mut live = live.lock().await;
        if live.bound.as_ref() == Some(&(dn.clone(), digest)) {
            // Bound already on this job's connection: binding again could
            // end the server's paged-search state.
            return Ok(());
        }
        live.settle().await;
        let outcome = live
            .ldap
            .with_timeout(timeout)
            .simple_bind(&dn, &password)
            .await
            .and_then(|result| result.success())
            .map_err(|e| errors::from_client(e, &server, "bind"));
        match outcome {
            Ok(_) => {
                live.bound = Some((dn, digest));
                Ok(())
            }
            Err(error) => {
                live.bound = None;
                drop(live);
                sessions.forget_if_broken(&key, &error).await;
                Err(error)
            }
        }
    }

    async fn search(
        &mut self,
        connection: Resource<wit::Connection>,
        request: SearchRequest,
    ) -> Result<SearchPage, LdapError> {
        match self
            .search_page(connection, request, Shape::Entries, Vec::new())
            .await?
        {
            Page::Entries(page) => Ok(page),
            Page::Packed(_) => unreachable!("asked for entries"),
        }
    }

    async fn search_packed(
        &mut self,
        connection: Resource<wit::Connection>,
        request: SearchRequest,
    ) -> Result<PackedPage, LdapError> {
        self.search_packed_with(connection, request, Vec::new())
            .await
    }

    async fn search_packed_with(
        &mut self,
        connection: Resource<wit::Connection>,
        request: SearchRequest,
        controls: Vec<SearchControl>,
    ) -> Result<PackedPage, LdapError> {
        match self
            .search_page(connection, request, Shape::Packed, controls)
            .await?
        {
            Page::Packed(page) => Ok(page),
            Page::Entries(_) => unreachable!("asked for a packed page"),
        }
    }

    async fn drop(&mut self, connection: Resource<wit::Connection>) -> wasmtime::Result<()> {
        // The connection itself stays open for the job's next call.
        self.table
            .delete(Resource::<LdapConnection>::new_own(connection.rep()))?;
        Ok(())
    }
}

impl LdapCall {
    /// One page of a search on the job's connection, with the request
    /// controls the connector named for it (only those the contract's
    /// `search-control` lists, see [`search`]); a broken connection is
    /// forgotten so the next call opens a new one.
    async fn search_page(
        &mut self,
        connection: Resource<wit::Connection>,
        request: SearchRequest,
        shape: Shape,
        mut controls: Vec<SearchControl>,
    ) -> Result<Page, LdapError> {
        controls.sort_by_key(|c| *c as u8);
        controls.dedup();
        let conn = self.connection(&connection)?;
        let (key, server, live) = (conn.key.clone(), conn.server.clone(), conn.live.clone());
        let (wanted, timeout) = (conn.timeout, self.within_deadline(conn.timeout));
        let sessions = self.sessions.clone();
        let outcome = {
            let mut live = live.lock().await;
            // Another search in the middle of a paged one keeps the page
            // read ahead for it (see [`ahead`]).
            let mut kept = None;
            let outcome = match live.ahead.take() {
                Some(ahead) if ahead.is_for(&request, shape, &controls) => ahead.page().await,
                other => {
                    match other {
                        Some(ahead) if !ahead.is_page_of(&request, &controls) => {
                            kept = Some(ahead.finish().await);
                        }
                        Some(ahead) => ahead.settle().await,
                        None => {}
                    }
                    search::run(
                        &mut live.ldap,
                        &request,
                        &controls,
                        shape,
                        timeout,
                        MAX_PAGE_BYTES,
                    )
                    .await
                    .map_err(|e| match e {
                        search::Failure::Client(e) => errors::from_client(e, &server, "search"),
                        search::Failure::Contract(e) => e,
                    })
                }
            };
            let next = match &outcome {
                Ok(page) => ReadAhead::after(
                    &live.ldap,
                    &live.worker,
                    &request,
                    &controls,
                    shape,
                    page,
                    &server,
                    wanted,
                ),
                Err(_) => None,
            };
            live.ahead = next.or(kept);
            outcome
        };
        if let Err(error) = &outcome {
            sessions.forget_if_broken(&key, error).await;
        }
        outcome
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
