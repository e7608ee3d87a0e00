//! `Authorization: Bearer` on the JSON API: API tokens (decision 0035).
//!
//! One middleware in front of every `/api/v1` route reads the header,
//! checks the token, counts the request against the token's rate limit and
//! leaves a [`TokenCaller`] in the request for the extractors
//! (`super::caller`) to find. Requests without the header pass untouched:
//! they are the browser's, with its session cookie and CSRF token. A
//! request with the header is the token's alone: a cookie beside it is
//! ignored, and no CSRF token is needed (a browser never sends a bearer
//! token on its own, so there is no cross-site request to forge).
//!
//! The rate limit is a fixed one-minute window per token, counted on each
//! node (decision 0035 says why that is enough). Every answer to a token
//! says where it stands, in the `RateLimit-Policy` and `RateLimit` fields
//! of draft-ietf-httpapi-ratelimit-headers; a refusal is `429` with
//! `Retry-After`. Refusals are audited, once per token and window (or per
//! address and minute, for tokens that do not authenticate), so a flood
//! cannot flood the audit log.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::super::AppState;
use super::ApiError;
use crate::store::api_tokens::Authenticated;
use crate::store::audit::AuditEvent;

/// The window a token's requests are counted in.
const WINDOW: Duration = Duration::from_secs(60);
/// The policy's name in the RateLimit fields.
const POLICY: &str = "\"per-token\"";
/// Windows kept before old ones are swept out.
const SWEEP_AT: usize = 10_000;

/// A request made with a live API token.
#[derive(Clone, Debug)]
pub struct TokenCaller {
    pub authenticated: Authenticated,
    /// The client's address, as the audit log records it.
    pub address: String,
}

/// Counts each token's requests in fixed windows, and remembers which
/// refusals were audited.
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<i64, Window>>,
    rejections_audited: Mutex<HashMap<String, Instant>>,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    used: i64,
    refusal_audited: bool,
}

/// Where a request leaves its token's window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowance {
    pub allowed: bool,
    pub limit: i64,
    pub remaining: i64,
    /// Seconds until the window starts again (at least 1).
    pub reset_secs: u64,
    /// The first refusal of this window: the one to audit.
    pub first_refusal: bool,
}

impl Allowance {
    /// The RateLimit-Policy and RateLimit fields (a refusal's Retry-After
    /// is the error's, `ApiError::RateLimited`).
    pub fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let mut put = |name: &'static str, value: String| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        };
        put(
            "ratelimit-policy",
            format!("{POLICY};q={};w={}", self.limit, WINDOW.as_secs()),
        );
        put(
            "ratelimit",
            format!("{POLICY};r={};t={}", self.remaining, self.reset_secs),
        );
        headers
    }
}

impl RateLimiter {
    /// Counts one request of token `id`, allowed `limit` a window, at `now`.
    pub fn check(&self, id: i64, limit: i64, now: Instant) -> Allowance {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= SWEEP_AT {
            windows.retain(|_, w| now.duration_since(w.started) < WINDOW);
        }
        let window = windows.entry(id).or_insert(Window {
            started: now,
            used: 0,
            refusal_audited: false,
        });
        if now.duration_since(window.started) >= WINDOW {
            *window = Window {
                started: now,
                used: 0,
                refusal_audited: false,
            };
        }
        let left = WINDOW.saturating_sub(now.duration_since(window.started));
        // Rounded up: a client that waits `t` seconds finds the new window.
        let reset_secs = left.as_millis().div_ceil(1000).max(1) as u64;
        let allowed = window.used < limit;
        let mut first_refusal = false;
        if allowed {
            window.used += 1;
        } else if !window.refusal_audited {
            window.refusal_audited = true;
            first_refusal = true;
        }
        Allowance {
            allowed,
            limit,
            remaining: (limit - window.used).max(0),
            reset_secs,
            first_refusal,
        }
    }

    /// Whether a rejected token from `address` should be audited now: once
    /// a minute per address.
    fn audit_rejection_from(&self, address: &str, now: Instant) -> bool {
        let mut seen = self
            .rejections_audited
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if seen.len() >= SWEEP_AT {
            seen.retain(|_, at| now.duration_since(*at) < WINDOW);
        }
        match seen.get(address) {
            Some(at) if now.duration_since(*at) < WINDOW => false,
            _ => {
                seen.insert(address.to_owned(), now);
                true
            }
        }
    }
}

/// The token of `Authorization: Bearer <token>`; `Some("")` for a bearer
/// header without one, `None` without the header (or another scheme).
pub(in crate::web) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The middleware: see the module's documentation.
pub async fn authenticate(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(secret) = bearer_token(request.headers()) else {
        return next.run(request).await;
    };
    let secret = secret.to_owned();
    match admit(&state, peer, &mut request, &secret).await {
        Ok(allowance) => {
            let mut response = next.run(request).await;
            add_headers(&mut response, &allowance);
            response
        }
        Err((error, allowance)) => {
            let mut response = error.into_response();
            if let Some(allowance) = allowance {
                add_headers(&mut response, &allowance);
            }
            response
        }
    }
}

/// Checks `secret` and counts the request against its token's rate
/// limit; on success the request carries the [`TokenCaller`] and no
/// cookies. A refusal is audited (see the module's documentation) and
/// returned with where the token stands, for the caller to render: the
/// JSON API and SCIM answer it in their own error bodies.
pub(in crate::web) async fn admit(
    state: &AppState,
    peer: SocketAddr,
    request: &mut Request,
    secret: &str,
) -> Result<Allowance, (ApiError, Option<Allowance>)> {
    let address = state
        .access
        .client(peer.ip(), request.headers())
        .ip
        .to_string();
    let authenticated = match state.store.authenticate_api_token(secret, &address).await {
        Ok(Some(authenticated)) => authenticated,
        Ok(None) => {
            if state
                .access
                .api_rate
                .audit_rejection_from(&address, Instant::now())
            {
                audit(
                    state,
                    "api",
                    "api_token.rejected",
                    "api",
                    json!({ "reason": "unknown, revoked or expired token", "path": request.uri().path() }),
                    &address,
                )
                .await;
            }
            return Err((ApiError::InvalidToken, None));
        }
        Err(e) => return Err((ApiError::from(e), None)),
    };
    let token = &authenticated.token;
    let allowance =
        state
            .access
            .api_rate
            .check(token.id, token.requests_per_minute, Instant::now());
    if !allowance.allowed {
        if allowance.first_refusal {
            audit(
                state,
                &token.actor(),
                "api_token.rate_limited",
                &format!("api_token:{}", token.id),
                json!({ "requests_per_minute": token.requests_per_minute }),
                &address,
            )
            .await;
        }
        let error = ApiError::RateLimited {
            retry_after_secs: allowance.reset_secs,
        };
        return Err((error, Some(allowance)));
    }
    // Cookies are the browser's: a token's request must not reach
    // anything that would read them.
    request.headers_mut().remove(header::COOKIE);
    request.extensions_mut().insert(TokenCaller {
        authenticated,
        address,
    });
    Ok(allowance)
}

pub(in crate::web) fn add_headers(response: &mut Response, allowance: &Allowance) {
    for (name, value) in &allowance.headers() {
        response.headers_mut().insert(name.clone(), value.clone());
    }
}

/// Records a refusal; a failure to record is logged, not answered.
pub(in crate::web) async fn audit(
    state: &AppState,
    actor: &str,
    action: &str,
    target: &str,
    after: serde_json::Value,
    address: &str,
) {
    let event = AuditEvent {
        actor,
        action,
        target,
        before: None,
        after: Some(after),
        remote: Some(address),
    };
    if let Err(error) = state.store.audit(event).await {
        tracing::error!(%error, action, "could not audit an API token refusal");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_allows_its_limit_then_refuses_until_it_turns() {
        let limiter = RateLimiter::default();
        let start = Instant::now();
        for used in 1..=3 {
            let a = limiter.check(7, 3, start);
            assert!(a.allowed);
            assert_eq!(a.remaining, 3 - used);
        }
        let refused = limiter.check(7, 3, start + Duration::from_secs(20));
        assert!(!refused.allowed);
        assert!(refused.first_refusal);
        assert_eq!(refused.reset_secs, 40);
        assert!(
            !limiter
                .check(7, 3, start + Duration::from_secs(21))
                .first_refusal
        );
        // Another token has its own window.
        assert!(limiter.check(8, 3, start + Duration::from_secs(21)).allowed);
        let turned = limiter.check(7, 3, start + WINDOW);
        assert!(turned.allowed);
        assert_eq!(turned.remaining, 2);
    }

    #[test]
    fn the_fields_follow_the_draft() {
        let limiter = RateLimiter::default();
        let now = Instant::now();
        let a = limiter.check(1, 1, now);
        let h = a.headers();
        assert_eq!(h["ratelimit-policy"], "\"per-token\";q=1;w=60");
        assert_eq!(h["ratelimit"], "\"per-token\";r=0;t=60");
        assert!(h.get("retry-after").is_none());
        let refused = limiter.check(1, 1, now + Duration::from_millis(500));
        assert!(!refused.allowed);
        assert_eq!(refused.headers()["ratelimit"], "\"per-token\";r=0;t=60");
    }

    #[test]
    fn only_the_bearer_scheme_carries_a_token() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), None);
        h.insert(header::AUTHORIZATION, "Basic YTpi".parse().unwrap());
        assert_eq!(bearer_token(&h), None);
        h.insert(
            header::AUTHORIZATION,
            "bearer  cube_pat_x ".parse().unwrap(),
        );
        assert_eq!(bearer_token(&h), Some("cube_pat_x"));
        h.insert(header::AUTHORIZATION, "Bearer".parse().unwrap());
        assert_eq!(bearer_token(&h), Some(""));
    }

    #[test]
    fn a_rejected_address_is_audited_once_a_minute() {
        let limiter = RateLimiter::default();
        let now = Instant::now();
        assert!(limiter.audit_rejection_from("192.0.2.1", now));
        assert!(!limiter.audit_rejection_from("192.0.2.1", now + Duration::from_secs(59)));
        assert!(limiter.audit_rejection_from("192.0.2.2", now));
        assert!(limiter.audit_rejection_from("192.0.2.1", now + WINDOW));
    }
}
