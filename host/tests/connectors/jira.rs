//! The Jira connector in the real host against a fake Jira that follows
//! Atlassian's published contract (it validates every request against
//! Jira Cloud's OpenAPI description and fails on any deviation): work
//! orders and issues both ways (create, update, transition, comment), echoes
//! recognised, a conflicting edit on both sides, a storm of 429s, an issue
//! deleted in Jira, a webhook delivered twice, pagination over 1,000
//! issues, Data Center's `startAt` paging and plain-text bodies, and a
//! wrong token.

use cube_test_support as common;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use common::connector_setup::{ConnectorApp, deliver, with_overrides};
use common::eventually;
use common::fake_jira::{Edition, FakeJira};

/// Jira Cloud's search.
const CLOUD_SEARCH: &str = "/rest/api/3/search/jql";

struct Setup {
    app: ConnectorApp,
    integration: i64,
    hook_url: String,
    hook_secret: String,
}

/// The app with the Jira connector, an integration for project OPS on
/// `fake`, and its webhook endpoint (Jira's `X-Hub-Signature` scheme, the
/// connector's answer awaited so that a delivery is applied when it is
/// acknowledged).
async fn setup(fake: &FakeJira, extra: Value) -> Setup {
    let app = ConnectorApp::start("jira").await;
    let (user, token) = fake.credentials();
    let edition = match fake.edition() {
        Edition::Cloud => "cloud",
        Edition::DataCenter => "data-center",
    };
    let config = json!({
        "base_url": fake.base_url(),
        "edition": edition,
        "email": user,
        "api_token": token,
        "project_key": "OPS",
        "issue_type": "Task",
        "sync_comments": true,
        "status_map": "open = To Do\nin_progress = In Progress\ndone = Done",
        "priority_map": "urgent = Highest\nhigh = High\nnormal = Medium\nlow = Low",
    });
    let integration = app
        .create_integration("Jira OPS", with_overrides(config, &extra), &fake.base_url())
        .await;
    let hook = app
        .add_webhook(
            integration,
            json!({"scheme": "hub-sha256", "answer": "connector", "description": "Jira"}),
        )
        .await;
    Setup {
        app,
        integration,
        hook_url: hook["url"].as_str().unwrap().to_owned(),
        hook_secret: hook["secret"].as_str().unwrap().to_owned(),
    }
}

/// Delivers a webhook to the integration's endpoint; the answer's status.
async fn deliver_hook(setup: &Setup, delivery: (Vec<(String, String)>, Vec<u8>)) -> StatusCode {
    deliver(&setup.hook_url, delivery).await.status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_orders_and_cloud_issues_stay_in_step_both_ways() {
    let fake = FakeJira::start(Edition::Cloud).await;
    let setup = setup(&fake, json!({})).await;
    let (app, store) = (&setup.app, &setup.app.store);

    // Created here: an issue of the configured type, in ADF, with the
    // mapped priority; the key is kept on the link.
    let order = app
        .create_work_order(
            json!({"title": "Pump 4 leaks", "description": "Seal worn.\n\nCheck valve too.",
                    "priority": "high", "status": "open", "due_at": 1_767_225_600_000i64}),
        )
        .await;
    let key = app.linked_id(order).await;
    let issue = fake.issue(&key).expect("the issue exists in Jira");
    assert_eq!(issue.summary, "Pump 4 leaks");
    assert_eq!(
        issue.description.as_deref(),
        Some("Seal worn.\n\nCheck valve too.")
    );
    assert_eq!(issue.description_raw.as_ref().unwrap()["type"], "doc");
    assert_eq!(
        (issue.priority.as_str(), issue.status.as_str()),
        ("High", "To Do")
    );
    assert_eq!(issue.issue_type, "Task");
    assert_eq!(issue.duedate.as_deref(), Some("2026-01-01"));

    // Changed here: the title is updated and the status moves through a
    // transition.
    app.update_work_order(
        order,
        json!({"title": "Pump 4 leaks badly", "description": "Seal worn.\n\nCheck valve too.",
                "priority": "high", "status": "in_progress", "due_at": 1_767_225_600_000i64}),
    )
    .await;
    eventually("the update in Jira", async || {
        let issue = fake.issue(&key)?;
        (issue.status == "In Progress" && issue.summary == "Pump 4 leaks badly").then_some(())
    })
    .await;
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.method == "POST" && r.path.ends_with(&format!("/issue/{key}/transitions"))),
        "the status moved through a transition"
    );

    // A comment written here is added to the issue, signed with its author.
    app.comment(order, "Ordered a new seal.").await;
    let ours = eventually("the comment in Jira", async || {
        fake.issue(&key)?.comments.into_iter().next()
    })
    .await;
    assert_eq!(ours.body, "[CUBE] admin: Ordered a new seal.");

    // The echoes of our own writes change nothing: the issue as Jira has it
    // now carries the version the push recorded; our comment is known.
    let before = store.work_order(order).await.unwrap().unwrap();
    let echo = fake.webhook("jira:issue_updated", &key, None, &setup.hook_secret);
    assert_eq!(deliver_hook(&setup, echo).await, StatusCode::OK);
    let echo = fake.webhook("comment_created", &key, Some(&ours.id), &setup.hook_secret);
    assert_eq!(deliver_hook(&setup, echo).await, StatusCode::OK);
    assert_eq!(store.work_order(order).await.unwrap().unwrap(), before);
    assert_eq!(store.work_order_comments(order).await.unwrap().len(), 1);

    // Changed in Jira: title, status and a comment arrive by webhook, and
    // are not pushed back.
    fake.set_summary_remote(&key, "Pump 4 replaced");
    fake.set_status_remote(&key, "Done");
    let update = fake.webhook("jira:issue_updated", &key, None, &setup.hook_secret);
    assert_eq!(deliver_hook(&setup, update.clone()).await, StatusCode::OK);
    let now = store.work_order(order).await.unwrap().unwrap();
    assert_eq!(
        (now.title.as_str(), now.status.as_str()),
        ("Pump 4 replaced", "done")
    );
    let theirs = fake.add_comment_remote(&key, "Jo Tech", "Replaced on site.");
    let comment = fake.webhook("comment_created", &key, Some(&theirs), &setup.hook_secret);
    assert_eq!(deliver_hook(&setup, comment.clone()).await, StatusCode::OK);
    // Jira retries a delivery with the same identifier: refused as a
    // duplicate, and nothing is applied twice.
    let again = FakeJira::redelivery(&comment.0, &comment.1);
    assert_eq!(deliver_hook(&setup, again).await, StatusCode::CONFLICT);
    let comments = store.work_order_comments(order).await.unwrap();
    assert_eq!(comments.len(), 2, "{comments:?}");
    let from_jira = comments
        .iter()
        .find(|c| c.source_integration_id == Some(setup.integration))
        .expect("the Jira comment");
    assert_eq!(
        (from_jira.author.as_str(), from_jira.body.as_str()),
        ("Jo Tech", "Replaced on site.")
    );
    let pushes = store.pushes_of(order).await.unwrap();
    assert_eq!(
        pushes.len(),
        3,
        "create, update, comment; nothing pushed back: {pushes:?}"
    );

    // The same delivery re-sent under a new identifier (Jira's own
    // duplicates, or a replay: the identifier is not signed) is the same
    // signed body, so a duplicate too, and applies nothing.
    let duplicate = fake.webhook("comment_created", &key, Some(&theirs), &setup.hook_secret);
    assert_ne!(
        duplicate
            .0
            .iter()
            .find(|(n, _)| n == "X-Atlassian-Webhook-Identifier"),
        comment
            .0
            .iter()
            .find(|(n, _)| n == "X-Atlassian-Webhook-Identifier")
    );
    assert_eq!(deliver_hook(&setup, duplicate).await, StatusCode::CONFLICT);
    assert_eq!(store.work_order_comments(order).await.unwrap().len(), 2);

    // A bad signature is refused and changes nothing.
    let (headers, body) = fake.webhook("jira:issue_updated", &key, None, "not-the-secret");
    assert_eq!(
        deliver_hook(&setup, (headers, body)).await,
        StatusCode::UNAUTHORIZED
    );

    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
    // The connector sends what the description declares, not what Jira
    // merely coerces.
    let coerced: Vec<_> = fake
        .warnings()
        .into_iter()
        .filter(|w| w.contains("coerces"))
        .collect();
    assert!(coerced.is_empty(), "{coerced:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflicting_edit_keeps_the_later_change_of_each_field() {
    let fake = FakeJira::start(Edition::Cloud).await;
    let setup = setup(&fake, json!({})).await;
    let (app, store) = (&setup.app, &setup.app.store);
    let key = fake.create_issue_remote("OPS", "Door sensor faulty");
    let log = app.sync(setup.integration, true).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    let order = app
        .work_order_of(setup.integration, &key)
        .await
        .expect("the issue became a work order");

    // Jira is slowing us down, so our edit of the title waits; meanwhile
    // someone changes the title and the priority in Jira, after our edit.
    fake.rate_limit_next(1000, 1);
    app.update_work_order(
        order,
        json!({"title": "Door sensor (ours)", "status": "open", "priority": "normal"}),
    )
    .await;
    // Claimed, tried and put back with the reason.
    let error = eventually("a rate-limited attempt", async || {
        let pushes = store.pushes_of(order).await.unwrap();
        (pushes[0].attempts >= 1 && pushes[0].status == "pending")
            .then(|| pushes[0].error.clone())
            .flatten()
    })
    .await;
    assert!(error.contains("429"), "{error}");
    // The fake's clock starts in 2024; four years on is after our edit.
    fake.advance_clock(Duration::from_secs(4 * 365 * 24 * 3600));
    fake.set_summary_remote(&key, "Door sensor (theirs)");
    fake.set_priority_remote(&key, "Highest");
    fake.rate_limit_next(0, 0);
    // Their change is later than ours: their title and priority win.
    let update = fake.webhook("jira:issue_updated", &key, None, &setup.hook_secret);
    assert_eq!(deliver_hook(&setup, update).await, StatusCode::OK);
    let now = store.work_order(order).await.unwrap().unwrap();
    assert_eq!(
        (now.title.as_str(), now.priority.as_str()),
        ("Door sensor (theirs)", "urgent")
    );

    // Once Jira lets us through, the waiting push is retried and lands.
    eventually("the push after the storm", async || {
        let pushes = store.pushes_of(order).await.unwrap();
        (pushes[0].status == "done").then_some(())
    })
    .await;
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_429s_is_waited_out_and_a_deleted_issue_goes() {
    let fake = FakeJira::start(Edition::Cloud).await;
    let setup = setup(&fake, json!({})).await;
    let (app, store) = (&setup.app, &setup.app.store);
    fake.bulk_create("OPS", 30);
    // Every third request or so is refused for a while; the sync waits as
    // Jira asks and finishes with everything.
    fake.rate_limit_next(3, 1);
    let log = app.sync(setup.integration, true).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    let searches = fake.requests_to(CLOUD_SEARCH).len();
    assert!(
        searches >= 4,
        "one page, asked for again after each 429: {searches}"
    );
    assert_eq!(app.count_orders().await, 30);

    // Deleted in Jira: its webhook removes the work order that came from it.
    let key = fake.keys()[0].clone();
    let order = app.work_order_of(setup.integration, &key).await.unwrap();
    let deleted = fake.webhook("jira:issue_deleted", &key, None, &setup.hook_secret);
    fake.delete_remote(&key);
    assert_eq!(deliver_hook(&setup, deleted).await, StatusCode::OK);
    assert!(store.work_order(order).await.unwrap().is_none());
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_issues_are_read_page_by_page_then_only_what_changed() {
    let fake = FakeJira::start(Edition::Cloud).await;
    let setup = setup(&fake, json!({"sync_comments": false})).await;
    let app = &setup.app;
    fake.bulk_create("OPS", 1000);
    fake.create_issue_remote("HR", "Not ours");
    let log = app.sync(setup.integration, true).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(app.count_orders().await, 1000);
    let searches = fake.requests_to(CLOUD_SEARCH);
    assert!(searches.len() >= 10, "{} pages", searches.len());
    assert!(
        searches
            .iter()
            .skip(1)
            .all(|r| r.body.contains("nextPageToken"))
    );

    // One issue changes later: the incremental sync reads from the last
    // change on, and applies just that one.
    fake.advance_clock(Duration::from_secs(3600));
    let key = fake.keys()[500].clone();
    fake.set_summary_remote(&key, "Changed in Jira");
    let before = fake.requests_to(CLOUD_SEARCH).len();
    let log = app.sync(setup.integration, false).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(log["counts"]["updated"], 1, "{log}");
    let incremental = fake.requests_to(CLOUD_SEARCH)[before..].to_vec();
    assert!(!incremental.is_empty());
    assert!(
        incremental[0].body.contains("updated >="),
        "{}",
        incremental[0].body
    );
    let order = app.work_order_of(setup.integration, &key).await.unwrap();
    assert_eq!(
        app.store.work_order(order).await.unwrap().unwrap().title,
        "Changed in Jira"
    );
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_center_pages_by_start_at_and_writes_plain_text() {
    let fake = FakeJira::start(Edition::DataCenter).await;
    let setup = setup(
        &fake,
        json!({"email": "", "field_map": "requester = customfield_10050"}),
    )
    .await;
    let app = &setup.app;
    fake.bulk_create("OPS", 250);
    let log = app.sync(setup.integration, true).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(app.count_orders().await, 250);
    let searches = fake.requests_to("/rest/api/2/search");
    assert!(searches.len() >= 3, "{} pages", searches.len());
    assert!(
        searches.iter().any(|r| r.body.contains("\"startAt\":99")),
        "{searches:?}"
    );

    let order = app
        .create_work_order(
            json!({"title": "Boiler check", "description": "Yearly.", "status": "done",
                    "requester": "Sam Ops"}),
        )
        .await;
    let key = app.linked_id(order).await;
    app.comment(order, "Done by Sam.").await;
    let issue = eventually("the comment on Data Center", async || {
        let issue = fake.issue(&key)?;
        (!issue.comments.is_empty()).then_some(issue)
    })
    .await;
    assert_eq!(issue.description_raw, Some(json!("Yearly.")));
    assert_eq!(issue.status, "Done");
    assert_eq!(
        issue
            .custom_fields
            .get("customfield_10050")
            .map(String::as_str),
        Some("Sam Ops"),
        "the mapped custom field"
    );
    assert_eq!(issue.comments[0].body, "[CUBE] admin: Done by Sam.");
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_named_and_nothing_is_written() {
    let fake = FakeJira::start(Edition::Cloud).await;
    let setup = setup(&fake, json!({"api_token": "wrong-token"})).await;
    let app = &setup.app;
    let verdict = app.assert_connection_test(setup.integration, false).await;
    let text = verdict.to_string();
    assert!(text.contains("401") && text.contains("API token"), "{text}");
    let log = app.sync(setup.integration, true).await;
    assert_eq!(log["status"], "failed", "{log}");
    assert!(log.to_string().contains("401"), "{log}");
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}
