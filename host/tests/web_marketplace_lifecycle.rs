//! The marketplace's life after an install, in the admin UI and the API:
//! trusting a publisher by pasting its key and stopping trusting it, an
//! upgrade that asks for more waiting for the admin's approval, rolling
//! back (the running server serves the old version, grants unchanged), and
//! uninstalling (refused while used, unless the integrations are disabled).
//! Real packages, built and signed with the core API; admins only, CSRF
//! checked, every change audited.

mod common;

use std::path::{Path, PathBuf};

use cube_host::marketplace::keys::{SecretKey, trust};
use cube_host::store::Store;
use cube_host::store::audit::AuditEntry;
use cube_host::web::Catalog;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use common::client::{Api, Browser, Page};
use common::marketplace::{build_registry, element, installed_dir, jira_variant, publish, section};
use common::{ADMIN_PASSWORD, VIEWER_PASSWORD};

/// A registry in `dir/registry` with jira 0.1.0, which reaches only
/// `https://a`, and jira 0.2.0, which reaches any HTTPS server, both signed
/// by `acme`; returns it and acme's public key file.
async fn upgrade_registry(dir: &Path) -> (PathBuf, PathBuf) {
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
struct Market {
    base: String,
    store: Store,
    data: PathBuf,
    _data_dir: tempfile::TempDir,
    _desk: tempfile::TempDir,
}

async fn market() -> Market {
    let desk = tempfile::tempdir().unwrap();
    let (registry, acme_pub) = upgrade_registry(desk.path()).await;
    let (base, store, data_dir) =
        common::serve_admin_app_with_registry(Catalog::new(), &registry).await;
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

/// jira 0.1.0 installed from the UI and an integration using it: the
/// admin's browser and form token, an API client, and the integration's id
/// and grants.
async fn jira_in_use(market: &Market) -> (Browser, String, Api, i64, Value) {
    let (mut admin, csrf) = common::sign_in_admin(&market.base).await;
    let api = Api::sign_in(&market.base, "admin", ADMIN_PASSWORD).await;
    let done = admin
        .post("/marketplace/jira/0.1.0", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let (id, grants) = create_jira_integration(&api, "Jira Cloud").await;
    (admin, csrf, api, id, grants)
}

/// Creates a Jira integration through the API, granted `https://a`;
/// returns its id and grants.
async fn create_jira_integration(api: &Api, name: &str) -> (i64, Value) {
    let (status, created) = api
        .json(
            Method::POST,
            "/api/v1/integrations",
            Some(json!({
                "name": name, "connector": "jira",
                "config": {"base_url": "https://a", "edition": "cloud", "email": "ops@example.com",
                           "api_token": "not-a-real-token", "project_key": "OPS", "issue_type": "Task"},
                "http_grants": ["https://a"], "enabled": true,
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (
        created["id"].as_i64().unwrap(),
        created["http_grants"].clone(),
    )
}

async fn integration(api: &Api, id: i64) -> Value {
    let (status, body) = api
        .json(Method::GET, &format!("/api/v1/integrations/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn audited(store: &Store, action: &str) -> Vec<AuditEntry> {
    store
        .audit_entries(200)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == action)
        .collect()
}

fn current(data: &Path, id: &str) -> String {
    std::fs::read_to_string(installed_dir(data, id).join("current"))
        .unwrap()
        .trim()
        .to_owned()
}

/// A viewer (with a valid token) and an admin with a forged token are both
/// refused `path` with 403, and nothing happens.
async fn refused_to_viewers_and_forgeries(
    base: &str,
    admin: &mut Browser,
    path: &str,
    fields: &[(&str, &str)],
) {
    let mut viewer = Browser::new(base);
    viewer.sign_in("vera", VIEWER_PASSWORD).await;
    let token = viewer.csrf().await;
    let mut form = vec![("csrf_token", token.as_str())];
    form.extend_from_slice(fields);
    let page = viewer.post(path, &form).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "viewer: {path}");
    let mut form = vec![("csrf_token", "forged")];
    form.extend_from_slice(fields);
    let page = admin.post(path, &form).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "forged: {path}");
    assert!(page.body.contains("Form expired"), "{}", page.body);
}

/// `text` as the pages show it (minijinja's HTML escaping).
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

async fn follow(browser: &mut Browser, page: Page) -> Page {
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    browser.get(&page.location.unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pasting_a_key_trusts_its_publisher_and_untrusting_marks_what_it_signed() {
    let desk = tempfile::tempdir().unwrap();
    let (registry, acme_pub) = build_registry(desk.path()).await;
    let (base, store, data) =
        common::serve_admin_app_with_registry(Catalog::new(), &registry).await;
    let data = data.path().to_path_buf();
    let trusted_dir = data.join("trusted-keys");
    let key_text = std::fs::read_to_string(&acme_pub).unwrap();
    let key_id = key_text
        .lines()
        .find_map(|l| l.strip_prefix("key-id: "))
        .unwrap()
        .to_owned();
    let (mut admin, csrf) = common::sign_in_admin(&base).await;

    let page = admin.get("/marketplace/publishers").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("trusts no publisher yet"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Trust this key"));
    let mut viewer = Browser::new(&base);
    viewer.sign_in("vera", VIEWER_PASSWORD).await;
    let page = viewer.get("/marketplace/publishers").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("Trust this key"), "{}", page.body);

    // Viewers and forged forms change nothing.
    refused_to_viewers_and_forgeries(
        &base,
        &mut admin,
        "/marketplace/publishers",
        &[("key", &key_text)],
    )
    .await;
    assert!(!trusted_dir.exists());

    // Malformed text: 422 with why, nothing written. A secret key is
    // refused and not repeated back.
    for (text, expected) in [
        ("not a key", "does not start with the header line"),
        ("", "it is empty"),
        (
            &key_text.replace(&key_id, "0123456789abcdef"),
            "edited or damaged",
        ),
    ] {
        let page = admin
            .post(
                "/marketplace/publishers",
                &[("csrf_token", &csrf), ("key", text)],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
        assert!(
            page.body
                .contains("the pasted text is not a CUBE publisher public key"),
            "{}",
            page.body
        );
        assert!(page.body.contains(expected), "{}", page.body);
        assert!(!trusted_dir.exists());
    }
    let secret_text = std::fs::read_to_string(desk.path().join("keys/acme.key")).unwrap();
    let secret_line = secret_text
        .lines()
        .find(|l| l.starts_with("secret:"))
        .unwrap();
    let page = admin
        .post(
            "/marketplace/publishers",
            &[("csrf_token", &csrf), ("key", &secret_text)],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("it is a SECRET key"), "{}", page.body);
    let secret_value = secret_line.trim_start_matches("secret: ");
    assert!(!page.body.contains(secret_value));
    assert!(!page.body.contains(&escaped(secret_value)));
    assert!(!trusted_dir.exists());
    assert!(audited(&store, "marketplace.trust").await.is_empty());

    // The key, pasted: trusted, audited, and jira is verified.
    let page = admin
        .post(
            "/marketplace/publishers",
            &[("csrf_token", &csrf), ("key", &key_text)],
        )
        .await;
    let page = follow(&mut admin, page).await;
    assert!(
        page.body.contains(&format!("Trusting acme key {key_id}")),
        "{}",
        page.body
    );
    let row = &page.body[page.body.find(&format!("id=\"key-{key_id}\"")).unwrap()..];
    assert!(row.contains(&format!("acme-{key_id}.pub")), "{row}");
    assert!(trusted_dir.join(format!("acme-{key_id}.pub")).is_file());
    let entry = &audited(&store, "marketplace.trust").await[0];
    assert_eq!(entry.actor, "admin");
    assert_eq!(entry.target, "publisher:acme");
    let after = entry.after.as_ref().unwrap();
    assert_eq!(
        (after["publisher"].as_str(), after["key_id"].as_str()),
        (Some("acme"), Some(key_id.as_str()))
    );
    assert!(!after.to_string().contains("public:"), "{after}");
    let page = admin.get("/marketplace").await;
    assert!(
        section(&page.body, "jira", "0.1.0").contains(">verified<"),
        "{}",
        page.body
    );

    // Installed as verified, it is marked trusted.
    let done = admin
        .post("/marketplace/jira/0.1.0", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let page = admin.get("/marketplace/installed").await;
    assert_eq!(page.status, StatusCode::OK);
    let jira = element(&page.body, "installed-jira");
    assert!(jira.contains(">publisher trusted<"), "{jira}");
    let page = admin.get("/marketplace/publishers").await;
    assert!(
        page.body.contains("jira 0.1.0"),
        "the key lists what it signed: {}",
        page.body
    );

    // Stopping trusting: viewers and forgeries cannot; the admin can. The
    // connector stays installed, marked, and the package is untrusted.
    let untrust = format!("/marketplace/publishers/{key_id}/untrust");
    refused_to_viewers_and_forgeries(&base, &mut admin, &untrust, &[]).await;
    assert!(trusted_dir.join(format!("acme-{key_id}.pub")).is_file());
    let page = admin.post(&untrust, &[("csrf_token", &csrf)]).await;
    let page = follow(&mut admin, page).await;
    assert!(
        page.body
            .contains(&format!("No longer trusting acme key {key_id}")),
        "{}",
        page.body
    );
    assert!(page.body.contains("trusts no publisher yet"));
    assert!(!trusted_dir.join(format!("acme-{key_id}.pub")).exists());
    let entry = &audited(&store, "marketplace.untrust").await[0];
    assert_eq!(entry.target, "publisher:acme");
    assert_eq!(entry.before.as_ref().unwrap()["key_id"], key_id.as_str());
    let page = admin.get("/marketplace/installed").await;
    let jira = element(&page.body, "installed-jira");
    assert!(jira.contains(">publisher no longer trusted<"), "{jira}");
    assert!(jira.contains("0.1.0"), "{jira}");
    assert!(installed_dir(&data, "jira").join("0.1.0").is_dir());
    let page = admin.get("/marketplace").await;
    assert!(section(&page.body, "jira", "0.1.0").contains("signed, publisher not trusted"));
    let again = admin.post(&untrust, &[("csrf_token", &csrf)]).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);

    // The API does the same.
    let api = Api::sign_in(&base, "admin", ADMIN_PASSWORD).await;
    let (status, body) = api
        .json(
            Method::POST,
            "/api/v1/marketplace/publishers",
            Some(json!({"key": "-----BEGIN CUBE PUBLISHER PUBLIC KEY-----\nnope"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is incomplete or has extra lines"),
        "{body}"
    );
    assert!(body["error"]["fields"]["key"].is_string(), "{body}");
    assert!(std::fs::read_dir(&trusted_dir).unwrap().next().is_none());
    let viewer_api = Api::sign_in(&base, "vera", VIEWER_PASSWORD).await;
    let (status, _) = viewer_api
        .json(
            Method::POST,
            "/api/v1/marketplace/publishers",
            Some(json!({"key": key_text})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let forged = Api {
        csrf: "forged".into(),
        ..Api::sign_in(&base, "admin", ADMIN_PASSWORD).await
    };
    let (status, body) = forged
        .json(
            Method::POST,
            "/api/v1/marketplace/publishers",
            Some(json!({"key": key_text})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("csrf"))
    );
    let (status, body) = api
        .json(
            Method::POST,
            "/api/v1/marketplace/publishers",
            Some(json!({"key": key_text})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["key_id"], key_id.as_str());
    assert_eq!(body["already_trusted"], false);
    let (status, body) = api
        .json(
            Method::POST,
            "/api/v1/marketplace/publishers",
            Some(json!({"key": key_text})),
        )
        .await;
    assert_eq!(
        (status, &body["already_trusted"]),
        (StatusCode::OK, &json!(true))
    );
    let (status, body) = viewer_api
        .json(Method::GET, "/api/v1/marketplace/publishers", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["publishers"][0]["publisher"], "acme");
    assert_eq!(body["publishers"][0]["signs"], json!(["jira 0.1.0"]));
    let (status, body) = viewer_api
        .json(Method::GET, "/api/v1/marketplace/installed", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["connectors"][0]["trust"], "trusted", "{body}");
    let path = format!("/api/v1/marketplace/publishers/{key_id}");
    let (status, _) = viewer_api.json(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = forged.json(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = api.json(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["removed"][0]["key_id"], key_id.as_str());
    let (status, _) = api.json(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, body) = api
        .json(Method::GET, "/api/v1/marketplace/installed", None)
        .await;
    assert_eq!(
        body["connectors"][0]["trust"], "no_longer_trusted",
        "{body}"
    );
    assert_eq!(audited(&store, "marketplace.trust").await.len(), 3);
    assert_eq!(audited(&store, "marketplace.untrust").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_asking_for_more_waits_for_approval_and_rolls_back_in_the_ui() {
    let market = market().await;
    let (base, store, data) = (
        market.base.clone(),
        market.store.clone(),
        market.data.clone(),
    );
    // 0.1.0 installed, and an integration granted the one server.
    let (mut admin, csrf, api, id, grants) = jira_in_use(&market).await;
    assert_eq!(grants[0]["pattern"], "https://a", "{grants}");

    // The review page says what is new before anyone clicks.
    let new = "Connects to any HTTPS server you grant it (`https://*`)";
    let page = admin.get("/marketplace").await;
    let listed = section(&page.body, "jira", "0.2.0");
    assert!(
        listed.contains("More than the installed version"),
        "{listed}"
    );
    let review = admin.get("/marketplace/jira/0.2.0").await;
    assert_eq!(review.status, StatusCode::OK);
    let news = element(&review.body, "new-capabilities");
    assert!(news.contains("Version 0.1.0 is installed here"), "{news}");
    assert!(news.contains(&escaped(new)), "{news}");
    assert!(review.body.contains("I approve these new capabilities"));
    assert!(!review.body.contains("I accept a package whose publisher"));

    refused_to_viewers_and_forgeries(
        &base,
        &mut admin,
        "/marketplace/jira/0.2.0",
        &[("approve_capabilities", "on")],
    )
    .await;

    // Without approval: 422, explained, nothing changed.
    let refused = admin
        .post("/marketplace/jira/0.2.0", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .body
            .contains("jira 0.2.0 asks for more than the installed 0.1.0"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("I approve these new capabilities"));
    assert_eq!(current(&data, "jira"), "0.1.0");
    assert!(!installed_dir(&data, "jira").join("0.2.0").exists());
    assert_eq!(audited(&store, "marketplace.install").await.len(), 1);

    // Approved: installed, audited with what was approved, served at once.
    let done = admin
        .post(
            "/marketplace/jira/0.2.0",
            &[("csrf_token", &csrf), ("approve_capabilities", "on")],
        )
        .await;
    let page = follow(&mut admin, done).await;
    assert!(
        page.body
            .contains("jira 0.2.0 is installed in place of 0.1.0"),
        "{}",
        page.body
    );
    assert_eq!(current(&data, "jira"), "0.2.0");
    assert!(installed_dir(&data, "jira").join("0.1.0").is_dir());
    let entry = audited(&store, "marketplace.install")
        .await
        .into_iter()
        .find(|e| e.after.as_ref().unwrap()["version"] == "0.2.0")
        .expect("the upgrade is audited");
    let after = entry.after.unwrap();
    assert_eq!(after["previous_version"], "0.1.0");
    assert_eq!(after["approved_capabilities"]["http"], json!(["https://*"]));
    assert_eq!(after["approved_in_words"], json!([new]));
    assert_eq!(after["via"], "web");
    let providers = admin.get("/integrations/providers").await;
    assert!(providers.body.contains("jira 0.2.0"), "{}", providers.body);
    // Installing granted nothing.
    assert_eq!(integration(&api, id).await["http_grants"], grants);

    // Roll back: viewers and forgeries cannot; the admin can, and the
    // running server serves 0.1.0 again.
    let page = admin.get("/marketplace/installed").await;
    let jira = element(&page.body, "installed-jira");
    assert!(jira.contains("Roll back to 0.1.0"), "{jira}");
    assert!(jira.contains("Jira Cloud"), "used by: {jira}");
    refused_to_viewers_and_forgeries(
        &base,
        &mut admin,
        "/marketplace/installed/jira/rollback",
        &[],
    )
    .await;
    assert_eq!(current(&data, "jira"), "0.2.0");
    let done = admin
        .post(
            "/marketplace/installed/jira/rollback",
            &[("csrf_token", &csrf)],
        )
        .await;
    let page = follow(&mut admin, done).await;
    assert!(
        page.body
            .contains("jira is rolled back from 0.2.0 to 0.1.0; the server runs 0.1.0 now"),
        "{}",
        page.body
    );
    assert_eq!(current(&data, "jira"), "0.1.0");
    let jira = element(&page.body, "installed-jira");
    assert!(jira.contains("id=\"others-jira\">0.2.0<"), "{jira}");
    assert!(jira.contains("id=\"loaded-jira\">version 0.1.0<"), "{jira}");
    let providers = admin.get("/integrations/providers").await;
    assert!(providers.body.contains("jira 0.1.0"), "{}", providers.body);
    assert!(!providers.body.contains("jira 0.2.0"), "{}", providers.body);
    let integration_after = integration(&api, id).await;
    assert_eq!(integration_after["http_grants"], grants);
    assert_eq!(integration_after["enabled"], true);
    let entry = &audited(&store, "marketplace.rollback").await[0];
    assert_eq!(entry.target, "connector:jira");
    assert_eq!(entry.actor, "admin");
    assert_eq!(entry.before.as_ref().unwrap()["version"], "0.2.0");
    assert_eq!(entry.after.as_ref().unwrap()["version"], "0.1.0");

    // Nothing older: refused with why.
    let refused = admin
        .post(
            "/marketplace/installed/jira/rollback",
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .body
            .contains("jira 0.1.0 is the oldest installed version"),
        "{}",
        refused.body
    );
    let missing = admin
        .post(
            "/marketplace/installed/slack/rollback",
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uninstalling_in_the_ui_is_refused_while_used_unless_integrations_are_disabled() {
    let market = market().await;
    let (base, store, data) = (
        market.base.clone(),
        market.store.clone(),
        market.data.clone(),
    );
    let (mut admin, csrf, api, id, grants) = jira_in_use(&market).await;

    // The confirmation page names who uses it; viewers get no such page.
    let page = admin.get("/marketplace/installed/jira/uninstall").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("Used by an integration: Jira Cloud"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Disable the integrations that use it"));
    let mut viewer = Browser::new(&base);
    viewer.sign_in("vera", VIEWER_PASSWORD).await;
    let page = viewer.get("/marketplace/installed/jira/uninstall").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let page = viewer.get("/marketplace/installed").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(element(&page.body, "installed-jira").contains("Jira Cloud"));
    assert!(!page.body.contains("Uninstall…"), "{}", page.body);
    refused_to_viewers_and_forgeries(
        &base,
        &mut admin,
        "/marketplace/installed/jira/uninstall",
        &[("disable_integrations", "on")],
    )
    .await;
    assert!(installed_dir(&data, "jira").is_dir());

    // In use: refused, naming the integration; nothing changed.
    let refused = admin
        .post(
            "/marketplace/installed/jira/uninstall",
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused
            .body
            .contains("jira is used by an integration: “Jira Cloud”. Nothing was removed."),
        "{}",
        refused.body
    );
    assert!(installed_dir(&data, "jira").join("0.1.0").is_dir());
    assert_eq!(integration(&api, id).await["enabled"], true);
    assert!(audited(&store, "marketplace.uninstall").await.is_empty());

    // Disabling them: removed, the integration disabled, both audited, the
    // connector gone from the running server.
    let done = admin
        .post(
            "/marketplace/installed/jira/uninstall",
            &[("csrf_token", &csrf), ("disable_integrations", "on")],
        )
        .await;
    let page = follow(&mut admin, done).await;
    assert!(
        page.body
            .contains("jira is uninstalled (removed versions 0.1.0); the server no longer runs it"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Disabled integrations: Jira Cloud"),
        "{}",
        page.body
    );
    assert!(!installed_dir(&data, "jira").exists());
    let after = integration(&api, id).await;
    assert_eq!(after["enabled"], false);
    assert_eq!(after["http_grants"], grants);
    let entry = &audited(&store, "marketplace.uninstall").await[0];
    assert_eq!(
        (entry.actor.as_str(), entry.target.as_str()),
        ("admin", "connector:jira")
    );
    assert_eq!(
        entry.before.as_ref().unwrap()["integrations"],
        json!(["Jira Cloud"])
    );
    assert!(entry.remote.is_some());
    let entry = &audited(&store, "integration.disable").await[0];
    assert_eq!(entry.target, format!("integration:{id}"));
    assert_eq!(entry.actor, "admin");
    let providers = admin.get("/integrations/providers").await;
    assert!(!providers.body.contains("jira 0.1.0"), "{}", providers.body);
    let gone = admin
        .post(
            "/marketplace/installed/jira/uninstall",
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_approves_upgrades_rolls_back_and_uninstalls() {
    let market = market().await;
    let (base, store, data) = (
        market.base.clone(),
        market.store.clone(),
        market.data.clone(),
    );
    let api = Api::sign_in(&base, "admin", ADMIN_PASSWORD).await;
    let viewer = Api::sign_in(&base, "vera", VIEWER_PASSWORD).await;
    let forged = Api {
        csrf: "forged".into(),
        ..Api::sign_in(&base, "admin", ADMIN_PASSWORD).await
    };
    let install = |version: &str, approve: bool| {
        Some(json!({"id": "jira", "version": version, "approve_capabilities": approve}))
    };
    let (status, body) = api
        .json(
            Method::POST,
            "/api/v1/marketplace/install",
            install("0.1.0", false),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (id, grants) = create_jira_integration(&api, "Jira Cloud").await;

    // The listing says what 0.2.0 asks for anew.
    let (_, body) = viewer.json(Method::GET, "/api/v1/marketplace", None).await;
    let upgrade = body["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["version"] == "0.2.0")
        .unwrap();
    assert_eq!(
        upgrade["new_capabilities"],
        json!(["Connects to any HTTPS server you grant it (`https://*`)"])
    );

    // Without approval: 422 with what is new.
    let (status, body) = api
        .json(
            Method::POST,
            "/api/v1/marketplace/install",
            install("0.2.0", false),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "refused");
    assert_eq!(body["error"]["installed_version"], "0.1.0");
    assert_eq!(
        body["error"]["new_capabilities"],
        json!(["Connects to any HTTPS server you grant it (`https://*`)"])
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"approve_capabilities\": true"),
        "{body}"
    );
    assert_eq!(current(&data, "jira"), "0.1.0");
    for client in [&viewer, &forged] {
        let (status, _) = client
            .json(
                Method::POST,
                "/api/v1/marketplace/install",
                install("0.2.0", true),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }

    // Approved.
    let (status, body) = api
        .json(
            Method::POST,
            "/api/v1/marketplace/install",
            install("0.2.0", true),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["previous_version"], "0.1.0");
    assert_eq!(body["loaded"], true);
    assert_eq!(current(&data, "jira"), "0.2.0");
    let entry = audited(&store, "marketplace.install")
        .await
        .into_iter()
        .find(|e| e.after.as_ref().unwrap()["version"] == "0.2.0")
        .unwrap();
    let after = entry.after.unwrap();
    assert_eq!(after["approved_capabilities"]["http"], json!(["https://*"]));
    assert_eq!(after["via"], "api");

    // The installed list.
    let (status, body) = viewer
        .json(Method::GET, "/api/v1/marketplace/installed", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let jira = &body["connectors"][0];
    assert_eq!(jira["id"], "jira");
    assert_eq!(jira["version"], "0.2.0");
    assert_eq!(jira["other_versions"], json!(["0.1.0"]));
    assert_eq!(jira["rollback_to"], "0.1.0");
    assert_eq!(jira["publisher"], "acme");
    assert_eq!(jira["trust"], "trusted");
    assert_eq!(jira["used_by"], json!(["Jira Cloud"]));
    assert_eq!(jira["loaded_version"], "0.2.0");

    // Roll back.
    let rollback = "/api/v1/marketplace/installed/jira/rollback";
    for client in [&viewer, &forged] {
        let (status, _) = client.json(Method::POST, rollback, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, body) = api.json(Method::POST, rollback, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["from"], &body["to"], &body["loaded"]),
        (&json!("0.2.0"), &json!("0.1.0"), &json!(true))
    );
    let (_, connectors) = api.json(Method::GET, "/api/v1/connectors", None).await;
    assert_eq!(
        connectors["connectors"][0]["version"], "0.1.0",
        "{connectors}"
    );
    let (status, body) = api.json(Method::POST, rollback, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "refused");
    assert_eq!(integration(&api, id).await["http_grants"], grants);
    let entry = &audited(&store, "marketplace.rollback").await[0];
    assert_eq!(entry.after.as_ref().unwrap()["via"], "api");

    // Uninstall: refused while used (409, naming it), then with the
    // integrations disabled (body or query).
    let path = "/api/v1/marketplace/installed/jira";
    for client in [&viewer, &forged] {
        let (status, _) = client
            .json(
                Method::DELETE,
                &format!("{path}?disable_integrations=true"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, body) = api.json(Method::DELETE, path, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    assert_eq!(body["error"]["integrations"], json!(["Jira Cloud"]));
    let (status, body) = api
        .json(
            Method::DELETE,
            path,
            Some(json!({"disable_integrations": false})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(installed_dir(&data, "jira").is_dir());
    let (status, body) = api
        .json(
            Method::DELETE,
            &format!("{path}?disable_integrations=true"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["versions"], json!(["0.1.0", "0.2.0"]));
    assert_eq!(body["disabled_integrations"], json!(["Jira Cloud"]));
    assert_eq!(body["unloaded"], true);
    assert!(!installed_dir(&data, "jira").exists());
    assert_eq!(integration(&api, id).await["enabled"], false);
    let (_, connectors) = api.json(Method::GET, "/api/v1/connectors", None).await;
    assert_eq!(connectors["connectors"], json!([]));
    let (status, _) = api
        .json(
            Method::DELETE,
            path,
            Some(json!({"disable_integrations": true})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(audited(&store, "marketplace.uninstall").await.len(), 1);
}
