//! The endpoints the fake serves, under `/rest/api/3` (Cloud) or
//! `/rest/api/2` (Data Center).

use serde_json::{Map, Value, json};

use super::render::{FieldSel, merge};
use super::search;
use super::state::{CUSTOM_FIELDS, ISSUE_TYPES, Inner, PRIORITIES, SERVICE_USER, STATUSES};
pub use crate::fake_http::Reply;

/// Jira's error shapes, as `Reply::errors` and `Reply::field_errors`.
pub trait JiraErrors {
    /// Jira's error shape: `{"errorMessages": [...], "errors": {}}`.
    fn errors(status: u16, messages: Vec<String>) -> Reply;

    /// 400 with per-field errors: `{"errorMessages": [], "errors": {...}}`.
    fn field_errors(errors: Map<String, Value>) -> Reply;
}

impl JiraErrors for Reply {
    fn errors(status: u16, messages: Vec<String>) -> Reply {
        Reply::json(status, json!({"errorMessages": messages, "errors": {}}))
    }

    fn field_errors(errors: Map<String, Value>) -> Reply {
        Reply::json(400, json!({"errorMessages": [], "errors": errors}))
    }
}

/// Query parameters as received.
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(|v| v.parse().ok())
    }

    pub fn list(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// `startAt` and `maxResults`, the latter capped at `cap`.
    pub fn page(&self, default: i64, cap: i64) -> (usize, usize) {
        let start = self.int("startAt").unwrap_or(0).max(0) as usize;
        let max = self.int("maxResults").unwrap_or(default).clamp(0, cap) as usize;
        (start, max)
    }
}

const NO_ISSUE: &str = "Issue does not exist or you do not have permission to see it.";

fn issue_or_404(st: &Inner, key: &str) -> Result<usize, Reply> {
    st.find_issue(key)
        .ok_or_else(|| Reply::errors(404, vec![NO_ISSUE.into()]))
}

fn project_or_404(st: &Inner, key: &str) -> Result<usize, Reply> {
    st.find_project(key).ok_or_else(|| {
        Reply::errors(
            404,
            vec![format!("No project could be found with key '{key}'.")],
        )
    })
}

fn object(body: Option<&Value>) -> Result<&Map<String, Value>, Reply> {
    body.and_then(Value::as_object).ok_or_else(|| {
        Reply::errors(
            400,
            vec!["No content to map to Object due to end of input".into()],
        )
    })
}

/// Serves a request whose path, after `/rest/api/N/`, is `rest`.
pub fn route(
    st: &mut Inner,
    method: &str,
    rest: &[&str],
    q: &Query,
    body: Option<&Value>,
) -> Reply {
    let v = if st.cloud() { "3" } else { "2" };
    let cloud = st.cloud();
    let result = match (method, rest) {
        ("GET", ["myself"]) => Ok(myself(st, v)),
        ("GET", ["serverInfo"]) => Ok(server_info(st)),
        ("GET", ["field"]) => Ok(Reply::json(200, fields())),
        ("GET", ["project"]) => {
            let all = (0..st.projects.len()).map(|p| st.project_json(p, v)).collect();
            Ok(Reply::json(200, Value::Array(all)))
        }
        ("GET", ["project", "search"]) if cloud => Ok(project_search(st, q)),
        ("GET", ["project", p]) => project_or_404(st, p).map(|p| project(st, p, v)),
        ("GET", ["project", p, "statuses"]) => project_or_404(st, p).map(|_| statuses(st, v)),
        ("GET", ["issue", "createmeta", p, "issuetypes"]) => {
            project_or_404(st, p).map(|_| createmeta(st, q, v))
        }
        ("GET", ["priority"]) => {
            let all = (0..PRIORITIES.len()).map(|p| priority(st, p, v)).collect();
            Ok(Reply::json(200, Value::Array(all)))
        }
        ("GET", ["priority", "search"]) if cloud => Ok(priority_search(st, q)),
        ("POST", ["issue"]) => create_issue(st, body, v),
        ("GET", ["issue", k]) => issue_or_404(st, k).map(|i| {
            let sel = FieldSel::parse(&q.list("fields"), "*all");
            Reply::json(200, st.issue_json(i, &sel, v))
        }),
        ("PUT", ["issue", k]) => edit_issue(st, k, q, body, v),
        ("DELETE", ["issue", k]) => issue_or_404(st, k).map(|i| {
            st.delete(i, SERVICE_USER);
            Reply::empty(204)
        }),
        ("GET", ["issue", k, "transitions"]) => issue_or_404(st, k).map(|i| transitions(st, i, q, v)),
        ("POST", ["issue", k, "transitions"]) => do_transition(st, k, body),
        ("GET", ["issue", k, "comment"]) => issue_or_404(st, k).map(|i| comments(st, i, q, v)),
        ("POST", ["issue", k, "comment"]) => add_comment(st, k, body, v),
        ("GET" | "POST", ["search", "jql"]) if cloud => Ok(search::jql(st, method, q, body)),
        ("GET" | "POST", ["search"]) if cloud => Ok(Reply::errors(
            410,
            vec![
                "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. \
                 A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
                    .into(),
            ],
        )),
        ("GET" | "POST", ["search"]) => Ok(search::data_center(st, method, q, body)),
        (_, ["project", "search"] | ["priority", "search"] | ["search", "jql"]) => {
            st.violation("Jira Data Center has no such resource (it is Cloud only)");
            Err(Reply::errors(404, vec!["null for uri".into()]))
        }
        _ => {
            st.violation("the fake does not implement this operation");
            Err(Reply::errors(501, vec!["Not implemented by the fake Jira".into()]))
        }
    };
    result.unwrap_or_else(|reply| reply)
}

/// `GET serverInfo`, which clients read first (the `jira` Python client
/// picks its Cloud-only methods by `deploymentType`).
fn server_info(st: &Inner) -> Reply {
    let (version, numbers, deployment) = if st.cloud() {
        ("1001.0.0-SNAPSHOT", json!([1001, 0, 0]), "Cloud")
    } else {
        ("9.12.2", json!([9, 12, 2]), "Server")
    };
    Reply::json(
        200,
        json!({
            "baseUrl": st.base_url,
            "displayUrl": st.base_url,
            "version": version,
            "versionNumbers": numbers,
            "deploymentType": deployment,
            "buildNumber": 100_260,
            "buildDate": "2024-01-08T00:00:00.000+0000",
            "serverTime": super::render::jira_time(st.now),
            "scmInfo": "57a0ca5b4a0bb0ac5f3fee4764acb1c14e4d7e71",
            "serverTitle": "Jira",
            "defaultLocale": {"locale": "en_US"},
            "serverTimeZone": "Etc/UTC",
        }),
    )
}

/// `GET field`: the fields the fake knows, system and custom, with the
/// names JQL knows them by.
fn fields() -> Value {
    let system = [
        (
            "summary",
            "Summary",
            json!({"type": "string", "system": "summary"}),
        ),
        (
            "description",
            "Description",
            json!({"type": "string", "system": "description"}),
        ),
        (
            "status",
            "Status",
            json!({"type": "status", "system": "status"}),
        ),
        (
            "priority",
            "Priority",
            json!({"type": "priority", "system": "priority"}),
        ),
        (
            "issuetype",
            "Issue Type",
            json!({"type": "issuetype", "system": "issuetype"}),
        ),
        (
            "project",
            "Project",
            json!({"type": "project", "system": "project"}),
        ),
        (
            "assignee",
            "Assignee",
            json!({"type": "user", "system": "assignee"}),
        ),
        (
            "reporter",
            "Reporter",
            json!({"type": "user", "system": "reporter"}),
        ),
        (
            "creator",
            "Creator",
            json!({"type": "user", "system": "creator"}),
        ),
        (
            "duedate",
            "Due date",
            json!({"type": "date", "system": "duedate"}),
        ),
        (
            "labels",
            "Labels",
            json!({"type": "array", "items": "string", "system": "labels"}),
        ),
        (
            "created",
            "Created",
            json!({"type": "datetime", "system": "created"}),
        ),
        (
            "updated",
            "Updated",
            json!({"type": "datetime", "system": "updated"}),
        ),
        (
            "resolution",
            "Resolution",
            json!({"type": "resolution", "system": "resolution"}),
        ),
        (
            "resolutiondate",
            "Resolved",
            json!({"type": "datetime", "system": "resolutiondate"}),
        ),
        (
            "comment",
            "Comment",
            json!({"type": "comments-page", "system": "comment"}),
        ),
    ];
    let mut all: Vec<Value> = system
        .into_iter()
        .map(|(id, name, schema)| {
            json!({
                "id": id, "key": id, "name": name, "custom": false,
                "orderable": id != "comment", "navigable": id != "comment",
                "searchable": true, "clauseNames": [id], "schema": schema,
            })
        })
        .collect();
    for (id, name) in CUSTOM_FIELDS {
        let number: u64 = id.trim_start_matches("customfield_").parse().unwrap();
        all.push(json!({
            "id": id, "key": id, "name": name, "custom": true, "orderable": true,
            "navigable": true, "searchable": true,
            "clauseNames": [format!("cf[{number}]"), name],
            "schema": {
                "type": "string",
                "custom": "com.atlassian.jira.plugin.system.customfieldtypes:textfield",
                "customId": number,
            },
        }));
    }
    Value::Array(all)
}

fn myself(st: &Inner, v: &str) -> Reply {
    let mut me = st.user_json(SERVICE_USER, v);
    merge(
        &mut me,
        json!({
            "locale": "en_US",
            "groups": {"size": 1, "items": []},
            "applicationRoles": {"size": 1, "items": []},
            "expand": "groups,applicationRoles",
        }),
    );
    Reply::json(200, me)
}

fn project(st: &Inner, p: usize, v: &str) -> Reply {
    let mut out = st.project_json(p, v);
    let types: Vec<Value> = (0..ISSUE_TYPES.len())
        .map(|t| st.issuetype_json(t, v))
        .collect();
    merge(
        &mut out,
        json!({
            "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
            "description": "",
            "lead": st.user_json(SERVICE_USER, v),
            "components": [],
            "issueTypes": types,
            "assigneeType": "UNASSIGNED",
            "versions": [],
            "archived": false,
            "roles": {},
        }),
    );
    Reply::json(200, out)
}

fn project_search(st: &Inner, q: &Query) -> Reply {
    let (start, max) = q.page(50, 100);
    let keys: Vec<String> = q
        .list("keys")
        .iter()
        .flat_map(|k| k.split(',').map(str::to_owned))
        .collect();
    let text = q.get("query").map(str::to_lowercase);
    let mut matching: Vec<usize> = (0..st.projects.len())
        .filter(|&p| {
            let project = &st.projects[p];
            (keys.is_empty() || keys.iter().any(|k| k.eq_ignore_ascii_case(&project.key)))
                && text.as_ref().is_none_or(|t| {
                    project.key.to_lowercase().contains(t)
                        || project.name.to_lowercase().contains(t)
                })
        })
        .collect();
    // orderBy: key (the default) or name, "-" for descending.
    let order = q.get("orderBy").unwrap_or("key");
    let by_name = order.trim_start_matches(['+', '-']) == "name";
    matching.sort_by_key(|&p| {
        let project = &st.projects[p];
        if by_name {
            project.name.clone()
        } else {
            project.key.clone()
        }
    });
    if order.starts_with('-') {
        matching.reverse();
    }
    let values: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(max)
        .map(|&p| st.project_json(p, "3"))
        .collect();
    let is_last = start + max >= matching.len();
    let mut out = json!({
        "self": st.url("3", &format!("project/search?startAt={start}&maxResults={max}")),
        "maxResults": max,
        "startAt": start,
        "total": matching.len(),
        "isLast": is_last,
        "values": values,
    });
    if !is_last {
        out["nextPage"] = st
            .url(
                "3",
                &format!("project/search?startAt={}&maxResults={max}", start + max),
            )
            .into();
    }
    Reply::json(200, out)
}

fn statuses(st: &Inner, v: &str) -> Reply {
    let statuses: Vec<Value> = (0..STATUSES.len()).map(|s| st.status_json(s, v)).collect();
    let types: Vec<Value> = ISSUE_TYPES
        .iter()
        .map(|(id, name, _)| {
            json!({
                "self": st.url(v, &format!("issuetype/{id}")),
                "id": id,
                "name": name,
                "subtask": false,
                "statuses": statuses,
            })
        })
        .collect();
    Reply::json(200, Value::Array(types))
}

fn createmeta(st: &Inner, q: &Query, v: &str) -> Reply {
    let (start, max) = q.page(50, 200);
    let types: Vec<Value> = (0..ISSUE_TYPES.len())
        .skip(start)
        .take(max)
        .map(|t| {
            let mut out = st.issuetype_json(t, v);
            out["untranslatedName"] = ISSUE_TYPES[t].1.into();
            out
        })
        .collect();
    let total = ISSUE_TYPES.len();
    // Cloud calls the list `issueTypes`; Data Center pages it as `values`.
    Reply::json(
        200,
        if st.cloud() {
            json!({"maxResults": max, "startAt": start, "total": total, "issueTypes": types})
        } else {
            json!({
                "maxResults": max,
                "startAt": start,
                "total": total,
                "isLast": start + max >= total,
                "values": types,
            })
        },
    )
}

fn priority(st: &Inner, p: usize, v: &str) -> Value {
    let mut out = st.priority_json(p, v);
    merge(
        &mut out,
        json!({"statusColor": PRIORITIES[p].2, "description": format!("{} priority", PRIORITIES[p].1)}),
    );
    if st.cloud() {
        out["isDefault"] = (p == super::state::DEFAULT_PRIORITY).into();
    }
    out
}

fn priority_search(st: &Inner, q: &Query) -> Reply {
    let (start, max) = q.page(50, 100);
    let values: Vec<Value> = (0..PRIORITIES.len())
        .skip(start)
        .take(max)
        .map(|p| priority(st, p, "3"))
        .collect();
    Reply::json(
        200,
        json!({
            "self": st.url("3", &format!("priority/search?startAt={start}&maxResults={max}")),
            "maxResults": max,
            "startAt": start,
            "total": PRIORITIES.len(),
            "isLast": start + max >= PRIORITIES.len(),
            "values": values,
        }),
    )
}

fn create_issue(st: &mut Inner, body: Option<&Value>, v: &str) -> Result<Reply, Reply> {
    let body = object(body)?;
    let empty = Map::new();
    let fields = body
        .get("fields")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let update = body.get("update").and_then(Value::as_object);
    let idx = st
        .create(fields, update, SERVICE_USER)
        .map_err(Reply::field_errors)?;
    let issue = &st.issues[idx];
    Ok(Reply::json(
        201,
        json!({
            "id": issue.id.to_string(),
            "key": issue.key,
            "self": st.url(v, &format!("issue/{}", issue.id)),
        }),
    ))
}

fn edit_issue(
    st: &mut Inner,
    key: &str,
    q: &Query,
    body: Option<&Value>,
    v: &str,
) -> Result<Reply, Reply> {
    let idx = issue_or_404(st, key)?;
    let body = object(body)?;
    let fields = body.get("fields").and_then(Value::as_object);
    let update = body.get("update").and_then(Value::as_object);
    st.edit(idx, fields, update, SERVICE_USER)
        .map_err(Reply::field_errors)?;
    if q.get("returnIssue") == Some("true") {
        return Ok(Reply::json(
            200,
            st.issue_json(idx, &FieldSel::parse(&[], "*all"), v),
        ));
    }
    Ok(Reply::empty(204))
}

fn transitions(st: &Inner, idx: usize, q: &Query, v: &str) -> Reply {
    let current = st.issues[idx].status;
    let list: Vec<Value> = STATUSES
        .iter()
        .enumerate()
        .filter(|&(s, def)| {
            s != current && q.get("transitionId").is_none_or(|t| t == def.transition)
        })
        .map(|(s, def)| {
            json!({
                "id": def.transition,
                "name": def.name,
                "to": st.status_json(s, v),
                "hasScreen": false,
                "isGlobal": true,
                "isInitial": false,
                "isAvailable": true,
                "isConditional": false,
                "isLooped": false,
            })
        })
        .collect();
    Reply::json(200, json!({"expand": "transitions", "transitions": list}))
}

fn do_transition(st: &mut Inner, key: &str, body: Option<&Value>) -> Result<Reply, Reply> {
    let idx = issue_or_404(st, key)?;
    let body = object(body)?;
    // A number is taken as its text, as Jira does (see `Outcome::coerced`).
    let id = body.get("transition").map(|t| match &t["id"] {
        Value::Number(n) => Some(n.to_string()),
        other => other.as_str().map(str::to_owned),
    });
    let Some(Some(id)) = id else {
        return Err(Reply::errors(
            400,
            vec!["Missing 'transition' identifier".into()],
        ));
    };
    let fields = body.get("fields").and_then(Value::as_object);
    match st.transition(idx, &id, fields, SERVICE_USER) {
        Ok(()) => Ok(Reply::empty(204)),
        Err(Ok(message)) => Err(Reply::errors(400, vec![message])),
        Err(Err(errors)) => Err(Reply::field_errors(errors)),
    }
}

fn comments(st: &Inner, idx: usize, q: &Query, v: &str) -> Reply {
    let (start, max) = q.page(100, 5000);
    let mut issue = st.issues[idx].clone();
    if q.get("orderBy") == Some("-created") {
        issue.comments.reverse();
    }
    let mut page = st.comments_page(&issue, start, max, v);
    if let Some(o) = page.as_object_mut() {
        o.remove("self");
    }
    Reply::json(200, page)
}

fn add_comment(st: &mut Inner, key: &str, body: Option<&Value>, v: &str) -> Result<Reply, Reply> {
    let idx = issue_or_404(st, key)?;
    let body = object(body)?;
    let comment_error = |m: &str| {
        let mut errors = Map::new();
        errors.insert("comment".into(), m.into());
        Reply::field_errors(errors)
    };
    let Some(text) = body.get("body").filter(|b| !b.is_null()) else {
        return Err(comment_error("Comment body can not be empty!"));
    };
    st.check_rich_text(text).map_err(|e| comment_error(&e))?;
    if Inner::plain(text).trim().is_empty() {
        return Err(comment_error("Comment body can not be empty!"));
    }
    let id = st.add_comment(idx, text.clone(), SERVICE_USER);
    let issue = &st.issues[idx];
    let comment = issue
        .comments
        .iter()
        .find(|c| c.id == id)
        .expect("just added");
    Ok(Reply::json(201, st.comment_json(issue, comment, v)))
}
