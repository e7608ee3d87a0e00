//! Jira's webhooks (`jira:issue_created`, `jira:issue_updated`,
//! `jira:issue_deleted`, `comment_created`, `comment_updated`,
//! `comment_deleted`) as records.
//!
//! The host has checked the signature (`X-Hub-Signature`, the webhook's
//! secret) and dropped a delivery it has already seen
//! (`X-Atlassian-Webhook-Identifier` stays the same when Jira retries).
//! An issue event is only a signal: the issue is read fresh, so deliveries
//! that arrive late or out of order, and the intermediate echoes of our own
//! multi-step writes, all apply the issue as it is now, whose version the
//! host compares with what it already has.

use cube_connector_sdk::prelude::*;
use serde_json::Value;

use crate::client::{Jira, segment};
use crate::issues::{self, Mappings};

pub fn handle(jira: &Jira, request: WebhookRequest) -> Result<WebhookOutcome> {
    let event: Value = serde_json::from_slice(&request.body).map_err(|e| {
        Error::fatal(format!(
            "the webhook's body is not the JSON Jira sends: {e}"
        ))
    })?;
    let name = event
        .get("webhookEvent")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let key = event
        .pointer("/issue/key")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let nothing = || WebhookOutcome {
        records: Vec::new(),
        response: None,
    };
    if key.is_empty() {
        log::info(format!("webhook `{name}` names no issue; nothing to do"));
        return Ok(nothing());
    }
    // Another project's issue (a webhook registered without a JQL filter).
    let project = event
        .pointer("/issue/fields/project/key")
        .and_then(Value::as_str);
    let ours = jira.config.project()?;
    let foreign = match project {
        Some(p) => !p.eq_ignore_ascii_case(ours),
        None => !key.starts_with(&format!("{ours}-")),
    };
    if foreign {
        log::info(format!(
            "webhook for {key}, outside project {ours}; ignored"
        ));
        return Ok(nothing());
    }
    let records = match name {
        "jira:issue_deleted" => vec![Record::deleted(issues::WORK_ORDER, key)],
        "jira:issue_created" | "jira:issue_updated" => fresh(jira, &key)?,
        "comment_created" | "comment_updated" if jira.config.sync_comments => event
            .get("comment")
            .and_then(|c| issues::comment_record(&key, c))
            .into_iter()
            .collect(),
        "comment_deleted" if jira.config.sync_comments => {
            match event.pointer("/comment/id").and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }) {
                Some(id) => vec![Record::deleted(issues::COMMENT, id)],
                None => Vec::new(),
            }
        }
        _ => {
            log::info(format!(
                "webhook `{name}` for {key} is not one this connector applies"
            ));
            Vec::new()
        }
    };
    Ok(WebhookOutcome {
        records,
        response: None,
    })
}

/// The issue as it is now, or its deletion when it is gone.
fn fresh(jira: &Jira, key: &str) -> Result<Vec<Record>> {
    let mappings = Mappings::of(jira)?;
    let request = jira
        .get(&format!("/issue/{}", segment(key)))
        .query("fields", &mappings.wanted().join(","));
    match jira.find(request)? {
        Some(response) => issues::records_of(jira, &response.json()?, &mappings),
        None => Ok(vec![Record::deleted(issues::WORK_ORDER, key)]),
    }
}
