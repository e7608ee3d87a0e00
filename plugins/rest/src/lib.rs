//! The generic REST connector: records from any JSON REST API, and local
//! changes written back, configured in the form rather than in code.
//!
//! - `config`: the settings and their schema (the wizard's steps).
//! - `client`: the authentication (none, basic, bearer, API key, OAuth2
//!   client credentials with the token kept until it runs out) and the
//!   answers as JSON or as errors the host's retries understand.
//! - `sync`: the list endpoint page by page (page numbers, offsets, a
//!   cursor in the body, or `Link` headers), records found by JSON pointers,
//!   and the incremental parameter fed from the cursor.
//! - `push`: creates and updates rendered from minijinja templates.
//! - `check`: the connection test.

pub mod check;
pub mod client;
pub mod config;
pub mod push;
pub mod sync;

use cube_connector_sdk::prelude::*;

pub use config::Config;

pub struct RestConnector;

impl Connector for RestConnector {
    type Config = Config;

    fn info() -> ConnectorInfo {
        ConnectorInfo::builder("rest", "REST API", env!("CARGO_PKG_VERSION"))
            .description(
                "Records from any JSON REST API, and local changes written back: the address, \
                 authentication, pagination, where the records are and how a push looks are \
                 all settings.",
            )
            .config_schema(config::schema())
            .http("https://*")
            .features(Features::SYNC | Features::PUSH)
            .build()
    }

    fn test_connection(config: Config) -> Result<String> {
        check::test_connection(&config)
    }

    fn sync(config: Config, input: SyncInput) -> Result<SyncPage> {
        sync::sync(&client::Client::new(&config)?, input)
    }

    fn push(config: Config, change: Change) -> Result<PushResult> {
        push::push(&client::Client::new(&config)?, change)
    }
}

cube_connector_sdk::export_connector!(RestConnector);
