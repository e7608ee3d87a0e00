//! The ServiceNow connector in the real host against a fake instance that
//! follows the published Table API and OAuth contracts (it refuses unknown
//! `sysparm_*` parameters, queries it cannot parse, unknown fields, and
//! records each as a violation): incidents read page by page by
//! `sysparm_offset` then only what changed, work orders pushed (create,
//! update, state with the resolution fields, comments) with their echoes
//! recognised, an expired OAuth token replaced, a storm of 429s waited out,
//! a wrong password named, and the generic form.

use cube_test_support as common;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use common::connector_setup::{ConnectorApp, with_overrides};
use common::eventually;
use common::fake_servicenow::{self as fake_sn, FakeServiceNow};

struct Setup {
    app: ConnectorApp,
    integration: i64,
}

/// The app with the ServiceNow connector and an integration on `fake`
/// (basic auth unless `extra` says otherwise).
async fn setup(fake: &FakeServiceNow, extra: Value) -> Setup {
    let app = ConnectorApp::start("servicenow").await;
    let config = json!({
        "instance_url": fake.base_url(),
        "auth": "basic",
        "username": fake_sn::USER,
        "password": fake_sn::PASSWORD,
        "sync_comments": true,
    });
    let integration = app
        .create_integration(
            "ServiceNow",
            with_overrides(config, &extra),
            &fake.base_url(),
        )
        .await;
    Setup { app, integration }
}

/// The pump's work order after its first edit, in `status`.
fn pump_fields(status: &str) -> Value {
    json!({"title": "Pump 4 leaks badly", "description": "Seal worn.", "priority": "high",
           "status": status, "due_at": 1_767_225_600_000i64})
}

/// The requests that listed incidents, in order.
fn incident_lists(fake: &FakeServiceNow) -> Vec<fake_sn::RecordedRequest> {
    fake.requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == "/api/now/table/incident")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_are_read_page_by_page_then_only_what_changed() {
    let fake = FakeServiceNow::start().await;
    let setup = setup(
        &fake,
        json!({"assignment_group": fake_sn::FACILITIES, "query_filter": "active=true"}),
    )
    .await;
    let app = &setup.app;
    // 600 incidents, every other one of the Facilities group, three per
    // second; one has a comment from ServiceNow.
    let ids = fake.bulk_create(600);
    let commented = ids[10].clone();
    fake.add_comment_remote(&commented, "beth.anglin", "Looked at it.");
    let log = app.sync(setup.integration, true).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(app.count_orders().await, 300);
    let lists = incident_lists(&fake);
    assert!(lists.len() >= 3, "{} pages", lists.len());
    assert!(
        lists[0]
            .param("sysparm_query")
            .unwrap()
            .starts_with("active=true^assignment_group="),
        "{:?}",
        lists[0]
    );
    assert!(
        lists
            .iter()
            .any(|r| r.param("sysparm_offset") == Some("99")
                && r.param("sysparm_limit") == Some("101")),
        "each page starts one early: {lists:?}"
    );
    let order = app
        .work_order_of(setup.integration, &commented)
        .await
        .expect("the incident became a work order");
    let now = app.store.work_order(order).await.unwrap().unwrap();
    assert_eq!(
        (
            now.title.as_str(),
            now.status.as_str(),
            now.priority.as_str()
        ),
        ("Incident 0010", "open", "planning")
    );
    assert_eq!(now.requester.as_deref(), Some("Abel Tuter"));
    let comments = app.store.work_order_comments(order).await.unwrap();
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert_eq!(
        (comments[0].author.as_str(), comments[0].body.as_str()),
        ("beth.anglin", "Looked at it.")
    );

    // An hour later one incident is edited and another gets a comment: the
    // incremental sync reads from the last change on, and applies just those.
    fake.advance_clock(Duration::from_secs(3600));
    let edited = ids[200].clone();
    fake.edit_remote(
        &edited,
        &[
            ("short_description", "Changed in ServiceNow"),
            ("state", "2"),
            ("assigned_to", fake_sn::BETH),
        ],
    );
    fake.add_comment_remote(&ids[400], "beth.anglin", "On my way.");
    let before = incident_lists(&fake).len();
    let log = app.sync(setup.integration, false).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(log["counts"]["updated"], 2, "{log}");
    let incremental = incident_lists(&fake)[before..].to_vec();
    assert!(
        incremental[0]
            .param("sysparm_query")
            .unwrap()
            .contains("^sys_updated_on>=2024-01-15 "),
        "{:?}",
        incremental[0]
    );
    let order = app.work_order_of(setup.integration, &edited).await.unwrap();
    let now = app.store.work_order(order).await.unwrap().unwrap();
    assert_eq!(
        (now.title.as_str(), now.status.as_str()),
        ("Changed in ServiceNow", "in_progress")
    );
    assert_eq!(now.assignee.as_deref(), Some("Beth Anglin"));
    let order = app
        .work_order_of(setup.integration, &ids[400])
        .await
        .unwrap();
    assert_eq!(app.store.work_order_comments(order).await.unwrap().len(), 1);

    // Nothing changed since: the incidents of the last second are read
    // again and skipped.
    let log = app.sync(setup.integration, false).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(log["counts"]["updated"], 0, "{log}");
    assert_eq!(log["counts"]["created"], 0, "{log}");
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_orders_create_update_resolve_and_comment_incidents() {
    let fake = FakeServiceNow::start().await;
    let setup = setup(&fake, json!({"assignment_group": fake_sn::FACILITIES})).await;
    let (app, store) = (&setup.app, &setup.app.store);

    // Created here: an incident in the group, with the impact and urgency
    // that give the mapped priority.
    let order = app
        .create_work_order(
            json!({"title": "Pump 4 leaks", "description": "Seal worn.", "priority": "high",
                    "status": "open", "due_at": 1_767_225_600_000i64}),
        )
        .await;
    let sys_id = app.linked_id(order).await;
    let incident = fake.incident(&sys_id).expect("the incident exists");
    let field =
        |row: &serde_json::Map<String, Value>, name: &str| row[name].as_str().unwrap().to_owned();
    assert_eq!(field(&incident, "short_description"), "Pump 4 leaks");
    assert_eq!(field(&incident, "description"), "Seal worn.");
    assert_eq!(
        (
            field(&incident, "impact"),
            field(&incident, "urgency"),
            field(&incident, "priority")
        ),
        ("1".into(), "2".into(), "2".into())
    );
    assert_eq!(field(&incident, "state"), "1");
    assert_eq!(field(&incident, "assignment_group"), fake_sn::FACILITIES);
    assert_eq!(field(&incident, "due_date"), "2026-01-01 00:00:00");

    // Changed here: the title and the state are patched.
    app.update_work_order(order, pump_fields("in_progress"))
        .await;
    eventually("the update in ServiceNow", async || {
        let incident = fake.incident(&sys_id)?;
        (field(&incident, "state") == "2"
            && field(&incident, "short_description") == "Pump 4 leaks badly")
            .then_some(())
    })
    .await;
    let patch = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .unwrap();
    let body: Value = serde_json::from_str(&patch.body).unwrap();
    assert_eq!(
        body,
        json!({"short_description": "Pump 4 leaks badly", "state": "2"}),
        "only what changed"
    );

    // A comment written here is added to the journal, signed.
    app.comment(order, "Ordered a new seal.").await;
    let entry = eventually("the comment in ServiceNow", async || {
        fake.journal(&sys_id).into_iter().next()
    })
    .await;
    assert_eq!(entry.value, "[CUBE] admin: Ordered a new seal.");
    assert_eq!(entry.element, "comments");

    // Done here: resolved, with the resolution code and notes ServiceNow's
    // data policy asks for.
    app.update_work_order(order, pump_fields("done")).await;
    eventually("the resolution in ServiceNow", async || {
        let incident = fake.incident(&sys_id)?;
        (field(&incident, "state") == "6").then_some(())
    })
    .await;
    let incident = fake.incident(&sys_id).unwrap();
    assert_eq!(field(&incident, "close_code"), "Solution provided");
    assert_eq!(field(&incident, "close_notes"), "Resolved in CUBE.");
    eventually("every push done", async || {
        let pushes = store.pushes_of(order).await.unwrap();
        (pushes.len() == 4 && pushes.iter().all(|p| p.status == "done")).then_some(())
    })
    .await;

    // The echoes of our writes change nothing: a sync reads the incident as
    // ServiceNow has it now, and our comment is known.
    let before = store.work_order(order).await.unwrap().unwrap();
    let log = app.sync(setup.integration, true).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(log["counts"]["created"], 0, "{log}");
    assert_eq!(store.work_order(order).await.unwrap().unwrap(), before);
    assert_eq!(store.work_order_comments(order).await.unwrap().len(), 1);
    assert_eq!(
        store.pushes_of(order).await.unwrap().len(),
        4,
        "nothing pushed back"
    );
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_oauth_token_is_replaced() {
    let fake = FakeServiceNow::start().await;
    let setup = setup(
        &fake,
        json!({"auth": "oauth2", "client_id": fake_sn::CLIENT_ID, "client_secret": fake_sn::CLIENT_SECRET}),
    )
    .await;
    let app = &setup.app;
    fake.bulk_create(5);
    let log = app.sync(setup.integration, true).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(fake.tokens_issued(), 1);
    let log = app.sync(setup.integration, false).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(fake.tokens_issued(), 1, "the token is kept between calls");

    // Two hours on the token has run out: ServiceNow refuses it, and the
    // connector signs in again and carries on.
    fake.advance_clock(Duration::from_secs(2 * 3600));
    let id = fake.create_incident_remote("After the token ran out");
    let log = app.sync(setup.integration, false).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(fake.tokens_issued(), 2);
    assert!(fake.requests().iter().any(|r| r.status == 401));
    assert!(app.work_order_of(setup.integration, &id).await.is_some());
    let grant = fake
        .requests()
        .into_iter()
        .find(|r| r.path == "/oauth_token.do")
        .unwrap();
    assert!(grant.body.contains("grant_type=password"), "{}", grant.body);
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_429s_is_waited_out() {
    let fake = FakeServiceNow::start().await;
    let setup = setup(&fake, json!({})).await;
    let app = &setup.app;
    fake.bulk_create(30);
    fake.rate_limit_next(3, 1);
    let log = app.sync(setup.integration, true).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(app.count_orders().await, 30);
    let limited = fake.requests().iter().filter(|r| r.status == 429).count();
    assert_eq!(limited, 3);
    // A server error is retried too.
    fake.fail_next(1, 503);
    fake.create_incident_remote("After the outage");
    let log = app.sync(setup.integration, false).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(app.count_orders().await, 31);
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_named_and_nothing_is_written() {
    let fake = FakeServiceNow::start().await;
    let setup = setup(&fake, json!({"password": "wrong-password"})).await;
    let app = &setup.app;
    let verdict = app.assert_connection_test(setup.integration, false).await;
    let text = verdict.to_string();
    assert!(
        text.contains("401") && text.contains("user name and password"),
        "{text}"
    );
    assert!(!text.contains("wrong-password"), "a secret never shows");
    let log = app.sync(setup.integration, true).await;
    assert_eq!(log["status"], "failed", "{log}");
    assert!(log.to_string().contains("401"), "{log}");

    // The right password passes the test and says what it found.
    fake.set_password("wrong-password");
    let verdict = app.assert_connection_test(setup.integration, true).await;
    assert!(verdict.to_string().contains("Signed in to"), "{verdict}");
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generic_form_offers_the_settings() {
    let catalog = common::plugin_catalog(&["servicenow"]).await;
    let (base, _store, _dir) = common::serve_admin_app(catalog).await;
    let (mut browser, _csrf) = common::sign_in_admin(&base).await;
    let form = browser
        .get("/integrations/create?connector=servicenow")
        .await;
    assert_eq!(form.status, StatusCode::OK);
    for field in [
        "cfg.instance_url",
        "cfg.auth",
        "cfg.username",
        "cfg.password",
        "cfg.client_id",
        "cfg.client_secret",
        "cfg.assignment_group",
        "cfg.query_filter",
        "cfg.sync_comments",
        "cfg.status_map",
        "cfg.priority_map",
        "cfg.close_code",
    ] {
        assert!(
            form.body.contains(&format!("name=\"{field}\"")),
            "{field}: {}",
            form.body
        );
    }
    assert!(form.body.contains("State mapping"), "{}", form.body);
    assert!(form.body.contains("type=\"password\""), "{}", form.body);
}
