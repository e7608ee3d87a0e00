//! HTTP through the host, with JSON helpers and status mapping.
//!
//! Requests go through the host's client, which enforces the integration's
//! grant: a destination the admin did not grant comes back as
//! [`HttpError::Denied`], which converts to a configuration error naming the
//! host. Non-2xx statuses are ordinary [`Response`]s; call
//! [`Response::error_for_status`] to turn them into the connector error the
//! host's retry logic understands (429 and 503 with `Retry-After` become
//! `rate-limited`, other 5xx `transient`, 401/403 `auth`).
//!
//! ```
//! # use cube_connector_sdk::{http, testing};
//! # testing::on_http(|_| Ok(testing::response(200, r#"{"key":"OPS-1"}"#)));
//! #[derive(serde::Deserialize)]
//! struct Issue { key: String }
//!
//! let issue: Issue = http::post("https://jira.example.com/rest/api/3/issue")
//!     .basic("me@example.com", "api-token")
//!     .json(&serde_json::json!({"fields": {"summary": "Pump 4 leaks"}}))?
//!     .send()?
//!     .error_for_status()?
//!     .json()?;
//! assert_eq!(issue.key, "OPS-1");
//! # Ok::<(), cube_connector_sdk::Error>(())
//! ```

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::sys;
pub use crate::sys::HttpError;

/// A request being built.
///
/// Start one with [`get`], [`post`], [`put`], [`patch`], [`delete`] or
/// [`request`], add headers and a body, then [`send`](Self::send) it.
/// Unless you say otherwise, it follows redirects (each checked against the
/// grant) and has no timeout of its own beyond the call's deadline.
#[derive(Clone, Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct RequestBuilder {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    timeout: Option<Duration>,
    follow_redirects: bool,
}

/// Starts a request with any method, for those without a shortcut
/// (`HEAD`, `OPTIONS`). The method is uppercased.
pub fn request(method: &str, url: impl Into<String>) -> RequestBuilder {
    RequestBuilder {
        method: method.to_ascii_uppercase(),
        url: url.into(),
        headers: Vec::new(),
        body: None,
        timeout: None,
        follow_redirects: true,
    }
}

/// Starts a `GET` request to `url`.
pub fn get(url: impl Into<String>) -> RequestBuilder {
    request("GET", url)
}

/// Starts a `POST` request to `url`.
pub fn post(url: impl Into<String>) -> RequestBuilder {
    request("POST", url)
}

/// Starts a `PUT` request to `url`.
pub fn put(url: impl Into<String>) -> RequestBuilder {
    request("PUT", url)
}

/// Starts a `PATCH` request to `url`.
pub fn patch(url: impl Into<String>) -> RequestBuilder {
    request("PATCH", url)
}

/// Starts a `DELETE` request to `url`.
pub fn delete(url: impl Into<String>) -> RequestBuilder {
    request("DELETE", url)
}

impl RequestBuilder {
    /// Adds a header (headers may repeat).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    /// `Authorization: Basic <base64(user:password)>`.
    pub fn basic(self, user: &str, password: &str) -> Self {
        let encoded = crate::encode::base64(format!("{user}:{password}").as_bytes());
        self.header("authorization", format!("Basic {encoded}"))
    }

    /// Appends `name=value` to the query string, percent-encoded.
    ///
    /// ```
    /// # use cube_connector_sdk::{http, testing};
    /// # testing::reset();
    /// # testing::on_http(|_| Ok(testing::response(200, "[]")));
    /// http::get("https://jira.example.com/rest/api/3/search")
    ///     .query("jql", "project = OPS")
    ///     .query("maxResults", "50")
    ///     .send()?;
    /// assert_eq!(
    ///     testing::requests()[0].url,
    ///     "https://jira.example.com/rest/api/3/search?jql=project%20%3D%20OPS&maxResults=50"
    /// );
    /// # Ok::<(), cube_connector_sdk::Error>(())
    /// ```
    pub fn query(mut self, name: &str, value: &str) -> Self {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        self.url = format!(
            "{}{separator}{}={}",
            self.url,
            crate::encode::percent(name),
            crate::encode::percent(value)
        );
        self
    }

    /// A raw body. Set its `content-type` with [`header`](Self::header);
    /// for a form, see [`encode::form`](crate::encode::form).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// A JSON body, with its content type (and JSON accepted back).
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Result<Self> {
        let body = serde_json::to_vec(value)?;
        Ok(self
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(body))
    }

    /// A timeout for this request (the host also bounds it by the call's deadline).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Whether redirects are followed (inside the grant); on by default.
    pub fn follow_redirects(mut self, follow: bool) -> Self {
        self.follow_redirects = follow;
        self
    }

    /// Sends the request and waits for the whole response. A non-2xx
    /// status is still `Ok`: see [`Response::error_for_status`].
    ///
    /// An `Err` means no response came back: the destination is not
    /// granted (a `config` error naming it); the server could not be
    /// reached, failed TLS or timed out (`unreachable`, retried); or the
    /// request was malformed, the response too large or the call's
    /// allowance of requests used up (`fatal`).
    pub fn send(self) -> Result<Response> {
        let request = sys::Request {
            method: self.method,
            url: self.url,
            headers: self.headers,
            body: self.body,
            timeout_ms: self
                .timeout
                .map(|t| t.as_millis().min(u32::MAX as u128) as u32),
            follow_redirects: self.follow_redirects,
        };
        sys::http_send(&request)
            .map(|r| Response {
                status: r.status,
                headers: r.headers,
                body: r.body,
                url: r.url,
            })
            .map_err(Error::from)
    }
}

/// A response, whatever its status.
#[derive(Clone, Debug)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// Lowercase names.
    pub headers: Vec<(String, String)>,
    /// The whole body; read it with [`text`](Self::text) or
    /// [`json`](Self::json).
    pub body: Vec<u8>,
    /// The URL that answered, after redirects.
    pub url: String,
}

impl Response {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the status is 2xx. When anything else should end the call,
    /// use [`error_for_status`](Self::error_for_status) instead: it also
    /// picks the error the host's retry rules need.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON. A body that does not fit `T` is a `fatal`
    /// error naming the URL (without its query).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::fatal(format!(
                "the response from {} is not the JSON expected: {e}",
                self.url_for_messages()
            ))
        })
    }

    /// How long the server asked us to wait (`Retry-After` in seconds, or
    /// as an HTTP date relative to the response's `Date`).
    pub fn retry_after(&self) -> Option<Duration> {
        let value = self.header("retry-after")?.trim();
        if let Ok(seconds) = value.parse::<u64>() {
            return Some(Duration::from_secs(seconds));
        }
        // A date needs a clock; connectors have none, so measure it from
        // the server's own `Date` header.
        let until = http_date(value)?;
        let now = http_date(self.header("date")?)?;
        Some(Duration::from_secs(until.saturating_sub(now)))
    }

    /// `Ok(self)` for 1xx-3xx; the matching connector error otherwise.
    ///
    /// 401 and 403 become `auth`, 404 `config`, 429 (and 503 with
    /// `Retry-After`) `rate-limited` with the delay asked for, other 5xx
    /// `transient`, and the rest `fatal`. The message names the URL without
    /// its query (which may carry keys) and the start of the body.
    ///
    /// ```
    /// use cube_connector_sdk::{Error, http, testing};
    ///
    /// testing::on_http(|_| {
    ///     let mut response = testing::response(429, "slow down");
    ///     response.headers.push(("retry-after".into(), "30".into()));
    ///     Ok(response)
    /// });
    /// let err = http::get("https://api.example.com/items")
    ///     .send()?
    ///     .error_for_status()
    ///     .unwrap_err();
    /// assert!(err.is_retryable());
    /// assert!(matches!(err, Error::RateLimited(r) if r.retry_after_ms == Some(30_000)));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn error_for_status(self) -> Result<Response> {
        let status = self.status;
        if status < 400 {
            return Ok(self);
        }
        let detail = self.error_detail();
        let at = self.url_for_messages();
        Err(match status {
            401 => Error::auth(format!(
                "{at} refused the credentials (401){detail}; check the user and token"
            )),
            403 => Error::auth(format!(
                "{at} denied access (403){detail}; the account lacks a permission"
            )),
            429 | 503 if status == 429 || self.retry_after().is_some() => Error::rate_limited(
                self.retry_after().map(|d| d.as_millis() as u64),
                format!("{at} answered {status}{detail}"),
            ),
            500..=599 => Error::transient(format!("{at} answered {status}{detail}")),
            404 => Error::config(format!(
                "{at} was not found (404){detail}; check the URL and identifiers in the configuration"
            )),
            _ => Error::fatal(format!("{at} answered {status}{detail}")),
        })
    }

    /// The connector error for a failed answer, for connectors that word
    /// their own messages: `service` names the remote system ("Jira"), and
    /// `detail` (empty, or `": "` and the service's own error text) ends
    /// each message.
    ///
    /// 429, and 503 with `Retry-After`, are `rate-limited` with the delay
    /// asked for; other 5xx `transient`; 400 `config` (the request the
    /// configuration made was refused); anything else `fatal`. Handle first
    /// the statuses that need your service's own advice (redirects, 401,
    /// 403, 404).
    ///
    /// ```
    /// use cube_connector_sdk::{Error, http};
    ///
    /// let busy = http::Response {
    ///     status: 503,
    ///     headers: vec![("retry-after".into(), "20".into())],
    ///     body: Vec::new(),
    ///     url: "https://acme.example.com/api".into(),
    /// };
    /// let err = busy.service_error("Acme", ": maintenance");
    /// assert_eq!(err, Error::rate_limited(Some(20_000), "Acme is busy (503): maintenance"));
    /// ```
    pub fn service_error(&self, service: &str, detail: &str) -> Error {
        let status = self.status;
        match status {
            429 => Error::rate_limited(
                self.retry_after().map(|d| d.as_millis() as u64),
                format!("{service} asked to slow down (429){detail}"),
            ),
            503 if self.retry_after().is_some() => Error::rate_limited(
                self.retry_after().map(|d| d.as_millis() as u64),
                format!("{service} is busy (503){detail}"),
            ),
            500..=599 => Error::transient(format!("{service} answered {status}{detail}")),
            400 => Error::config(format!("{service} refused the request (400){detail}")),
            _ => Error::fatal(format!("{service} answered {status}{detail}")),
        }
    }

    fn error_detail(&self) -> String {
        let text = self.text();
        let text = text.trim();
        if text.is_empty() {
            return String::new();
        }
        let mut short: String = text.chars().take(300).collect();
        if short.len() < text.len() {
            short.push('…');
        }
        format!(": {short}")
    }

    fn url_for_messages(&self) -> String {
        if self.url.is_empty() {
            return "the server".to_owned();
        }
        // Drop the query: it may carry keys.
        self.url.split('?').next().unwrap_or_default().to_owned()
    }
}

impl From<HttpError> for Error {
    /// A destination that is not granted is a `config` error (the admin
    /// must grant it); connection, TLS and timeout failures are
    /// `unreachable`, and retried; a malformed request, a body over the
    /// limit or too many requests are `fatal`.
    fn from(error: HttpError) -> Self {
        match error {
            HttpError::Denied(m) => Error::config(format!("not allowed: {m}")),
            HttpError::InvalidRequest(m) => Error::fatal(format!("invalid request: {m}")),
            HttpError::Connection(m) => Error::unreachable(m),
            HttpError::Tls(m) => Error::unreachable(m),
            HttpError::Timeout(m) => Error::unreachable(m),
            HttpError::TooLarge(m) => Error::fatal(m),
            HttpError::LimitExceeded(m) => Error::fatal(m),
        }
    }
}

/// Seconds since the epoch of an HTTP date, for `Retry-After` arithmetic.
fn http_date(value: &str) -> Option<u64> {
    crate::time::http_date_secs(value).and_then(|s| u64::try_from(s).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
            url: "https://api.example.com/items?key=secret".into(),
        }
    }

    #[test]
    fn builds_requests_with_auth_query_and_json() {
        testing::reset();
        testing::on_http(|_| Ok(testing::response(200, "{}")));
        post("https://api.example.com/items")
            .basic("Aladdin", "open sesame")
            .query("q", "a b&c")
            .json(&serde_json::json!({"n": 1}))
            .unwrap()
            .timeout(Duration::from_secs(5))
            .send()
            .unwrap();
        let sent = &testing::requests()[0];
        assert_eq!(sent.method, "POST");
        assert_eq!(sent.url, "https://api.example.com/items?q=a%20b%26c");
        assert!(sent.headers.contains(&(
            "authorization".into(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==".into()
        )));
        assert!(
            sent.headers
                .contains(&("content-type".into(), "application/json".into()))
        );
        assert_eq!(sent.body.as_deref(), Some(&b"{\"n\":1}"[..]));
        assert_eq!(sent.timeout_ms, Some(5000));
        assert!(sent.follow_redirects);
    }

    #[test]
    fn base64_pads_correctly() {
        assert_eq!(crate::encode::base64(b""), "");
        assert_eq!(crate::encode::base64(b"f"), "Zg==");
        assert_eq!(crate::encode::base64(b"fo"), "Zm8=");
        assert_eq!(crate::encode::base64(b"foo"), "Zm9v");
        assert_eq!(crate::encode::base64(b"foob"), "Zm9vYg==");
    }

    #[test]
    fn rate_limits_carry_retry_after_in_seconds_or_as_a_date() {
        let err = response(429, &[("retry-after", "7")], "slow down")
            .error_for_status()
            .unwrap_err();
        assert_eq!(
            err,
            Error::rate_limited(
                Some(7_000),
                "https://api.example.com/items answered 429: slow down"
            )
        );

        let dated = response(
            503,
            &[
                ("date", "Tue, 24 Nov 2026 10:00:00 GMT"),
                ("retry-after", "Tue, 24 Nov 2026 10:02:30 GMT"),
            ],
            "",
        );
        assert_eq!(dated.retry_after(), Some(Duration::from_secs(150)));
        assert!(
            matches!(dated.error_for_status(), Err(Error::RateLimited(r)) if r.retry_after_ms == Some(150_000))
        );

        let no_hint = response(429, &[], "");
        assert!(
            matches!(no_hint.error_for_status(), Err(Error::RateLimited(r)) if r.retry_after_ms.is_none())
        );
    }

    #[test]
    fn statuses_map_to_the_retry_rules() {
        let classify = |status| response(status, &[], "").error_for_status().map(|_| ());
        assert!(classify(200).is_ok());
        assert!(classify(304).is_ok());
        assert!(matches!(classify(401), Err(Error::Auth(_))));
        assert!(matches!(classify(403), Err(Error::Auth(_))));
        assert!(matches!(classify(404), Err(Error::Config(_))));
        assert!(matches!(classify(500), Err(Error::Transient(_))));
        assert!(matches!(classify(503), Err(Error::Transient(_))));
        assert!(matches!(classify(400), Err(Error::Fatal(_))));
        assert!(classify(502).unwrap_err().is_retryable());
        assert!(!classify(401).unwrap_err().is_retryable());
    }

    #[test]
    fn messages_leave_the_query_out() {
        let err = response(500, &[], "").error_for_status().unwrap_err();
        assert!(!err.message().contains("secret"), "{}", err.message());
    }

    #[test]
    fn host_errors_convert_to_connector_errors() {
        testing::reset();
        testing::on_http(|req| Err(HttpError::Denied(format!("{} is not granted", req.url))));
        let err = get("https://evil.example/").send().unwrap_err();
        assert!(
            matches!(&err, Error::Config(m) if m.contains("evil.example")),
            "{err:?}"
        );
        assert!(Error::from(HttpError::Timeout("slow".into())).is_retryable());
        assert!(!Error::from(HttpError::TooLarge("big".into())).is_retryable());
    }

    #[test]
    fn json_bodies_parse_or_explain() {
        let ok = response(200, &[], r#"{"id": 3}"#);
        assert_eq!(ok.json::<serde_json::Value>().unwrap()["id"], 3);
        let bad = response(200, &[], "<html>");
        let err = bad.json::<serde_json::Value>().unwrap_err();
        assert!(matches!(&err, Error::Fatal(m) if m.contains("not the JSON expected")));
    }

    #[test]
    fn http_dates_parse() {
        assert_eq!(http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(http_date("yesterday"), None);
    }
}
