//! Webhook deliveries as Jira sends them: the documented payloads (issues in
//! the REST v2 form, so descriptions and comment bodies are plain text on
//! Cloud too) and headers, signed the way admin webhooks with a secret are
//! (`X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>`).

use std::sync::atomic::{AtomicU64, Ordering};

use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;

use super::render::FieldSel;
use super::state::{CUSTOM_FIELDS, Inner};

pub type Delivery = (Vec<(String, String)>, Vec<u8>);

pub const IDENTIFIER: &str = "X-Atlassian-Webhook-Identifier";
pub const RETRY: &str = "X-Atlassian-Webhook-Retry";
pub const SIGNATURE: &str = "X-Hub-Signature";

pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Inner {
    /// The delivery of `event` about issue `key` (and comment `comment_id`).
    pub fn webhook(
        &mut self,
        event: &str,
        key: &str,
        comment_id: Option<&str>,
        secret: &str,
    ) -> Delivery {
        let idx = self
            .issues
            .iter()
            .position(|i| i.key == key)
            .unwrap_or_else(|| panic!("no issue {key} to send {event} about"));
        let issue = &self.issues[idx];
        let comment = comment_id.map(|id| {
            issue
                .comments
                .iter()
                .find(|c| c.id.to_string() == id)
                .unwrap_or_else(|| panic!("{key} has no comment {id}"))
        });
        let mut payload = json!({"timestamp": self.now, "webhookEvent": event});
        let full_issue = || self.issue_json(idx, &FieldSel::parse(&[], "*navigable"), "2");
        match event {
            "jira:issue_created" | "jira:issue_updated" | "jira:issue_deleted" => {
                let last = issue.changes.last();
                let (actor, kind) = match event {
                    "jira:issue_created" => (issue.creator, "issue_created"),
                    "jira:issue_deleted" => {
                        (issue.deleted_by.unwrap_or(issue.creator), "issue_deleted")
                    }
                    _ if comment.is_some() => (comment.map_or(0, |c| c.author), "issue_commented"),
                    _ => {
                        let transition =
                            last.is_some_and(|c| c.items.iter().any(|i| i.field == "status"));
                        let actor = last.map_or(issue.creator, |c| c.author);
                        (
                            actor,
                            if transition {
                                "issue_generic"
                            } else {
                                "issue_updated"
                            },
                        )
                    }
                };
                payload["issue_event_type_name"] = kind.into();
                payload["user"] = self.user_json(actor, "2");
                payload["issue"] = full_issue();
                if let (Some(change), "jira:issue_updated", None) = (last, event, comment) {
                    let items: Vec<Value> = change
                        .items
                        .iter()
                        .map(|i| {
                            let custom = CUSTOM_FIELDS.iter().find(|(id, _)| *id == i.field);
                            json!({
                                "field": custom.map_or(i.field, |(_, name)| name),
                                "fieldtype": if custom.is_some() { "custom" } else { "jira" },
                                "fieldId": i.field,
                                "from": i.from,
                                "fromString": i.from_string,
                                "to": i.to,
                                "toString": i.to_string,
                            })
                        })
                        .collect();
                    payload["changelog"] = json!({"id": change.id.to_string(), "items": items});
                }
                if let Some(c) = comment {
                    payload["comment"] = self.comment_json(issue, c, "2");
                }
            }
            "comment_created" | "comment_updated" | "comment_deleted" => {
                let c = comment.unwrap_or_else(|| panic!("{event} needs a comment id"));
                payload["comment"] = self.comment_json(issue, c, "2");
                // Comment events carry a short form of the issue.
                let mut fields = Map::new();
                for f in [
                    "summary",
                    "issuetype",
                    "project",
                    "assignee",
                    "priority",
                    "status",
                ] {
                    fields.insert(f.into(), self.field_json(issue, f, "2"));
                }
                payload["issue"] = json!({
                    "id": issue.id.to_string(),
                    "self": self.url("2", &format!("issue/{}", issue.id)),
                    "key": issue.key,
                    "fields": fields,
                });
            }
            other => panic!("the fake does not send {other} webhooks"),
        }
        let body = serde_json::to_vec(&payload).expect("JSON");
        static DELIVERIES: AtomicU64 = AtomicU64::new(0);
        let n = DELIVERIES.fetch_add(1, Ordering::Relaxed) + 1;
        let identifier = format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            std::process::id(),
            n >> 32,
            (n >> 16) & 0xfff,
            n & 0xfff,
            self.now
        );
        let headers = vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            (
                "User-Agent".to_owned(),
                "Atlassian Webhook HTTP Client".to_owned(),
            ),
            (IDENTIFIER.to_owned(), identifier),
            (SIGNATURE.to_owned(), sign(secret, &body)),
        ];
        (headers, body)
    }
}

/// The same delivery sent again: same identifier, body and signature, with
/// `X-Atlassian-Webhook-Retry` counting the retries.
pub fn redelivery(headers: &[(String, String)], body: &[u8]) -> Delivery {
    let retries = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(RETRY))
        .and_then(|(_, v)| v.parse::<u32>().ok())
        .unwrap_or(0);
    let mut headers: Vec<_> = headers
        .iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case(RETRY))
        .cloned()
        .collect();
    headers.push((RETRY.to_owned(), (retries + 1).to_string()));
    (headers, body.to_vec())
}
