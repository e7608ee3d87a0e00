//! The HTTP scaffolding shared by the fakes of SaaS APIs (Jira, Slack,
//! ServiceNow, and the Graph and Google ones to come), so each fake holds
//! only its vendor's contract.
//!
//! A new fake gets from it:
//! - [`FakeHttp`]: a server on 127.0.0.1 with a port of its own, its base URL
//!   (`http://127.0.0.1:PORT`), the fake's state behind a lock (a poisoned
//!   lock is still usable, so one failed assertion doesn't hide the
//!   others), and the server stopped when the fake is dropped. Every
//!   request, whatever its method and path, is read whole and handed to the
//!   state's [`Respond::respond`] with the lock held, so a request sees and
//!   changes the state in one step.
//! - [`Serve`]: for a state that answers a request taken apart
//!   ([`Incoming`]: method, path, raw query, headers, body) with a
//!   [`Reply`], the [`Respond`] that takes it apart.
//! - [`Reply`]: an answer made of a status, headers and an optional JSON body,
//!   sent as `application/json;charset=UTF-8`. A fake adds its vendor's
//!   error shape as an extension trait (Jira's `Reply::errors`,
//!   ServiceNow's `Reply::failure`).
//! - [`Faults`]: makes the next N requests get 429 with `Retry-After`, or an
//!   error status. The fake decides where in its handling a fault is used
//!   and gives it its vendor's headers and body.
//! - [`request_line`]: `METHOD /path?query`, the prefix for the violations a
//!   request causes.
//!
//! - [`RecordedRequest`]: a request as a fake recorded it, with its decoded
//!   query and the status it was answered with, for the fakes whose tests
//!   ask of those (ServiceNow, the generic REST API).
//!
//! Recording requests is otherwise left to each fake: what a test asks of a
//! recorded request (raw query, `Authorization`) differs by vendor.
//!
//! Use:
//!
//! ```
//! use axum::http::request::Parts;
//! use axum::response::{IntoResponse, Response};
//! use cube_test_support::fake_http::{FakeHttp, Faults, Reply, Respond};
//! use serde_json::json;
//!
//! struct Inner {
//!     base_url: String,
//!     faults: Faults,
//! }
//!
//! impl Respond for Inner {
//!     fn respond(&mut self, request: &Parts, _body: &[u8]) -> Response {
//!         if let Some(secs) = self.faults.rate_limited() {
//!             let mut reply = Reply::json(429, json!({"error": "slow down"}));
//!             reply.headers.push(("Retry-After", secs.to_string()));
//!             return reply.into_response();
//!         }
//!         let path = request.uri.path();
//!         Reply::json(200, json!({"self": format!("{}{path}", self.base_url)})).into_response()
//!     }
//! }
//!
//! pub struct FakeThing {
//!     http: FakeHttp<Inner>,
//! }
//!
//! impl FakeThing {
//!     pub async fn start() -> FakeThing {
//!         let http = FakeHttp::start(|base_url| Inner {
//!             base_url,
//!             faults: Faults::default(),
//!         })
//!         .await;
//!         FakeThing { http }
//!     }
//!
//!     pub fn rate_limit_next(&self, n: u32, retry_after_secs: u64) {
//!         self.http.state().faults.rate_limit_next(n, retry_after_secs);
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let fake = FakeThing::start().await;
//! fake.rate_limit_next(1, 7);
//! let url = format!("{}/things", fake.http.base_url());
//! let first = reqwest::get(&url).await.unwrap();
//! assert_eq!(first.status(), 429);
//! assert_eq!(first.headers()["Retry-After"], "7");
//! assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);
//! # }
//! ```

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// How a fake's state answers a request.
pub trait Respond: Send + 'static {
    /// The answer to one request: its method, URI and headers, and its
    /// whole body.
    fn respond(&mut self, request: &Parts, body: &[u8]) -> Response;
}

/// A request taken apart, as [`Serve`] answers it.
pub struct Incoming<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The query string as sent, `""` when there is none.
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    /// The whole body.
    pub body: &'a [u8],
}

/// A fake's state that answers each request taken apart with a [`Reply`];
/// it is the [`Respond`] of its server.
pub trait Serve: Send + 'static {
    fn serve(&mut self, request: Incoming<'_>) -> Reply;
}

impl<T: Serve> Respond for T {
    fn respond(&mut self, request: &Parts, body: &[u8]) -> Response {
        self.serve(Incoming {
            method: request.method.as_str(),
            path: request.uri.path(),
            raw_query: request.uri.query().unwrap_or(""),
            headers: &request.headers,
            body,
        })
        .into_response()
    }
}

/// A fake's server on 127.0.0.1 and its state; the server stops when this
/// is dropped.
pub struct FakeHttp<T> {
    state: Arc<Mutex<T>>,
    base_url: String,
    server: tokio::task::JoinHandle<()>,
}

impl<T> Drop for FakeHttp<T> {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn handle<T: Respond>(State(state): State<Arc<Mutex<T>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
    state.respond(&parts, &body)
}

impl<T: Respond> FakeHttp<T> {
    /// Binds a port of its own on 127.0.0.1, makes the state from the base
    /// URL (`http://127.0.0.1:PORT`), and serves every request with it.
    pub async fn start(state: impl FnOnce(String) -> T) -> FakeHttp<T> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(state(base_url.clone())));
        let app = axum::Router::new()
            .fallback(handle::<T>)
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeHttp {
            state,
            base_url,
            server,
        }
    }
}

impl<T> FakeHttp<T> {
    /// The state, locked.
    pub fn state(&self) -> MutexGuard<'_, T> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

/// An answer: a status, headers, and a JSON body or none.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Value>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = Response::builder().status(self.status);
        for (name, value) in self.headers {
            response = response.header(name, value);
        }
        match self.body {
            Some(json) => response
                .header("Content-Type", "application/json;charset=UTF-8")
                .body(Body::from(serde_json::to_vec(&json).expect("JSON"))),
            None => response.body(Body::empty()),
        }
        .expect("a valid response")
    }
}

/// Faults a test arms for the next requests: 429s first, then failures.
#[derive(Debug, Default)]
pub struct Faults {
    /// Requests still to get 429, and the `Retry-After` seconds.
    rate_limit: Option<(u32, u64)>,
    /// Requests still to fail, and the status.
    failures: Option<(u32, u16)>,
}

impl Faults {
    /// The next `n` requests get 429 with `Retry-After: retry_after_secs`.
    pub fn rate_limit_next(&mut self, n: u32, retry_after_secs: u64) {
        self.rate_limit = (n > 0).then_some((n, retry_after_secs));
    }

    /// The next `n` requests fail with `status`.
    pub fn fail_next(&mut self, n: u32, status: u16) {
        self.failures = (n > 0).then_some((n, status));
    }

    /// If a 429 is armed, uses it up and gives its `Retry-After` seconds.
    pub fn rate_limited(&mut self) -> Option<u64> {
        let (n, seconds) = self.rate_limit?;
        self.rate_limit = (n > 1).then_some((n - 1, seconds));
        Some(seconds)
    }

    /// If a failure is armed, uses it up and gives its status.
    pub fn failed(&mut self) -> Option<u16> {
        let (n, status) = self.failures?;
        self.failures = (n > 1).then_some((n - 1, status));
        Some(status)
    }
}

/// A request as a fake recorded it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Decoded query parameters.
    pub query: Vec<(String, String)>,
    pub body: String,
    /// The status it was answered with.
    pub status: u16,
}

impl RecordedRequest {
    /// The value of query parameter `name`, if it was sent.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `METHOD /path` or `METHOD /path?query`: what a violation found while
/// serving a request starts with.
pub fn request_line(method: &str, path: &str, raw_query: &str) -> String {
    match raw_query {
        "" => format!("{method} {path}"),
        q => format!("{method} {path}?{q}"),
    }
}
