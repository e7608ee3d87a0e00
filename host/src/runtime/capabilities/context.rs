//! What a call may do: the grants, limits and secrets a caller gives it,
//! which each capability reads its part of ([`super::Capability::for_call`]).

use std::sync::Arc;

use super::denials::Denials;
use super::http::{HttpGrant, HttpRecording};
use super::ldap::{LdapGrant, LdapSessions};
use crate::runtime::limits::Limits;
use crate::runtime::scrub::Secrets;

/// Who is calling and what the call may do.
#[derive(Clone, Debug)]
pub struct CallContext {
    /// The integration the call is for: its `state` is this integration's.
    pub integration: String,
    pub http_grants: Arc<[HttpGrant]>,
    pub ldap_grants: Arc<[LdapGrant]>,
    pub limits: Limits,
    /// Values to scrub from the connector's log and errors.
    pub secrets: Secrets,
    /// The directory connections of this context's calls: a sync job keeps
    /// one context, so its calls share them (paged searches need that).
    pub ldap_sessions: LdapSessions,
    /// Destinations this context's calls were refused (for setup wizards).
    pub denials: Denials,
    /// HTTP exchanges kept, or answered, for `cube plugin test`.
    pub http_recording: Option<Arc<HttpRecording>>,
}

impl CallContext {
    /// A context with no grants, default limits and no secrets.
    pub fn new(integration: impl Into<String>) -> Self {
        Self {
            integration: integration.into(),
            http_grants: Arc::from([]),
            ldap_grants: Arc::from([]),
            limits: Limits::default(),
            secrets: Secrets::default(),
            ldap_sessions: LdapSessions::new(),
            denials: Denials::default(),
            http_recording: None,
        }
    }

    pub fn with_http_grants(mut self, grants: impl IntoIterator<Item = HttpGrant>) -> Self {
        self.http_grants = grants.into_iter().collect();
        self
    }

    pub fn with_ldap_grants(mut self, grants: impl IntoIterator<Item = LdapGrant>) -> Self {
        self.ldap_grants = grants.into_iter().collect();
        self
    }

    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn with_secrets(mut self, secrets: Secrets) -> Self {
        self.secrets = secrets;
        self
    }

    /// Records this context's HTTP exchanges, or answers them from a
    /// recording (see `capabilities::http::recording`).
    pub fn with_http_recording(mut self, recording: Arc<HttpRecording>) -> Self {
        self.http_recording = Some(recording);
        self
    }
}
