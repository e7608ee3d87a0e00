//! Writing work order changes to ServiceNow: create the incident (`POST`),
//! update the changed fields (`PATCH`), move the state (with the
//! resolution code and notes, or the on hold reason, that ServiceNow's data
//! policies ask for), add journal comments.
//!
//! Every step can be repeated safely, so a push retried after a 429 or a
//! dropped connection ends in the same place: fields are set, not
//! appended, and a comment already in the journal is not written again.
//! The version returned is the incident's `sys_mod_count` after the write
//! (the `PATCH` answer carries it), so the host skips the sync that brings
//! our own write back.

use cube_connector_sdk::prelude::*;
use serde_json::{Map, Value};

use crate::client::ServiceNow;
use crate::config::{self, PriorityWrite};
use crate::incidents::{self, JOURNAL, Mappings, TABLE, WRITTEN};
use crate::time;

pub fn push(sn: &ServiceNow, change: Change) -> Result<PushResult> {
    let fields: Map<String, Value> = match serde_json::from_str(&change.fields)? {
        Value::Object(map) => map,
        _ => return Err(Error::fatal("the change's fields are not a JSON object")),
    };
    match change.kind.as_str() {
        incidents::WORK_ORDER => {}
        incidents::COMMENT => return comment(sn, &fields),
        other => {
            return Err(Error::fatal(format!(
                "this connector pushes work orders and their comments, not `{other}`"
            )));
        }
    }
    let mappings = Mappings::of(sn)?;
    match (change.operation, change.external_id) {
        (ChangeOperation::Delete, Some(id)) => {
            // Incidents are records of what happened; ServiceNow keeps them.
            log::info(format!(
                "the work order was deleted in CUBE; incident {id} stays in ServiceNow"
            ));
            Ok(PushResult {
                external_id: id,
                version: None,
            })
        }
        (ChangeOperation::Delete, None) => Err(Error::fatal(
            "a deleted work order that was never linked to an incident has nothing to delete",
        )),
        (_, None) => create(sn, &mappings, &fields),
        (_, Some(id)) => update(sn, &mappings, &id, &fields, &change.changed_fields),
    }
}

fn text(fields: &Map<String, Value>, name: &str) -> String {
    match fields.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// The incident fields for the work order fields `names` (all when `None`).
fn incident_fields(
    sn: &ServiceNow,
    mappings: &Mappings,
    fields: &Map<String, Value>,
    names: Option<&[String]>,
) -> Map<String, Value> {
    let wanted = |name: &str| names.is_none_or(|n| n.iter().any(|c| c == name));
    let mut out = Map::new();
    if wanted("title") {
        out.insert("short_description".into(), text(fields, "title").into());
    }
    if wanted("description") {
        out.insert("description".into(), text(fields, "description").into());
    }
    if wanted("due_at") {
        let due = fields
            .get("due_at")
            .and_then(Value::as_i64)
            .map(time::format)
            .unwrap_or_default();
        out.insert("due_date".into(), due.into());
    }
    if wanted("priority") {
        let ours = text(fields, "priority");
        match mappings.priorities.theirs(&ours) {
            Some(theirs) => match sn.config.priority_write {
                PriorityWrite::ImpactUrgency => {
                    let (impact, urgency) =
                        config::impact_urgency(theirs).expect("mapped priorities are checked");
                    out.insert("impact".into(), impact.into());
                    out.insert("urgency".into(), urgency.into());
                }
                PriorityWrite::Priority => {
                    out.insert("priority".into(), theirs.into());
                }
            },
            None => log::info(format!(
                "work order priority `{ours}` is not in the priority mapping; the incident keeps its priority"
            )),
        }
    }
    if wanted("status") {
        let ours = text(fields, "status");
        match mappings.statuses.theirs(&ours) {
            Some(state) => {
                out.insert("state".into(), state.into());
                if config::CLOSING_STATES.contains(&state) {
                    out.insert("close_code".into(), sn.config.close_code.trim().into());
                    out.insert("close_notes".into(), sn.config.close_notes.trim().into());
                }
                if state == config::ON_HOLD {
                    out.insert("hold_reason".into(), sn.config.hold_reason.trim().into());
                }
            }
            None => log::info(format!(
                "work order status `{ours}` is not in the state mapping; the incident keeps its state"
            )),
        }
    }
    out
}

fn result(row: &Value) -> Result<PushResult> {
    let id = incidents::text(row, "sys_id");
    if id.is_empty() {
        return Err(Error::fatal(
            "ServiceNow wrote the incident but did not say its sys_id",
        ));
    }
    Ok(PushResult {
        external_id: id.to_owned(),
        version: Some(incidents::version_of(row)),
    })
}

fn create(sn: &ServiceNow, mappings: &Mappings, fields: &Map<String, Value>) -> Result<PushResult> {
    let mut body = incident_fields(sn, mappings, fields, None);
    body.retain(|k, v| k == "short_description" || v.as_str() != Some(""));
    let group = sn.config.assignment_group.trim();
    if !group.is_empty() {
        body.insert("assignment_group".into(), group.into());
    }
    let row = sn
        .write(TABLE, None, &Value::Object(body), WRITTEN)?
        .ok_or_else(|| Error::config("ServiceNow has no incident table for this user (404)"))?;
    let pushed = result(&row)?;
    log::info(format!(
        "created incident {} ({})",
        incidents::text(&row, "number"),
        pushed.external_id
    ));
    Ok(pushed)
}

fn update(
    sn: &ServiceNow,
    mappings: &Mappings,
    id: &str,
    fields: &Map<String, Value>,
    changed: &[String],
) -> Result<PushResult> {
    let body = incident_fields(sn, mappings, fields, Some(changed));
    // Nothing of ours changed: an empty PATCH reads the row back as it is.
    match sn.write(TABLE, Some(id), &Value::Object(body), WRITTEN)? {
        Some(row) => result(&row),
        None => Err(Error::config(format!(
            "incident {id} no longer exists in ServiceNow (deleted, or out of the user's reach); the work order keeps its values here"
        ))),
    }
}

/// The id of a journal entry of incident `id` with exactly `value`, among
/// its latest.
fn find_entry(sn: &ServiceNow, id: &str, value: &str) -> Result<Option<String>> {
    let query = format!(
        "name={TABLE}^element={}^element_id={id}^ORDERBYDESCsys_created_on",
        sn.config.comment_field.name()
    );
    let page = sn.list(JOURNAL, &query, "sys_id,value", 50, 0)?;
    Ok(page
        .records
        .iter()
        .find(|e| incidents::text(e, "value") == value)
        .map(|e| incidents::text(e, "sys_id").to_owned()))
}

fn comment(sn: &ServiceNow, fields: &Map<String, Value>) -> Result<PushResult> {
    if !sn.config.sync_comments {
        return Err(Error::config(
            "comment sync is off for this integration; the comment stays in CUBE",
        ));
    }
    let id = text(fields, "work_order");
    if id.is_empty() {
        return Err(Error::fatal("the comment's work order has no incident"));
    }
    let signed = incidents::signed(&text(fields, "author"), &text(fields, "body"));
    // Written already (a retry after the write went through): not again.
    if let Some(entry) = find_entry(sn, &id, &signed)? {
        return Ok(PushResult {
            external_id: entry,
            version: None,
        });
    }
    let field = sn.config.comment_field.name();
    let body = json!({ field: signed });
    if sn.write(TABLE, Some(&id), &body, WRITTEN)?.is_none() {
        return Err(Error::config(format!(
            "incident {id} no longer exists in ServiceNow; the comment stays in CUBE"
        )));
    }
    match find_entry(sn, &id, &signed)? {
        Some(entry) => Ok(PushResult {
            external_id: entry,
            version: None,
        }),
        None => Err(Error::transient(format!(
            "the comment was written to incident {id} but is not in its journal yet"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cube_connector_sdk::testing;

    fn config() -> crate::Config {
        serde_json::from_value(json!({
            "instance_url": "https://acme.service-now.com", "username": "cube", "password": "pw",
            "assignment_group": "g1"
        }))
        .unwrap()
    }

    fn change(op: ChangeOperation, id: Option<&str>, fields: Value, changed: &[&str]) -> Change {
        Change {
            kind: "work-order".into(),
            local_id: "7".into(),
            external_id: id.map(str::to_owned),
            operation: op,
            fields: fields.to_string(),
            changed_fields: changed.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn creates_with_impact_and_urgency_and_resolves_with_close_fields() {
        testing::reset();
        let config = config();
        let sn = ServiceNow::new(&config).unwrap();
        testing::on_http(|req| {
            let status = if req.method == "POST" { 201 } else { 200 };
            Ok(testing::response(
                status,
                r#"{"result":{"sys_id":"abc","number":"INC0010001","sys_mod_count":"3","sys_updated_on":"2024-01-15 10:30:00"}}"#,
            ))
        });
        let fields = json!({"title": "Pump", "description": "", "status": "open", "priority": "high", "due_at": null});
        let created = push(&sn, change(ChangeOperation::Create, None, fields, &[])).unwrap();
        assert_eq!(created.external_id, "abc");
        assert_eq!(created.version.as_deref(), Some("3"));
        let sent = &testing::requests()[0];
        assert_eq!(sent.method, "POST");
        let body: Value = serde_json::from_slice(sent.body.as_ref().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"short_description": "Pump", "impact": "1", "urgency": "2", "state": "1", "assignment_group": "g1"})
        );

        let fields = json!({"title": "Pump", "status": "done", "priority": "high"});
        push(
            &sn,
            change(ChangeOperation::Update, Some("abc"), fields, &["status"]),
        )
        .unwrap();
        let sent = &testing::requests()[1];
        assert_eq!(sent.method, "PATCH");
        assert!(
            sent.url.contains("/api/now/table/incident/abc?"),
            "{}",
            sent.url
        );
        let body: Value = serde_json::from_slice(sent.body.as_ref().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"state": "6", "close_code": config::DEFAULT_CLOSE_CODE, "close_notes": config::DEFAULT_CLOSE_NOTES})
        );
    }

    #[test]
    fn a_comment_already_in_the_journal_is_not_written_again() {
        testing::reset();
        let config = config();
        let sn = ServiceNow::new(&config).unwrap();
        testing::on_http(|_| {
            Ok(testing::response(
                200,
                json!({"result": [{"sys_id": "j9", "value": incidents::signed("ana", "Done.")}]})
                    .to_string(),
            ))
        });
        let change = Change {
            kind: "work-order-comment".into(),
            local_id: "1".into(),
            external_id: None,
            operation: ChangeOperation::Create,
            fields: json!({"work_order": "abc", "author": "ana", "body": "Done."}).to_string(),
            changed_fields: vec![],
        };
        assert_eq!(push(&sn, change).unwrap().external_id, "j9");
        assert_eq!(testing::requests().len(), 1, "looked, did not write");
    }
}
