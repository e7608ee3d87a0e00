//! The Jira connector: work orders to and from Jira issues, both ways,
//! on Jira Cloud (REST API v3) and Jira Data Center (REST API v2).
//!
//! - `config`: the settings, their schema, the status, priority and field
//!   mappings.
//! - `client`: requests with the edition's path and authentication, and
//!   Jira's errors in words an admin can act on.
//! - `issues`: issues and comments as records.
//! - `sync`: reading changed issues page by page, resumably.
//! - `push`: creating, updating, transitioning, commenting, deleting.
//! - `webhook`: Jira's webhook events as records.
//! - `check`: the connection test and the wizard's lists.
//! - `adf`, `time`: Atlassian Document Format and Jira's timestamps.
//!
//! Conflicts are the host's: a record carries the issue's `updated` as its
//! version and `updated_at` in milliseconds, and the host keeps, field by
//! field, whichever side changed last (docs/decisions/0011).

pub mod adf;
pub mod check;
pub mod client;
pub mod config;
pub mod issues;
pub mod push;
pub mod sync;
pub mod time;
pub mod webhook;

use cube_connector_sdk::prelude::*;

pub use config::Config;

pub struct JiraConnector;

impl Connector for JiraConnector {
    type Config = Config;

    fn info() -> ConnectorInfo {
        ConnectorInfo::builder("jira", "Jira", env!("CARGO_PKG_VERSION"))
            .description(
                "Work orders and Jira issues kept in step both ways: fields, status through the \
                 workflow's transitions, priority and comments, on Jira Cloud or Data Center.",
            )
            .config_schema(config::schema())
            .http("https://*")
            .features(Features::SYNC | Features::PUSH | Features::WEBHOOKS)
            .build()
    }

    fn test_connection(config: Config) -> Result<String> {
        check::test_connection(&config)
    }

    fn choices(config: serde_json::Value, field: &str) -> Result<Vec<Choice>> {
        check::choices(config, field)
    }

    fn sync(config: Config, input: SyncInput) -> Result<SyncPage> {
        sync::sync(&client::Jira::new(&config)?, input)
    }

    fn push(config: Config, change: Change) -> Result<PushResult> {
        push::push(&client::Jira::new(&config)?, change)
    }

    fn handle_webhook(config: Config, request: WebhookRequest) -> Result<WebhookOutcome> {
        webhook::handle(&client::Jira::new(&config)?, request)
    }
}

cube_connector_sdk::export_connector!(JiraConnector);
