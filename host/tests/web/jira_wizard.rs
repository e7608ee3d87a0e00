//! The Jira setup wizard over real HTTP, with the Jira connector in the
//! sandbox and the fake Jira (validating every request against Atlassian's
//! OpenAPI description): the site, then credentials checked with
//! `/myself` (the site granted with one click, a wrong token named), then
//! project and issue type chosen from the lists Jira returns, then the
//! status and priority mapping against the project's real workflow, then
//! the webhook URL and secret to paste into Jira.

use cube_test_support as common;

use reqwest::StatusCode;

use common::fake_jira::{Edition, FakeJira};
use common::web_forms::{Wizard, assert_contains, assert_step, unescaped};

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
    assert_step(&start.body, "Site");
    let site_fields = [("cfg.base_url", site.as_str()), ("cfg.edition", "cloud")];
    let (mut wizard, credentials) = Wizard::start(&mut browser, url, &csrf, &site_fields).await;
    assert_eq!(credentials.status, StatusCode::OK, "{}", credentials.body);
    assert_step(&credentials.body, "Credentials");

    // Not granted yet: the site is named and granted with one click; then
    // the wrong token is named for what it is.
    let wrong = [
        ("cfg.email", email.as_str()),
        ("cfg.api_token", "wrong-token"),
    ];
    let refused = wizard.post("1", "next", &wrong).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = unescaped(&refused.body);
    assert_contains(&page, &format!("The connector was refused {site}"));
    let allowed = wizard
        .post("1", "allow", &[("cfg.email", &email), ("allow", &site)])
        .await;
    assert_eq!(allowed.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = unescaped(&allowed.body);
    assert_contains(&page, "Check failed (Credentials)");
    assert_contains(&page, "refused the e-mail and API token (401)");
    assert!(!page.contains("wrong-token"), "a secret never comes back");

    // The right token signs in, and the project step offers Jira's projects.
    let signed_in = wizard
        .post(
            "1",
            "next",
            &[("cfg.email", &email), ("cfg.api_token", &token)],
        )
        .await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    let page = unescaped(&signed_in.body);
    assert_contains(&page, "Check passed (Credentials)");
    assert_contains(&page, "Signed in to Jira Cloud as CUBE Service");
    assert_step(&page, "Project");
    assert_contains(&page, "name=\"cfg.project_key\" data-offered=\"true\"");
    assert_contains(&page, "<option value=\"OPS\" >OPS: Operations</option>");
    assert_contains(&page, "<option value=\"HR\" >");

    // A project chosen, the check moves on to the workflow, where the
    // project's real statuses and Jira's priorities are listed.
    let project = [
        ("cfg.project_key", "OPS"),
        ("cfg.issue_type", "Task"),
        ("cfg.jql_filter", ""),
        ("cfg.sync_comments", "on"),
    ];
    let workflow = wizard.post("2", "next", &project).await;
    assert_eq!(workflow.status, StatusCode::OK, "{}", workflow.body);
    let page = unescaped(&workflow.body);
    assert_contains(&page, "project OPS (Operations), issue type Task");
    assert_step(&page, "Workflow");
    assert_contains(
        &page,
        "Values on the server: <code>To Do</code>, <code>In Progress</code>, <code>Done</code>",
    );
    assert_contains(&page, "<code>Highest</code>");

    // A status the workflow does not have is refused with the ones it has.
    let bad = wizard
        .post(
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
    let page = unescaped(&bad.body);
    assert_contains(
        &page,
        "names Waiting that the Task workflow of OPS does not have; it has To Do, In Progress, Done",
    );
    let access = wizard
        .post(
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
    assert_step(&unescaped(&access.body), "Name and access");

    let last = wizard
        .post(
            "4",
            "next",
            &[
                ("name", "Jira OPS"),
                ("http_grants", &site),
                ("ldap_grants", ""),
            ],
        )
        .await;
    assert_step(&last.body, "Test and save");
    let tested = wizard.post("5", "test", &[]).await;
    assert_contains(&tested.body, "Connection test passed");

    // Saved: the webhook endpoint is made, its URL and secret shown once,
    // with what to do in Jira.
    let saved = wizard.post("5", "save", &[]).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let page = unescaped(&saved.body);
    assert_contains(&page, "Integration Jira OPS created");
    assert_contains(&page, "WebHooks");
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
