//! OAuth 2.0 access tokens kept in the integration's [`state`]
//! between calls, since an instance keeps nothing.
//!
//! A connector has no clock, so a token's end is reckoned by the server's:
//! the token answer's `Date` header plus its `expires_in`. Every answer
//! sent with the token is read the same way, and one whose `Date` is
//! within a minute of that end drops the token. A server that refuses a
//! kept token anyway (401) gets one more try with a new token.
//!
//! The grant itself (password, client credentials, …) and the words of
//! its errors are the connector's: [`TokenCache::send`] calls back for a
//! new token, which the connector fetches and hands to
//! [`TokenCache::keep`].
//!
//! ```
//! use cube_connector_sdk::oauth::TokenCache;
//! use cube_connector_sdk::{Error, http, testing};
//!
//! # testing::reset();
//! testing::on_http(|req| {
//!     let mut answer = match req.url.as_str() {
//!         "https://login.example.com/token" => testing::response(200, r#"{"access_token":"t1","expires_in":3600}"#),
//!         _ => testing::response(200, "[]"),
//!     };
//!     answer.headers.push(("date".into(), "Mon, 15 Jan 2024 10:30:00 GMT".into()));
//!     Ok(answer)
//! });
//! let cache = TokenCache::new("oauth-token", "https://login.example.com/token|client-1");
//! let fetch = || {
//!     let answer = http::post("https://login.example.com/token").send()?.error_for_status()?;
//!     cache
//!         .keep(&answer, &answer.json()?)?
//!         .ok_or_else(|| Error::fatal("the token answer has no access_token"))
//! };
//! let items = cache.send(&http::get("https://api.example.com/items"), fetch, "token refused")?;
//! assert_eq!(items.status, 200);
//! assert_eq!(testing::requests()[1].headers[0], ("authorization".into(), "Bearer t1".into()));
//! assert_eq!(cache.get().unwrap().expires_at, Some(1_705_314_600 + 3600));
//! # Ok::<(), cube_connector_sdk::Error>(())
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Result;
use crate::http::{RequestBuilder, Response};
use crate::{log, state};

/// An access token as kept in the state.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct Token {
    /// Whose token it is (see [`TokenCache::new`]).
    pub owner: String,
    /// The bearer token itself.
    pub access_token: String,
    /// When it runs out, in seconds since the epoch by the server's clock,
    /// when the server said.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

/// Where a token is kept, and whose it must be to be used.
#[derive(Clone, Debug)]
pub struct TokenCache {
    key: &'static str,
    owner: String,
}

impl TokenCache {
    /// A cache under the state key `key`. `owner` names what the token was
    /// granted for (the token URL, client and user or scope, say): a token
    /// kept for another owner, after the configuration changed, is not
    /// used.
    pub fn new(key: &'static str, owner: impl Into<String>) -> Self {
        TokenCache {
            key,
            owner: owner.into(),
        }
    }

    /// The kept token, when it is this owner's.
    pub fn get(&self) -> Option<Token> {
        state::get_json::<Token>(self.key).filter(|t| t.owner == self.owner)
    }

    /// Keeps the token of a token endpoint's answer: `granted` is its
    /// JSON body, with `access_token` and (a number, or a number in text)
    /// `expires_in`. `None`, and nothing kept, when it has no
    /// `access_token`.
    pub fn keep(&self, response: &Response, granted: &Value) -> Result<Option<Token>> {
        let Some(access_token) = granted
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        else {
            return Ok(None);
        };
        let expires_in = granted.get("expires_in").and_then(|v| match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        });
        let token = Token {
            owner: self.owner.clone(),
            access_token: access_token.to_owned(),
            expires_at: server_now(response)
                .zip(expires_in)
                .map(|(now, ttl)| now + ttl),
        };
        state::set_json(self.key, &token)?;
        Ok(Some(token))
    }

    /// Drops the kept token (whoever's it is).
    pub fn forget(&self) {
        state::delete(self.key);
    }

    /// Drops the kept token when `response`'s `Date` is within a minute of
    /// its end.
    pub fn expire_by(&self, response: &Response) {
        let Some(now) = server_now(response) else {
            return;
        };
        if let Some(Token {
            expires_at: Some(end),
            ..
        }) = self.get()
            && now + 60 >= end
        {
            self.forget();
        }
    }

    /// Sends `request` with the kept token as its bearer, or with a new
    /// one from `fetch` (which should [`keep`](Self::keep) it). When the
    /// server refuses a kept token (401), logs `refused`, forgets the
    /// token and sends once more with a new one. The status of the answer
    /// is not checked.
    pub fn send(
        &self,
        request: &RequestBuilder,
        fetch: impl Fn() -> Result<Token>,
        refused: &str,
    ) -> Result<Response> {
        let kept = self.get();
        let had_token = kept.is_some();
        let token = match kept {
            Some(token) => token,
            None => fetch()?,
        };
        let response = request.clone().bearer(&token.access_token).send()?;
        if response.status == 401 && had_token {
            log::info(refused);
            self.forget();
            let token = fetch()?;
            let again = request.clone().bearer(&token.access_token).send()?;
            self.expire_by(&again);
            return Ok(again);
        }
        self.expire_by(&response);
        Ok(response)
    }
}

/// A token endpoint's JSON error answer (RFC 6749 5.2) as a message
/// suffix: the non-empty string `fields` (`error`, `error_description`)
/// in the order given, joined by `, ` after `: `; empty when there are
/// none.
pub fn error_suffix(response: &Response, fields: &[&str]) -> String {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let said: Vec<&str> = fields
        .iter()
        .filter_map(|k| body.get(*k).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .collect();
    if said.is_empty() {
        String::new()
    } else {
        format!(": {}", said.join(", "))
    }
}

/// The server's time of an answer, from its `Date` header.
fn server_now(response: &Response) -> Option<i64> {
    response
        .header("date")
        .and_then(crate::time::http_date_secs)
}
