//! The admin's settings for the host's own outbound HTTP, shared by the
//! commands that make such requests (`cube serve`, `cube plugin install`).

use clap::Args;

use crate::net::{Outbound, OutboundSettings};

#[derive(Args, Clone, Debug, Default)]
pub struct NetworkArgs {
    /// A host on your own network that the host itself may reach (a
    /// registry, a webhook receiver): a name, `*.domain` or an IP address.
    /// Repeat it, or separate with commas. Without it, registries, package
    /// URLs and webhook receivers must be on public addresses. Connectors
    /// are not affected: their grants decide.
    #[arg(
        long = "allow-private-host",
        env = "CUBE_ALLOW_PRIVATE_HOSTS",
        value_delimiter = ',',
        value_name = "HOST"
    )]
    pub allow_private_hosts: Vec<String>,
    /// A proxy for the host's own requests (http://proxy.example:3128). The
    /// HTTP_PROXY and HTTPS_PROXY variables are not used.
    #[arg(long, env = "CUBE_OUTBOUND_PROXY", value_name = "URL")]
    pub outbound_proxy: Option<String>,
}

impl NetworkArgs {
    pub fn outbound(&self) -> anyhow::Result<Outbound> {
        let settings =
            OutboundSettings::parse(&self.allow_private_hosts, self.outbound_proxy.as_deref())
                .map_err(anyhow::Error::msg)?;
        Ok(Outbound::new(&settings))
    }
}
