//! The marketplace in the admin UI and the API: a registry built with the
//! core API (a signed Jira package and an unsigned trivial one), listed with
//! the right badges and plain-word capabilities, installed by admins only,
//! untrusted packages only with explicit consent, and the installed
//! connector in the running catalog at once.

use cube_test_support as common;

use cube_host::marketplace::keys::trust;
use cube_host::marketplace::registry::INDEX;
use cube_host::web::Catalog;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use common::client::{Api, Browser};
use common::marketplace::{build_registry, installed_dir, section};
use common::marketplace_ui::{
    install_from_the_page, install_through_the_api, no_marketplace_change_audited, submit_refused,
};
use common::{ADMIN_PASSWORD, VIEWER_PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_install_from_the_registry_and_the_connector_loads_at_once() {
    let desk = tempfile::tempdir().unwrap();
    let (registry, acme_pub) = build_registry(desk.path()).await;
    let catalog = Catalog::new();
    let (base, store, data) = common::serve_admin_app_with_registry(catalog, &registry).await;
    let data = data.path().to_path_buf();

    // The page lists both, with their badges and what they ask for.
    let (mut admin, csrf) = common::sign_in_admin(&base).await;
    let page = admin.get("/marketplace").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let jira = section(&page.body, "jira", "0.1.0");
    assert!(jira.contains("signed, publisher not trusted"), "{jira}");
    assert!(jira.contains("acme"), "{jira}");
    assert!(
        jira.contains("Connects to any HTTPS server you grant it"),
        "{jira}"
    );
    assert!(jira.contains(">no<"), "{jira}");
    let trivial = section(&page.body, "trivial", "0.1.0");
    assert!(trivial.contains(">unsigned<"), "{trivial}");
    assert!(
        trivial.contains("Connects to nothing outside this host"),
        "{trivial}"
    );

    // The review page: signature, key id, digest, and the consent box.
    let review = admin.get("/marketplace/jira/0.1.0").await;
    assert_eq!(review.status, StatusCode::OK);
    assert!(review.body.contains("signed, publisher not trusted"));
    assert!(review.body.contains("I accept a package whose publisher"));
    let index: Value =
        serde_json::from_slice(&std::fs::read(registry.join(INDEX)).unwrap()).unwrap();
    let jira_entry = &index["packages"][0];
    assert!(review.body.contains(jira_entry["sha256"].as_str().unwrap()));
    assert!(review.body.contains(jira_entry["key_id"].as_str().unwrap()));
    let missing = admin.get("/marketplace/jira/9.9.9").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // A viewer sees the page, and is refused the install.
    let mut viewer = Browser::new(&base);
    viewer.sign_in("vera", VIEWER_PASSWORD).await;
    let viewer_csrf = viewer.csrf().await;
    let page = viewer.get("/marketplace").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("signed, publisher not trusted"));
    let refused = viewer
        .post(
            "/marketplace/trivial/0.1.0",
            &[("csrf_token", &viewer_csrf), ("accept_untrusted", "on")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // Without the CSRF token, not even an admin.
    let refused = admin
        .post(
            "/marketplace/trivial/0.1.0",
            &[("csrf_token", "forged"), ("accept_untrusted", "on")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(!installed_dir(&data, "trivial").exists());

    // Unsigned, without consent: refused with why, nothing installed.
    submit_refused(
        &mut admin,
        &csrf,
        "/marketplace/trivial/0.1.0",
        &[],
        StatusCode::UNPROCESSABLE_ENTITY,
        "the package is not signed",
    )
    .await;
    assert!(!installed_dir(&data, "trivial").exists());
    assert!(no_marketplace_change_audited(&store).await);

    // With consent: installed, audited as untrusted, loaded.
    let done = install_from_the_page(
        &mut admin,
        &csrf,
        "trivial",
        "0.1.0",
        &[("accept_untrusted", "on")],
    )
    .await;
    assert!(installed_dir(&data, "trivial").join("current").is_file());
    let audit = store.audit_entries(100).await.unwrap();
    let entry = audit
        .iter()
        .find(|e| e.action == "marketplace.install.untrusted")
        .expect("an untrusted install is audited");
    assert_eq!(entry.target, "connector:trivial");
    assert_eq!(entry.actor, "admin");
    let page = admin.get(&done.location.unwrap()).await;
    assert!(
        page.body.contains("trivial 0.1.0 is installed"),
        "{}",
        page.body
    );
    assert!(section(&page.body, "trivial", "0.1.0").contains("yes, this version"));

    // Trusting the publisher (as `cube plugin trust` does) makes jira
    // verified; it installs without consent and loads without a restart.
    let providers = admin.get("/integrations/providers").await;
    assert!(!providers.body.contains("jira 0.1.0"), "{}", providers.body);
    trust(&data, &acme_pub).unwrap();
    let page = admin.get("/marketplace").await;
    let jira = section(&page.body, "jira", "0.1.0");
    assert!(jira.contains(">verified<"), "{jira}");
    install_from_the_page(&mut admin, &csrf, "jira", "0.1.0", &[]).await;
    let audit = store.audit_entries(100).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "marketplace.install" && e.target == "connector:jira")
    );
    let providers = admin.get("/integrations/providers").await;
    assert!(providers.body.contains("jira 0.1.0"), "{}", providers.body);
    assert!(providers.body.contains("Trivial"), "{}", providers.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_lists_and_installs() {
    let desk = tempfile::tempdir().unwrap();
    let (registry, _) = build_registry(desk.path()).await;
    let (base, store, data) =
        common::serve_admin_app_with_registry(Catalog::new(), &registry).await;

    let api = Api::sign_in(&base, "admin", ADMIN_PASSWORD).await;
    let (status, body) = api.json(Method::GET, "/api/v1/marketplace", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let packages = body["packages"].as_array().unwrap();
    assert_eq!(packages.len(), 2, "{body}");
    assert_eq!(packages[0]["id"], "jira");
    assert_eq!(packages[0]["status"], "untrusted");
    assert_eq!(
        packages[0]["asks_for"][0],
        "Connects to any HTTPS server you grant it"
    );
    assert_eq!(packages[1]["id"], "trivial");
    assert_eq!(packages[1]["status"], "unsigned");
    assert_eq!(packages[1]["installed"], false);

    // A viewer may list, not install.
    let viewer = Api::sign_in(&base, "vera", VIEWER_PASSWORD).await;
    let (status, _) = viewer.json(Method::GET, "/api/v1/marketplace", None).await;
    assert_eq!(status, StatusCode::OK);
    let install = json!({"id": "jira", "version": "0.1.0", "accept_untrusted": true});
    let (status, _) = install_through_the_api(&viewer, install.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Without the CSRF header, refused.
    let response = api
        .http
        .post(format!("{base}/api/v1/marketplace/install"))
        .header("cookie", &api.cookie)
        .header("content-type", "application/json")
        .body(install.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // Untrusted without consent: 422 with why; nothing installed.
    let (status, body) =
        install_through_the_api(&api, json!({"id": "jira", "version": "0.1.0"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "refused");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("which this host does not trust"),
        "{body}"
    );
    assert!(!data.path().join("connectors/jira").exists());
    let (status, _) =
        install_through_the_api(&api, json!({"id": "jira", "version": "9.9.9"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = install_through_the_api(&api, install).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["trusted"], false);
    assert_eq!(body["loaded"], true, "{body}");
    let audit = store.audit_entries(100).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "marketplace.install.untrusted"
                && e.target == "connector:jira"
                && e.after.as_ref().unwrap()["via"] == "api")
    );
    let (_, body) = api.json(Method::GET, "/api/v1/marketplace", None).await;
    assert_eq!(body["packages"][0]["installed"], true);
    let (_, connectors) = api.json(Method::GET, "/api/v1/connectors", None).await;
    assert!(connectors.to_string().contains("\"jira\""), "{connectors}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_registry_the_page_says_how_to_configure_one() {
    let (base, _store, _dir) = common::serve_admin_app(Catalog::new()).await;
    let (mut admin, _) = common::sign_in_admin(&base).await;
    let page = admin.get("/marketplace").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("No registry is configured"),
        "{}",
        page.body
    );
    let api = Api::sign_in(&base, "admin", ADMIN_PASSWORD).await;
    let (status, body) = api.json(Method::GET, "/api/v1/marketplace", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["packages"], json!([]));
}
