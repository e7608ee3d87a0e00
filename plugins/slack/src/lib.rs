//! The Slack connector: work order events as Block Kit messages in a
//! channel, and a `/workorder` slash command to create and look up work
//! orders.
//!
//! - `config`: the settings and their schema.
//! - `client`: the Web API (`auth.test`, `chat.postMessage`,
//!   `chat.update`) and incoming webhooks, with Slack's errors in words an
//!   admin can act on.
//! - `blocks`: Block Kit messages within Slack's limits.
//! - `push`: work orders and comments as messages, edited in place.
//! - `command`: the slash command, answered from `state`.

pub mod blocks;
pub mod client;
pub mod command;
pub mod config;
pub mod push;

use cube_connector_sdk::prelude::*;
use serde_json::Value;

pub use config::Config;
use config::Mode;

pub struct SlackConnector;

impl Connector for SlackConnector {
    type Config = Config;

    fn info() -> ConnectorInfo {
        ConnectorInfo::builder("slack", "Slack", env!("CARGO_PKG_VERSION"))
            .description(
                "Work order notifications in a Slack channel (Block Kit cards edited in place, \
                 comments in threads), and a /workorder slash command to create and look up work orders.",
            )
            .config_schema(config::schema())
            .http("https://slack.com")
            .http("https://hooks.slack.com")
            .features(Features::PUSH | Features::WEBHOOKS)
            .build()
    }

    fn test_connection(config: Config) -> Result<String> {
        match config.mode {
            Mode::Bot => {
                let me = client::call(&config, "auth.test", &json!({}))?;
                let text = |name: &str| {
                    me.get(name)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                let mut said = format!(
                    "Signed in to Slack workspace {} as {}",
                    text("team"),
                    text("user")
                );
                match config.channel.trim() {
                    "" => said.push('.'),
                    channel => said.push_str(&format!(
                        "; messages go to channel {channel} (invite the app there: /invite @{})",
                        text("user")
                    )),
                }
                Ok(said)
            }
            Mode::Webhook => {
                client::probe_hook(&config)?;
                Ok("The incoming webhook exists (checked without posting).".into())
            }
        }
    }

    fn push(config: Config, change: Change) -> Result<PushResult> {
        push::push(&config, change)
    }

    fn handle_webhook(_config: Config, request: WebhookRequest) -> Result<WebhookOutcome> {
        command::handle(request)
    }
}

cube_connector_sdk::export_connector!(SlackConnector);
