//! Requests to ServiceNow's Table API: the authentication (basic, or an
//! OAuth2 bearer token), and ServiceNow's error answers
//! (`{"error": {"message", "detail"}, "status": "failure"}`) turned into
//! messages an admin can act on.
//!
//! OAuth tokens come from `POST /oauth_token.do` with the password grant,
//! as ServiceNow documents it. A token is kept in the integration's state
//! with the time it runs out, by the server's clock (its `Date` header plus
//! `expires_in`): the connector has no clock of its own, so a response whose
//! `Date` is within a minute of the end drops the token, and a 401 fetches a
//! new one and repeats the request once.
//!
//! Rate limits are the host's to wait out: a 429 (or a 503 with
//! `Retry-After`) becomes a `rate-limited` error with ServiceNow's delay.

use cube_connector_sdk::http::{self, RequestBuilder, Response};
pub use cube_connector_sdk::oauth::Token;
use cube_connector_sdk::oauth::{self, TokenCache};
use cube_connector_sdk::prelude::*;
use serde_json::Value;

use crate::config::{Auth, Config};

/// How long one request may take.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Where the OAuth token is kept in the integration's state.
const TOKEN_KEY: &str = "oauth-token";

/// A page of a table.
#[derive(Clone, Debug, Default)]
pub struct Page {
    pub records: Vec<Value>,
    /// `X-Total-Count`: the rows the query matches in all.
    pub total: Option<u64>,
}

pub struct ServiceNow<'a> {
    pub config: &'a Config,
    instance: &'a str,
}

impl<'a> ServiceNow<'a> {
    pub fn new(config: &'a Config) -> Result<Self> {
        let instance = config.instance()?;
        if config.username.trim().is_empty() {
            return Err(Error::config("no user name is configured"));
        }
        if config.password.is_empty() {
            return Err(Error::config("no password is configured"));
        }
        if config.auth == Auth::OAuth2
            && (config.client_id.trim().is_empty() || config.client_secret.is_empty())
        {
            return Err(Error::config(
                "OAuth needs the client ID and client secret of the application registry entry (System OAuth, Application Registry)",
            ));
        }
        Ok(ServiceNow { config, instance })
    }

    pub fn instance(&self) -> &str {
        self.instance
    }

    fn oauth(&self) -> bool {
        self.config.auth == Auth::OAuth2
    }

    /// `https://instance/api/now/table/{table}[/{sys_id}]`.
    pub fn table_url(&self, table: &str, sys_id: Option<&str>) -> String {
        match sys_id {
            Some(id) => format!("{}/api/now/table/{table}/{}", self.instance, segment(id)),
            None => format!("{}/api/now/table/{table}", self.instance),
        }
    }

    /// A request without authentication (added when sent).
    pub fn request(&self, method: &str, table: &str, sys_id: Option<&str>) -> RequestBuilder {
        http::request(method, self.table_url(table, sys_id))
            .header("accept", "application/json")
            .timeout(TIMEOUT)
            // A redirect to a sign-in page would look like success.
            .follow_redirects(false)
    }

    /// The cached token, whose owner is the instance, client and user (a
    /// changed configuration does not reuse it).
    fn tokens(&self) -> TokenCache {
        let owner = format!(
            "{}|{}|{}",
            self.instance,
            self.config.client_id.trim(),
            self.config.username.trim()
        );
        TokenCache::new(TOKEN_KEY, owner)
    }

    /// A new token by the password grant.
    fn fetch_token(&self) -> Result<Token> {
        let body = form(&[
            ("grant_type", "password"),
            ("client_id", self.config.client_id.trim()),
            ("client_secret", &self.config.client_secret),
            ("username", self.config.username.trim()),
            ("password", &self.config.password),
        ]);
        let response = http::post(format!("{}/oauth_token.do", self.instance))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body)
            .timeout(TIMEOUT)
            .follow_redirects(false)
            .send()?;
        if matches!(response.status, 400 | 401) {
            let said = oauth::error_suffix(&response, &["error_description", "error"]);
            return Err(Error::auth(format!(
                "ServiceNow refused the OAuth sign-in ({}){said}. Check the client ID and client secret (System OAuth, Application Registry, with the password grant) and the user name and password; the user must be active and not locked out",
                response.status
            )));
        }
        let response = self.check(response)?;
        let granted: Value = response.json()?;
        let token = self
            .tokens()
            .keep(&response, &granted)?
            .ok_or_else(|| Error::fatal("ServiceNow's token answer has no access_token"))?;
        log::debug("obtained an OAuth access token");
        Ok(token)
    }

    /// Sends with authentication; with OAuth, a 401 fetches a new token and
    /// repeats the request once. The status is not checked.
    fn raw(&self, request: &RequestBuilder) -> Result<Response> {
        if !self.oauth() {
            return request
                .clone()
                .basic(self.config.username.trim(), &self.config.password)
                .send();
        }
        self.tokens().send(
            request,
            || self.fetch_token(),
            "ServiceNow refused the cached OAuth token; signing in again",
        )
    }

    /// Sends, and turns an error answer into the connector error.
    pub fn send(&self, request: RequestBuilder) -> Result<Response> {
        let response = self.raw(&request)?;
        self.check(response)
    }

    /// Like [`ServiceNow::send`], with a 404 (no such record, or not
    /// visible to the user) as `None`.
    pub fn find(&self, request: RequestBuilder) -> Result<Option<Response>> {
        let response = self.raw(&request)?;
        if response.status == 404 {
            return Ok(None);
        }
        self.check(response).map(Some)
    }

    /// Rows of `table` matching `query`, `fields` only, from `offset`.
    pub fn list(
        &self,
        table: &str,
        query: &str,
        fields: &str,
        limit: u32,
        offset: u32,
    ) -> Result<Page> {
        let mut request = self
            .request("GET", table, None)
            .query("sysparm_query", query)
            .query("sysparm_fields", fields)
            .query("sysparm_display_value", "false")
            .query("sysparm_exclude_reference_link", "true")
            .query("sysparm_limit", &limit.to_string());
        if offset > 0 {
            request = request.query("sysparm_offset", &offset.to_string());
        }
        let response = self.send(request)?;
        let total = response
            .header("x-total-count")
            .and_then(|t| t.trim().parse().ok());
        let body: Value = response.json()?;
        let records = body
            .get("result")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| Error::fatal("ServiceNow's answer has no result list"))?;
        Ok(Page { records, total })
    }

    /// Creates (`POST`, no `sys_id`) or updates (`PATCH`) a row; returns the
    /// row's `fields` as written, or `None` when the row does not exist.
    pub fn write(
        &self,
        table: &str,
        sys_id: Option<&str>,
        body: &Value,
        fields: &str,
    ) -> Result<Option<Value>> {
        let method = if sys_id.is_some() { "PATCH" } else { "POST" };
        let request = self
            .request(method, table, sys_id)
            .query("sysparm_fields", fields)
            .query("sysparm_exclude_reference_link", "true")
            .json(body)?;
        let Some(response) = self.find(request)? else {
            return Ok(None);
        };
        let body: Value = response.json()?;
        match body.get("result") {
            Some(row @ Value::Object(_)) => Ok(Some(row.clone())),
            _ => Err(Error::fatal(
                "ServiceNow's answer to the write has no result record",
            )),
        }
    }

    /// Turns an error answer into the connector error the host acts on,
    /// with ServiceNow's own words.
    pub fn check(&self, response: Response) -> Result<Response> {
        let status = response.status;
        if (200..300).contains(&status) {
            return Ok(response);
        }
        let said = servicenow_error(&response);
        let detail = if said.is_empty() {
            String::new()
        } else {
            format!(": {said}")
        };
        Err(match status {
            300..=399 => Error::config(format!(
                "ServiceNow answered with a redirect ({status}) to {}; use the instance's address as it ends up in the browser",
                response.header("location").unwrap_or("another address")
            )),
            401 if self.oauth() => Error::auth(format!(
                "ServiceNow refused a freshly issued OAuth token (401){detail}. Check that the OAuth application is active and that the user may use the REST API"
            )),
            401 => Error::auth(format!(
                "ServiceNow refused the user name and password (401){detail}. Check both; the user must be active, not locked out, and not limited to single sign-on"
            )),
            403 if said.contains("Data Policy") => Error::config(format!(
                "ServiceNow refused the change (403){detail}. Fill the mandatory fields in the connector's settings (resolution code and notes, on hold reason)"
            )),
            403 => Error::auth(format!(
                "ServiceNow denied the user access (403){detail}. The user needs the itil role (read and write incidents) and read access to sys_journal_field and sys_user_group"
            )),
            404 => Error::config(format!(
                "ServiceNow has no such record or table (404){detail}"
            )),
            _ => response.service_error("ServiceNow", &detail),
        })
    }
}

/// ServiceNow's error body in one line: `message: detail`.
pub fn servicenow_error(response: &Response) -> String {
    let Ok(body) = serde_json::from_slice::<Value>(&response.body) else {
        let text = response.text();
        return text.trim().chars().take(200).collect();
    };
    let text = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let error = body.get("error");
    let message = text(error.and_then(|e| e.get("message"))).or_else(|| text(error));
    let detail = text(error.and_then(|e| e.get("detail")));
    match (message, detail) {
        (Some(m), Some(d)) => format!("{m}: {d}"),
        (Some(m), None) => m,
        (None, Some(d)) => d,
        (None, None) => String::new(),
    }
}

pub use cube_connector_sdk::encode::{form, percent as segment};

#[cfg(test)]
mod tests {
    use super::*;
    use cube_connector_sdk::testing;

    fn config(auth: &str) -> Config {
        serde_json::from_value(json!({
            "instance_url": "https://acme.service-now.com", "auth": auth,
            "username": "cube", "password": "p&ss word",
            "client_id": "cid", "client_secret": "sec"
        }))
        .unwrap()
    }

    fn with_headers(status: u16, headers: &[(&str, &str)], body: &str) -> testing::Response {
        let mut response = testing::response(status, body);
        for (n, v) in headers {
            response.headers.push((n.to_string(), v.to_string()));
        }
        response
    }

    #[test]
    fn oauth_tokens_are_cached_and_fetched_again_after_a_401() {
        testing::reset();
        let config = config("oauth2");
        let sn = ServiceNow::new(&config).unwrap();
        let mut issued = 0;
        testing::on_http(move |req| {
            if req.url.ends_with("/oauth_token.do") {
                issued += 1;
                let body = String::from_utf8(req.body.clone().unwrap()).unwrap();
                assert!(body.contains("grant_type=password"), "{body}");
                assert!(body.contains("password=p%26ss%20word"), "{body}");
                return Ok(with_headers(
                    200,
                    &[("date", "Mon, 15 Jan 2024 10:30:00 GMT")],
                    &format!(
                        r#"{{"access_token":"t{issued}","expires_in":1799,"token_type":"Bearer"}}"#
                    ),
                ));
            }
            let auth = req
                .headers
                .iter()
                .find(|(n, _)| n == "authorization")
                .unwrap()
                .1
                .clone();
            if auth == "Bearer t1" && req.url.contains("second") {
                return Ok(testing::response(
                    401,
                    r#"{"error":{"message":"User Not Authenticated","detail":"Required to provide Auth information"},"status":"failure"}"#,
                ));
            }
            Ok(with_headers(
                200,
                &[("date", "Mon, 15 Jan 2024 10:31:00 GMT")],
                r#"{"result":[]}"#,
            ))
        });
        sn.list("incident", "first", "sys_id", 1, 0).unwrap();
        sn.list("incident", "first", "sys_id", 1, 0).unwrap();
        sn.list("incident", "second", "sys_id", 1, 0).unwrap();
        let tokens = testing::requests()
            .iter()
            .filter(|r| r.url.ends_with("/oauth_token.do"))
            .count();
        assert_eq!(tokens, 2, "one token, then a new one after the 401");
        let cached: Token =
            serde_json::from_slice(&testing::state_get(TOKEN_KEY).unwrap()).unwrap();
        assert_eq!(cached.access_token, "t2");
        assert_eq!(cached.expires_at, Some(1_705_314_600 + 1799));
    }

    #[test]
    fn errors_speak_servicenow() {
        testing::reset();
        let config = config("basic");
        let sn = ServiceNow::new(&config).unwrap();
        let answer = |status, body: &str, headers: &[(&str, &str)]| {
            sn.check(Response {
                status,
                headers: headers
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
                body: body.as_bytes().to_vec(),
                url: String::new(),
            })
            .unwrap_err()
        };
        let failure = |m: &str, d: &str| {
            format!(r#"{{"error":{{"message":"{m}","detail":"{d}"}},"status":"failure"}}"#)
        };
        let e = answer(
            401,
            &failure(
                "User Not Authenticated",
                "Required to provide Auth information",
            ),
            &[],
        );
        assert!(
            matches!(&e, Error::Auth(m) if m.contains("user name and password (401): User Not Authenticated")),
            "{e:?}"
        );
        let e = answer(
            403,
            &failure(
                "Operation Failed",
                "Data Policy Exception: Resolution code is mandatory",
            ),
            &[],
        );
        assert!(matches!(e, Error::Config(_)));
        let e = answer(403, &failure("Insufficient rights", "ACL"), &[]);
        assert!(matches!(&e, Error::Auth(m) if m.contains("itil")));
        let e = answer(
            429,
            &failure("Rate limit exceeded", ""),
            &[("retry-after", "3")],
        );
        assert!(matches!(e, Error::RateLimited(r) if r.retry_after_ms == Some(3000)));
        assert!(matches!(answer(502, "", &[]), Error::Transient(_)));
        assert!(matches!(
            answer(400, &failure("Invalid query", "x"), &[]),
            Error::Config(_)
        ));
    }
}
