//! `cube plugin test`: a connector put through what the host will ask of
//! it, in the real sandbox, with a verdict per step.
//!
//! The steps are the ones an admin's setup and the sync engine go through:
//! the component loads; `info()` describes a valid id and version and a
//! schema the admin form can draw; the example configuration passes that
//! form's checks; the connection test succeeds; a full sync pages to the end
//! with well-formed records and cursors; an incremental sync goes on from
//! the cursor; sample webhook deliveries turn into records. Each step that
//! fails says why, and the later steps still run where they can, so one run
//! shows every problem.
//!
//! HTTP can come from the network (inside `--allow` grants, as in
//! production) or from a recording (see
//! [`HttpRecording`](crate::runtime::HttpRecording)).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

use crate::integrations::schema::{ConfigForm, form_inputs};
use crate::runtime::types::{
    ConnectorInfo, Features, Record, SyncMode, SyncPage, SyncRequest, WebhookRequest,
};
use crate::runtime::{
    CallContext, Connector, HttpGrant, HttpRecording, LdapGrant, RecordingMode, Runtime, Secrets,
};
use crate::shared::connector_id::is_id;

/// What to test, and with what.
pub struct Trial {
    pub component: Vec<u8>,
    /// The integration's configuration, secrets included.
    pub config: Value,
    pub http_grants: Vec<HttpGrant>,
    pub ldap_grants: Vec<LdapGrant>,
    /// Record the HTTP exchanges, or answer from a recording.
    pub recording: Option<RecordingPlan>,
    /// Sample webhook deliveries: (name, body).
    pub deliveries: Vec<(String, Vec<u8>)>,
    pub page_size: u32,
    /// A sync that has not ended after this many pages fails.
    pub max_pages: u32,
}

/// What to do with HTTP besides the network.
pub enum RecordingPlan {
    /// Keep every exchange (secrets left out: which fields are secret is
    /// known once `info()` has given the schema).
    Record,
    /// Answer from this recording's JSON text.
    Replay(String),
}

/// The steps in order, and the recording made or replayed.
pub struct Outcome {
    pub steps: Vec<Step>,
    pub recording: Option<Arc<HttpRecording>>,
}

/// One step's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    /// What was found, or why the step failed.
    pub result: Result<String, String>,
    /// What the connector logged during the step.
    pub log: Vec<String>,
}

impl Step {
    fn new(name: impl Into<String>, result: Result<String, String>) -> Self {
        Self {
            name: name.into(),
            result,
            log: Vec::new(),
        }
    }
}

/// Runs every step that can run.
pub async fn run(runtime: &Runtime, trial: Trial) -> Outcome {
    let mut steps = Vec::new();
    let done = |steps| Outcome {
        steps,
        recording: None,
    };
    let connector = match runtime.load(&trial.component) {
        Ok(connector) => {
            steps.push(Step::new(
                "load",
                Ok(format!(
                    "a component of world {} ({} KiB)",
                    crate::runtime::WORLD,
                    trial.component.len() / 1024
                )),
            ));
            connector
        }
        Err(error) => {
            steps.push(Step::new("load", Err(error.to_string())));
            return done(steps);
        }
    };
    let base = runtime.context("plugin-test");
    let outcome = connector.info(&base).await;
    let info = match outcome.result {
        Ok(info) => info,
        Err(error) => {
            steps.push(Step::new("info", Err(format!("info() failed: {error}"))));
            return done(steps);
        }
    };
    let info_check = check_info(&info);
    let schema: Value = serde_json::from_str(&info.config_schema).unwrap_or(Value::Null);
    steps.push(Step::new("info", info_check));
    steps.push(Step::new("config", check_config(&schema, &trial.config)));

    let secrets = Secrets::from_config(&schema, &trial.config);
    let recording = match &trial.recording {
        None => None,
        Some(RecordingPlan::Record) => Some(Arc::new(HttpRecording::record(secrets.clone()))),
        Some(RecordingPlan::Replay(json)) => match HttpRecording::replay(json, secrets.clone()) {
            Ok(recording) => Some(Arc::new(recording)),
            Err(error) => {
                steps.push(Step::new("recording", Err(error)));
                return done(steps);
            }
        },
    };
    let replaying = recording
        .as_ref()
        .is_some_and(|r| r.mode() == RecordingMode::Replay);
    let mut http_grants = trial.http_grants.clone();
    if let Some(recording) = recording.as_ref().filter(|_| replaying)
        && http_grants.is_empty()
    {
        // Nothing is reached when replaying: grant what was granted when
        // the recording was made, its servers.
        http_grants = recording
            .origins()
            .iter()
            .filter_map(|origin| origin.parse::<HttpGrant>().ok())
            .map(|g| g.allow_private(true))
            .collect();
    }
    // Each step gets a context of its own, as the host gives one to a
    // connection test and one to each sync job (LDAP connections, and the
    // paged searches on them, last as long as their context).
    let context = || {
        let ctx = runtime
            .context("plugin-test")
            .with_http_grants(http_grants.clone())
            .with_ldap_grants(trial.ldap_grants.clone())
            .with_secrets(secrets.clone());
        match &recording {
            Some(recording) => ctx.with_http_recording(recording.clone()),
            None => ctx,
        }
    };
    let config = trial.config.to_string();

    let outcome = connector.test_connection(&context(), &config).await;
    let mut step = Step::new("test connection", outcome.result.map_err(|e| e.to_string()));
    step.log = log_lines(&outcome.report);
    steps.push(step);

    if info.features.contains(Features::SYNC) {
        let (full, cursor) = sync_all(
            &connector,
            &context(),
            &config,
            &trial,
            SyncMode::Full,
            None,
        )
        .await;
        steps.push(full);
        let (incremental, _) = sync_all(
            &connector,
            &context(),
            &config,
            &trial,
            SyncMode::Incremental,
            cursor,
        )
        .await;
        steps.push(incremental);
    }
    for (name, body) in &trial.deliveries {
        steps.push(deliver(&connector, &context(), &config, &info, name, body).await);
    }
    if let Some(recording) = recording.as_ref().filter(|_| replaying) {
        let (all, answered) = recording.counts();
        if answered < all {
            steps.push(Step::new(
                "recording",
                Ok(format!(
                    "{answered} of {all} recorded exchanges were asked for; \
                     the others are no longer sent (record again to drop them)"
                )),
            ));
        }
    }
    Outcome { steps, recording }
}

fn check_info(info: &ConnectorInfo) -> Result<String, String> {
    let mut problems = Vec::new();
    if !is_id(&info.id) {
        problems.push(format!(
            "id `{}` is not lowercase letters, digits and dashes",
            info.id
        ));
    }
    if semver::Version::parse(&info.version).is_err() {
        problems.push(format!(
            "version `{}` is not a semantic version (like 1.2.0)",
            info.version
        ));
    }
    if info.name.trim().is_empty() {
        problems.push("the name is empty".into());
    }
    match serde_json::from_str::<Value>(&info.config_schema) {
        Ok(schema) => {
            if let Err(e) = ConfigForm::from_schema(&schema) {
                problems.push(format!(
                    "the admin form cannot be drawn from the schema: {e}"
                ));
            }
        }
        Err(e) => problems.push(format!("the config schema is not JSON: {e}")),
    }
    for pattern in &info.capabilities.http {
        if let Err(e) = pattern.parse::<HttpGrant>() {
            problems.push(format!("the HTTP capability `{pattern}` is not valid: {e}"));
        }
    }
    for pattern in &info.capabilities.ldap {
        if let Err(e) = LdapGrant::parse(pattern) {
            problems.push(format!("the LDAP capability `{pattern}` is not valid: {e}"));
        }
    }
    if info.features == Features::empty() {
        problems.push("it declares no feature (sync, push or webhooks)".into());
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    let mut asks: Vec<String> = info.capabilities.http.clone();
    asks.extend(info.capabilities.ldap.iter().cloned());
    Ok(format!(
        "{} {} ({}); asks for {}",
        info.id,
        info.version,
        feature_names(info.features).join(", "),
        if asks.is_empty() {
            "nothing".to_owned()
        } else {
            asks.join(", ")
        }
    ))
}

/// The configuration put through the admin form's own checks.
fn check_config(schema: &Value, config: &Value) -> Result<String, String> {
    let form = ConfigForm::from_schema(schema)?;
    let Some(object) = config.as_object() else {
        return Err("the configuration is not a JSON object".into());
    };
    let inputs = form_inputs(object);
    let unknown: Vec<&String> = object
        .keys()
        .filter(|k| !form.fields.iter().any(|f| &f.name == *k))
        .collect();
    form.parse(&inputs, None, &[]).map_err(|errors| {
        errors
            .iter()
            .map(|(field, message)| format!("{field}: {message}"))
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    let given = form
        .fields
        .iter()
        .filter(|f| object.get(&f.name).is_some_and(|v| !v.is_null()))
        .count();
    let mut verdict = format!("{given} fields pass the admin form's checks");
    if !unknown.is_empty() {
        let names: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
        verdict.push_str(&format!(
            " (not in the schema, so an admin could not set: {})",
            names.join(", ")
        ));
    }
    Ok(verdict)
}

/// A whole sync, page by page; its step and the cursor it ended with.
async fn sync_all(
    connector: &Connector,
    ctx: &CallContext,
    config: &str,
    trial: &Trial,
    mode: SyncMode,
    cursor: Option<String>,
) -> (Step, Option<String>) {
    let name = match mode {
        SyncMode::Full => "full sync",
        SyncMode::Incremental => "incremental sync",
    };
    let mut cursor = cursor;
    let mut seen = HashSet::new();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    let mut log = Vec::new();
    for page in 1..=trial.max_pages {
        let request = SyncRequest {
            config: config.to_owned(),
            mode,
            cursor: cursor.clone(),
            dry_run: false,
            page_size: trial.page_size,
        };
        let outcome = connector.sync(ctx, &request).await;
        log.extend(log_lines(&outcome.report));
        let result: Result<SyncPage, String> = outcome.result.map_err(|e| e.to_string());
        let sync_page = match result {
            Ok(p) => p,
            Err(error) => {
                let step = Step {
                    name: name.into(),
                    result: Err(format!("page {page}: {error}")),
                    log,
                };
                return (step, None);
            }
        };
        for record in &sync_page.records {
            if let Err(problem) = check_record(record, &mut seen) {
                let step = Step {
                    name: name.into(),
                    result: Err(format!("page {page}: {problem}")),
                    log,
                };
                return (step, None);
            }
            *kinds.entry(record.kind.clone()).or_default() += 1;
        }
        if sync_page.has_more && sync_page.cursor.is_none() {
            let step = Step {
                name: name.into(),
                result: Err(format!(
                    "page {page} says more follow but gives no cursor to continue from"
                )),
                log,
            };
            return (step, None);
        }
        if sync_page.has_more && sync_page.cursor == cursor {
            let step = Step {
                name: name.into(),
                result: Err(format!(
                    "page {page} says more follow but its cursor did not move: the sync would never end"
                )),
                log,
            };
            return (step, None);
        }
        cursor = sync_page.cursor;
        if !sync_page.has_more {
            let counted: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
            let step = Step {
                name: name.into(),
                result: Ok(format!(
                    "{} records in {page} page{} ({}); cursor {}",
                    seen.len(),
                    if page == 1 { "" } else { "s" },
                    if counted.is_empty() {
                        "none".into()
                    } else {
                        counted.join(", ")
                    },
                    cursor.as_deref().unwrap_or("(none)")
                )),
                log,
            };
            return (step, cursor);
        }
    }
    let step = Step {
        name: name.into(),
        result: Err(format!(
            "still not finished after {} pages (raise --max-pages if that is expected)",
            trial.max_pages
        )),
        log,
    };
    (step, None)
}

fn check_record(record: &Record, seen: &mut HashSet<(String, String)>) -> Result<(), String> {
    if record.kind.trim().is_empty() {
        return Err(format!("record `{}` has no kind", record.external_id));
    }
    if record.external_id.trim().is_empty() {
        return Err(format!("a `{}` record has no external id", record.kind));
    }
    match serde_json::from_str::<Value>(&record.fields) {
        Ok(Value::Object(_)) => {}
        Ok(_) | Err(_) if record.deleted && record.fields.trim().is_empty() => {}
        _ => {
            return Err(format!(
                "the fields of {} `{}` are not a JSON object",
                record.kind, record.external_id
            ));
        }
    }
    if !seen.insert((record.kind.clone(), record.external_id.clone())) {
        return Err(format!(
            "{} `{}` came twice in one sync",
            record.kind, record.external_id
        ));
    }
    Ok(())
}

async fn deliver(
    connector: &Connector,
    ctx: &CallContext,
    config: &str,
    info: &ConnectorInfo,
    name: &str,
    body: &[u8],
) -> Step {
    let step_name = format!("webhook {name}");
    if !info.features.contains(Features::WEBHOOKS) {
        return Step::new(
            step_name,
            Err("the connector does not declare webhooks".into()),
        );
    }
    let request = WebhookRequest {
        method: "POST".into(),
        path: String::new(),
        query: String::new(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_vec(),
    };
    let outcome = connector.handle_webhook(ctx, config, &request).await;
    let log = log_lines(&outcome.report);
    let result = match outcome.result {
        Ok(outcome) => {
            let mut seen = HashSet::new();
            let checked: Result<(), String> = outcome
                .records
                .iter()
                .try_for_each(|r| check_record(r, &mut seen));
            checked.map(|()| {
                let ids: Vec<String> = outcome
                    .records
                    .iter()
                    .map(|r| format!("{} {}", r.kind, r.external_id))
                    .collect();
                format!(
                    "{} record{}{}{}",
                    ids.len(),
                    if ids.len() == 1 { "" } else { "s" },
                    if ids.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", ids.join(", "))
                    },
                    match &outcome.response {
                        Some(r) => format!("; answers {}", r.status),
                        None => String::new(),
                    }
                )
            })
        }
        Err(error) => Err(error.to_string()),
    };
    Step {
        name: step_name,
        result,
        log,
    }
}

fn log_lines(report: &crate::runtime::CallReport) -> Vec<String> {
    report
        .log
        .iter()
        .map(|line| format!("[{}] {}", line.level, line.message))
        .collect()
}

/// The names of the features, for people.
pub fn feature_names(features: Features) -> Vec<&'static str> {
    let mut names = Vec::new();
    if features.contains(Features::SYNC) {
        names.push("sync");
    }
    if features.contains(Features::PUSH) {
        names.push("push");
    }
    if features.contains(Features::WEBHOOKS) {
        names.push("webhooks");
    }
    if names.is_empty() {
        names.push("(none)");
    }
    names
}
