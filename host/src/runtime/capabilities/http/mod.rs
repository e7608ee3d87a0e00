//! The `http` capability: outbound HTTP inside the integration's grant.
//!
//! Each request is checked before it leaves: the URL's scheme, host and port
//! must match one of the integration's [`HttpGrant`]s, and the addresses the
//! host name resolves to must be public unless a grant it matches allows more (see
//! [`crate::net`] and [`client`]). Redirects are followed here, not by the
//! client, so each hop is checked the same way. Bodies are read up to the
//! call's size limit, and every call has a budget of requests.

mod client;
pub mod grant;
pub mod recording;

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use wasmtime::component::HasData;

pub use client::HttpClients;
pub use grant::HttpGrant;
pub use recording::{HttpRecording, RecordingMode};

use super::denials::Denials;
use super::{CallSetup, Capability};
use crate::runtime::bindings::cube::connector::http::{self as wit, HttpError, Request, Response};

/// The most redirects one request follows.
const MAX_REDIRECTS: usize = 10;
/// The timeout of a request that names none (still capped by the deadline).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// One call's view of the HTTP capability.
pub struct HttpCall {
    clients: Arc<HttpClients>,
    grants: Arc<[HttpGrant]>,
    deadline: Instant,
    max_response_bytes: usize,
    max_requests: u32,
    /// Requests sent so far in this call, redirects included.
    pub(crate) requests: u32,
    denials: Denials,
    /// Exchanges kept or answered for `cube plugin test`.
    recording: Option<Arc<HttpRecording>>,
}

impl HttpCall {
    pub fn new(
        clients: Arc<HttpClients>,
        grants: Arc<[HttpGrant]>,
        deadline: Instant,
        max_response_bytes: usize,
        max_requests: u32,
    ) -> Self {
        Self {
            clients,
            grants,
            deadline,
            max_response_bytes,
            max_requests,
            requests: 0,
            denials: Denials::default(),
            recording: None,
        }
    }

    /// Keeps every exchange in `recording`, or answers from it instead of
    /// the network (see [`recording`]).
    pub fn with_recording(mut self, recording: Option<Arc<HttpRecording>>) -> Self {
        self.recording = recording;
        self
    }

    /// Notes refused destinations in `denials` (shared with the call's context).
    pub fn with_denials(mut self, denials: Denials) -> Self {
        self.denials = denials;
        self
    }

    /// Sends `request`, following redirects inside the grant.
    pub async fn send(&mut self, request: Request) -> Result<Response, HttpError> {
        let mut method = parse_method(&request.method)?;
        let mut url = Url::parse(&request.url).map_err(|e| {
            HttpError::InvalidRequest(format!("`{}` is not a URL: {e}", request.url))
        })?;
        let mut headers = parse_headers(&request.headers)?;
        let mut body = request.body;
        let requested_timeout = request
            .timeout_ms
            .map(|ms| Duration::from_millis(ms.into()))
            .unwrap_or(DEFAULT_TIMEOUT);

        for hop in 0..=MAX_REDIRECTS {
            let client = self.check(&url, hop > 0)?;
            let timeout =
                requested_timeout.min(self.deadline.saturating_duration_since(Instant::now()));
            if timeout.is_zero() {
                return Err(HttpError::Timeout(format!(
                    "no time left in this call to send {method} {}",
                    display_url(&url)
                )));
            }
            let response = self
                .exchange(client, &method, &url, &headers, body.as_deref(), timeout)
                .await?;
            let status = reqwest::StatusCode::from_u16(response.status)
                .unwrap_or(reqwest::StatusCode::INTERNAL_SERVER_ERROR);
            let location = response
                .headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("location"))
                .map(|(_, value)| value.clone());
            match location {
                Some(location) if request.follow_redirects && status.is_redirection() => {
                    let next = url.join(&location).map_err(|e| {
                        HttpError::InvalidRequest(format!(
                            "{} redirected to `{location}`, which is not a URL: {e}",
                            display_url(&url)
                        ))
                    })?;
                    if next.origin() != url.origin() {
                        // Credentials are for the origin they were sent to.
                        for name in ["authorization", "cookie", "proxy-authorization"] {
                            headers.remove(name);
                        }
                    }
                    // 303, and 301/302 after a POST, become a GET without body.
                    let code = status.as_u16();
                    if code == 303
                        || ((code == 301 || code == 302) && method == reqwest::Method::POST)
                    {
                        method = reqwest::Method::GET;
                        body = None;
                        headers.remove(reqwest::header::CONTENT_TYPE);
                        headers.remove(reqwest::header::CONTENT_LENGTH);
                    }
                    url = next;
                }
                _ => return Ok(response),
            }
        }
        Err(HttpError::Connection(format!(
            "more than {MAX_REDIRECTS} redirects from {}",
            request.url
        )))
    }

    /// One hop: sent and read, or answered from a recording.
    async fn exchange(
        &self,
        client: reqwest::Client,
        method: &reqwest::Method,
        url: &Url,
        headers: &HeaderMap,
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Response, HttpError> {
        if let Some(recording) = &self.recording
            && recording.mode() == RecordingMode::Replay
        {
            return recording.answer(method.as_str(), url.as_str(), body);
        }
        let mut builder = client
            .request(method.clone(), url.clone())
            .headers(headers.clone())
            .timeout(timeout);
        if let Some(body) = body {
            builder = builder.body(body.to_vec());
        }
        let response = builder.send().await.map_err(|e| map_send_error(url, e))?;
        let response = self.read(url.clone(), response).await?;
        if let Some(recording) = &self.recording {
            recording.keep(method.as_str(), url.as_str(), body, &response);
        }
        Ok(response)
    }

    /// Counts the request against the budget and checks `url` against the
    /// grants; returns the client whose resolver enforces the grant.
    fn check(&mut self, url: &Url, redirected: bool) -> Result<reqwest::Client, HttpError> {
        if self.requests >= self.max_requests {
            return Err(HttpError::LimitExceeded(format!(
                "this call may send at most {} HTTP requests",
                self.max_requests
            )));
        }
        self.requests += 1;
        let scheme = url.scheme();
        if scheme != "http" && scheme != "https" {
            return Err(HttpError::InvalidRequest(format!(
                "only http and https URLs can be fetched, not `{scheme}:`"
            )));
        }
        let host = url
            .host_str()
            .ok_or_else(|| HttpError::InvalidRequest(format!("`{url}` has no host")))?;
        let port = url.port_or_known_default().unwrap_or(0);
        let via = if redirected { "a redirect to " } else { "" };
        let Some(grant) = self.grants.iter().find(|g| g.matches(scheme, host, port)) else {
            return Err(HttpError::Denied(self.not_granted(via, scheme, host, port)));
        };
        if let Some(ip) = literal_ip(url)
            && !self
                .grants
                .iter()
                .any(|g| g.matches(scheme, host, port) && g.reaches(ip))
        {
            return Err(HttpError::Denied(format!(
                "{via}{scheme}://{host}:{port} is denied: {ip} is a {} address, and the grant {grant} \
                 does not reach it; an admin can grant {scheme}://{host}:{port} itself",
                crate::net::address::classify(ip)
            )));
        }
        // Only the grants this request is inside decide whether its name
        // may reach private addresses: allowing them is per grant.
        let matching: Vec<HttpGrant> = self
            .grants
            .iter()
            .filter(|g| g.matches(scheme, host, port))
            .cloned()
            .collect();
        Ok(self.clients.client_for(&matching))
    }

    fn not_granted(&self, via: &str, scheme: &str, host: &str, port: u16) -> String {
        let granted = if self.grants.is_empty() {
            "no HTTP destinations".to_owned()
        } else {
            self.grants
                .iter()
                .map(|g| g.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let suggestion = if port == grant::default_port(scheme) {
            format!("{scheme}://{host}")
        } else {
            format!("{scheme}://{host}:{port}")
        };
        self.denials.record(suggestion.clone());
        format!(
            "{via}{scheme}://{host}:{port} is not granted to this integration \
             (granted: {granted}); an admin can grant {suggestion}"
        )
    }

    async fn read(&self, url: Url, mut response: reqwest::Response) -> Result<Response, HttpError> {
        let limit = self.max_response_bytes;
        let too_large = || {
            HttpError::TooLarge(format!(
                "the response from {} is larger than this integration's limit of {limit} bytes",
                display_url(&url)
            ))
        };
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(too_large());
        }
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| map_send_error(&url, e))?
        {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status,
            headers,
            body,
            url: url.to_string(),
        })
    }
}

impl Capability for HttpCall {
    fn for_call(setup: &CallSetup<'_>) -> Self {
        let (ctx, limits) = (setup.ctx, &setup.ctx.limits);
        HttpCall::new(
            setup.shared.http.clone(),
            ctx.http_grants.clone(),
            setup.deadline,
            limits.http_response_bytes,
            limits.http_requests,
        )
        .with_denials(ctx.denials.clone())
        .with_recording(ctx.http_recording.clone())
    }

    fn add_to_linker<T: Send + 'static>(
        linker: &mut wasmtime::component::Linker<T>,
        get: fn(&mut T) -> &mut Self,
    ) -> wasmtime::Result<()> {
        wit::add_to_linker::<T, HttpData>(linker, get)
    }
}

struct HttpData;
impl HasData for HttpData {
    type Data<'a> = &'a mut HttpCall;
}

impl wit::Host for HttpCall {
    async fn send(&mut self, request: Request) -> Result<Response, HttpError> {
        HttpCall::send(self, request).await
    }
}

fn parse_method(method: &str) -> Result<reqwest::Method, HttpError> {
    let upper = method.to_ascii_uppercase();
    match upper.as_str() {
        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS" => {
            Ok(reqwest::Method::from_bytes(upper.as_bytes()).expect("a standard method"))
        }
        _ => Err(HttpError::InvalidRequest(format!(
            "unsupported HTTP method `{method}`"
        ))),
    }
}

fn parse_headers(headers: &[(String, String)]) -> Result<HeaderMap, HttpError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| HttpError::InvalidRequest(format!("invalid header name `{name}`")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| HttpError::InvalidRequest(format!("invalid value for header `{name}`")))?;
        map.append(header, value);
    }
    Ok(map)
}

fn literal_ip(url: &Url) -> Option<std::net::IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(ip.into()),
        url::Host::Ipv6(ip) => Some(ip.into()),
        url::Host::Domain(_) => None,
    }
}

/// The URL without credentials or query, which may hold secrets.
fn display_url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.to_string()
}

fn map_send_error(url: &Url, error: reqwest::Error) -> HttpError {
    let target = display_url(url);
    let mut source: Option<&(dyn StdError + 'static)> = Some(&error);
    let mut detail = String::new();
    while let Some(err) = source {
        if let Some(denied) = err.downcast_ref::<crate::net::AddressDenied>() {
            return HttpError::Denied(denied.to_string());
        }
        if err.downcast_ref::<rustls::Error>().is_some() {
            return HttpError::Tls(format!("TLS with {target} failed: {err}"));
        }
        detail = err.to_string();
        source = err.source();
    }
    if error.is_timeout() {
        HttpError::Timeout(format!("{target} did not answer in time"))
    } else if error.is_builder() {
        HttpError::InvalidRequest(format!("cannot send to {target}: {detail}"))
    } else {
        HttpError::Connection(format!("cannot reach {target}: {detail}"))
    }
}
