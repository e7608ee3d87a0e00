//! Block Kit messages: a work order's card, comments, and the slash
//! command's answers, within Slack's limits (header text 150 characters,
//! section text 3,000, field text 2,000, 50 blocks, 10 fields and 10
//! context elements).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// What the connector knows of a work order: the fields of its last push,
/// and the message it has in Slack (bot mode). Kept in `state` per work
/// order (see `push`), so updates edit the same message and the slash
/// command can answer lookups.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// CUBE's id of the work order (empty for one just created from Slack,
    /// whose id Slack has not been told).
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub priority: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub assignee: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub requester: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<i64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// The message in Slack: its channel and `ts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
}

impl Entry {
    /// The entry for a pushed work order's fields (keeping the message).
    pub fn update_from(&mut self, id: &str, fields: &Map<String, Value>) {
        let text = |name: &str| match fields.get(name) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        self.id = id.to_owned();
        self.title = text("title");
        // The card shows at most 3,000 characters; the state keeps less.
        self.description = truncate(&text("description"), 2000);
        self.status = text("status");
        self.priority = text("priority");
        self.assignee = text("assignee");
        self.requester = text("requester");
        self.due_at = fields.get("due_at").and_then(Value::as_i64);
    }

    /// `#42 Pump 4 leaks`, or the title alone when the id is not known.
    pub fn label(&self) -> String {
        if self.id.is_empty() {
            self.title.clone()
        } else {
            format!("#{} {}", self.id, self.title)
        }
    }
}

/// Escapes the three characters Slack's text formatting reserves.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max` characters, with `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `YYYY-MM-DD` (UTC) of milliseconds since the epoch.
pub fn date(ms: i64) -> String {
    cube_connector_sdk::time::format_date(ms.div_euclid(86_400_000))
}

fn or_dash(text: &str) -> String {
    if text.trim().is_empty() {
        "—".to_owned()
    } else {
        escape(text)
    }
}

pub fn header(text: &str) -> Value {
    let text = if text.trim().is_empty() {
        "Work order"
    } else {
        text
    };
    json!({"type": "header", "text": {"type": "plain_text", "text": truncate(text, 150), "emoji": true}})
}

pub fn section(mrkdwn: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(mrkdwn, 3000)}})
}

pub fn context(mrkdwn: &str) -> Value {
    json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(mrkdwn, 3000)}]})
}

fn fields(pairs: &[(&str, String)]) -> Value {
    let fields: Vec<Value> = pairs
        .iter()
        .take(10)
        .map(|(name, value)| {
            json!({"type": "mrkdwn", "text": truncate(&format!("*{name}*\n{value}"), 2000)})
        })
        .collect();
    json!({"type": "section", "fields": fields})
}

/// A work order's card: the title as header, status, priority, assignee
/// and due date as fields, the description, and a context line saying
/// what happened (`note`, mrkdwn).
pub fn work_order(entry: &Entry, note: &str) -> Value {
    let title = if entry.deleted {
        format!("Deleted: {}", entry.title)
    } else {
        entry.title.clone()
    };
    let mut pairs = vec![
        ("Status", or_dash(&entry.status)),
        ("Priority", or_dash(&entry.priority)),
        ("Assignee", or_dash(&entry.assignee)),
        (
            "Due",
            entry.due_at.map(date).unwrap_or_else(|| "—".to_owned()),
        ),
    ];
    if !entry.requester.is_empty() {
        pairs.push(("Requester", escape(&entry.requester)));
    }
    let mut blocks = vec![header(&title), fields(&pairs)];
    if !entry.description.trim().is_empty() && !entry.deleted {
        blocks.push(section(&escape(&entry.description)));
    }
    let id = if entry.id.is_empty() {
        String::new()
    } else {
        format!("Work order #{} · ", entry.id)
    };
    blocks.push(context(&format!("{id}{note}")));
    let status = if entry.deleted {
        "deleted".to_owned()
    } else {
        entry.status.clone()
    };
    json!({
        "text": truncate(&format!("Work order {}: {status}", entry.label()), 3000),
        "blocks": blocks,
    })
}

/// A comment: in the work order's thread (bot mode), or on its own with
/// the work order named (webhook mode, or no message to thread under).
pub fn comment(author: &str, body: &str, on: Option<&Entry>) -> Value {
    let author = if author.trim().is_empty() {
        "someone"
    } else {
        author
    };
    let about = on
        .map(|e| format!(" on work order {}", escape(&e.label())))
        .unwrap_or_default();
    let text = format!("*{}* commented{about}:\n{}", escape(author), escape(body));
    json!({
        "text": truncate(&format!("{author} commented{}: {body}", on.map(|e| format!(" on {}", e.label())).unwrap_or_default()), 3000),
        "blocks": [section(&text)],
    })
}

/// The answer to a slash command: only the caller sees it.
pub fn ephemeral(text: &str, blocks: Vec<Value>) -> Value {
    let mut blocks = blocks;
    blocks.truncate(50);
    json!({"response_type": "ephemeral", "text": truncate(text, 3000), "blocks": blocks})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_stay_within_block_kit_limits() {
        let entry = Entry {
            id: "42".into(),
            title: "x".repeat(200),
            description: "a < b & c".into(),
            status: "open".into(),
            priority: "high".into(),
            due_at: Some(1_767_225_600_000),
            ..Entry::default()
        };
        let message = work_order(&entry, "Created in CUBE");
        let blocks = message["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(
            blocks[0]["text"]["text"].as_str().unwrap().chars().count(),
            150
        );
        assert!(
            blocks[1]["fields"][3]["text"]
                .as_str()
                .unwrap()
                .contains("2026-01-01")
        );
        assert_eq!(blocks[2]["text"]["text"], "a &lt; b &amp; c");
        assert!(
            blocks[3]["elements"][0]["text"]
                .as_str()
                .unwrap()
                .starts_with("Work order #42")
        );
        assert!(message["text"].as_str().unwrap().contains("open"));
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(951_782_400_000), "2000-02-29");
        assert_eq!(date(-86_400_000), "1969-12-31");
    }
}
