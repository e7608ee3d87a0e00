//! Test doubles for the host's imports, for native `cargo test`.
//!
//! Each test thread has its own fake host: HTTP requests go to the handler
//! you install with [`on_http`], log lines and state stay in memory where
//! [`logs`] and [`state_get`] read them. [`reset`] starts afresh.
//!
//! ```
//! use cube_connector_sdk::{http, testing};
//!
//! testing::on_http(|req| {
//!     assert_eq!(req.url, "https://api.example.com/ping");
//!     Ok(testing::response(200, r#"{"ok":true}"#))
//! });
//! let body: serde_json::Value = http::get("https://api.example.com/ping").send().unwrap().json().unwrap();
//! assert_eq!(body["ok"], true);
//! ```
//!
//! This module exists only in native builds, not on `wasm32`: use it from
//! `#[cfg(test)]` code.
//!
//! # Testing a connector
//!
//! Call the [`Connector`](crate::Connector) methods directly, with a
//! configuration and a [`SyncInput`](crate::SyncInput) you build, and
//! check what was sent and returned:
//!
//! ```
//! use cube_connector_sdk::prelude::*;
//! use cube_connector_sdk::testing;
//!
//! #[derive(serde::Deserialize)]
//! struct Config {
//!     base_url: String,
//! }
//!
//! struct Todos;
//!
//! impl Connector for Todos {
//!     type Config = Config;
//!     // ...
//! #   fn info() -> ConnectorInfo {
//! #       ConnectorInfo::builder("todos", "Todos", "0.1.0").build()
//! #   }
//! #   fn test_connection(_: Config) -> Result<String> {
//! #       Ok("Connected".into())
//! #   }
//!
//!     fn sync(config: Config, input: SyncInput) -> Result<SyncPage> {
//!         let page = input.cursor.unwrap_or_else(|| "1".into());
//!         let todos: Vec<serde_json::Value> = http::get(format!("{}/todos", config.base_url))
//!             .query("page", &page)
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
//! testing::reset();
//! testing::on_http(|req| {
//!     assert_eq!(req.url, "https://todos.example.com/todos?page=1");
//!     Ok(testing::response(200, r#"[{"id": 1, "title": "Fix pump"}]"#))
//! });
//! let config = Config { base_url: "https://todos.example.com".into() };
//! let input = SyncInput { mode: SyncMode::Full, cursor: None, dry_run: false, page_size: 100 };
//! let page = Todos::sync(config, input)?;
//! assert_eq!(page.records[0].external_id, "1");
//! assert_eq!(testing::requests().len(), 1);
//!
//! // Errors from the remote system come back as the connector would see them.
//! testing::on_http(|_| Ok(testing::response(503, "maintenance")));
//! let config = Config { base_url: "https://todos.example.com".into() };
//! let input = SyncInput { mode: SyncMode::Full, cursor: None, dry_run: false, page_size: 100 };
//! assert!(matches!(Todos::sync(config, input), Err(Error::Transient(_))));
//! # Ok::<(), Error>(())
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;

pub use crate::bindings::cube::connector::http::{HttpError, Request, Response};
pub use crate::bindings::cube::connector::ldap::{
    LdapError, SearchControl, SearchPage, SearchRequest,
};
use crate::bindings::cube::connector::log::Level;

type Handler = Box<dyn FnMut(&Request) -> Result<Response, HttpError>>;
type SearchHandler =
    Box<dyn FnMut(&SearchRequest, &[SearchControl]) -> Result<SearchPage, LdapError>>;
type BindHandler = Box<dyn FnMut(&str, &str) -> Result<(), LdapError>>;

#[derive(Default)]
pub(crate) struct FakeHost {
    handler: Option<Handler>,
    pub(crate) requests: Vec<Request>,
    pub(crate) logs: Vec<(String, String)>,
    pub(crate) state: BTreeMap<String, Vec<u8>>,
    search: Option<SearchHandler>,
    bind: Option<BindHandler>,
    pub(crate) binds: Vec<String>,
}

impl FakeHost {
    pub(crate) fn send(&mut self, request: &Request) -> Result<Response, HttpError> {
        self.requests.push(request.clone());
        match self.handler.as_mut() {
            Some(handler) => handler(request),
            None => Err(HttpError::Denied(format!(
                "no HTTP handler installed in this test (call testing::on_http) for {} {}",
                request.method, request.url
            ))),
        }
    }

    pub(crate) fn ldap_bind(&mut self, dn: &str, password: &str) -> Result<(), LdapError> {
        self.binds.push(dn.to_owned());
        match self.bind.as_mut() {
            Some(handler) => handler(dn, password),
            None => Ok(()),
        }
    }

    pub(crate) fn ldap_search(
        &mut self,
        request: &SearchRequest,
        controls: &[SearchControl],
    ) -> Result<SearchPage, LdapError> {
        match self.search.as_mut() {
            Some(handler) => handler(request, controls),
            None => Err(LdapError::Connection(format!(
                "no LDAP handler installed in this test (call testing::on_ldap_search) for {}",
                request.filter
            ))),
        }
    }

    pub(crate) fn log(&mut self, level: Level, message: &str) {
        let level = match level {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        self.logs.push((level.to_owned(), message.to_owned()));
    }
}

thread_local! {
    static HOST: RefCell<FakeHost> = RefCell::new(FakeHost::default());
}

pub(crate) fn with_host<R>(f: impl FnOnce(&mut FakeHost) -> R) -> R {
    HOST.with(|host| f(&mut host.borrow_mut()))
}

/// Answers this thread's HTTP requests with `handler`, replacing any
/// handler before it. Without one, every request fails as
/// [`HttpError::Denied`]. Return [`response`] for an answer, or an
/// [`HttpError`] to act out a failure (a timeout, a destination not
/// granted).
pub fn on_http(handler: impl FnMut(&Request) -> Result<Response, HttpError> + 'static) {
    with_host(|host| host.handler = Some(Box::new(handler)));
}

/// Answers this thread's LDAP searches with `handler`, replacing any
/// handler before it. Without one, every search fails as
/// [`LdapError::Connection`]. Look at the request's `filter` and `cookie`
/// to answer page by page.
pub fn on_ldap_search(
    mut handler: impl FnMut(&SearchRequest) -> Result<SearchPage, LdapError> + 'static,
) {
    with_host(|host| host.search = Some(Box::new(move |request, _| handler(request))));
}

/// Like [`on_ldap_search`], for a double that also looks at the request
/// controls a search carries (like [`SearchControl::ShowDeleted`]), to act
/// out a server that refuses one.
pub fn on_ldap_search_with_controls(
    handler: impl FnMut(&SearchRequest, &[SearchControl]) -> Result<SearchPage, LdapError> + 'static,
) {
    with_host(|host| host.search = Some(Box::new(handler)));
}

/// Answers this thread's LDAP binds with `handler` (by default every bind
/// succeeds).
pub fn on_ldap_bind(handler: impl FnMut(&str, &str) -> Result<(), LdapError> + 'static) {
    with_host(|host| host.bind = Some(Box::new(handler)));
}

/// The DNs bound as so far on this thread.
pub fn ldap_binds() -> Vec<String> {
    with_host(|host| host.binds.clone())
}

/// A response with `status` and a body (JSON content type when it looks like
/// JSON), for an [`on_http`] handler to return. Push more headers onto its
/// `headers` as needed; its `url` is empty.
pub fn response(status: u16, body: impl Into<Vec<u8>>) -> Response {
    let body = body.into();
    let mut headers = Vec::new();
    if body.first().is_some_and(|b| *b == b'{' || *b == b'[') {
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
    }
    Response {
        status,
        headers,
        body,
        url: String::new(),
    }
}

/// The requests sent so far on this thread.
pub fn requests() -> Vec<Request> {
    with_host(|host| host.requests.clone())
}

/// The lines logged so far on this thread, as (level, message).
pub fn logs() -> Vec<(String, String)> {
    with_host(|host| host.logs.clone())
}

/// A value in this thread's fake state, as the code under test left it.
/// (The [`state`](crate::state) functions work natively too.)
pub fn state_get(key: &str) -> Option<Vec<u8>> {
    with_host(|host| host.state.get(key).cloned())
}

/// Forgets the handlers, requests, binds, logs and state of this thread.
/// Tests usually call it first, so that nothing done earlier on the thread
/// leaks in.
pub fn reset() {
    with_host(|host| *host = FakeHost::default());
}
