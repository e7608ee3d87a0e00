//! A fake Jira (Cloud, REST v3; or Data Center, REST v2) for connector
//! tests. It checks every request against Atlassian's OpenAPI description
//! and records what does not fit as a violation (answered 400); tests end
//! with `assert!(fake.violations().is_empty())`.
//!
//! Seed data: projects OPS ("10000", Operations) and HR, issue types Task
//! ("10001") and Bug ("10002"), the statuses To Do / In Progress / Done with
//! global transitions "11" / "21" / "31", Jira's five priorities, the
//! service user "CUBE Service" and "Alice Example", who edits in Jira in the
//! `*_remote` helpers. A fake clock starts at 2024-01-15T10:30:00.000+0000
//! and moves a second on with every change.

pub mod adf;
mod clauses;
mod fields;
mod jql;
mod openapi;
mod render;
mod routes;
mod search;
mod server;
mod state;
mod webhook;

use std::collections::BTreeMap;
use std::sync::MutexGuard;
use std::time::Duration;

use serde_json::{Value, json};

use crate::fake_http::FakeHttp;
pub use state::{Edition, RecordedRequest};
use state::{Inner, REMOTE_USER, STATUSES};

/// An issue as it stands in the fake, in plain terms.
#[derive(Clone, Debug)]
pub struct IssueSnapshot {
    pub id: String,
    pub key: String,
    pub project: String,
    pub summary: String,
    /// The description's text (a document's text on Cloud).
    pub description: Option<String>,
    /// The description as stored: a document on Cloud, a string on DC.
    pub description_raw: Option<Value>,
    pub status: String,
    pub priority: String,
    pub issue_type: String,
    /// Display names.
    pub assignee: Option<String>,
    pub reporter: Option<String>,
    pub duedate: Option<String>,
    pub labels: Vec<String>,
    /// Text custom fields that have a value (`customfield_10050`).
    pub custom_fields: BTreeMap<String, String>,
    pub created: String,
    pub updated: String,
    pub comments: Vec<CommentSnapshot>,
}

#[derive(Clone, Debug)]
pub struct CommentSnapshot {
    pub id: String,
    /// Display name.
    pub author: String,
    pub body: String,
    pub created: String,
}

pub struct FakeJira {
    http: FakeHttp<Inner>,
}

impl FakeJira {
    /// Starts a fake on 127.0.0.1 (a port of its own); it stops when dropped.
    pub async fn start(edition: Edition) -> FakeJira {
        openapi::spec();
        let http = FakeHttp::start(|base_url| Inner::new(edition, base_url)).await;
        FakeJira { http }
    }

    fn st(&self) -> MutexGuard<'_, Inner> {
        self.http.state()
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        self.http.base_url().to_owned()
    }

    /// `base_url()` + `/rest/api/3` (Cloud) or `/rest/api/2` (Data Center).
    pub fn api_url(&self) -> String {
        let version = if self.st().cloud() { 3 } else { 2 };
        format!("{}/rest/api/{version}", self.http.base_url())
    }

    pub fn edition(&self) -> Edition {
        self.st().edition
    }

    /// Cloud: (email, API token) for Basic auth. Data Center: (username,
    /// personal access token), the token for `Authorization: Bearer`.
    pub fn credentials(&self) -> (String, String) {
        let st = self.st();
        let user = &st.users[state::SERVICE_USER];
        match st.edition {
            Edition::Cloud => (user.email.clone(), st.api_token.clone()),
            Edition::DataCenter => (user.name.clone(), st.pat.clone()),
        }
    }

    /// Replaces the credentials `credentials()` returns.
    pub fn set_credentials(&self, user: &str, secret: &str) {
        let mut st = self.st();
        match st.edition {
            Edition::Cloud => {
                st.users[state::SERVICE_USER].email = user.into();
                st.api_token = secret.into();
            }
            Edition::DataCenter => {
                st.users[state::SERVICE_USER].name = user.into();
                st.pat = secret.into();
            }
        }
    }

    /// The `Authorization` header value that the fake accepts.
    pub fn auth_header(&self) -> String {
        use base64::Engine;
        let (user, secret) = self.credentials();
        match self.edition() {
            Edition::Cloud => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"))
            ),
            Edition::DataCenter => format!("Bearer {secret}"),
        }
    }

    /// Answers 403 to everything but `/myself`.
    pub fn set_forbidden(&self, forbidden: bool) {
        self.st().forbidden = forbidden;
    }

    /// The next `n` requests get 429 with `Retry-After: retry_after_secs`.
    pub fn rate_limit_next(&self, n: u32, retry_after_secs: u64) {
        self.st().faults.rate_limit_next(n, retry_after_secs);
    }

    /// The next `n` requests get `status` (after any armed 429s).
    pub fn fail_next(&self, n: u32, status: u16) {
        self.st().faults.fail_next(n, status);
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.st().requests.clone()
    }

    /// The requests to `path` (`/rest/api/3/search/jql`), in order.
    pub fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        let st = self.st();
        st.requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Requests that did not follow Jira's OpenAPI description (or what
    /// Jira documents on top of it), one line each: method, path, problem.
    pub fn violations(&self) -> Vec<String> {
        self.st().violations.clone()
    }

    /// Uses of operations Atlassian marks deprecated (Cloud).
    pub fn warnings(&self) -> Vec<String> {
        self.st().warnings.clone()
    }

    /// The fake clock, as Jira writes times (`2024-01-15T10:30:00.000+0000`).
    pub fn now(&self) -> String {
        render::jira_time(self.st().now)
    }

    /// The fake clock as JQL writes it (`2024-01-15 10:30`).
    pub fn now_jql(&self) -> String {
        self.st().now_jql()
    }

    pub fn advance_clock(&self, by: Duration) {
        self.st().now += by.as_millis() as i64;
    }

    fn index(&self, st: &Inner, key: &str) -> usize {
        st.find_issue(key)
            .unwrap_or_else(|| panic!("the fake Jira has no issue {key}"))
    }

    /// Creates a Task in `project` as a Jira user would; returns its key.
    pub fn create_issue_remote(&self, project: &str, summary: &str) -> String {
        self.create_issue_remote_with(project, json!({"summary": summary}))
    }

    /// Creates an issue from REST `fields` in the edition's form (project
    /// and issue type Task filled in unless given); returns its key.
    pub fn create_issue_remote_with(&self, project: &str, fields: Value) -> String {
        let mut fields = fields.as_object().cloned().expect("fields is an object");
        fields.entry("project").or_insert(json!({"key": project}));
        fields.entry("issuetype").or_insert(json!({"name": "Task"}));
        let mut st = self.st();
        let idx = st
            .create(&fields, None, REMOTE_USER)
            .unwrap_or_else(|e| panic!("creating an issue in the fake Jira: {e:?}"));
        st.issues[idx].key.clone()
    }

    /// Creates `n` Tasks in `project`, a second apart; returns their keys.
    pub fn bulk_create(&self, project: &str, n: usize) -> Vec<String> {
        let mut st = self.st();
        let project_key = st.projects[st.find_project(project).expect("a project")]
            .key
            .clone();
        (0..n)
            .map(|i| {
                let fields = json!({
                    "project": {"key": project_key},
                    "issuetype": {"name": "Task"},
                    "summary": format!("Bulk issue {}", i + 1),
                });
                let idx = st
                    .create(fields.as_object().unwrap(), None, REMOTE_USER)
                    .unwrap();
                st.issues[idx].key.clone()
            })
            .collect()
    }

    /// Edits an issue as a Jira user would, with REST `fields` in the
    /// edition's form (`{"summary": "..."}`, `{"priority": {"name": "High"}}`).
    pub fn edit_remote(&self, key: &str, fields: Value) {
        let mut st = self.st();
        let idx = self.index(&st, key);
        st.edit(idx, fields.as_object(), None, REMOTE_USER)
            .unwrap_or_else(|e| panic!("editing {key} in the fake Jira: {e:?}"));
    }

    pub fn set_summary_remote(&self, key: &str, summary: &str) {
        self.edit_remote(key, json!({"summary": summary}));
    }

    /// Sets the description from plain text (a document on Cloud).
    pub fn set_description_remote(&self, key: &str, text: &str) {
        let description = self.st().rich_text(text);
        self.edit_remote(key, json!({"description": description}));
    }

    pub fn set_priority_remote(&self, key: &str, priority: &str) {
        self.edit_remote(key, json!({"priority": {"name": priority}}));
    }

    pub fn set_labels_remote(&self, key: &str, labels: &[&str]) {
        self.edit_remote(key, json!({"labels": labels}));
    }

    /// Moves the issue to the status named `status` through its transition.
    pub fn set_status_remote(&self, key: &str, status: &str) {
        let mut st = self.st();
        let idx = self.index(&st, key);
        let target = STATUSES
            .iter()
            .position(|s| s.name.eq_ignore_ascii_case(status))
            .unwrap_or_else(|| panic!("no status {status}"));
        if st.issues[idx].status != target {
            st.transition(idx, STATUSES[target].transition, None, REMOTE_USER)
                .unwrap_or_else(|_| panic!("moving {key} to {status}"));
        }
    }

    /// Adds a comment by `author` (a display name; new names become new
    /// users); returns the comment's id.
    pub fn add_comment_remote(&self, key: &str, author: &str, text: &str) -> String {
        let mut st = self.st();
        let idx = self.index(&st, key);
        let author = st.user_named(author);
        let body = st.rich_text(text);
        st.add_comment(idx, body, author).to_string()
    }

    pub fn delete_remote(&self, key: &str) {
        let mut st = self.st();
        let idx = self.index(&st, key);
        st.delete(idx, REMOTE_USER);
    }

    /// The keys of every issue not deleted, oldest first.
    pub fn keys(&self) -> Vec<String> {
        let st = self.st();
        st.issues
            .iter()
            .filter(|i| i.deleted_by.is_none())
            .map(|i| i.key.clone())
            .collect()
    }

    /// The issue `key` as it stands; None when it does not exist or is
    /// deleted.
    pub fn issue(&self, key: &str) -> Option<IssueSnapshot> {
        let st = self.st();
        let issue = &st.issues[st.find_issue(key)?];
        let name = |u: Option<usize>| u.map(|u| st.users[u].display_name.clone());
        Some(IssueSnapshot {
            id: issue.id.to_string(),
            key: issue.key.clone(),
            project: st.projects[issue.project].key.clone(),
            summary: issue.summary.clone(),
            description: issue.description.as_ref().map(Inner::plain),
            description_raw: issue.description.clone(),
            status: STATUSES[issue.status].name.into(),
            priority: state::PRIORITIES[issue.priority].1.into(),
            issue_type: state::ISSUE_TYPES[issue.issuetype].1.into(),
            assignee: name(issue.assignee),
            reporter: name(issue.reporter),
            duedate: issue.duedate.clone(),
            labels: issue.labels.clone(),
            custom_fields: issue
                .custom
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            created: render::jira_time(issue.created),
            updated: render::jira_time(issue.updated),
            comments: issue
                .comments
                .iter()
                .map(|c| CommentSnapshot {
                    id: c.id.to_string(),
                    author: st.users[c.author].display_name.clone(),
                    body: Inner::plain(&c.body),
                    created: render::jira_time(c.created),
                })
                .collect(),
        })
    }

    /// The webhook delivery Jira would send for `event` (`jira:issue_created`,
    /// `jira:issue_updated`, `jira:issue_deleted`, `comment_created`, ...)
    /// about `key` (and comment `comment_id`), signed with `secret`:
    /// (headers, body). An update describes the issue's last change.
    pub fn webhook(
        &self,
        event: &str,
        key: &str,
        comment_id: Option<&str>,
        secret: &str,
    ) -> (Vec<(String, String)>, Vec<u8>) {
        self.st().webhook(event, key, comment_id, secret)
    }

    /// A retry of a delivery: the same identifier, body and signature, and
    /// `X-Atlassian-Webhook-Retry: 1` (then 2, ...).
    pub fn redelivery(
        headers: &[(String, String)],
        body: &[u8],
    ) -> (Vec<(String, String)>, Vec<u8>) {
        webhook::redelivery(headers, body)
    }

    /// `X-Hub-Signature` for `body` under `secret`: `sha256=<hex>`.
    pub fn signature(secret: &str, body: &[u8]) -> String {
        webhook::sign(secret, body)
    }
}
