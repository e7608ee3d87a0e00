//! __TITLE__: work orders from webhooks.
//!
//! Made by `cube plugin new --template webhook`. Another system (a
//! monitoring tool, a form, a script) POSTs JSON to the integration's
//! webhook URL; each delivery becomes a work order, or updates the one it
//! made before. The host checks the signature (Standard Webhooks, with the
//! secret the wizard generates) and drops replays before the connector sees
//! anything, so this code only reads the payload:
//!
//! ```json
//! {"id": "alert-17", "title": "Pump 4 pressure low", "description": "...",
//!  "priority": "high", "resolved": false}
//! ```
//!
//! `src/tests.rs` delivers payloads and checks the records.

use cube_connector_sdk::prelude::*;
use serde::Deserialize;

/// The integration's settings (the schema in `info()` draws the form).
#[derive(Deserialize)]
pub struct Config {
    /// The priority of work orders whose payload names none.
    #[serde(default = "default_priority")]
    pub default_priority: String,
}

fn default_priority() -> String {
    "normal".into()
}

const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];

/// One delivery's payload.
#[derive(Deserialize)]
struct Payload {
    id: String,
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    priority: Option<String>,
    /// The sender says the matter is over: the work order is closed.
    #[serde(default)]
    resolved: bool,
}

pub struct __TYPE__;

impl Connector for __TYPE__ {
    type Config = Config;

    fn info() -> ConnectorInfo {
        ConnectorInfo::builder("__ID__", "__TITLE__", env!("CARGO_PKG_VERSION"))
            .description("__DESCRIPTION__")
            .config_schema(json!({
                "type": "object",
                "properties": {
                    "default_priority": {
                        "type": "string", "title": "Default priority",
                        "enum": PRIORITIES, "default": "normal"
                    }
                },
                // The setup adds a webhook endpoint with a generated secret
                // and shows the sender's admin what to paste.
                "x-cube-webhook": {
                    "scheme": "standard-webhooks",
                    "help": "In the sending system, add a webhook that POSTs JSON to the URL below, signed with the secret below (Standard Webhooks)."
                }
            }))
            .features(Features::WEBHOOKS)
            .build()
    }

    fn test_connection(config: Config) -> Result<String> {
        // Nothing to reach: deliveries come to us. Check the settings.
        if !PRIORITIES.contains(&config.default_priority.as_str()) {
            return Err(Error::config(format!(
                "default_priority must be one of {}, not `{}`",
                PRIORITIES.join(", "),
                config.default_priority
            )));
        }
        Ok("Ready for deliveries: send a test one from the other system".into())
    }

    fn handle_webhook(config: Config, request: WebhookRequest) -> Result<WebhookOutcome> {
        if !request.method.eq_ignore_ascii_case("POST") {
            return Err(Error::config(format!(
                "deliveries are POSTs, not {}",
                request.method
            )));
        }
        let payload: Payload = serde_json::from_slice(&request.body)
            .map_err(|e| Error::fatal(format!("the delivery is not the expected JSON: {e}")))?;
        if payload.id.trim().is_empty() || payload.title.trim().is_empty() {
            return Err(Error::fatal(
                "the delivery needs a non-empty `id` and `title`",
            ));
        }
        let priority = payload.priority.unwrap_or(config.default_priority);
        if !PRIORITIES.contains(&priority.as_str()) {
            return Err(Error::fatal(format!("unknown priority `{priority}`")));
        }
        let record = Record::builder("work-order", payload.id)
            .field("title", payload.title)
            .field("description", payload.description)
            .field("priority", priority)
            .field("status", if payload.resolved { "closed" } else { "open" })
            .build();
        Ok(WebhookOutcome {
            records: vec![record],
            response: None,
        })
    }
}

cube_connector_sdk::export_connector!(__TYPE__);

#[cfg(test)]
mod tests;
