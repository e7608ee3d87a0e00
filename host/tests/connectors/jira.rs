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

use cube_host::store::Store;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use common::ADMIN_PASSWORD;
use common::client::Api;
use common::eventually;
use common::fake_jira::{Edition, FakeJira};

struct Setup {
    api: Api,
    store: Store,
    integration: i64,
    hook_url: String,
    hook_secret: String,
    _dir: tempfile::TempDir,
}

/// The app with the Jira connector, an integration for project OPS on
/// `fake`, and its webhook endpoint (Jira's `X-Hub-Signature` scheme, the
/// connector's answer awaited so that a delivery is applied when it is
/// acknowledged).
async fn setup(fake: &FakeJira, extra: Value) -> Setup {
    let catalog = common::plugin_catalog(&["jira"]).await;
    let (base, store, dir) = common::serve_admin_app(catalog).await;
    let api = Api::sign_in(&base, "admin", ADMIN_PASSWORD).await;
    let (user, token) = fake.credentials();
    let edition = match fake.edition() {
        Edition::Cloud => "cloud",
        Edition::DataCenter => "data-center",
    };
    let mut config = json!({
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
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    let (status, created) = api
        .json(
            Method::POST,
            "/api/v1/integrations",
            Some(
                json!({"name": "Jira OPS", "connector": "jira", "config": config,
                        "http_grants": [fake.base_url()], "allow_private": true, "enabled": true}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let integration = created["id"].as_i64().unwrap();
    let (status, hook) = api
        .json(
            Method::POST,
            &format!("/api/v1/integrations/{integration}/webhooks"),
            Some(json!({"scheme": "hub-sha256", "answer": "connector", "description": "Jira"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let hook_url = hook["url"].as_str().unwrap().to_owned();
    Setup {
        api,
        store,
        integration,
        hook_url,
        hook_secret: hook["secret"].as_str().unwrap().to_owned(),
        _dir: dir,
    }
}

async fn deliver(url: &str, (headers, body): (Vec<(String, String)>, Vec<u8>)) -> StatusCode {
    let mut request = reqwest::Client::new().post(url).body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request.send().await.unwrap().status()
}

async fn linked_key(store: &Store, work_order: i64) -> String {
    eventually("the work order's push", async || {
        store
            .work_order_links(work_order)
            .await
            .unwrap()
            .pop()
            .map(|l| l.external_id)
    })
    .await
}

async fn count_orders(store: &Store) -> usize {
    store.work_orders(100_000, 0).await.unwrap().len()
}

async fn work_order_of(store: &Store, integration: i64, key: &str) -> Option<i64> {
    for order in store.work_orders(100_000, 0).await.unwrap() {
        let links = store.work_order_links(order.id).await.unwrap();
        if links
            .iter()
            .any(|l| l.integration_id == integration && l.external_id == key)
        {
            return Some(order.id);
        }
    }
    None
}

async fn sync(setup: &Setup, full: bool) -> Value {
    let (status, job) = setup
        .api
        .json(
            Method::POST,
            &format!("/api/v1/integrations/{}/sync", setup.integration),
            Some(json!({"full": full})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..1200 {
        if setup
            .store
            .pending_job(setup.integration)
            .await
            .unwrap()
            .is_none()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, logs) = setup
        .api
        .json(
            Method::GET,
            &format!(
                "/api/v1/sync-logs?integration={}&operation=sync",
                setup.integration
            ),
            None,
        )
        .await;
    logs["sync_logs"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_orders_and_cloud_issues_stay_in_step_both_ways() {
    let fake = FakeJira::start(Edition::Cloud).await;
    let setup = setup(&fake, json!({})).await;
    let (api, store) = (&setup.api, &setup.store);

    // Created here: an issue of the configured type, in ADF, with the
    // mapped priority; the key is kept on the link.
    let (status, created) = api
        .json(
            Method::POST,
            "/api/v1/work-orders",
            Some(
                json!({"title": "Pump 4 leaks", "description": "Seal worn.\n\nCheck valve too.",
                        "priority": "high", "status": "open", "due_at": 1_767_225_600_000i64}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let order = created["id"].as_i64().unwrap();
    let key = linked_key(store, order).await;
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
    let (status, _) = api
        .json(
            Method::PUT,
            &format!("/api/v1/work-orders/{order}"),
            Some(json!({"title": "Pump 4 leaks badly", "description": "Seal worn.\n\nCheck valve too.",
                        "priority": "high", "status": "in_progress", "due_at": 1_767_225_600_000i64})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
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
    let (status, _) = api
        .json(
            Method::POST,
            &format!("/api/v1/work-orders/{order}/comments"),
            Some(json!({"body": "Ordered a new seal."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let ours = eventually("the comment in Jira", async || {
        fake.issue(&key)?.comments.into_iter().next()
    })
    .await;
    assert_eq!(ours.body, "[CUBE] admin: Ordered a new seal.");

    // The echoes of our own writes change nothing: the issue as Jira has it
    // now carries the version the push recorded; our comment is known.
    let before = store.work_order(order).await.unwrap().unwrap();
    let echo = fake.webhook("jira:issue_updated", &key, None, &setup.hook_secret);
    assert_eq!(deliver(&setup.hook_url, echo).await, StatusCode::OK);
    let echo = fake.webhook("comment_created", &key, Some(&ours.id), &setup.hook_secret);
    assert_eq!(deliver(&setup.hook_url, echo).await, StatusCode::OK);
    assert_eq!(store.work_order(order).await.unwrap().unwrap(), before);
    assert_eq!(store.work_order_comments(order).await.unwrap().len(), 1);

    // Changed in Jira: title, status and a comment arrive by webhook, and
    // are not pushed back.
    fake.set_summary_remote(&key, "Pump 4 replaced");
    fake.set_status_remote(&key, "Done");
    let update = fake.webhook("jira:issue_updated", &key, None, &setup.hook_secret);
    assert_eq!(
        deliver(&setup.hook_url, update.clone()).await,
        StatusCode::OK
    );
    let now = store.work_order(order).await.unwrap().unwrap();
    assert_eq!(
        (now.title.as_str(), now.status.as_str()),
        ("Pump 4 replaced", "done")
    );
    let theirs = fake.add_comment_remote(&key, "Jo Tech", "Replaced on site.");
    let comment = fake.webhook("comment_created", &key, Some(&theirs), &setup.hook_secret);
    assert_eq!(
        deliver(&setup.hook_url, comment.clone()).await,
        StatusCode::OK
    );
    // Jira retries a delivery with the same identifier: refused as a
    // duplicate, and nothing is applied twice.
    let again = FakeJira::redelivery(&comment.0, &comment.1);
    assert_eq!(deliver(&setup.hook_url, again).await, StatusCode::CONFLICT);
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
    assert_eq!(
        deliver(&setup.hook_url, duplicate).await,
        StatusCode::CONFLICT
    );
    assert_eq!(store.work_order_comments(order).await.unwrap().len(), 2);

    // A bad signature is refused and changes nothing.
    let (headers, body) = fake.webhook("jira:issue_updated", &key, None, "not-the-secret");
    assert_eq!(
        deliver(&setup.hook_url, (headers, body)).await,
        StatusCode::UNAUTHORIZED
    );

    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflicting_edit_keeps_the_later_change_of_each_field() {
    let fake = FakeJira::start(Edition::Cloud).await;
    let setup = setup(&fake, json!({})).await;
    let (api, store) = (&setup.api, &setup.store);
    let key = fake.create_issue_remote("OPS", "Door sensor faulty");
    let log = sync(&setup, true).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    let order = work_order_of(store, setup.integration, &key)
        .await
        .expect("the issue became a work order");

    // Jira is slowing us down, so our edit of the title waits; meanwhile
    // someone changes the title and the priority in Jira, after our edit.
    fake.rate_limit_next(1000, 1);
    let (status, _) = api
        .json(
            Method::PUT,
            &format!("/api/v1/work-orders/{order}"),
            Some(json!({"title": "Door sensor (ours)", "status": "open", "priority": "normal"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
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
    assert_eq!(deliver(&setup.hook_url, update).await, StatusCode::OK);
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
    let store = &setup.store;
    fake.bulk_create("OPS", 30);
    // Every third request or so is refused for a while; the sync waits as
    // Jira asks and finishes with everything.
    fake.rate_limit_next(3, 1);
    let log = sync(&setup, true).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    let searches = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/rest/api/3/search/jql")
        .count();
    assert!(
        searches >= 4,
        "one page, asked for again after each 429: {searches}"
    );
    assert_eq!(count_orders(store).await, 30);

    // Deleted in Jira: its webhook removes the work order that came from it.
    let key = fake.keys()[0].clone();
    let order = work_order_of(store, setup.integration, &key).await.unwrap();
    let deleted = fake.webhook("jira:issue_deleted", &key, None, &setup.hook_secret);
    fake.delete_remote(&key);
    assert_eq!(deliver(&setup.hook_url, deleted).await, StatusCode::OK);
    assert!(store.work_order(order).await.unwrap().is_none());
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_issues_are_read_page_by_page_then_only_what_changed() {
    let fake = FakeJira::start(Edition::Cloud).await;
    let setup = setup(&fake, json!({"sync_comments": false})).await;
    fake.bulk_create("OPS", 1000);
    fake.create_issue_remote("HR", "Not ours");
    let log = sync(&setup, true).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(count_orders(&setup.store).await, 1000);
    let searches: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/rest/api/3/search/jql")
        .collect();
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
    let before = fake.requests().len();
    let log = sync(&setup, false).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(log["counts"]["updated"], 1, "{log}");
    let incremental: Vec<_> = fake.requests()[before..]
        .iter()
        .filter(|r| r.path == "/rest/api/3/search/jql")
        .cloned()
        .collect();
    assert!(!incremental.is_empty());
    assert!(
        incremental[0].body.contains("updated >="),
        "{}",
        incremental[0].body
    );
    let order = work_order_of(&setup.store, setup.integration, &key)
        .await
        .unwrap();
    assert_eq!(
        setup.store.work_order(order).await.unwrap().unwrap().title,
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
    let (api, store) = (&setup.api, &setup.store);
    fake.bulk_create("OPS", 250);
    let log = sync(&setup, true).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(count_orders(store).await, 250);
    let searches: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/rest/api/2/search")
        .collect();
    assert!(searches.len() >= 3, "{} pages", searches.len());
    assert!(
        searches.iter().any(|r| r.body.contains("\"startAt\":99")),
        "{searches:?}"
    );

    let (status, created) = api
        .json(
            Method::POST,
            "/api/v1/work-orders",
            Some(
                json!({"title": "Boiler check", "description": "Yearly.", "status": "done",
                        "requester": "Sam Ops"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let order = created["id"].as_i64().unwrap();
    let key = linked_key(store, order).await;
    api.json(
        Method::POST,
        &format!("/api/v1/work-orders/{order}/comments"),
        Some(json!({"body": "Done by Sam."})),
    )
    .await;
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
    let (status, verdict) = setup
        .api
        .json(
            Method::POST,
            &format!("/api/v1/integrations/{}/test", setup.integration),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{verdict}");
    assert_eq!(verdict["ok"], false, "{verdict}");
    let text = verdict.to_string();
    assert!(text.contains("401") && text.contains("API token"), "{text}");
    let log = sync(&setup, true).await;
    assert_eq!(log["status"], "failed", "{log}");
    assert!(log.to_string().contains("401"), "{log}");
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}
