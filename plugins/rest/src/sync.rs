//! Reading the list endpoint one remote page per call.
//!
//! The cursor the host keeps is JSON: `next` says where the current read
//! continues (`{"page": 3}`, `{"offset": 200}`, `{"cursor": "abc"}` or
//! `{"url": "https://…"}`), `since` is the incremental value the read
//! started from and `high` the latest updated value seen in it. The last
//! page's cursor is `{"since": <latest updated value>}`, so the next
//! incremental sync sends it as the incremental parameter.

use cube_connector_sdk::prelude::*;
use cube_connector_sdk::records::SyncCursor;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::{self, Client};
use crate::config::{Auth, KeyIn, Pagination};

/// Where the current read continues.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Next {
    Page(u64),
    Offset(u64),
    Cursor(String),
    Url(String),
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct Cursor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<Next>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<Value>,
}

impl SyncCursor for Cursor {}

impl Cursor {
    /// Keeps `value` when it is later than the latest seen.
    fn note(&mut self, value: &Value) {
        if matches!(value, Value::Null) {
            return;
        }
        if self.high.as_ref().is_none_or(|high| later(value, high)) {
            self.high = Some(value.clone());
        }
    }
}

/// Whether `a` is later than `b`: numbers by value, anything else (ISO
/// 8601 timestamps in one format) as text.
pub fn later(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(a), Some(b)) => a > b,
        _ => text(a) > text(b),
    }
}

/// A scalar as text (strings without quotes).
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The answer of one list request.
pub struct Listed {
    pub url: String,
    pub rows: Vec<Value>,
    pub body: Value,
    pub link_next: Option<String>,
}

/// One request of the list endpoint at `next`, with the incremental value.
pub fn list(client: &Client, next: Option<&Next>, since: Option<&Value>) -> Result<Listed> {
    let config = client.config;
    let request = if let Some(Next::Url(url)) = next {
        let url = match (config.auth, config.api_key_in) {
            // The key is added to every request; a link that repeats it
            // would send it twice.
            (Auth::ApiKey, KeyIn::Query) => drop_param(url, config.api_key_name.trim()),
            _ => url.clone(),
        };
        client.request("GET", &url)?
    } else {
        let mut request = client.request("GET", &config.list_path)?;
        let param = config.incremental_param.trim();
        if let Some(since) = since.filter(|_| !param.is_empty()) {
            request = request.query(param, &text(since));
        }
        let size = config.size_param.trim();
        let size = (!size.is_empty()).then(|| (size, config.page_size().to_string()));
        match config.pagination {
            Pagination::None => {}
            Pagination::Page => {
                let page = match next {
                    Some(Next::Page(page)) => *page,
                    _ => config.start_page(),
                };
                request = request.query(config.page_param.trim(), &page.to_string());
            }
            Pagination::Offset => {
                let offset = match next {
                    Some(Next::Offset(offset)) => *offset,
                    _ => 0,
                };
                request = request.query(config.offset_param.trim(), &offset.to_string());
            }
            Pagination::Cursor => {
                if let Some(Next::Cursor(cursor)) = next {
                    request = request.query(config.cursor_param.trim(), cursor);
                }
            }
            Pagination::Link => {}
        }
        if let Some((name, value)) = size.filter(|_| config.pagination != Pagination::None) {
            request = request.query(name, &value);
        }
        request
    };
    let response = client.send(request)?;
    let url = response.url.clone();
    let body = client::parse_json(&response)?;
    let pointer = config.records_pointer.trim();
    let rows = match body.pointer(pointer) {
        Some(Value::Array(rows)) => rows.clone(),
        Some(other) => {
            return Err(Error::fatal(format!(
                "the answer from {} has {} at the records pointer `{pointer}`, not a list",
                client::without_query(&url),
                kind_of(other)
            )));
        }
        None => {
            return Err(Error::fatal(format!(
                "the answer from {} has nothing at the records pointer `{pointer}`{}",
                client::without_query(&url),
                keys_hint(&body)
            )));
        }
    };
    let link_next = response.header("link").and_then(next_link);
    Ok(Listed {
        url,
        rows,
        body,
        link_next,
    })
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// "; its top-level keys are …" for an object answer.
fn keys_hint(body: &Value) -> String {
    match body.as_object() {
        Some(map) if !map.is_empty() => format!(
            "; its top-level keys are {}",
            map.keys()
                .take(10)
                .map(|k| format!("/{k}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => String::new(),
    }
}

/// A row as a record of the configured kind: the id and the updated value
/// read by their pointers, all of the row as fields.
pub fn record_of(client: &Client, row: &Value, position: usize, url: &str) -> Result<Record> {
    let config = client.config;
    if !row.is_object() {
        return Err(Error::fatal(format!(
            "record {} in the answer from {} is {}, not an object",
            position + 1,
            client::without_query(url),
            kind_of(row)
        )));
    }
    let id_field = config.id_field.trim();
    let id = match row.pointer(id_field) {
        Some(id @ (Value::String(_) | Value::Number(_))) => text(id),
        _ => String::new(),
    };
    if id.is_empty() {
        return Err(Error::fatal(format!(
            "record {} in the answer from {} has no id at `{id_field}`{}",
            position + 1,
            client::without_query(url),
            keys_hint(row)
        )));
    }
    let mut record = Record::builder(config.kind(), id).fields(row.clone());
    if let Some(updated) = updated_of(client, row) {
        record = record.version(text(&updated));
    }
    Ok(record.build())
}

fn updated_of(client: &Client, row: &Value) -> Option<Value> {
    let pointer = client.config.updated_field.trim();
    if pointer.is_empty() {
        return None;
    }
    row.pointer(pointer)
        .filter(|v| matches!(v, Value::String(_) | Value::Number(_)))
        .cloned()
}

pub fn sync(client: &Client, input: SyncInput) -> Result<SyncPage> {
    let config = client.config;
    config.check_records()?;
    let mut cursor = Cursor::parse(input.cursor.as_deref())?;
    if cursor.next.is_none() {
        // A new read: incremental from the latest value the last one saw.
        let since = match input.mode {
            SyncMode::Incremental => cursor.since.take().or(cursor.high.take()),
            _ => None,
        };
        cursor = Cursor {
            since,
            ..Cursor::default()
        };
    }
    let listed = list(client, cursor.next.as_ref(), cursor.since.as_ref())?;
    let mut records = Vec::with_capacity(listed.rows.len());
    for (position, row) in listed.rows.iter().enumerate() {
        records.push(record_of(client, row, position, &listed.url)?);
        if let Some(updated) = updated_of(client, row) {
            cursor.note(&updated);
        }
    }
    let empty = listed.rows.is_empty();
    let next = match config.pagination {
        Pagination::None => None,
        Pagination::Page if empty => None,
        Pagination::Page => Some(Next::Page(match cursor.next {
            Some(Next::Page(page)) => page + 1,
            _ => config.start_page() + 1,
        })),
        Pagination::Offset if empty => None,
        Pagination::Offset => Some(Next::Offset(match cursor.next {
            Some(Next::Offset(offset)) => offset + listed.rows.len() as u64,
            _ => listed.rows.len() as u64,
        })),
        Pagination::Cursor => match listed.body.pointer(config.cursor_pointer.trim()) {
            Some(value @ (Value::String(_) | Value::Number(_))) if !text(value).is_empty() => {
                Some(Next::Cursor(text(value)))
            }
            _ => None,
        },
        Pagination::Link => listed
            .link_next
            .map(|link| resolve(&listed.url, &link))
            .map(Next::Url),
    };
    if next.is_some() && next == cursor.next {
        return Err(Error::fatal(format!(
            "the answer from {} names the page it is as the next one; the pagination settings do not fit this API",
            client::without_query(&listed.url)
        )));
    }
    match next {
        Some(next) => {
            cursor.next = Some(next);
            Ok(SyncPage::more(records, cursor.text()))
        }
        None => {
            let done = Cursor {
                since: cursor.high.take().or(cursor.since.take()),
                ..Cursor::default()
            };
            Ok(SyncPage::done(records, Some(done.text())))
        }
    }
}

/// The `rel="next"` target of a `Link` header (RFC 8288).
pub fn next_link(header: &str) -> Option<String> {
    let mut rest = header;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let end = after.find('>')?;
        let target = &after[..end];
        let params_end = after[end..].find('<').map_or(after.len(), |i| end + i);
        let params = &after[end + 1..params_end];
        let is_next = params.split(';').any(|p| {
            let Some((name, value)) = p.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_end_matches(',')
                    .trim()
                    .trim_matches('"')
                    .split_whitespace()
                    .any(|rel| rel.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.to_owned());
        }
        rest = &after[params_end..];
    }
    None
}

/// A link target resolved against the URL that answered.
pub fn resolve(base: &str, target: &str) -> String {
    if cube_connector_sdk::config::is_http_url(target) {
        return target.to_owned();
    }
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let origin_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    if target.starts_with('/') {
        return format!("{}{target}", &base[..origin_end]);
    }
    let path = client::without_query(base);
    if let Some(query) = target.strip_prefix('?') {
        return format!("{path}?{query}");
    }
    let dir = match path[origin_end..].rfind('/') {
        Some(i) => &path[..origin_end + i + 1],
        None => &path[..origin_end],
    };
    let sep = if dir.ends_with('/') { "" } else { "/" };
    format!("{dir}{sep}{target}")
}

/// `url` without the query parameter `name`.
pub fn drop_param(url: &str, name: &str) -> String {
    let Some((path, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let encoded = client::encode(name);
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            key != name && key != encoded
        })
        .collect();
    if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use cube_connector_sdk::testing;

    fn config(extra: Value) -> Config {
        let mut base = json!({"base_url": "https://api.example.com", "list_path": "/items",
                              "updated_field": "/updated", "incremental_param": "since"});
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    fn input(mode: SyncMode, cursor: Option<String>) -> SyncInput {
        SyncInput {
            mode,
            cursor,
            dry_run: false,
            page_size: 100,
        }
    }

    fn param(url: &str, name: &str) -> Option<String> {
        url.split_once('?')?
            .1
            .split('&')
            .find_map(|p| p.strip_prefix(&format!("{name}=")).map(str::to_owned))
    }

    /// Runs syncs until the last page; returns the ids and the final cursor.
    fn drain(config: &Config, mode: SyncMode, cursor: Option<String>) -> (Vec<String>, String) {
        let client = Client::new(config).unwrap();
        let mut ids = Vec::new();
        let mut cursor = cursor;
        for _ in 0..100 {
            let page = sync(&client, input(mode, cursor.clone())).unwrap();
            ids.extend(page.records.iter().map(|r| r.external_id.clone()));
            cursor = page.cursor;
            if !page.has_more {
                return (ids, cursor.unwrap());
            }
        }
        panic!("never ended");
    }

    fn rows(from: usize, to: usize) -> Vec<Value> {
        (from..to)
            .map(|i| json!({"id": i, "name": format!("n{i}"), "updated": format!("2024-01-{:02}", i % 28 + 1)}))
            .collect()
    }

    #[test]
    fn page_numbers_until_an_empty_page_and_the_high_water_mark() {
        testing::reset();
        testing::on_http(|req| {
            let page: usize = param(&req.url, "page").unwrap().parse().unwrap();
            assert_eq!(param(&req.url, "per_page").as_deref(), Some("10"));
            let body = json!({"data": {"items": rows((page - 1) * 10, (page * 10).min(25))}});
            Ok(testing::response(200, body.to_string()))
        });
        let config = config(
            json!({"pagination": "page", "page_size": 10, "records_pointer": "/data/items"}),
        );
        let (ids, last) = drain(&config, SyncMode::Full, None);
        assert_eq!(ids.len(), 25);
        assert_eq!(ids[24], "24");
        assert_eq!(testing::requests().len(), 4, "three pages and an empty one");
        assert!(param(&testing::requests()[0].url, "since").is_none());
        let last = Cursor::parse(Some(&last)).unwrap();
        assert_eq!(last.since, Some(json!("2024-01-25")));
        assert_eq!(last.next, None);

        // The next incremental sync sends it.
        testing::reset();
        testing::on_http(|req| {
            assert_eq!(param(&req.url, "since").as_deref(), Some("2024-01-25"));
            Ok(testing::response(200, r#"{"data": {"items": []}}"#))
        });
        let (ids, again) = drain(&config, SyncMode::Incremental, Some(last.text()));
        assert!(ids.is_empty());
        assert_eq!(
            Cursor::parse(Some(&again)).unwrap().since,
            Some(json!("2024-01-25"))
        );
    }

    #[test]
    fn offsets_cursors_and_links() {
        testing::reset();
        testing::on_http(|req| {
            let offset: usize = param(&req.url, "skip").unwrap().parse().unwrap();
            Ok(testing::response(
                200,
                json!(rows(offset, (offset + 7).min(20))).to_string(),
            ))
        });
        let config = config(
            json!({"pagination": "offset", "offset_param": "skip", "size_param": "limit", "page_size": 7}),
        );
        assert_eq!(drain(&config, SyncMode::Full, None).0.len(), 20);

        testing::reset();
        testing::on_http(|req| {
            let at: usize =
                param(&req.url, "after").map_or(0, |c| c.trim_start_matches('c').parse().unwrap());
            let next = if at + 8 < 30 {
                json!(format!("c{}", at + 8))
            } else {
                Value::Null
            };
            Ok(testing::response(
                200,
                json!({"results": rows(at, (at + 8).min(30)), "meta": {"next": next}}).to_string(),
            ))
        });
        let config = self::config(
            json!({"pagination": "cursor", "cursor_param": "after", "cursor_pointer": "/meta/next", "records_pointer": "/results"}),
        );
        let (ids, _) = drain(&config, SyncMode::Full, None);
        assert_eq!(ids.len(), 30);
        assert_eq!(
            ids.iter().collect::<std::collections::BTreeSet<_>>().len(),
            30
        );

        testing::reset();
        testing::on_http(|req| {
            let page: usize = param(&req.url, "p").map_or(1, |p| p.parse().unwrap());
            assert_eq!(param(&req.url, "key").as_deref(), Some("k"), "{}", req.url);
            assert_eq!(req.url.matches("key=").count(), 1, "{}", req.url);
            let mut response =
                testing::response(200, json!(rows((page - 1) * 5, page * 5)).to_string());
            if page < 3 {
                response.headers.push((
                    "link".into(),
                    format!(
                        r#"</items?p={}&key=k>; rel="next", </items?p=3>; rel="last""#,
                        page + 1
                    ),
                ));
            }
            response.url = req.url.clone();
            Ok(response)
        });
        let config = self::config(
            json!({"pagination": "link", "auth": "api-key", "api_key_in": "query", "api_key_name": "key", "api_key": "k"}),
        );
        let (ids, _) = drain(&config, SyncMode::Full, None);
        assert_eq!(ids.len(), 15);
    }

    #[test]
    fn missing_lists_and_ids_are_named() {
        testing::reset();
        testing::on_http(|_| {
            Ok(testing::response(
                200,
                r#"{"items": [{"name": "x"}], "total": 1}"#,
            ))
        });
        let client_config = config(json!({"records_pointer": "/data"}));
        let client = Client::new(&client_config).unwrap();
        let err = sync(&client, input(SyncMode::Full, None)).unwrap_err();
        assert!(
            err.message().contains(
                "nothing at the records pointer `/data`; its top-level keys are /items, /total"
            ),
            "{err:?}"
        );
        let client_config = config(json!({"records_pointer": "/items"}));
        let client = Client::new(&client_config).unwrap();
        let err = sync(&client, input(SyncMode::Full, None)).unwrap_err();
        assert!(
            err.message()
                .contains("record 1 in the answer from  has no id at `/id`"),
            "{err:?}"
        );
    }

    #[test]
    fn link_headers_and_targets() {
        assert_eq!(
            next_link(r#"<https://a/x?page=2>; rel="next", <https://a/x?page=9>; rel="last""#)
                .as_deref(),
            Some("https://a/x?page=2")
        );
        assert_eq!(
            next_link(r#"<https://a/x?page=1>; rel="prev", <https://a/x?a=1,2>; rel=next"#)
                .as_deref(),
            Some("https://a/x?a=1,2")
        );
        assert_eq!(next_link(r#"<https://a/x>; rel="last""#), None);
        assert_eq!(
            resolve("https://a.example/v1/items?p=1", "/v1/items?p=2"),
            "https://a.example/v1/items?p=2"
        );
        assert_eq!(
            resolve("https://a.example/v1/items?p=1", "?p=2"),
            "https://a.example/v1/items?p=2"
        );
        assert_eq!(
            resolve("https://a.example/v1/items", "other?p=2"),
            "https://a.example/v1/other?p=2"
        );
        assert_eq!(
            drop_param("https://a/x?key=1&p=2", "key"),
            "https://a/x?p=2"
        );
        assert!(later(&json!(10), &json!(9)));
        assert!(later(
            &json!("2024-02-01T00:00:00Z"),
            &json!("2024-01-31T23:59:59Z")
        ));
    }
}
