//! The fake's data: the seed groups and users, incidents and journal
//! entries, the tables' columns, and the fake clock.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{ABEL, BETH, CLIENT_SECRET, FACILITIES, PASSWORD, RecordedRequest, USER};
use crate::fake_http::Faults;

pub type Row = Map<String, Value>;

const START: i64 = 1_705_314_600_000; // 2024-01-15 10:30:00 UTC

pub const INCIDENT_COLUMNS: &[&str] = &[
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
pub const REFERENCES: &[(&str, &str)] = &[
    ("assigned_to", "sys_user"),
    ("caller_id", "sys_user"),
    ("assignment_group", "sys_user_group"),
];
pub const DATE_COLUMNS: &[&str] = &["due_date", "opened_at", "sys_created_on", "sys_updated_on"];
pub const NUMERIC_COLUMNS: &[&str] = &["state", "priority", "impact", "urgency", "sys_mod_count"];
pub const JOURNAL_FIELDS: &[&str] = &["comments", "work_notes"];

pub struct Inner {
    pub base_url: String,
    pub now: i64,
    pub password: String,
    pub client_secret: String,
    pub token_ttl_secs: i64,
    /// access token -> expiry (ms, fake clock)
    pub tokens: BTreeMap<String, i64>,
    pub issued: u32,
    pub incidents: Vec<Row>,
    pub journal: Vec<Row>,
    pub groups: Vec<Row>,
    pub users: Vec<Row>,
    pub next_number: u32,
    pub next_id: u64,
    pub requests: Vec<RecordedRequest>,
    pub violations: Vec<String>,
    pub current: String,
    /// Armed 429s and failures.
    pub faults: Faults,
}

pub fn stamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("a time in range")
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

pub fn http_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("a time in range")
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

pub fn is_stamp(text: &str) -> bool {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").is_ok()
}

pub fn text<'a>(row: &'a Row, name: &str) -> &'a str {
    row.get(name).and_then(Value::as_str).unwrap_or_default()
}

/// The priority the base system's lookup rules give an impact and urgency.
pub fn priority_of(impact: &str, urgency: &str) -> String {
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

impl Inner {
    pub fn new(base_url: String) -> Inner {
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
            faults: Faults::default(),
        }
    }

    pub fn violation(&mut self, what: impl std::fmt::Display) {
        let line = format!("{}: {what}", self.current);
        self.violations.push(line);
    }

    pub fn sys_id(&mut self) -> String {
        self.next_id += 1;
        format!(
            "{:032x}",
            0x5e71_0000_0000_0000_u64 as u128 * 1_000_003 + self.next_id as u128
        )
    }

    pub fn tick(&mut self) -> String {
        self.now += 1000;
        stamp(self.now)
    }

    pub fn columns(table: &str) -> Option<&'static [&'static str]> {
        match table {
            "incident" => Some(INCIDENT_COLUMNS),
            "sys_journal_field" => Some(JOURNAL_COLUMNS),
            "sys_user_group" => Some(GROUP_COLUMNS),
            "sys_user" => Some(USER_COLUMNS),
            _ => None,
        }
    }

    pub fn rows(&self, table: &str) -> &Vec<Row> {
        match table {
            "incident" => &self.incidents,
            "sys_journal_field" => &self.journal,
            "sys_user_group" => &self.groups,
            _ => &self.users,
        }
    }

    /// A field of a row, references dot-walked (`assigned_to.name`).
    pub fn value(&self, row: &Row, field: &str) -> Value {
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

    pub fn known_field(&mut self, table: &str, field: &str) -> bool {
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
}
