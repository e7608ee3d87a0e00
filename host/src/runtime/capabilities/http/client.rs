//! The sandbox's shared HTTP clients, one per address policy.
//!
//! Connections are pooled across calls, so clients are shared. The address
//! check happens in the client's resolver ([`crate::net`]), and a resolver
//! is per client: so there is one client for calls whose grants reach only
//! public addresses (nearly all of them), and one per distinct set of grants
//! that allow private addresses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::grant::HttpGrant;
use crate::net::{AddressPolicy, Remedy};

/// The host's HTTP clients, shared by every call of every integration.
pub struct HttpClients {
    public: reqwest::Client,
    with_private: Mutex<HashMap<Vec<String>, reqwest::Client>>,
}

impl Default for HttpClients {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClients {
    pub fn new() -> Self {
        Self {
            public: build_client(AddressPolicy::public_only(Remedy::Grant)),
            with_private: Mutex::new(HashMap::new()),
        }
    }

    /// The client whose resolver lets names reach exactly what `grants` allow
    /// (the grants a request matches: allowing private addresses is per
    /// grant, port and scheme included).
    pub(crate) fn client_for(&self, grants: &[HttpGrant]) -> reqwest::Client {
        let private: Vec<&HttpGrant> = grants.iter().filter(|g| g.allows_private()).collect();
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
            .or_insert_with(|| {
                let hosts = private.iter().map(|g| g.host_pattern().clone()).collect();
                build_client(AddressPolicy::with_private_hosts(hosts, Remedy::Grant))
            })
            .clone()
    }
}

fn build_client(policy: AddressPolicy) -> reqwest::Client {
    // Redirects are followed by the capability, which checks each hop
    // against the grants as well.
    crate::net::builder(&Arc::new(policy), None, 0)
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("cube-integration-host/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client configuration is valid")
}
