//! The shared HTTP clients and the resolver that enforces address rules.
//!
//! Connections are pooled across calls, so clients are shared. The address
//! check has to happen where the connection is made, on the addresses the
//! connection will use, or a name that resolves differently the second time
//! (DNS rebinding) would slip through. So the check lives in the clients' DNS
//! resolver. Because a resolver is per client, there is one client for calls
//! whose grants reach only public addresses (nearly all of them), and one per
//! distinct set of grants that allow private addresses.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::address::{AddressClass, classify};
use super::grant::HttpGrant;

/// The host's HTTP clients, shared by every call of every integration.
pub struct HttpClients {
    public: reqwest::Client,
    with_private: Mutex<HashMap<Vec<String>, reqwest::Client>>,
}

/// A resolved name led only to addresses the grant does not reach.
#[derive(Debug)]
pub(crate) struct AddressDenied {
    pub host: String,
    pub refused: Vec<(IpAddr, AddressClass)>,
}

impl std::fmt::Display for AddressDenied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let addrs: Vec<String> = self
            .refused
            .iter()
            .map(|(ip, class)| format!("{ip} ({class})"))
            .collect();
        write!(
            f,
            "{} resolves to {}, which this integration may not reach; \
             an admin can grant the address itself, or allow private addresses for this host",
            self.host,
            addrs.join(", ")
        )
    }
}

impl StdError for AddressDenied {}

impl Default for HttpClients {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClients {
    pub fn new() -> Self {
        Self {
            public: build_client(Vec::new()),
            with_private: Mutex::new(HashMap::new()),
        }
    }

    /// The client whose resolver lets names reach exactly what `grants` allow.
    pub(crate) fn client_for(&self, grants: &[HttpGrant]) -> reqwest::Client {
        let private: Vec<HttpGrant> = grants
            .iter()
            .filter(|g| g.allows_private())
            .cloned()
            .collect();
        if private.is_empty() {
            return self.public.clone();
        }
        let mut key: Vec<String> = private.iter().map(|g| g.to_string()).collect();
        key.sort();
        let mut clients = self.with_private.lock().expect("client map poisoned");
        // Grant sets change rarely; a bound keeps a churn of edits from
        // growing the map without end.
        if clients.len() > 256 {
            clients.clear();
        }
        clients
            .entry(key)
            .or_insert_with(|| build_client(private))
            .clone()
    }
}

fn build_client(private_grants: Vec<HttpGrant>) -> reqwest::Client {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver {
            private_grants: Arc::new(private_grants),
        }))
        // Redirects are followed by the capability, which checks each hop.
        .redirect(reqwest::redirect::Policy::none())
        // A proxy from the environment would bypass the address checks.
        .no_proxy()
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("cube-integration-host/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client configuration is valid")
}

struct GuardedResolver {
    private_grants: Arc<Vec<HttpGrant>>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let grants = self.private_grants.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let granting: Vec<&HttpGrant> = grants
                .iter()
                .filter(|g| g.host_pattern().matches(&host))
                .collect();
            let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
                resolved.into_iter().partition(|addr| {
                    classify(addr.ip()).is_public() || granting.iter().any(|g| g.reaches(addr.ip()))
                });
            if allowed.is_empty() && !refused.is_empty() {
                let refused = refused.iter().map(|a| (a.ip(), classify(a.ip()))).collect();
                return Err(Box::new(AddressDenied { host, refused }) as Box<_>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}
