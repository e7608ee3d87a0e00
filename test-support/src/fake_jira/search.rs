//! Issue search: Cloud's `/search/jql` (token pagination, issue ids only
//! unless fields are asked for, bounded queries only) and Data Center's
//! `/search` (`startAt`/`maxResults`/`total`).

use serde_json::{Value, json};

use super::jql;
use super::render::FieldSel;
use super::routes::{JiraErrors, Query, Reply};
use super::state::Inner;

/// Search parameters from the query string (GET) or the body (POST).
struct Params {
    jql: String,
    fields: Vec<String>,
    max: Option<i64>,
    start: Option<i64>,
    token: Option<String>,
}

fn params(method: &str, q: &Query, body: Option<&Value>) -> Params {
    if method == "GET" {
        return Params {
            jql: q.get("jql").unwrap_or("").to_owned(),
            fields: q.list("fields"),
            max: q.int("maxResults"),
            start: q.int("startAt"),
            token: q.get("nextPageToken").map(str::to_owned),
        };
    }
    let body = body.cloned().unwrap_or(Value::Null);
    Params {
        jql: body["jql"].as_str().unwrap_or("").to_owned(),
        fields: body["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str().map(str::to_owned))
            .collect(),
        max: body["maxResults"].as_i64(),
        start: body["startAt"].as_i64(),
        token: body["nextPageToken"].as_str().map(str::to_owned),
    }
}

pub fn jql(st: &mut Inner, method: &str, q: &Query, body: Option<&Value>) -> Reply {
    let p = params(method, q, body);
    let query = match jql::parse(&p.jql, st) {
        Ok(query) => query,
        Err(message) => return Reply::errors(400, vec![message]),
    };
    if !query.bounded() {
        return Reply::errors(
            400,
            vec![
                "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
                    .into(),
            ],
        );
    }
    let offset = match &p.token {
        None => 0,
        Some(token) => match st.tokens.get(token) {
            Some((jql, offset)) if *jql == p.jql => *offset,
            _ => {
                return Reply::errors(
                    400,
                    vec!["The provided next page token is invalid or expired.".into()],
                );
            }
        },
    };
    let max = p.max.unwrap_or(50).clamp(1, 100) as usize;
    let hits = query.run(st);
    let sel = FieldSel::parse(&p.fields, "id");
    let issues: Vec<Value> = hits
        .iter()
        .skip(offset)
        .take(max)
        .map(|&i| {
            if sel.ids_only() {
                json!({"id": st.issues[i].id.to_string()})
            } else {
                st.issue_json(i, &sel, "3")
            }
        })
        .collect();
    let is_last = offset + max >= hits.len();
    let mut out = json!({"issues": issues, "isLast": is_last});
    if !is_last {
        let token = format!("CAEaAggD{:x}Ij{:x}", st.tokens.len() + 1, offset + max);
        st.tokens.insert(token.clone(), (p.jql, offset + max));
        out["nextPageToken"] = token.into();
    }
    Reply::json(200, out)
}

pub fn data_center(st: &mut Inner, method: &str, q: &Query, body: Option<&Value>) -> Reply {
    let p = params(method, q, body);
    let query = match jql::parse(&p.jql, st) {
        Ok(query) => query,
        Err(message) => return Reply::errors(400, vec![message]),
    };
    let start = p.start.unwrap_or(0).max(0) as usize;
    // jira.search.views.default.max
    let max = p.max.unwrap_or(50).clamp(0, 1000) as usize;
    let hits = query.run(st);
    let sel = FieldSel::parse(&p.fields, "*navigable");
    let issues: Vec<Value> = hits
        .iter()
        .skip(start)
        .take(max)
        .map(|&i| st.issue_json(i, &sel, "2"))
        .collect();
    Reply::json(
        200,
        json!({
            "expand": "schema,names",
            "startAt": start,
            "maxResults": max,
            "total": hits.len(),
            "issues": issues,
        }),
    )
}
