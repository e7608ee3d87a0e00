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
//! # Where to start
//!
//! - [`Connector`] ([`connector`]) is the trait you implement: one method
//!   per export of the world, with the configuration already typed.
//!   [`export_connector!`] turns it into the component's exports.
//! - [`ConnectorInfo::builder`](types::ConnectorInfo::builder)
//!   ([`info`](mod@info)) describes the connector: its name, configuration
//!   schema, the destinations it asks for and the features it implements.
//! - [`http`] sends requests through the host, with JSON bodies and
//!   statuses mapped to errors the host knows how to retry.
//! - [`oauth`] keeps OAuth access tokens between calls and renews them.
//! - [`ldap`] binds to and searches directories, paged across sync calls.
//! - [`records`] builds the [`Record`](types::Record)s and
//!   [`SyncPage`](types::SyncPage)s a sync returns.
//! - [`error`](mod@error) holds [`Error`], whose case decides whether the
//!   host retries.
//! - [`state`] keeps small values between calls, since an instance keeps
//!   nothing; [`log`] writes the lines an admin reads in the sync log.
//! - [`config`](mod@config) checks configuration fields (required values,
//!   http(s) base addresses).
//! - [`mapping`] reads an admin's `ours = theirs` value mappings, [`time`]
//!   does calendar arithmetic without a clock, and [`encode`] does percent
//!   encoding, form bodies and base64.
//! - [`testing`] replaces the host in native tests.
//!
//! [`prelude`] imports the usual names at once; [`types`] lists the
//! contract's types.
//!
//! # Testing without WebAssembly
//!
//! The crate compiles natively too. There, the host's imports are replaced by
//! [`testing`] doubles: you answer HTTP requests with a closure, and read
//! what was logged and stored. So connector logic is tested with plain
//! `cargo test`, and the real sandbox is used for integration tests.

#![warn(missing_docs)]

extern crate self as cube_connector_sdk;

pub mod config;
pub mod connector;
pub mod encode;
pub mod error;
pub mod http;
pub mod info;
pub mod ldap;
pub mod log;
pub mod mapping;
pub mod oauth;
pub mod records;
pub mod stable_id;
pub mod state;
mod sys;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod time;

/// The generated bindings of the `cube:connector` world (`wit/`).
///
/// Connectors rarely name anything here: [`types`] re-exports the
/// contract's types, [`http`] and [`ldap`] the types of the host's imports,
/// and [`export_connector!`] implements [`Guest`](bindings::Guest), the
/// world's exports, for a [`Connector`]. The items carry the WIT's doc
/// comments; where the WIT has none (LDAP's `scope` and `entry`, the log
/// `level`, some record fields and enum cases), see the WIT files and the
/// modules that wrap them.
// Generated code: its docs come from the WIT, which is not ours to edit
// here, so the few undocumented WIT items must not fail the build.
#[allow(clippy::too_many_arguments, missing_docs)]
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

/// The contract's types: the values that cross between the host and a
/// connector, generated from `wit/types.wit`.
///
/// Structured payloads (the configuration, a record's fields) travel as
/// JSON text, so the contract stays small while connectors evolve. The SDK
/// adds constructors to these types elsewhere:
/// [`ConnectorInfo::builder`](types::ConnectorInfo::builder) in
/// [`info`](mod@info), [`Record::builder`](types::Record::builder) and the
/// [`SyncPage`](types::SyncPage) constructors in [`records`], and those of
/// [`ConnectorError`](types::ConnectorError) in [`error`](mod@error), where
/// it is called [`Error`].
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
///
/// ```
/// use cube_connector_sdk::prelude::*;
///
/// let page = SyncPage::last(vec![Record::builder("user", "42").build()]);
/// assert!(!page.has_more);
/// ```
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
