//! Work order events as Slack messages.
//!
//! Bot mode: a work order gets one card (`chat.postMessage`), edited in
//! place on every later change (`chat.update`, which notifies nobody);
//! comments are replies in the card's thread. The card's `channel` and
//! `ts` are kept in `state` under the work order's id, and also make up
//! the external id (`channel:ts`), so either one finds the message.
//!
//! Webhook mode: an incoming webhook cannot edit or thread, so each event
//! that notifies is a message of its own; the external id is the work
//! order's id.
//!
//! Every push also refreshes the work order's entry in `state` (title,
//! status, priority, ...), which is what the slash command looks up: a
//! connector cannot ask the host.

use cube_connector_sdk::prelude::*;
use serde_json::{Map, Value};

use crate::blocks::{self, Entry};
use crate::client;
use crate::config::{Config, Mode, Updates};

pub const WORK_ORDER: &str = "work-order";
pub const COMMENT: &str = "work-order-comment";

/// The state key of a work order's entry.
pub fn entry_key(id: &str) -> String {
    format!("wo:{id}")
}

/// The state key of a work order created from Slack, before CUBE's id of
/// it is known (by its external id).
pub fn new_key(external_id: &str) -> String {
    format!("new:{external_id}")
}

/// `C123:1700000000.000100` as its channel and `ts`.
pub fn message_id(external_id: &str) -> Option<(String, String)> {
    let (channel, ts) = external_id.split_once(':')?;
    let numeric = !ts.is_empty() && ts.chars().all(|c| c.is_ascii_digit() || c == '.');
    (!channel.is_empty() && numeric).then(|| (channel.to_owned(), ts.to_owned()))
}

pub fn push(config: &Config, change: Change) -> Result<PushResult> {
    let fields: Map<String, Value> = match serde_json::from_str(&change.fields)? {
        Value::Object(map) => map,
        _ => return Err(Error::fatal("the change's fields are not a JSON object")),
    };
    match change.kind.as_str() {
        WORK_ORDER => work_order(config, &change, &fields),
        COMMENT => comment(config, &change, &fields),
        other => Err(Error::fatal(format!(
            "this connector posts work orders and their comments, not `{other}`"
        ))),
    }
}

fn text(fields: &Map<String, Value>, name: &str) -> String {
    match fields.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Whether this change is one the admin asked to be told about.
fn notifies(config: &Config, change: &Change) -> bool {
    match change.operation {
        ChangeOperation::Create => config.notify_created,
        ChangeOperation::Update => match config.notify_updates {
            Updates::All => true,
            Updates::Status => change.changed_fields.iter().any(|f| f == "status"),
            Updates::None => false,
        },
        ChangeOperation::Delete => config.notify_updates != Updates::None,
    }
}

/// The card's context line: what happened.
fn note(change: &Change, entry: &Entry) -> String {
    match change.operation {
        ChangeOperation::Create => "Created in CUBE".to_owned(),
        ChangeOperation::Delete => "Deleted in CUBE".to_owned(),
        ChangeOperation::Update => {
            let others: Vec<&str> = change
                .changed_fields
                .iter()
                .map(String::as_str)
                .filter(|f| *f != "status")
                .collect();
            let status = change.changed_fields.iter().any(|f| f == "status");
            match (status, others.is_empty()) {
                (true, true) => format!("Status changed to *{}*", blocks::escape(&entry.status)),
                (true, false) => format!(
                    "Status changed to *{}* · also changed: {}",
                    blocks::escape(&entry.status),
                    others.join(", ")
                ),
                (false, false) => format!("Changed: {}", others.join(", ")),
                (false, true) => "Updated in CUBE".to_owned(),
            }
        }
    }
}

fn work_order(config: &Config, change: &Change, fields: &Map<String, Value>) -> Result<PushResult> {
    let key = entry_key(&change.local_id);
    let mut entry: Entry = state::get_json(&key).unwrap_or_default();
    if let Some(external) = &change.external_id {
        // Created from Slack: CUBE's id of it is known now.
        state::delete(&new_key(external));
        if entry.ts.is_none()
            && let Some((channel, ts)) = message_id(external)
        {
            entry.channel = Some(channel);
            entry.ts = Some(ts);
        }
    }
    if fields.contains_key("title") {
        entry.update_from(&change.local_id, fields);
    } else {
        entry.id = change.local_id.clone();
    }
    entry.deleted = change.operation == ChangeOperation::Delete;
    let notify = notifies(config, change);
    let note = note(change, &entry);
    let external_id = match config.mode {
        Mode::Bot => card(config, &mut entry, notify, &note)?,
        Mode::Webhook => {
            if notify {
                client::post_hook(config, &blocks::work_order(&entry, &note))?;
            }
            change.local_id.clone()
        }
    };
    state::set_json(&key, &entry)?;
    // A delete removes the link the host knows.
    let external_id = match (&change.operation, &change.external_id) {
        (ChangeOperation::Delete, Some(linked)) => linked.clone(),
        _ => external_id,
    };
    Ok(PushResult {
        external_id,
        version: None,
    })
}

/// Edits the work order's card, or posts one when it has none and the
/// change notifies; the card's `channel:ts`, or the work order's id when
/// there is no card.
fn card(config: &Config, entry: &mut Entry, notify: bool, note: &str) -> Result<String> {
    let message = blocks::work_order(entry, note);
    if let (Some(channel), Some(ts)) = (entry.channel.clone(), entry.ts.clone()) {
        let mut body = message.clone();
        body["channel"] = json!(channel);
        body["ts"] = json!(ts);
        match client::call(config, "chat.update", &body) {
            Ok(_) => return Ok(format!("{channel}:{ts}")),
            Err(failure)
                if matches!(
                    failure.code.as_str(),
                    "message_not_found" | "cant_update_message" | "edit_window_closed"
                ) =>
            {
                log::warn(format!(
                    "the message of work order #{} cannot be edited ({}); a new one is posted",
                    entry.id, failure.code
                ));
                entry.channel = None;
                entry.ts = None;
            }
            Err(failure) => return Err(failure.error),
        }
    }
    if !notify {
        return Ok(entry.id.clone());
    }
    let channel = config.channel()?;
    let mut body = message;
    body["channel"] = json!(channel);
    let posted = client::call(config, "chat.postMessage", &body)?;
    let (channel, ts) = posted_at(&posted, channel)?;
    entry.channel = Some(channel.clone());
    entry.ts = Some(ts.clone());
    Ok(format!("{channel}:{ts}"))
}

/// The channel id and `ts` of a posted message.
fn posted_at(answer: &Value, asked: &str) -> Result<(String, String)> {
    let ts = answer
        .get("ts")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::fatal("Slack posted the message but did not say its ts"))?;
    let channel = answer
        .get("channel")
        .and_then(Value::as_str)
        .unwrap_or(asked);
    Ok((channel.to_owned(), ts.to_owned()))
}

fn comment(config: &Config, change: &Change, fields: &Map<String, Value>) -> Result<PushResult> {
    let posted_key = format!("comment:{}", change.local_id);
    if let Some(done) = state::get_json::<String>(&posted_key) {
        // Posted by an attempt whose outcome the host did not record.
        return Ok(PushResult {
            external_id: done,
            version: None,
        });
    }
    let mine = format!("comment-{}", change.local_id);
    if !config.notify_comments {
        return Ok(PushResult {
            external_id: mine,
            version: None,
        });
    }
    let work_order = text(fields, "work_order");
    let (author, body) = (text(fields, "author"), text(fields, "body"));
    // The work order's entry, when the link is its id (no card, or
    // webhook mode).
    let entry: Option<Entry> = state::get_json(&entry_key(&work_order));
    let external_id = match config.mode {
        Mode::Bot => {
            let thread = message_id(&work_order).or_else(|| {
                let e = entry.as_ref()?;
                Some((e.channel.clone()?, e.ts.clone()?))
            });
            let mut message =
                blocks::comment(&author, &body, entry.as_ref().filter(|_| thread.is_none()));
            match &thread {
                Some((channel, ts)) => {
                    message["channel"] = json!(channel);
                    message["thread_ts"] = json!(ts);
                }
                None => message["channel"] = json!(config.channel()?),
            }
            let asked = message["channel"].as_str().unwrap_or_default().to_owned();
            let posted = client::call(config, "chat.postMessage", &message)?;
            let (channel, ts) = posted_at(&posted, &asked)?;
            format!("{channel}:{ts}")
        }
        Mode::Webhook => {
            client::post_hook(config, &blocks::comment(&author, &body, entry.as_ref()))?;
            mine
        }
    };
    state::set_json(&posted_key, &external_id)?;
    Ok(PushResult {
        external_id,
        version: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cube_connector_sdk::testing;
    use std::cell::RefCell;
    use std::rc::Rc;

    use crate::client::tests::bot;

    fn change(
        op: ChangeOperation,
        external: Option<&str>,
        changed: &[&str],
        status: &str,
    ) -> Change {
        Change {
            kind: WORK_ORDER.into(),
            local_id: "7".into(),
            external_id: external.map(str::to_owned),
            operation: op,
            fields: json!({"title": "Pump 4 leaks", "status": status, "priority": "high",
                           "assignee": null, "due_at": null})
            .to_string(),
            changed_fields: changed.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// A Slack that posts with increasing ts and records the bodies.
    fn fake_slack() -> Rc<RefCell<Vec<(String, Value)>>> {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let record = seen.clone();
        testing::on_http(move |req| {
            let body: Value = serde_json::from_slice(req.body.as_deref().unwrap_or(b"{}")).unwrap();
            let method = req.url.rsplit('/').next().unwrap().to_owned();
            record.borrow_mut().push((method.clone(), body.clone()));
            let n = record.borrow().len();
            Ok(testing::response(
                200,
                json!({"ok": true, "channel": body["channel"], "ts": format!("1700000000.00000{n}")})
                    .to_string(),
            ))
        });
        seen
    }

    #[test]
    fn a_card_is_posted_then_edited_and_comments_thread() {
        testing::reset();
        let seen = fake_slack();
        let created = push(
            &bot(),
            change(ChangeOperation::Create, None, &["title"], "open"),
        )
        .unwrap();
        assert_eq!(created.external_id, "C1:1700000000.000001");
        let updated = push(
            &bot(),
            change(
                ChangeOperation::Update,
                Some(&created.external_id),
                &["status"],
                "done",
            ),
        )
        .unwrap();
        assert_eq!(updated.external_id, created.external_id);
        {
            let seen = seen.borrow();
            assert_eq!(seen[1].0, "chat.update");
            assert_eq!(seen[1].1["ts"], "1700000000.000001");
            assert!(seen[1].1.to_string().contains("Status changed to *done*"));
        }
        let comment = Change {
            kind: COMMENT.into(),
            local_id: "3".into(),
            external_id: None,
            operation: ChangeOperation::Create,
            fields: json!({"work_order": created.external_id, "author": "admin", "body": "On it"})
                .to_string(),
            changed_fields: vec!["comment".into()],
        };
        let reply = push(&bot(), comment.clone()).unwrap();
        assert_eq!(reply.external_id, "C1:1700000000.000003");
        assert_eq!(seen.borrow()[2].1["thread_ts"], "1700000000.000001");
        // Pushed again (the host did not record the outcome): not posted twice.
        assert_eq!(
            push(&bot(), comment).unwrap().external_id,
            reply.external_id
        );
        assert_eq!(seen.borrow().len(), 3);
        let entry: Entry = state::get_json("wo:7").unwrap();
        assert_eq!(
            (entry.status.as_str(), entry.ts.as_deref()),
            ("done", Some("1700000000.000001"))
        );
    }

    #[test]
    fn settings_decide_what_posts() {
        testing::reset();
        let seen = fake_slack();
        let mut config = bot();
        config.notify_created = false;
        config.notify_updates = Updates::Status;
        let created = push(
            &config,
            change(ChangeOperation::Create, None, &["title"], "open"),
        )
        .unwrap();
        assert_eq!(created.external_id, "7");
        push(
            &config,
            change(ChangeOperation::Update, Some("7"), &["title"], "open"),
        )
        .unwrap();
        assert!(seen.borrow().is_empty(), "nothing posted");
        let posted = push(
            &config,
            change(ChangeOperation::Update, Some("7"), &["status"], "done"),
        )
        .unwrap();
        assert_eq!(posted.external_id, "C1:1700000000.000001");
        // Deleted: the card says so, and the link is the one removed.
        let deleted = push(
            &config,
            change(
                ChangeOperation::Delete,
                Some(&posted.external_id),
                &[],
                "done",
            ),
        )
        .unwrap();
        assert_eq!(deleted.external_id, posted.external_id);
        let seen = seen.borrow();
        assert_eq!(seen[1].0, "chat.update");
        assert!(
            seen[1].1["blocks"][0]["text"]["text"]
                .as_str()
                .unwrap()
                .starts_with("Deleted:")
        );
    }

    #[test]
    fn a_lost_message_is_posted_again() {
        testing::reset();
        testing::on_http(|req| {
            Ok(if req.url.ends_with("chat.update") {
                testing::response(200, r#"{"ok":false,"error":"message_not_found"}"#)
            } else {
                testing::response(200, r#"{"ok":true,"channel":"C1","ts":"2.0"}"#)
            })
        });
        let result = push(
            &bot(),
            change(ChangeOperation::Update, Some("C1:1.0"), &["title"], "open"),
        )
        .unwrap();
        assert_eq!(result.external_id, "C1:2.0");
    }

    #[test]
    fn message_ids_parse() {
        assert_eq!(
            message_id("C1:1700.01"),
            Some(("C1".into(), "1700.01".into()))
        );
        assert_eq!(message_id("slack-123"), None);
        assert_eq!(message_id("42"), None);
    }
}
