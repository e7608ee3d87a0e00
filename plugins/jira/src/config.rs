//! The connector's configuration, its JSON Schema (the host turns it into
//! the setup form and the wizard's steps), and the mappings between work
//! order values and Jira's.

use cube_connector_sdk::prelude::*;
use serde::Deserialize;
use serde_json::Value;

pub use cube_connector_sdk::mapping::ValueMap;

/// Which Jira: the REST API version, the authentication and the body
/// format all follow from it.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum Edition {
    /// Jira Cloud: REST API v3, e-mail and API token as basic auth,
    /// Atlassian Document Format bodies, token-paged `/search/jql`.
    #[default]
    #[serde(rename = "cloud")]
    Cloud,
    /// Jira Data Center / Server: REST API v2, a personal access token as
    /// bearer, plain-text bodies, `startAt`-paged `/search`.
    #[serde(rename = "data-center")]
    DataCenter,
}

impl Edition {
    pub fn name(self) -> &'static str {
        match self {
            Edition::Cloud => "Jira Cloud",
            Edition::DataCenter => "Jira Data Center",
        }
    }
}

fn yes() -> bool {
    true
}

fn default_issue_type() -> String {
    "Task".into()
}

#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    pub base_url: String,
    #[serde(default)]
    pub edition: Edition,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub api_token: String,
    #[serde(default)]
    pub project_key: String,
    #[serde(default = "default_issue_type")]
    pub issue_type: String,
    #[serde(default)]
    pub jql_filter: String,
    #[serde(default = "yes")]
    pub sync_comments: bool,
    #[serde(default)]
    pub status_map: Option<String>,
    #[serde(default)]
    pub priority_map: Option<String>,
    #[serde(default)]
    pub field_map: String,
}

pub const DEFAULT_STATUS_MAP: &str = "open = To Do\nin_progress = In Progress\ndone = Done";
pub const DEFAULT_PRIORITY_MAP: &str = "urgent = Highest\nhigh = High\nnormal = Medium\nlow = Low";

/// Jira fields a mapping may read but a push never writes (they take
/// account ids).
pub const READ_ONLY: [&str; 2] = ["assignee", "reporter"];

/// The work order fields a field mapping may name.
pub const MAPPABLE: [&str; 5] = ["title", "description", "assignee", "requester", "due_at"];

impl Config {
    /// The site's address without a trailing slash.
    pub fn site(&self) -> Result<&str> {
        cube_connector_sdk::config::base_url(&self.base_url, |url| {
            format!(
                "the Jira URL `{url}` is not an http(s) address; use the address you open Jira at, like https://acme.atlassian.net"
            )
        })
    }

    pub fn project(&self) -> Result<&str> {
        cube_connector_sdk::config::required(&self.project_key, "no project key is configured")
    }

    pub fn statuses(&self) -> Result<ValueMap> {
        ValueMap::parse(
            "status mapping",
            self.status_map.as_deref().unwrap_or(DEFAULT_STATUS_MAP),
        )
    }

    pub fn priorities(&self) -> Result<ValueMap> {
        ValueMap::parse(
            "priority mapping",
            self.priority_map.as_deref().unwrap_or(DEFAULT_PRIORITY_MAP),
        )
    }

    /// Work order field to Jira field id, with the defaults for the title,
    /// description and due date unless overridden.
    pub fn fields(&self) -> Result<Vec<(String, String)>> {
        let mut out: Vec<(String, String)> = vec![
            ("title".into(), "summary".into()),
            ("description".into(), "description".into()),
            ("due_at".into(), "duedate".into()),
        ];
        for (ours, theirs) in ValueMap::parse("field mapping", &self.field_map)?.pairs {
            if !MAPPABLE.contains(&ours.as_str()) {
                return Err(Error::config(format!(
                    "the field mapping names `{ours}`, which is not a work order field; use one of {}",
                    MAPPABLE.join(", ")
                )));
            }
            out.retain(|(o, _)| *o != ours);
            out.push((ours, theirs));
        }
        Ok(out)
    }
}

/// The configuration schema: wizard steps Site, Credentials (checked with
/// `/myself`), Project (chosen from Jira's lists, then checked), Workflow
/// (mapped against the project's real statuses and priorities, checked).
pub fn schema() -> Value {
    json!({
        "type": "object",
        "required": ["base_url", "api_token", "project_key", "issue_type"],
        "x-cube-checks": ["Credentials", "Project", "Workflow"],
        "x-cube-webhook": {
            "scheme": "hub-sha256",
            "help": "In Jira, open Settings, System, WebHooks, Create a WebHook: paste the URL and the secret below, pick the events Issue created, updated and deleted and Comment created, updated and deleted, and limit it with the JQL `project = YOUR-KEY`."
        },
        "properties": {
            "base_url": {
                "type": "string", "format": "uri", "title": "Jira URL",
                "description": "The address you open Jira at: https://acme.atlassian.net for Jira Cloud, your server's address for Data Center.",
                "x-cube-step": "Site"
            },
            "edition": {
                "enum": ["cloud", "data-center"], "default": "cloud", "title": "Edition",
                "description": "cloud: Jira Cloud (REST API v3). data-center: Jira Data Center or Server (REST API v2).",
                "x-cube-step": "Site"
            },
            "email": {
                "type": "string", "format": "email", "title": "Account e-mail",
                "description": "Jira Cloud only: the e-mail of the account the API token belongs to.",
                "x-cube-step": "Credentials"
            },
            "api_token": {
                "type": "string", "writeOnly": true, "title": "API token",
                "description": "Jira Cloud: an API token (id.atlassian.com, Security, API tokens). Data Center: a personal access token (Profile, Personal Access Tokens).",
                "x-cube-step": "Credentials"
            },
            "project_key": {
                "type": "string", "pattern": "^[A-Z][A-Z0-9_]{0,254}$", "title": "Project",
                "description": "The project whose issues are work orders.",
                "x-cube-choices": true, "x-cube-step": "Project"
            },
            "issue_type": {
                "type": "string", "default": "Task", "title": "Issue type",
                "description": "The type of the issues created for new work orders.",
                "x-cube-choices": true, "x-cube-step": "Project"
            },
            "jql_filter": {
                "type": "string", "title": "JQL filter",
                "description": "Optional: only issues that also match this JQL, like labels = facilities.",
                "x-cube-step": "Project"
            },
            "sync_comments": {
                "type": "boolean", "default": true, "title": "Sync comments",
                "description": "Comments go both ways: new work order comments are added to the issue, Jira comments appear on the work order.",
                "x-cube-step": "Project"
            },
            "status_map": {
                "type": "string", "x-cube-multiline": true, "default": DEFAULT_STATUS_MAP,
                "title": "Status mapping",
                "description": "One per line: work order status = Jira status. A status change in CUBE moves the issue through the workflow's transitions. Jira statuses not listed map by their category (to do: open, in progress: in_progress, done: done).",
                "x-cube-choices": true, "x-cube-step": "Workflow"
            },
            "priority_map": {
                "type": "string", "x-cube-multiline": true, "default": DEFAULT_PRIORITY_MAP,
                "title": "Priority mapping",
                "description": "One per line: work order priority = Jira priority.",
                "x-cube-choices": true, "x-cube-step": "Workflow"
            },
            "field_map": {
                "type": "string", "x-cube-multiline": true, "title": "Other fields",
                "description": "Optional, one per line: work order field = Jira field id, for example requester = customfield_10050. Title, description and due date go to summary, description and due date unless listed; assignee and requester are not synced unless listed. assignee = assignee and requester = reporter read Jira's people (their names) without writing them. Fields: title, description, assignee, requester, due_at.",
                "x-cube-step": "Workflow"
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_read_both_ways_and_name_bad_lines() {
        let map = ValueMap::parse(
            "status mapping",
            "open = To Do\n# note\n\ndone=Done # closed\nclosed = Done",
        )
        .unwrap();
        assert_eq!(map.theirs("OPEN"), Some("To Do"));
        assert_eq!(map.ours("done"), Some("done"));
        assert_eq!(map.theirs("unknown"), None);
        let error = ValueMap::parse("status mapping", "open To Do").unwrap_err();
        assert!(error.message().contains("line 1"), "{}", error.message());
        assert!(ValueMap::parse("x", "open =").is_err());
    }

    #[test]
    fn field_mapping_overrides_defaults_and_refuses_unknown_fields() {
        let mut config: Config = serde_json::from_value(json!({
            "base_url": "https://acme.atlassian.net/",
            "field_map": "requester = customfield_10050\ntitle = customfield_1"
        }))
        .unwrap();
        let fields = config.fields().unwrap();
        assert!(fields.contains(&("requester".into(), "customfield_10050".into())));
        assert!(fields.contains(&("title".into(), "customfield_1".into())));
        assert!(!fields.contains(&("title".into(), "summary".into())));
        assert_eq!(config.site().unwrap(), "https://acme.atlassian.net");
        config.field_map = "colour = customfield_2".into();
        assert!(config.fields().unwrap_err().message().contains("colour"));
    }
}
