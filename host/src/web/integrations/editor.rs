//! `/integrations/create` and `/integrations/{id}/edit`: one form, generated
//! from the connector's configuration schema, plus the fields every
//! integration has (name, allowed destinations, schedule).
//!
//! A form with mistakes comes back with a message beside each wrong field
//! and everything typed kept, except secrets, which are never sent back to
//! the browser: a stored secret shows as "set" and an empty input keeps it.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use minijinja::context;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::super::AppState;
use super::super::error::Error;
use super::super::session::Admin;
use super::super::templates;
use super::{find, redirect_with_notice};
use crate::integrations;
use crate::integrations::schema::{ConfigForm, FieldErrors};
use crate::runtime::types::ConnectorInfo;
use crate::store::deletions::DeletionLimits;
use crate::store::integrations::IntegrationFields;
use crate::store::schedules::FullSyncSchedule;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/integrations/create", get(new_form).post(create))
        .route("/integrations/{id}/edit", get(edit_form).post(update))
}

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

/// The values to show in the form: what was submitted (never secrets).
pub(super) fn submitted_values(form: &ConfigForm, input: &HashMap<String, String>) -> Value {
    let mut values = Map::new();
    for field in form.fields.iter().filter(|f| !f.secret) {
        if let Some(v) = input.get(&field.input_name) {
            values.insert(field.name.clone(), Value::String(v.clone()));
        }
    }
    let common = [
        "name",
        "http_grants",
        "ldap_grants",
        "sync_interval_minutes",
        "sync_cron",
        "disable_after_failures",
        super::deletions::OBJECTS_KEY,
        super::deletions::PERCENT_KEY,
    ];
    for key in common.into_iter().chain(super::full_sync::KEYS) {
        if let Some(v) = input.get(key) {
            values.insert(key.to_owned(), Value::String(v.clone()));
        }
    }
    Value::Object(values)
}

/// The values to show for a connector's defaults (a new integration).
pub(super) fn default_values(form: &ConfigForm, info: &ConnectorInfo) -> Value {
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
fn stored_values(
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

#[derive(Deserialize)]
struct Choose {
    connector: Option<String>,
}

#[allow(clippy::too_many_arguments)]
fn render(
    admin: &Admin,
    info: &ConnectorInfo,
    form: &ConfigForm,
    action: &str,
    values: Value,
    errors: &FieldErrors,
    secrets_set: &[&str],
    status: StatusCode,
) -> Result<Response, Error> {
    let html = templates::page(
        "integrations/form.html",
        context! {
            user => admin.0.user(),
            csrf_token => &admin.0.session.csrf_token,
            connector => json!({"id": info.id, "name": info.name, "version": info.version,
                                "description": info.description, "http": info.capabilities.http,
                                "ldap": info.capabilities.ldap}),
            fields => &form.fields,
            action => action,
            values => values,
            errors => errors,
            secrets_set => secrets_set,
            error => (!errors.is_empty()).then_some("Some fields need attention; see the messages beside them."),
        },
    )?;
    Ok((status, html).into_response())
}

async fn new_form(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<Choose>,
) -> Result<Response, Error> {
    let Some(id) = q.connector.filter(|c| !c.is_empty()) else {
        return choose(&state, &admin);
    };
    let (_, info) = state.catalog.get(&id).ok_or(Error::NotFound)?;
    let form = config_form(&info)?;
    let values = default_values(&form, &info);
    let action = format!(
        "/integrations/create?connector={}",
        super::super::urlencode(&id)
    );
    render(
        &admin,
        &info,
        &form,
        &action,
        values,
        &FieldErrors::new(),
        &[],
        StatusCode::OK,
    )
}

/// The connector chooser.
fn choose(state: &AppState, admin: &Admin) -> Result<Response, Error> {
    let (loaded, _) = state.catalog.list();
    let connectors: Vec<_> = loaded
        .iter()
        .map(|(_, info)| {
            let steps = config_form(info).map(|f| f.steps().len()).unwrap_or(0);
            json!({"id": info.id, "name": info.name, "version": info.version,
                   "description": info.description, "wizard": steps > 1})
        })
        .collect();
    let html = templates::page(
        "integrations/choose.html",
        context! {
            user => admin.0.user(),
            csrf_token => &admin.0.session.csrf_token,
            connectors => connectors,
        },
    )?;
    Ok(html.into_response())
}

async fn create(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Query(q): Query<Choose>,
    Form(input): Form<HashMap<String, String>>,
) -> Result<Response, Error> {
    admin
        .0
        .check_csrf(input.get("csrf_token").map(String::as_str).unwrap_or(""))?;
    let id = q.connector.ok_or(Error::NotFound)?;
    let (connector, info) = state.catalog.get(&id).ok_or(Error::NotFound)?;
    let form = config_form(&info)?;
    let action = format!(
        "/integrations/create?connector={}",
        super::super::urlencode(&id)
    );
    let submitted = match read_form(&form, &input, &[], true) {
        Ok(s) => s,
        Err(errors) => {
            let values = submitted_values(&form, &input);
            return render(
                &admin,
                &info,
                &form,
                &action,
                values,
                &errors,
                &[],
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    let created = super::actions::create(
        &state,
        &admin.0,
        remote,
        &connector,
        &info,
        &submitted,
        "integration.create",
        None,
    )
    .await?;
    let integration = match created {
        Ok(integration) => integration,
        Err(taken) => {
            let errors = FieldErrors::from([("name".to_owned(), taken.message())]);
            let values = submitted_values(&form, &input);
            return render(
                &admin,
                &info,
                &form,
                &action,
                values,
                &errors,
                &[],
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    Ok(redirect_with_notice(
        &format!("/integrations/{}", integration.id),
        &format!(
            "Integration {} created. Test its connection next.",
            integration.name
        ),
    ))
}

async fn edit_form(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<i64>,
) -> Result<Response, Error> {
    let integration = find(&state, id).await?;
    let (_, info) = state.catalog.get(&integration.provider_id).ok_or_else(|| {
        Error::BadRequest(format!(
            "The connector {} is not installed, so this integration cannot be edited.",
            integration.provider_id
        ))
    })?;
    let form = config_form(&info)?;
    let secrets_set = integration.secret_fields();
    let limits = state.store.deletion_limits(id).await?;
    render(
        &admin,
        &info,
        &form,
        &format!("/integrations/{id}/edit"),
        stored_values(&integration, limits),
        &FieldErrors::new(),
        &secrets_set,
        StatusCode::OK,
    )
}

async fn update(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Path(id): Path<i64>,
    Form(input): Form<HashMap<String, String>>,
) -> Result<Response, Error> {
    admin
        .0
        .check_csrf(input.get("csrf_token").map(String::as_str).unwrap_or(""))?;
    let integration = find(&state, id).await?;
    let (_, info) = state
        .catalog
        .get(&integration.provider_id)
        .ok_or(Error::NotFound)?;
    let form = config_form(&info)?;
    let secrets_set = integration.secret_fields();
    let action = format!("/integrations/{id}/edit");
    let submitted = match read_form(&form, &input, &secrets_set, integration.enabled) {
        Ok(s) => s,
        Err(errors) => {
            let values = submitted_values(&form, &input);
            return render(
                &admin,
                &info,
                &form,
                &action,
                values,
                &errors,
                &secrets_set,
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    match super::actions::update(&state, &admin.0, remote, &integration, &form, &submitted).await? {
        Ok(_) => {}
        Err(taken) => {
            let errors = FieldErrors::from([("name".to_owned(), taken.message())]);
            let values = submitted_values(&form, &input);
            return render(
                &admin,
                &info,
                &form,
                &action,
                values,
                &errors,
                &secrets_set,
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    }
    Ok(redirect_with_notice(
        &format!("/integrations/{id}"),
        "Changes saved.",
    ))
}
