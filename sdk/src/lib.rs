//! Write connectors for the CUBE integration host.
//!
//! A connector is a WebAssembly component that connects CUBE to one kind of
//! remote system. The host runs it in a sandbox: a fresh instance per call,
//! under a deadline and a memory cap, reaching only the destinations an admin
//! granted. This crate gives you the contract (the `cube:connector` WIT
//! world) as Rust types, a trait to implement, and helpers for what every
//! connector does: typed configuration, HTTP with JSON, records, logging and
//! a small persistent state.
//!
//! ```
//! use cube_connector_sdk::prelude::*;
//!
//! #[derive(serde::Deserialize)]
//! struct Config {
//!     base_url: String,
//!     token: String,
//! }
//!
//! struct Todos;
//!
//! impl Connector for Todos {
//!     type Config = Config;
//!
//!     fn info() -> ConnectorInfo {
//!         ConnectorInfo::builder("todos", "Todos", "0.1.0")
//!             .description("Reads to-do items from a REST API.")
//!             .config_schema(json!({
//!                 "type": "object",
//!                 "required": ["base_url", "token"],
//!                 "properties": {
//!                     "base_url": {"type": "string", "format": "uri"},
//!                     "token": {"type": "string", "writeOnly": true}
//!                 }
//!             }))
//!             .http("https://*")
//!             .features(Features::SYNC)
//!             .build()
//!     }
//!
//!     fn test_connection(config: Config) -> Result<String> {
//!         http::get(format!("{}/me", config.base_url))
//!             .bearer(&config.token)
//!             .send()?
//!             .error_for_status()?;
//!         Ok("Connected".into())
//!     }
//!
//!     fn sync(config: Config, input: SyncInput) -> Result<SyncPage> {
//!         let todos: Vec<serde_json::Value> = http::get(format!("{}/todos", config.base_url))
//!             .bearer(&config.token)
//!             .send()?
//!             .error_for_status()?
//!             .json()?;
//!         let records = todos
//!             .iter()
//!             .map(|t| Record::builder("todo", t["id"].to_string()).fields(t.clone()).build())
//!             .collect();
//!         Ok(SyncPage::last(records))
//!     }
//! }
//!
//! cube_connector_sdk::export_connector!(Todos);
//! # fn main() {}
//! ```
//!
//! Build it with `cube plugin build` (or `cargo build --target
//! wasm32-unknown-unknown` and `wasm-tools component new`).
//!
//! # Testing without WebAssembly
//!
//! The crate compiles natively too. There, the host's imports are replaced by
//! [`testing`] doubles: you answer HTTP requests with a closure, and read
//! what was logged and stored. So connector logic is tested with plain
//! `cargo test`, and the real sandbox is used for integration tests.

extern crate self as cube_connector_sdk;

pub mod connector;
pub mod encode;
pub mod error;
pub mod http;
pub mod info;
pub mod ldap;
pub mod log;
pub mod mapping;
pub mod records;
pub mod state;
mod sys;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod time;

/// The generated bindings of the `cube:connector` world.
#[allow(clippy::too_many_arguments)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "connector",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_world",
        default_bindings_module: "cube_connector_sdk::bindings",
        runtime_path: "cube_connector_sdk::__private::wit_bindgen::rt",
        additional_derives: [PartialEq],
    });
}

/// The contract's types.
pub mod types {
    pub use crate::bindings::cube::connector::types::{
        Capabilities, Change, ChangeOperation, Choice, ConnectorError, ConnectorInfo, Features,
        Header, PushResult, RateLimit, Record, SyncMode, SyncPage, SyncRequest, WebhookOutcome,
        WebhookRequest, WebhookResponse,
    };
}

pub use connector::{Connector, SyncInput};
pub use error::{Error, Result};
pub use serde_json::json;

/// Everything a connector usually needs, in one `use`.
pub mod prelude {
    pub use crate::connector::{Connector, SyncInput};
    pub use crate::error::{Error, Result};
    pub use crate::http;
    pub use crate::ldap::{self, EntryExt};
    pub use crate::records::RecordBuilder;
    pub use crate::types::{
        Change, ChangeOperation, Choice, ConnectorInfo, Features, PushResult, Record, SyncMode,
        SyncPage, WebhookOutcome, WebhookRequest, WebhookResponse,
    };
    pub use crate::{log, state};
    pub use serde_json::json;
}

#[doc(hidden)]
pub mod __private {
    pub use crate::connector::dispatch;
    pub use wit_bindgen;
}
