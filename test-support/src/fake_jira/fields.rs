//! The rules Jira applies when fields are set: on create, on edit (`fields`
//! and `update`), on a transition; and the changelog they leave.

use serde_json::{Map, Value};

use super::adf;
use super::state::{
    CUSTOM_FIELDS, Change, ChangeItem, Comment, DEFAULT_PRIORITY, DONE, ISSUE_TYPES, Inner, Issue,
    PRIORITIES, STATUSES,
};

pub type Errors = Map<String, Value>;

fn cannot_set(name: &str) -> String {
    format!("Field '{name}' cannot be set. It is not on the appropriate screen, or unknown.")
}

impl Inner {
    fn user_ref(&self, value: &Value) -> Result<Option<usize>, String> {
        if value.is_null() {
            return Ok(None);
        }
        let wanted = if self.cloud() {
            value["accountId"].as_str().or(value["id"].as_str())
        } else {
            value["name"].as_str().or(value["key"].as_str())
        };
        let Some(wanted) = wanted else {
            return Err(if self.cloud() {
                "Specify the user by accountId".into()
            } else {
                "Specify the user by name".into()
            });
        };
        self.users
            .iter()
            .position(|u| u.account_id == wanted || u.name == wanted || u.key == wanted)
            .map(Some)
            .ok_or_else(|| format!("User '{wanted}' does not exist."))
    }

    /// Sets one field of `draft` the way Jira's field `name` takes `value`.
    fn set_field(
        &self,
        draft: &mut Issue,
        name: &str,
        value: &Value,
        creating: bool,
    ) -> Result<(), String> {
        let by_id_or_name = |table: &[(&str, &str)], what: &str| -> Result<usize, String> {
            if let Some(id) = value["id"].as_str() {
                table
                    .iter()
                    .position(|(i, _)| *i == id)
                    .ok_or_else(|| format!("{what} with id '{id}' does not exist"))
            } else if let Some(n) = value["name"].as_str() {
                table
                    .iter()
                    .position(|(_, x)| x.eq_ignore_ascii_case(n))
                    .ok_or_else(|| format!("{what} name '{n}' is not valid"))
            } else {
                Err(format!(
                    "Specify the {what} (id or name) in the string format"
                ))
            }
        };
        match name {
            "summary" => {
                let s = value.as_str().ok_or("Operation value must be a string")?;
                if s.trim().is_empty() {
                    return Err("You must specify a summary of the issue.".into());
                }
                if s.chars().count() > 255 {
                    return Err("Summary must be less than 255 characters.".into());
                }
                draft.summary = s.into();
            }
            "description" => {
                if !value.is_null() {
                    self.check_rich_text(value)?;
                }
                draft.description = Some(value.clone()).filter(|v| !v.is_null());
            }
            "priority" => {
                let table: Vec<_> = PRIORITIES.iter().map(|(i, n, _)| (*i, *n)).collect();
                draft.priority = by_id_or_name(&table, "Priority")?;
            }
            "issuetype" => {
                let table: Vec<_> = ISSUE_TYPES.iter().map(|(i, n, _)| (*i, *n)).collect();
                draft.issuetype = by_id_or_name(&table, "issue type")
                    .map_err(|_| "The issue type selected is invalid.".to_owned())?;
            }
            "project" if creating => {
                let wanted = value["id"].as_str().or(value["key"].as_str());
                draft.project = wanted
                    .and_then(|w| self.find_project(w))
                    .ok_or("Specify a valid project ID or key")?;
            }
            "assignee" => draft.assignee = self.user_ref(value)?,
            "reporter" => draft.reporter = self.user_ref(value)?,
            "duedate" => {
                draft.duedate = match value {
                    Value::Null => None,
                    Value::String(s)
                        if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() =>
                    {
                        Some(s.clone())
                    }
                    other => return Err(format!("Error parsing date string: {other}")),
                }
            }
            "labels" => {
                let mut labels = Vec::new();
                for label in value.as_array().ok_or("Operation value must be an array")? {
                    let label = label.as_str().ok_or("Operation value must be a string")?;
                    if label.is_empty() || label.contains(char::is_whitespace) {
                        return Err(format!(
                            "The label '{label}' contains spaces which is invalid."
                        ));
                    }
                    labels.push(label.to_owned());
                }
                draft.labels = labels;
            }
            _ => {
                let Some(&(id, _)) = CUSTOM_FIELDS.iter().find(|(id, _)| *id == name) else {
                    return Err(cannot_set(name));
                };
                match value {
                    Value::Null => {
                        draft.custom.remove(id);
                    }
                    Value::String(s) if s.chars().count() <= 255 => {
                        draft.custom.insert(id, s.clone());
                    }
                    Value::String(_) => return Err("The entered text is too long.".into()),
                    _ => return Err("Operation value must be a string".into()),
                }
            }
        }
        Ok(())
    }

    /// Applies an `update` entry: a list of `set`/`add`/`remove` operations.
    fn update_field(&self, draft: &mut Issue, name: &str, ops: &Value) -> Result<(), String> {
        for op in ops.as_array().ok_or("Operations must be a list")? {
            let Some((verb, value)) = op.as_object().and_then(|o| o.iter().next()) else {
                return Err("An operation must name set, add or remove".into());
            };
            match (verb.as_str(), name) {
                ("set", _) => self.set_field(draft, name, value, false)?,
                ("add" | "remove", "labels") => {
                    let label = value.as_str().ok_or("Operation value must be a string")?;
                    let mut labels = draft.labels.clone();
                    labels.retain(|l| l != label);
                    if verb == "add" {
                        labels.push(label.into());
                    }
                    self.set_field(draft, "labels", &Value::from(labels), false)?;
                }
                _ => {
                    return Err(format!(
                        "Operation '{verb}' is not supported on field '{name}'"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Applies `fields` and `update` to a copy of issue `idx`; on success
    /// stores it, with a changelog entry and a new `updated` when anything
    /// changed. Returns whether anything did.
    pub fn edit(
        &mut self,
        idx: usize,
        fields: Option<&Map<String, Value>>,
        update: Option<&Map<String, Value>>,
        actor: usize,
    ) -> Result<bool, Errors> {
        let mut draft = self.issues[idx].clone();
        let mut errors = Errors::new();
        for (name, value) in fields.into_iter().flatten() {
            if let Err(e) = self.set_field(&mut draft, name, value, false) {
                errors.insert(name.clone(), e.into());
            }
        }
        for (name, ops) in update.into_iter().flatten() {
            if fields.is_some_and(|f| f.contains_key(name)) {
                errors.insert(
                    name.clone(),
                    "Field cannot be in both fields and update".into(),
                );
            } else if let Err(e) = self.update_field(&mut draft, name, ops) {
                errors.insert(name.clone(), e.into());
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let items = self.diff(&self.issues[idx], &draft);
        if items.is_empty() {
            return Ok(false);
        }
        self.commit_change(idx, draft, items, actor);
        Ok(true)
    }

    fn commit_change(
        &mut self,
        idx: usize,
        mut draft: Issue,
        items: Vec<ChangeItem>,
        actor: usize,
    ) {
        let now = self.tick();
        draft.updated = now;
        draft.changes.push(Change {
            id: self.next_change,
            author: actor,
            items,
        });
        self.next_change += 1;
        self.issues[idx] = draft;
    }

    /// Creates an issue from `fields` (and `update`); Jira insists on a
    /// project, a summary and an issue type even though the description
    /// does not. Returns its index.
    pub fn create(
        &mut self,
        fields: &Map<String, Value>,
        update: Option<&Map<String, Value>>,
        actor: usize,
    ) -> Result<usize, Errors> {
        let mut errors = Errors::new();
        for (name, message) in [
            ("project", "Specify a valid project ID or key"),
            ("summary", "You must specify a summary of the issue."),
            ("issuetype", "Specify an issue type"),
        ] {
            if !fields.contains_key(name) {
                errors.insert(name.into(), message.into());
            }
        }
        let now = self.now + 1000;
        let mut draft = Issue {
            id: 10000 + self.issues.len() as u64,
            key: String::new(),
            project: 0,
            summary: String::new(),
            description: None,
            status: 0,
            priority: DEFAULT_PRIORITY,
            issuetype: 0,
            assignee: None,
            reporter: Some(actor),
            creator: actor,
            duedate: None,
            labels: Vec::new(),
            custom: Default::default(),
            created: now,
            updated: now,
            resolutiondate: None,
            comments: Vec::new(),
            changes: Vec::new(),
            deleted_by: None,
        };
        for (name, value) in fields {
            if let Err(e) = self.set_field(&mut draft, name, value, true) {
                errors.entry(name.clone()).or_insert(e.into());
            }
        }
        for (name, ops) in update.into_iter().flatten() {
            if let Err(e) = self.update_field(&mut draft, name, ops) {
                errors.insert(name.clone(), e.into());
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        self.tick();
        let project = &mut self.projects[draft.project];
        draft.key = format!("{}-{}", project.key, project.next_number);
        project.next_number += 1;
        self.issues.push(draft);
        Ok(self.issues.len() - 1)
    }

    /// Moves issue `idx` along the global transition `transition_id`.
    pub fn transition(
        &mut self,
        idx: usize,
        transition_id: &str,
        fields: Option<&Map<String, Value>>,
        actor: usize,
    ) -> Result<(), Result<String, Errors>> {
        let current = self.issues[idx].status;
        let Some(target) = STATUSES
            .iter()
            .position(|s| s.transition == transition_id)
            .filter(|&t| t != current)
        else {
            return Err(Ok(format!(
                "Transition id '{transition_id}' is not valid for this issue."
            )));
        };
        let mut draft = self.issues[idx].clone();
        let mut errors = Errors::new();
        for (name, value) in fields.into_iter().flatten() {
            if let Err(e) = self.set_field(&mut draft, name, value, false) {
                errors.insert(name.clone(), e.into());
            }
        }
        if !errors.is_empty() {
            return Err(Err(errors));
        }
        let mut items = self.diff(&self.issues[idx], &draft);
        items.push(ChangeItem {
            field: "status",
            from: Some(STATUSES[current].id.into()),
            from_string: Some(STATUSES[current].name.into()),
            to: Some(STATUSES[target].id.into()),
            to_string: Some(STATUSES[target].name.into()),
        });
        let done = (Some("10000".to_owned()), Some("Done".to_owned()));
        if target == DONE {
            draft.resolutiondate = Some(self.now + 1000);
            items.push(ChangeItem {
                field: "resolution",
                from: None,
                from_string: None,
                to: done.0,
                to_string: done.1,
            });
        } else if current == DONE {
            draft.resolutiondate = None;
            items.push(ChangeItem {
                field: "resolution",
                from: done.0,
                from_string: done.1,
                to: None,
                to_string: None,
            });
        }
        draft.status = target;
        self.commit_change(idx, draft, items, actor);
        Ok(())
    }

    /// Adds a comment (body in the edition's form); a comment moves the
    /// issue's `updated` on, as in Jira.
    pub fn add_comment(&mut self, idx: usize, body: Value, author: usize) -> u64 {
        let now = self.tick();
        let id = self.next_comment;
        self.next_comment += 1;
        let issue = &mut self.issues[idx];
        issue.comments.push(Comment {
            id,
            author,
            body,
            created: now,
            updated: now,
        });
        issue.updated = now;
        id
    }

    pub fn delete(&mut self, idx: usize, actor: usize) {
        self.tick();
        self.issues[idx].deleted_by = Some(actor);
    }

    /// Plain text of a rich-text value in either form.
    pub fn plain(value: &Value) -> String {
        match value {
            Value::String(s) => s.clone(),
            other => adf::to_text(other),
        }
    }

    /// The changelog items between `old` and `new`.
    fn diff(&self, old: &Issue, new: &Issue) -> Vec<ChangeItem> {
        type Pair = (Option<String>, Option<String>);
        let item = |field, (from, from_string): Pair, (to, to_string): Pair| ChangeItem {
            field,
            from,
            from_string,
            to,
            to_string,
        };
        let text = |d: &Option<Value>| (None, d.as_ref().map(Self::plain));
        let priority = |p: usize| {
            let (id, name, _) = PRIORITIES[p];
            (Some(id.to_owned()), Some(name.to_owned()))
        };
        let issuetype = |t: usize| {
            let (id, name, _) = ISSUE_TYPES[t];
            (Some(id.to_owned()), Some(name.to_owned()))
        };
        let who = |u: Option<usize>| match u {
            None => (None, None),
            Some(u) => {
                let user = &self.users[u];
                let id = if self.cloud() {
                    &user.account_id
                } else {
                    &user.name
                };
                (Some(id.clone()), Some(user.display_name.clone()))
            }
        };
        let due = |d: &Option<String>| (d.clone(), d.as_ref().map(|d| format!("{d} 00:00:00.0")));
        let labels = |l: &[String]| (None, Some(l.join(" ")));
        let mut items = vec![
            item(
                "summary",
                (None, Some(old.summary.clone())),
                (None, Some(new.summary.clone())),
            ),
            item(
                "description",
                text(&old.description),
                text(&new.description),
            ),
            item("priority", priority(old.priority), priority(new.priority)),
            item(
                "issuetype",
                issuetype(old.issuetype),
                issuetype(new.issuetype),
            ),
            item("assignee", who(old.assignee), who(new.assignee)),
            item("reporter", who(old.reporter), who(new.reporter)),
            item("duedate", due(&old.duedate), due(&new.duedate)),
            item("labels", labels(&old.labels), labels(&new.labels)),
        ];
        for (id, _) in CUSTOM_FIELDS {
            let value = |i: &Issue| (None, i.custom.get(id).cloned());
            items.push(item(id, value(old), value(new)));
        }
        // A document whose text stays the same may still have changed.
        let description_changed = old.description != new.description;
        items.retain(|i| match i.field {
            "description" => description_changed,
            _ => i.from != i.to || i.from_string != i.to_string,
        });
        items
    }
}
