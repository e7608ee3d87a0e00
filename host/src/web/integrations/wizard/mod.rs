//! `/integrations/create/{connector}`: the connector's settings in steps
//! (the schema's `x-cube-step` groups), then name and access, then a
//! connection test. Saving needs a test that passed with exactly the
//! settings being saved; "save without a passing test" exists for offline
//! setup, needs an explicit confirmation, and is audited as such.
//!
//! What was typed is kept on the server in a draft
//! ([`crate::store::drafts`]), secrets sealed to the draft, so moving back
//! and forth never sends a secret to the browser.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use minijinja::context;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::super::AppState;
use super::super::error::Error;
use super::super::forms::csrf_field;
use super::super::render;
use super::super::session::Admin;
use super::form::{
    COMMON_KEYS, Submitted, config_form, connector_view, default_values, read_common, read_form,
};
use super::redirect_with_notice;
use crate::integrations::schema::{ConfigForm, FIELD_PREFIX, FieldErrors};
use crate::integrations::{self, CallConfig, Verdict};
use crate::runtime::types::ConnectorInfo;
use crate::secrets::Slot;
use crate::store::drafts::Draft;
use check::StepCheck;

mod check;

pub fn routes() -> Router<AppState> {
    Router::new().route("/integrations/create/{connector}", get(start).post(advance))
}

const DRAFTS_TABLE: &str = "integration_drafts";
const ACCESS_STEP: &str = "Name and access";
const FINAL_STEP: &str = "Test and save";

/// The wizard's steps: the schema's, then access, then the test.
fn steps(form: &ConfigForm) -> Vec<String> {
    let mut steps = form.steps();
    steps.retain(|s| !form.fields.is_empty() || s != "Settings");
    steps.push(ACCESS_STEP.into());
    steps.push(FINAL_STEP.into());
    steps
}

fn connector(
    state: &AppState,
    id: &str,
) -> Result<(crate::runtime::Connector, ConnectorInfo, ConfigForm), Error> {
    let (connector, info) = state.catalog.get(id).ok_or_else(|| {
        Error::BadRequest(format!(
            "The {id} connector is not installed on this server, so its setup wizard is not available. \
             Install it (see Connectors), then start again."
        ))
    })?;
    let form = config_form(&info)?;
    Ok((connector, info, form))
}

struct View<'a> {
    info: &'a ConnectorInfo,
    form: &'a ConfigForm,
    draft: Option<&'a Draft>,
    step: usize,
    values: Value,
    errors: FieldErrors,
    status: StatusCode,
    tested: bool,
    error: Option<String>,
    /// The outcome of this step's check, or of the step just left.
    check: Option<StepCheck>,
    /// What the connector offers for this step's `x-cube-choices` fields.
    offers: BTreeMap<String, check::Offer>,
}

impl<'a> View<'a> {
    /// Step `step` of `draft` again, refused (422): its values as kept, with
    /// `errors` beside the fields or `error` above them.
    fn refused(
        info: &'a ConnectorInfo,
        form: &'a ConfigForm,
        draft: &'a Draft,
        step: usize,
        errors: FieldErrors,
        tested: bool,
        error: Option<String>,
    ) -> Self {
        View {
            info,
            form,
            draft: Some(draft),
            step,
            values: Value::Object(draft.values.clone()),
            errors,
            status: StatusCode::UNPROCESSABLE_ENTITY,
            tested,
            error,
            check: None,
            offers: BTreeMap::new(),
        }
    }
}

fn render(admin: &Admin, view: View<'_>) -> Result<Response, Error> {
    let steps = steps(view.form);
    let step = view.step.min(steps.len() - 1);
    let name = &steps[step];
    let fields: Vec<_> = view.form.fields_of_step(name).collect();
    let secrets_set: Vec<&str> = view
        .draft
        .map(|d| d.sealed_secrets.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let verdict: Option<Verdict> = view
        .draft
        .and_then(|d| d.verdict_json.as_deref())
        .and_then(|v| serde_json::from_str(v).ok());
    // The summary on the last step: plain values and which secrets are set.
    let summary: Vec<_> = view
        .form
        .fields
        .iter()
        .map(|f| {
            let value = if f.secret {
                json!(if secrets_set.contains(&f.name.as_str()) {
                    "set"
                } else {
                    "not set"
                })
            } else {
                view.values.get(&f.name).cloned().unwrap_or(json!(""))
            };
            json!({"label": f.label, "secret": f.secret, "value": value})
        })
        .collect();
    let info = view.info;
    let html = render::signed_in_page(
        "integrations/wizard.html",
        &admin.0,
        context! {
            connector => connector_view(info),
            steps => &steps,
            step => step,
            step_name => name,
            is_access => name == ACCESS_STEP,
            is_final => name == FINAL_STEP,
            fields => fields,
            values => view.values,
            errors => &view.errors,
            secrets_set => secrets_set,
            draft => view.draft.map(|d| d.id.clone()),
            verdict => verdict,
            tested => view.tested,
            summary => summary,
            check => view.check,
            offers => view.offers,
            is_check_step => view.form.checks.iter().any(|c| c == name),
            error => view.error.or_else(|| (!view.errors.is_empty()).then(|| "Some fields need attention; see the messages beside them.".to_owned())),
        },
    )?;
    Ok((view.status, html).into_response())
}

async fn start(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, Error> {
    let (_, info, form) = connector(&state, &id)?;
    let values = default_values(&form, &info);
    render(
        &admin,
        View {
            info: &info,
            form: &form,
            draft: None,
            step: 0,
            values,
            errors: FieldErrors::new(),
            status: StatusCode::OK,
            tested: false,
            check: None,
            offers: BTreeMap::new(),
            error: None,
        },
    )
}

/// The draft's values as a submitted form, so the whole configuration can
/// be checked again at the end with the same rules as each step.
fn as_input(draft: &Draft) -> HashMap<String, String> {
    let mut input = HashMap::new();
    for (key, value) in &draft.values {
        let text = value.as_str().unwrap_or_default().to_owned();
        if COMMON_KEYS.contains(&key.as_str()) {
            input.insert(key.clone(), text);
        } else {
            input.insert(format!("{FIELD_PREFIX}{key}"), text);
        }
    }
    input
}

/// Keeps what was typed on this step: plain values as typed, secrets sealed.
fn remember(
    state: &AppState,
    draft: &mut Draft,
    form: &ConfigForm,
    step_name: &str,
    input: &HashMap<String, String>,
) {
    if step_name == ACCESS_STEP {
        for key in COMMON_KEYS {
            let value = input.get(key).cloned().unwrap_or_default();
            draft.values.insert(key.to_owned(), Value::String(value));
        }
        return;
    }
    for field in form.fields_of_step(step_name) {
        let typed = input.get(&field.input_name).cloned().unwrap_or_default();
        if field.secret {
            if !typed.trim().is_empty() {
                let slot = Slot {
                    table: DRAFTS_TABLE,
                    row: &draft.id,
                    field: &field.name,
                };
                draft.sealed_secrets.insert(
                    field.name.clone(),
                    state.sealer.seal(typed.as_bytes(), slot),
                );
            }
        } else {
            draft
                .values
                .insert(field.name.clone(), Value::String(typed));
        }
    }
}

/// Identifies the exact settings a test ran with. Secrets enter as their
/// ciphertexts, so nothing here can be used to guess them.
fn settings_digest(submitted: &Submitted, draft: &Draft) -> String {
    let mut hash = Sha256::new();
    hash.update(Value::Object(submitted.fields.config.clone()).to_string());
    hash.update(serde_json::to_string(&draft.sealed_secrets).unwrap_or_default());
    hash.update(serde_json::to_string(&submitted.fields.http_grants).unwrap_or_default());
    hash.update(serde_json::to_string(&submitted.fields.ldap_grants).unwrap_or_default());
    hex::encode(hash.finalize())
}

fn open_draft_secrets(
    state: &AppState,
    draft: &Draft,
) -> Result<BTreeMap<String, Zeroizing<String>>, Error> {
    let mut out = BTreeMap::new();
    for (field, sealed) in &draft.sealed_secrets {
        let slot = Slot {
            table: DRAFTS_TABLE,
            row: &draft.id,
            field,
        };
        let bytes = state.sealer.open(sealed, slot).map_err(|e| {
            Error::BadRequest(format!(
                "A secret typed earlier cannot be read back ({e}); type it again."
            ))
        })?;
        out.insert(
            field.clone(),
            Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned()),
        );
    }
    Ok(out)
}

async fn advance(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(input): Form<HashMap<String, String>>,
) -> Result<Response, Error> {
    admin.0.check_csrf(csrf_field(&input))?;
    let (connector, info, form) = connector(&state, &id)?;
    let user_id = admin.0.user().id;
    let mut draft = match input.get("draft").map(String::as_str).unwrap_or("") {
        "" => {
            // Start from the connector's defaults and its suggested grants.
            let mut draft = state.store.create_draft(user_id, &info.id).await?;
            if let Value::Object(defaults) = default_values(&form, &info) {
                draft.values = defaults;
            }
            draft
        }
        draft_id => state.store.draft(draft_id, user_id, &info.id).await?.ok_or_else(|| {
            Error::BadRequest("This setup expired or belongs to someone else. Start again from New integration.".into())
        })?,
    };
    let steps = steps(&form);
    let step: usize = input
        .get("step")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
        .min(steps.len() - 1);
    let step_name = steps[step].clone();
    let nav = input.get("nav").map(String::as_str).unwrap_or("next");
    let secrets_set: Vec<String> = draft.sealed_secrets.keys().cloned().collect();
    let secrets_set: Vec<&str> = secrets_set.iter().map(String::as_str).collect();

    if step_name != FINAL_STEP {
        remember(&state, &mut draft, &form, &step_name, &input);
    }
    let mut view_step = step;
    let mut errors = FieldErrors::new();
    let mut step_check: Option<StepCheck> = None;
    match nav {
        "back" => view_step = step.saturating_sub(1),
        "next" if step_name == ACCESS_STEP => {
            read_common(&input, &mut errors);
            super::full_sync::read(&input, &mut errors);
            super::deletions::read_limits(&input, &mut errors);
            if errors.is_empty() {
                view_step = step + 1;
            }
        }
        "next" | "check" | "allow" | "skip_check" => {
            let fields: Vec<_> = form.fields_of_step(&step_name).collect();
            match form.parse(&input, Some(&fields), &secrets_set) {
                Err(e) => errors = e,
                Ok(_) if nav == "skip_check" || !form.checks.contains(&step_name) => {
                    view_step = step + 1
                }
                Ok(_) => {
                    if nav == "allow" {
                        let offered = input.get("allow").map(String::as_str).unwrap_or("");
                        let added = check::allow(&mut draft, offered)?;
                        tracing::info!(user = %admin.0.user().username, connector = %info.id,
                            granted = ?added, "wizard: destinations granted for a check");
                    }
                    let outcome =
                        check::run(&state, &connector, &form, &draft, &steps, step).await?;
                    if nav == "next" && outcome.verdict.ok {
                        view_step = step + 1;
                    }
                    step_check = Some(outcome);
                }
            }
        }
        "test" | "save" | "save_anyway" => {
            let all = as_input(&draft);
            let submitted = match read_form(&form, &all, &secrets_set, true) {
                Ok(s) => s,
                Err(e) => {
                    // Send the admin to the first step with a problem.
                    let first_bad = steps
                        .iter()
                        .position(|s| form.fields_of_step(s).any(|f| e.contains_key(&f.name)));
                    let at = first_bad.unwrap_or(steps.len() - 2);
                    state.store.save_draft(&draft).await?;
                    return render(
                        &admin,
                        View::refused(&info, &form, &draft, at, e, false, None),
                    );
                }
            };
            let digest = settings_digest(&submitted, &draft);
            if nav == "test" {
                let secrets = open_draft_secrets(&state, &draft)?;
                let config = CallConfig::new(&submitted.fields.config, &secrets);
                let ctx = state
                    .runtime
                    .context(format!("draft:{}", &draft.id[..12]))
                    .with_http_grants(submitted.fields.http_grants.iter().cloned())
                    .with_ldap_grants(submitted.fields.ldap_grants.iter().cloned())
                    .with_secrets(config.secrets.clone());
                let verdict = integrations::test_connection(&connector, &ctx, &config).await;
                draft.tested_digest = verdict.ok.then(|| digest.clone());
                draft.verdict_json = serde_json::to_string(&verdict).ok();
            } else {
                let tested = draft.tested_digest.as_deref() == Some(digest.as_str());
                let refusal = if nav == "save" && !tested {
                    Some(
                        "Run a connection test that passes before saving, or save without a passing test for offline setup.",
                    )
                } else if nav == "save_anyway"
                    && input.get("confirm_untested").map(String::as_str) != Some("yes")
                {
                    Some("Tick the confirmation to save without a passing connection test.")
                } else {
                    None
                };
                if let Some(error) = refusal {
                    state.store.save_draft(&draft).await?;
                    let error = Some(error.to_owned());
                    let view = View::refused(&info, &form, &draft, step, errors, tested, error);
                    return render(&admin, view);
                }
                return save(
                    &state, &admin, remote, &headers, &connector, &info, draft, submitted, tested,
                    &form,
                )
                .await;
            }
        }
        _ => return Err(Error::BadRequest("Unknown wizard action.".into())),
    }
    draft.step = view_step as i64;
    state.store.save_draft(&draft).await?;
    let all = as_input(&draft);
    let tested = match read_form(&form, &all, &secrets_set, true) {
        Ok(s) => draft.tested_digest.as_deref() == Some(settings_digest(&s, &draft).as_str()),
        Err(_) => false,
    };
    let check_failed = step_check.as_ref().is_some_and(|c| !c.verdict.ok);
    let status = if errors.is_empty() && !check_failed {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let values = if errors.is_empty() {
        Value::Object(draft.values.clone())
    } else {
        // Show exactly what was typed on the failing step.
        let mut values: Map<String, Value> = draft.values.clone();
        if let Value::Object(typed) = super::form::submitted_values(&form, &input) {
            values.extend(typed);
        }
        Value::Object(values)
    };
    let offers = check::offers(&state, &connector, &form, &draft, &steps, view_step).await;
    render(
        &admin,
        View {
            info: &info,
            form: &form,
            draft: Some(&draft),
            step: view_step,
            values,
            errors,
            status,
            tested,
            check: step_check,
            offers,
            error: None,
        },
    )
}

#[allow(clippy::too_many_arguments)]
async fn save(
    state: &AppState,
    admin: &Admin,
    remote: SocketAddr,
    headers: &HeaderMap,
    connector: &crate::runtime::Connector,
    info: &ConnectorInfo,
    draft: Draft,
    submitted: Submitted,
    tested: bool,
    form: &ConfigForm,
) -> Result<Response, Error> {
    let secrets = open_draft_secrets(state, &draft)?;
    let plain_secrets: BTreeMap<String, String> = secrets
        .iter()
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect();
    let submitted = Submitted {
        secrets: plain_secrets,
        ..submitted
    };
    let (action, note) = if tested {
        ("integration.create", "passed")
    } else {
        (
            "integration.create.untested",
            "skipped: saved without a passing test",
        )
    };
    let created = super::actions::create(
        state,
        &admin.0,
        remote,
        connector,
        info,
        &submitted,
        action,
        Some(("connection_test", json!(note))),
    )
    .await?;
    let integration = match created {
        Ok(i) => i,
        Err(taken) => {
            let errors = FieldErrors::from([("name".to_owned(), taken.message())]);
            let at = steps(form).len() - 2;
            return render(
                admin,
                View {
                    info,
                    form,
                    draft: Some(&draft),
                    step: at,
                    values: Value::Object(draft.values.clone()),
                    errors,
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    tested,
                    check: None,
                    offers: BTreeMap::new(),
                    error: None,
                },
            );
        }
    };
    if let Some(verdict) = &draft.verdict_json {
        let ok = tested && serde_json::from_str::<Verdict>(verdict).is_ok_and(|v| v.ok);
        state
            .store
            .record_test_result(integration.id, ok, verdict)
            .await?;
    }
    state.store.delete_draft(&draft.id).await?;
    let notice = if tested {
        format!(
            "Integration {} created; its connection test passed.",
            integration.name
        )
    } else {
        format!(
            "Integration {} saved without a passing connection test. Test it when the server is reachable.",
            integration.name
        )
    };
    // A connector that takes webhooks may ask for an endpoint: the admin
    // gets its URL and secret now, to paste into the remote system.
    if let Some(page) = super::webhooks::add_requested(
        state,
        admin,
        remote,
        headers,
        &integration,
        &serde_json::from_str(&info.config_schema).unwrap_or(Value::Null),
        &notice,
    )
    .await?
    {
        return Ok(page.into_response());
    }
    Ok(redirect_with_notice(
        &format!("/integrations/{}", integration.id),
        &notice,
    ))
}
