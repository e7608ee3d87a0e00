//! The connection test, step by step as far as the configuration goes
//! (the wizard checks after the credentials, the project and the
//! workflow), and the lists the wizard offers: projects, issue types,
//! statuses and priorities as Jira has them.

use cube_connector_sdk::prelude::*;
use serde_json::Value;

use crate::client::{Jira, segment};
use crate::config::{Config, ValueMap};
use crate::sync;

pub fn test_connection(config: &Config) -> Result<String> {
    let jira = Jira::new(config)?;
    let me: Value = jira.send_json(jira.get("/myself"))?;
    let who = me
        .get("displayName")
        .and_then(Value::as_str)
        .unwrap_or("the account");
    let mut said = format!("Signed in to {} as {who}", config.edition.name());
    if config.project_key.trim().is_empty() {
        return Ok(said + ".");
    }
    let key = config.project()?;
    let Some(project) = jira.find(jira.get(&format!("/project/{}", segment(key))))? else {
        return Err(Error::config(format!(
            "project {key} does not exist, or {who} cannot browse it; check the key and the project's permissions"
        )));
    };
    let project: Value = project.json()?;
    let name = project.get("name").and_then(Value::as_str).unwrap_or(key);
    let types = issue_types(&jira, key)?;
    let wanted = config.issue_type.trim();
    if !types.iter().any(|t| t.eq_ignore_ascii_case(wanted)) {
        return Err(Error::config(format!(
            "project {key} has no issue type `{wanted}` that {who} can create; it offers {}",
            types.join(", ")
        )));
    }
    said.push_str(&format!("; project {key} ({name}), issue type {wanted}"));
    if config.status_map.is_some() || config.priority_map.is_some() {
        let statuses = statuses(&jira, key, wanted)?;
        refuse_unknown(
            "status mapping",
            &config.statuses()?,
            &format!("the {wanted} workflow of {key}"),
            &statuses,
        )?;
        let priorities = priorities(&jira)?;
        refuse_unknown(
            "priority mapping",
            &config.priorities()?,
            "Jira",
            &priorities,
        )?;
        config.fields()?;
        said.push_str(&format!(
            "; {} statuses and {} priorities mapped",
            config.statuses()?.pairs.len(),
            config.priorities()?.pairs.len()
        ));
    }
    // The query a sync runs, with the admin's filter: a JQL mistake shows
    // here rather than in the first sync.
    let query = sync::jql(&jira, None)?;
    let (path, body) = if jira.is_cloud() {
        (
            "/search/jql",
            json!({"jql": query, "maxResults": 1, "fields": ["updated"]}),
        )
    } else {
        (
            "/search",
            json!({"jql": query, "maxResults": 1, "fields": ["updated"]}),
        )
    };
    match jira.write("POST", path, &body) {
        Ok(_) => {}
        Err(Error::Config(message)) if !config.jql_filter.trim().is_empty() => {
            return Err(Error::config(format!(
                "the JQL filter `{}` does not work: {message}",
                config.jql_filter.trim()
            )));
        }
        Err(other) => return Err(other),
    }
    Ok(said + ".")
}

/// The issue types that can be created in a project (not sub-tasks).
fn issue_types(jira: &Jira, key: &str) -> Result<Vec<String>> {
    let page: Value = jira.send_json(
        jira.get(&format!("/issue/createmeta/{}/issuetypes", segment(key)))
            .query("maxResults", "100"),
    )?;
    let list = page
        .get("issueTypes")
        .or_else(|| page.get("values"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Ok(list
        .iter()
        .filter(|t| t.get("subtask").and_then(Value::as_bool) != Some(true))
        .filter_map(|t| t.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect())
}

/// A `config` error when the `what` mapping names values that `holder`
/// (whose values are `known`) does not have.
fn refuse_unknown(what: &str, map: &ValueMap, holder: &str, known: &[String]) -> Result<()> {
    let unknown = map.unknown_theirs(known);
    if unknown.is_empty() {
        return Ok(());
    }
    Err(Error::config(format!(
        "the {what} names {} that {holder} does not have; it has {}",
        unknown.join(", "),
        known.join(", ")
    )))
}

/// The statuses of a project's workflow for an issue type.
fn statuses(jira: &Jira, key: &str, issue_type: &str) -> Result<Vec<String>> {
    let per_type: Value =
        jira.send_json(jira.get(&format!("/project/{}/statuses", segment(key))))?;
    let mut out: Vec<String> = Vec::new();
    for entry in per_type.as_array().map(Vec::as_slice).unwrap_or_default() {
        let name = entry
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !name.eq_ignore_ascii_case(issue_type) {
            continue;
        }
        for status in entry
            .get("statuses")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            if let Some(s) = status.get("name").and_then(Value::as_str)
                && !out.iter().any(|o| o == s)
            {
                out.push(s.to_owned());
            }
        }
    }
    Ok(out)
}

fn names_of(list: &[Value]) -> Vec<String> {
    list.iter()
        .filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// Every priority, in Jira's order.
fn priorities(jira: &Jira) -> Result<Vec<String>> {
    if !jira.is_cloud() {
        let list: Value = jira.send_json(jira.get("/priority"))?;
        return Ok(names_of(
            list.as_array().map(Vec::as_slice).unwrap_or_default(),
        ));
    }
    let mut out = Vec::new();
    loop {
        let page: Value = jira.send_json(
            jira.get("/priority/search")
                .query("startAt", &out.len().to_string())
                .query("maxResults", "50"),
        )?;
        let values = page
            .get("values")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        out.extend(names_of(&values));
        if values.is_empty() || page.get("isLast").and_then(Value::as_bool) != Some(false) {
            return Ok(out);
        }
    }
}

/// The projects the account can see: `(key, name)`.
fn projects(jira: &Jira) -> Result<Vec<(String, String)>> {
    let pair = |p: &Value| {
        Some((
            p.get("key")?.as_str()?.to_owned(),
            p.get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        ))
    };
    if !jira.is_cloud() {
        let list: Value = jira.send_json(jira.get("/project"))?;
        return Ok(list
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(pair)
            .collect());
    }
    let mut out = Vec::new();
    // At most 1,000 projects are offered; beyond that, type the key.
    while out.len() < 1000 {
        let page: Value = jira.send_json(
            jira.get("/project/search")
                .query("startAt", &out.len().to_string())
                .query("maxResults", "100")
                .query("orderBy", "key"),
        )?;
        let values = page
            .get("values")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        out.extend(values.iter().filter_map(pair));
        if values.is_empty() || page.get("isLast").and_then(Value::as_bool) != Some(false) {
            break;
        }
    }
    Ok(out)
}

fn plain(names: Vec<String>) -> Vec<Choice> {
    names
        .into_iter()
        .map(|n| Choice {
            value: n.clone(),
            label: n,
        })
        .collect()
}

/// The values Jira offers for `field`, given the earlier steps' settings.
pub fn choices(config: Value, field: &str) -> Result<Vec<Choice>> {
    let config: Config = cube_connector_sdk::connector::parse_config(&config.to_string())?;
    let jira = Jira::new(&config)?;
    match field {
        "project_key" => Ok(projects(&jira)?
            .into_iter()
            .map(|(key, name)| Choice {
                label: format!("{key}: {name}"),
                value: key,
            })
            .collect()),
        "issue_type" => Ok(plain(issue_types(&jira, config.project()?)?)),
        "status_map" => Ok(plain(statuses(
            &jira,
            config.project()?,
            config.issue_type.trim(),
        )?)),
        "priority_map" => Ok(plain(priorities(&jira)?)),
        _ => Ok(Vec::new()),
    }
}
