//! `/api/v1/integrations/{id}/webhooks`: an integration's webhook
//! endpoints. A generated signing secret is returned once, on creation.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::AppState;
use super::super::forms::is_short_line;
use super::super::integrations::webhooks::{base_url, create_endpoint, remove_endpoint};
use super::super::integrations::{audit, find};
use super::{ApiAdmin, ApiError, ApiUser};
use crate::webhooks::respond_inline;
use crate::webhooks::signature::Scheme;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/integrations/{id}/webhooks", get(list).post(create))
        .route(
            "/api/v1/integrations/{id}/webhooks/{webhook}",
            delete(remove),
        )
        .route(
            "/api/v1/integrations/{id}/webhooks/{webhook}/deliveries",
            get(deliveries),
        )
        .route(
            "/api/v1/integrations/{id}/webhooks/{webhook}/deliveries/{delivery}/replay",
            post(replay),
        )
}

async fn list(
    State(state): State<AppState>,
    _user: ApiUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    find(&state, id).await?;
    let base = base_url(&state, &headers);
    let webhooks: Vec<_> = state
        .store
        .webhooks_of(id)
        .await?
        .into_iter()
        .map(|(w, counts)| {
            json!({"id": w.id, "url": format!("{base}/hooks/{}", w.token), "scheme": w.scheme,
                   "description": w.description, "enabled": w.enabled,
                   "answer": if w.respond_inline { "connector" } else { "stored" },
                   "queue_sync": w.queue_sync, "created_at": w.created_at,
                   "last_received_at": w.last_received_at, "deliveries": counts})
        })
        .collect();
    Ok(Json(json!({ "webhooks": webhooks })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    scheme: String,
    #[serde(default)]
    description: String,
    /// The sender's signing secret; omitted, one is generated.
    secret: Option<String>,
    /// `stored` (202 once stored) or `connector` (the connector's answer);
    /// omitted, `connector` for Slack and `stored` for the others.
    #[serde(default)]
    answer: String,
    /// Each delivery also queues an incremental sync of the integration.
    #[serde(default)]
    queue_sync: bool,
}

async fn create(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: ApiAdmin,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(input): Json<Input>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let integration = find(&state, id).await?;
    let mut fields = std::collections::BTreeMap::new();
    let scheme = Scheme::parse(&input.scheme);
    if scheme.is_none() {
        let names: Vec<_> = Scheme::ALL.iter().map(|s| s.as_str()).collect();
        fields.insert(
            "scheme".to_owned(),
            format!("Choose one of: {}.", names.join(", ")),
        );
    }
    let inline = scheme.and_then(|scheme| respond_inline(&input.answer, scheme));
    if scheme.is_some() && inline.is_none() {
        fields.insert(
            "answer".to_owned(),
            "Choose stored or connector.".to_owned(),
        );
    }
    let description = input.description.trim();
    if !is_short_line(description) {
        fields.insert(
            "description".to_owned(),
            "At most 200 characters, on one line.".to_owned(),
        );
    }
    // Without a valid scheme, still say what is wrong with the secret.
    if let Some(secret) = input.secret.as_ref()
        && let Err(problem) = scheme.unwrap_or(Scheme::CubeHmac).check_secret(secret)
    {
        fields.insert("secret".to_owned(), problem);
    }
    let Some(scheme) = scheme.filter(|_| fields.is_empty()) else {
        return Err(ApiError::Invalid(fields));
    };
    let generated = input.secret.is_none();
    let secret = input.secret.unwrap_or_else(|| scheme.new_secret());
    let webhook = create_endpoint(
        &state,
        id,
        scheme,
        description,
        inline.unwrap_or(false),
        &secret,
        input.queue_sync,
    )
    .await?;
    let after = json!({"webhook": webhook.id, "scheme": webhook.scheme, "description": webhook.description,
                       "respond_inline": webhook.respond_inline,
                       "secret": if generated { "generated" } else { "entered by the admin" }, "via": "api"});
    audit(
        &state,
        &admin.0,
        remote,
        "integration.webhook.add",
        &integration.name,
        None,
        Some(after),
    )
    .await?;
    let mut body = json!({"id": webhook.id, "url": format!("{}/hooks/{}", base_url(&state, &headers), webhook.token),
                          "scheme": webhook.scheme, "description": webhook.description,
                          "answer": if webhook.respond_inline { "connector" } else { "stored" },
                          "queue_sync": input.queue_sync});
    if generated {
        // Returned this once; it is stored encrypted and never shown again.
        body["secret"] = json!(secret);
    }
    Ok((StatusCode::CREATED, Json(body)))
}

async fn remove(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: ApiAdmin,
    Path((id, webhook)): Path<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    remove_endpoint(&state, &admin.0, remote, id, webhook).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The endpoint `webhook` of integration `id`, or 404.
async fn endpoint_of(state: &AppState, id: i64, webhook: i64) -> Result<(), ApiError> {
    state
        .store
        .webhook(webhook)
        .await?
        .filter(|w| w.integration_id == id)
        .map(|_| ())
        .ok_or(ApiError::NotFound)
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    offset: i64,
}

async fn deliveries(
    State(state): State<AppState>,
    _user: ApiUser,
    Path((id, webhook)): Path<(i64, i64)>,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    endpoint_of(&state, id, webhook).await?;
    let deliveries = state
        .store
        .deliveries_of(webhook, 100, page.offset.max(0))
        .await?;
    Ok(Json(json!({ "deliveries": deliveries })))
}

async fn replay(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: ApiAdmin,
    Path((id, webhook, delivery)): Path<(i64, i64, i64)>,
) -> Result<StatusCode, ApiError> {
    endpoint_of(&state, id, webhook).await?;
    if !state.store.replay_delivery(webhook, delivery).await? {
        return Err(ApiError::Conflict(
            "this delivery cannot be replayed: it does not exist, is still waiting, or its payload was purged".into(),
        ));
    }
    audit(
        &state,
        &admin.0,
        remote,
        "integration.webhook.replay",
        &id.to_string(),
        None,
        Some(json!({"webhook": webhook, "delivery": delivery, "via": "api"})),
    )
    .await?;
    state.sync.wake_deliveries();
    Ok(StatusCode::ACCEPTED)
}
