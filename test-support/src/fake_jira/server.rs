//! What happens to every request before an endpoint sees it: it is logged,
//! checked against the OpenAPI description, then answered with an injected
//! fault, 401, the violations (400), 403, or the endpoint's answer.

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use base64::Engine;

use super::openapi;
use super::render::jira_time;
use super::routes::{JiraErrors, Query, Reply, route};
use super::state::{Edition, Inner, RecordedRequest, SERVICE_USER};
use crate::fake_http::{Incoming, Serve, request_line};

impl Inner {
    /// Records a violation by the request being served.
    pub fn violation(&mut self, what: impl std::fmt::Display) {
        let line = format!("{}: {what}", self.current);
        self.violations.push(line);
    }
}

impl Serve for Inner {
    fn serve(&mut self, request: Incoming<'_>) -> Reply {
        let Incoming {
            method,
            path,
            raw_query,
            headers,
            body,
        } = request;
        self.requests.push(RecordedRequest {
            method: method.into(),
            path: path.into(),
            query: raw_query.into(),
            body: String::from_utf8_lossy(body).into_owned(),
        });
        self.current = request_line(method, path, raw_query);
        let mut problems = Vec::new();
        let query: Vec<(String, String)> =
            serde_urlencoded::from_str(raw_query).unwrap_or_else(|e| {
                problems.push(format!("the query string does not decode: {e}"));
                Vec::new()
            });
        let (edition, version) = match self.edition {
            Edition::Cloud => ("Cloud", "3"),
            Edition::DataCenter => ("Data Center", "2"),
        };
        let prefix = format!("/rest/api/{version}/");
        let rest = match path.strip_prefix(&prefix) {
            Some(rest) => {
                let v3 = format!("/rest/api/3/{rest}");
                let outcome = openapi::spec().validate(&openapi::Request {
                    method,
                    path: &v3,
                    query: &query,
                    content_type: headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()),
                    body,
                });
                problems.extend(outcome.problems);
                for coerced in outcome.coerced {
                    let line = format!("{}: {coerced}", self.current);
                    self.warnings.push(line);
                }
                if outcome.deprecated && self.cloud() {
                    let line = format!(
                        "{}: Atlassian marks this operation deprecated",
                        self.current
                    );
                    self.warnings.push(line);
                }
                rest
            }
            None => {
                problems.push(format!("the fake Jira {edition} serves {prefix} only"));
                ""
            }
        };
        for problem in &problems {
            self.violation(problem);
        }
        if let Some(reply) = self.fault() {
            return reply;
        }
        if !self.authenticated(headers) {
            let mut reply = Reply::errors(
                401,
                vec![
                    "You are not authenticated. Authentication required to perform this operation."
                        .into(),
                ],
            );
            reply
                .headers
                .push(("X-Seraph-LoginReason", "AUTHENTICATED_FAILED".into()));
            return reply;
        }
        if !problems.is_empty() {
            let messages = problems
                .into_iter()
                .map(|p| format!("The request does not follow Jira's OpenAPI description: {p}"))
                .collect();
            return Reply::errors(400, messages);
        }
        if self.forbidden && rest != "myself" {
            return Reply::errors(
                403,
                vec!["You do not have the permission to perform this operation.".into()],
            );
        }
        let body = serde_json::from_slice(body).ok();
        let segments: Vec<String> = rest
            .split('/')
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        route(self, method, &segments, &Query(query), body.as_ref())
    }
}

impl Inner {
    /// An injected 429 or failure, if one is armed.
    fn fault(&mut self) -> Option<Reply> {
        if let Some(seconds) = self.faults.rate_limited() {
            let reset = chrono::DateTime::from_timestamp_millis(self.now + seconds as i64 * 1000)
                .expect("a time in range")
                .format("%Y-%m-%dT%H:%MZ")
                .to_string();
            let mut reply = Reply::errors(429, vec!["Rate limit exceeded.".into()]);
            reply.headers = vec![
                ("Retry-After", seconds.to_string()),
                ("X-RateLimit-Limit", "100".into()),
                ("X-RateLimit-Remaining", "0".into()),
                ("X-RateLimit-Reset", reset),
                ("RateLimit-Reason", "jira-burst-based".into()),
            ];
            return Some(reply);
        }
        if let Some(status) = self.faults.failed() {
            let reason = axum::http::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Server error");
            return Some(Reply::errors(status, vec![reason.into()]));
        }
        None
    }

    fn authenticated(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        match self.edition {
            Edition::Cloud => {
                let expected = format!("{}:{}", self.users[SERVICE_USER].email, self.api_token);
                value
                    .strip_prefix("Basic ")
                    .and_then(|b| {
                        base64::engine::general_purpose::STANDARD
                            .decode(b.trim())
                            .ok()
                    })
                    .is_some_and(|decoded| decoded == expected.as_bytes())
            }
            Edition::DataCenter => value.strip_prefix("Bearer ") == Some(self.pat.as_str()),
        }
    }

    /// The clock as JQL writes it, `yyyy-MM-dd HH:mm`.
    pub fn now_jql(&self) -> String {
        jira_time(self.now)[..16].replace('T', " ")
    }
}
