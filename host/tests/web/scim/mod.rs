//! The SCIM 2.0 service provider over real HTTP (`/scim/v2`): what a
//! client provisions (`provisioning`, on SQLite and PostgreSQL), what
//! strangers and wrong requests get (`refusals`), and the service driven
//! by scim2-client, a SCIM client library written by others from the same
//! RFCs (`client_library`, running `tests/scim/client.py`).

mod client_library;
mod provisioning;
mod refusals;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// A SCIM client with a token: answers as (status, headers, body).
pub struct Scim {
    http: reqwest::Client,
    base: String,
    token: String,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Scim {
    pub fn new(base: &str, token: &str) -> Self {
        Scim {
            http: reqwest::Client::new(),
            base: format!("{base}/scim/v2"),
            token: token.to_owned(),
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/scim+json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        if !text.is_empty() {
            assert_eq!(
                headers["content-type"], "application/scim+json",
                "{path}: every SCIM body is application/scim+json"
            );
        }
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(body), &[]).await
    }

    pub async fn patch(&self, path: &str, operations: Value) -> Answer {
        let body = json!({"schemas": [PATCH], "Operations": operations});
        self.call(Method::PATCH, path, Some(body), &[]).await
    }
}

pub fn assert_error(answer: &Answer, status: StatusCode, scim_type: Option<&str>) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body["schemas"], json!([ERROR]), "{}", answer.body);
    assert_eq!(answer.body["status"], status.as_u16().to_string());
    assert!(
        answer.body["detail"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    assert_eq!(
        answer.body["scimType"].as_str(),
        scim_type,
        "{}",
        answer.body
    );
}

pub fn user(name: &str, given: &str, family: &str) -> Value {
    json!({
        "schemas": [USER],
        "userName": name,
        "externalId": format!("ext-{name}"),
        "name": {"givenName": given, "familyName": family},
        "emails": [{"value": format!("{name}@corp.example"), "type": "work", "primary": true}],
        "password": "never kept 2026!",
        "active": true,
    })
}

pub fn ids(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["userName"]
                .as_str()
                .or(r["displayName"].as_str())
                .unwrap()
                .to_owned()
        })
        .collect()
}
