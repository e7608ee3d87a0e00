//! Requests with the configured authentication, and answers turned into
//! values or into the errors the host's retry rules understand.
//!
//! OAuth2 client credentials (RFC 6749 4.4): `POST token_url` with the form
//! `grant_type=client_credentials[&scope=…]`, the client authenticated by
//! HTTP Basic (2.3.1). The token is kept in the integration's state with the
//! time it runs out by the server's clock (the token answer's `Date` plus
//! `expires_in`): connectors have no clock, so an answer whose `Date` is
//! within a minute of that end drops the token, and a 401 to a kept token
//! fetches a new one and repeats the request once.

use std::time::Duration;

use cube_connector_sdk::http::{self, RequestBuilder, Response};
pub use cube_connector_sdk::oauth::Token;
use cube_connector_sdk::oauth::{self, TokenCache};
use cube_connector_sdk::prelude::*;
use serde_json::Value;

use crate::config::{Auth, Config, KeyIn};

/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Where the OAuth token is kept in the integration's state.
pub const TOKEN_KEY: &str = "oauth-token";

pub struct Client<'a> {
    pub config: &'a Config,
}

impl<'a> Client<'a> {
    pub fn new(config: &'a Config) -> Result<Self> {
        config.base()?;
        config.check_auth()?;
        Ok(Client { config })
    }

    /// A request to `url` (absolute, or relative to the base URL), without
    /// authentication (added when sent).
    pub fn request(&self, method: &str, url: &str) -> Result<RequestBuilder> {
        Ok(http::request(method, self.config.url(url)?)
            .header("accept", "application/json")
            .timeout(TIMEOUT))
    }

    fn oauth(&self) -> bool {
        self.config.auth == Auth::OAuth2ClientCredentials
    }

    /// The kept token, whose owner is the token URL, client and scope (a
    /// changed configuration does not reuse it).
    fn tokens(&self) -> TokenCache {
        let owner = format!(
            "{}|{}|{}",
            self.config.token_url.trim(),
            self.config.client_id.trim(),
            self.config.scope.trim()
        );
        TokenCache::new(TOKEN_KEY, owner)
    }

    /// A new token by the client credentials grant.
    fn fetch_token(&self) -> Result<Token> {
        let mut form = vec![("grant_type", "client_credentials")];
        let scope = self.config.scope.trim();
        if !scope.is_empty() {
            form.push(("scope", scope));
        }
        let response = self
            .request("POST", &self.config.token_url)?
            .header("content-type", "application/x-www-form-urlencoded")
            .basic(self.config.client_id.trim(), &self.config.client_secret)
            .body(form_body(&form))
            .send()?;
        if matches!(response.status, 400 | 401) {
            return Err(Error::auth(format!(
                "the token endpoint {} refused the client credentials ({}){}; check the client ID, the client secret and the scope",
                without_query(&response.url),
                response.status,
                oauth::error_suffix(&response, &["error", "error_description"])
            )));
        }
        let response = response.error_for_status()?;
        let granted = parse_json(&response)?;
        let token = self.tokens().keep(&response, &granted)?.ok_or_else(|| {
            Error::fatal(format!(
                "the answer of the token endpoint {} has no access_token",
                without_query(&response.url)
            ))
        })?;
        log::debug("obtained an OAuth2 access token");
        Ok(token)
    }

    /// Sends with authentication; with OAuth2, a 401 to a kept token
    /// fetches a new one and repeats the request once. The status is not
    /// checked.
    pub fn raw(&self, request: &RequestBuilder) -> Result<Response> {
        let c = self.config;
        let request = request.clone();
        let signed = match c.auth {
            Auth::None => request,
            Auth::Basic => request.basic(c.username.trim(), &c.password),
            Auth::Bearer => request.bearer(c.token.trim()),
            Auth::ApiKey => match c.api_key_in {
                KeyIn::Header => request.header(c.api_key_name.trim(), c.api_key.trim()),
                KeyIn::Query => request.query(c.api_key_name.trim(), c.api_key.trim()),
            },
            Auth::OAuth2ClientCredentials => {
                return self.tokens().send(
                    &request,
                    || self.fetch_token(),
                    "the API refused the kept OAuth2 token; fetching a new one",
                );
            }
        };
        signed.send()
    }

    /// Sends, and turns an error status into the connector error (401/403
    /// auth, 429 and 503 with `Retry-After` rate-limited, other 5xx
    /// transient, 404 config).
    pub fn send(&self, request: RequestBuilder) -> Result<Response> {
        let response = self.raw(&request)?;
        if response.status == 401 && self.oauth() {
            return Err(Error::auth(format!(
                "{} refused a freshly issued OAuth2 token (401){}; check that the client may use this API (its scope)",
                without_query(&response.url),
                snippet(&response)
            )));
        }
        response.error_for_status()
    }
}

/// The body as JSON, or a fatal error naming the URL (without its query,
/// which may carry a key) and where the parse failed.
pub fn parse_json(response: &Response) -> Result<Value> {
    serde_json::from_slice(&response.body).map_err(|e| {
        let url = without_query(&response.url);
        let url = if url.is_empty() { "the server" } else { url };
        Error::fatal(format!(
            "the answer from {url} is not valid JSON: {e} (it starts with `{}`)",
            response.text().chars().take(60).collect::<String>()
        ))
    })
}

pub fn without_query(url: &str) -> &str {
    url.split('?').next().unwrap_or_default()
}

fn snippet(response: &Response) -> String {
    let text = response.text();
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {}", text.chars().take(200).collect::<String>())
    }
}

pub use cube_connector_sdk::encode::{form as form_body, percent as encode};
pub use cube_connector_sdk::time::http_date_secs;

#[cfg(test)]
mod tests {
    use super::*;
    use cube_connector_sdk::testing;

    fn config(extra: Value) -> Config {
        let mut base = json!({"base_url": "https://api.example.com/v1", "list_path": "/items"});
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    fn header(req: &testing::Request, name: &str) -> Option<String> {
        req.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    #[test]
    fn each_auth_style_signs_the_request() {
        let cases = [
            (json!({"auth": "none"}), None, "/items"),
            (
                json!({"auth": "basic", "username": "Aladdin", "password": "open sesame"}),
                Some(("authorization", "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")),
                "/items",
            ),
            (
                json!({"auth": "bearer", "token": "t0k"}),
                Some(("authorization", "Bearer t0k")),
                "/items",
            ),
            (
                json!({"auth": "api-key", "api_key_name": "X-Key", "api_key": "k1"}),
                Some(("x-key", "k1")),
                "/items",
            ),
            (
                json!({"auth": "api-key", "api_key_in": "query", "api_key_name": "key", "api_key": "k 1"}),
                None,
                "/items?key=k%201",
            ),
        ];
        for (extra, expected, path) in cases {
            testing::reset();
            testing::on_http(|_| Ok(testing::response(200, "[]")));
            let config = config(extra);
            let client = Client::new(&config).unwrap();
            client
                .send(client.request("GET", "/items").unwrap())
                .unwrap();
            let sent = &testing::requests()[0];
            assert_eq!(sent.url, format!("https://api.example.com/v1{path}"));
            if let Some((name, value)) = expected {
                assert_eq!(header(sent, name).as_deref(), Some(value));
            } else {
                assert_eq!(header(sent, "authorization"), None);
            }
        }
    }

    #[test]
    fn oauth_tokens_are_kept_until_refused_then_fetched_again() {
        testing::reset();
        let config = config(
            json!({"auth": "oauth2-client-credentials", "token_url": "https://auth.example.com/token",
                                   "client_id": "cid", "client_secret": "s3cret", "scope": "read write"}),
        );
        let client = Client::new(&config).unwrap();
        let mut issued = 0;
        testing::on_http(move |req| {
            if req.url == "https://auth.example.com/token" {
                issued += 1;
                let body = String::from_utf8(req.body.clone().unwrap()).unwrap();
                assert_eq!(body, "grant_type=client_credentials&scope=read%20write");
                assert_eq!(
                    header(req, "authorization").as_deref(),
                    Some("Basic Y2lkOnMzY3JldA==")
                );
                let mut r = testing::response(
                    200,
                    format!(
                        r#"{{"access_token":"t{issued}","token_type":"Bearer","expires_in":3600}}"#
                    ),
                );
                r.headers
                    .push(("date".into(), "Mon, 15 Jan 2024 10:30:00 GMT".into()));
                return Ok(r);
            }
            let auth = header(req, "authorization").unwrap();
            if auth == "Bearer t1" && req.url.ends_with("/second") {
                return Ok(testing::response(401, r#"{"error":"invalid_token"}"#));
            }
            Ok(testing::response(200, "{}"))
        });
        for path in ["/first", "/first", "/second", "/third"] {
            client.send(client.request("GET", path).unwrap()).unwrap();
        }
        let tokens = testing::requests()
            .iter()
            .filter(|r| r.url.ends_with("/token"))
            .count();
        assert_eq!(tokens, 2, "one token, then another after the 401");
        let kept: Token = serde_json::from_slice(&testing::state_get(TOKEN_KEY).unwrap()).unwrap();
        assert_eq!(kept.access_token, "t2");
        assert_eq!(kept.expires_at, Some(1_705_314_600 + 3600));
    }

    #[test]
    fn a_refused_client_and_bad_json_are_explained() {
        testing::reset();
        let config = config(
            json!({"auth": "oauth2-client-credentials", "token_url": "/oauth/token",
                                   "client_id": "cid", "client_secret": "wrong"}),
        );
        let client = Client::new(&config).unwrap();
        testing::on_http(|_| {
            Ok(testing::response(
                401,
                r#"{"error":"invalid_client","error_description":"bad secret"}"#,
            ))
        });
        let err = client
            .send(client.request("GET", "/items").unwrap())
            .unwrap_err();
        assert!(
            matches!(&err, Error::Auth(m) if m.contains("invalid_client, bad secret")),
            "{err:?}"
        );
        let response = Response {
            status: 200,
            headers: vec![],
            body: b"{\"items\": [1, 2,,]}".to_vec(),
            url: "https://api.example.com/v1/items?key=secret".into(),
        };
        let err = parse_json(&response).unwrap_err();
        let m = err.message();
        assert!(
            m.contains("https://api.example.com/v1/items is not valid JSON")
                && m.contains("line 1 column 17")
                && !m.contains("secret"),
            "{m}"
        );
    }

    #[test]
    fn http_dates_parse() {
        assert_eq!(
            http_date_secs("Mon, 15 Jan 2024 10:30:00 GMT"),
            Some(1_705_314_600)
        );
        assert_eq!(http_date_secs("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(http_date_secs("yesterday"), None);
    }
}
