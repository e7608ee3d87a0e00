//! The setup wizard over real HTTP: steps from the connector's schema,
//! progress kept on the server, and saving only after a passing test of
//! the exact settings, or an audited override.

use cube_test_support as common;

use reqwest::StatusCode;

use common::client::{Browser, hidden};
use common::{PROBE_SECRET as SECRET, VIEWER_PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wizard_saves_only_after_a_passing_test_or_an_audited_override() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let (mut browser, csrf) = common::sign_in_admin(&base).await;
    let dead = format!("http://127.0.0.1:{}/", common::closed_port());

    let start = browser.get("/integrations/create/probe").await;
    assert_eq!(start.status, StatusCode::OK);
    assert!(
        start.body.contains("aria-current=\"step\">Server<"),
        "{}",
        start.body
    );

    // Step 1 (Server): a bad URL stays on the step with its message.
    let bad = browser
        .post(
            "/integrations/create/probe",
            &[
                ("csrf_token", &csrf),
                ("draft", ""),
                ("step", "0"),
                ("nav", "next"),
                ("cfg.url", "nope"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("Enter a full URL"));
    let draft = hidden(&bad.body, "draft");
    let mut post = async |step: &str, nav: &str, extra: &[(&str, &str)]| {
        let mut form = vec![
            ("csrf_token", csrf.as_str()),
            ("draft", draft.as_str()),
            ("step", step),
            ("nav", nav),
        ];
        form.extend_from_slice(extra);
        browser.post("/integrations/create/probe", &form).await
    };
    let server = post("0", "next", &[("cfg.url", &dead)]).await;
    assert!(
        server.body.contains("aria-current=\"step\">Credentials<"),
        "{}",
        server.body
    );
    let creds = post("1", "next", &[("cfg.password", SECRET)]).await;
    assert!(!creds.body.contains(SECRET));
    assert!(
        creds.body.contains("aria-current=\"step\">Behaviour<"),
        "{}",
        creds.body
    );
    // Back and forth keeps what was typed, and the secret stays on the server.
    let back = post("2", "back", &[("cfg.action", "fetch"), ("cfg.pages", "2")]).await;
    assert!(back.body.contains(">set</span>"), "{}", back.body);
    assert!(!back.body.contains(SECRET));
    let behaviour = post("1", "next", &[]).await;
    assert!(
        behaviour.body.contains("value=\"fetch\""),
        "{}",
        behaviour.body
    );
    let access = post("2", "next", &[("cfg.action", "fetch"), ("cfg.pages", "2")]).await;
    assert!(
        access
            .body
            .contains("aria-current=\"step\">Name and access<"),
        "{}",
        access.body
    );
    // The deletion threshold is checked on its step.
    let wrong = post(
        "3",
        "next",
        &[
            ("name", "Wizard probe"),
            ("http_grants", "http://127.0.0.1:*"),
            ("deletion_max_percent", "ten"),
        ],
    )
    .await;
    assert!(
        wrong
            .body
            .contains("Enter a whole percentage from 0 (no limit) to 100"),
        "{}",
        wrong.body
    );
    let last = post(
        "3",
        "next",
        &[
            ("name", "Wizard probe"),
            ("http_grants", "http://127.0.0.1:*"),
            ("deletion_max_objects", "40"),
            ("deletion_max_percent", "0"),
        ],
    )
    .await;
    assert!(
        last.body.contains("aria-current=\"step\">Test and save<"),
        "{}",
        last.body
    );

    let early = post("4", "save", &[]).await;
    assert_eq!(early.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        early
            .body
            .contains("Run a connection test that passes before saving")
    );
    let failing = post("4", "test", &[]).await;
    assert!(
        failing.body.contains("The server could not be reached"),
        "{}",
        failing.body
    );
    let still = post("4", "save", &[]).await;
    assert_eq!(still.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(store.integrations().await.unwrap().is_empty());

    // Fix the URL on its step, test again, save.
    let live = common::http_answering("ok").await;
    post("0", "next", &[("cfg.url", &live)]).await;
    let passing = post("4", "test", &[]).await;
    assert!(
        passing.body.contains("Connection test passed"),
        "{}",
        passing.body
    );
    let saved = post("4", "save", &[]).await;
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
    let first = browser
        .post(
            "/integrations/create/probe",
            &[
                ("csrf_token", &csrf),
                ("draft", ""),
                ("step", "0"),
                ("nav", "next"),
                ("cfg.url", &dead),
            ],
        )
        .await;
    let draft = hidden(&first.body, "draft");
    for (step, field, value) in [
        ("1", "cfg.password", SECRET),
        ("2", "cfg.action", "fetch"),
        ("3", "name", "Offline probe"),
    ] {
        let page = browser
            .post(
                "/integrations/create/probe",
                &[
                    ("csrf_token", &csrf),
                    ("draft", &draft),
                    ("step", step),
                    ("nav", "next"),
                    (field, value),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    }
    let offline = |confirm: &'static str| {
        [
            ("csrf_token", csrf.clone()),
            ("draft", draft.clone()),
            ("step", "4".to_owned()),
            ("nav", "save_anyway".to_owned()),
            ("confirm_untested", confirm.to_owned()),
        ]
    };
    let unticked = offline("");
    let refused = browser
        .post_owned("/integrations/create/probe", &unticked)
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("Tick the confirmation"));
    let saved = browser
        .post_owned("/integrations/create/probe", &offline("yes"))
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let entry = &store.audit_entries(5).await.unwrap()[0];
    assert_eq!(entry.action, "integration.create.untested");

    // Another user cannot continue someone else's draft.
    let mut other = Browser::new(&base);
    other.sign_in("vera", VIEWER_PASSWORD).await;
    let viewer = other.get("/integrations/create/probe").await;
    assert_eq!(viewer.status, StatusCode::FORBIDDEN);
    let missing = browser.get("/integrations/create/jira").await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(
        missing.body.contains("is not installed"),
        "{}",
        missing.body
    );
}
