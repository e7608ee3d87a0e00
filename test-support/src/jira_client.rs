//! A client of the fake Jira for the tests of the fake itself
//! (`host/tests/connectors/fake_jira*.rs`): raw REST requests sent with the
//! fake's credentials, an Atlassian Document of one paragraph, the first
//! error message of an answer, and the check that no request broke the
//! fake's contract.

use serde_json::{Value, json};

use crate::fake_jira::FakeJira;

/// A client of one fake, with its credentials.
pub struct Jira {
    pub http: reqwest::Client,
    pub api: String,
    pub auth: String,
}

pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Jira {
    pub fn new(fake: &FakeJira) -> Jira {
        Jira {
            http: reqwest::Client::new(),
            api: fake.api_url(),
            auth: fake.auth_header(),
        }
    }

    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.api))
            .header("Authorization", &self.auth)
            .header("Accept", "application/json");
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(&body).unwrap());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let a = self.send("GET", path, None).await;
        (a.status, a.body)
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let a = self.send("POST", path, Some(body)).await;
        (a.status, a.body)
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let a = self.send("PUT", path, Some(body)).await;
        (a.status, a.body)
    }
}

pub fn doc(text: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": text}]}
    ]})
}

/// The first of the `errorMessages` of a Jira error body.
pub fn first_error(body: &Value) -> &str {
    body["errorMessages"][0]
        .as_str()
        .unwrap_or_else(|| panic!("no error message in {body}"))
}

pub fn no_violations(fake: &FakeJira) {
    let violations = fake.violations();
    assert!(violations.is_empty(), "violations: {violations:#?}");
}
