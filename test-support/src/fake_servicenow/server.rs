//! What happens to every request: it is recorded, answered with an
//! injected fault, a token, 401, the violations (400), or the Table API's
//! answer, with ServiceNow's `Date` (the fake clock) and `Server`.

use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::RecordedRequest;
use super::state::{Inner, http_date, text};
use crate::fake_http::{Incoming, Reply, Serve, request_line};

const LIST_PARAMS: &[&str] = &[
    "sysparm_query",
    "sysparm_display_value",
    "sysparm_exclude_reference_link",
    "sysparm_suppress_pagination_header",
    "sysparm_fields",
    "sysparm_limit",
    "sysparm_view",
    "sysparm_query_category",
    "sysparm_query_no_domain",
    "sysparm_no_count",
    "sysparm_offset",
];
const GET_PARAMS: &[&str] = &[
    "sysparm_display_value",
    "sysparm_exclude_reference_link",
    "sysparm_fields",
    "sysparm_view",
    "sysparm_query_no_domain",
];
const WRITE_PARAMS: &[&str] = &[
    "sysparm_display_value",
    "sysparm_exclude_reference_link",
    "sysparm_fields",
    "sysparm_input_display_value",
    "sysparm_suppress_auto_sys_field",
    "sysparm_view",
    "sysparm_query_no_domain",
];

/// ServiceNow's error shape, as `Reply::failure`.
pub trait Failure {
    /// `{"error": {"message", "detail"}, "status": "failure"}`
    fn failure(status: u16, message: &str, detail: &str) -> Reply;
}

impl Failure for Reply {
    fn failure(status: u16, message: &str, detail: &str) -> Reply {
        Reply::json(
            status,
            json!({"error": {"message": message, "detail": detail}, "status": "failure"}),
        )
    }
}

pub fn not_found() -> Reply {
    Reply::failure(
        404,
        "No Record found",
        "Record doesn't exist or ACL restricts the record retrieval",
    )
}

impl Serve for Inner {
    fn serve(&mut self, request: Incoming<'_>) -> Reply {
        let mut reply = self.record_and_answer(request);
        reply.headers.splice(
            0..0,
            [
                ("Date", http_date(self.now)),
                ("Server", "ServiceNow".into()),
            ],
        );
        reply
    }
}

impl Inner {
    fn record_and_answer(&mut self, request: Incoming<'_>) -> Reply {
        self.current = request_line(request.method, request.path, request.raw_query);
        let query: Vec<(String, String)> = match serde_urlencoded::from_str(request.raw_query) {
            Ok(q) => q,
            Err(e) => {
                self.violation(format!("the query string does not decode: {e}"));
                Vec::new()
            }
        };
        self.requests.push(RecordedRequest {
            method: request.method.into(),
            path: request.path.into(),
            query: query.clone(),
            body: String::from_utf8_lossy(request.body).into_owned(),
            status: 0,
        });
        let reply = self.answer(
            request.method,
            request.path,
            &query,
            request.headers,
            request.body,
        );
        if let Some(last) = self.requests.last_mut() {
            last.status = reply.status;
        }
        reply
    }

    fn answer(
        &mut self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        headers: &HeaderMap,
        body: &[u8],
    ) -> Reply {
        if let Some(reply) = self.fault() {
            return reply;
        }
        if path == "/oauth_token.do" {
            return self.token(method, headers, body);
        }
        let Some(rest) = path.strip_prefix("/api/now/table/") else {
            self.violation("the fake serves /api/now/table/ and /oauth_token.do only");
            return Reply::failure(400, "Requested URI does not represent any resource", "");
        };
        if !self.authenticated(headers) {
            return Reply::failure(
                401,
                "User Not Authenticated",
                "Required to provide Auth information",
            );
        }
        let (table, sys_id) = match rest.split_once('/') {
            Some((t, id)) => (t.to_owned(), Some(id.to_owned())),
            None => (rest.to_owned(), None),
        };
        if Inner::columns(&table).is_none() {
            self.violation(format!("the fake has no table `{table}`"));
            return Reply::failure(400, "Invalid table", &table);
        }
        let allowed = match (method, &sys_id) {
            ("GET", None) => LIST_PARAMS,
            ("GET", Some(_)) => GET_PARAMS,
            ("POST", None) | ("PATCH", Some(_)) | ("PUT", Some(_)) => WRITE_PARAMS,
            _ => {
                self.violation(format!("{method} is not a Table API operation here"));
                return Reply::failure(405, "Method not Supported", method);
            }
        };
        let mut problems = Vec::new();
        for (name, value) in query {
            if !allowed.contains(&name.as_str()) {
                problems.push(format!("`{name}` is not a parameter of this operation"));
            }
            if name == "sysparm_display_value" && value != "false" {
                problems.push("the fake implements sysparm_display_value=false only".into());
            }
        }
        let fields: Option<Vec<String>> = query
            .iter()
            .find(|(n, _)| n == "sysparm_fields")
            .map(|(_, v)| v.split(',').map(|f| f.trim().to_owned()).collect());
        for field in fields.iter().flatten() {
            if !self.known_field(&table, field) {
                problems.push(format!("sysparm_fields names an unknown field `{field}`"));
            }
        }
        if !problems.is_empty() {
            for p in &problems {
                self.violation(p);
            }
            return Reply::failure(400, "Invalid request", &problems.join("; "));
        }
        let links = query
            .iter()
            .find(|(n, _)| n == "sysparm_exclude_reference_link")
            .is_none_or(|(_, v)| v != "true");
        match (method, sys_id) {
            ("GET", None) => self.list(&table, query, fields.as_deref(), links),
            ("GET", Some(id)) => match self
                .rows(&table)
                .iter()
                .position(|r| text(r, "sys_id") == id)
            {
                Some(at) => {
                    let row = self.rows(&table)[at].clone();
                    Reply::json(
                        200,
                        json!({"result": self.render(&row, fields.as_deref(), links)}),
                    )
                }
                None => not_found(),
            },
            (_, id) => {
                if table != "incident" {
                    self.violation(format!("the fake writes incidents only, not {table}"));
                    return Reply::failure(403, "Operation Failed", "ACL restricts the write");
                }
                let content_type = headers
                    .get(axum::http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                if !content_type.starts_with("application/json") {
                    self.violation(format!("a write with content type `{content_type}`"));
                    return Reply::failure(415, "Unsupported Media Type", content_type);
                }
                let Ok(Value::Object(values)) = serde_json::from_slice::<Value>(body) else {
                    self.violation("the body is not a JSON object");
                    return Reply::failure(
                        400,
                        "Exception while reading request",
                        "The payload is not valid JSON.",
                    );
                };
                self.write(id.as_deref(), values, fields.as_deref(), links)
            }
        }
    }

    fn fault(&mut self) -> Option<Reply> {
        if let Some(seconds) = self.faults.rate_limited() {
            let mut reply = Reply::failure(
                429,
                "Rate limit exceeded",
                "Too many requests for the rate limit rule of this user",
            );
            reply.headers = vec![
                ("Retry-After", seconds.to_string()),
                ("X-RateLimit-Limit", "100".into()),
                (
                    "X-RateLimit-Reset",
                    ((self.now / 1000) as u64 + seconds).to_string(),
                ),
                ("X-RateLimit-Rule", "cube-integration".into()),
            ];
            return Some(reply);
        }
        if let Some(status) = self.faults.failed() {
            return Some(Reply::failure(
                status,
                "Server error",
                "Transaction cancelled",
            ));
        }
        None
    }
}
