//! A fake ServiceNow instance for connector tests, following the published
//! Table API and OAuth contracts:
//!
//! - `GET /api/now/table/{table}` with `sysparm_query` (encoded queries:
//!   `^` and `^OR` conditions with `=`, `!=`, `>`, `>=`, `<`, `<=`, `IN`,
//!   `NOT IN`, `STARTSWITH`, `LIKE`, `ISEMPTY`, `ISNOTEMPTY`, and `ORDERBY` /
//!   `ORDERBYDESC`), `sysparm_fields` (with dot-walked references),
//!   `sysparm_limit`, `sysparm_offset`, `sysparm_display_value=false`,
//!   `sysparm_exclude_reference_link`; answers `{"result": [...]}` with
//!   `X-Total-Count` and a `Link` header (first, prev, next, last).
//! - `GET/PATCH /api/now/table/{table}/{sys_id}`, `POST /api/now/table/incident`
//!   (`201` and `Location`), journal fields written through `comments` and
//!   `work_notes` and read from `sys_journal_field`; the incident data
//!   policies (resolution code and notes for Resolved and Closed, the on
//!   hold reason for On Hold) answer 403 `Data Policy Exception`.
//! - `POST /oauth_token.do` (form-encoded; `password` and
//!   `client_credentials` grants) answering `access_token` and `expires_in`;
//!   tokens run out by the fake clock.
//! - Errors as `{"error": {"message", "detail"}, "status": "failure"}`: 401
//!   for missing or wrong credentials, 400 for a bad request, 404, 429 with
//!   `Retry-After` (injected), 5xx (injected).
//!
//! Whatever departs from the contract (an unknown `sysparm_*` parameter, a
//! query it cannot parse, an unknown field, a wrong content type) is
//! recorded as a violation and answered 400; tests end with
//! `assert!(fake.violations().is_empty())`.
//!
//! A fake clock starts at 2024-01-15 10:30:00 UTC; every change moves it a
//! second on. It is the `Date` of every answer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine;
use serde_json::{Map, Value, json};

type Row = Map<String, Value>;
type Shared = Arc<Mutex<Inner>>;

pub const USER: &str = "cube.integration";
pub const PASSWORD: &str = "Snow-Pa55word!";
pub const CLIENT_ID: &str = "3f1c2a9be0d54e7f8a6b5c4d3e2f1a0b";
pub const CLIENT_SECRET: &str = "client-Secret-42";
/// The sys_id of the assignment group "Facilities".
pub const FACILITIES: &str = "8a5055c9c61122780043563ef53438e3";
/// The sys_id of "Beth Anglin", a fulfiller.
pub const BETH: &str = "46d44a23a9fe19810012d100cca80666";
/// The sys_id of "Abel Tuter", a caller.
pub const ABEL: &str = "62826bf03710200044e0bfc8bcbe5df1";

const START: i64 = 1_705_314_600_000; // 2024-01-15 10:30:00 UTC

const INCIDENT_COLUMNS: &[&str] = &[
    "sys_id",
    "number",
    "short_description",
    "description",
    "state",
    "priority",
    "impact",
    "urgency",
    "assigned_to",
    "caller_id",
    "assignment_group",
    "due_date",
    "close_code",
    "close_notes",
    "hold_reason",
    "active",
    "category",
    "opened_at",
    "comments",
    "work_notes",
    "sys_created_on",
    "sys_created_by",
    "sys_updated_on",
    "sys_updated_by",
    "sys_mod_count",
];
const JOURNAL_COLUMNS: &[&str] = &[
    "sys_id",
    "element_id",
    "element",
    "name",
    "value",
    "sys_created_on",
    "sys_created_by",
];
const GROUP_COLUMNS: &[&str] = &["sys_id", "name", "active", "description"];
const USER_COLUMNS: &[&str] = &["sys_id", "name", "user_name", "active"];
/// Reference columns and the table they point to.
const REFERENCES: &[(&str, &str)] = &[
    ("assigned_to", "sys_user"),
    ("caller_id", "sys_user"),
    ("assignment_group", "sys_user_group"),
];
const DATE_COLUMNS: &[&str] = &["due_date", "opened_at", "sys_created_on", "sys_updated_on"];
const NUMERIC_COLUMNS: &[&str] = &["state", "priority", "impact", "urgency", "sys_mod_count"];
const JOURNAL_FIELDS: &[&str] = &["comments", "work_notes"];
/// Resolution codes of the instance (`close_code` choices).
pub const CLOSE_CODES: &[&str] = &[
    "Solution provided",
    "Workaround provided",
    "Resolved by caller",
    "Duplicate",
    "Known error",
    "No resolution provided",
];

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

#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Decoded query parameters.
    pub query: Vec<(String, String)>,
    pub body: String,
    pub status: u16,
}

impl RecordedRequest {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A journal entry as it stands.
#[derive(Clone, Debug)]
pub struct JournalEntry {
    pub sys_id: String,
    pub incident: String,
    pub element: String,
    pub value: String,
    pub created_by: String,
}

struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Option<Value>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    fn failure(status: u16, message: &str, detail: &str) -> Reply {
        Reply::json(
            status,
            json!({"error": {"message": message, "detail": detail}, "status": "failure"}),
        )
    }
}

struct Inner {
    base_url: String,
    now: i64,
    password: String,
    client_secret: String,
    token_ttl_secs: i64,
    /// access token -> expiry (ms, fake clock)
    tokens: BTreeMap<String, i64>,
    issued: u32,
    incidents: Vec<Row>,
    journal: Vec<Row>,
    groups: Vec<Row>,
    users: Vec<Row>,
    next_number: u32,
    next_id: u64,
    requests: Vec<RecordedRequest>,
    violations: Vec<String>,
    current: String,
    rate_limit: Option<(u32, u64)>,
    failures: Option<(u32, u16)>,
}

fn stamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("a time in range")
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn http_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("a time in range")
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

fn is_stamp(text: &str) -> bool {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").is_ok()
}

fn text<'a>(row: &'a Row, name: &str) -> &'a str {
    row.get(name).and_then(Value::as_str).unwrap_or_default()
}

/// The priority the base system's lookup rules give an impact and urgency.
fn priority_of(impact: &str, urgency: &str) -> String {
    let (i, u) = (
        impact.parse::<u32>().unwrap_or(3),
        urgency.parse::<u32>().unwrap_or(3),
    );
    match i + u {
        2 => "1",
        3 => "2",
        4 => "3",
        5 => "4",
        _ => "5",
    }
    .into()
}

/// One condition of an encoded query.
#[derive(Debug)]
struct Condition {
    field: String,
    op: String,
    value: String,
}

/// An encoded query: conditions ANDed, each a list of alternatives (`^OR`),
/// and the ordering.
#[derive(Debug, Default)]
struct Query {
    and: Vec<Vec<Condition>>,
    order: Vec<(String, bool)>,
}

const OPERATORS: &[&str] = &[
    "ISNOTEMPTY",
    "ISEMPTY",
    "STARTSWITH",
    "NOT IN",
    "LIKE",
    "IN",
    ">=",
    "<=",
    "!=",
    ">",
    "<",
    "=",
];

impl Inner {
    fn new(base_url: String) -> Inner {
        let user = |id: &str, name: &str, user_name: &str| {
            let mut row = Row::new();
            row.insert("sys_id".into(), id.into());
            row.insert("name".into(), name.into());
            row.insert("user_name".into(), user_name.into());
            row.insert("active".into(), "true".into());
            row
        };
        let group = |id: &str, name: &str, active: &str| {
            let mut row = Row::new();
            row.insert("sys_id".into(), id.into());
            row.insert("name".into(), name.into());
            row.insert("active".into(), active.into());
            row.insert("description".into(), "".into());
            row
        };
        Inner {
            base_url,
            now: START,
            password: PASSWORD.into(),
            client_secret: CLIENT_SECRET.into(),
            token_ttl_secs: 1800,
            tokens: BTreeMap::new(),
            issued: 0,
            incidents: Vec::new(),
            journal: Vec::new(),
            groups: vec![
                group(FACILITIES, "Facilities", "true"),
                group("287ebd7da9fe198100f92cc8d1d2154e", "Network", "true"),
                group("d625dccec0a8016700a222a0f7900d06", "Retired desk", "false"),
            ],
            users: vec![
                user(BETH, "Beth Anglin", "beth.anglin"),
                user(ABEL, "Abel Tuter", "abel.tuter"),
                user("6816f79cc0a8016401c5a33be04be441", "CUBE Integration", USER),
            ],
            next_number: 10001,
            next_id: 1,
            requests: Vec::new(),
            violations: Vec::new(),
            current: String::new(),
            rate_limit: None,
            failures: None,
        }
    }

    fn violation(&mut self, what: impl std::fmt::Display) {
        let line = format!("{}: {what}", self.current);
        self.violations.push(line);
    }

    fn sys_id(&mut self) -> String {
        self.next_id += 1;
        format!(
            "{:032x}",
            0x5e71_0000_0000_0000_u64 as u128 * 1_000_003 + self.next_id as u128
        )
    }

    fn tick(&mut self) -> String {
        self.now += 1000;
        stamp(self.now)
    }

    fn columns(table: &str) -> Option<&'static [&'static str]> {
        match table {
            "incident" => Some(INCIDENT_COLUMNS),
            "sys_journal_field" => Some(JOURNAL_COLUMNS),
            "sys_user_group" => Some(GROUP_COLUMNS),
            "sys_user" => Some(USER_COLUMNS),
            _ => None,
        }
    }

    fn rows(&self, table: &str) -> &Vec<Row> {
        match table {
            "incident" => &self.incidents,
            "sys_journal_field" => &self.journal,
            "sys_user_group" => &self.groups,
            _ => &self.users,
        }
    }

    /// A field of a row, references dot-walked (`assigned_to.name`).
    fn value(&self, row: &Row, field: &str) -> Value {
        if let Some((reference, column)) = field.split_once('.') {
            let Some((_, table)) = REFERENCES.iter().find(|(r, _)| *r == reference) else {
                return Value::Null;
            };
            let id = text(row, reference);
            return self
                .rows(table)
                .iter()
                .find(|r| text(r, "sys_id") == id)
                .and_then(|r| r.get(column).cloned())
                .unwrap_or_else(|| "".into());
        }
        // Journal fields read empty with display values off.
        if JOURNAL_FIELDS.contains(&field) {
            return "".into();
        }
        row.get(field).cloned().unwrap_or_else(|| "".into())
    }

    fn known_field(&mut self, table: &str, field: &str) -> bool {
        let columns = Inner::columns(table).unwrap_or_default();
        if let Some((reference, column)) = field.split_once('.') {
            if let Some((_, target)) = REFERENCES.iter().find(|(r, _)| *r == reference)
                && columns.contains(&reference)
                && Inner::columns(target).unwrap_or_default().contains(&column)
            {
                return true;
            }
            return false;
        }
        columns.contains(&field)
    }

    fn parse_query(&mut self, table: &str, text: &str) -> Result<Query, String> {
        let mut query = Query::default();
        if text.trim().is_empty() {
            return Ok(query);
        }
        for part in text.split('^') {
            if part.is_empty() {
                return Err(format!("empty condition in `{text}`"));
            }
            if part == "NQ" || part.starts_with("NQ") {
                return Err("the fake does not implement ^NQ".into());
            }
            if let Some(field) = part.strip_prefix("ORDERBYDESC") {
                if !self.known_field(table, field) {
                    return Err(format!("ORDERBYDESC names an unknown field `{field}`"));
                }
                query.order.push((field.to_owned(), true));
                continue;
            }
            if let Some(field) = part.strip_prefix("ORDERBY") {
                if !self.known_field(table, field) {
                    return Err(format!("ORDERBY names an unknown field `{field}`"));
                }
                query.order.push((field.to_owned(), false));
                continue;
            }
            let (or, condition) = match part.strip_prefix("OR") {
                Some(rest) if !query.and.is_empty() => (true, rest),
                _ => (false, part),
            };
            let Some((at, op)) = OPERATORS
                .iter()
                .filter_map(|op| condition.find(op).map(|at| (at, *op)))
                .min_by_key(|(at, op)| (*at, std::cmp::Reverse(op.len())))
            else {
                return Err(format!("`{condition}` has no operator"));
            };
            let field = &condition[..at];
            let value = &condition[at + op.len()..];
            if field.is_empty() || !self.known_field(table, field) {
                return Err(format!("`{condition}` names an unknown field `{field}`"));
            }
            let value = if DATE_COLUMNS.contains(&field) && !value.is_empty() {
                match date_value(value) {
                    Some(v) => v,
                    None => {
                        return Err(format!(
                            "`{value}` is not a date-time (`YYYY-MM-DD HH:MM:SS` or javascript:gs.dateGenerate('YYYY-MM-DD','HH:MM:SS'))"
                        ));
                    }
                }
            } else {
                value.to_owned()
            };
            if matches!(op, "ISEMPTY" | "ISNOTEMPTY") && !value.is_empty() {
                return Err(format!("`{condition}` has a value after {op}"));
            }
            let condition = Condition {
                field: field.to_owned(),
                op: op.to_owned(),
                value,
            };
            if or {
                query.and.last_mut().unwrap().push(condition);
            } else {
                query.and.push(vec![condition]);
            }
        }
        Ok(query)
    }

    fn matches(&self, row: &Row, query: &Query) -> bool {
        query.and.iter().all(|any| {
            any.iter().any(|c| {
                let value = self.value(row, &c.field);
                let have = value.as_str().unwrap_or_default();
                let ordering = || {
                    if NUMERIC_COLUMNS.contains(&c.field.as_str())
                        && let (Ok(a), Ok(b)) = (have.parse::<i64>(), c.value.parse::<i64>())
                    {
                        return a.cmp(&b);
                    }
                    have.cmp(c.value.as_str())
                };
                match c.op.as_str() {
                    "=" => have == c.value,
                    "!=" => have != c.value,
                    ">" => !have.is_empty() && ordering().is_gt(),
                    ">=" => !have.is_empty() && ordering().is_ge(),
                    "<" => !have.is_empty() && ordering().is_lt(),
                    "<=" => !have.is_empty() && ordering().is_le(),
                    "IN" => c.value.split(',').any(|v| v == have),
                    "NOT IN" => !c.value.split(',').any(|v| v == have),
                    "STARTSWITH" => have.starts_with(c.value.as_str()),
                    "LIKE" => have.to_lowercase().contains(&c.value.to_lowercase()),
                    "ISEMPTY" => have.is_empty(),
                    "ISNOTEMPTY" => !have.is_empty(),
                    _ => false,
                }
            })
        })
    }

    fn authenticated(&self, headers: &HeaderMap) -> bool {
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

    fn serve(
        &mut self,
        method: &str,
        path: &str,
        raw_query: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Reply {
        self.current = match raw_query {
            "" => format!("{method} {path}"),
            q => format!("{method} {path}?{q}"),
        };
        let query: Vec<(String, String)> = match serde_urlencoded::from_str(raw_query) {
            Ok(q) => q,
            Err(e) => {
                self.violation(format!("the query string does not decode: {e}"));
                Vec::new()
            }
        };
        self.requests.push(RecordedRequest {
            method: method.into(),
            path: path.into(),
            query: query.clone(),
            body: String::from_utf8_lossy(body).into_owned(),
            status: 0,
        });
        let reply = self.answer(method, path, &query, headers, body);
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

    fn render(&self, row: &Row, fields: Option<&[String]>, links: bool) -> Value {
        let names: Vec<String> = match fields {
            Some(f) => f.to_vec(),
            None => row.keys().cloned().collect(),
        };
        let mut out = Row::new();
        for name in names {
            let mut value = self.value(row, &name);
            if links
                && let Some((_, table)) = REFERENCES.iter().find(|(r, _)| *r == name)
                && value.as_str().is_some_and(|v| !v.is_empty())
            {
                let id = value.as_str().unwrap().to_owned();
                value = json!({"link": format!("{}/api/now/table/{table}/{id}", self.base_url), "value": id});
            }
            out.insert(name, value);
        }
        Value::Object(out)
    }

    fn list(
        &mut self,
        table: &str,
        query: &[(String, String)],
        fields: Option<&[String]>,
        links: bool,
    ) -> Reply {
        let param = |name: &str| {
            query
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let number = |name: &str, default: usize| -> Result<usize, String> {
            match param(name) {
                None => Ok(default),
                Some(v) => v
                    .parse::<usize>()
                    .map_err(|_| format!("{name}=`{v}` is not a non-negative integer")),
            }
        };
        let (limit, offset) = match (number("sysparm_limit", 10_000), number("sysparm_offset", 0)) {
            (Ok(l), Ok(o)) if l > 0 => (l, o),
            (Ok(_), Ok(_)) => {
                self.violation("sysparm_limit=0");
                return Reply::failure(400, "Invalid request", "sysparm_limit must be positive");
            }
            (Err(e), _) | (_, Err(e)) => {
                self.violation(&e);
                return Reply::failure(400, "Invalid request", &e);
            }
        };
        let encoded = param("sysparm_query").unwrap_or_default();
        let parsed = match self.parse_query(table, &encoded) {
            Ok(q) => q,
            Err(e) => {
                self.violation(format!("sysparm_query: {e}"));
                return Reply::failure(400, "Invalid query", &e);
            }
        };
        let mut rows: Vec<Row> = self
            .rows(table)
            .iter()
            .filter(|r| self.matches(r, &parsed))
            .cloned()
            .collect();
        rows.sort_by(|a, b| {
            for (field, desc) in &parsed.order {
                let (x, y) = (self.value(a, field), self.value(b, field));
                let (x, y) = (
                    x.as_str().unwrap_or_default(),
                    y.as_str().unwrap_or_default(),
                );
                let ord = if NUMERIC_COLUMNS.contains(&field.as_str())
                    && let (Ok(x), Ok(y)) = (x.parse::<i64>(), y.parse::<i64>())
                {
                    x.cmp(&y)
                } else {
                    x.cmp(y)
                };
                let ord = if *desc { ord.reverse() } else { ord };
                if ord.is_ne() {
                    return ord;
                }
            }
            std::cmp::Ordering::Equal
        });
        let total = rows.len();
        let page: Vec<Value> = rows
            .iter()
            .skip(offset)
            .take(limit)
            .map(|r| self.render(r, fields, links))
            .collect();
        let mut reply = Reply::json(200, json!({ "result": page }));
        if param("sysparm_no_count").as_deref() != Some("true") {
            reply.headers.push(("X-Total-Count", total.to_string()));
        }
        if param("sysparm_suppress_pagination_header").as_deref() != Some("true") {
            let link = |at: i64, rel: &str| {
                let mut pairs: Vec<(String, String)> = query
                    .iter()
                    .filter(|(n, _)| n != "sysparm_offset")
                    .cloned()
                    .collect();
                pairs.push(("sysparm_offset".into(), at.to_string()));
                let encoded = serde_urlencoded::to_string(&pairs).unwrap();
                format!(
                    "<{}/api/now/table/{table}?{encoded}>;rel=\"{rel}\"",
                    self.base_url
                )
            };
            let (limit, offset, total) = (limit as i64, offset as i64, total as i64);
            let last = if total == 0 {
                0
            } else {
                (total - 1) / limit * limit
            };
            let mut parts = vec![link(0, "first")];
            if offset > 0 {
                parts.push(link(offset - limit, "prev"));
            }
            if offset + limit < total {
                parts.push(link(offset + limit, "next"));
            }
            parts.push(link(last, "last"));
            reply.headers.push(("Link", parts.join(",")));
        }
        reply
    }

    fn write(
        &mut self,
        sys_id: Option<&str>,
        values: Map<String, Value>,
        fields: Option<&[String]>,
        links: bool,
    ) -> Reply {
        let mut changes: Vec<(String, String)> = Vec::new();
        let mut journal: Vec<(String, String)> = Vec::new();
        for (name, value) in values {
            let value = match value {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Null => String::new(),
                other => {
                    self.violation(format!("`{name}` is given {other}, not a value"));
                    return Reply::failure(400, "Invalid request", &name);
                }
            };
            if !INCIDENT_COLUMNS.contains(&name.as_str())
                || [
                    "sys_id",
                    "number",
                    "sys_mod_count",
                    "sys_updated_on",
                    "sys_created_on",
                ]
                .contains(&name.as_str())
            {
                self.violation(format!(
                    "the body names `{name}`, not a writable incident field"
                ));
                return Reply::failure(400, "Invalid request", &name);
            }
            if DATE_COLUMNS.contains(&name.as_str()) && !value.is_empty() && !is_stamp(&value) {
                self.violation(format!("`{name}` = `{value}` is not YYYY-MM-DD HH:MM:SS"));
                return Reply::failure(400, "Invalid request", &name);
            }
            if JOURNAL_FIELDS.contains(&name.as_str()) {
                if !value.is_empty() {
                    journal.push((name, value));
                }
            } else {
                changes.push((name, value));
            }
        }
        let created = sys_id.is_none();
        let at = match sys_id {
            Some(id) => match self.incidents.iter().position(|r| text(r, "sys_id") == id) {
                Some(at) => at,
                None => return not_found(),
            },
            None => {
                let mut row = Row::new();
                let id = self.sys_id();
                let number = format!("INC{:07}", self.next_number);
                self.next_number += 1;
                for column in INCIDENT_COLUMNS {
                    row.insert((*column).into(), "".into());
                }
                for (k, v) in [
                    ("sys_id", id),
                    ("number", number),
                    ("state", "1".into()),
                    ("impact", "3".into()),
                    ("urgency", "3".into()),
                    ("priority", "5".into()),
                    ("active", "true".into()),
                    ("sys_created_by", USER.into()),
                    ("sys_mod_count", "0".into()),
                ] {
                    row.insert(k.into(), v.into());
                }
                self.incidents.push(row);
                self.incidents.len() - 1
            }
        };
        let mut row = self.incidents[at].clone();
        let mut changed = false;
        for (name, value) in &changes {
            if text(&row, name) != value {
                row.insert(name.clone(), value.clone().into());
                changed = true;
            }
        }
        let touched = |n: &str| changes.iter().any(|(c, _)| c == n);
        if touched("impact") || touched("urgency") {
            let priority = priority_of(text(&row, "impact"), text(&row, "urgency"));
            row.insert("priority".into(), priority.into());
        }
        // The incident data policies.
        let state = text(&row, "state").to_owned();
        let mut missing = Vec::new();
        if ["6", "7"].contains(&state.as_str()) {
            if text(&row, "close_code").is_empty() {
                missing.push("Resolution code");
            }
            if text(&row, "close_notes").is_empty() {
                missing.push("Resolution notes");
            }
        }
        if state == "3" && text(&row, "hold_reason").is_empty() {
            missing.push("On hold reason");
        }
        if !missing.is_empty() {
            if created {
                self.incidents.pop();
            }
            return Reply::failure(
                403,
                "Operation Failed",
                &format!(
                    "Data Policy Exception: \n\tThe following fields are mandatory: {}",
                    missing.join(", ")
                ),
            );
        }
        if !["1", "2", "3", "6", "7", "8"].contains(&state.as_str()) {
            self.violation(format!("state `{state}` is not an incident state"));
        }
        if changed || created || !journal.is_empty() {
            let now = self.tick();
            if created {
                row.insert("sys_created_on".into(), now.clone().into());
                row.insert("opened_at".into(), now.clone().into());
            } else {
                let count: u64 = text(&row, "sys_mod_count").parse().unwrap_or(0);
                row.insert("sys_mod_count".into(), (count + 1).to_string().into());
            }
            row.insert("sys_updated_on".into(), now.clone().into());
            row.insert("sys_updated_by".into(), USER.into());
            row.insert(
                "active".into(),
                if ["6", "7", "8"].contains(&state.as_str()) {
                    "false"
                } else {
                    "true"
                }
                .into(),
            );
            let incident = text(&row, "sys_id").to_owned();
            for (element, value) in journal {
                let entry = self.entry(&incident, &element, &value, USER, &now);
                self.journal.push(entry);
            }
        }
        self.incidents[at] = row.clone();
        let mut reply = Reply::json(
            if created { 201 } else { 200 },
            json!({"result": self.render(&row, fields, links)}),
        );
        if created {
            reply.headers.push((
                "Location",
                format!(
                    "{}/api/now/table/incident/{}",
                    self.base_url,
                    text(&row, "sys_id")
                ),
            ));
        }
        reply
    }

    fn entry(&mut self, incident: &str, element: &str, value: &str, by: &str, on: &str) -> Row {
        let mut entry = Row::new();
        for (k, v) in [
            ("sys_id", self.sys_id()),
            ("element_id", incident.to_owned()),
            ("element", element.to_owned()),
            ("name", "incident".to_owned()),
            ("value", value.to_owned()),
            ("sys_created_on", on.to_owned()),
            ("sys_created_by", by.to_owned()),
        ] {
            entry.insert(k.into(), v.into());
        }
        entry
    }

    fn token(&mut self, method: &str, headers: &HeaderMap, body: &[u8]) -> Reply {
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

    fn fault(&mut self) -> Option<Reply> {
        if let Some((n, seconds)) = self.rate_limit {
            self.rate_limit = (n > 1).then_some((n - 1, seconds));
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
        if let Some((n, status)) = self.failures {
            self.failures = (n > 1).then_some((n - 1, status));
            return Some(Reply::failure(
                status,
                "Server error",
                "Transaction cancelled",
            ));
        }
        None
    }

    fn create_remote(&mut self, title: &str, extra: &[(&str, &str)]) -> String {
        let mut values = Map::new();
        values.insert("short_description".into(), title.into());
        values.insert("caller_id".into(), ABEL.into());
        for (k, v) in extra {
            values.insert((*k).into(), (*v).into());
        }
        let reply = self.write(None, values, Some(&["sys_id".into()]), false);
        let body = reply.body.expect("a created incident");
        body["result"]["sys_id"].as_str().unwrap().to_owned()
    }
}

fn not_found() -> Reply {
    Reply::failure(
        404,
        "No Record found",
        "Record doesn't exist or ACL restricts the record retrieval",
    )
}

/// A date-time value of an encoded query, as stored (UTC).
fn date_value(value: &str) -> Option<String> {
    if is_stamp(value) {
        return Some(value.to_owned());
    }
    // The fake's users are in UTC, so a generated date is the same instant.
    let inner = value
        .strip_prefix("javascript:gs.dateGenerate(")?
        .strip_suffix(')')?;
    let (date, time) = inner.split_once(',')?;
    let joined = format!(
        "{} {}",
        date.trim().trim_matches('\''),
        time.trim().trim_matches('\'')
    );
    is_stamp(&joined).then_some(joined)
}

pub struct FakeServiceNow {
    state: Shared,
    base_url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeServiceNow {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn handle(State(state): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let (reply, now) = {
        let mut st = state.lock().unwrap_or_else(PoisonError::into_inner);
        let reply = st.serve(
            parts.method.as_str(),
            parts.uri.path(),
            parts.uri.query().unwrap_or(""),
            &parts.headers,
            &body,
        );
        (reply, st.now)
    };
    let mut response = Response::builder()
        .status(reply.status)
        .header("Date", http_date(now))
        .header("Server", "ServiceNow");
    for (name, value) in reply.headers {
        response = response.header(name, value);
    }
    match reply.body {
        Some(json) => response
            .header("Content-Type", "application/json;charset=UTF-8")
            .body(Body::from(serde_json::to_vec(&json).expect("JSON"))),
        None => response.body(Body::empty()),
    }
    .expect("a valid response")
}

impl FakeServiceNow {
    /// Starts a fake on 127.0.0.1 (a port of its own); it stops when dropped.
    pub async fn start() -> FakeServiceNow {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(Inner::new(base_url.clone())));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeServiceNow {
            state,
            base_url,
            server,
        }
    }

    fn st(&self) -> MutexGuard<'_, Inner> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// Changes the integration user's password.
    pub fn set_password(&self, password: &str) {
        self.st().password = password.into();
    }

    /// How long new OAuth tokens last.
    pub fn set_token_lifetime(&self, by: Duration) {
        self.st().token_ttl_secs = by.as_secs() as i64;
    }

    /// OAuth tokens issued so far.
    pub fn tokens_issued(&self) -> u32 {
        self.st().issued
    }

    /// The next `n` requests get 429 with `Retry-After: retry_after_secs`.
    pub fn rate_limit_next(&self, n: u32, retry_after_secs: u64) {
        self.st().rate_limit = (n > 0).then_some((n, retry_after_secs));
    }

    /// The next `n` requests fail with `status`.
    pub fn fail_next(&self, n: u32, status: u16) {
        self.st().failures = (n > 0).then_some((n, status));
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.st().requests.clone()
    }

    pub fn violations(&self) -> Vec<String> {
        self.st().violations.clone()
    }

    /// The clock, as `sys_updated_on` writes it.
    pub fn now(&self) -> String {
        stamp(self.st().now)
    }

    pub fn advance_clock(&self, by: Duration) {
        self.st().now += by.as_millis() as i64;
    }

    /// Creates an incident as a ServiceNow user would (caller Abel Tuter);
    /// returns its sys_id.
    pub fn create_incident_remote(&self, title: &str) -> String {
        self.st().create_remote(title, &[])
    }

    /// Creates `n` incidents, three per second of the clock (so pages hold
    /// incidents of the same `sys_updated_on`); returns their sys_ids.
    pub fn bulk_create(&self, n: usize) -> Vec<String> {
        let mut st = self.st();
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let title = format!("Incident {i:04}");
            let group = if i % 2 == 0 { FACILITIES } else { "" };
            ids.push(st.create_remote(&title, &[("assignment_group", group)]));
            if i % 3 != 2 {
                st.now -= 1000;
            }
        }
        ids
    }

    /// Changes fields of an incident as a ServiceNow user would.
    pub fn edit_remote(&self, sys_id: &str, fields: &[(&str, &str)]) {
        let mut st = self.st();
        let values: Map<String, Value> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
            .collect();
        let reply = st.write(Some(sys_id), values, None, false);
        assert!(reply.status < 300, "{:?}", reply.body);
    }

    /// Adds a journal entry (`comments`) by `author` (a user name); returns
    /// its sys_id.
    pub fn add_comment_remote(&self, sys_id: &str, author: &str, text_: &str) -> String {
        let mut st = self.st();
        let now = st.tick();
        let entry = st.entry(sys_id, "comments", text_, author, &now);
        let id = text(&entry, "sys_id").to_owned();
        st.journal.push(entry);
        let at = st
            .incidents
            .iter()
            .position(|r| text(r, "sys_id") == sys_id)
            .expect("the incident");
        let row = &mut st.incidents[at];
        let count: u64 = text(row, "sys_mod_count").parse().unwrap_or(0);
        row.insert("sys_mod_count".into(), (count + 1).to_string().into());
        row.insert("sys_updated_on".into(), now.into());
        id
    }

    /// An incident's fields as stored (references as sys_ids).
    pub fn incident(&self, sys_id: &str) -> Option<Row> {
        self.st()
            .incidents
            .iter()
            .find(|r| text(r, "sys_id") == sys_id)
            .cloned()
    }

    pub fn incident_ids(&self) -> Vec<String> {
        self.st()
            .incidents
            .iter()
            .map(|r| text(r, "sys_id").to_owned())
            .collect()
    }

    /// The journal entries of an incident, oldest first.
    pub fn journal(&self, sys_id: &str) -> Vec<JournalEntry> {
        self.st()
            .journal
            .iter()
            .filter(|e| text(e, "element_id") == sys_id)
            .map(|e| JournalEntry {
                sys_id: text(e, "sys_id").into(),
                incident: text(e, "element_id").into(),
                element: text(e, "element").into(),
                value: text(e, "value").into(),
                created_by: text(e, "sys_created_by").into(),
            })
            .collect()
    }
}
