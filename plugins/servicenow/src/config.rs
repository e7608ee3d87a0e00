//! The connector's configuration, its JSON Schema (the host turns it into
//! the setup form and the wizard's steps), and the mappings between work
//! order values and ServiceNow's incident states and priorities.

use cube_connector_sdk::prelude::*;
use serde::Deserialize;
use serde_json::Value;

/// How the connector signs in.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum Auth {
    /// HTTP basic authentication with a user name and password.
    #[default]
    #[serde(rename = "basic")]
    Basic,
    /// OAuth 2.0, password grant (`POST /oauth_token.do`), then a bearer token.
    #[serde(rename = "oauth2")]
    OAuth2,
}

/// The journal field comments are written to and read from.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum CommentField {
    /// Additional comments: visible to the caller.
    #[default]
    #[serde(rename = "comments")]
    Comments,
    /// Work notes: internal to the fulfillers.
    #[serde(rename = "work_notes")]
    WorkNotes,
}

impl CommentField {
    pub fn name(self) -> &'static str {
        match self {
            CommentField::Comments => "comments",
            CommentField::WorkNotes => "work_notes",
        }
    }
}

/// How a work order's priority is written.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum PriorityWrite {
    /// Impact and urgency, from which ServiceNow's priority lookup rules
    /// compute the priority (the default instance).
    #[default]
    #[serde(rename = "impact_urgency")]
    ImpactUrgency,
    /// The priority field itself (instances where it is writable).
    #[serde(rename = "priority")]
    Priority,
}

fn yes() -> bool {
    true
}

fn default_close_code() -> String {
    DEFAULT_CLOSE_CODE.into()
}

fn default_close_notes() -> String {
    DEFAULT_CLOSE_NOTES.into()
}

fn default_hold_reason() -> String {
    "1".into()
}

#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    pub instance_url: String,
    #[serde(default)]
    pub auth: Auth,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub client_secret: String,
    #[serde(default)]
    pub assignment_group: String,
    #[serde(default)]
    pub query_filter: String,
    #[serde(default = "yes")]
    pub sync_comments: bool,
    #[serde(default)]
    pub comment_field: CommentField,
    #[serde(default)]
    pub status_map: Option<String>,
    #[serde(default)]
    pub priority_map: Option<String>,
    #[serde(default)]
    pub priority_write: PriorityWrite,
    #[serde(default = "default_close_code")]
    pub close_code: String,
    #[serde(default = "default_close_notes")]
    pub close_notes: String,
    #[serde(default = "default_hold_reason")]
    pub hold_reason: String,
}

pub const DEFAULT_STATUS_MAP: &str = "open = 1\nin_progress = 2\non_hold = 3\ndone = 6";
pub const DEFAULT_PRIORITY_MAP: &str = "urgent = 1\nhigh = 2\nnormal = 3\nlow = 4";
pub const DEFAULT_CLOSE_CODE: &str = "Solution provided";
pub const DEFAULT_CLOSE_NOTES: &str = "Resolved in CUBE.";

/// Incident states (the `state` choice values of the base system).
pub const STATES: [(&str, &str); 6] = [
    ("1", "New"),
    ("2", "In Progress"),
    ("3", "On Hold"),
    ("6", "Resolved"),
    ("7", "Closed"),
    ("8", "Canceled"),
];

/// States that need the resolution code and notes.
pub const CLOSING_STATES: [&str; 2] = ["6", "7"];
/// The state that needs an on-hold reason.
pub const ON_HOLD: &str = "3";

/// Our status for a state the mapping does not name.
pub fn default_status(state: &str) -> Option<&'static str> {
    Some(match state {
        "1" => "open",
        "2" => "in_progress",
        "3" => "on_hold",
        "6" => "done",
        "7" => "closed",
        "8" => "canceled",
        _ => return None,
    })
}

/// Our priority for a ServiceNow priority the mapping does not name.
pub fn default_priority(priority: &str) -> Option<&'static str> {
    Some(match priority {
        "1" => "urgent",
        "2" => "high",
        "3" => "normal",
        "4" => "low",
        "5" => "planning",
        _ => return None,
    })
}

/// The impact and urgency that give a priority under the base system's
/// priority lookup rules.
pub fn impact_urgency(priority: &str) -> Option<(&'static str, &'static str)> {
    Some(match priority {
        "1" => ("1", "1"),
        "2" => ("1", "2"),
        "3" => ("2", "2"),
        "4" => ("2", "3"),
        "5" => ("3", "3"),
        _ => return None,
    })
}

impl Config {
    /// The instance's address without a trailing slash.
    pub fn instance(&self) -> Result<&str> {
        cube_connector_sdk::config::base_url(&self.instance_url, |url| {
            format!(
                "the instance URL `{url}` is not an http(s) address; use the address you open ServiceNow at, like https://acme.service-now.com"
            )
        })
    }

    pub fn statuses(&self) -> Result<ValueMap> {
        let map = ValueMap::parse(
            "state mapping",
            self.status_map.as_deref().unwrap_or(DEFAULT_STATUS_MAP),
        )?;
        for theirs in map.all_theirs() {
            if !STATES.iter().any(|(n, _)| *n == theirs) {
                return Err(Error::config(format!(
                    "the state mapping names `{theirs}`, which is not an incident state number; use {}",
                    STATES
                        .iter()
                        .map(|(n, name)| format!("{n} ({name})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        Ok(map)
    }

    pub fn priorities(&self) -> Result<ValueMap> {
        let map = ValueMap::parse(
            "priority mapping",
            self.priority_map.as_deref().unwrap_or(DEFAULT_PRIORITY_MAP),
        )?;
        for theirs in map.all_theirs() {
            if impact_urgency(theirs).is_none() {
                return Err(Error::config(format!(
                    "the priority mapping names `{theirs}`; ServiceNow priorities are 1 (Critical) to 5 (Planning)"
                )));
            }
        }
        Ok(map)
    }

    /// The admin's extra encoded query, checked for what would break the
    /// connector's own conditions and ordering.
    pub fn filter(&self) -> Result<Option<&str>> {
        let filter = self.query_filter.trim().trim_matches('^');
        if filter.is_empty() {
            return Ok(None);
        }
        if filter.contains("^NQ") || filter.contains("ORDERBY") {
            return Err(Error::config(format!(
                "the query filter `{filter}` may not use ^NQ or ORDERBY: the connector adds its own conditions and ordering"
            )));
        }
        Ok(Some(filter))
    }
}

pub use cube_connector_sdk::mapping::ValueMap;

/// The configuration schema: wizard steps Instance, Credentials (checked:
/// signs in and reads an incident), Incidents (the group chosen from
/// ServiceNow's list, the filter checked), Mapping.
pub fn schema() -> Value {
    json!({
        "type": "object",
        "required": ["instance_url", "auth", "username", "password"],
        "x-cube-checks": ["Credentials", "Incidents"],
        "properties": {
            "instance_url": {
                "type": "string", "format": "uri", "title": "Instance URL",
                "description": "The address you open ServiceNow at, like https://acme.service-now.com.",
                "x-cube-step": "Instance"
            },
            "auth": {
                "enum": ["basic", "oauth2"], "default": "basic", "title": "Authentication",
                "description": "basic: the user name and password of an integration user. oauth2: an OAuth application (System OAuth, Application Registry) with the password grant, plus that user's name and password.",
                "x-cube-step": "Instance"
            },
            "username": {
                "type": "string", "title": "User name",
                "description": "The integration user (user ID). It needs the itil role to read and write incidents.",
                "x-cube-step": "Credentials"
            },
            "password": {
                "type": "string", "writeOnly": true, "title": "Password",
                "description": "The user's password.",
                "x-cube-step": "Credentials"
            },
            "client_id": {
                "type": "string", "title": "OAuth client ID",
                "description": "OAuth only: the client ID of the application registry entry.",
                "x-cube-step": "Credentials"
            },
            "client_secret": {
                "type": "string", "writeOnly": true, "title": "OAuth client secret",
                "description": "OAuth only: the client secret of the application registry entry.",
                "x-cube-step": "Credentials"
            },
            "assignment_group": {
                "type": "string", "title": "Assignment group",
                "description": "Optional: only incidents of this group (its sys_id) are synced, and new incidents are assigned to it.",
                "x-cube-choices": true, "x-cube-step": "Incidents"
            },
            "query_filter": {
                "type": "string", "title": "Query filter",
                "description": "Optional: an encoded query the incidents must also match, like active=true^category=hardware (copy it from a list filter: right-click the breadcrumb, Copy query).",
                "x-cube-step": "Incidents"
            },
            "sync_comments": {
                "type": "boolean", "default": true, "title": "Sync comments",
                "description": "Comments go both ways: work order comments are added to the incident's journal, the incident's journal entries appear on the work order.",
                "x-cube-step": "Incidents"
            },
            "comment_field": {
                "enum": ["comments", "work_notes"], "default": "comments", "title": "Journal field",
                "description": "comments: Additional comments (the caller sees them). work_notes: Work notes (internal).",
                "x-cube-step": "Incidents"
            },
            "status_map": {
                "type": "string", "x-cube-multiline": true, "default": DEFAULT_STATUS_MAP,
                "title": "State mapping",
                "description": "One per line: work order status = incident state number (1 New, 2 In Progress, 3 On Hold, 6 Resolved, 7 Closed, 8 Canceled). States not listed arrive as open, in_progress, on_hold, done, closed, canceled.",
                "x-cube-step": "Mapping"
            },
            "priority_map": {
                "type": "string", "x-cube-multiline": true, "default": DEFAULT_PRIORITY_MAP,
                "title": "Priority mapping",
                "description": "One per line: work order priority = incident priority (1 Critical to 5 Planning).",
                "x-cube-step": "Mapping"
            },
            "priority_write": {
                "enum": ["impact_urgency", "priority"], "default": "impact_urgency", "title": "Write priority as",
                "description": "impact_urgency: set impact and urgency, and ServiceNow's priority lookup computes the priority (the base system). priority: set the priority field itself.",
                "x-cube-step": "Mapping"
            },
            "close_code": {
                "type": "string", "default": DEFAULT_CLOSE_CODE, "title": "Resolution code",
                "description": "Written as close_code when a work order moves the incident to Resolved or Closed; it must be one of the instance's resolution codes.",
                "x-cube-step": "Mapping"
            },
            "close_notes": {
                "type": "string", "default": DEFAULT_CLOSE_NOTES, "title": "Resolution notes",
                "description": "Written as close_notes with the resolution code.",
                "x-cube-step": "Mapping"
            },
            "hold_reason": {
                "type": "string", "default": "1", "title": "On hold reason",
                "description": "Written as hold_reason when a work order puts the incident On Hold (1 Awaiting Caller, 3 Awaiting Problem, 4 Awaiting Vendor, 5 Awaiting Change).",
                "x-cube-step": "Mapping"
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: Value) -> Config {
        let mut base = json!({"instance_url": "https://acme.service-now.com/", "username": "cube", "password": "pw"});
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn defaults_map_states_and_priorities() {
        let config = config(json!({}));
        assert_eq!(config.instance().unwrap(), "https://acme.service-now.com");
        let states = config.statuses().unwrap();
        assert_eq!(states.theirs("done"), Some("6"));
        assert_eq!(states.ours("3"), Some("on_hold"));
        assert_eq!(config.priorities().unwrap().theirs("urgent"), Some("1"));
        assert_eq!(config.close_code, DEFAULT_CLOSE_CODE);
        assert!(config.sync_comments);
    }

    #[test]
    fn bad_mappings_and_filters_are_named() {
        let bad = config(json!({"status_map": "open = New"}));
        assert!(bad.statuses().unwrap_err().message().contains("`New`"));
        let bad = config(json!({"priority_map": "urgent = 9"}));
        assert!(
            bad.priorities()
                .unwrap_err()
                .message()
                .contains("1 (Critical)")
        );
        let bad = config(json!({"query_filter": "active=true^ORDERBYnumber"}));
        assert!(bad.filter().is_err());
        let good = config(json!({"query_filter": "^active=true^"}));
        assert_eq!(good.filter().unwrap(), Some("active=true"));
        assert!(ValueMap::parse("x", "open 1").is_err());
        let bad = config(json!({"instance_url": "acme.service-now.com"}));
        assert!(bad.instance().is_err());
    }
}
