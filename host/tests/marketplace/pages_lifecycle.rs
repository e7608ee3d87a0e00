//! The marketplace's life after an install, in the admin UI: an upgrade
//! that asks for more waiting for the admin's approval, rolling back (the
//! running server serves the old version, grants unchanged), and
//! uninstalling (refused while used, unless the integrations are disabled).
//! Real packages, built and signed with the core API; admins only, CSRF
//! checked, every change audited. The same through the API is in
//! `api_lifecycle.rs`, trusting publishers in
//! `publishers.rs`.

use cube_test_support as common;

use reqwest::StatusCode;
use serde_json::{Value, json};

use common::client::{Api, Browser};
use common::marketplace::{element, installed_dir, section};
use common::marketplace_ui::{
    Market, audited, create_jira_integration, current, escaped, install_from_the_page, integration,
    market, refused_to_viewers_and_forgeries, submit, submit_and_follow, submit_refused,
};
use common::{ADMIN_PASSWORD, VIEWER_PASSWORD};

/// jira 0.1.0 installed from the UI and an integration using it: the
/// admin's browser and form token, an API client, and the integration's id
/// and grants.
async fn jira_in_use(market: &Market) -> (Browser, String, Api, i64, Value) {
    let (mut admin, csrf) = common::sign_in_admin(&market.base).await;
    let api = Api::sign_in(&market.base, "admin", ADMIN_PASSWORD).await;
    install_from_the_page(&mut admin, &csrf, "jira", "0.1.0", &[]).await;
    let (id, grants) = create_jira_integration(&api, "Jira Cloud").await;
    (admin, csrf, api, id, grants)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_asking_for_more_waits_for_approval_and_rolls_back_in_the_ui() {
    let market = market().await;
    let Market {
        base, store, data, ..
    } = &market;
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
        base,
        &mut admin,
        "/marketplace/jira/0.2.0",
        &[("approve_capabilities", "on")],
    )
    .await;

    // Without approval: 422, explained, nothing changed.
    let refused = submit_refused(
        &mut admin,
        &csrf,
        "/marketplace/jira/0.2.0",
        &[],
        StatusCode::UNPROCESSABLE_ENTITY,
        "jira 0.2.0 asks for more than the installed 0.1.0",
    )
    .await;
    assert!(refused.body.contains("I approve these new capabilities"));
    assert_eq!(current(data, "jira"), "0.1.0");
    assert!(!installed_dir(data, "jira").join("0.2.0").exists());
    assert_eq!(audited(store, "marketplace.install").await.len(), 1);

    // Approved: installed, audited with what was approved, served at once.
    submit_and_follow(
        &mut admin,
        &csrf,
        "/marketplace/jira/0.2.0",
        &[("approve_capabilities", "on")],
        "jira 0.2.0 is installed in place of 0.1.0",
    )
    .await;
    assert_eq!(current(data, "jira"), "0.2.0");
    assert!(installed_dir(data, "jira").join("0.1.0").is_dir());
    let entry = audited(store, "marketplace.install")
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
        base,
        &mut admin,
        "/marketplace/installed/jira/rollback",
        &[],
    )
    .await;
    assert_eq!(current(data, "jira"), "0.2.0");
    let page = submit_and_follow(
        &mut admin,
        &csrf,
        "/marketplace/installed/jira/rollback",
        &[],
        "jira is rolled back from 0.2.0 to 0.1.0; the server runs 0.1.0 now",
    )
    .await;
    assert_eq!(current(data, "jira"), "0.1.0");
    let jira = element(&page.body, "installed-jira");
    assert!(jira.contains("id=\"others-jira\">0.2.0<"), "{jira}");
    assert!(jira.contains("id=\"loaded-jira\">version 0.1.0<"), "{jira}");
    let providers = admin.get("/integrations/providers").await;
    assert!(providers.body.contains("jira 0.1.0"), "{}", providers.body);
    assert!(!providers.body.contains("jira 0.2.0"), "{}", providers.body);
    let integration_after = integration(&api, id).await;
    assert_eq!(integration_after["http_grants"], grants);
    assert_eq!(integration_after["enabled"], true);
    let entry = &audited(store, "marketplace.rollback").await[0];
    assert_eq!(entry.target, "connector:jira");
    assert_eq!(entry.actor, "admin");
    assert_eq!(entry.before.as_ref().unwrap()["version"], "0.2.0");
    assert_eq!(entry.after.as_ref().unwrap()["version"], "0.1.0");

    // Nothing older: refused with why.
    submit_refused(
        &mut admin,
        &csrf,
        "/marketplace/installed/jira/rollback",
        &[],
        StatusCode::UNPROCESSABLE_ENTITY,
        "jira 0.1.0 is the oldest installed version",
    )
    .await;
    let missing = submit(
        &mut admin,
        &csrf,
        "/marketplace/installed/slack/rollback",
        &[],
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uninstalling_in_the_ui_is_refused_while_used_unless_integrations_are_disabled() {
    let market = market().await;
    let Market {
        base, store, data, ..
    } = &market;
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
    let mut viewer = Browser::new(base);
    viewer.sign_in("vera", VIEWER_PASSWORD).await;
    let page = viewer.get("/marketplace/installed/jira/uninstall").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let page = viewer.get("/marketplace/installed").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(element(&page.body, "installed-jira").contains("Jira Cloud"));
    assert!(!page.body.contains("Uninstall…"), "{}", page.body);
    refused_to_viewers_and_forgeries(
        base,
        &mut admin,
        "/marketplace/installed/jira/uninstall",
        &[("disable_integrations", "on")],
    )
    .await;
    assert!(installed_dir(data, "jira").is_dir());

    // In use: refused, naming the integration; nothing changed.
    submit_refused(
        &mut admin,
        &csrf,
        "/marketplace/installed/jira/uninstall",
        &[],
        StatusCode::CONFLICT,
        "jira is used by an integration: “Jira Cloud”. Nothing was removed.",
    )
    .await;
    assert!(installed_dir(data, "jira").join("0.1.0").is_dir());
    assert_eq!(integration(&api, id).await["enabled"], true);
    assert!(audited(store, "marketplace.uninstall").await.is_empty());

    // Disabling them: removed, the integration disabled, both audited, the
    // connector gone from the running server.
    let page = submit_and_follow(
        &mut admin,
        &csrf,
        "/marketplace/installed/jira/uninstall",
        &[("disable_integrations", "on")],
        "jira is uninstalled (removed versions 0.1.0); the server no longer runs it",
    )
    .await;
    assert!(
        page.body.contains("Disabled integrations: Jira Cloud"),
        "{}",
        page.body
    );
    assert!(!installed_dir(data, "jira").exists());
    let after = integration(&api, id).await;
    assert_eq!(after["enabled"], false);
    assert_eq!(after["http_grants"], grants);
    let entry = &audited(store, "marketplace.uninstall").await[0];
    assert_eq!(
        (entry.actor.as_str(), entry.target.as_str()),
        ("admin", "connector:jira")
    );
    assert_eq!(
        entry.before.as_ref().unwrap()["integrations"],
        json!(["Jira Cloud"])
    );
    assert!(entry.remote.is_some());
    let entry = &audited(store, "integration.disable").await[0];
    assert_eq!(entry.target, format!("integration:{id}"));
    assert_eq!(entry.actor, "admin");
    let providers = admin.get("/integrations/providers").await;
    assert!(!providers.body.contains("jira 0.1.0"), "{}", providers.body);
    let gone = submit(
        &mut admin,
        &csrf,
        "/marketplace/installed/jira/uninstall",
        &[],
    )
    .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}
