//! Requests to Jira: the edition's API path and authentication, and
//! Jira's error answers turned into messages an admin can act on.
//!
//! Rate limits are the host's to wait out: a 429 (or a 503 with
//! `Retry-After`) becomes a `rate-limited` error carrying the delay Jira
//! asked for, and the host retries the call after it. Jira Cloud's
//! per-issue write limits answer the same way, so they are honoured the
//! same way.

use cube_connector_sdk::http::{self, RequestBuilder, Response};
use cube_connector_sdk::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::{Config, Edition};

/// How long one request may take.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub struct Jira<'a> {
    pub config: &'a Config,
    site: &'a str,
}

impl<'a> Jira<'a> {
    pub fn new(config: &'a Config) -> Result<Self> {
        let site = config.site()?;
        if config.api_token.is_empty() {
            return Err(Error::config(match config.edition {
                Edition::Cloud => "no API token is configured",
                Edition::DataCenter => "no personal access token is configured",
            }));
        }
        if config.edition == Edition::Cloud && config.email.trim().is_empty() {
            return Err(Error::config(
                "Jira Cloud signs in with the account's e-mail and an API token: the e-mail is missing",
            ));
        }
        Ok(Jira { config, site })
    }

    pub fn edition(&self) -> Edition {
        self.config.edition
    }

    pub fn is_cloud(&self) -> bool {
        self.config.edition == Edition::Cloud
    }

    /// `https://site/rest/api/{3|2}{path}`.
    pub fn url(&self, path: &str) -> String {
        let version = if self.is_cloud() { 3 } else { 2 };
        format!("{}/rest/api/{version}{path}", self.site)
    }

    fn request(&self, method: &str, path: &str) -> RequestBuilder {
        let request = http::request(method, self.url(path))
            .header("accept", "application/json")
            .timeout(TIMEOUT)
            // A redirect to a sign-in page would look like success.
            .follow_redirects(false);
        match self.config.edition {
            Edition::Cloud => request.basic(self.config.email.trim(), &self.config.api_token),
            Edition::DataCenter => request.bearer(&self.config.api_token),
        }
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request("GET", path)
    }

    pub fn send(&self, request: RequestBuilder) -> Result<Response> {
        let response = request.send()?;
        self.check(response)
    }

    /// Like [`Jira::send`], with a 404 (the item is gone, or the account
    /// cannot see it) as `None`.
    pub fn find(&self, request: RequestBuilder) -> Result<Option<Response>> {
        let response = request.send()?;
        if response.status == 404 {
            return Ok(None);
        }
        self.check(response).map(Some)
    }

    pub fn send_json<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T> {
        self.send(request)?.json()
    }

    fn with_body(&self, method: &str, path: &str, body: &Value) -> Result<RequestBuilder> {
        self.request(method, path)
            .header("content-type", "application/json")
            .json(body)
    }

    pub fn write(&self, method: &str, path: &str, body: &Value) -> Result<Response> {
        self.send(self.with_body(method, path, body)?)
    }

    /// Like [`Jira::write`], with a 404 as `None`.
    pub fn write_found(&self, method: &str, path: &str, body: &Value) -> Result<Option<Response>> {
        self.find(self.with_body(method, path, body)?)
    }

    /// Deletes; `false` when it was already gone.
    pub fn delete(&self, path: &str) -> Result<bool> {
        Ok(self.find(self.request("DELETE", path))?.is_some())
    }

    /// Turns an error answer into the connector error the host acts on,
    /// with Jira's own words.
    fn check(&self, response: Response) -> Result<Response> {
        let status = response.status;
        if (200..300).contains(&status) {
            return Ok(response);
        }
        let said = jira_messages(&response);
        let detail = if said.is_empty() {
            String::new()
        } else {
            format!(": {said}")
        };
        Err(match status {
            300..=399 => Error::config(format!(
                "Jira answered with a redirect ({status}) to {}; use the site's address as it ends up in the browser",
                response.header("location").unwrap_or("another address")
            )),
            401 => Error::auth(match self.config.edition {
                Edition::Cloud => format!(
                    "Jira Cloud refused the e-mail and API token (401){detail}. Use the e-mail of the Atlassian account and an API token created at id.atlassian.com, Security, API tokens; an account password does not work."
                ),
                Edition::DataCenter => format!(
                    "Jira refused the personal access token (401){detail}. Create a new token under Profile, Personal Access Tokens; it may have expired or been revoked."
                ),
            }),
            403 => Error::auth(format!(
                "Jira denied the account access (403){detail}. The account needs the Browse projects, Create issues, Edit issues, Transition issues and Add comments permissions in the project."
            )),
            404 => Error::config(format!("Jira has no such item (404){detail}")),
            _ => response.service_error("Jira", &detail),
        })
    }
}

/// Jira's error body (`errorMessages` and `errors` by field) in one line.
pub fn jira_messages(response: &Response) -> String {
    let Ok(body) = serde_json::from_slice::<Value>(&response.body) else {
        let text = response.text();
        return text.trim().chars().take(200).collect();
    };
    let mut said: Vec<String> = body
        .get("errorMessages")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if let Some(errors) = body.get("errors").and_then(Value::as_object) {
        for (field, message) in errors {
            said.push(format!("{field}: {}", message.as_str().unwrap_or_default()));
        }
    }
    if said.is_empty()
        && let Some(message) = body.get("message").and_then(Value::as_str)
    {
        said.push(message.to_owned());
    }
    said.join("; ")
}

/// Percent-encodes a path segment.
pub use cube_connector_sdk::encode::percent as segment;
