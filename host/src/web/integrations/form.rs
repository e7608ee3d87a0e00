//! An integration's settings as a form: reading what an admin submitted
//! (the connector's schema fields and the fields every integration has,
//! each mistake kept beside its field) and the values to show in it. The
//! editor, the wizard and the API read settings here; `actions` stores
//! what was read.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

use super::super::error::Error;
use crate::integrations;
use crate::integrations::schema::{ConfigForm, FieldErrors};
use crate::runtime::types::ConnectorInfo;
use crate::store::deletions::DeletionLimits;
use crate::store::integrations::IntegrationFields;
use crate::store::schedules::FullSyncSchedule;

/// Longest integration name accepted.
const MAX_NAME_LEN: usize = 100;
/// Longest schedule accepted, in minutes (a week).
const MAX_INTERVAL_MINUTES: i64 = 7 * 24 * 60;

/// An integration's settings as submitted: the stored fields and the new
/// secret values (only those typed in).
pub(in crate::web) struct Submitted {
    pub fields: IntegrationFields,
    pub secrets: BTreeMap<String, String>,
    pub full_sync: FullSyncSchedule,
    /// The deletion threshold (kept in a table of its own).
    pub deletion_limits: DeletionLimits,
}

/// The connector a form page (the editor, the wizard) is for, as its
/// heading shows it: name, version, description and what it may reach.
pub(in crate::web) fn connector_view(info: &ConnectorInfo) -> Value {
    json!({"id": info.id, "name": info.name, "version": info.version,
           "description": info.description, "http": info.capabilities.http,
           "ldap": info.capabilities.ldap})
}

/// The schema form of a connector, or a clear error when its schema cannot
/// be a form.
pub(in crate::web) fn config_form(info: &ConnectorInfo) -> Result<ConfigForm, Error> {
    let schema: Value = serde_json::from_str(&info.config_schema).map_err(|e| {
        Error::BadRequest(format!(
            "The connector {} has a configuration schema that is not JSON ({e}); it cannot be configured.",
            info.id
        ))
    })?;
    ConfigForm::from_schema(&schema).map_err(|e| {
        Error::BadRequest(format!(
            "The connector {} cannot be configured in a form: {e}.",
            info.id
        ))
    })
}

/// The settings every integration has, whatever its connector.
pub(in crate::web) struct Common {
    pub name: String,
    pub http_grants: Vec<crate::runtime::HttpGrant>,
    pub ldap_grants: Vec<crate::runtime::LdapGrant>,
    pub sync_interval_secs: Option<i64>,
    pub sync_cron: Option<String>,
    pub disable_after_failures: Option<i64>,
}

/// The most failures in a row an admin may let pass before disabling.
const MAX_FAILURES: i64 = 1000;

/// Reads the settings every integration has; problems go into `errors`.
pub(in crate::web) fn read_common(
    input: &HashMap<String, String>,
    errors: &mut FieldErrors,
) -> Common {
    let get = |k: &str| input.get(k).map(|s| s.trim()).unwrap_or("");
    let name = get("name").to_owned();
    if name.is_empty() {
        errors.insert("name".into(), "Give the integration a name.".into());
    } else if name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        errors.insert(
            "name".into(),
            format!("Use at most {MAX_NAME_LEN} characters, on one line."),
        );
    }
    let http_grants = integrations::parse_http_grants(get("http_grants")).unwrap_or_else(|e| {
        errors.insert("http_grants".into(), e);
        Vec::new()
    });
    let ldap_grants = integrations::parse_ldap_grants(get("ldap_grants")).unwrap_or_else(|e| {
        errors.insert("ldap_grants".into(), e);
        Vec::new()
    });
    let mut optional_number = |key: &str, max: i64, message: String| match get(key) {
        "" => None,
        text => match text.parse::<i64>() {
            Ok(n) if (1..=max).contains(&n) => Some(n),
            _ => {
                errors.insert(key.into(), message);
                None
            }
        },
    };
    let sync_interval_secs = optional_number(
        "sync_interval_minutes",
        MAX_INTERVAL_MINUTES,
        format!("Enter whole minutes from 1 to {MAX_INTERVAL_MINUTES}, or leave empty to sync on demand only."),
    )
    .map(|minutes| minutes * 60);
    let disable_after_failures = optional_number(
        "disable_after_failures",
        MAX_FAILURES,
        format!(
            "Enter a number of failed syncs from 1 to {MAX_FAILURES}, or leave empty to never disable."
        ),
    );
    let sync_cron = match get("sync_cron") {
        "" => None,
        text => match crate::schedule::parse_cron(text) {
            Ok(_) if sync_interval_secs.is_some() => {
                errors.insert(
                    "sync_cron".into(),
                    "Choose an interval or a cron expression, not both.".into(),
                );
                None
            }
            Ok(_) => Some(text.to_owned()),
            Err(message) => {
                errors.insert("sync_cron".into(), message);
                None
            }
        },
    };
    Common {
        name,
        http_grants,
        ldap_grants,
        sync_interval_secs,
        sync_cron,
        disable_after_failures,
    }
}

/// Reads a whole submitted form.
pub(in crate::web) fn read_form(
    form: &ConfigForm,
    input: &HashMap<String, String>,
    secrets_set: &[&str],
    enabled: bool,
) -> Result<Submitted, FieldErrors> {
    let mut errors = FieldErrors::new();
    let common = read_common(input, &mut errors);
    let full_sync = super::full_sync::read(input, &mut errors);
    let deletion_limits = super::deletions::read_limits(input, &mut errors);
    let config = match form.parse(input, None, secrets_set) {
        Ok(config) => Some(config),
        Err(field_errors) => {
            errors.extend(field_errors);
            None
        }
    };
    match config {
        Some(config) if errors.is_empty() => Ok(Submitted {
            fields: IntegrationFields {
                name: common.name,
                enabled,
                config: config.plain,
                http_grants: common.http_grants,
                ldap_grants: common.ldap_grants,
                sync_interval_secs: common.sync_interval_secs,
                sync_cron: common.sync_cron,
                disable_after_failures: common.disable_after_failures,
            },
            secrets: config.secrets,
            full_sync,
            deletion_limits,
        }),
        _ => Err(errors),
    }
}

/// The inputs every integration has beside its connector's fields (the
/// wizard's access step).
pub(in crate::web) const COMMON_KEYS: [&str; 10] = [
    "name",
    "http_grants",
    "ldap_grants",
    "sync_interval_minutes",
    "sync_cron",
    "disable_after_failures",
    super::full_sync::INTERVAL,
    super::full_sync::CRON,
    super::deletions::OBJECTS_KEY,
    super::deletions::PERCENT_KEY,
];

/// The values to show in the form: what was submitted (never secrets).
pub(in crate::web) fn submitted_values(
    form: &ConfigForm,
    input: &HashMap<String, String>,
) -> Value {
    let mut values = Map::new();
    for field in form.fields.iter().filter(|f| !f.secret) {
        if let Some(v) = input.get(&field.input_name) {
            values.insert(field.name.clone(), Value::String(v.clone()));
        }
    }
    for key in COMMON_KEYS {
        if let Some(v) = input.get(key) {
            values.insert(key.to_owned(), Value::String(v.clone()));
        }
    }
    Value::Object(values)
}

/// The values to show for a connector's defaults (a new integration).
pub(in crate::web) fn default_values(form: &ConfigForm, info: &ConnectorInfo) -> Value {
    let mut values = Map::new();
    for field in &form.fields {
        if let Some(default) = &field.default {
            values.insert(field.name.clone(), Value::String(as_input(default)));
        }
    }
    let http = integrations::suggested_grants(&info.capabilities.http);
    let ldap = integrations::suggested_grants(&info.capabilities.ldap);
    values.insert("http_grants".into(), Value::String(http.join("\n")));
    values.insert("ldap_grants".into(), Value::String(ldap.join("\n")));
    values.extend(super::full_sync::values(&super::full_sync::default_for(
        info,
    )));
    super::deletions::limit_values(DeletionLimits::default(), &mut values);
    Value::Object(values)
}

fn as_input(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => {
            if *b {
                "true".into()
            } else {
                String::new()
            }
        }
        other => other.to_string(),
    }
}

/// The values to show for a stored integration with its threshold.
pub(in crate::web) fn stored_values(
    integration: &crate::store::integrations::Integration,
    limits: DeletionLimits,
) -> Value {
    let mut values: Map<String, Value> = integration
        .config
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(as_input(v))))
        .collect();
    let http: Vec<String> = integration
        .http_grants
        .iter()
        .map(integrations::http_grant_line)
        .collect();
    let ldap: Vec<String> = integration
        .ldap_grants
        .iter()
        .map(|g| g.to_string())
        .collect();
    values.insert("name".into(), json!(integration.name));
    values.insert("http_grants".into(), json!(http.join("\n")));
    values.insert("ldap_grants".into(), json!(ldap.join("\n")));
    if let Some(secs) = integration.sync_interval_secs {
        values.insert(
            "sync_interval_minutes".into(),
            json!((secs / 60).to_string()),
        );
    }
    if let Some(cron) = &integration.sync_cron {
        values.insert("sync_cron".into(), json!(cron));
    }
    if let Some(failures) = integration.disable_after_failures {
        values.insert("disable_after_failures".into(), json!(failures.to_string()));
    }
    values.extend(super::full_sync::values(&FullSyncSchedule::of(integration)));
    super::deletions::limit_values(limits, &mut values);
    Value::Object(values)
}
