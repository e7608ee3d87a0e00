//! A sender of webhook deliveries to CUBE's endpoints, for the webhook
//! tests: deliveries signed as a `cube-hmac-sha256` sender signs them, and
//! the timestamps they carry.

use cube_host::webhooks::signature::sign_cube;
use reqwest::StatusCode;

/// Signs and posts `body` to `url` as a `cube-hmac-sha256` sender would.
pub async fn deliver(
    url: &str,
    secret: &str,
    delivery: &str,
    ts: i64,
    body: &str,
) -> (StatusCode, String) {
    let response = signed_delivery(&reqwest::Client::new(), url, secret, delivery, ts, body)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

/// The request of `client` that [`deliver`] sends, to send as often as the
/// caller likes (a benchmark timing each one, say).
pub fn signed_delivery(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    delivery: &str,
    ts: i64,
    body: &str,
) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header("content-type", "application/json")
        .header("x-cube-timestamp", ts.to_string())
        .header(
            "x-cube-signature",
            sign_cube(secret.as_bytes(), ts, delivery, body.as_bytes()),
        )
        .header("x-cube-delivery", delivery)
        .body(body.to_owned())
}

/// Now, in seconds since the epoch, as a delivery's timestamp says it.
pub fn now() -> i64 {
    cube_host::store::now_millis() / 1000
}

/// The admin web app serving the probe connector, with an admin signed in
/// and one probe integration (`cfg.action` ok): where each test of webhook
/// endpoints over HTTP starts.
pub struct ProbeApp {
    pub base: String,
    pub store: cube_host::store::Store,
    /// The directory holding the store; keep it alive with the app. When
    /// destructuring, bind it (`dir: _dir`): a field left to `..` is
    /// dropped at once, and the store's new connections then fail.
    pub dir: tempfile::TempDir,
    pub browser: crate::client::Browser,
    pub csrf: String,
    /// The probe integration's id.
    pub integration: i64,
}

/// Serves the app and creates the probe integration `name` on it with
/// [`crate::create_probe_integration`].
pub async fn probe_app(name: &str) -> ProbeApp {
    probe_app_from(name, &[]).await
}

/// [`probe_app`] whose integration is created from the form's name and
/// `cfg.action` only (no password, pages or grants).
pub async fn bare_probe_app(name: &str) -> ProbeApp {
    probe_app_from(name, &[("name", name), ("cfg.action", "ok")]).await
}

/// [`probe_app`], or with `form` (without the CSRF token) when it is not
/// empty.
async fn probe_app_from(name: &str, form: &[(&str, &str)]) -> ProbeApp {
    let (base, store, dir) = crate::serve_admin_app(crate::probe_catalog().await).await;
    let (mut browser, csrf) = crate::sign_in_admin(&base).await;
    let integration = if form.is_empty() {
        crate::create_probe_integration(&mut browser, &csrf, name, "ok", "").await
    } else {
        let mut fields = vec![("csrf_token", csrf.as_str())];
        fields.extend_from_slice(form);
        let created = browser
            .post("/integrations/create?connector=probe", &fields)
            .await;
        crate::integration_id_in(&created.location.unwrap())
    };
    ProbeApp {
        base,
        store,
        dir,
        browser,
        csrf,
        integration,
    }
}

impl ProbeApp {
    /// Adds a webhook endpoint to the probe integration, as the signed-in
    /// admin, with [`add_endpoint`]; returns the page that answers.
    pub async fn add_endpoint(&mut self, fields: &[(&str, &str)]) -> crate::client::Page {
        add_endpoint(&mut self.browser, &self.csrf, self.integration, fields).await
    }

    /// [`ProbeApp::add_endpoint`]; returns the URL and the secret the page
    /// shows ([`url_and_secret`]).
    pub async fn endpoint(&mut self, fields: &[(&str, &str)]) -> (String, String) {
        url_and_secret(&self.add_endpoint(fields).await)
    }
}

/// Adds a webhook endpoint to `integration` from the form `fields` (the
/// CSRF token is added) and returns the page that answers.
pub async fn add_endpoint(
    browser: &mut crate::client::Browser,
    csrf: &str,
    integration: i64,
    fields: &[(&str, &str)],
) -> crate::client::Page {
    let mut form = vec![("csrf_token", csrf)];
    form.extend_from_slice(fields);
    browser
        .post(&format!("/integrations/{integration}/webhooks"), &form)
        .await
}

/// A probe integration `name` that reaches `url` (as
/// [`crate::create_probe_integration`] creates it), with a webhook
/// endpoint whose connector answers each delivery: the integration's id,
/// the endpoint's URL and its secret.
pub async fn probe_integration_with_endpoint(
    browser: &mut crate::client::Browser,
    csrf: &str,
    name: &str,
    url: &str,
) -> (i64, String, String) {
    let integration = crate::create_probe_integration(browser, csrf, name, "ok", url).await;
    let page = add_endpoint(
        browser,
        csrf,
        integration,
        &[("scheme", "cube-hmac-sha256"), ("answer", "connector")],
    )
    .await;
    let (url, secret) = url_and_secret(&page);
    (integration, url, secret)
}

/// The URL and the secret an added endpoint's page shows (once).
pub fn url_and_secret(page: &crate::client::Page) -> (String, String) {
    (
        crate::element_text(&page.body, "webhook-url"),
        crate::element_text(&page.body, "webhook-secret"),
    )
}
