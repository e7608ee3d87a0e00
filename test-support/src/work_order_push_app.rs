//! Where each test of pushing work orders starts: the admin app, the
//! remote of [`crate::work_order_remote`], and a probe integration that
//! pushes to it and has a webhook endpoint the remote delivers to; the
//! admin signed in on the pages and on the API.

use cube_host::store::Store;

use crate::client::{Api, Browser};
use crate::work_order_remote::{Remote, start_remote};

/// The app, the remote and the pushing integration of [`pushing_app`].
pub struct PushingApp {
    pub store: Store,
    /// The directory holding the store; keep it alive with the app.
    pub dir: tempfile::TempDir,
    pub remote: Remote,
    /// The admin, signed in on the pages.
    pub browser: Browser,
    /// The admin, signed in on the API.
    pub api: Api,
    /// The probe integration "Remote" pushing to the remote.
    pub integration: i64,
    /// The URL and the secret of its webhook endpoint.
    pub hook_url: String,
    pub hook_secret: String,
}

/// Serves the app with the probe connector, starts the remote and creates
/// the integration "Remote" pushing to it, with a webhook endpoint whose
/// connector answers each delivery.
pub async fn pushing_app() -> PushingApp {
    let (base, store, dir) = crate::serve_admin_app(crate::probe_catalog().await).await;
    let (remote_url, remote) = start_remote().await;
    let (mut browser, csrf) = crate::sign_in_admin(&base).await;
    let (integration, hook_url, hook_secret) =
        crate::webhook_sender::probe_integration_with_endpoint(
            &mut browser,
            &csrf,
            "Remote",
            &remote_url,
        )
        .await;
    let api = Api::sign_in(&base, "admin", crate::ADMIN_PASSWORD).await;
    PushingApp {
        store,
        dir,
        remote,
        browser,
        api,
        integration,
        hook_url,
        hook_secret,
    }
}
