//! Incidents as work order records, and journal entries (`comments` or
//! `work_notes`, read from `sys_journal_field`) as `work-order-comment`
//! records.
//!
//! A record carries the incident's `sys_mod_count` as its version (it
//! counts every update, where `sys_updated_on` has only seconds), so the
//! host recognises the echo of its own write exactly; `updated_at` (ms,
//! from `sys_updated_on`) lets it apply remote changes field by field
//! against local ones (last writer wins).

use cube_connector_sdk::prelude::*;
use serde_json::{Map, Value};

use crate::client::ServiceNow;
use crate::config::{self, ValueMap};
use crate::time;

pub const WORK_ORDER: &str = "work-order";
pub const COMMENT: &str = "work-order-comment";
pub const TABLE: &str = "incident";
pub const JOURNAL: &str = "sys_journal_field";

/// The incident fields a sync reads (people by name, dot-walked).
pub const FIELDS: &str = "sys_id,number,short_description,description,state,priority,impact,urgency,assigned_to.name,caller_id.name,due_date,sys_updated_on,sys_mod_count";
/// What a write asks back.
pub const WRITTEN: &str = "sys_id,number,state,sys_updated_on,sys_mod_count";
const JOURNAL_FIELDS: &str = "sys_id,element_id,value,sys_created_on,sys_created_by";
/// Journal entries per request.
const JOURNAL_PAGE: u32 = 500;

/// What a comment we wrote starts with, so that reading it back gives the
/// work order comment's own author and text: ServiceNow shows every entry
/// we add as written by the integration user.
const SIGNATURE: &str = "[CUBE] ";

/// The text of a comment written on behalf of `author`.
pub fn signed(author: &str, body: &str) -> String {
    format!("{SIGNATURE}{author}: {body}")
}

/// The author and text of a journal entry, ours or a ServiceNow user's.
pub fn unsigned(servicenow_author: &str, body: &str) -> (String, String) {
    if let Some(rest) = body.strip_prefix(SIGNATURE)
        && let Some((author, text)) = rest.split_once(": ")
        && !author.is_empty()
        && !author.contains('\n')
    {
        return (author.to_owned(), text.to_owned());
    }
    (servicenow_author.to_owned(), body.to_owned())
}

/// The mappings a conversion needs, read once per call.
pub struct Mappings {
    pub statuses: ValueMap,
    pub priorities: ValueMap,
    pub comments: bool,
}

impl Mappings {
    pub fn of(sn: &ServiceNow) -> Result<Mappings> {
        Ok(Mappings {
            statuses: sn.config.statuses()?,
            priorities: sn.config.priorities()?,
            comments: sn.config.sync_comments,
        })
    }
}

/// A field as text (`""` when missing or null).
pub fn text<'v>(row: &'v Value, name: &str) -> &'v str {
    row.get(name).and_then(Value::as_str).unwrap_or_default()
}

/// The work order record of an incident.
pub fn record_of(incident: &Value, mappings: &Mappings) -> Result<Record> {
    let sys_id = text(incident, "sys_id");
    if sys_id.is_empty() {
        return Err(Error::fatal(
            "ServiceNow returned an incident without a sys_id",
        ));
    }
    let mut out = Map::new();
    out.insert("title".into(), text(incident, "short_description").into());
    out.insert("description".into(), text(incident, "description").into());
    let state = text(incident, "state");
    let status = mappings
        .statuses
        .ours(state)
        .or_else(|| config::default_status(state))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("state_{state}"));
    out.insert("status".into(), status.into());
    let priority = text(incident, "priority");
    if let Some(ours) = mappings
        .priorities
        .ours(priority)
        .or_else(|| config::default_priority(priority))
    {
        out.insert("priority".into(), ours.into());
    }
    // People are references to sys_user: read by name, never written, and
    // only when set (an incident we created has no caller, which must not
    // blank the requester typed here).
    for (ours, theirs) in [
        ("assignee", "assigned_to.name"),
        ("requester", "caller_id.name"),
    ] {
        let name = text(incident, theirs);
        if !name.is_empty() {
            out.insert(ours.into(), name.into());
        }
    }
    out.insert(
        "due_at".into(),
        time::millis(text(incident, "due_date")).into(),
    );
    let updated = text(incident, "sys_updated_on");
    if let Some(ms) = time::millis(updated) {
        out.insert("updated_at".into(), ms.into());
    }
    out.insert("servicenow_number".into(), text(incident, "number").into());
    out.insert("servicenow_state".into(), state.into());
    Ok(Record::builder(WORK_ORDER, sys_id)
        .fields(Value::Object(out))
        .version(version_of(incident))
        .build())
}

/// The change stamp of an incident row: `sys_mod_count`, else `sys_updated_on`.
pub fn version_of(row: &Value) -> String {
    match row.get("sys_mod_count") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => text(row, "sys_updated_on").to_owned(),
    }
}

/// The journal entries (of the configured field) of the incidents `ids`,
/// oldest first, as comment records.
pub fn comments_of(sn: &ServiceNow, ids: &[&str]) -> Result<Vec<Record>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let query = format!(
        "name={TABLE}^element={}^element_idIN{}^ORDERBYsys_created_on^ORDERBYsys_id",
        sn.config.comment_field.name(),
        ids.join(",")
    );
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let page = sn.list(JOURNAL, &query, JOURNAL_FIELDS, JOURNAL_PAGE, offset)?;
        let read = page.records.len() as u32;
        out.extend(page.records.iter().filter_map(comment_record));
        offset += read;
        let more = match page.total {
            Some(total) => u64::from(offset) < total,
            None => read == JOURNAL_PAGE,
        };
        if read == 0 || !more {
            return Ok(out);
        }
    }
}

/// The record of one journal entry.
pub fn comment_record(entry: &Value) -> Option<Record> {
    let id = text(entry, "sys_id");
    let incident = text(entry, "element_id");
    if id.is_empty() || incident.is_empty() {
        return None;
    }
    let who = match text(entry, "sys_created_by") {
        "" => "ServiceNow",
        who => who,
    };
    let (author, body) = unsigned(who, text(entry, "value"));
    let created = text(entry, "sys_created_on");
    Some(
        Record::builder(COMMENT, id)
            .field("work_order", incident)
            .field("author", author)
            .field("body", body)
            .field("created_at", time::millis(created))
            .version(created)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mappings() -> Mappings {
        let config: crate::Config = serde_json::from_value(json!({
            "instance_url": "https://x.service-now.com", "username": "u", "password": "p",
            "status_map": "open = 1\nin_progress = 2\ndone = 6\ndone = 7"
        }))
        .unwrap();
        Mappings {
            statuses: config.statuses().unwrap(),
            priorities: config.priorities().unwrap(),
            comments: true,
        }
    }

    #[test]
    fn incidents_become_work_orders() {
        let incident = json!({
            "sys_id": "abc", "number": "INC0010001", "short_description": "Pump 4 leaks",
            "description": "Seal worn.", "state": "7", "priority": "5",
            "assigned_to.name": "Beth Anglin", "caller_id.name": "",
            "due_date": "2026-01-01 00:00:00", "sys_updated_on": "2024-01-15 10:30:00",
            "sys_mod_count": "4"
        });
        let record = record_of(&incident, &mappings()).unwrap();
        assert_eq!(record.external_id, "abc");
        assert_eq!(record.version.as_deref(), Some("4"));
        let fields = record.fields_json().unwrap();
        assert_eq!(fields["title"], "Pump 4 leaks");
        assert_eq!(fields["status"], "done", "the second line names 7");
        assert_eq!(fields["priority"], "planning");
        assert_eq!(fields["assignee"], "Beth Anglin");
        assert!(fields.get("requester").is_none());
        assert_eq!(fields["due_at"], 1_767_225_600_000i64);
        assert_eq!(fields["updated_at"], 1_705_314_600_000i64);
        assert_eq!(fields["servicenow_number"], "INC0010001");
    }

    #[test]
    fn our_comments_read_back_as_their_author_wrote_them() {
        let entry = json!({
            "sys_id": "j1", "element_id": "abc", "sys_created_by": "cube.integration",
            "value": signed("ana", "Replaced the seal.\nTested."), "sys_created_on": "2024-01-15 10:30:00"
        });
        let fields = comment_record(&entry).unwrap().fields_json().unwrap();
        assert_eq!(fields["author"], "ana");
        assert_eq!(fields["body"], "Replaced the seal.\nTested.");
        assert_eq!(fields["work_order"], "abc");
        assert_eq!(
            unsigned("bob", "[CUBE] hi"),
            ("bob".into(), "[CUBE] hi".into())
        );
    }
}
