//! __TITLE__: work orders to and from a JSON REST API.
//!
//! Made by `cube plugin new --template rest`. The API it expects is small
//! and common; change the paths and field names to yours:
//!
//! - `GET {base_url}/work-orders?page=N&per_page=M[&updated_since=T]`
//!   answers a JSON array of `{id, title, description, status, priority,
//!   updated_at}`; an empty or short page is the last one.
//! - `POST {base_url}/work-orders` creates one, `PUT .../{id}` updates it,
//!   `DELETE .../{id}` removes it; the answer is the item as stored.
//! - Every request carries `Authorization: Bearer <token>`.
//!
//! `src/tests.rs` shows each request the connector sends and what it makes
//! of the answers.

use cube_connector_sdk::prelude::*;
use serde::{Deserialize, Serialize};

/// The integration's settings, as the admin fills them in (the schema in
/// `info()` draws the form).
#[derive(Deserialize)]
pub struct Config {
    /// The API's root, like `https://tickets.example.com/api`.
    pub base_url: String,
    /// The API token (a secret: `writeOnly` in the schema).
    pub token: String,
}

/// Where a sync goes on from, kept by the host between calls and syncs.
#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
pub struct Cursor {
    /// The next page of this sync; absent once the sync is complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page: Option<u32>,
    /// Items changed at or after this time are read by an incremental sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// The newest `updated_at` seen in this sync so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<String>,
}

/// An item as the API returns it.
#[derive(Deserialize)]
struct Item {
    id: serde_json::Value,
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    priority: Option<String>,
    updated_at: String,
}

pub struct __TYPE__;

impl Connector for __TYPE__ {
    type Config = Config;

    fn info() -> ConnectorInfo {
        ConnectorInfo::builder("__ID__", "__TITLE__", env!("CARGO_PKG_VERSION"))
            .description("__DESCRIPTION__")
            .config_schema(json!({
                "type": "object",
                "required": ["base_url", "token"],
                "properties": {
                    "base_url": {
                        "type": "string", "format": "uri", "title": "API URL",
                        "description": "The API's root, like https://tickets.example.com/api"
                    },
                    "token": {"type": "string", "title": "API token", "writeOnly": true}
                }
            }))
            // What the connector may ever ask for; each integration is
            // granted its own server by the admin.
            .http("https://*")
            .http("http://*")
            .features(Features::SYNC | Features::PUSH)
            .build()
    }

    fn test_connection(config: Config) -> Result<String> {
        let items: Vec<serde_json::Value> = get(&config, 1, 1, None)?;
        Ok(format!(
            "Connected to {}: the token may read work orders ({} on the first page)",
            config.base_url,
            items.len()
        ))
    }

    fn sync(config: Config, input: SyncInput) -> Result<SyncPage> {
        let cursor: Cursor = match &input.cursor {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| Error::config(format!("unreadable cursor `{text}`: {e}")))?,
            None => Cursor::default(),
        };
        // A full sync reads everything; an incremental one what changed
        // since the last sync ended. Either resumes at its next page.
        let since = match input.mode {
            SyncMode::Full => None,
            SyncMode::Incremental => cursor.since.clone(),
        };
        let page = cursor.next_page.unwrap_or(1);
        let per_page = input.page_size.clamp(1, 100);
        let items: Vec<Item> = get(&config, page, per_page, since.as_deref())?;

        let mut newest = cursor.newest.clone();
        let mut records = Vec::with_capacity(items.len());
        for item in items.iter() {
            if newest.as_deref() < Some(item.updated_at.as_str()) {
                newest = Some(item.updated_at.clone());
            }
            records.push(record(item));
        }
        if items.len() as u32 == per_page {
            let next = Cursor {
                next_page: Some(page + 1),
                since: cursor.since,
                newest,
            };
            Ok(SyncPage::more(records, to_text(&next)))
        } else {
            // Complete: the next incremental sync starts from the newest
            // change seen (or where this one started, when nothing changed).
            let done = Cursor {
                next_page: None,
                since: newest.or(cursor.since),
                newest: None,
            };
            Ok(SyncPage::done(records, Some(to_text(&done))))
        }
    }

    fn push(config: Config, change: Change) -> Result<PushResult> {
        let fields: serde_json::Value = serde_json::from_str(&change.fields)?;
        let body = json!({
            "title": fields["title"],
            "description": fields["description"],
            "status": fields["status"],
            "priority": fields["priority"],
        });
        let collection = format!("{}/work-orders", config.base_url.trim_end_matches('/'));
        let request = match (&change.operation, &change.external_id) {
            (ChangeOperation::Delete, Some(id)) => {
                http::delete(format!("{collection}/{id}"))
                    .bearer(&config.token)
                    .send()?
                    .error_for_status()?;
                return Ok(PushResult {
                    external_id: id.clone(),
                    version: None,
                });
            }
            (ChangeOperation::Delete, None) => {
                return Err(Error::fatal(
                    "cannot delete a work order that was never pushed",
                ));
            }
            (_, Some(id)) => http::put(format!("{collection}/{id}")),
            (_, None) => http::post(collection),
        };
        let stored: Item = request
            .bearer(&config.token)
            .json(&body)?
            .send()?
            .error_for_status()?
            .json()?;
        Ok(PushResult {
            external_id: id_text(&stored.id),
            version: Some(stored.updated_at),
        })
    }
}

/// One page of the collection.
fn get<T: serde::de::DeserializeOwned>(
    config: &Config,
    page: u32,
    per_page: u32,
    since: Option<&str>,
) -> Result<Vec<T>> {
    let mut request = http::get(format!(
        "{}/work-orders",
        config.base_url.trim_end_matches('/')
    ))
    .bearer(&config.token)
    .query("page", &page.to_string())
    .query("per_page", &per_page.to_string());
    if let Some(since) = since {
        request = request.query("updated_since", since);
    }
    request.send()?.error_for_status()?.json()
}

fn record(item: &Item) -> Record {
    let mut fields = json!({"title": item.title, "description": item.description});
    if let Some(status) = &item.status {
        fields["status"] = json!(status);
    }
    if let Some(priority) = &item.priority {
        fields["priority"] = json!(priority);
    }
    Record::builder("work-order", id_text(&item.id))
        .fields(fields)
        .version(item.updated_at.clone())
        .build()
}

/// Ids come as numbers or strings; records carry text.
fn id_text(id: &serde_json::Value) -> String {
    match id {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn to_text(cursor: &Cursor) -> String {
    serde_json::to_string(cursor).expect("a cursor serialises")
}

cube_connector_sdk::export_connector!(__TYPE__);

#[cfg(test)]
mod tests;
