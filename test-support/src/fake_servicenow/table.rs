//! The Table API's reads and writes: rendering rows (references as links),
//! listing with paging headers, and writing incidents under the incident
//! data policies, journal fields included.

use serde_json::{Map, Value, json};

use super::server::{Failure, not_found};
use super::state::{
    DATE_COLUMNS, INCIDENT_COLUMNS, Inner, JOURNAL_FIELDS, NUMERIC_COLUMNS, REFERENCES, Row,
    is_stamp, priority_of, text,
};
use super::{ABEL, USER};
use crate::fake_http::Reply;

impl Inner {
    pub fn render(&self, row: &Row, fields: Option<&[String]>, links: bool) -> Value {
        let names: Vec<String> = match fields {
            Some(f) => f.to_vec(),
            None => row.keys().cloned().collect(),
        };
        let mut out = Row::new();
        for name in names {
            let mut value = self.value(row, &name);
            if links
                && let Some((_, table)) = REFERENCES.iter().find(|(r, _)| *r == name)
                && value.as_str().is_some_and(|v| !v.is_empty())
            {
                let id = value.as_str().unwrap().to_owned();
                value = json!({"link": format!("{}/api/now/table/{table}/{id}", self.base_url), "value": id});
            }
            out.insert(name, value);
        }
        Value::Object(out)
    }

    pub fn list(
        &mut self,
        table: &str,
        query: &[(String, String)],
        fields: Option<&[String]>,
        links: bool,
    ) -> Reply {
        let param = |name: &str| {
            query
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let number = |name: &str, default: usize| -> Result<usize, String> {
            match param(name) {
                None => Ok(default),
                Some(v) => v
                    .parse::<usize>()
                    .map_err(|_| format!("{name}=`{v}` is not a non-negative integer")),
            }
        };
        let (limit, offset) = match (number("sysparm_limit", 10_000), number("sysparm_offset", 0)) {
            (Ok(l), Ok(o)) if l > 0 => (l, o),
            (Ok(_), Ok(_)) => {
                self.violation("sysparm_limit=0");
                return Reply::failure(400, "Invalid request", "sysparm_limit must be positive");
            }
            (Err(e), _) | (_, Err(e)) => {
                self.violation(&e);
                return Reply::failure(400, "Invalid request", &e);
            }
        };
        let encoded = param("sysparm_query").unwrap_or_default();
        let parsed = match self.parse_query(table, &encoded) {
            Ok(q) => q,
            Err(e) => {
                self.violation(format!("sysparm_query: {e}"));
                return Reply::failure(400, "Invalid query", &e);
            }
        };
        let mut rows: Vec<Row> = self
            .rows(table)
            .iter()
            .filter(|r| self.matches(r, &parsed))
            .cloned()
            .collect();
        rows.sort_by(|a, b| {
            for (field, desc) in &parsed.order {
                let (x, y) = (self.value(a, field), self.value(b, field));
                let (x, y) = (
                    x.as_str().unwrap_or_default(),
                    y.as_str().unwrap_or_default(),
                );
                let ord = if NUMERIC_COLUMNS.contains(&field.as_str())
                    && let (Ok(x), Ok(y)) = (x.parse::<i64>(), y.parse::<i64>())
                {
                    x.cmp(&y)
                } else {
                    x.cmp(y)
                };
                let ord = if *desc { ord.reverse() } else { ord };
                if ord.is_ne() {
                    return ord;
                }
            }
            std::cmp::Ordering::Equal
        });
        let total = rows.len();
        let page: Vec<Value> = rows
            .iter()
            .skip(offset)
            .take(limit)
            .map(|r| self.render(r, fields, links))
            .collect();
        let mut reply = Reply::json(200, json!({ "result": page }));
        if param("sysparm_no_count").as_deref() != Some("true") {
            reply.headers.push(("X-Total-Count", total.to_string()));
        }
        if param("sysparm_suppress_pagination_header").as_deref() != Some("true") {
            let link = |at: i64, rel: &str| {
                let mut pairs: Vec<(String, String)> = query
                    .iter()
                    .filter(|(n, _)| n != "sysparm_offset")
                    .cloned()
                    .collect();
                pairs.push(("sysparm_offset".into(), at.to_string()));
                let encoded = serde_urlencoded::to_string(&pairs).unwrap();
                format!(
                    "<{}/api/now/table/{table}?{encoded}>;rel=\"{rel}\"",
                    self.base_url
                )
            };
            let (limit, offset, total) = (limit as i64, offset as i64, total as i64);
            let last = if total == 0 {
                0
            } else {
                (total - 1) / limit * limit
            };
            let mut parts = vec![link(0, "first")];
            if offset > 0 {
                parts.push(link(offset - limit, "prev"));
            }
            if offset + limit < total {
                parts.push(link(offset + limit, "next"));
            }
            parts.push(link(last, "last"));
            reply.headers.push(("Link", parts.join(",")));
        }
        reply
    }

    pub fn write(
        &mut self,
        sys_id: Option<&str>,
        values: Map<String, Value>,
        fields: Option<&[String]>,
        links: bool,
    ) -> Reply {
        let mut changes: Vec<(String, String)> = Vec::new();
        let mut journal: Vec<(String, String)> = Vec::new();
        for (name, value) in values {
            let value = match value {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Null => String::new(),
                other => {
                    self.violation(format!("`{name}` is given {other}, not a value"));
                    return Reply::failure(400, "Invalid request", &name);
                }
            };
            if !INCIDENT_COLUMNS.contains(&name.as_str())
                || [
                    "sys_id",
                    "number",
                    "sys_mod_count",
                    "sys_updated_on",
                    "sys_created_on",
                ]
                .contains(&name.as_str())
            {
                self.violation(format!(
                    "the body names `{name}`, not a writable incident field"
                ));
                return Reply::failure(400, "Invalid request", &name);
            }
            if DATE_COLUMNS.contains(&name.as_str()) && !value.is_empty() && !is_stamp(&value) {
                self.violation(format!("`{name}` = `{value}` is not YYYY-MM-DD HH:MM:SS"));
                return Reply::failure(400, "Invalid request", &name);
            }
            if JOURNAL_FIELDS.contains(&name.as_str()) {
                if !value.is_empty() {
                    journal.push((name, value));
                }
            } else {
                changes.push((name, value));
            }
        }
        let created = sys_id.is_none();
        let at = match sys_id {
            Some(id) => match self.incidents.iter().position(|r| text(r, "sys_id") == id) {
                Some(at) => at,
                None => return not_found(),
            },
            None => {
                let mut row = Row::new();
                let id = self.sys_id();
                let number = format!("INC{:07}", self.next_number);
                self.next_number += 1;
                for column in INCIDENT_COLUMNS {
                    row.insert((*column).into(), "".into());
                }
                for (k, v) in [
                    ("sys_id", id),
                    ("number", number),
                    ("state", "1".into()),
                    ("impact", "3".into()),
                    ("urgency", "3".into()),
                    ("priority", "5".into()),
                    ("active", "true".into()),
                    ("sys_created_by", USER.into()),
                    ("sys_mod_count", "0".into()),
                ] {
                    row.insert(k.into(), v.into());
                }
                self.incidents.push(row);
                self.incidents.len() - 1
            }
        };
        let mut row = self.incidents[at].clone();
        let mut changed = false;
        for (name, value) in &changes {
            if text(&row, name) != value {
                row.insert(name.clone(), value.clone().into());
                changed = true;
            }
        }
        let touched = |n: &str| changes.iter().any(|(c, _)| c == n);
        if touched("impact") || touched("urgency") {
            let priority = priority_of(text(&row, "impact"), text(&row, "urgency"));
            row.insert("priority".into(), priority.into());
        }
        // The incident data policies.
        let state = text(&row, "state").to_owned();
        let mut missing = Vec::new();
        if ["6", "7"].contains(&state.as_str()) {
            if text(&row, "close_code").is_empty() {
                missing.push("Resolution code");
            }
            if text(&row, "close_notes").is_empty() {
                missing.push("Resolution notes");
            }
        }
        if state == "3" && text(&row, "hold_reason").is_empty() {
            missing.push("On hold reason");
        }
        if !missing.is_empty() {
            if created {
                self.incidents.pop();
            }
            return Reply::failure(
                403,
                "Operation Failed",
                &format!(
                    "Data Policy Exception: \n\tThe following fields are mandatory: {}",
                    missing.join(", ")
                ),
            );
        }
        if !["1", "2", "3", "6", "7", "8"].contains(&state.as_str()) {
            self.violation(format!("state `{state}` is not an incident state"));
        }
        if changed || created || !journal.is_empty() {
            let now = self.tick();
            if created {
                row.insert("sys_created_on".into(), now.clone().into());
                row.insert("opened_at".into(), now.clone().into());
            } else {
                let count: u64 = text(&row, "sys_mod_count").parse().unwrap_or(0);
                row.insert("sys_mod_count".into(), (count + 1).to_string().into());
            }
            row.insert("sys_updated_on".into(), now.clone().into());
            row.insert("sys_updated_by".into(), USER.into());
            row.insert(
                "active".into(),
                if ["6", "7", "8"].contains(&state.as_str()) {
                    "false"
                } else {
                    "true"
                }
                .into(),
            );
            let incident = text(&row, "sys_id").to_owned();
            for (element, value) in journal {
                let entry = self.entry(&incident, &element, &value, USER, &now);
                self.journal.push(entry);
            }
        }
        self.incidents[at] = row.clone();
        let mut reply = Reply::json(
            if created { 201 } else { 200 },
            json!({"result": self.render(&row, fields, links)}),
        );
        if created {
            reply.headers.push((
                "Location",
                format!(
                    "{}/api/now/table/incident/{}",
                    self.base_url,
                    text(&row, "sys_id")
                ),
            ));
        }
        reply
    }

    pub fn entry(&mut self, incident: &str, element: &str, value: &str, by: &str, on: &str) -> Row {
        let mut entry = Row::new();
        for (k, v) in [
            ("sys_id", self.sys_id()),
            ("element_id", incident.to_owned()),
            ("element", element.to_owned()),
            ("name", "incident".to_owned()),
            ("value", value.to_owned()),
            ("sys_created_on", on.to_owned()),
            ("sys_created_by", by.to_owned()),
        ] {
            entry.insert(k.into(), v.into());
        }
        entry
    }

    pub fn create_remote(&mut self, title: &str, extra: &[(&str, &str)]) -> String {
        let mut values = Map::new();
        values.insert("short_description".into(), title.into());
        values.insert("caller_id".into(), ABEL.into());
        for (k, v) in extra {
            values.insert((*k).into(), (*v).into());
        }
        let reply = self.write(None, values, Some(&["sys_id".into()]), false);
        let body = reply.body.expect("a created incident");
        body["result"]["sys_id"].as_str().unwrap().to_owned()
    }
}
