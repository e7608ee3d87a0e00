//! HTTP clients that keep to an [`AddressPolicy`].
//!
//! Every client the host builds comes from [`builder`]: the policy's
//! resolver, no proxy from the environment (`HTTP_PROXY` and friends would
//! send the request to a proxy that resolves names itself, past the
//! resolver), and redirects either off or checked hop by hop.
//!
//! The host's own clients (downloads from registries and URLs, outbound
//! webhooks) are [`GuardedClient`]s, which also check an IP literal in the
//! first URL. Their policy is the admin's [`OutboundSettings`]: public
//! addresses, plus the private hosts named with `--allow-private-host`.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::HostPattern;
use super::policy::{AddressDenied, AddressPolicy, Remedy};

/// A client builder that keeps to `policy`, following at most `redirects`
/// redirects (each one checked), through `proxy` when one is given.
pub fn builder(
    policy: &Arc<AddressPolicy>,
    proxy: Option<&Url>,
    redirects: usize,
) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder()
        .dns_resolver(policy.resolver())
        .redirect(redirect_policy(policy.clone(), redirects));
    match proxy {
        Some(url) => builder
            .proxy(reqwest::Proxy::all(url.as_str()).expect("a proxy URL that parsed is usable")),
        None => builder.no_proxy(),
    }
}

fn redirect_policy(policy: Arc<AddressPolicy>, max: usize) -> reqwest::redirect::Policy {
    if max == 0 {
        return reqwest::redirect::Policy::none();
    }
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > max {
            let error = format!("more than {max} redirects");
            return attempt.error(error);
        }
        match policy.check_url(attempt.url()) {
            Ok(()) => attempt.follow(),
            Err(denied) => attempt.error(denied),
        }
    })
}

/// What the admin configured for the host's own outbound HTTP.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutboundSettings {
    /// Names (or IP literals) on the host's own network its clients may
    /// reach: an internal registry, a webhook receiver on the LAN.
    pub private_hosts: Vec<HostPattern>,
    /// A proxy every host-side request goes through; none by default.
    pub proxy: Option<Url>,
}

impl OutboundSettings {
    /// Reads `--allow-private-host` values and `--outbound-proxy`.
    pub fn parse(private_hosts: &[String], proxy: Option<&str>) -> Result<Self, String> {
        let private_hosts = private_hosts
            .iter()
            .map(|host| match HostPattern::parse(host.trim()) {
                Some(HostPattern::Any) => Err(format!(
                    "--allow-private-host `{host}`: name the hosts (`*` would let every name reach the host's own network)"
                )),
                Some(pattern) => Ok(pattern),
                None => Err(format!(
                    "--allow-private-host `{host}` is not a host name, `*.domain` or an IP address"
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let proxy = proxy
            .map(|text| {
                let url = Url::parse(text)
                    .map_err(|e| format!("--outbound-proxy `{text}` is not a URL: {e}"))?;
                if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                    return Err(format!(
                        "--outbound-proxy `{text}`: give an http:// or https:// proxy URL"
                    ));
                }
                reqwest::Proxy::all(url.as_str())
                    .map_err(|e| format!("--outbound-proxy `{text}`: {e}"))?;
                Ok(url)
            })
            .transpose()?;
        Ok(Self {
            private_hosts,
            proxy,
        })
    }

    /// The policy of the host's own clients. The proxy, which the admin
    /// named, is reachable even on a private address.
    pub fn policy(&self) -> AddressPolicy {
        let mut hosts = self.private_hosts.clone();
        if let Some(proxy) = self.proxy.as_ref().and_then(|p| p.host_str())
            && let Some(pattern) = HostPattern::parse(proxy)
        {
            hosts.push(pattern);
        }
        AddressPolicy::with_private_hosts(hosts, Remedy::HostSetting)
    }
}

/// A client of the host itself that checks every URL it is given.
#[derive(Clone, Debug)]
pub struct GuardedClient {
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
}

impl GuardedClient {
    /// A client on `settings`, with `timeout` per request and up to
    /// `redirects` redirects.
    pub fn new(settings: &OutboundSettings, timeout: Duration, redirects: usize) -> Self {
        let policy = Arc::new(settings.policy());
        let client = builder(&policy, settings.proxy.as_ref(), redirects)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("cube-integration-host/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the host's HTTP client configuration is valid");
        Self { client, policy }
    }

    /// A request to `url`, refused at once when `url` names an address
    /// the policy does not reach.
    pub fn request(
        &self,
        method: reqwest::Method,
        url: &Url,
    ) -> Result<reqwest::RequestBuilder, AddressDenied> {
        self.policy.check_url(url)?;
        Ok(self.client.request(method, url.clone()))
    }
}

/// How long one registry or package download may take.
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an outbound webhook's receiver may take to answer.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(15);

/// The host's own outbound clients, one per kind of use.
#[derive(Clone, Debug)]
pub struct Outbound {
    /// Registries and packages at a URL: 60 s, five redirects.
    pub downloads: GuardedClient,
    /// Outbound webhooks: 15 s, no redirects (a receiver that moved is
    /// updated by an admin).
    pub webhooks: GuardedClient,
}

impl Outbound {
    pub fn new(settings: &OutboundSettings) -> Self {
        Self {
            downloads: GuardedClient::new(settings, DOWNLOAD_TIMEOUT, 5),
            webhooks: GuardedClient::new(settings, WEBHOOK_TIMEOUT, 0),
        }
    }
}

impl Default for Outbound {
    /// Public addresses only, no proxy.
    fn default() -> Self {
        Self::new(&OutboundSettings::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_name_hosts_and_an_explicit_proxy() {
        let settings = OutboundSettings::parse(
            &["registry.internal".into(), "10.1.2.3".into()],
            Some("http://proxy.internal:3128"),
        )
        .unwrap();
        let policy = settings.policy();
        assert!(policy.permits("registry.internal", "10.0.0.1".parse().unwrap()));
        assert!(policy.permits("proxy.internal", "10.0.0.2".parse().unwrap()));
        assert!(!policy.permits("other.internal", "10.0.0.1".parse().unwrap()));
        for bad in ["*", "bad host", "http://x"] {
            let err = OutboundSettings::parse(&[bad.into()], None).unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
        assert!(OutboundSettings::parse(&[], Some("socks9://x")).is_err());
    }
}
