//! The fake's data as Jira renders it. `v` is the REST API version the
//! representation follows: "3" (Cloud REST), "2" (Data Center REST, and
//! webhooks of both editions, whose issues are in the v2 form).

use serde_json::{Map, Value, json};

use super::state::{Comment, ISSUE_TYPES, Inner, Issue, PRIORITIES, STATUSES};

/// Jira's timestamp format, `2024-01-15T10:30:00.000+0000`, in UTC.
pub fn jira_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("a time in range")
        .format("%Y-%m-%dT%H:%M:%S%.3f%z")
        .to_string()
}

/// Every field the fake knows; `comment` is not navigable.
pub const FIELDS: [&str; 17] = [
    "summary",
    "description",
    "status",
    "priority",
    "issuetype",
    "project",
    "assignee",
    "reporter",
    "creator",
    "duedate",
    "labels",
    "created",
    "updated",
    "resolution",
    "resolutiondate",
    "customfield_10050",
    "comment",
];

/// Which fields a response carries, from a `fields` parameter.
pub struct FieldSel {
    all: bool,
    navigable: bool,
    names: Vec<String>,
    minus: Vec<String>,
}

impl FieldSel {
    /// From the comma-separated values given; `default` when none are.
    pub fn parse(values: &[String], default: &str) -> FieldSel {
        let mut tokens: Vec<String> = values
            .iter()
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect();
        if tokens.is_empty() {
            tokens.push(default.into());
        }
        let mut sel = FieldSel {
            all: false,
            navigable: false,
            names: Vec::new(),
            minus: Vec::new(),
        };
        for t in tokens {
            match t.as_str() {
                "*all" => sel.all = true,
                "*navigable" => sel.navigable = true,
                _ => match t.strip_prefix('-') {
                    Some(minus) => sel.minus.push(minus.into()),
                    None => sel.names.push(t),
                },
            }
        }
        // "-description" alone means all navigable fields but one.
        if sel.names.is_empty() && !sel.all {
            sel.navigable = true;
        }
        sel
    }

    /// Only issue ids (`fields=id`, the default of `/search/jql`).
    pub fn ids_only(&self) -> bool {
        !self.all && !self.navigable && self.names.iter().all(|n| n == "id")
    }

    pub fn includes(&self, field: &str) -> bool {
        let wanted = self.all
            || (self.navigable && field != "comment")
            || self.names.iter().any(|n| n == field);
        wanted && !self.minus.iter().any(|m| m == field)
    }
}

impl Inner {
    pub fn url(&self, v: &str, rest: &str) -> String {
        format!("{}/rest/api/{v}/{rest}", self.base_url)
    }

    fn avatars(&self, seed: &str) -> Value {
        let url = |size: u32| {
            format!(
                "{}/secure/useravatar?size={size}&ownerId={seed}",
                self.base_url
            )
        };
        json!({"48x48": url(48), "24x24": url(24), "16x16": url(16), "32x32": url(32)})
    }

    pub fn user_json(&self, u: usize, v: &str) -> Value {
        let user = &self.users[u];
        let mut out = json!({
            "emailAddress": user.email,
            "avatarUrls": self.avatars(&user.name),
            "displayName": user.display_name,
            "active": true,
            "timeZone": "UTC",
        });
        let extra = if self.cloud() {
            json!({
                "self": self.url(v, &format!("user?accountId={}", user.account_id)),
                "accountId": user.account_id,
                "accountType": "atlassian",
            })
        } else {
            json!({
                "self": self.url(v, &format!("user?username={}", user.name)),
                "name": user.name,
                "key": user.key,
            })
        };
        merge(&mut out, extra);
        out
    }

    pub fn status_json(&self, s: usize, v: &str) -> Value {
        let status = &STATUSES[s];
        let (cat_id, cat_key, cat_name, color) = status.category;
        json!({
            "self": self.url(v, &format!("status/{}", status.id)),
            "description": status.description,
            "iconUrl": format!("{}/images/icons/statuses/generic.png", self.base_url),
            "name": status.name,
            "id": status.id,
            "statusCategory": {
                "self": self.url(v, &format!("statuscategory/{cat_id}")),
                "id": cat_id,
                "key": cat_key,
                "colorName": color,
                "name": cat_name,
            },
        })
    }

    pub fn priority_json(&self, p: usize, v: &str) -> Value {
        let (id, name, _) = PRIORITIES[p];
        json!({
            "self": self.url(v, &format!("priority/{id}")),
            "iconUrl": format!("{}/images/icons/priorities/{}.svg", self.base_url, name.to_lowercase()),
            "name": name,
            "id": id,
        })
    }

    pub fn issuetype_json(&self, t: usize, v: &str) -> Value {
        let (id, name, description) = ISSUE_TYPES[t];
        json!({
            "self": self.url(v, &format!("issuetype/{id}")),
            "id": id,
            "description": description,
            "iconUrl": format!("{}/images/icons/issuetypes/{}.svg", self.base_url, name.to_lowercase()),
            "name": name,
            "subtask": false,
            "avatarId": 10318,
            "hierarchyLevel": 0,
        })
    }

    pub fn project_json(&self, p: usize, v: &str) -> Value {
        let project = &self.projects[p];
        json!({
            "self": self.url(v, &format!("project/{}", project.id)),
            "id": project.id,
            "key": project.key,
            "name": project.name,
            "projectTypeKey": "software",
            "simplified": false,
            "avatarUrls": self.avatars(&project.key),
        })
    }

    /// A rich-text value for version `v`: v2 has no documents, only text.
    pub fn rich_json(&self, value: &Value, v: &str) -> Value {
        match value {
            Value::Object(_) if v == "2" => Value::String(Self::plain(value)),
            other => other.clone(),
        }
    }

    pub fn comment_json(&self, issue: &Issue, c: &Comment, v: &str) -> Value {
        let mut out = json!({
            "self": self.url(v, &format!("issue/{}/comment/{}", issue.id, c.id)),
            "id": c.id.to_string(),
            "author": self.user_json(c.author, v),
            "body": self.rich_json(&c.body, v),
            "updateAuthor": self.user_json(c.author, v),
            "created": jira_time(c.created),
            "updated": jira_time(c.updated),
        });
        if self.cloud() {
            out["jsdPublic"] = true.into();
        }
        out
    }

    pub fn comments_page(&self, issue: &Issue, start: usize, max: usize, v: &str) -> Value {
        let page: Vec<Value> = issue
            .comments
            .iter()
            .skip(start)
            .take(max)
            .map(|c| self.comment_json(issue, c, v))
            .collect();
        json!({
            "comments": page,
            "self": self.url(v, &format!("issue/{}/comment", issue.id)),
            "maxResults": max,
            "total": issue.comments.len(),
            "startAt": start,
        })
    }

    pub fn field_json(&self, issue: &Issue, field: &str, v: &str) -> Value {
        let user = |u: Option<usize>| u.map_or(Value::Null, |u| self.user_json(u, v));
        let done = issue.resolutiondate.is_some();
        match field {
            "summary" => issue.summary.clone().into(),
            "description" => issue
                .description
                .as_ref()
                .map_or(Value::Null, |d| self.rich_json(d, v)),
            "status" => self.status_json(issue.status, v),
            "priority" => self.priority_json(issue.priority, v),
            "issuetype" => self.issuetype_json(issue.issuetype, v),
            "project" => self.project_json(issue.project, v),
            "assignee" => user(issue.assignee),
            "reporter" => user(issue.reporter),
            "creator" => user(Some(issue.creator)),
            "duedate" => issue.duedate.clone().into(),
            "labels" => issue.labels.clone().into(),
            "created" => jira_time(issue.created).into(),
            "updated" => jira_time(issue.updated).into(),
            "resolution" if done => json!({
                "self": self.url(v, "resolution/10000"),
                "id": "10000",
                "description": "Work has been completed on this issue.",
                "name": "Done",
            }),
            "resolutiondate" if done => issue.resolutiondate.map(jira_time).into(),
            "comment" => self.comments_page(issue, 0, 5000, v),
            custom if custom.starts_with("customfield_") => issue
                .custom
                .get(custom)
                .map_or(Value::Null, |s| s.clone().into()),
            _ => Value::Null,
        }
    }

    /// An issue as GET issue and search render it.
    pub fn issue_json(&self, idx: usize, sel: &FieldSel, v: &str) -> Value {
        let issue = &self.issues[idx];
        let mut fields = Map::new();
        for field in FIELDS.iter().filter(|f| sel.includes(f)) {
            fields.insert((*field).into(), self.field_json(issue, field, v));
        }
        json!({
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": issue.id.to_string(),
            "self": self.url(v, &format!("issue/{}", issue.id)),
            "key": issue.key,
            "fields": fields,
        })
    }
}

/// Adds the members of `extra` to the object `out`.
pub fn merge(out: &mut Value, extra: Value) {
    if let (Value::Object(out), Value::Object(extra)) = (out, extra) {
        out.extend(extra);
    }
}
