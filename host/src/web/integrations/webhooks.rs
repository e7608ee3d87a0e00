//! An integration's webhook endpoints: added and removed on its page. The
//! signing secret is shown once, when the endpoint is created, and never
//! again.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, Response};
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
use crate::store::webhooks::Webhook;
use crate::webhooks::signature::Scheme;
use crate::webhooks::{respond_inline, seal_secret};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/integrations/{id}/webhooks", post(add))
        .route("/integrations/{id}/webhooks/{webhook}/delete", post(remove))
        .route("/integrations/{id}/webhooks/{webhook}", get(deliveries))
        .route(
            "/integrations/{id}/webhooks/{webhook}/deliveries/{delivery}/replay",
            post(replay),
        )
}

/// Where senders reach this server: the configured public URL, else the
/// address this request came to.
pub(in crate::web) fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:8080");
    format!("http://{host}")
}

/// Creates an endpoint of integration `id` (pages and API alike): a new
/// token, `secret` sealed to its row, and, with `queue_sync`, each delivery
/// queueing an incremental sync.
pub(in crate::web) async fn create_endpoint(
    state: &AppState,
    id: i64,
    scheme: Scheme,
    description: &str,
    respond_inline: bool,
    secret: &str,
    queue_sync: bool,
) -> Result<Webhook, sqlx::Error> {
    let token = crate::store::sessions::random_token();
    let sealer = state.sealer.clone();
    let webhook = state
        .store
        .create_webhook(
            id,
            &token,
            scheme.as_str(),
            description,
            respond_inline,
            |row| seal_secret(&sealer, row, secret),
        )
        .await?;
    if queue_sync {
        state.store.set_webhook_queue_sync(webhook.id, true).await?;
    }
    Ok(webhook)
}

/// The schemes, for the form's choice list.
pub(super) fn schemes() -> Vec<serde_json::Value> {
    Scheme::ALL
        .iter()
        .map(|s| json!({"id": s.as_str(), "label": s.describe()}))
        .collect()
}

#[derive(Deserialize)]
struct AddForm {
    csrf_token: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    scheme: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    answer: String,
    /// A checkbox: each delivery also queues an incremental sync.
    #[serde(default)]
    queue_sync: Option<String>,
}

async fn add(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<AddForm>,
) -> Result<Html<String>, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    let integration = find(&state, id).await?;
    let scheme = Scheme::parse(&form.scheme)
        .ok_or_else(|| Error::BadRequest("Choose how the sender signs its deliveries.".into()))?;
    let respond_inline = respond_inline(&form.answer, scheme).ok_or_else(|| {
        Error::BadRequest("Choose whether the sender waits for the connector's answer.".into())
    })?;
    let description = form.description.trim();
    if description.chars().count() > 200 || description.chars().any(char::is_control) {
        return Err(Error::BadRequest(
            "Describe the endpoint in at most 200 characters, on one line.".into(),
        ));
    }
    let given = !form.secret.is_empty();
    if given {
        scheme
            .check_secret(&form.secret)
            .map_err(Error::BadRequest)?;
    }
    let secret = if given {
        form.secret.clone()
    } else {
        scheme.new_secret()
    };
    let queue_sync = form.queue_sync.is_some();
    let webhook = create_endpoint(
        &state,
        id,
        scheme,
        description,
        respond_inline,
        &secret,
        queue_sync,
    )
    .await?;
    audit(
        &state,
        &admin.0,
        remote,
        "integration.webhook.add",
        &integration.name,
        None,
        Some(json!({"webhook": webhook.id, "scheme": webhook.scheme, "description": webhook.description,
                    "respond_inline": webhook.respond_inline, "queue_sync": queue_sync,
                    "secret": if given { "entered by the admin" } else { "generated" }})),
    )
    .await?;
    render::page(
        "integrations/webhook_created.html",
        context! {
            user => admin.0.user(),
            csrf_token => &admin.0.session.csrf_token,
            integration => integration,
            webhook => webhook,
            url => format!("{}/hooks/{}", base_url(&state, &headers), webhook.token),
            scheme => scheme.describe(),
            // Shown once, and only when this host made it up.
            generated_secret => (!given).then_some(secret),
        },
    )
}

/// Adds the endpoint a connector's schema asks for (`x-cube-webhook`:
/// `{"scheme": "...", "help": "..."}`) to a new integration, with a
/// generated secret, and shows its URL and secret once with the
/// connector's instructions for the sender. `None` when the schema asks
/// for none (or names a scheme this host does not know).
pub(super) async fn add_requested(
    state: &AppState,
    admin: &Admin,
    remote: SocketAddr,
    headers: &HeaderMap,
    integration: &crate::store::integrations::Integration,
    schema: &serde_json::Value,
    notice: &str,
) -> Result<Option<Html<String>>, Error> {
    let Some(requested) = schema.get("x-cube-webhook") else {
        return Ok(None);
    };
    let Some(scheme) = requested
        .get("scheme")
        .and_then(|s| s.as_str())
        .and_then(Scheme::parse)
    else {
        tracing::warn!(
            integration = integration.id,
            "the connector asks for a webhook with an unknown scheme; none added"
        );
        return Ok(None);
    };
    let help = requested
        .get("help")
        .and_then(|h| h.as_str())
        .unwrap_or_default();
    let secret = scheme.new_secret();
    let respond_inline = respond_inline("", scheme).unwrap_or(false);
    let description = "added by the setup wizard";
    let webhook = create_endpoint(
        state,
        integration.id,
        scheme,
        description,
        respond_inline,
        &secret,
        false,
    )
    .await?;
    audit(
        state,
        &admin.0,
        remote,
        "integration.webhook.add",
        &integration.name,
        None,
        Some(json!({"webhook": webhook.id, "scheme": webhook.scheme, "description": webhook.description,
                    "respond_inline": webhook.respond_inline, "queue_sync": false,
                    "secret": "generated"})),
    )
    .await?;
    render::page(
        "integrations/webhook_created.html",
        context! {
            user => admin.0.user(),
            csrf_token => &admin.0.session.csrf_token,
            integration => integration,
            webhook => webhook,
            url => format!("{}/hooks/{}", base_url(state, headers), webhook.token),
            scheme => scheme.describe(),
            generated_secret => Some(secret),
            help => help,
            notice => notice,
        },
    )
    .map(Some)
}

async fn remove(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Path((id, webhook)): Path<(i64, i64)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    let integration = find(&state, id).await?;
    if !state.store.delete_webhook(id, webhook).await? {
        return Err(Error::NotFound);
    }
    state.endpoints.forget_all();
    audit(
        &state,
        &admin.0,
        remote,
        "integration.webhook.delete",
        &integration.name,
        Some(json!({"webhook": webhook})),
        None,
    )
    .await?;
    Ok(redirect_with_notice(
        &format!("/integrations/{id}"),
        "Webhook endpoint removed; deliveries to it are now refused.",
    ))
}

#[derive(Deserialize, Default)]
struct DeliveriesQuery {
    #[serde(default)]
    offset: i64,
    notice: Option<String>,
}

const PAGE: i64 = 50;

/// An endpoint's deliveries: what arrived, how processing went, and a
/// replay button for those that can be processed again.
async fn deliveries(
    State(state): State<AppState>,
    user: SignedIn,
    headers: HeaderMap,
    Path((id, webhook)): Path<(i64, i64)>,
    Query(q): Query<DeliveriesQuery>,
) -> Result<Html<String>, Error> {
    let integration = find(&state, id).await?;
    let endpoint = state
        .store
        .webhook(webhook)
        .await?
        .filter(|w| w.integration_id == id)
        .ok_or(Error::NotFound)?;
    let offset = q.offset.max(0);
    let mut rows = state.store.deliveries_of(webhook, PAGE + 1, offset).await?;
    let more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    render::page(
        "integrations/deliveries.html",
        context! {
            user => user.user(),
            csrf_token => &user.session.csrf_token,
            integration => integration,
            webhook => endpoint,
            url => format!("{}/hooks/{}", base_url(&state, &headers), endpoint.token),
            deliveries => rows,
            previous => (offset > 0).then(|| (offset - PAGE).max(0)),
            next => more.then_some(offset + PAGE),
            notice => q.notice,
        },
    )
}

async fn replay(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Path((id, webhook, delivery)): Path<(i64, i64, i64)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    let integration = find(&state, id).await?;
    state
        .store
        .webhook(webhook)
        .await?
        .filter(|w| w.integration_id == id)
        .ok_or(Error::NotFound)?;
    if !state.store.replay_delivery(webhook, delivery).await? {
        return Err(Error::BadRequest(
            "This delivery cannot be replayed: it is still waiting, or its payload was purged after the retention period.".into(),
        ));
    }
    audit(
        &state,
        &admin.0,
        remote,
        "integration.webhook.replay",
        &integration.name,
        None,
        Some(json!({"webhook": webhook, "delivery": delivery})),
    )
    .await?;
    state.sync.wake_deliveries();
    Ok(redirect_with_notice(
        &format!("/integrations/{id}/webhooks/{webhook}"),
        "Delivery queued to be processed again.",
    ))
}
