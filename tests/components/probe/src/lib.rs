//! The probe connector: does whatever its configuration's `action` says, so
//! the host's tests can exercise the sandbox with a real component.
//!
//! Actions for `test-connection`: `ok`, `loop` (spins forever), `grow`
//! (allocates until refused), `trap` (panics), `flood` (logs without end),
//! `flood-empty` (logs two million empty lines),
//! `fetch` (GETs `url` and reports the status or the error), `leak` (logs its
//! `password` and returns it in an error), `state` (counts calls in state).
//! `sync` returns `pages` pages of two records each; with `fetch`, each page
//! first GETs `url?page=N` and fails as the server's answer says.
//! `ldap` (test-connection and sync) opens `url` with `tls` and `ca_pem`,
//! binds as `bind_dn` with `password`, and reads `base`: the connection
//! test checks it exists, a sync pages through its `inetOrgPerson` entries
//! `page_size` at a time with the paged-results cookie in the cursor (which
//! works only if the host keeps the job's connection between calls). These
//! fields are not in the schema: tests set them directly.
//! `handle-webhook` turns `{"items": [...], "deleted": [...],
//! "work_orders": [...], "comments": [...]}` into records. `push` sends work
//! orders to `url`: `POST url/items` to create, `PUT url/items/ID` to
//! update, `DELETE` to delete, and returns the `id` and `version` the
//! server answers; comments (`work-order-comment`) go to `POST url/comments`
//! and get the remote id `c-<local id>`.

use cube_connector_sdk::encode::{hex, unhex};
use cube_connector_sdk::prelude::*;
use cube_connector_sdk::types::{Features, WebhookOutcome, WebhookRequest, WebhookResponse};

#[derive(serde::Deserialize)]
pub struct Config {
    #[serde(default = "ok")]
    action: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    password: String,
    #[serde(default = "three")]
    pages: u32,
    #[serde(default)]
    tls: String,
    #[serde(default)]
    ca_pem: String,
    #[serde(default)]
    bind_dn: String,
    #[serde(default)]
    base: String,
    #[serde(default = "two")]
    page_size: u32,
}

fn two() -> u32 {
    2
}

impl Config {
    fn directory(&self) -> Result<ldap::Directory> {
        let tls = match self.tls.as_str() {
            "ldaps" => ldap::TlsMode::Ldaps,
            "start-tls" => ldap::TlsMode::StartTls,
            _ => ldap::TlsMode::None,
        };
        let directory = ldap::connect(&self.url, tls).ca_pem(&self.ca_pem).open()?;
        directory.bind(&self.bind_dn, &self.password)?;
        Ok(directory)
    }
}

fn ok() -> String {
    "ok".into()
}

fn three() -> u32 {
    3
}

pub struct Probe;

impl Connector for Probe {
    type Config = Config;

    fn info() -> ConnectorInfo {
        ConnectorInfo::builder("probe", "Probe", env!("CARGO_PKG_VERSION"))
            .description("Misbehaves on request, for testing the sandbox.")
            .config_schema(json!({
                "type": "object",
                "required": ["action"],
                "properties": {
                    "url": {"type": "string", "format": "uri", "title": "Server URL",
                            "description": "What the fetch action requests.", "x-cube-step": "Server"},
                    "password": {"type": "string", "writeOnly": true, "x-cube-step": "Credentials"},
                    "action": {"type": "string", "default": "ok", "x-cube-step": "Behaviour",
                               "description": "What the connection test does (ok, fetch, leak, trap, loop...)."},
                    "pages": {"type": "integer", "minimum": 0, "maximum": 1000, "default": 3,
                              "x-cube-step": "Behaviour"}
                }
            }))
            .http("http://127.0.0.1:*")
            .features(Features::SYNC | Features::WEBHOOKS | Features::PUSH)
            .build()
    }

    fn test_connection(config: Config) -> Result<String> {
        match config.action.as_str() {
            "ok" => Ok("probe is fine".into()),
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "grow" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "trap" => panic!("the probe was asked to trap"),
            "flood" => {
                for i in 0..1_000_000u32 {
                    log::info(format!("flood line {i} {}", "x".repeat(100)));
                }
                Ok("flooded".into())
            }
            "flood-empty" => {
                for _ in 0..2_000_000u32 {
                    log::info(String::new());
                }
                Ok("flooded with empty lines".into())
            }
            "fetch" => {
                let response = http::get(&config.url).send()?;
                Ok(format!("{} {}", response.status, response.text()))
            }
            "leak" => {
                log::info(format!("connecting with password {}", config.password));
                Err(Error::auth(format!(
                    "password {} was refused",
                    config.password
                )))
            }
            "ldap" => {
                let directory = config.directory()?;
                let page = directory
                    .search(&config.base, "(objectClass=*)")
                    .scope(ldap::Scope::Base)
                    .send()?;
                Ok(format!(
                    "bound as {}; {} entry at {}",
                    config.bind_dn,
                    page.entries.len(),
                    config.base
                ))
            }
            "state" => {
                let count = state::get_json::<u32>("calls").unwrap_or(0) + 1;
                state::set_json("calls", &count)?;
                Ok(format!("call {count}"))
            }
            other => Err(Error::config(format!("unknown action `{other}`"))),
        }
    }

    fn sync(config: Config, input: SyncInput) -> Result<SyncPage> {
        if config.action == "ldap" {
            let cookie = match &input.cursor {
                Some(cursor) if !cursor.is_empty() => Some(
                    unhex(cursor).ok_or_else(|| Error::config(format!("bad cursor `{cursor}`")))?,
                ),
                _ => None,
            };
            let page = config
                .directory()?
                .search(&config.base, "(objectClass=inetOrgPerson)")
                .attributes(&["uid", "mail", "cn"])
                .page_size(config.page_size)
                .cookie(cookie)
                .send()?;
            let records = page
                .entries
                .iter()
                .map(|entry| {
                    let id = entry.first("uid").unwrap_or(&entry.dn).to_owned();
                    Record::builder("user", id.clone())
                        .field("username", id)
                        .field("mail", entry.first("mail"))
                        .field("dn", &entry.dn)
                        .build()
                })
                .collect();
            return Ok(match page.cookie {
                Some(cookie) => SyncPage::more(records, hex(&cookie)),
                None => SyncPage::done(records, None),
            });
        }
        let page: u32 = match &input.cursor {
            Some(cursor) => cursor
                .parse()
                .map_err(|_| Error::config(format!("bad cursor `{cursor}`")))?,
            None => 0,
        };
        if config.action == "fetch" {
            // Each page asks the server first, so tests can fail any page
            // with any HTTP answer (429, 401, 5xx, slow).
            let separator = if config.url.contains('?') { '&' } else { '?' };
            http::get(format!("{}{separator}page={page}", config.url))
                .send()?
                .error_for_status()?;
        }
        let records = (0..2)
            .map(|i| {
                let id = page * 2 + i;
                Record::builder("item", id.to_string())
                    .field("name", format!("item {id}"))
                    .version("1")
                    .build()
            })
            .collect();
        let next = page + 1;
        if next < config.pages {
            Ok(SyncPage::more(records, next.to_string()))
        } else {
            Ok(SyncPage::done(records, Some(next.to_string())))
        }
    }

    fn push(config: Config, change: Change) -> Result<PushResult> {
        #[derive(serde::Deserialize)]
        struct Written {
            id: String,
            version: Option<String>,
        }
        let base = config.url.trim_end_matches('/');
        let fields: serde_json::Value = serde_json::from_str(&change.fields)
            .map_err(|e| Error::fatal(format!("the change's fields are not JSON: {e}")))?;
        let body = json!({"local_id": change.local_id, "fields": fields, "changed": change.changed_fields});
        if change.kind == "work-order-comment" {
            let body = json!({
                "local_id": change.local_id, "fields": fields, "changed": change.changed_fields,
                "external_id": change.external_id,
                "operation": match change.operation {
                    ChangeOperation::Create => "create",
                    ChangeOperation::Update => "update",
                    ChangeOperation::Delete => "delete",
                },
            });
            http::post(format!("{base}/comments"))
                .json(&body)?
                .send()?
                .error_for_status()?;
            return Ok(PushResult {
                external_id: format!("c-{}", change.local_id),
                version: None,
            });
        }
        let request = match (&change.operation, &change.external_id) {
            (ChangeOperation::Delete, Some(id)) => http::delete(format!("{base}/items/{id}")),
            (ChangeOperation::Delete, None) => {
                return Err(Error::fatal(
                    "nothing to delete: the work order was never pushed",
                ));
            }
            (_, Some(id)) => http::put(format!("{base}/items/{id}")).json(&body)?,
            (_, None) => http::post(format!("{base}/items")).json(&body)?,
        };
        let written: Written = request.send()?.error_for_status()?.json()?;
        Ok(PushResult {
            external_id: written.id,
            version: written.version,
        })
    }

    /// A JSON body `{"items": [{"id": "7", "name": "x"}], "deleted": ["3"]}`
    /// becomes records of kind `item`, `"work_orders": [{"id", "title",
    /// "status", "version", "updated_at"}]` records of kind `work-order`,
    /// and `"comments": [{"id", "work_order", "author", "body",
    /// "created_at"}]` records of kind `work-order-comment` (deleted with
    /// `"deleted": true`); the answer says how many.
    fn handle_webhook(_config: Config, request: WebhookRequest) -> Result<WebhookOutcome> {
        #[derive(serde::Deserialize)]
        struct Item {
            id: String,
            #[serde(default)]
            name: String,
        }
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(default)]
            items: Vec<Item>,
            #[serde(default)]
            deleted: Vec<String>,
            #[serde(default)]
            work_orders: Vec<serde_json::Map<String, serde_json::Value>>,
            #[serde(default)]
            comments: Vec<serde_json::Map<String, serde_json::Value>>,
        }
        let body: Body = serde_json::from_slice(&request.body)
            .map_err(|e| Error::fatal(format!("the webhook body is not the expected JSON: {e}")))?;
        let mut records: Vec<_> = body
            .items
            .into_iter()
            .map(|item| {
                Record::builder("item", item.id)
                    .field("name", item.name)
                    .build()
            })
            .collect();
        for mut order in body.work_orders {
            let id = order
                .remove("id")
                .and_then(|v| v.as_str().map(str::to_owned));
            let version = order
                .remove("version")
                .and_then(|v| v.as_str().map(str::to_owned));
            let id = id.ok_or_else(|| Error::fatal("a work order without an id"))?;
            let mut record = Record::builder("work-order", id).fields(order.into());
            if let Some(version) = version {
                record = record.version(version);
            }
            records.push(record.build());
        }
        for mut comment in body.comments {
            let id = comment
                .remove("id")
                .and_then(|v| v.as_str().map(str::to_owned))
                .ok_or_else(|| Error::fatal("a comment without an id"))?;
            let deleted = comment.remove("deleted").and_then(|v| v.as_bool());
            records.push(if deleted == Some(true) {
                Record::deleted("work-order-comment", id)
            } else {
                Record::builder("work-order-comment", id)
                    .fields(comment.into())
                    .build()
            });
        }
        records.extend(
            body.deleted
                .into_iter()
                .map(|id| Record::deleted("item", id)),
        );
        let answer = format!(
            "{} records from {} {}",
            records.len(),
            request.method,
            request.path
        );
        Ok(WebhookOutcome {
            records,
            response: Some(WebhookResponse {
                status: 200,
                headers: vec![("content-type".into(), "text/plain".into())],
                body: answer.into_bytes(),
            }),
        })
    }
}

cube_connector_sdk::export_connector!(Probe);
