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
use super::super::forms::{
    CsrfForm, PAGE, PageQuery, entered_or_new_secret, is_short_line, page_of,
};
use super::super::render;
use super::super::session::{Actor, Admin, SignedIn};
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
    if !is_short_line(description) {
        return Err(Error::BadRequest(
            "Describe the endpoint in at most 200 characters, on one line.".into(),
        ));
    }
    let (secret, entered) = entered_or_new_secret(scheme, form.secret)?;
    let new = NewEndpoint {
        scheme,
        description,
        respond_inline,
        secret,
        entered,
        queue_sync: form.queue_sync.is_some(),
    };
    add_endpoint(
        &state,
        &admin,
        remote,
        &headers,
        &integration,
        new,
        context! {},
    )
    .await
}

/// An endpoint to add, as the form or a connector's schema asks for it.
struct NewEndpoint<'a> {
    scheme: Scheme,
    description: &'a str,
    respond_inline: bool,
    secret: String,
    /// Whether the admin entered `secret` (else this host made it up).
    entered: bool,
    queue_sync: bool,
}

/// Creates the endpoint `new` of `integration`, audited as
/// `integration.webhook.add`, and shows its URL and, when this host made it
/// up, its secret, once; `extra` adds to what the page shows.
async fn add_endpoint(
    state: &AppState,
    admin: &Admin,
    remote: SocketAddr,
    headers: &HeaderMap,
    integration: &crate::store::integrations::Integration,
    new: NewEndpoint<'_>,
    extra: minijinja::Value,
) -> Result<Html<String>, Error> {
    let webhook = create_endpoint(
        state,
        integration.id,
        new.scheme,
        new.description,
        new.respond_inline,
        &new.secret,
        new.queue_sync,
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
                    "respond_inline": webhook.respond_inline, "queue_sync": new.queue_sync,
                    "secret": if new.entered { "entered by the admin" } else { "generated" }})),
    )
    .await?;
    render::signed_in_page(
        "integrations/webhook_created.html",
        &admin.0,
        context! {
            integration => integration,
            webhook => webhook,
            url => format!("{}/hooks/{}", base_url(state, headers), webhook.token),
            scheme => new.scheme.describe(),
            // Shown once, and only when this host made it up.
            generated_secret => (!new.entered).then_some(new.secret),
            ..extra
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
    let new = NewEndpoint {
        scheme,
        description: "added by the setup wizard",
        respond_inline: respond_inline("", scheme).unwrap_or(false),
        secret: scheme.new_secret(),
        entered: false,
        queue_sync: false,
    };
    let extra = context! { help => help, notice => notice };
    add_endpoint(state, admin, remote, headers, integration, new, extra)
        .await
        .map(Some)
}

/// Removes the endpoint `webhook` of integration `id` (pages and API
/// alike), audited; deliveries to it are refused from now on.
pub(in crate::web) async fn remove_endpoint(
    state: &AppState,
    who: &impl Actor,
    remote: SocketAddr,
    id: i64,
    webhook: i64,
) -> Result<(), Error> {
    let integration = find(state, id).await?;
    if !state.store.delete_webhook(id, webhook).await? {
        return Err(Error::NotFound);
    }
    state.endpoints.forget_all();
    audit(
        state,
        who,
        remote,
        "integration.webhook.delete",
        &integration.name,
        Some(json!({"webhook": webhook})),
        None,
    )
    .await
}

async fn remove(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Path((id, webhook)): Path<(i64, i64)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    remove_endpoint(&state, &admin.0, remote, id, webhook).await?;
    Ok(redirect_with_notice(
        &format!("/integrations/{id}"),
        "Webhook endpoint removed; deliveries to it are now refused.",
    ))
}

/// An endpoint's deliveries: what arrived, how processing went, and a
/// replay button for those that can be processed again.
async fn deliveries(
    State(state): State<AppState>,
    user: SignedIn,
    headers: HeaderMap,
    Path((id, webhook)): Path<(i64, i64)>,
    Query(q): Query<PageQuery>,
) -> Result<Html<String>, Error> {
    let integration = find(&state, id).await?;
    let endpoint = state
        .store
        .webhook(webhook)
        .await?
        .filter(|w| w.integration_id == id)
        .ok_or(Error::NotFound)?;
    let offset = q.offset();
    let (rows, previous, next) = page_of(
        state.store.deliveries_of(webhook, PAGE + 1, offset).await?,
        offset,
    );
    render::signed_in_page(
        "integrations/deliveries.html",
        &user,
        context! {
            integration => integration,
            webhook => endpoint,
            url => format!("{}/hooks/{}", base_url(&state, &headers), endpoint.token),
            deliveries => rows,
            previous => previous,
            next => next,
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
