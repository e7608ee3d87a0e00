//! `/integrations/{id}`: an integration's configuration (secrets masked),
//! grants, mappings and recent syncs, and the buttons Test connection, Sync
//! now, Enable/Disable and Delete.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::context;
use serde::Deserialize;
use serde_json::json;

use super::super::AppState;
use super::super::error::Error;
use super::super::forms::CsrfForm;
use super::super::render;
use super::super::session::{Admin, SignedIn};
use super::{audit, find, redirect_with_notice};
use crate::integrations::{self, Verdict};
use crate::store::sync_logs::SyncLogFilter;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/integrations/{id}", get(show))
        .route("/integrations/{id}/test", post(test))
        .route("/integrations/{id}/sync", post(sync_now))
        .route("/integrations/{id}/enable", post(set_enabled::<true>))
        .route("/integrations/{id}/disable", post(set_enabled::<false>))
        .route(
            "/integrations/{id}/delete",
            get(confirm_delete).post(delete),
        )
        .route("/integrations/{id}/mappings", post(add_mapping))
        .route(
            "/integrations/{id}/mappings/{mapping}/delete",
            post(delete_mapping),
        )
}

#[derive(Deserialize)]
struct Notice {
    notice: Option<String>,
    error: Option<String>,
    /// Where the list of held deletions starts.
    #[serde(default)]
    deletions_offset: i64,
}

async fn show(
    State(state): State<AppState>,
    signed_in: SignedIn,
    headers: axum::http::HeaderMap,
    Path(id): Path<i64>,
    Query(q): Query<Notice>,
) -> Result<Html<String>, Error> {
    let integration = find(&state, id).await?;
    let connector = state
        .catalog
        .get(&integration.provider_id)
        .map(|(_, info)| info);
    let fields = match &connector {
        Some(info) => super::form::config_form(info)
            .map(|f| f.fields)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    // The configuration as the admin sees it: plain values, and secrets as
    // "set" or "not set", in the schema's order.
    let config: Vec<_> = fields
        .iter()
        .map(|f| {
            let shown = if f.secret {
                json!(if integration.sealed_secrets.contains_key(&f.name) {
                    "set"
                } else {
                    "not set"
                })
            } else {
                integration
                    .config
                    .get(&f.name)
                    .cloned()
                    .unwrap_or(json!(""))
            };
            json!({"label": f.label, "secret": f.secret, "value": shown})
        })
        .collect();
    let (recent, _) = state
        .store
        .sync_logs(
            &SyncLogFilter {
                integration_id: Some(id),
                ..Default::default()
            },
            0,
            10,
        )
        .await?;
    let pending = state.store.pending_job(id).await?;
    let last_test: Option<Verdict> = integration
        .last_test_message
        .as_deref()
        .and_then(|m| serde_json::from_str(m).ok());
    let mappings = state.store.mappings(id).await?;
    let synced = state.store.synced_counts(id).await?;
    let directory_sign_in = super::directory_sign_in::view(&state, &integration).await?;
    let deletions = super::deletions::view(&state, &integration, q.deletions_offset).await?;
    let base = super::webhooks::base_url(&state, &headers);
    let webhooks: Vec<_> = state
        .store
        .webhooks_of(id)
        .await?
        .into_iter()
        .map(|(w, counts)| json!({"webhook": w, "counts": counts, "url": format!("{base}/hooks/{}", w.token)}))
        .collect();
    render::signed_in_page(
        "integrations/detail.html",
        &signed_in,
        context! {
            integration => &integration,
            next_syncs => super::full_sync::next_runs(&integration),
            connector => connector.map(|info| json!({"name": info.name, "version": info.version, "id": info.id})),
            config => config,
            http_grants => integration.http_grants.iter().map(|g| json!({"pattern": g.pattern(), "private": g.allows_private()})).collect::<Vec<_>>(),
            ldap_grants => integration.ldap_grants.iter().map(|g| g.to_string()).collect::<Vec<_>>(),
            recent => recent,
            pending => pending,
            last_test => last_test,
            mappings => mappings,
            synced => synced,
            webhooks => webhooks,
            directory_sign_in => directory_sign_in,
            deletions => deletions,
            schemes => super::webhooks::schemes(),
            notice => q.notice,
            error => q.error,
        },
    )
}

/// Runs the connection test now and keeps its verdict.
async fn test(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    let integration = find(&state, id).await?;
    let verdict = super::actions::test(&state, &integration, "manual").await?;
    let notice = if verdict.ok {
        "Connection test passed."
    } else {
        "Connection test failed; see the verdict below."
    };
    Ok(redirect_with_notice(&format!("/integrations/{id}"), notice))
}

#[derive(Deserialize)]
struct SyncForm {
    csrf_token: String,
    #[serde(default)]
    mode: String,
    dry_run: Option<String>,
}

async fn sync_now(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Path(id): Path<i64>,
    Form(form): Form<SyncForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    let integration = find(&state, id).await?;
    if !integration.enabled {
        return Err(Error::BadRequest(format!(
            "{} is disabled. Enable it before syncing.",
            integration.name
        )));
    }
    let mode = if form.mode == "full" {
        "full"
    } else {
        "incremental"
    };
    let dry_run = form.dry_run.is_some();
    let (job, queued) = super::actions::queue_sync(
        &state,
        &admin.0,
        remote,
        &integration,
        "manual",
        mode,
        dry_run,
    )
    .await?;
    if !queued {
        return Ok(redirect_with_notice(
            &format!("/integrations/{id}"),
            &format!("A sync is already {} (job {}).", job.status, job.id),
        ));
    }
    Ok(redirect_with_notice(
        &format!("/integrations/{id}"),
        &format!("Sync queued (job {}).", job.id),
    ))
}

/// The Enable (`ENABLED`) or Disable button.
async fn set_enabled<const ENABLED: bool>(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    let integration = find(&state, id).await?;
    state
        .store
        .set_integration_enabled(id, ENABLED, &admin.0.user().username)
        .await?;
    if ENABLED {
        // Deliveries and pushes kept while it was disabled can go now.
        state.sync.wake_deliveries();
        state.sync.wake();
    }
    let action = if ENABLED {
        "integration.enable"
    } else {
        "integration.disable"
    };
    audit(
        &state,
        &admin.0,
        remote,
        action,
        &integration.name,
        Some(json!({"enabled": integration.enabled})),
        Some(json!({"enabled": ENABLED})),
    )
    .await?;
    let notice = if ENABLED {
        "Integration enabled."
    } else {
        "Integration disabled: it will not sync until enabled."
    };
    Ok(redirect_with_notice(&format!("/integrations/{id}"), notice))
}

async fn confirm_delete(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<i64>,
) -> Result<Html<String>, Error> {
    let integration = find(&state, id).await?;
    let synced = state.store.synced_counts(id).await?;
    render::signed_in_page(
        "integrations/delete.html",
        &admin.0,
        context! {
            integration => integration,
            synced => synced,
        },
    )
}

#[derive(Deserialize)]
struct DeleteForm {
    csrf_token: String,
    #[serde(default)]
    confirm_name: String,
}

async fn delete(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Path(id): Path<i64>,
    Form(form): Form<DeleteForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    let integration = find(&state, id).await?;
    if form.confirm_name.trim() != integration.name {
        return Err(Error::BadRequest(
            "Type the integration's name exactly to confirm deleting it.".into(),
        ));
    }
    super::actions::delete(&state, &admin.0, remote, &integration).await?;
    Ok(redirect_with_notice(
        "/integrations/list",
        &format!("Integration {} deleted.", integration.name),
    ))
}

#[derive(Deserialize)]
struct MappingForm {
    csrf_token: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    source_field: String,
    #[serde(default)]
    target_field: String,
    #[serde(default)]
    transform: String,
}

async fn add_mapping(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Path(id): Path<i64>,
    Form(form): Form<MappingForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    let integration = find(&state, id).await?;
    let back = format!("/integrations/{id}");
    let (kind, source, target) = (
        form.kind.trim(),
        form.source_field.trim(),
        form.target_field.trim(),
    );
    let transform = Some(form.transform.trim()).filter(|t| !t.is_empty());
    let problem = if kind.is_empty() || source.is_empty() || target.is_empty() {
        Some("A mapping needs a record kind, a source field and a target field.".to_owned())
    } else {
        transform.and_then(|t| integrations::validate_transform(t).err())
    };
    if let Some(problem) = problem {
        return Ok(axum::response::Redirect::to(&format!(
            "{back}?error={}",
            super::super::urlencode(&problem)
        ))
        .into_response());
    }
    let mapping = state
        .store
        .add_mapping(id, kind, source, target, transform)
        .await?;
    audit(&state, &admin.0, remote, "integration.mapping.add", &integration.name, None,
          Some(json!({"mapping": mapping, "kind": kind, "source": source, "target": target, "transform": transform}))).await?;
    Ok(redirect_with_notice(&back, "Mapping added."))
}

async fn delete_mapping(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Path((id, mapping)): Path<(i64, i64)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    let integration = find(&state, id).await?;
    if !state.store.delete_mapping(id, mapping).await? {
        return Err(Error::NotFound);
    }
    audit(
        &state,
        &admin.0,
        remote,
        "integration.mapping.delete",
        &integration.name,
        Some(json!({"mapping": mapping})),
        None,
    )
    .await?;
    Ok(redirect_with_notice(
        &format!("/integrations/{id}"),
        "Mapping removed.",
    ))
}
