//! Host patterns: which host names (or IP literals) a rule is about.
//!
//! Used by connectors' HTTP grants and by the host's list of private hosts
//! its own clients may reach, so both read and match hosts the same way.

use std::fmt;
use std::net::IpAddr;

/// A host, a family of hosts, or an IP literal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// One name, like `api.example.com` (lowercase, without trailing dot).
    Exact(String),
    /// The subdomains of a name, stored with its leading dot (`.example.com`
    /// for `*.example.com`, which does not match `example.com` itself).
    Subdomains(String),
    /// An IP literal, which matches only a URL naming that address.
    Ip(IpAddr),
    /// `*`: any name (but no IP literal).
    Any,
}

impl HostPattern {
    /// Reads `*`, `name`, `*.name`, `1.2.3.4` or `::1` (brackets allowed);
    /// `None` when it is none of them.
    pub fn parse(host: &str) -> Option<HostPattern> {
        if host == "*" {
            return Some(HostPattern::Any);
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Some(HostPattern::Ip(ip));
        }
        let host = normalize_host(host);
        let (wildcard, name) = match host.strip_prefix("*.") {
            Some(name) => (true, name.to_owned()),
            None => (false, host),
        };
        let valid_label = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if name.is_empty() || !name.split('.').all(valid_label) {
            return None;
        }
        Some(if wildcard {
            HostPattern::Subdomains(format!(".{name}"))
        } else {
            HostPattern::Exact(name)
        })
    }

    /// Whether `host` (a URL's host: a name, or an IP literal with or
    /// without brackets) is one this pattern names.
    pub fn matches(&self, host: &str) -> bool {
        let host = normalize_host(host);
        match self {
            HostPattern::Exact(name) => *name == host,
            HostPattern::Subdomains(domain) => host
                .strip_suffix(domain.as_str())
                .is_some_and(|prefix| !prefix.is_empty()),
            HostPattern::Ip(ip) => host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|h| h == *ip),
            HostPattern::Any => host.parse::<IpAddr>().is_err() && !host.starts_with('['),
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(h) => f.write_str(h),
            HostPattern::Subdomains(d) => write!(f, "*{d}"),
            HostPattern::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            HostPattern::Ip(ip) => write!(f, "{ip}"),
            HostPattern::Any => f.write_str("*"),
        }
    }
}

fn normalize_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_wildcards_and_literals_are_read_and_matched() {
        let exact = HostPattern::parse("Registry.Internal.").unwrap();
        assert_eq!(exact.to_string(), "registry.internal");
        assert!(exact.matches("registry.internal"));
        assert!(exact.matches("REGISTRY.internal."));
        assert!(!exact.matches("registry.internal.evil.com"));
        let wild = HostPattern::parse("*.corp.example").unwrap();
        assert!(wild.matches("a.corp.example"));
        assert!(!wild.matches("corp.example"));
        let v6 = HostPattern::parse("[::1]").unwrap();
        assert_eq!(v6, HostPattern::Ip("::1".parse().unwrap()));
        assert!(v6.matches("[::1]"));
        assert!(!HostPattern::Any.matches("10.0.0.1"));
        assert!(HostPattern::parse("bad host").is_none());
        assert!(HostPattern::parse("").is_none());
    }
}
