//! The HTTP server: routes and the state they share.

pub mod access;
pub mod api;
mod audit;
mod auth;
pub mod charts;
mod dates;
mod directory;
pub mod error;
mod forms;
mod health;
mod hooks;
mod integrations;
mod marketplace;
mod outbound_webhooks;
pub mod passwords;
mod providers;
mod render;
pub mod scim;
pub mod session;
pub mod templates;
mod tokens;
mod users;
mod work_orders;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub use crate::catalog::Catalog;
use crate::runtime::Runtime;
use crate::secrets::Sealer;
use crate::store::Store;
use crate::sync::SyncQueue;

/// What every request handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub catalog: Catalog,
    pub store: Store,
    pub runtime: Runtime,
    pub sealer: Arc<Sealer>,
    pub sync: SyncQueue,
    /// Where webhook deliveries are stored (group commit).
    pub intake: crate::webhooks::Intake,
    /// Webhook endpoints by token, briefly kept.
    pub endpoints: crate::webhooks::Endpoints,
    /// Whether cookies always get the `Secure` attribute (the public URL is
    /// https, or `--secure-cookies`); they also get it on requests a trusted
    /// proxy says came over https (`access::Client`).
    pub secure_cookies: bool,
    /// Trusted proxies, the sign-in throttle and password pool, the
    /// `/metrics` token.
    pub access: access::Access,
    /// The URL people and senders reach this server at, when configured
    /// (webhook URLs are shown with it).
    pub public_url: Option<String>,
    /// How long a node holds a job or a webhook delivery without renewing
    /// it (milliseconds).
    pub lease_ms: i64,
    /// The connector registry the marketplace page lists (`--registry`):
    /// a directory with an `index.json`, or a URL serving one. None: the
    /// marketplace installs only by URL or upload.
    pub registry: Option<crate::marketplace::source::RegistrySource>,
    /// The host's own HTTP clients (registry, install from a URL, outbound
    /// webhooks), on the admin's address policy (`--allow-private-host`).
    pub outbound: Arc<crate::net::Outbound>,
    /// The data directory, whose `trusted-keys/` and `connectors/` the
    /// marketplace uses as `cube plugin trust` and `install` do. None: the
    /// marketplace cannot install.
    pub data_dir: Option<PathBuf>,
}

impl AppState {
    /// What running connectors needs, for work done in a request.
    pub fn sync_deps(&self) -> crate::sync::SyncDeps {
        crate::sync::SyncDeps {
            store: self.store.clone(),
            catalog: self.catalog.clone(),
            runtime: self.runtime.clone(),
            sealer: self.sealer.clone(),
            retry: Default::default(),
            outbound: self.outbound.clone(),
            events: self.sync.events.clone(),
            lease_ms: self.lease_ms,
        }
    }
}

/// All routes of the server.
///
/// Serve it with `into_make_service_with_connect_info::<SocketAddr>()`:
/// sign-in throttling and the audit log use the client's address.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::routes())
        .merge(auth::routes())
        .merge(providers::routes())
        .merge(marketplace::routes())
        .merge(integrations::routes())
        .merge(api::routes(state.clone()))
        .merge(scim::routes(state.clone()))
        .merge(hooks::routes())
        .merge(users::routes())
        .merge(tokens::routes())
        .merge(work_orders::routes())
        .merge(directory::routes())
        .merge(audit::routes())
        .merge(outbound_webhooks::routes())
        .route("/static/app.css", get(stylesheet))
        .route("/static/live.js", get(live_script))
        .fallback(|| async { error::Error::NotFound })
        .layer(middleware::map_response(security_headers))
        .with_state(state)
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../static/app.css"),
    )
}

async fn live_script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../../static/live.js"),
    )
}

/// Headers that keep pages from being framed, sniffed or mixed with
/// foreign scripts.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            "content-security-policy",
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("cache-control", "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Percent-encodes a value for a URL query (paths keep their slashes).
pub(crate) fn urlencode(s: &str) -> String {
    const QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, QUERY).to_string()
}
