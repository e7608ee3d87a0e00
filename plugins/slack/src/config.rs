//! The connector's configuration and its JSON Schema (the host turns it
//! into the setup form and the wizard's steps).

use cube_connector_sdk::config::{is_http_url, required};
use cube_connector_sdk::prelude::*;
use serde::Deserialize;
use serde_json::Value;

/// Slack's Web API.
pub const DEFAULT_API_BASE: &str = "https://slack.com/api";

/// How messages reach Slack.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum Mode {
    /// A bot token (`xoxb-`) and a channel: `chat.postMessage`, messages
    /// edited in place with `chat.update`, comments in the thread.
    #[default]
    #[serde(rename = "bot")]
    Bot,
    /// An incoming webhook URL: one message per event, no edits, no threads.
    #[serde(rename = "webhook")]
    Webhook,
}

/// Which work order updates notify.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum Updates {
    /// Every change.
    #[default]
    #[serde(rename = "all")]
    All,
    /// Only changes of the status.
    #[serde(rename = "status")]
    Status,
    /// None.
    #[serde(rename = "none")]
    None,
}

fn yes() -> bool {
    true
}

fn default_api_base() -> String {
    DEFAULT_API_BASE.into()
}

#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub bot_token: String,
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub webhook_url: String,
    #[serde(default = "default_api_base")]
    pub api_base_url: String,
    #[serde(default = "yes")]
    pub notify_created: bool,
    #[serde(default)]
    pub notify_updates: Updates,
    #[serde(default = "yes")]
    pub notify_comments: bool,
}

impl Config {
    /// The Web API's base, without a trailing slash.
    pub fn api_base(&self) -> Result<String> {
        let base = self.api_base_url.trim().trim_end_matches('/');
        let base = if base.is_empty() {
            DEFAULT_API_BASE
        } else {
            base
        };
        if !is_http_url(base) {
            return Err(Error::config(format!(
                "the Slack API URL `{base}` is not an http(s) address; leave it empty for {DEFAULT_API_BASE}"
            )));
        }
        Ok(base.to_owned())
    }

    pub fn token(&self) -> Result<&str> {
        required(
            &self.bot_token,
            "no bot token is configured: copy the Bot User OAuth Token (xoxb-...) from your Slack app's OAuth & Permissions page",
        )
    }

    pub fn channel(&self) -> Result<&str> {
        required(
            &self.channel,
            "no channel is configured: use the channel's id (C0123456789, under the channel's name, About)",
        )
    }

    pub fn hook(&self) -> Result<&str> {
        let url = required(
            &self.webhook_url,
            "no incoming webhook URL is configured: add one under your Slack app's Incoming Webhooks",
        )?;
        if !is_http_url(url) {
            return Err(Error::config(
                "the incoming webhook URL is not an http(s) address; it looks like https://hooks.slack.com/services/T.../B.../...",
            ));
        }
        Ok(url)
    }
}

/// The configuration schema: the connection (checked with `auth.test`, or
/// by probing the incoming webhook), then what notifies.
///
/// No `x-cube-webhook`: the wizard would generate the endpoint's secret,
/// but Slack signs with a signing secret of its own that the admin copies
/// into CUBE, so the slash command's endpoint is added on the integration's
/// page (see docs/connectors/slack.md).
pub fn schema() -> Value {
    json!({
        "type": "object",
        "required": ["mode"],
        "x-cube-checks": ["Connection"],
        "properties": {
            "mode": {
                "enum": ["bot", "webhook"], "default": "bot", "title": "Send with",
                "description": "bot: a Slack app's bot token and a channel; messages are edited in place as the work order changes and comments go to the message's thread. webhook: an incoming webhook URL; one message per event.",
                "x-cube-step": "Connection"
            },
            "bot_token": {
                "type": "string", "writeOnly": true, "title": "Bot token",
                "description": "bot mode: the Bot User OAuth Token (xoxb-...) from the app's OAuth & Permissions page; the app needs the chat:write scope.",
                "x-cube-step": "Connection"
            },
            "channel": {
                "type": "string", "title": "Channel",
                "description": "bot mode: the channel's id (C0123456789: the channel's name, About, at the bottom). Invite the app to it: /invite @your-app.",
                "x-cube-step": "Connection"
            },
            "webhook_url": {
                "type": "string", "writeOnly": true, "format": "uri", "title": "Incoming webhook URL",
                "description": "webhook mode: https://hooks.slack.com/services/... from the app's Incoming Webhooks page. It is a secret: anyone with it can post to the channel.",
                "x-cube-step": "Connection"
            },
            "api_base_url": {
                "type": "string", "format": "uri", "default": DEFAULT_API_BASE, "title": "Slack API URL",
                "description": "Leave as is. Only for a proxy in front of Slack (some Enterprise Grid setups) or a test server.",
                "x-cube-step": "Connection"
            },
            "notify_created": {
                "type": "boolean", "default": true, "title": "New work orders",
                "description": "Post a message when a work order is created.",
                "x-cube-step": "Notifications"
            },
            "notify_updates": {
                "enum": ["all", "status", "none"], "default": "all", "title": "Changes",
                "description": "all: every change. status: status changes only. none: no messages for changes. In bot mode an existing message is still kept up to date (edits do not notify anyone).",
                "x-cube-step": "Notifications"
            },
            "notify_comments": {
                "type": "boolean", "default": true, "title": "Comments",
                "description": "Post comments written in CUBE (in bot mode, in the work order's thread).",
                "x-cube-step": "Notifications"
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_checks() {
        let config: Config = serde_json::from_value(json!({"mode": "bot"})).unwrap();
        assert_eq!(config.api_base().unwrap(), DEFAULT_API_BASE);
        assert!(config.notify_created && config.notify_comments);
        assert_eq!(config.notify_updates, Updates::All);
        assert!(config.token().unwrap_err().message().contains("xoxb"));
        assert!(config.channel().is_err());
        let config: Config = serde_json::from_value(json!({
            "mode": "webhook", "webhook_url": "hooks.slack.com/x", "api_base_url": "http://127.0.0.1:9/api/"
        }))
        .unwrap();
        assert_eq!(config.api_base().unwrap(), "http://127.0.0.1:9/api");
        assert!(config.hook().is_err());
        assert!(schema()["properties"]["webhook_url"]["writeOnly"] == true);
    }
}
