//! Building the connector's self-description.
//!
//! The host reads a connector's [`ConnectorInfo`] when it is installed and
//! whenever it is inspected, and acts on it: it shows the name and
//! description, generates the configuration form from the schema, asks the
//! admin to grant the destinations requested, and offers only the features
//! declared. [`ConnectorInfo::builder`] starts from a description that asks
//! for nothing (an empty object schema, no destinations, no features); add
//! what the connector needs.
//!
//! ```
//! use cube_connector_sdk::prelude::*;
//!
//! let info = ConnectorInfo::builder("jira", "Jira", "1.4.0")
//!     .description("Syncs Jira issues with work orders, both ways.")
//!     .config_schema(json!({
//!         "type": "object",
//!         "required": ["site", "email", "api_token"],
//!         "properties": {
//!             "site": {"type": "string", "format": "uri", "x-cube-step": "Site"},
//!             "email": {"type": "string", "x-cube-step": "Credentials"},
//!             "api_token": {"type": "string", "writeOnly": true, "x-cube-step": "Credentials"}
//!         }
//!     }))
//!     .http("https://*.atlassian.net")
//!     .features(Features::SYNC | Features::PUSH)
//!     .build();
//!
//! assert_eq!(info.capabilities.http, ["https://*.atlassian.net"]);
//! assert!(info.features.contains(Features::PUSH));
//! assert!(!info.features.contains(Features::WEBHOOKS));
//! ```

use crate::types::{Capabilities, ConnectorInfo, Features};

impl ConnectorInfo {
    /// Starts a description with the connector's id, display name and version.
    ///
    /// The id is stable across versions, lowercase letters, digits and
    /// dashes (`active-directory`); the version is semver, often
    /// `env!("CARGO_PKG_VERSION")`.
    pub fn builder(id: &str, name: &str, version: &str) -> InfoBuilder {
        InfoBuilder {
            info: ConnectorInfo {
                id: id.to_owned(),
                name: name.to_owned(),
                version: version.to_owned(),
                description: String::new(),
                config_schema: r#"{"type":"object"}"#.to_owned(),
                capabilities: Capabilities {
                    http: Vec::new(),
                    ldap: Vec::new(),
                },
                features: Features::empty(),
            },
        }
    }
}

/// Builds a [`ConnectorInfo`]; start one with [`ConnectorInfo::builder`].
#[must_use]
pub struct InfoBuilder {
    info: ConnectorInfo,
}

impl InfoBuilder {
    /// One or two sentences on what the connector connects and how, shown
    /// to admins choosing a connector.
    pub fn description(mut self, text: &str) -> Self {
        self.info.description = text.to_owned();
        self
    }

    /// The JSON Schema of the configuration. Mark secrets `"writeOnly": true`.
    ///
    /// The admin's form shows the properties in the order written here;
    /// `"x-cube-step": "Credentials"` groups them into steps of the setup
    /// wizard, and `title`/`description` label them (see
    /// `docs/connector-authors.md`).
    pub fn config_schema(mut self, schema: serde_json::Value) -> Self {
        self.info.config_schema = schema.to_string();
        self
    }

    /// Asks for an HTTP destination pattern (`https://api.example.com`,
    /// `https://*.example.com`, `https://*`). Call it once per pattern.
    ///
    /// These are requests: the admin grants concrete destinations per
    /// integration. A connector whose server comes from its configuration
    /// asks for `https://*`, and the admin grants the one host configured.
    pub fn http(mut self, pattern: &str) -> Self {
        self.info.capabilities.http.push(pattern.to_owned());
        self
    }

    /// Asks for an LDAP server pattern (`ldaps://*`), requested and granted
    /// like [`http`](Self::http) destinations.
    pub fn ldap(mut self, pattern: &str) -> Self {
        self.info.capabilities.ldap.push(pattern.to_owned());
        self
    }

    /// What the connector implements, combined with `|`
    /// (`Features::SYNC | Features::PUSH`); it replaces what was set
    /// before. Declare exactly the [`Connector`](crate::Connector) methods
    /// you implemented: the host offers only these.
    pub fn features(mut self, features: Features) -> Self {
        self.info.features = features;
        self
    }

    /// Finishes the description.
    pub fn build(self) -> ConnectorInfo {
        self.info
    }
}
