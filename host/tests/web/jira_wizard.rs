//! The Jira setup wizard over real HTTP, with the Jira connector in the
//! sandbox and the fake Jira (validating every request against Atlassian's
//! OpenAPI description): the site, then credentials checked with
//! `/myself` (the site granted with one click, a wrong token named), then
//! project and issue type chosen from the lists Jira returns, then the
//! status and priority mapping against the project's real workflow, then
//! the webhook URL and secret to paste into Jira.

use cube_test_support as common;

use reqwest::StatusCode;

use common::client::hidden;
use common::fake_jira::{Edition, FakeJira};

/// The page with `/` and `=` unescaped.
fn text(body: &str) -> String {
    body.replace("&#x2f;", "/").replace("&#x3d;", "=")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jira_wizard_offers_jiras_lists_and_hands_over_the_webhook() {
    let fake = FakeJira::start(Edition::Cloud).await;
    let (email, token) = fake.credentials();
    let catalog = common::plugin_catalog(&["jira"]).await;
    let (base, store, _dir) = common::serve_admin_app(catalog).await;
    let (mut browser, csrf) = common::sign_in_admin(&base).await;
    let url = "/integrations/create/jira";
    let site = fake.base_url();

    let start = browser.get(url).await;
    assert_eq!(start.status, StatusCode::OK);
    assert!(
        start.body.contains("aria-current=\"step\">Site<"),
        "{}",
        start.body
    );
    let credentials = browser
        .post(
            url,
            &[
                ("csrf_token", &csrf),
                ("draft", ""),
                ("step", "0"),
                ("nav", "next"),
                ("cfg.base_url", &site),
                ("cfg.edition", "cloud"),
            ],
        )
        .await;
    assert_eq!(credentials.status, StatusCode::OK, "{}", credentials.body);
    assert!(
        credentials
            .body
            .contains("aria-current=\"step\">Credentials<")
    );
    let draft = hidden(&credentials.body, "draft");
    let mut post = async |step: &str, nav: &str, extra: &[(&str, &str)]| {
        let mut form = vec![
            ("csrf_token", csrf.as_str()),
            ("draft", draft.as_str()),
            ("step", step),
            ("nav", nav),
        ];
        form.extend_from_slice(extra);
        browser.post(url, &form).await
    };

    // Not granted yet: the site is named and granted with one click; then
    // the wrong token is named for what it is.
    let wrong = [
        ("cfg.email", email.as_str()),
        ("cfg.api_token", "wrong-token"),
    ];
    let refused = post("1", "next", &wrong).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = text(&refused.body);
    assert!(
        page.contains(&format!("The connector was refused {site}")),
        "{page}"
    );
    let allowed = post("1", "allow", &[("cfg.email", &email), ("allow", &site)]).await;
    assert_eq!(allowed.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = text(&allowed.body);
    assert!(page.contains("Check failed (Credentials)"), "{page}");
    assert!(
        page.contains("refused the e-mail and API token (401)"),
        "{page}"
    );
    assert!(!page.contains("wrong-token"), "a secret never comes back");

    // The right token signs in, and the project step offers Jira's projects.
    let signed_in = post(
        "1",
        "next",
        &[("cfg.email", &email), ("cfg.api_token", &token)],
    )
    .await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    let page = text(&signed_in.body);
    assert!(page.contains("Check passed (Credentials)"), "{page}");
    assert!(
        page.contains("Signed in to Jira Cloud as CUBE Service"),
        "{page}"
    );
    assert!(page.contains("aria-current=\"step\">Project<"), "{page}");
    assert!(
        page.contains("name=\"cfg.project_key\" data-offered=\"true\""),
        "{page}"
    );
    assert!(
        page.contains("<option value=\"OPS\" >OPS: Operations</option>"),
        "{page}"
    );
    assert!(page.contains("<option value=\"HR\" >"), "{page}");

    // A project chosen, the check moves on to the workflow, where the
    // project's real statuses and Jira's priorities are listed.
    let project = [
        ("cfg.project_key", "OPS"),
        ("cfg.issue_type", "Task"),
        ("cfg.jql_filter", ""),
        ("cfg.sync_comments", "on"),
    ];
    let workflow = post("2", "next", &project).await;
    assert_eq!(workflow.status, StatusCode::OK, "{}", workflow.body);
    let page = text(&workflow.body);
    assert!(
        page.contains("project OPS (Operations), issue type Task"),
        "{page}"
    );
    assert!(page.contains("aria-current=\"step\">Workflow<"), "{page}");
    assert!(
        page.contains(
            "Values on the server: <code>To Do</code>, <code>In Progress</code>, <code>Done</code>"
        ),
        "{page}"
    );
    assert!(page.contains("<code>Highest</code>"), "{page}");

    // A status the workflow does not have is refused with the ones it has.
    let bad = post(
        "3",
        "next",
        &[
            ("cfg.status_map", "open = To Do\nblocked = Waiting"),
            ("cfg.priority_map", "high = High"),
            ("cfg.field_map", ""),
        ],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = text(&bad.body);
    assert!(
        page.contains("names Waiting that the Task workflow of OPS does not have; it has To Do, In Progress, Done"),
        "{page}"
    );
    let access = post(
        "3",
        "next",
        &[
            (
                "cfg.status_map",
                "open = To Do\nin_progress = In Progress\ndone = Done",
            ),
            ("cfg.priority_map", "urgent = Highest\nnormal = Medium"),
            ("cfg.field_map", ""),
        ],
    )
    .await;
    assert_eq!(access.status, StatusCode::OK, "{}", access.body);
    assert!(text(&access.body).contains("aria-current=\"step\">Name and access<"));

    let last = post(
        "4",
        "next",
        &[
            ("name", "Jira OPS"),
            ("http_grants", &site),
            ("ldap_grants", ""),
        ],
    )
    .await;
    assert!(
        last.body.contains("aria-current=\"step\">Test and save<"),
        "{}",
        last.body
    );
    let tested = post("5", "test", &[]).await;
    assert!(
        tested.body.contains("Connection test passed"),
        "{}",
        tested.body
    );

    // Saved: the webhook endpoint is made, its URL and secret shown once,
    // with what to do in Jira.
    let saved = post("5", "save", &[]).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let page = text(&saved.body);
    assert!(page.contains("Integration Jira OPS created"), "{page}");
    assert!(page.contains("WebHooks"), "{page}");
    let hook_url = common::element_text(&saved.body, "webhook-url");
    let secret = common::element_text(&saved.body, "webhook-secret");
    assert!(
        hook_url.starts_with(&format!("{base}/hooks/")),
        "{hook_url}"
    );
    assert!(secret.len() >= 32, "{secret}");

    // The endpoint checks Jira's signature with that secret.
    let key = fake.create_issue_remote("OPS", "From Jira");
    let (headers, body) = fake.webhook("jira:issue_created", &key, None, &secret);
    let mut request = reqwest::Client::new().post(&hook_url).body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let status = request.send().await.unwrap().status();
    assert!(status.is_success(), "{status}");
    let integrations = store.integrations().await.unwrap();
    assert_eq!(integrations.len(), 1);
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}
