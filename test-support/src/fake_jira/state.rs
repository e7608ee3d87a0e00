//! The fake's data: seed projects, workflow, priorities and users; issues
//! with their comments and changelog; and the rules Jira applies when a
//! field is set, shared by the REST endpoints and the "remote" helpers.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::adf;
use crate::fake_http::Faults;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edition {
    Cloud,
    DataCenter,
}

pub struct StatusDef {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    /// Status category: id, key, name, colour.
    pub category: (u64, &'static str, &'static str, &'static str),
    /// The id of the global transition that leads to this status.
    pub transition: &'static str,
}

pub const STATUSES: [StatusDef; 3] = [
    StatusDef {
        id: "10000",
        name: "To Do",
        description: "",
        category: (2, "new", "To Do", "blue-gray"),
        transition: "11",
    },
    StatusDef {
        id: "3",
        name: "In Progress",
        description: "This issue is being actively worked on at the moment by the assignee.",
        category: (4, "indeterminate", "In Progress", "yellow"),
        transition: "21",
    },
    StatusDef {
        id: "10001",
        name: "Done",
        description: "",
        category: (3, "done", "Done", "green"),
        transition: "31",
    },
];
pub const DONE: usize = 2;

/// Jira's default priorities: id, name, colour.
pub const PRIORITIES: [(&str, &str, &str); 5] = [
    ("1", "Highest", "#d04437"),
    ("2", "High", "#f15C75"),
    ("3", "Medium", "#f79232"),
    ("4", "Low", "#707070"),
    ("5", "Lowest", "#999999"),
];
pub const DEFAULT_PRIORITY: usize = 2;

/// Issue types of both projects: id, name, description.
pub const ISSUE_TYPES: [(&str, &str, &str); 2] = [
    ("10001", "Task", "A small, distinct piece of work."),
    ("10002", "Bug", "A problem or error."),
];

/// Text custom fields (single line: plain strings in v2 and v3): id, name.
pub const CUSTOM_FIELDS: [(&str, &str); 1] = [("customfield_10050", "Requester")];

pub struct Project {
    pub id: String,
    pub key: String,
    pub name: String,
    pub next_number: u64,
}

pub struct User {
    pub account_id: String,
    /// Data Center's username and user key.
    pub name: String,
    pub key: String,
    pub email: String,
    pub display_name: String,
}

#[derive(Clone)]
pub struct Comment {
    pub id: u64,
    pub author: usize,
    /// In the edition's form: a document on Cloud, a string on Data Center.
    pub body: Value,
    pub created: i64,
    pub updated: i64,
}

#[derive(Clone, Debug)]
pub struct ChangeItem {
    pub field: &'static str,
    pub from: Option<String>,
    pub from_string: Option<String>,
    pub to: Option<String>,
    pub to_string: Option<String>,
}

/// A changelog entry, as Jira's webhooks carry it (no time of its own).
#[derive(Clone)]
pub struct Change {
    pub id: u64,
    pub author: usize,
    pub items: Vec<ChangeItem>,
}

#[derive(Clone)]
pub struct Issue {
    pub id: u64,
    pub key: String,
    pub project: usize,
    pub summary: String,
    /// In the edition's form, like comment bodies.
    pub description: Option<Value>,
    pub status: usize,
    pub priority: usize,
    pub issuetype: usize,
    pub assignee: Option<usize>,
    pub reporter: Option<usize>,
    pub creator: usize,
    pub duedate: Option<String>,
    pub labels: Vec<String>,
    /// Values of the `CUSTOM_FIELDS`, by id.
    pub custom: BTreeMap<&'static str, String>,
    pub created: i64,
    pub updated: i64,
    pub resolutiondate: Option<i64>,
    pub comments: Vec<Comment>,
    pub changes: Vec<Change>,
    /// Who deleted it; deleted issues stay for webhooks.
    pub deleted_by: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: String,
}

pub const SERVICE_USER: usize = 0;
/// The person who edits "in Jira" in the remote helpers.
pub const REMOTE_USER: usize = 1;
/// 2024-01-15T10:30:00.000Z
const EPOCH_MS: i64 = 1_705_314_600_000;

pub struct Inner {
    pub edition: Edition,
    pub base_url: String,
    pub api_token: String,
    pub pat: String,
    pub forbidden: bool,
    /// Armed 429s and failures.
    pub faults: Faults,
    pub requests: Vec<RecordedRequest>,
    pub violations: Vec<String>,
    pub warnings: Vec<String>,
    /// The request being served, for violations found while routing.
    pub current: String,
    pub now: i64,
    pub projects: Vec<Project>,
    pub users: Vec<User>,
    pub issues: Vec<Issue>,
    pub next_comment: u64,
    pub next_change: u64,
    /// Search page tokens: the JQL and the offset they continue at.
    pub tokens: HashMap<String, (String, usize)>,
}

impl Inner {
    pub fn new(edition: Edition, base_url: String) -> Inner {
        let project = |id: &str, key: &str, name: &str| Project {
            id: id.into(),
            key: key.into(),
            name: name.into(),
            next_number: 1,
        };
        let user = |account_id: &str, name: &str, key: &str, email: &str, display: &str| User {
            account_id: account_id.into(),
            name: name.into(),
            key: key.into(),
            email: email.into(),
            display_name: display.into(),
        };
        Inner {
            edition,
            base_url,
            api_token: "token-ATATT3xFfGF0-fake-jira-cloud".into(),
            pat: "pat-NjM2MzQ2NTI3ODk2-fake-jira-dc".into(),
            forbidden: false,
            faults: Faults::default(),
            requests: Vec::new(),
            violations: Vec::new(),
            warnings: Vec::new(),
            current: String::new(),
            now: EPOCH_MS,
            projects: vec![
                project("10000", "OPS", "Operations"),
                project("10001", "HR", "Human Resources"),
            ],
            users: vec![
                user(
                    "712020:5f1c8b3e-2d4a-4c6b-9e8f-0a1b2c3d4e5f",
                    "cube",
                    "JIRAUSER10000",
                    "cube@example.com",
                    "CUBE Service",
                ),
                user(
                    "5b10a2844c20165700ede21g",
                    "alice",
                    "JIRAUSER10100",
                    "alice@example.com",
                    "Alice Example",
                ),
            ],
            issues: Vec::new(),
            next_comment: 10000,
            next_change: 10000,
            tokens: HashMap::new(),
        }
    }

    /// Moves the clock on by a second: every change happens at a moment of
    /// its own.
    pub fn tick(&mut self) -> i64 {
        self.now += 1000;
        self.now
    }

    pub fn cloud(&self) -> bool {
        self.edition == Edition::Cloud
    }

    /// The issue `id_or_key` names (not deleted).
    pub fn find_issue(&self, id_or_key: &str) -> Option<usize> {
        let found = match id_or_key.parse::<u64>() {
            Ok(id) => self.issues.iter().position(|i| i.id == id),
            Err(_) => self
                .issues
                .iter()
                .position(|i| i.key.eq_ignore_ascii_case(id_or_key)),
        };
        found.filter(|&i| self.issues[i].deleted_by.is_none())
    }

    pub fn find_project(&self, id_or_key: &str) -> Option<usize> {
        self.projects
            .iter()
            .position(|p| p.id == id_or_key || p.key.eq_ignore_ascii_case(id_or_key))
    }

    /// The user with this display name, username or account id; a new one
    /// when nobody has it.
    pub fn user_named(&mut self, who: &str) -> usize {
        if let Some(u) = self
            .users
            .iter()
            .position(|u| u.display_name == who || u.name == who || u.account_id == who)
        {
            return u;
        }
        let n = self.users.len();
        let name: String = who
            .to_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(".");
        self.users.push(User {
            account_id: format!("5b10ac8d82e05b22cc7d{n:04}"),
            key: format!("JIRAUSER{}", 10000 + 100 * n),
            email: format!("{name}@example.com"),
            name,
            display_name: who.into(),
        });
        n
    }

    /// A rich-text value in the edition's form, from plain text.
    pub fn rich_text(&self, text: &str) -> Value {
        match self.edition {
            Edition::Cloud => adf::from_text(text),
            Edition::DataCenter => Value::String(text.into()),
        }
    }

    /// Checks a rich-text value (description, comment body) for the edition.
    pub fn check_rich_text(&self, value: &Value) -> Result<(), String> {
        match (self.edition, value) {
            (Edition::Cloud, v) => adf::validate(v),
            (Edition::DataCenter, Value::String(_)) => Ok(()),
            (Edition::DataCenter, _) => Err("Operation value must be a string".into()),
        }
    }
}
