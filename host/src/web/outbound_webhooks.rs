//! `/admin/outbound-webhooks`: subscribers to work order events, for
//! admins. The signing secret is shown once, when a subscriber is added;
//! each subscriber's page lists its deliveries with their last attempt and
//! replays them on request.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::response::{Html, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::context;
use serde_json::json;

use super::audit::record;
use super::error::Error;
use super::forms::{CsrfForm, Notice, entered_or_new_secret, is_short_line, redirect_with_notice};
use super::session::Admin;
use super::{AppState, render};
use crate::store::outbound::EVENT_TYPES;
use crate::webhooks::outbound::seal_secret;
use crate::webhooks::signature::Scheme;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/outbound-webhooks", get(list).post(add))
        .route("/admin/outbound-webhooks/{id}", get(show))
        .route("/admin/outbound-webhooks/{id}/delete", post(remove))
        .route("/admin/outbound-webhooks/{id}/enable", post(enable))
        .route(
            "/admin/outbound-webhooks/{id}/deliveries/{delivery}/replay",
            post(replay),
        )
}

async fn list(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<Notice>,
) -> Result<Html<String>, Error> {
    render::signed_in_page(
        "admin/outbound_webhooks.html",
        &admin.0,
        context! {
            webhooks => state.store.outbound_webhooks().await?,
            event_types => EVENT_TYPES,
            notice => q.notice,
        },
    )
}

/// The add form: repeated `events` fields arrive as a list.
fn read_add_form(body: &str) -> (String, String, String, String, Vec<String>) {
    let (mut csrf, mut url, mut description, mut secret, mut events) = (
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        Vec::new(),
    );
    for (key, value) in
        serde_urlencoded::from_str::<Vec<(String, String)>>(body).unwrap_or_default()
    {
        match key.as_str() {
            "csrf_token" => csrf = value,
            "url" => url = value.trim().to_owned(),
            "description" => description = value.trim().to_owned(),
            "secret" => secret = value.trim().to_owned(),
            "events" => events.push(value),
            _ => {}
        }
    }
    (csrf, url, description, secret, events)
}

async fn add(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    body: String,
) -> Result<Html<String>, Error> {
    let (csrf, url, description, secret, events) = read_add_form(&body);
    admin.0.check_csrf(&csrf)?;
    let parsed = url::Url::parse(&url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if parsed.is_none() {
        return Err(Error::BadRequest(
            "Enter the receiver's URL, starting with https:// (or http:// on your own network)."
                .into(),
        ));
    }
    if events.is_empty() || events.iter().any(|e| !EVENT_TYPES.contains(&e.as_str())) {
        return Err(Error::BadRequest("Choose at least one event.".into()));
    }
    if !is_short_line(&description) {
        return Err(Error::BadRequest(
            "Describe the receiver in at most 200 characters, on one line.".into(),
        ));
    }
    let (secret, given) = entered_or_new_secret(Scheme::StandardWebhooks, secret)?;
    let sealer = state.sealer.clone();
    let webhook = state
        .store
        .create_outbound_webhook(
            &url,
            &description,
            &events,
            &admin.0.user().username,
            |id| seal_secret(&sealer, id, &secret),
        )
        .await?;
    let secret_from = if given {
        "entered by the admin"
    } else {
        "generated"
    };
    let after = json!({"url": webhook.url, "events": webhook.events, "secret": secret_from});
    audit(
        &state,
        &admin,
        remote,
        "outbound-webhook.add",
        webhook.id,
        after,
    )
    .await?;
    render::signed_in_page(
        "admin/outbound_webhook.html",
        &admin.0,
        context! {
            webhook => webhook,
            deliveries => Vec::<()>::new(),
            generated_secret => (!given).then_some(secret),
        },
    )
}

async fn show(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<i64>,
    Query(q): Query<Notice>,
) -> Result<Html<String>, Error> {
    let webhook = state
        .store
        .outbound_webhook(id)
        .await?
        .ok_or(Error::NotFound)?;
    render::signed_in_page(
        "admin/outbound_webhook.html",
        &admin.0,
        context! {
            webhook => webhook,
            deliveries => state.store.outbound_deliveries_of(id, 100).await?,
            notice => q.notice,
        },
    )
}

async fn audit(
    state: &AppState,
    admin: &Admin,
    remote: SocketAddr,
    action: &str,
    id: i64,
    after: serde_json::Value,
) -> Result<(), Error> {
    record(
        state,
        &admin.0,
        remote,
        action,
        &format!("outbound-webhook:{id}"),
        None,
        Some(after),
    )
    .await?;
    Ok(())
}

async fn remove(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    if !state.store.delete_outbound_webhook(id).await? {
        return Err(Error::NotFound);
    }
    audit(
        &state,
        &admin,
        remote,
        "outbound-webhook.delete",
        id,
        json!({"deleted": true}),
    )
    .await?;
    Ok(redirect_with_notice(
        "/admin/outbound-webhooks",
        "Subscriber removed; nothing more is sent to it.",
    ))
}

async fn enable(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    if !state.store.enable_outbound_webhook(id).await? {
        return Err(Error::NotFound);
    }
    audit(
        &state,
        &admin,
        remote,
        "outbound-webhook.enable",
        id,
        json!({"enabled": true}),
    )
    .await?;
    Ok(redirect_with_notice(
        &format!("/admin/outbound-webhooks/{id}"),
        "Subscriber enabled; new events are sent to it.",
    ))
}

async fn replay(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Path((id, delivery)): Path<(i64, i64)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    if !state.store.replay_outbound(id, delivery).await? {
        return Err(Error::BadRequest(
            "This delivery is being sent right now, or does not exist.".into(),
        ));
    }
    audit(
        &state,
        &admin,
        remote,
        "outbound-webhook.replay",
        id,
        json!({"delivery": delivery}),
    )
    .await?;
    state.sync.wake();
    Ok(redirect_with_notice(
        &format!("/admin/outbound-webhooks/{id}"),
        "Delivery queued to be sent again.",
    ))
}
