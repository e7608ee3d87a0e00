//! Building the connector's self-description.

use crate::types::{Capabilities, ConnectorInfo, Features};

impl ConnectorInfo {
    /// Starts a description with the connector's id, display name and version.
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

/// Builds a [`ConnectorInfo`].
#[must_use]
pub struct InfoBuilder {
    info: ConnectorInfo,
}

impl InfoBuilder {
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
    /// `https://*.example.com`, `https://*`).
    pub fn http(mut self, pattern: &str) -> Self {
        self.info.capabilities.http.push(pattern.to_owned());
        self
    }

    /// Asks for an LDAP server pattern (`ldaps://*`).
    pub fn ldap(mut self, pattern: &str) -> Self {
        self.info.capabilities.ldap.push(pattern.to_owned());
        self
    }

    pub fn features(mut self, features: Features) -> Self {
        self.info.features = features;
        self
    }

    pub fn build(self) -> ConnectorInfo {
        self.info
    }
}
