//! The connector's configuration and its JSON Schema (the host turns it
//! into the setup form and the wizard's steps). Every property is a scalar,
//! so the generic form can edit all of them; every one but the base URL has
//! a default, so the wizard's early checks work with the steps typed so far.

use cube_connector_sdk::prelude::*;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// How requests are authenticated.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum Auth {
    #[default]
    #[serde(rename = "none")]
    None,
    /// `Authorization: Basic` with `username` and `password`.
    #[serde(rename = "basic")]
    Basic,
    /// `Authorization: Bearer` with `token`.
    #[serde(rename = "bearer")]
    Bearer,
    /// `api_key` in the header or query parameter `api_key_name`.
    #[serde(rename = "api-key")]
    ApiKey,
    /// OAuth 2.0 client credentials grant (RFC 6749 4.4), then a bearer token.
    #[serde(rename = "oauth2-client-credentials")]
    OAuth2ClientCredentials,
}

impl Auth {
    pub fn describe(self) -> &'static str {
        match self {
            Auth::None => "without authentication",
            Auth::Basic => "with basic authentication",
            Auth::Bearer => "with a bearer token",
            Auth::ApiKey => "with an API key",
            Auth::OAuth2ClientCredentials => "with an OAuth2 client credentials token",
        }
    }
}

/// Where an API key goes.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum KeyIn {
    #[default]
    #[serde(rename = "header")]
    Header,
    #[serde(rename = "query")]
    Query,
}

/// How the list endpoint pages.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum Pagination {
    /// One request returns everything.
    #[default]
    #[serde(rename = "none")]
    None,
    /// `page_param` counts pages from `start_page`; an empty page ends.
    #[serde(rename = "page")]
    Page,
    /// `offset_param` counts records from 0; an empty page ends.
    #[serde(rename = "offset")]
    Offset,
    /// The body names the next cursor at `cursor_pointer`, sent back as
    /// `cursor_param`; no cursor ends.
    #[serde(rename = "cursor")]
    Cursor,
    /// `Link: <url>; rel="next"` (RFC 8288); no next link ends.
    #[serde(rename = "link")]
    Link,
}

/// The method of a push that creates or updates.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum PushMethod {
    /// `POST` to create (no remote id yet), `PUT` to update.
    #[default]
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "POST")]
    Post,
    #[serde(rename = "PUT")]
    Put,
    #[serde(rename = "PATCH")]
    Patch,
}

fn default_id_field() -> String {
    "/id".into()
}
fn default_kind() -> String {
    "item".into()
}
fn default_page_param() -> String {
    "page".into()
}
fn default_size_param() -> String {
    "per_page".into()
}
fn default_page_size() -> u64 {
    100
}
fn default_start_page() -> u64 {
    1
}
fn default_offset_param() -> String {
    "offset".into()
}
fn default_cursor_param() -> String {
    "cursor".into()
}
fn default_cursor_pointer() -> String {
    "/next_cursor".into()
}
fn default_api_key_name() -> String {
    "X-API-Key".into()
}

/// A whole number written as a number or as text (forms may send either);
/// empty or missing means the default.
fn number<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<u64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("{n} is not a whole number"))),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("`{s}` is not a whole number"))),
        Some(other) => Err(serde::de::Error::custom(format!(
            "{other} is not a whole number"
        ))),
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    pub base_url: String,
    #[serde(default)]
    pub auth: Auth,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub token: String,
    #[serde(default = "default_api_key_name")]
    pub api_key_name: String,
    #[serde(default)]
    pub api_key_in: KeyIn,
    #[serde(default)]
    pub api_key: String,
    #[serde(default)]
    pub token_url: String,
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub client_secret: String,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub probe_path: String,

    #[serde(default)]
    pub list_path: String,
    #[serde(default)]
    pub records_pointer: String,
    #[serde(default = "default_id_field")]
    pub id_field: String,
    #[serde(default)]
    pub updated_field: String,
    #[serde(default = "default_kind")]
    pub kind: String,
    #[serde(default)]
    pub pagination: Pagination,
    #[serde(default = "default_page_param")]
    pub page_param: String,
    #[serde(default = "default_size_param")]
    pub size_param: String,
    #[serde(default, deserialize_with = "number")]
    pub page_size: Option<u64>,
    #[serde(default, deserialize_with = "number")]
    pub start_page: Option<u64>,
    #[serde(default = "default_offset_param")]
    pub offset_param: String,
    #[serde(default = "default_cursor_param")]
    pub cursor_param: String,
    #[serde(default = "default_cursor_pointer")]
    pub cursor_pointer: String,
    #[serde(default)]
    pub incremental_param: String,

    #[serde(default)]
    pub push_method: PushMethod,
    #[serde(default)]
    pub push_url_template: String,
    #[serde(default)]
    pub push_body_template: String,
    #[serde(default = "default_id_field")]
    pub push_id_pointer: String,
    #[serde(default)]
    pub push_deletes: bool,
}

/// Checks that `pointer` is an RFC 6901 JSON pointer (empty, or starting
/// with `/`).
pub fn check_pointer(name: &str, pointer: &str) -> Result<()> {
    if pointer.is_empty() || pointer.starts_with('/') {
        Ok(())
    } else {
        Err(Error::config(format!(
            "{name} `{pointer}` is not a JSON pointer: write it like /{pointer} (RFC 6901, `/` before each step, array positions as numbers)"
        )))
    }
}

impl Config {
    /// The base URL without a trailing slash.
    pub fn base(&self) -> Result<&str> {
        cube_connector_sdk::config::base_url(&self.base_url, |url| {
            format!(
                "the base URL `{url}` is not an http(s) address, like https://api.example.com/v1"
            )
        })
    }

    /// A path (or an absolute URL) resolved against the base URL.
    pub fn url(&self, path: &str) -> Result<String> {
        let path = path.trim();
        if cube_connector_sdk::config::is_http_url(path) {
            return Ok(path.to_owned());
        }
        let base = self.base()?;
        if path.is_empty() {
            return Ok(base.to_owned());
        }
        Ok(format!("{base}/{}", path.trim_start_matches('/')))
    }

    pub fn page_size(&self) -> u64 {
        self.page_size.unwrap_or_else(default_page_size).max(1)
    }

    pub fn start_page(&self) -> u64 {
        self.start_page.unwrap_or_else(default_start_page)
    }

    /// The record kind, `item` when left empty.
    pub fn kind(&self) -> &str {
        match self.kind.trim() {
            "" => "item",
            kind => kind,
        }
    }

    /// What the credentials need, checked before anything is sent.
    pub fn check_auth(&self) -> Result<()> {
        let missing = |what: &str| Err(Error::config(format!("{what} is not configured")));
        match self.auth {
            Auth::None => Ok(()),
            Auth::Basic if self.username.trim().is_empty() => {
                missing("the user name for basic auth")
            }
            Auth::Basic => Ok(()),
            Auth::Bearer if self.token.is_empty() => missing("the bearer token"),
            Auth::Bearer => Ok(()),
            Auth::ApiKey if self.api_key_name.trim().is_empty() => {
                missing("the API key's header or parameter name")
            }
            Auth::ApiKey if self.api_key.is_empty() => missing("the API key"),
            Auth::ApiKey => Ok(()),
            Auth::OAuth2ClientCredentials if self.token_url.trim().is_empty() => {
                missing("the OAuth2 token URL")
            }
            Auth::OAuth2ClientCredentials
                if self.client_id.trim().is_empty() || self.client_secret.is_empty() =>
            {
                missing("the OAuth2 client ID or client secret")
            }
            Auth::OAuth2ClientCredentials => Ok(()),
        }
    }

    /// The record settings, checked before a sync.
    pub fn check_records(&self) -> Result<()> {
        if self.list_path.trim().is_empty() {
            return Err(Error::config(
                "no list path is configured: the path of the endpoint that lists the records, like /items",
            ));
        }
        check_pointer("the records pointer", self.records_pointer.trim())?;
        if self.id_field.trim().is_empty() {
            return Err(Error::config(
                "no id field is configured: the JSON pointer to a record's id, like /id",
            ));
        }
        check_pointer("the id field", self.id_field.trim())?;
        check_pointer("the updated field", self.updated_field.trim())?;
        let param = |what: &str, value: &str| {
            if value.trim().is_empty() {
                Err(Error::config(format!(
                    "{what} pagination needs the name of its query parameter"
                )))
            } else {
                Ok(())
            }
        };
        match self.pagination {
            Pagination::Page => param("page", &self.page_param)?,
            Pagination::Offset => param("offset", &self.offset_param)?,
            Pagination::Cursor => {
                param("cursor", &self.cursor_param)?;
                if self.cursor_pointer.trim().is_empty() {
                    return Err(Error::config(
                        "cursor pagination needs the cursor pointer: where the answer names the next cursor, like /meta/next_cursor",
                    ));
                }
                check_pointer("the cursor pointer", self.cursor_pointer.trim())?;
            }
            Pagination::None | Pagination::Link => {}
        }
        if !self.incremental_param.trim().is_empty() && self.updated_field.trim().is_empty() {
            return Err(Error::config(
                "the incremental parameter needs the updated field: the connector sends the latest value of that field it has seen",
            ));
        }
        Ok(())
    }
}

/// The configuration schema: wizard steps Server, Credentials (checked:
/// the probe is read with the credentials), Records (checked: the first
/// page is read and its records found), Push (checked: the templates
/// compile).
pub fn schema() -> Value {
    let step = |name: &str, mut property: Value| {
        property["x-cube-step"] = json!(name);
        property
    };
    let server = |p| step("Server", p);
    let credentials = |p| step("Credentials", p);
    let records = |p| step("Records", p);
    let push = |p| step("Push", p);
    json!({
        "type": "object",
        "required": ["base_url", "list_path"],
        "x-cube-checks": ["Credentials", "Records", "Push"],
        "properties": {
            "base_url": server(json!({
                "type": "string", "format": "uri", "title": "Base URL",
                "description": "The API's address; paths below are relative to it. Like https://api.example.com/v1."
            })),
            "auth": server(json!({
                "enum": ["none", "basic", "bearer", "api-key", "oauth2-client-credentials"],
                "default": "none", "title": "Authentication",
                "description": "none; basic: user name and password; bearer: a fixed token; api-key: a key in a header or query parameter; oauth2-client-credentials: a token fetched from the token URL with the client ID and secret, renewed when it runs out."
            })),
            "username": credentials(json!({
                "type": "string", "title": "User name", "description": "Basic only."
            })),
            "password": credentials(json!({
                "type": "string", "writeOnly": true, "title": "Password", "description": "Basic only."
            })),
            "token": credentials(json!({
                "type": "string", "writeOnly": true, "title": "Bearer token",
                "description": "Bearer only: sent as Authorization: Bearer <token>."
            })),
            "api_key_name": credentials(json!({
                "type": "string", "default": "X-API-Key", "title": "API key name",
                "description": "API key only: the header or query parameter that carries the key."
            })),
            "api_key_in": credentials(json!({
                "enum": ["header", "query"], "default": "header", "title": "API key in",
                "description": "API key only: header, or query parameter."
            })),
            "api_key": credentials(json!({
                "type": "string", "writeOnly": true, "title": "API key", "description": "API key only."
            })),
            "token_url": credentials(json!({
                "type": "string", "title": "OAuth2 token URL",
                "description": "OAuth2 only: the token endpoint, absolute or relative to the base URL. The client authenticates with HTTP Basic (RFC 6749 2.3.1)."
            })),
            "client_id": credentials(json!({
                "type": "string", "title": "OAuth2 client ID", "description": "OAuth2 only."
            })),
            "client_secret": credentials(json!({
                "type": "string", "writeOnly": true, "title": "OAuth2 client secret", "description": "OAuth2 only."
            })),
            "scope": credentials(json!({
                "type": "string", "title": "OAuth2 scope",
                "description": "OAuth2 only, optional: the scopes to ask for, separated by spaces."
            })),
            "probe_path": credentials(json!({
                "type": "string", "title": "Probe path",
                "description": "A cheap endpoint the connection test reads with the credentials, like /me (empty: the list path, or the base URL)."
            })),
            "list_path": records(json!({
                "type": "string", "title": "List path",
                "description": "The endpoint that lists the records, like /items or /items?status=open."
            })),
            "records_pointer": records(json!({
                "type": "string", "title": "Records pointer",
                "description": "Where the list is in the answer, as a JSON pointer like /data/items. Empty: the answer is the list."
            })),
            "id_field": records(json!({
                "type": "string", "default": "/id", "title": "Id field",
                "description": "A record's stable id, as a JSON pointer into the record, like /id or /meta/uuid."
            })),
            "updated_field": records(json!({
                "type": "string", "title": "Updated field",
                "description": "Optional: when a record last changed, as a JSON pointer like /updated_at. It is the record's version, and feeds the incremental parameter."
            })),
            "kind": records(json!({
                "type": "string", "default": "item", "title": "Record kind",
                "description": "The kind of the records: item, or work-order to make them CUBE work orders (their fields then need title, status and so on)."
            })),
            "pagination": records(json!({
                "enum": ["none", "page", "offset", "cursor", "link"], "default": "none", "title": "Pagination",
                "description": "none: one request; page: page numbers; offset: record offsets; cursor: the answer names the next cursor; link: the Link header's rel=\"next\"."
            })),
            "page_param": records(json!({
                "type": "string", "default": "page", "title": "Page parameter", "description": "Page pagination: the page number's query parameter."
            })),
            "start_page": records(json!({
                "type": "integer", "default": 1, "minimum": 0, "title": "First page", "description": "Page pagination: the number of the first page (1 or 0)."
            })),
            "offset_param": records(json!({
                "type": "string", "default": "offset", "title": "Offset parameter", "description": "Offset pagination: the offset's query parameter."
            })),
            "cursor_param": records(json!({
                "type": "string", "default": "cursor", "title": "Cursor parameter", "description": "Cursor pagination: the query parameter the next cursor is sent in."
            })),
            "cursor_pointer": records(json!({
                "type": "string", "default": "/next_cursor", "title": "Cursor pointer", "description": "Cursor pagination: where the answer names the next cursor, as a JSON pointer like /meta/next. Missing, null or empty: the last page."
            })),
            "size_param": records(json!({
                "type": "string", "default": "per_page", "title": "Page size parameter", "description": "The query parameter for the page size (empty: none is sent)."
            })),
            "page_size": records(json!({
                "type": "integer", "default": 100, "minimum": 1, "maximum": 10000, "title": "Page size", "description": "Records asked for per request."
            })),
            "incremental_param": records(json!({
                "type": "string", "title": "Incremental parameter",
                "description": "Optional: a query parameter that makes the API list only records changed since a value, like updated_since. Incremental syncs send the latest updated field seen so far."
            })),
            "push_method": push(json!({
                "enum": ["auto", "POST", "PUT", "PATCH"], "default": "auto", "title": "Push method",
                "description": "auto: POST to create (no remote id yet), PUT to update. Or one method for both."
            })),
            "push_url_template": push(json!({
                "type": "string", "title": "Push URL template",
                "description": "Empty: nothing is pushed. A minijinja template of the path or URL, like /items{% if external_id %}/{{ external_id | urlencode }}{% endif %}."
            })),
            "push_body_template": push(json!({
                "type": "string", "x-cube-multiline": true, "title": "Push body template",
                "description": "A minijinja template of the body, with fields, external_id, operation (create, update, delete), local_id and kind. Write values with tojson, like {\"title\": {{ fields.title | tojson }}}."
            })),
            "push_id_pointer": push(json!({
                "type": "string", "default": "/id", "title": "Pushed id pointer",
                "description": "Where the answer to a push names the record's id, as a JSON pointer."
            })),
            "push_deletes": push(json!({
                "type": "boolean", "default": false, "title": "Push deletions",
                "description": "Send DELETE to the push URL when a record is deleted in CUBE (off: the remote record stays)."
            }))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_what_the_early_steps_leave_out() {
        let config: Config =
            serde_json::from_value(json!({"base_url": "https://api.example.com/v1/"})).unwrap();
        assert_eq!(config.base().unwrap(), "https://api.example.com/v1");
        assert_eq!(
            config.url("/items").unwrap(),
            "https://api.example.com/v1/items"
        );
        assert_eq!(config.url("http://other/x").unwrap(), "http://other/x");
        assert_eq!((config.page_size(), config.start_page()), (100, 1));
        assert_eq!(config.kind(), "item");
        assert_eq!(config.id_field, "/id");
        assert!(config.check_auth().is_ok());
        assert!(config.check_records().is_err(), "no list path");
        let config: Config = serde_json::from_value(
            json!({"base_url": "https://a", "page_size": "250", "start_page": 0, "list_path": "/x", "records_pointer": "data"}),
        )
        .unwrap();
        assert_eq!((config.page_size(), config.start_page()), (250, 0));
        let err = config.check_records().unwrap_err();
        assert!(err.message().contains("/data"), "{err:?}");
        assert!(
            serde_json::from_value::<Config>(json!({"base_url": "x", "page_size": "many"}))
                .is_err()
        );
    }

    #[test]
    fn missing_credentials_are_named() {
        let config = |extra: Value| -> Config {
            let mut base = json!({"base_url": "https://a"});
            for (k, v) in extra.as_object().unwrap() {
                base[k] = v.clone();
            }
            serde_json::from_value(base).unwrap()
        };
        assert!(
            config(json!({"auth": "bearer"}))
                .check_auth()
                .unwrap_err()
                .message()
                .contains("bearer token")
        );
        assert!(
            config(json!({"auth": "api-key"}))
                .check_auth()
                .unwrap_err()
                .message()
                .contains("API key")
        );
        assert!(
            config(json!({"auth": "oauth2-client-credentials", "token_url": "/t"}))
                .check_auth()
                .unwrap_err()
                .message()
                .contains("client ID")
        );
        assert!(
            config(json!({"auth": "basic", "username": "u"}))
                .check_auth()
                .is_ok()
        );
    }

    #[test]
    fn the_schema_is_flat() {
        let schema = schema();
        for (name, property) in schema["properties"].as_object().unwrap() {
            assert!(property.get("x-cube-step").is_some(), "{name}");
            let ty = property.get("type").and_then(Value::as_str);
            assert!(
                property.get("enum").is_some()
                    || matches!(ty, Some("string" | "integer" | "boolean")),
                "{name}"
            );
        }
    }
}
