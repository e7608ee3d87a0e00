//! Outbound connections: one address policy for every HTTP client.
//!
//! Connectors' requests (the sandbox's `http` capability) and the host's
//! own (registries, installs from a URL, outbound webhooks) go out through
//! clients built here, so they refuse the same addresses the same way: a
//! name is checked on what it resolves to, in the client's resolver; an IP
//! literal on the URL, on the first request and on each redirect; and no
//! proxy is taken from the environment. What differs is only which hosts
//! may reach private addresses: a connector's grants, or the admin's
//! `--allow-private-host` list for the host itself.

pub mod address;
mod client;
mod host_pattern;
mod policy;

pub use client::{
    DOWNLOAD_TIMEOUT, GuardedClient, Outbound, OutboundSettings, WEBHOOK_TIMEOUT, builder,
};
pub use host_pattern::HostPattern;
pub use policy::{AddressDenied, AddressPolicy, Remedy, denial_in};
