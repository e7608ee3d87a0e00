//! `/hooks/{token}[/...]`: where senders deliver webhooks.
//!
//! No session here: the signature is the authentication. A delivery is
//! verified, stored (once per what its signature covers, never per an
//! unsigned header: a replay under a fresh id is a duplicate; through the
//! intake's group commit), and only then acknowledged. By default the answer is 202 as
//! soon as it is stored, and the workers process it: the connector never
//! runs on the intake path. An endpoint whose sender waits for an answer
//! (a Slack slash command) is marked `respond_inline`: its deliveries are
//! processed at once when that takes under [`INLINE_WAIT`], and the sender
//! gets the connector's answer. Either way each is processed exactly once.
//!
//! Answers: 404 unknown endpoint, 413 body too large, 401 bad, missing or
//! stale signature, 400 malformed signature header, 409 a delivery already
//! received, 202 stored and queued, or the connector's answer (200 when it
//! gives none).

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::json;

use super::AppState;
use crate::store::webhooks::{NewDelivery, Stored};
use crate::webhooks::endpoints::LookupError;
use crate::webhooks::intake::IntakeError;
use crate::webhooks::signature::{Rejection, Scheme, verify};
use crate::webhooks::{self, MAX_BODY_BYTES, Processed};

/// How long the intake waits for the connector before answering 202.
const INLINE_WAIT: Duration = Duration::from_millis(2500);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/hooks/{token}", any(receive_root))
        .route("/hooks/{token}/{*path}", any(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

async fn receive_root(
    state: State<AppState>,
    Path(token): Path<String>,
    method: Method,
    query: RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    intake(state.0, token, String::new(), method, query, headers, body).await
}

async fn receive(
    state: State<AppState>,
    Path((token, path)): Path<(String, String)>,
    method: Method,
    query: RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    intake(state.0, token, path, method, query, headers, body).await
}

#[allow(clippy::too_many_arguments)]
async fn intake(
    state: AppState,
    token: String,
    path: String,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let response = match intake_inner(
        &state,
        &token,
        &path,
        &method,
        query.unwrap_or_default(),
        &headers,
        &body,
    )
    .await
    {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(%error, "webhook intake failed");
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "the delivery could not be stored; send it again"}),
            )
        }
    };
    crate::metrics::count(match response.status() {
        status if status.is_success() => crate::metrics::Event::DeliveryStored,
        StatusCode::CONFLICT => crate::metrics::Event::DeliveryDuplicate,
        _ => crate::metrics::Event::DeliveryRefused,
    });
    response
}

async fn intake_inner(
    state: &AppState,
    token: &str,
    path: &str,
    method: &Method,
    query: String,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, IntakeError> {
    let not_found = || {
        answer(
            StatusCode::NOT_FOUND,
            json!({"error": "no webhook endpoint here"}),
        )
    };
    let endpoint = match state.endpoints.find(token).await {
        Ok(Some(endpoint)) => endpoint,
        Ok(None) => return Ok(not_found()),
        Err(LookupError::Database(error)) => return Err(error.into()),
        Err(LookupError::Secret(error)) => {
            tracing::error!(%error, "cannot open a webhook's secret");
            return Ok(answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "this endpoint cannot verify deliveries now"}),
            ));
        }
    };
    let (webhook, secret) = (&endpoint.webhook, &endpoint.secret);
    if !webhook.enabled {
        return Ok(not_found());
    }
    let Some(scheme) = Scheme::parse(&webhook.scheme) else {
        tracing::error!(webhook = webhook.id, scheme = %webhook.scheme, "unknown signing scheme");
        return Ok(not_found());
    };
    let pairs: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| {
            *name != axum::http::header::COOKIE && *name != axum::http::header::AUTHORIZATION
        })
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let now = crate::store::now_millis() / 1000;
    let verified = match verify(scheme, secret, &pairs, body, now) {
        Ok(verified) => verified,
        Err(rejection) => {
            let status = match rejection {
                Rejection::Malformed(_) => StatusCode::BAD_REQUEST,
                _ => StatusCode::UNAUTHORIZED,
            };
            tracing::info!(webhook = webhook.id, %rejection, "webhook refused");
            return Ok(answer(status, json!({"error": rejection.to_string()})));
        }
    };
    let stored = state
        .intake
        .store(NewDelivery {
            webhook_id: webhook.id,
            integration_id: webhook.integration_id,
            delivery_id: verified.delivery_id.clone(),
            sender_id: verified.sender_id,
            method: method.as_str().to_owned(),
            path: path.to_owned(),
            query,
            headers: pairs,
            body: body.to_vec(),
        })
        .await?;
    let id = match stored {
        Stored::New(id) => id,
        Stored::Duplicate => {
            return Ok(answer(
                StatusCode::CONFLICT,
                json!({"error": "this delivery was received already; it is not processed again", "delivery": verified.delivery_id}),
            ));
        }
    };
    let queued = || {
        answer(
            StatusCode::ACCEPTED,
            json!({"accepted": id, "status": "queued"}),
        )
    };
    if !webhook.respond_inline {
        state.sync.wake_deliveries();
        return Ok(queued());
    }
    // Process now, in a task of its own: if the connector is slow the
    // sender gets 202 and the task still finishes the delivery.
    let deps = state.sync_deps();
    let processing = tokio::spawn(async move {
        match deps.store.claim_delivery(Some(id), deps.lease_ms).await? {
            Some(delivery) => webhooks::process(&deps, delivery).await.map(Some),
            None => Ok(None),
        }
    });
    match tokio::time::timeout(INLINE_WAIT, processing).await {
        Ok(Ok(Ok(Some(Processed::Done { records, response })))) => Ok(match response {
            Some(response) => connector_answer(response),
            None => answer(StatusCode::OK, json!({"accepted": id, "records": records})),
        }),
        Ok(Ok(Ok(Some(Processed::Failed { message, retry })))) => {
            if retry {
                state.sync.wake_deliveries();
            }
            // Stored: the sender must not send it again.
            Ok(answer(
                StatusCode::ACCEPTED,
                json!({"accepted": id, "status": if retry { "queued" } else { "failed" }, "error": message}),
            ))
        }
        Ok(Ok(Ok(None))) | Err(_) => Ok(queued()),
        Ok(Ok(Err(error))) => Err(error.into()),
        Ok(Err(join)) => {
            tracing::error!(%join, "webhook processing panicked");
            Ok(queued())
        }
    }
}

/// The connector's answer, with headers that could not hurt this host.
fn connector_answer(response: crate::runtime::types::WebhookResponse) -> Response {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK);
    let mut out = (status, response.body).into_response();
    for (name, value) in response.headers {
        let Ok(name) = HeaderName::try_from(name.as_str()) else {
            continue;
        };
        if matches!(
            name.as_str(),
            "set-cookie" | "content-length" | "transfer-encoding" | "connection"
        ) {
            continue;
        }
        if let Ok(value) = HeaderValue::try_from(value.as_str()) {
            out.headers_mut().insert(name, value);
        }
    }
    out
}
