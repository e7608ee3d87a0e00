//! The ServiceNow connector: work orders to and from ServiceNow incidents,
//! both ways, through the Table API (`/api/now/table/incident`).
//!
//! - `config`: the settings, their schema (the wizard's steps), the state
//!   and priority mappings.
//! - `client`: basic auth or an OAuth2 token (password grant, cached in the
//!   integration's state, fetched again on a 401), and ServiceNow's error
//!   answers in words an admin can act on.
//! - `incidents`: incidents and their journal comments as records.
//! - `sync`: changed incidents page by page (`sysparm_offset`), resumably.
//! - `push`: creating, updating (state, close fields), commenting.
//! - `check`: the connection test and the assignment groups the wizard offers.
//! - `time`: ServiceNow's `YYYY-MM-DD HH:MM:SS` (UTC) timestamps.
//!
//! Conflicts are the host's: a record carries the incident's `sys_mod_count`
//! as its version and `sys_updated_on` as `updated_at` in milliseconds
//! (docs/decisions/0011).

pub mod check;
pub mod client;
pub mod config;
pub mod incidents;
pub mod push;
pub mod sync;
pub mod time;

use cube_connector_sdk::prelude::*;

pub use config::Config;

pub struct ServiceNowConnector;

impl Connector for ServiceNowConnector {
    type Config = Config;

    fn info() -> ConnectorInfo {
        ConnectorInfo::builder("servicenow", "ServiceNow", env!("CARGO_PKG_VERSION"))
            .description(
                "Work orders and ServiceNow incidents kept in step both ways through the Table \
                 API: title, description, state, priority, due date and comments.",
            )
            .config_schema(config::schema())
            .http("https://*")
            .features(Features::SYNC | Features::PUSH)
            .build()
    }

    fn test_connection(config: Config) -> Result<String> {
        check::test_connection(&config)
    }

    fn choices(config: serde_json::Value, field: &str) -> Result<Vec<Choice>> {
        check::choices(config, field)
    }

    fn sync(config: Config, input: SyncInput) -> Result<SyncPage> {
        sync::sync(&client::ServiceNow::new(&config)?, input)
    }

    fn push(config: Config, change: Change) -> Result<PushResult> {
        push::push(&client::ServiceNow::new(&config)?, change)
    }
}

cube_connector_sdk::export_connector!(ServiceNowConnector);
