//! Which addresses a connection may be made to, checked where it is made.
//!
//! A name is checked on the addresses it resolves to, inside the client's
//! DNS resolver: checking a name first and letting the client resolve it
//! again would let a second answer (DNS rebinding) reach 127.0.0.1. An IP
//! literal skips the resolver, so it is checked on the URL itself, before
//! the first request and on every redirect.
//!
//! Public addresses are always reachable. Loopback, private-network,
//! link-local and shared (carrier-grade NAT) addresses only for names the
//! policy lists; cloud metadata and the other special ranges never through a
//! name. An IP literal in the list reaches exactly that address.

use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

use super::HostPattern;
use super::address::{AddressClass, classify};

/// The hosts whose private addresses may be reached; everything else must
/// be public.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AddressPolicy {
    private_hosts: Vec<HostPattern>,
    remedy: Remedy,
}

/// Who can change the policy, for the message of a refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Remedy {
    /// A connector's request: the integration's grants decide.
    Grant,
    /// The host's own clients (registry, install from a URL, outbound
    /// webhooks): `cube serve --allow-private-host` decides.
    HostSetting,
}

impl AddressPolicy {
    /// Public addresses only.
    pub fn public_only(remedy: Remedy) -> Self {
        Self::with_private_hosts(Vec::new(), remedy)
    }

    /// Public addresses, and the private ones of `private_hosts`.
    pub fn with_private_hosts(mut private_hosts: Vec<HostPattern>, remedy: Remedy) -> Self {
        private_hosts.sort_by_key(|p| p.to_string());
        private_hosts.dedup();
        Self {
            private_hosts,
            remedy,
        }
    }

    /// Whether a connection to `ip`, an address the name `host` resolved
    /// to, is allowed.
    pub fn permits(&self, host: &str, ip: IpAddr) -> bool {
        match classify(ip) {
            AddressClass::Public => true,
            AddressClass::Loopback
            | AddressClass::Private
            | AddressClass::LinkLocal
            | AddressClass::SharedAddressSpace => self
                .private_hosts
                .iter()
                .any(|p| !matches!(p, HostPattern::Ip(_)) && p.matches(host)),
            _ => false,
        }
    }

    /// Checks a URL whose host is an IP literal (which no resolver sees);
    /// names pass here and are checked when they resolve.
    pub fn check_url(&self, url: &Url) -> Result<(), AddressDenied> {
        let ip: IpAddr = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.into(),
            Some(url::Host::Ipv6(ip)) => ip.into(),
            _ => return Ok(()),
        };
        let listed = self.private_hosts.contains(&HostPattern::Ip(ip));
        if classify(ip).is_public() || listed {
            return Ok(());
        }
        Err(AddressDenied {
            host: url.host_str().unwrap_or_default().to_owned(),
            literal: true,
            refused: vec![(ip, classify(ip))],
            remedy: self.remedy,
        })
    }

    /// The resolver that enforces this policy, for `reqwest`.
    pub fn resolver(self: &Arc<Self>) -> Arc<impl Resolve + use<>> {
        Arc::new(GuardedResolver {
            policy: self.clone(),
        })
    }
}

/// A connection was refused by the address policy.
#[derive(Debug)]
pub struct AddressDenied {
    pub host: String,
    /// The URL gave the address itself.
    pub literal: bool,
    pub refused: Vec<(IpAddr, AddressClass)>,
    remedy: Remedy,
}

impl fmt::Display for AddressDenied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let addrs: Vec<String> = self
            .refused
            .iter()
            .map(|(ip, class)| format!("{ip} ({class})"))
            .collect();
        if self.literal {
            write!(f, "{} is {}", self.host, addrs.join(", "))?;
        } else {
            write!(f, "{} resolves to {}", self.host, addrs.join(", "))?;
        }
        match self.remedy {
            Remedy::Grant => f.write_str(
                ", which this integration may not reach; \
                 an admin can grant the address itself, or allow private addresses for this host",
            ),
            Remedy::HostSetting => write!(
                f,
                ", which the host does not connect to on its own behalf; if it is a server on \
                 your own network, start the host with --allow-private-host {}",
                self.host
            ),
        }
    }
}

impl StdError for AddressDenied {}

struct GuardedResolver {
    policy: Arc<AddressPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) = resolved
                .into_iter()
                .partition(|addr| policy.permits(&host, addr.ip()));
            if allowed.is_empty() && !refused.is_empty() {
                let refused = refused.iter().map(|a| (a.ip(), classify(a.ip()))).collect();
                return Err(Box::new(AddressDenied {
                    host,
                    literal: false,
                    refused,
                    remedy: policy.remedy,
                }) as Box<_>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The policy's refusal somewhere in `error`'s chain of causes.
pub fn denial_in<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a AddressDenied> {
    let mut source = Some(error);
    while let Some(err) = source {
        if let Some(denied) = err.downcast_ref::<AddressDenied>() {
            return Some(denied);
        }
        source = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn by_default_only_public_addresses_are_reached() {
        let policy = AddressPolicy::public_only(Remedy::HostSetting);
        assert!(policy.permits("example.com", ip("93.184.216.34")));
        for refused in ["127.0.0.1", "::1", "10.1.2.3", "169.254.169.254", "fd00::1"] {
            assert!(!policy.permits("example.com", ip(refused)), "{refused}");
        }
        for url in [
            "http://127.0.0.1:8080/",
            "http://[::1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            let denied = policy.check_url(&Url::parse(url).unwrap()).unwrap_err();
            assert!(
                denied.to_string().contains("--allow-private-host"),
                "{denied}"
            );
        }
        assert!(
            policy
                .check_url(&Url::parse("http://8.8.8.8/").unwrap())
                .is_ok()
        );
    }

    #[test]
    fn named_hosts_reach_private_addresses_but_never_metadata() {
        let policy = AddressPolicy::with_private_hosts(
            vec![
                HostPattern::parse("registry.internal").unwrap(),
                HostPattern::parse("10.9.8.7").unwrap(),
            ],
            Remedy::HostSetting,
        );
        assert!(policy.permits("registry.internal", ip("10.0.0.5")));
        assert!(policy.permits("REGISTRY.internal.", ip("127.0.0.1")));
        assert!(!policy.permits("registry.internal", ip("169.254.169.254")));
        assert!(!policy.permits("other.internal", ip("10.0.0.5")));
        let listed = Url::parse("http://10.9.8.7/").unwrap();
        assert!(policy.check_url(&listed).is_ok());
        let unlisted = Url::parse("http://10.9.8.6/").unwrap();
        assert!(policy.check_url(&unlisted).is_err());
    }
}
