//! What an admin granted an integration to reach over HTTP.
//!
//! A grant is `scheme://host[:port]`. The host is exact (`api.example.com`),
//! a subdomain wildcard (`*.example.com`, which does not match
//! `example.com` itself), an IP literal (`127.0.0.1`, `[::1]`), or `*` for any
//! public host. Without a port, the scheme's default port is meant; `:*`
//! means any port. Names only ever reach public addresses unless the grant
//! also says `allow_private`; an IP literal grant reaches that address.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::net::HostPattern;
use crate::net::address::{AddressClass, classify};

/// One destination pattern an integration may reach.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "GrantSpec", into = "GrantSpec")]
pub struct HttpGrant {
    scheme: String,
    host: HostPattern,
    port: PortPattern,
    allow_private: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PortPattern {
    Exact(u16),
    Any,
}

/// Why a grant pattern could not be read.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid HTTP grant `{pattern}`: {reason} (expected scheme://host[:port], like https://api.example.com or https://*.example.com:8443)"
)]
pub struct GrantError {
    pattern: String,
    reason: &'static str,
}

impl HttpGrant {
    /// Reads a pattern; see the module docs for the syntax.
    pub fn parse(pattern: &str) -> Result<Self, GrantError> {
        let err = |reason| GrantError {
            pattern: pattern.to_owned(),
            reason,
        };
        let (scheme, rest) = pattern
            .split_once("://")
            .ok_or_else(|| err("missing scheme"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(err("the scheme must be http or https"));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') || rest.contains('?') || rest.contains('@') {
            return Err(err("a grant names a host, not a path or credentials"));
        }
        let (host, port) = split_host_port(rest).ok_or_else(|| err("malformed host or port"))?;
        let port = match port {
            None => PortPattern::Exact(default_port(&scheme)),
            Some("*") => PortPattern::Any,
            Some(p) => PortPattern::Exact(p.parse().map_err(|_| err("the port is not a number"))?),
        };
        let host = HostPattern::parse(host).ok_or_else(|| err("malformed host"))?;
        Ok(Self {
            scheme,
            host,
            port,
            allow_private: false,
        })
    }

    /// Lets names matching this grant reach loopback, private-network and
    /// link-local addresses (an intranet service, a test server).
    pub fn allow_private(mut self, allow: bool) -> Self {
        self.allow_private = allow;
        self
    }

    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// The pattern alone, without the note on private addresses.
    pub fn pattern(&self) -> String {
        self.clone().allow_private(false).to_string()
    }

    /// Whether a request to `scheme://host:port` is inside this grant.
    pub fn matches(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
            && self.host.matches(host)
            && match self.port {
                PortPattern::Exact(p) => p == port,
                PortPattern::Any => true,
            }
    }

    /// Whether this grant lets a request reach `ip`, an address of the
    /// requested host (resolved, or given literally in the URL).
    pub fn reaches(&self, ip: IpAddr) -> bool {
        match classify(ip) {
            AddressClass::Public => true,
            _ if self.host == HostPattern::Ip(ip) => true,
            AddressClass::Metadata => false,
            AddressClass::Loopback | AddressClass::Private | AddressClass::LinkLocal => {
                self.allow_private
            }
            AddressClass::SharedAddressSpace => self.allow_private,
            _ => false,
        }
    }

    pub(crate) fn host_pattern(&self) -> &HostPattern {
        &self.host
    }
}

impl FromStr for HttpGrant {
    type Err = GrantError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HttpGrant::parse(s)
    }
}

impl fmt::Display for HttpGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme)?;
        write!(f, "{}", self.host)?;
        match self.port {
            PortPattern::Exact(p) if p == default_port(&self.scheme) => {}
            PortPattern::Exact(p) => write!(f, ":{p}")?,
            PortPattern::Any => f.write_str(":*")?,
        }
        if self.allow_private {
            f.write_str(" (private addresses allowed)")?;
        }
        Ok(())
    }
}

/// The serialised form: `{"pattern": "...", "allow_private": false}`.
#[derive(Serialize, Deserialize)]
struct GrantSpec {
    pattern: String,
    #[serde(default)]
    allow_private: bool,
}

impl TryFrom<GrantSpec> for HttpGrant {
    type Error = GrantError;
    fn try_from(spec: GrantSpec) -> Result<Self, Self::Error> {
        Ok(HttpGrant::parse(&spec.pattern)?.allow_private(spec.allow_private))
    }
}

impl From<HttpGrant> for GrantSpec {
    fn from(grant: HttpGrant) -> Self {
        let allow_private = grant.allow_private;
        let pattern = grant.pattern();
        GrantSpec {
            pattern,
            allow_private,
        }
    }
}

pub(crate) fn default_port(scheme: &str) -> u16 {
    if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        80
    }
}

fn split_host_port(s: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        return match after {
            "" => Some((ip, None)),
            _ => Some((ip, Some(after.strip_prefix(':')?))),
        };
    }
    match s.rsplit_once(':') {
        Some((host, port)) => Some((host, Some(port))),
        None => Some((s, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(s: &str) -> HttpGrant {
        HttpGrant::parse(s).unwrap()
    }

    #[test]
    fn exact_hosts_match_their_scheme_and_default_port() {
        let g = grant("https://api.example.com");
        assert!(g.matches("https", "api.example.com", 443));
        assert!(g.matches("https", "API.Example.com.", 443));
        assert!(!g.matches("http", "api.example.com", 80));
        assert!(!g.matches("https", "api.example.com", 8443));
        assert!(!g.matches("https", "evil.com", 443));
        assert!(!g.matches("https", "api.example.com.evil.com", 443));
    }

    #[test]
    fn wildcards_match_subdomains_only() {
        let g = grant("https://*.example.com:*");
        assert!(g.matches("https", "a.example.com", 443));
        assert!(g.matches("https", "a.b.example.com", 8443));
        assert!(!g.matches("https", "example.com", 443));
        assert!(!g.matches("https", "badexample.com", 443));
    }

    #[test]
    fn ip_literals_match_and_reach_only_themselves() {
        let g = grant("http://127.0.0.1:8080");
        assert!(g.matches("http", "127.0.0.1", 8080));
        assert!(g.reaches("127.0.0.1".parse().unwrap()));
        assert!(!g.reaches("127.0.0.2".parse().unwrap()));
        let v6 = grant("http://[::1]:9000");
        assert!(v6.matches("http", "[::1]", 9000));
        assert_eq!(v6.to_string(), "http://[::1]:9000");
    }

    #[test]
    fn names_reach_private_addresses_only_when_allowed() {
        let loopback = "127.0.0.1".parse().unwrap();
        let metadata = "169.254.169.254".parse().unwrap();
        let public = "93.184.216.34".parse().unwrap();
        let plain = grant("http://localhost:8080");
        assert!(!plain.reaches(loopback));
        assert!(plain.reaches(public));
        let private = plain.clone().allow_private(true);
        assert!(private.reaches(loopback));
        assert!(!private.reaches(metadata), "metadata needs an IP grant");
    }

    #[test]
    fn any_host_matches_names_but_not_ip_literals() {
        let g = grant("https://*");
        assert!(g.matches("https", "anything.example", 443));
        assert!(!g.matches("https", "10.0.0.1", 443));
    }

    #[test]
    fn malformed_patterns_are_explained() {
        for bad in [
            "api.example.com",
            "ftp://x.com",
            "https://x.com/path",
            "https://user@x.com",
            "https://x.com:port",
            "https://",
            "https://bad host",
        ] {
            let err = HttpGrant::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn grants_round_trip_through_json() {
        let g = grant("https://*.example.com:8443").allow_private(true);
        let json = serde_json::to_string(&g).unwrap();
        assert_eq!(
            json,
            r#"{"pattern":"https://*.example.com:8443","allow_private":true}"#
        );
        assert_eq!(serde_json::from_str::<HttpGrant>(&json).unwrap(), g);
    }
}
