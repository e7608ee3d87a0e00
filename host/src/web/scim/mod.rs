//! `/scim/v2`: a SCIM 2.0 service provider (RFC 7643, RFC 7644), so that
//! Entra ID, Okta or any SCIM client can provision users and groups into
//! the host's directory (decision 0037).
//!
//! A client authenticates with an API token that has the `scim` scope
//! (`api::bearer` checks it and counts it against the token's rate limit,
//! as for the JSON API); every answer, refusals included, is
//! `application/scim+json` with SCIM's error body. Each token owner
//! provisions into an integration of its own, made on its first request
//! (`store::scim`), and sees only what it provisioned.
//!
//! - `filter` reads `filter` query parameters and PATCH paths into trees
//!   and evaluates them against a resource as JSON;
//! - `resource` converts between SCIM resources and directory records;
//! - `patch` applies PATCH operations;
//! - `resources` has the handlers for `/Users` and `/Groups`, `list`
//!   their lists and filters, `shown` how stored ones are shown;
//! - `discovery` answers `ServiceProviderConfig`, `ResourceTypes` and
//!   `Schemas`.

mod discovery;
mod error;
pub mod filter;
mod list;
mod patch;
mod resource;
mod resources;
mod shown;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::{Value, json};

use super::AppState;
use super::api::bearer::{self, TokenCaller};
use crate::store::api_tokens::Scope;
use crate::store::scim::ScimClient;
pub use error::ScimError;

/// The media type of every SCIM body (RFC 7644 §3.1).
pub const CONTENT_TYPE: &str = "application/scim+json";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// The most resources one list answer holds.
pub const MAX_COUNT: usize = 200;

/// Who is calling, found by the middleware.
#[derive(Clone, Debug)]
pub struct ScimCaller {
    /// How the audit log names the caller (the token's owner and name).
    pub actor: String,
    pub address: String,
    pub client: ScimClient,
    /// The absolute URL of `/scim/v2`, for `meta.location` and `$ref`.
    pub base: String,
}

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/scim/v2/ServiceProviderConfig",
            get(service_provider_config),
        )
        .route("/scim/v2/ResourceTypes", get(resource_types))
        .route("/scim/v2/ResourceTypes/{id}", get(resource_type))
        .route("/scim/v2/Schemas", get(schemas))
        .route("/scim/v2/Schemas/{id}", get(schema))
        .merge(resources::routes())
        // Anything else under /scim/v2 (Bulk, /Me, .search) answers a
        // SCIM 404, not the pages' HTML one.
        .route(
            "/scim/v2/{*rest}",
            axum::routing::any(|| async { ScimError::NotFound }),
        )
        .route_layer(middleware::from_fn_with_state(state, authenticate))
}

/// Answers with a SCIM body.
pub fn scim_json(status: axum::http::StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

/// Requires a live token with the `scim` scope (a session cookie is not
/// enough: SCIM clients are programs), and finds its client's
/// integration.
async fn authenticate(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(secret) = bearer::bearer_token(request.headers()).map(str::to_owned) else {
        return ScimError::Unauthorized.into_response();
    };
    let allowance = match bearer::admit(&state, peer, &mut request, &secret).await {
        Ok(allowance) => allowance,
        Err((error, allowance)) => {
            let mut response = ScimError::from(error).into_response();
            if let Some(allowance) = allowance {
                bearer::add_headers(&mut response, &allowance);
            }
            return response;
        }
    };
    let Some(token) = request.extensions().get::<TokenCaller>().cloned() else {
        return ScimError::Unauthorized.into_response();
    };
    let actor = token.authenticated.token.actor();
    if !token.authenticated.allows(Scope::Scim) {
        bearer::audit(
            &state,
            &actor,
            "api_token.forbidden",
            &format!("api_token:{}", token.authenticated.token.id),
            json!({"needs": Scope::Scim, "method": request.method().as_str(), "path": request.uri().path()}),
            &token.address,
        )
        .await;
        return ScimError::InsufficientScope(Scope::Scim).into_response();
    }
    let client = match state
        .store
        .scim_client(&token.authenticated.token.owner, &actor)
        .await
    {
        Ok(client) => client,
        Err(e) => return ScimError::from(e).into_response(),
    };
    let base = base_url(&state, peer, &request);
    request.extensions_mut().insert(ScimCaller {
        actor,
        address: token.address.clone(),
        client,
        base,
    });
    let mut response = next.run(request).await;
    bearer::add_headers(&mut response, &allowance);
    response
}

/// `<public URL>/scim/v2`, or, without a configured public URL, the
/// scheme and `Host` the request came with.
fn base_url(state: &AppState, peer: SocketAddr, request: &Request) -> String {
    if let Some(public) = &state.public_url {
        return format!("{}/scim/v2", public.trim_end_matches('/'));
    }
    let https = state.access.client(peer.ip(), request.headers()).https;
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
        })
        .unwrap_or("localhost");
    format!("{}://{host}/scim/v2", if https { "https" } else { "http" })
}

async fn service_provider_config(Extension(caller): Extension<ScimCaller>) -> Response {
    scim_json(
        axum::http::StatusCode::OK,
        &discovery::service_provider_config(&caller.base),
    )
}

async fn resource_types(Extension(caller): Extension<ScimCaller>) -> Response {
    scim_json(
        axum::http::StatusCode::OK,
        &discovery::list(discovery::resource_types(&caller.base)),
    )
}

async fn resource_type(
    Extension(caller): Extension<ScimCaller>,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    one_of(discovery::resource_types(&caller.base), &id)
}

async fn schemas(Extension(caller): Extension<ScimCaller>) -> Response {
    scim_json(
        axum::http::StatusCode::OK,
        &discovery::list(discovery::schemas(&caller.base)),
    )
}

async fn schema(
    Extension(caller): Extension<ScimCaller>,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    one_of(discovery::schemas(&caller.base), &id)
}

fn one_of(all: Vec<Value>, id: &str) -> Result<Response, ScimError> {
    all.into_iter()
        .find(|v| v["id"].as_str() == Some(id))
        .map(|v| scim_json(axum::http::StatusCode::OK, &v))
        .ok_or(ScimError::NotFound)
}
