//! What the marketplace's web tests share: a server whose registry holds
//! two versions of jira and which trusts their publisher, integrations made
//! and read and packages installed through the API, forms submitted and
//! their answers checked, and the checks of the pages and forms (admins
//! only, CSRF checked, every change audited).

use std::path::{Path, PathBuf};

use cube_host::marketplace::keys::{SecretKey, trust};
use cube_host::store::Store;
use cube_host::web::Catalog;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::client::{Api, Browser, Page};
use crate::marketplace::{installed_dir, jira_variant, publish};
use crate::{ADMIN_PASSWORD, VIEWER_PASSWORD};

/// A registry in `dir/registry` with jira 0.1.0, which reaches only
/// `https://a`, and jira 0.2.0, which reaches any HTTPS server, both signed
/// by `acme`; returns it and acme's public key file.
pub async fn upgrade_registry(dir: &Path) -> (PathBuf, PathBuf) {
    let registry = dir.join("registry");
    let key = SecretKey::generate("acme");
    let (_, public) = key.write_pair(&dir.join("keys")).unwrap();
    for (version, http) in [("0.1.0", "https://a"), ("0.2.0", "https://*")] {
        let manifest = publish(
            dir,
            &registry,
            jira_variant(version, http),
            Some(&key),
            "acme",
        )
        .await;
        assert_eq!(manifest.capabilities.http, [http]);
    }
    (registry, public)
}

/// A server whose registry holds jira 0.1.0 and 0.2.0 ([`upgrade_registry`])
/// and which trusts their publisher.
pub struct Market {
    pub base: String,
    pub store: Store,
    pub data: PathBuf,
    _data_dir: tempfile::TempDir,
    _desk: tempfile::TempDir,
}

/// A [`Market`], serving.
pub async fn market() -> Market {
    let desk = tempfile::tempdir().unwrap();
    let (registry, acme_pub) = upgrade_registry(desk.path()).await;
    let (base, store, data_dir) =
        crate::serve_admin_app_with_registry(Catalog::new(), &registry).await;
    let data = data_dir.path().to_path_buf();
    trust(&data, &acme_pub).unwrap();
    Market {
        base,
        store,
        data,
        _data_dir: data_dir,
        _desk: desk,
    }
}

/// Creates the integration `body` describes through the API; returns it
/// as the API answered.
pub async fn create_integration(api: &Api, body: Value) -> Value {
    let (status, created) = api
        .json(Method::POST, "/api/v1/integrations", Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

/// Creates a Jira integration through the API, granted `https://a`;
/// returns its id and grants.
pub async fn create_jira_integration(api: &Api, name: &str) -> (i64, Value) {
    let created = create_integration(
        api,
        json!({
            "name": name, "connector": "jira",
            "config": {"base_url": "https://a", "edition": "cloud", "email": "ops@example.com",
                       "api_token": "not-a-real-token", "project_key": "OPS", "issue_type": "Task"},
            "http_grants": ["https://a"], "enabled": true,
        }),
    )
    .await;
    (
        created["id"].as_i64().unwrap(),
        created["http_grants"].clone(),
    )
}

/// The integration `id`, as the API shows it.
pub async fn integration(api: &Api, id: i64) -> Value {
    let (status, body) = api
        .json(Method::GET, &format!("/api/v1/integrations/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Asks the API to install what `request` names (`id`, `version`, and the
/// consents); returns its status and answer.
pub async fn install_through_the_api(api: &Api, request: Value) -> (StatusCode, Value) {
    api.json(Method::POST, "/api/v1/marketplace/install", Some(request))
        .await
}

/// An API client of the admin's whose CSRF token is forged.
pub async fn forged_admin_api(base: &str) -> Api {
    Api {
        csrf: "forged".into(),
        ..Api::sign_in(base, "admin", ADMIN_PASSWORD).await
    }
}

/// Posts the form `fields` to `path` with the form token `csrf`.
pub async fn submit(
    browser: &mut Browser,
    csrf: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> Page {
    let mut form = vec![("csrf_token", csrf)];
    form.extend_from_slice(fields);
    browser.post(path, &form).await
}

/// [`submit`]s the form, which is refused with `status` and a page saying
/// `why`; returns that page.
pub async fn submit_refused(
    browser: &mut Browser,
    csrf: &str,
    path: &str,
    fields: &[(&str, &str)],
    status: StatusCode,
    why: &str,
) -> Page {
    let page = submit(browser, csrf, path, fields).await;
    assert_eq!(page.status, status, "{}", page.body);
    assert!(page.body.contains(why), "{}", page.body);
    page
}

/// [`submit`]s the form, which is done: the page its redirect leads to,
/// which says `says`.
pub async fn submit_and_follow(
    browser: &mut Browser,
    csrf: &str,
    path: &str,
    fields: &[(&str, &str)],
    says: &str,
) -> Page {
    let done = submit(browser, csrf, path, fields).await;
    let page = follow(browser, done).await;
    assert!(page.body.contains(says), "{}", page.body);
    page
}

/// Installs `id` `version` from its marketplace page (with the consents in
/// `fields`); returns the redirect that answers it.
pub async fn install_from_the_page(
    browser: &mut Browser,
    csrf: &str,
    id: &str,
    version: &str,
    fields: &[(&str, &str)],
) -> Page {
    let done = submit(
        browser,
        csrf,
        &format!("/marketplace/{id}/{version}"),
        fields,
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    done
}

pub use super::audit_log::audited;

/// Whether none of the last 100 audit entries is a marketplace action (a
/// refusal changes nothing).
pub async fn no_marketplace_change_audited(store: &Store) -> bool {
    store
        .audit_entries(100)
        .await
        .unwrap()
        .iter()
        .all(|e| !e.action.starts_with("marketplace"))
}

/// The version `<data dir>/connectors/<id>/current` names.
pub fn current(data: &Path, id: &str) -> String {
    std::fs::read_to_string(installed_dir(data, id).join("current"))
        .unwrap()
        .trim()
        .to_owned()
}

/// A viewer (with a valid token) and an admin with a forged token are both
/// refused `path` with 403, and nothing happens.
pub async fn refused_to_viewers_and_forgeries(
    base: &str,
    admin: &mut Browser,
    path: &str,
    fields: &[(&str, &str)],
) {
    let mut viewer = Browser::new(base);
    viewer.sign_in("vera", VIEWER_PASSWORD).await;
    let token = viewer.csrf().await;
    let page = submit(&mut viewer, &token, path, fields).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "viewer: {path}");
    let page = submit(admin, "forged", path, fields).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "forged: {path}");
    assert!(page.body.contains("Form expired"), "{}", page.body);
}

/// `text` as the pages show it (minijinja's HTML escaping).
pub fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

/// The page the redirect `page` (which must be one) leads to.
pub async fn follow(browser: &mut Browser, page: Page) -> Page {
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    browser.get(&page.location.unwrap()).await
}
