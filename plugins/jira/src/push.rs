//! Writing work order changes to Jira: create the issue, update the
//! changed fields, move the status through the workflow's transitions,
//! add comments, delete.
//!
//! Every step can be repeated safely, so a push retried after a 429 or a
//! dropped connection ends in the same place: fields are set, not
//! appended; a transition is looked up from the issue's current status.
//! The version returned is the issue's `updated` after the last write, so
//! the host skips the webhook or sync that brings our own write back.

use cube_connector_sdk::prelude::*;
use serde_json::{Map, Value};

use crate::adf;
use crate::client::{Jira, segment};
use crate::issues::{self, Mappings, text_of};
use crate::time;

pub fn push(jira: &Jira, change: Change) -> Result<PushResult> {
    let fields: Map<String, Value> = match serde_json::from_str(&change.fields)? {
        Value::Object(map) => map,
        _ => return Err(Error::fatal("the change's fields are not a JSON object")),
    };
    match change.kind.as_str() {
        issues::WORK_ORDER => {}
        issues::COMMENT => return comment(jira, &fields),
        other => {
            return Err(Error::fatal(format!(
                "this connector pushes work orders and their comments, not `{other}`"
            )));
        }
    }
    let mappings = Mappings::of(jira)?;
    match (change.operation, change.external_id) {
        (ChangeOperation::Delete, Some(key)) => {
            jira.delete(&format!("/issue/{}", segment(&key)))?;
            Ok(PushResult {
                external_id: key,
                version: None,
            })
        }
        (ChangeOperation::Delete, None) => Err(Error::fatal(
            "a deleted work order that was never linked to an issue has nothing to delete",
        )),
        (ChangeOperation::Create, None) => create(jira, &mappings, &fields),
        (_, Some(key)) => update(jira, &mappings, &key, &fields, &change.changed_fields),
        (ChangeOperation::Update, None) => create(jira, &mappings, &fields),
    }
}

fn text(fields: &Map<String, Value>, name: &str) -> String {
    fields.get(name).and_then(text_of).unwrap_or_default()
}

/// The Jira value of one of our fields.
fn jira_value(jira: &Jira, ours: &str, theirs: &str, fields: &Map<String, Value>) -> Value {
    match ours {
        "due_at" => match fields.get("due_at").and_then(Value::as_i64) {
            Some(ms) => json!(time::due_date(ms)),
            None => Value::Null,
        },
        _ => {
            let value = text(fields, ours);
            // Jira Cloud's description is a document; other text fields
            // (summary, text custom fields) and Data Center take strings.
            if theirs == "description" && jira.is_cloud() {
                adf::from_text(&value)
            } else if value.is_empty() && ours != "title" {
                Value::Null
            } else {
                json!(value)
            }
        }
    }
}

/// The Jira fields for `names` (all mapped ones when `None`).
fn jira_fields(
    jira: &Jira,
    mappings: &Mappings,
    fields: &Map<String, Value>,
    names: Option<&[String]>,
) -> Result<Map<String, Value>> {
    let wanted = |name: &str| names.is_none_or(|n| n.iter().any(|c| c == name));
    let mut out = Map::new();
    for (ours, theirs) in &mappings.fields {
        // Jira's assignee and reporter take accounts, not names: mapped,
        // they are read from Jira and never written.
        if crate::config::READ_ONLY.contains(&theirs.as_str()) {
            continue;
        }
        if wanted(ours) {
            out.insert(theirs.clone(), jira_value(jira, ours, theirs, fields));
        }
    }
    if wanted("priority") {
        let ours = text(fields, "priority");
        if let Some(theirs) = mappings.priorities.theirs(&ours) {
            out.insert("priority".into(), json!({"name": theirs}));
        }
    }
    Ok(out)
}

fn create(jira: &Jira, mappings: &Mappings, fields: &Map<String, Value>) -> Result<PushResult> {
    let mut body = jira_fields(jira, mappings, fields, None)?;
    body.retain(|_, v| !v.is_null());
    body.insert("project".into(), json!({"key": jira.config.project()?}));
    body.insert(
        "issuetype".into(),
        json!({"name": jira.config.issue_type.trim()}),
    );
    let created: Value = jira
        .write("POST", "/issue", &json!({"fields": body}))?
        .json()?;
    let key = created
        .get("key")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::fatal("Jira created the issue but did not say its key"))?
        .to_owned();
    move_status(jira, mappings, &key, &text(fields, "status"))?;
    finish(jira, key)
}

fn update(
    jira: &Jira,
    mappings: &Mappings,
    key: &str,
    fields: &Map<String, Value>,
    changed: &[String],
) -> Result<PushResult> {
    let body = jira_fields(jira, mappings, fields, Some(changed))?;
    if !body.is_empty() {
        let path = format!("/issue/{}", segment(key));
        if jira
            .write_found("PUT", &path, &json!({"fields": body}))?
            .is_none()
        {
            return Err(gone(key));
        }
    }
    if changed.iter().any(|c| c == "status") {
        move_status(jira, mappings, key, &text(fields, "status"))?;
    }
    finish(jira, key.to_owned())
}

fn gone(key: &str) -> Error {
    Error::config(format!(
        "issue {key} no longer exists in Jira (deleted, or moved out of the account's reach); the work order keeps its values here"
    ))
}

/// Moves the issue to the Jira status our `status` maps to, through a
/// transition the workflow offers from where the issue is now.
fn move_status(jira: &Jira, mappings: &Mappings, key: &str, ours: &str) -> Result<()> {
    let Some(target) = mappings.statuses.theirs(ours) else {
        log::info(format!(
            "work order status `{ours}` is not in the status mapping; issue {key} keeps its status"
        ));
        return Ok(());
    };
    let path = format!("/issue/{}/transitions", segment(key));
    let Some(response) = jira.find(jira.get(&path))? else {
        return Err(gone(key));
    };
    let offered: Value = response.json()?;
    let transitions = offered
        .get("transitions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let current: Value = jira.send_json(
        jira.get(&format!("/issue/{}", segment(key)))
            .query("fields", "status"),
    )?;
    let now = current
        .pointer("/fields/status/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if now.eq_ignore_ascii_case(target) {
        return Ok(());
    }
    let Some(transition) = transitions.iter().find(|t| {
        t.pointer("/to/name")
            .and_then(Value::as_str)
            .is_some_and(|n| n.eq_ignore_ascii_case(target))
    }) else {
        let names: Vec<&str> = transitions
            .iter()
            .filter_map(|t| t.pointer("/to/name").and_then(Value::as_str))
            .collect();
        return Err(Error::config(format!(
            "issue {key} cannot move from `{now}` to `{target}`: the workflow offers only {} from there. Map `{ours}` to one of those, or add the transition in Jira",
            if names.is_empty() {
                "no transition".to_owned()
            } else {
                names.join(", ")
            }
        )));
    };
    let id = transition.get("id").cloned().unwrap_or(Value::Null);
    jira.write("POST", &path, &json!({"transition": {"id": id}}))?;
    Ok(())
}

/// The issue's key and its `updated` after our writes.
fn finish(jira: &Jira, key: String) -> Result<PushResult> {
    let issue: Value = jira.send_json(
        jira.get(&format!("/issue/{}", segment(&key)))
            .query("fields", "updated"),
    )?;
    let version = issue
        .pointer("/fields/updated")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(PushResult {
        external_id: key,
        version,
    })
}

fn comment(jira: &Jira, fields: &Map<String, Value>) -> Result<PushResult> {
    if !jira.config.sync_comments {
        return Err(Error::config(
            "comment sync is off for this integration; the comment stays in CUBE",
        ));
    }
    let key = text(fields, "work_order");
    if key.is_empty() {
        return Err(Error::fatal("the comment's work order has no Jira issue"));
    }
    let signed = issues::signed(&text(fields, "author"), &text(fields, "body"));
    let body = if jira.is_cloud() {
        adf::from_text(&signed)
    } else {
        json!(signed)
    };
    let path = format!("/issue/{}/comment", segment(&key));
    let created: Value = jira.write("POST", &path, &json!({"body": body}))?.json()?;
    let id = match created.get("id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            return Err(Error::fatal(
                "Jira added the comment but did not say its id",
            ));
        }
    };
    Ok(PushResult {
        external_id: id,
        version: created
            .get("updated")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}
