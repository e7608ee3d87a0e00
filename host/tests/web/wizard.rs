//! The setup wizard over real HTTP: steps from the connector's schema,
//! progress kept on the server, and saving only after a passing test of
//! the exact settings, or an audited override.

use cube_test_support as common;

use reqwest::StatusCode;

use common::client::Browser;
use common::web_forms::{Wizard, assert_contains, assert_step};
use common::{PROBE_SECRET as SECRET, VIEWER_PASSWORD};

const URL: &str = "/integrations/create/probe";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wizard_saves_only_after_a_passing_test_or_an_audited_override() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let (mut browser, csrf) = common::sign_in_admin(&base).await;
    let dead = format!("http://127.0.0.1:{}/", common::closed_port());

    let start = browser.get(URL).await;
    assert_eq!(start.status, StatusCode::OK);
    assert_step(&start.body, "Server");

    // Step 1 (Server): a bad URL stays on the step with its message.
    let (mut wizard, bad) = Wizard::start(&mut browser, URL, &csrf, &[("cfg.url", "nope")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("Enter a full URL"));
    let server = wizard.post("0", "next", &[("cfg.url", &dead)]).await;
    assert_step(&server.body, "Credentials");
    let creds = wizard.post("1", "next", &[("cfg.password", SECRET)]).await;
    assert!(!creds.body.contains(SECRET));
    assert_step(&creds.body, "Behaviour");
    // Back and forth keeps what was typed, and the secret stays on the server.
    let back = wizard
        .post("2", "back", &[("cfg.action", "fetch"), ("cfg.pages", "2")])
        .await;
    assert_contains(&back.body, ">set</span>");
    assert!(!back.body.contains(SECRET));
    let behaviour = wizard.post("1", "next", &[]).await;
    assert_contains(&behaviour.body, "value=\"fetch\"");
    let access = wizard
        .post("2", "next", &[("cfg.action", "fetch"), ("cfg.pages", "2")])
        .await;
    assert_step(&access.body, "Name and access");
    // The deletion threshold is checked on its step.
    let named = [
        ("name", "Wizard probe"),
        ("http_grants", "http://127.0.0.1:*"),
    ];
    let wrong = wizard
        .post(
            "3",
            "next",
            &[&named[..], &[("deletion_max_percent", "ten")]].concat(),
        )
        .await;
    assert_contains(
        &wrong.body,
        "Enter a whole percentage from 0 (no limit) to 100",
    );
    let limits = [
        ("deletion_max_objects", "40"),
        ("deletion_max_percent", "0"),
    ];
    let last = wizard
        .post("3", "next", &[&named[..], &limits].concat())
        .await;
    assert_step(&last.body, "Test and save");

    let early = wizard.post("4", "save", &[]).await;
    assert_eq!(early.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        early
            .body
            .contains("Run a connection test that passes before saving")
    );
    let failing = wizard.post("4", "test", &[]).await;
    assert_contains(&failing.body, "The server could not be reached");
    let still = wizard.post("4", "save", &[]).await;
    assert_eq!(still.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(store.integrations().await.unwrap().is_empty());

    // Fix the URL on its step, test again, save.
    let live = common::http_answering("ok").await;
    wizard.post("0", "next", &[("cfg.url", &live)]).await;
    let passing = wizard.post("4", "test", &[]).await;
    assert_contains(&passing.body, "Connection test passed");
    let saved = wizard.post("4", "save", &[]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let integrations = store.integrations().await.unwrap();
    assert_eq!(integrations.len(), 1);
    assert_eq!(integrations[0].last_test_ok, Some(true));
    assert!(integrations[0].sealed_secrets.contains_key("password"));
    let limits = store.deletion_limits(integrations[0].id).await.unwrap();
    assert_eq!((limits.max_objects, limits.max_percent), (40, 0));
    let entry = &store.audit_entries(5).await.unwrap()[0];
    assert_eq!(entry.action, "integration.create");
    assert_eq!(
        entry.after.as_ref().unwrap()["deletion_limits"],
        serde_json::json!({"max_objects": 40, "max_percent": 0})
    );

    // A second wizard, saved offline: needs the tick, and is audited so.
    let (mut offline, _) = Wizard::start(&mut browser, URL, &csrf, &[("cfg.url", &dead)]).await;
    for (step, field, value) in [
        ("1", "cfg.password", SECRET),
        ("2", "cfg.action", "fetch"),
        ("3", "name", "Offline probe"),
    ] {
        let page = offline.post(step, "next", &[(field, value)]).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    }
    let refused = offline
        .post("4", "save_anyway", &[("confirm_untested", "")])
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("Tick the confirmation"));
    let saved = offline
        .post("4", "save_anyway", &[("confirm_untested", "yes")])
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let entry = &store.audit_entries(5).await.unwrap()[0];
    assert_eq!(entry.action, "integration.create.untested");

    // Another user cannot continue someone else's draft.
    let mut other = Browser::new(&base);
    other.sign_in("vera", VIEWER_PASSWORD).await;
    let viewer = other.get(URL).await;
    assert_eq!(viewer.status, StatusCode::FORBIDDEN);
    let missing = browser.get("/integrations/create/jira").await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_contains(&missing.body, "is not installed");
}
