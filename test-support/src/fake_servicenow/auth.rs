//! Authentication: Basic with the integration user's password, and OAuth
//! tokens from `POST /oauth_token.do` that run out by the fake clock.

use axum::http::HeaderMap;
use base64::Engine;
use serde_json::json;

use super::server::Failure;
use super::state::Inner;
use super::{CLIENT_ID, USER};
use crate::fake_http::Reply;

impl Inner {
    pub fn authenticated(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        if let Some(basic) = value.strip_prefix("Basic ") {
            let expected = format!("{USER}:{}", self.password);
            return base64::engine::general_purpose::STANDARD
                .decode(basic.trim())
                .is_ok_and(|d| d == expected.as_bytes());
        }
        if let Some(token) = value.strip_prefix("Bearer ") {
            return self
                .tokens
                .get(token.trim())
                .is_some_and(|end| self.now < *end);
        }
        false
    }

    pub fn token(&mut self, method: &str, headers: &HeaderMap, body: &[u8]) -> Reply {
        if method != "POST" {
            self.violation("oauth_token.do takes POST");
            return Reply::failure(405, "Method not Supported", method);
        }
        let content_type = headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !content_type.starts_with("application/x-www-form-urlencoded") {
            // ServiceNow documents that JSON here fails with an unspecified error.
            self.violation(format!("oauth_token.do with content type `{content_type}`"));
            return Reply::json(
                400,
                json!({"error_description": "invalid request", "error": "server_error"}),
            );
        }
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
        let get = |name: &str| {
            form.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or_default()
        };
        let client_ok = get("client_id") == CLIENT_ID && get("client_secret") == self.client_secret;
        let granted = match get("grant_type") {
            "password" => client_ok && get("username") == USER && get("password") == self.password,
            "client_credentials" => client_ok,
            other => {
                self.violation(format!("grant_type `{other}` is not one the fake knows"));
                return Reply::json(
                    400,
                    json!({"error_description": "unsupported grant type", "error": "unsupported_grant_type"}),
                );
            }
        };
        if !granted {
            return Reply::json(
                401,
                json!({"error_description": "access_denied", "error": "server_error"}),
            );
        }
        self.issued += 1;
        let token = format!("snow-token-{}-{}", self.issued, self.now);
        self.tokens
            .insert(token.clone(), self.now + self.token_ttl_secs * 1000);
        Reply::json(
            200,
            json!({
                "access_token": token,
                "refresh_token": format!("snow-refresh-{}", self.issued),
                "scope": "useraccount",
                "token_type": "Bearer",
                "expires_in": self.token_ttl_secs - 1,
            }),
        )
    }
}
