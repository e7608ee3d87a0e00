//! The generic SOAP connector: records from any operation of a service
//! described by a WSDL 1.1, in SOAP 1.1 or 1.2.
//!
//! - `xml`: a bounded element tree on quick-xml, namespaces resolved.
//! - `wsdl`: operations, messages, bindings (`soapAction`, version) and
//!   addresses from the description.
//! - `envelope`: the body template filled in and wrapped, the envelope
//!   and the HTTP headers of each version.
//! - `fault`: SOAP Faults as errors naming their code and reason.
//! - `wssec`: WS-Security UsernameToken, PasswordText and PasswordDigest
//!   (and where its nonce and time come from without clock or randomness).
//! - `extract`: records at an element path.
//! - `config`, `client`: the settings, and sync, the connection test and
//!   the wizard's list of operations.

pub mod client;
pub mod config;
pub mod envelope;
pub mod extract;
pub mod fault;
pub mod version;
pub mod wsdl;
pub mod wssec;
pub mod xml;

use cube_connector_sdk::prelude::*;

pub use config::Config;

pub struct SoapConnector;

impl Connector for SoapConnector {
    type Config = Config;

    fn info() -> ConnectorInfo {
        ConnectorInfo::builder("soap", "SOAP", env!("CARGO_PKG_VERSION"))
            .description(
                "Records from any SOAP 1.1 or 1.2 web service: import its WSDL, pick an \
                 operation, say where the records are in the response. WS-Security \
                 UsernameToken and HTTP basic authentication.",
            )
            .config_schema(config::schema())
            .http("https://*")
            .features(Features::SYNC)
            .build()
    }

    fn test_connection(config: Config) -> Result<String> {
        client::test_connection(&config)
    }

    fn choices(config: serde_json::Value, field: &str) -> Result<Vec<Choice>> {
        client::choices(config, field)
    }

    fn sync(config: Config, input: SyncInput) -> Result<SyncPage> {
        client::sync(&config, input)
    }
}

cube_connector_sdk::export_connector!(SoapConnector);
