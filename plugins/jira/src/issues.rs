//! Jira issues as work order records, and comments as
//! `work-order-comment` records.
//!
//! A record carries the issue's `updated` timestamp as its version: the
//! host recognises the echo of its own write by it. `updated_at` (ms) lets
//! the host apply remote changes field by field against local ones (last
//! writer wins).

use cube_connector_sdk::prelude::*;
use serde_json::{Map, Value};

use crate::adf;
use crate::client::{Jira, segment};
use crate::config::ValueMap;
use crate::time;

pub const WORK_ORDER: &str = "work-order";
pub const COMMENT: &str = "work-order-comment";

/// What a comment we wrote starts with, so that reading it back gives the
/// work order comment's own author and text: Jira shows every comment we
/// add as written by the integration's account.
const SIGNATURE: &str = "[CUBE] ";

/// The body of a comment written on behalf of `author`.
pub fn signed(author: &str, body: &str) -> String {
    format!("{SIGNATURE}{author}: {body}")
}

/// The author and text of a comment, ours or a Jira user's.
fn unsigned(jira_author: &str, body: &str) -> (String, String) {
    if let Some(rest) = body.strip_prefix(SIGNATURE)
        && let Some((author, text)) = rest.split_once(": ")
        && !author.is_empty()
        && !author.contains('\n')
    {
        return (author.to_owned(), text.to_owned());
    }
    (jira_author.to_owned(), body.to_owned())
}

/// The mappings a conversion needs, read once per call.
pub struct Mappings {
    pub statuses: ValueMap,
    pub priorities: ValueMap,
    /// Work order field to Jira field id.
    pub fields: Vec<(String, String)>,
    pub comments: bool,
}

impl Mappings {
    pub fn of(jira: &Jira) -> Result<Mappings> {
        Ok(Mappings {
            statuses: jira.config.statuses()?,
            priorities: jira.config.priorities()?,
            fields: jira.config.fields()?,
            comments: jira.config.sync_comments,
        })
    }

    /// The Jira fields to ask for.
    pub fn wanted(&self) -> Vec<String> {
        let mut wanted: Vec<String> = [
            "summary",
            "description",
            "status",
            "priority",
            "assignee",
            "reporter",
            "duedate",
            "updated",
            "created",
            "project",
        ]
        .map(str::to_owned)
        .to_vec();
        if self.comments {
            wanted.push("comment".into());
        }
        for (_, theirs) in &self.fields {
            if !wanted.contains(theirs) {
                wanted.push(theirs.clone());
            }
        }
        wanted
    }

    pub fn jira_field(&self, ours: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(o, _)| o == ours)
            .map(|(_, t)| t.as_str())
    }
}

/// A field's value as text: strings, numbers, documents, options (`value`),
/// users (`displayName`) and lists of those.
pub fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().filter_map(text_of).collect();
            Some(parts.join(", "))
        }
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("doc") => {
            Some(adf::to_text(value))
        }
        Value::Object(o) => ["value", "displayName", "name", "key"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_str))
            .map(str::to_owned),
    }
}

/// Our status for Jira's: the mapping, else the status's category.
fn status_of(fields: &Value, mappings: &Mappings) -> Option<String> {
    let status = fields.get("status")?;
    let name = status
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if let Some(ours) = mappings.statuses.ours(name) {
        return Some(ours.to_owned());
    }
    let category = status
        .pointer("/statusCategory/key")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Some(
        match category {
            "new" => "open",
            "indeterminate" => "in_progress",
            "done" => "done",
            _ => return Some(name.to_lowercase()),
        }
        .to_owned(),
    )
}

/// The work order record of an issue, then its comments' records.
pub fn records_of(jira: &Jira, issue: &Value, mappings: &Mappings) -> Result<Vec<Record>> {
    let key = issue
        .get("key")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::fatal("Jira returned an issue without a key"))?;
    let fields = issue.get("fields").cloned().unwrap_or(Value::Null);
    let updated = fields
        .get("updated")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut out = Map::new();
    let field = |ours: &str| -> Option<&Value> {
        mappings
            .jira_field(ours)
            .and_then(|theirs| fields.get(theirs))
    };
    out.insert(
        "title".into(),
        field("title").and_then(text_of).unwrap_or_default().into(),
    );
    out.insert(
        "description".into(),
        field("description")
            .and_then(text_of)
            .unwrap_or_default()
            .into(),
    );
    if let Some(status) = status_of(&fields, mappings) {
        out.insert("status".into(), status.into());
    }
    if let Some(name) = fields.pointer("/priority/name").and_then(Value::as_str) {
        let ours = mappings
            .priorities
            .ours(name)
            .map(str::to_owned)
            .unwrap_or_else(|| name.to_lowercase());
        out.insert("priority".into(), ours.into());
    }
    // People only when mapped: Jira's own assignee and reporter are
    // accounts (the reporter of an issue we created is our own account),
    // and an unmapped field must not overwrite what was typed here.
    for ours in ["assignee", "requester"] {
        if let Some(theirs) = mappings.jira_field(ours) {
            out.insert(ours.into(), fields.get(theirs).and_then(text_of).into());
        }
    }
    let due = field("due_at")
        .and_then(Value::as_str)
        .and_then(time::due_millis);
    out.insert("due_at".into(), due.into());
    if let Some(ms) = time::millis(updated) {
        out.insert("updated_at".into(), ms.into());
    }
    out.insert("jira_key".into(), key.into());
    if let Some(status) = fields.pointer("/status/name") {
        out.insert("jira_status".into(), status.clone());
    }
    let mut records = vec![
        Record::builder(WORK_ORDER, key)
            .fields(Value::Object(out))
            .version(updated)
            .build(),
    ];
    if mappings.comments {
        records.extend(comments_of(jira, key, &fields)?);
    }
    Ok(records)
}

/// The comments of an issue: those the issue came with, and the rest read
/// page by page when Jira left some out.
fn comments_of(jira: &Jira, key: &str, fields: &Value) -> Result<Vec<Record>> {
    let embedded: Vec<Value> = fields
        .pointer("/comment/comments")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let total = fields
        .pointer("/comment/total")
        .and_then(Value::as_u64)
        .unwrap_or(embedded.len() as u64);
    let all = if (embedded.len() as u64) < total {
        all_comments(jira, key)?
    } else {
        embedded
    };
    Ok(all.iter().filter_map(|c| comment_record(key, c)).collect())
}

fn all_comments(jira: &Jira, key: &str) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    loop {
        let page: Value = jira.send_json(
            jira.get(&format!("/issue/{}/comment", segment(key)))
                .query("startAt", &out.len().to_string())
                .query("maxResults", "100"),
        )?;
        let comments = page
            .get("comments")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let total = page.get("total").and_then(Value::as_u64).unwrap_or(0);
        let empty = comments.is_empty();
        out.extend(comments);
        if empty || out.len() as u64 >= total {
            return Ok(out);
        }
    }
}

/// The record of one comment on issue `key`.
pub fn comment_record(key: &str, comment: &Value) -> Option<Record> {
    let id = match comment.get("id")? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let jira_author = comment
        .pointer("/author/displayName")
        .and_then(Value::as_str)
        .unwrap_or("Jira");
    let body = adf::to_text(comment.get("body").unwrap_or(&Value::Null));
    let (author, body) = unsigned(jira_author, &body);
    let created = comment
        .get("created")
        .and_then(Value::as_str)
        .and_then(time::millis);
    let updated = comment
        .get("updated")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Some(
        Record::builder(COMMENT, id)
            .field("work_order", key)
            .field("author", author)
            .field("body", body)
            .field("created_at", created)
            .version(updated)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_comments_read_back_as_their_author_wrote_them() {
        let body = signed("ana", "Replaced the seal.\nTested at 40 psi.");
        assert_eq!(
            unsigned("CUBE Service", &body),
            (
                "ana".to_owned(),
                "Replaced the seal.\nTested at 40 psi.".to_owned()
            )
        );
        assert_eq!(
            unsigned("Bob", "[CUBE] is great"),
            ("Bob".to_owned(), "[CUBE] is great".to_owned())
        );
        assert_eq!(
            unsigned("Bob", "hello"),
            ("Bob".to_owned(), "hello".to_owned())
        );
    }

    #[test]
    fn field_values_become_text() {
        assert_eq!(
            text_of(&json!({"value": "Plant 2"})).as_deref(),
            Some("Plant 2")
        );
        assert_eq!(
            text_of(&json!({"displayName": "Ana"})).as_deref(),
            Some("Ana")
        );
        assert_eq!(
            text_of(&json!([{"value": "a"}, "b"])).as_deref(),
            Some("a, b")
        );
        assert_eq!(text_of(&json!(12.5)).as_deref(), Some("12.5"));
        assert_eq!(text_of(&Value::Null), None);
    }
}
