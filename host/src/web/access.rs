//! Who is at the other end, and what the edge of the server allows: the
//! client's address and scheme (believing `X-Forwarded-For` and
//! `X-Forwarded-Proto` only from configured proxies), the sign-in
//! throttle's policy and password pool, the `/metrics` token, and the
//! pseudonyms logs use for the names of failed sign-ins.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use hmac::{Hmac, Mac};
use ipnet::IpNet;
use sha2::Sha256;

use super::AppState;
use super::error::Error;
use super::passwords::PasswordPool;
use crate::store::login_attempts::LoginPolicy;

/// The server's edge settings, shared by every request.
#[derive(Clone)]
pub struct Access {
    /// Peers whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed.
    pub trusted_proxies: Arc<[IpNet]>,
    /// When set, `/metrics` wants `Authorization: Bearer <token>`.
    pub metrics_token: Option<Arc<str>>,
    pub login_policy: LoginPolicy,
    pub passwords: PasswordPool,
    /// How long a refused sign-in (the password pool full, or the source
    /// backed off) waits before its answer. Answered at once, a crowd of
    /// clients that each send again as soon as they hear back turns cheap
    /// refusals into thousands of requests a second, together the whole
    /// CPU; waiting costs a timer and holds each such client to one
    /// attempt per delay.
    pub refusal_delay: Duration,
    /// API tokens' requests in their rate-limit windows (`api::bearer`).
    pub api_rate: Arc<super::api::RateLimiter>,
    /// Keys the pseudonyms of [`Access::pseudonym`].
    pseudonym_key: Arc<[u8; 32]>,
}

impl std::fmt::Debug for Access {
    /// Without the pseudonym key and the metrics token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("trusted_proxies", &self.trusted_proxies)
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<set>"),
            )
            .field("login_policy", &self.login_policy)
            .field("passwords", &self.passwords)
            .field("refusal_delay", &self.refusal_delay)
            .field("api_rate", &"<windows>")
            .finish_non_exhaustive()
    }
}

impl Access {
    /// No proxies, no metrics token, the default policy and pool, and
    /// pseudonyms keyed with `pseudonym_key` (derive it from the master
    /// key, so it stays the same across restarts).
    pub fn new(pseudonym_key: [u8; 32]) -> Self {
        Self {
            trusted_proxies: Arc::from(Vec::new()),
            metrics_token: None,
            login_policy: LoginPolicy::default(),
            passwords: PasswordPool::default(),
            refusal_delay: Duration::from_secs(1),
            api_rate: Arc::default(),
            pseudonym_key: Arc::new(pseudonym_key),
        }
    }

    /// A short keyed hash of a user name, for logs of failed sign-ins:
    /// people type passwords into the name field, and a log must not keep
    /// them. The same name (in any case) always gives the same pseudonym on
    /// one installation, so repeated attempts can be followed; without the
    /// key, a list of likely names does not reveal which was tried.
    pub fn pseudonym(&self, username: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.pseudonym_key.as_ref())
            .expect("HMAC takes any key length");
        mac.update(username.to_lowercase().as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..6])
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request that came from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> Client {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return Client {
                ip: peer,
                https: false,
            };
        }
        // Each proxy appends the address it got the request from: read from
        // the right, past our own proxies, to the first address we do not
        // run. Anything left of it the client could have written itself.
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|part| part.trim().parse::<IpAddr>().map(canonical))
            .collect::<Result<_, _>>()
            .unwrap_or_default();
        let ip = forwarded
            .iter()
            .rev()
            .find(|ip| !self.trusts(**ip))
            .or(forwarded.first())
            .copied()
            .unwrap_or(peer);
        // The proxy next to us says how the request reached it.
        let https = headers
            .get_all("x-forwarded-proto")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
        Client { ip, https }
    }
}

/// IPv4 addresses arriving as IPv6-mapped (`::ffff:10.0.0.1`) compare as
/// the IPv4 address they are.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Parses `--trusted-proxies`: addresses or networks (`10.0.0.0/8`).
pub fn parse_proxy(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{text}` is neither an IP address nor a network like 10.0.0.0/8"))
}

/// The client of a request: its address and whether it reached us (or the
/// trusted proxy in front of us) over https.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Client {
    pub ip: IpAddr,
    pub https: bool,
}

impl Client {
    /// Whether cookies set for this client get `Secure`.
    pub fn secure_cookies(&self, state: &AppState) -> bool {
        self.https || state.secure_cookies
    }
}

impl FromRequestParts<AppState> for Client {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            return Err(Error::Internal(anyhow::anyhow!(
                "the server runs without the clients' addresses (serve it with connect info)"
            )));
        };
        Ok(state.access.client(peer.ip(), &parts.headers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(proxies: &[&str]) -> Access {
        let mut access = Access::new([7; 32]);
        access.trusted_proxies = proxies.iter().map(|p| parse_proxy(p).unwrap()).collect();
        access
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        headers
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let forged = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-proto", "https"),
        ]);
        let peer: IpAddr = "198.51.100.4".parse().unwrap();
        assert_eq!(
            access(&[]).client(peer, &forged),
            Client {
                ip: peer,
                https: false
            }
        );
        let proxied = access(&["198.51.100.0/24"]).client(peer, &forged);
        assert_eq!(proxied.ip, "203.0.113.9".parse::<IpAddr>().unwrap());
        assert!(proxied.https);
    }

    #[test]
    fn the_client_is_the_first_address_left_of_our_proxies() {
        let access = access(&["10.0.0.1", "10.0.0.2"]);
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 192.0.2.7, 10.0.0.2")]);
        let client = access.client("10.0.0.1".parse().unwrap(), &chain);
        assert_eq!(client.ip, "192.0.2.7".parse::<IpAddr>().unwrap());
        let garbage = headers(&[("x-forwarded-for", "not an address")]);
        let client = access.client("10.0.0.1".parse().unwrap(), &garbage);
        assert_eq!(client.ip, "10.0.0.1".parse::<IpAddr>().unwrap());
        let mapped = access.client("::ffff:10.0.0.1".parse().unwrap(), &chain);
        assert_eq!(mapped.ip, "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn pseudonyms_are_keyed_short_and_stable() {
        let a = Access::new([1; 32]);
        let b = Access::new([2; 32]);
        assert_eq!(a.pseudonym("Admin"), a.pseudonym("admin"));
        assert_ne!(a.pseudonym("admin"), b.pseudonym("admin"));
        assert_ne!(a.pseudonym("admin"), a.pseudonym("ada"));
        assert_eq!(a.pseudonym("admin").len(), 12);
        assert!(!a.pseudonym("hunter2-password").contains("hunter2"));
    }

    #[test]
    fn proxies_are_addresses_or_networks() {
        assert!(parse_proxy("127.0.0.1").is_ok());
        assert!(parse_proxy("10.0.0.0/8").is_ok());
        assert!(parse_proxy("::1").is_ok());
        assert!(parse_proxy("proxy.example").is_err());
    }
}
