//! `/api/v1/connectors` and `/api/v1/integrations`: list, create, read,
//! replace, delete, test, sync, and the deletions a full sync held back
//! (list, approve, discard).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::super::AppState;
use super::super::integrations::form::{config_form, read_form};
use super::super::integrations::{actions, deletions, full_sync};
use super::{ApiAdmin, ApiError, ApiUser, ApiWriter};
use crate::integrations::Verdict;
use crate::integrations::schema::form_inputs;
use crate::store::integrations::Integration;
use crate::store::schedules::FullSyncSchedule;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/connectors", get(connectors))
        .route("/api/v1/integrations", get(list).post(create))
        .route(
            "/api/v1/integrations/{id}",
            get(show).put(replace).delete(remove),
        )
        .route("/api/v1/integrations/{id}/test", post(test))
        .route("/api/v1/integrations/{id}/sync", post(sync))
        .route(
            "/api/v1/integrations/{id}/pending-deletions",
            get(pending_deletions),
        )
        .route(
            "/api/v1/integrations/{id}/pending-deletions/approve",
            post(decide::<true>),
        )
        .route(
            "/api/v1/integrations/{id}/pending-deletions/discard",
            post(decide::<false>),
        )
        .route("/api/v1/jobs/{id}", get(job))
        .route("/api/v1/jobs/{id}/dry-run", get(dry_run))
}

/// An integration as the API shows it, with its deletion threshold.
async fn view_with_limits(state: &AppState, integration: &Integration) -> Result<Value, ApiError> {
    let mut value = view(integration);
    value["deletion_limits"] = json!(state.store.deletion_limits(integration.id).await?);
    Ok(value)
}

/// An integration as the API shows it: secrets as the names of the fields
/// that are set.
fn view(integration: &Integration) -> Value {
    let mut value = serde_json::to_value(integration).unwrap_or_default();
    value["secrets_set"] = json!(integration.secret_fields());
    value["last_test"] = integration
        .last_test_message
        .as_deref()
        .and_then(|m| serde_json::from_str::<Verdict>(m).ok())
        .map(
            |v| json!({"ok": v.ok, "headline": v.headline, "detail": v.detail, "advice": v.advice}),
        )
        .unwrap_or(Value::Null);
    value["next_syncs"] = full_sync::next_runs(integration);
    if let Some(map) = value.as_object_mut() {
        map.remove("last_test_message");
    }
    value
}

async fn find(state: &AppState, id: i64) -> Result<Integration, ApiError> {
    state.store.integration(id).await?.ok_or(ApiError::NotFound)
}

async fn connectors(State(state): State<AppState>, _user: ApiUser) -> Json<Value> {
    let (loaded, _) = state.catalog.list();
    let list: Vec<_> = loaded
        .iter()
        .map(|(_, info)| {
            json!({
                "id": info.id, "name": info.name, "version": info.version,
                "description": info.description,
                "config_schema": serde_json::from_str::<Value>(&info.config_schema).unwrap_or(Value::Null),
                "capabilities": {"http": info.capabilities.http, "ldap": info.capabilities.ldap},
            })
        })
        .collect();
    Json(json!({ "connectors": list }))
}

async fn list(State(state): State<AppState>, _user: ApiUser) -> Result<Json<Value>, ApiError> {
    let mut all = Vec::new();
    for integration in state.store.integrations().await? {
        all.push(view_with_limits(&state, &integration).await?);
    }
    Ok(Json(json!({ "integrations": all })))
}

async fn show(
    State(state): State<AppState>,
    _user: ApiUser,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        view_with_limits(&state, &find(&state, id).await?).await?,
    ))
}

/// An integration as submitted to the API.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    name: String,
    /// The connector id; required on create, ignored on replace.
    connector: Option<String>,
    #[serde(default)]
    config: Map<String, Value>,
    #[serde(default)]
    http_grants: Vec<GrantInput>,
    #[serde(default)]
    ldap_grants: Vec<String>,
    /// Deprecated: lets the grants given as plain strings reach private
    /// addresses (a grant object says so for itself).
    #[serde(default)]
    allow_private: bool,
    sync_interval_minutes: Option<i64>,
    /// A cron expression (UTC), instead of an interval.
    sync_cron: Option<String>,
    disable_after_failures: Option<i64>,
    /// The full-sync schedule: minutes, or a cron expression (UTC). `null`
    /// for none; left out, a new integration gets its connector's default
    /// and a replaced one keeps its schedule (both left out, that is: one
    /// given replaces the whole schedule).
    #[serde(default, deserialize_with = "present")]
    full_sync_interval_minutes: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    full_sync_cron: Option<Option<String>>,
    /// The deletion threshold; a limit left out takes its default.
    deletion_limits: Option<LimitsInput>,
    enabled: Option<bool>,
}

/// A deletion threshold as submitted (0 turns a limit off).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsInput {
    max_objects: Option<i64>,
    max_percent: Option<i64>,
}

/// A field that is present, as `Some` (its value may be `null`): with
/// `#[serde(default)]`, a field left out stays `None`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// An HTTP grant as submitted: a pattern, or a pattern with its own
/// `allow_private` (as integrations show their grants).
#[derive(Deserialize)]
#[serde(untagged)]
enum GrantInput {
    Pattern(String),
    Spec {
        pattern: String,
        #[serde(default)]
        allow_private: bool,
    },
}

impl Input {
    /// The same inputs the form submits, so both are validated alike;
    /// `fallback` is the full-sync schedule when the input names none.
    fn as_form(&self, fallback: &FullSyncSchedule) -> HashMap<String, String> {
        let mut form = form_inputs(&self.config);
        form.insert("name".into(), self.name.clone());
        let lines: Vec<String> = self
            .http_grants
            .iter()
            .map(|grant| {
                let (pattern, private) = match grant {
                    GrantInput::Pattern(pattern) => (pattern, self.allow_private),
                    GrantInput::Spec {
                        pattern,
                        allow_private,
                    } => (pattern, *allow_private),
                };
                let pattern = pattern.trim();
                if private {
                    format!("{pattern} {}", crate::integrations::PRIVATE_WORD)
                } else {
                    pattern.to_owned()
                }
            })
            .collect();
        form.insert("http_grants".into(), lines.join("\n"));
        form.insert("ldap_grants".into(), self.ldap_grants.join("\n"));
        if let Some(minutes) = self.sync_interval_minutes {
            form.insert("sync_interval_minutes".into(), minutes.to_string());
        }
        if let Some(cron) = &self.sync_cron {
            form.insert("sync_cron".into(), cron.clone());
        }
        if let Some(n) = self.disable_after_failures {
            form.insert("disable_after_failures".into(), n.to_string());
        }
        if let Some(limits) = &self.deletion_limits {
            for (key, value) in [
                (deletions::OBJECTS_KEY, limits.max_objects),
                (deletions::PERCENT_KEY, limits.max_percent),
            ] {
                if let Some(n) = value {
                    form.insert(key.into(), n.to_string());
                }
            }
        }
        if self.full_sync_interval_minutes.is_none() && self.full_sync_cron.is_none() {
            for (key, value) in full_sync::values(fallback) {
                form.insert(key, value.as_str().unwrap_or_default().to_owned());
            }
        } else {
            if let Some(Some(minutes)) = self.full_sync_interval_minutes {
                form.insert(full_sync::INTERVAL.into(), minutes.to_string());
            }
            if let Some(Some(cron)) = &self.full_sync_cron {
                form.insert(full_sync::CRON.into(), cron.clone());
            }
        }
        form
    }
}

async fn create(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: ApiAdmin,
    Json(input): Json<Input>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let connector_id = input.connector.clone().ok_or_else(|| {
        ApiError::Invalid(BTreeMap::from([(
            "connector".into(),
            "Name the connector (see GET /api/v1/connectors).".into(),
        )]))
    })?;
    let (connector, info) = state.catalog.get(&connector_id).ok_or_else(|| {
        ApiError::Invalid(BTreeMap::from([(
            "connector".into(),
            format!("No connector `{connector_id}` is installed."),
        )]))
    })?;
    let form = config_form(&info)?;
    let inputs = input.as_form(&full_sync::default_for(&info));
    let submitted =
        read_form(&form, &inputs, &[], input.enabled.unwrap_or(true)).map_err(ApiError::Invalid)?;
    match actions::create(
        &state,
        &admin.0,
        remote,
        &connector,
        &info,
        &submitted,
        "integration.create",
        Some(("via", json!("api"))),
    )
    .await?
    {
        Ok(integration) => Ok((
            StatusCode::CREATED,
            Json(view_with_limits(&state, &integration).await?),
        )),
        Err(taken) => Err(name_taken(taken)),
    }
}

/// The answer when another integration has the name asked for.
fn name_taken(actions::NameTaken(name): actions::NameTaken) -> ApiError {
    ApiError::Conflict(format!("an integration named `{name}` exists already"))
}

async fn replace(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: ApiAdmin,
    Path(id): Path<i64>,
    Json(input): Json<Input>,
) -> Result<Json<Value>, ApiError> {
    let before = find(&state, id).await?;
    let (_, info) = state.catalog.get(&before.provider_id).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "the connector {} is not installed",
            before.provider_id
        ))
    })?;
    let form = config_form(&info)?;
    let secrets_set = before.secret_fields();
    let submitted = read_form(
        &form,
        &input.as_form(&FullSyncSchedule::of(&before)),
        &secrets_set,
        input.enabled.unwrap_or(before.enabled),
    )
    .map_err(ApiError::Invalid)?;
    match actions::update(&state, &admin.0, remote, &before, &form, &submitted).await? {
        Ok(after) => Ok(Json(view_with_limits(&state, &after).await?)),
        Err(taken) => Err(name_taken(taken)),
    }
}

async fn remove(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: ApiAdmin,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let integration = find(&state, id).await?;
    actions::delete(&state, &admin.0, remote, &integration).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn test(
    State(state): State<AppState>,
    _writer: ApiWriter,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let integration = find(&state, id).await?;
    let verdict = actions::test(&state, &integration, "api").await?;
    Ok(Json(serde_json::to_value(&verdict).unwrap_or_default()))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SyncInput {
    #[serde(default)]
    full: bool,
    #[serde(default)]
    dry_run: bool,
}

async fn sync(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    writer: ApiWriter,
    Path(id): Path<i64>,
    body: Option<Json<SyncInput>>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let input = body.map(|Json(b)| b).unwrap_or_default();
    let integration = find(&state, id).await?;
    if !integration.enabled {
        return Err(ApiError::Conflict(format!(
            "{} is disabled; enable it before syncing",
            integration.name
        )));
    }
    let mode = if input.full { "full" } else { "incremental" };
    let (job, queued) = actions::queue_sync(
        &state,
        &writer.0,
        remote,
        &integration,
        "api",
        mode,
        input.dry_run,
    )
    .await?;
    let status = if queued {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({"job": job, "queued": queued}))))
}

async fn job(
    State(state): State<AppState>,
    _user: ApiUser,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let job = state.store.job(id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(json!(job)))
}

#[derive(Deserialize)]
struct PageParams {
    #[serde(default)]
    offset: i64,
    limit: Option<i64>,
}

impl PageParams {
    /// Where the page starts, and how many it holds (1 to 1000).
    fn window(&self) -> (i64, i64) {
        let limit = self.limit.unwrap_or(deletions::PAGE).clamp(1, 1000);
        (self.offset.max(0), limit)
    }
}

/// The deletions a full sync held back, a page of them: `pending` is null
/// when nothing waits.
async fn pending_deletions(
    State(state): State<AppState>,
    _user: ApiUser,
    Path(id): Path<i64>,
    Query(page): Query<PageParams>,
) -> Result<Json<Value>, ApiError> {
    let integration = find(&state, id).await?;
    let (offset, limit) = page.window();
    let pending = state
        .store
        .pending_deletions(integration.id, offset, limit)
        .await?;
    let limits = state.store.deletion_limits(integration.id).await?;
    Ok(Json(json!({"pending": pending, "deletion_limits": limits})))
}

/// Which held set the caller reviewed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionInput {
    job: i64,
}

/// Approves (`APPROVE`: deletes the held records still present and
/// unseen since) or discards (keeps) the deletions a full sync held back.
async fn decide<const APPROVE: bool>(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: ApiAdmin,
    Path(id): Path<i64>,
    Json(input): Json<DecisionInput>,
) -> Result<Json<Value>, ApiError> {
    let integration = find(&state, id).await?;
    match deletions::decide(&state, &admin.0, remote, &integration, input.job, APPROVE).await? {
        Ok(decided) => Ok(Json(json!(decided))),
        Err(message) => Err(ApiError::Conflict(message)),
    }
}

/// What dry run `id` would do, a page of its listing: `listing` is null
/// when the job listed nothing (not a dry run, or nothing to do).
async fn dry_run(
    State(state): State<AppState>,
    _user: ApiUser,
    Path(id): Path<i64>,
    Query(page): Query<PageParams>,
) -> Result<Json<Value>, ApiError> {
    let job = state.store.job(id).await?.ok_or(ApiError::NotFound)?;
    let (offset, limit) = page.window();
    let listing = state.store.dry_run_listing(job.id, offset, limit).await?;
    Ok(Json(json!({"job": job, "listing": listing})))
}
