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

mod auth;
mod query;
mod server;
mod state;
mod table;

use std::sync::MutexGuard;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::fake_http::FakeHttp;
pub use crate::fake_http::RecordedRequest;
use state::{Inner, Row, stamp, text};

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
/// Resolution codes of the instance (`close_code` choices).
pub const CLOSE_CODES: &[&str] = &[
    "Solution provided",
    "Workaround provided",
    "Resolved by caller",
    "Duplicate",
    "Known error",
    "No resolution provided",
];

/// A journal entry as it stands.
#[derive(Clone, Debug)]
pub struct JournalEntry {
    pub sys_id: String,
    pub incident: String,
    pub element: String,
    pub value: String,
    pub created_by: String,
}

pub struct FakeServiceNow {
    http: FakeHttp<Inner>,
}

impl FakeServiceNow {
    /// Starts a fake on 127.0.0.1 (a port of its own); it stops when dropped.
    pub async fn start() -> FakeServiceNow {
        FakeServiceNow {
            http: FakeHttp::start(Inner::new).await,
        }
    }

    fn st(&self) -> MutexGuard<'_, Inner> {
        self.http.state()
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        self.http.base_url().to_owned()
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
        self.st().faults.rate_limit_next(n, retry_after_secs);
    }

    /// The next `n` requests fail with `status`.
    pub fn fail_next(&self, n: u32, status: u16) {
        self.st().faults.fail_next(n, status);
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
