//! The Slack connector in the real host against a fake Slack that follows
//! Slack's published API documentation (`common::fake_slack`): a work
//! order's Block Kit card posted, edited in place and threaded; the
//! incoming-webhook mode; the `/workorder` slash command through the
//! webhook router (signed with Slack's `v0` scheme, answered within
//! Slack's 3 seconds) creating and looking up work orders; a forged
//! signature refused; a 429 waited out; a wrong token named.

use cube_test_support as common;

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use common::connector_setup::{ConnectorApp, deliver, with_overrides};
use common::eventually;
use common::fake_slack::{self, CHANNEL, FakeSlack};

/// The app's signing secret, as Slack shows it on the app's Basic
/// Information page (the admin copies it into CUBE).
const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

struct Setup {
    app: ConnectorApp,
    integration: i64,
    hook_url: String,
}

/// The app with the Slack connector, an integration on `fake` (bot mode
/// unless `extra` says otherwise), and the slash command's endpoint with
/// Slack's signing secret, answering with the connector's reply.
async fn setup(fake: &FakeSlack, extra: Value) -> Setup {
    let app = ConnectorApp::start("slack").await;
    let config = json!({
        "mode": "bot",
        "bot_token": fake.token(),
        "channel": CHANNEL,
        "api_base_url": fake.api_url(),
        "notify_created": true,
        "notify_updates": "all",
        "notify_comments": true,
    });
    let integration = app
        .create_integration(
            "Slack #facilities",
            with_overrides(config, &extra),
            &fake.base_url(),
        )
        .await;
    let hook = app
        .add_webhook(
            integration,
            json!({"scheme": "slack-v0", "secret": SIGNING_SECRET, "answer": "connector",
                    "description": "Slack /workorder"}),
        )
        .await;
    assert!(
        hook.get("secret").is_none(),
        "an entered secret is not shown back"
    );
    Setup {
        app,
        integration,
        hook_url: hook["url"].as_str().unwrap().to_owned(),
    }
}

/// Sends a signed request; the status, the answer and how long it took.
async fn send(
    url: &str,
    delivery: (Vec<(String, String)>, Vec<u8>),
) -> (StatusCode, Value, Duration) {
    let started = Instant::now();
    let response = deliver(url, delivery).await;
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    let took = started.elapsed();
    let answer = if content_type.starts_with("application/json") {
        serde_json::from_str(&text).unwrap()
    } else {
        json!({"raw": text})
    };
    (status, answer, took)
}

/// `/workorder TEXT` as Slack sends it (trigger `trigger_id`), signed with
/// the app's secret; as [`send`] answers.
async fn workorder(setup: &Setup, text: &str, trigger_id: &str) -> (StatusCode, Value, Duration) {
    let command = fake_slack::slash_command(SIGNING_SECRET, "/workorder", text, trigger_id);
    send(&setup.hook_url, command).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_work_order_card_is_posted_edited_in_place_and_threaded() {
    let fake = FakeSlack::start().await;
    let setup = setup(&fake, json!({})).await;
    let app = &setup.app;

    let order = app
        .create_work_order(
            json!({"title": "Pump 4 leaks", "description": "Seal worn <again>.", "status": "open",
                "priority": "high", "assignee": "Sam", "due_at": 1_767_225_600_000i64}),
        )
        .await;
    let linked = app.linked_id(order).await;
    let messages = fake.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let card = &messages[0];
    assert_eq!(linked, format!("{CHANNEL}:{}", card.ts), "channel:ts");
    assert_eq!(card.blocks[0]["type"], "header");
    assert_eq!(card.blocks[0]["text"]["text"], "Pump 4 leaks");
    let text = card.all_text();
    for expected in [
        "open",
        "high",
        "Sam",
        "2026-01-01",
        "Seal worn &lt;again&gt;.",
        "Created in CUBE",
    ] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
    assert!(
        card.text.contains("Pump 4 leaks"),
        "fallback text: {}",
        card.text
    );

    // Changed: the same message is edited, not a new one posted.
    app.update_work_order(
        order,
        json!({"title": "Pump 4 leaks", "description": "Seal worn <again>.",
                "status": "in_progress", "priority": "high", "assignee": "Sam",
                "due_at": 1_767_225_600_000i64}),
    )
    .await;
    let edited = eventually("the edit", async || {
        let m = fake.messages().into_iter().next()?;
        (m.edits == 1).then_some(m)
    })
    .await;
    assert!(
        edited
            .all_text()
            .contains("Status changed to *in_progress*"),
        "{}",
        edited.all_text()
    );
    assert_eq!(fake.messages().len(), 1);
    assert_eq!(fake.calls("chat.update"), 1);

    // A comment is a reply in the card's thread.
    app.comment(order, "New seal ordered.").await;
    let reply = eventually("the reply", async || {
        fake.replies(&card.ts).into_iter().next()
    })
    .await;
    assert!(
        reply.all_text().contains("New seal ordered."),
        "{}",
        reply.all_text()
    );
    assert!(reply.all_text().contains("admin"));

    // Deleted: the card says so.
    let (status, _) = app
        .api
        .call(
            Method::DELETE,
            &format!("/api/v1/work-orders/{order}"),
            None,
        )
        .await;
    assert!(status.is_success(), "{status}");
    let gone = eventually("the deleted card", async || {
        let m = fake.messages().into_iter().next()?;
        (m.edits == 2).then_some(m)
    })
    .await;
    assert!(
        gone.blocks[0]["text"]["text"]
            .as_str()
            .unwrap()
            .starts_with("Deleted:")
    );
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_mode_posts_each_event_to_the_incoming_webhook() {
    let fake = FakeSlack::start().await;
    let setup = setup(
        &fake,
        json!({"mode": "webhook", "bot_token": "", "webhook_url": fake.hook_url()}),
    )
    .await;
    let app = &setup.app;
    app.assert_connection_test(setup.integration, true).await;
    assert!(fake.hook_posts().is_empty(), "the check posts nothing");

    let order = app
        .create_work_order(json!({"title": "Boiler check", "status": "open", "priority": "normal"}))
        .await;
    assert_eq!(app.linked_id(order).await, order.to_string());
    let posts = fake.hook_posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["blocks"][0]["text"]["text"], "Boiler check");
    app.comment(order, "Done, all fine.").await;
    let comment = eventually("the comment", async || fake.hook_posts().get(1).cloned()).await;
    let text = comment.to_string();
    assert!(
        text.contains("Done, all fine.") && text.contains("Boiler check"),
        "{text}"
    );
    assert_eq!(
        fake.calls("chat.postMessage"),
        0,
        "no Web API in webhook mode"
    );
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slash_command_creates_and_looks_up_within_three_seconds() {
    let fake = FakeSlack::start().await;
    let setup = setup(&fake, json!({})).await;
    let (app, store) = (&setup.app, &setup.app.store);

    // A work order pushed to Slack is in the connector's index.
    let boiler = app
        .create_work_order(
            json!({"title": "Boiler 2 pressure low", "status": "open", "priority": "urgent"}),
        )
        .await;
    app.linked_id(boiler).await;

    // `/workorder new ...`: created, and answered privately in time.
    let (status, answer, took) = workorder(&setup, "new Pump 4 leaks", "1001.2002.aaa").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(took < Duration::from_secs(3), "answered in {took:?}");
    assert_eq!(answer["response_type"], "ephemeral", "{answer}");
    assert!(
        answer["text"].as_str().unwrap().contains("Pump 4 leaks"),
        "{answer}"
    );
    assert!(answer["blocks"].is_array());
    let orders = store.work_orders(100, 0).await.unwrap();
    let pump = orders
        .iter()
        .find(|o| o.title == "Pump 4 leaks")
        .expect("the work order is in the store");
    assert_eq!(pump.requester.as_deref(), Some("jo.tech"));
    assert_eq!(pump.status, "open");
    let links = store.work_order_links(pump.id).await.unwrap();
    assert_eq!(links[0].integration_id, setup.integration);
    assert_eq!(links[0].external_id, "slack-1001.2002.aaa");

    // Lookups answer from what the connector was sent.
    let (status, answer, took) = workorder(&setup, "boiler", "1001.2002.bbb").await;
    assert_eq!(status, StatusCode::OK);
    assert!(took < Duration::from_secs(3), "answered in {took:?}");
    let text = answer.to_string();
    assert!(
        text.contains("Boiler 2 pressure low") && text.contains("urgent"),
        "{text}"
    );
    let (_, answer, _) = workorder(&setup, &format!("#{boiler}"), "1001.2002.ccc").await;
    assert!(
        answer.to_string().contains("Boiler 2 pressure low"),
        "{answer}"
    );
    let (_, answer, _) = workorder(&setup, "pump leaks", "1001.2002.ddd").await;
    assert!(answer.to_string().contains("Pump 4 leaks"), "{answer}");
    let (_, answer, _) = workorder(&setup, "help", "1001.2002.eee").await;
    assert!(answer.to_string().contains("/workorder new"), "{answer}");
    let (_, answer, _) = workorder(&setup, "close 12", "1001.2002.fff").await;
    assert_eq!(answer["response_type"], "ephemeral");
    assert!(answer.to_string().contains("is not something"), "{answer}");

    // Signed with another secret: refused, nothing created.
    let before = store.work_orders(100, 0).await.unwrap().len();
    let forged = fake_slack::slash_command(
        "not-the-signing-secret-at-all",
        "/workorder",
        "new Forged order",
        "1001.2002.ggg",
    );
    let (status, _, _) = send(&setup.hook_url, forged).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let after = store.work_orders(100, 0).await.unwrap();
    assert_eq!(after.len(), before);
    assert!(after.iter().all(|o| o.title != "Forged order"));
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_is_waited_out() {
    let fake = FakeSlack::start().await;
    let setup = setup(&fake, json!({})).await;
    let app = &setup.app;
    fake.rate_limit_next(1, 1);
    let order = app
        .create_work_order(json!({"title": "Door sensor", "status": "open"}))
        .await;
    let linked = app.linked_id(order).await;
    assert!(linked.starts_with(&format!("{CHANNEL}:")), "{linked}");
    assert_eq!(
        fake.calls("chat.postMessage"),
        2,
        "refused once, then posted"
    );
    assert_eq!(fake.messages().len(), 1);
    let pushes = app.store.pushes_of(order).await.unwrap();
    assert_eq!(pushes[0].status, "done", "{pushes:?}");
    assert!(pushes[0].attempts >= 1, "{pushes:?}");
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_named_by_the_connection_test() {
    let fake = FakeSlack::start().await;
    let setup = setup(&fake, json!({"bot_token": "xoxb-revoked-0000"})).await;
    let app = &setup.app;
    let verdict = app.assert_connection_test(setup.integration, false).await;
    let text = verdict.to_string();
    assert!(
        text.contains("invalid_auth") && text.contains("bot token"),
        "{text}"
    );
    assert!(
        !text.contains("xoxb-revoked-0000"),
        "the token is not shown: {text}"
    );

    // The right token signs in.
    let good = FakeSlack::start().await;
    let setup = setup_good(&good).await;
    assert!(setup.contains("CUBE Test"), "{setup}");
}

async fn setup_good(fake: &FakeSlack) -> String {
    let setup = setup(fake, json!({})).await;
    let verdict = setup
        .app
        .assert_connection_test(setup.integration, true)
        .await;
    verdict.to_string()
}

#[test]
fn the_fakes_signer_matches_slacks_documented_example() {
    // "Verifying requests from Slack": this body, timestamp and secret
    // sign to this signature.
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    assert_eq!(
        fake_slack::sign(SIGNING_SECRET, "1531420618", body.as_bytes()),
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    );
}
