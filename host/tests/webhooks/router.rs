//! The webhook router over real HTTP: endpoints added on an integration's
//! page, deliveries verified (CUBE's own, Slack's and Standard Webhooks'
//! signatures), stored once even when they race, processed by the probe
//! connector in the sandbox, and refused with clear status codes when they
//! should be. What becomes of stored deliveries is in
//! `deliveries.rs`.

use cube_test_support as common;

use reqwest::StatusCode;

use common::VIEWER_PASSWORD;
use common::client::Browser;
use common::store_rows::count;
use common::webhook_sender::{
    add_endpoint, bare_probe_app, deliver, now, probe_app, url_and_secret,
};

/// Counts the deliveries stored in all.
const STORED_DELIVERIES: &str = "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_deliveries";

/// Reads the records of `integration` every 50 ms, `tries` times at the
/// most, until there are `expected`; returns the last count.
async fn records_reach(
    store: &cube_host::store::Store,
    integration: i64,
    expected: i64,
    tries: usize,
) -> i64 {
    common::poll_until(
        tries,
        async || store.synced_counts(integration).await.unwrap()[3].1,
        |records| *records == expected,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_verified_stored_once_and_processed() {
    let mut app = bare_probe_app("Hooked").await;
    let page = app
        .add_endpoint(&[
            ("description", "tests"),
            ("scheme", "cube-hmac-sha256"),
            ("secret", ""),
            ("answer", "connector"),
        ])
        .await;
    let (base, store, dir, browser, csrf, id) = (
        &app.base,
        &app.store,
        &app.dir,
        &mut app.browser,
        &app.csrf,
        app.integration,
    );
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let (url, secret) = url_and_secret(&page);
    assert!(url.starts_with(&format!("{base}/hooks/")), "{url}");
    let detail = browser.get(&format!("/integrations/{id}")).await;
    let token = url.rsplit('/').next().unwrap();
    assert!(detail.body.contains(token), "the endpoint is listed");
    assert!(
        !detail.body.contains(&secret),
        "the secret is shown once only"
    );

    // A signed delivery is processed at once; the connector answers.
    let body = r#"{"items": [{"id": "1", "name": "one"}, {"id": "2", "name": "two"}]}"#;
    let (status, text) = deliver(&format!("{url}/issues"), &secret, "d-1", now(), body).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::OK, "2 records from POST issues")
    );
    assert_eq!(store.synced_counts(id).await.unwrap()[3].1, 2);

    // The same delivery again: refused, not applied twice.
    let (status, text) = deliver(&url, &secret, "d-1", now(), r#"{"deleted": ["1"]}"#).await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    assert!(text.contains("received already"));
    assert_eq!(store.synced_counts(id).await.unwrap()[3].1, 2);

    // Refusals store nothing.
    let (status, text) = deliver(&url, "not-the-secret-at-all", "d-2", now(), body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(text.contains("signature does not match"), "{text}");
    let (status, text) = deliver(&url, &secret, "d-3", now() - 3600, body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(text.contains("five minutes"), "{text}");
    let unsigned = reqwest::Client::new()
        .post(&url)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    assert!(
        unsigned
            .text()
            .await
            .unwrap()
            .contains("X-Cube-Timestamp is missing")
    );
    let malformed = reqwest::Client::new()
        .post(&url)
        .header("x-cube-timestamp", now().to_string())
        .header("x-cube-signature", "md5=abc")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let (status, _) = deliver(
        &format!("{base}/hooks/no-such-token"),
        &secret,
        "d-4",
        now(),
        body,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let huge = "x".repeat(2 << 20);
    let (status, _) = deliver(&url, &secret, "d-5", now(), &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let counted = count(store, STORED_DELIVERIES).await;
    assert_eq!(counted, 1, "only the one good delivery is stored");

    // A disabled integration keeps what arrives and processes it when enabled.
    browser
        .post(
            &format!("/integrations/{id}/disable"),
            &[("csrf_token", csrf)],
        )
        .await;
    let (status, text) = deliver(&url, &secret, "d-6", now(), r#"{"deleted": ["1"]}"#).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    assert_eq!(store.synced_counts(id).await.unwrap()[3].1, 2);
    // It waits without using up its attempts: no worker may claim it.
    assert!(
        store.claim_delivery(None, 60_000).await.unwrap().is_none(),
        "a disabled integration's delivery is not claimed"
    );
    browser
        .post(
            &format!("/integrations/{id}/enable"),
            &[("csrf_token", csrf)],
        )
        .await;
    let remaining = records_reach(store, id, 1, 200).await;
    assert_eq!(remaining, 1, "the worker processed the kept delivery");

    // Viewers cannot add endpoints; removing one refuses its deliveries.
    let mut viewer = Browser::new(base);
    viewer.sign_in("vera", VIEWER_PASSWORD).await;
    let viewer_csrf = viewer.csrf().await;
    let refused = add_endpoint(&mut viewer, &viewer_csrf, id, &[("scheme", "slack-v0")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let remove = store.webhooks_of(id).await.unwrap()[0].0.id;
    let detail = browser.get(&format!("/integrations/{id}")).await;
    assert!(
        detail
            .body
            .contains(&format!("/integrations/{id}/webhooks/{remove}/delete"))
    );
    let removed = browser
        .post(
            &format!("/integrations/{id}/webhooks/{remove}/delete"),
            &[("csrf_token", csrf)],
        )
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    let (status, _) = deliver(&url, &secret, "d-7", now(), body).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The generated secret is nowhere in the database files.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }
    let actions = common::store_rows::audit_actions(store, 20).await;
    assert!(
        actions.contains(&"integration.webhook.add".to_owned())
            && actions.contains(&"integration.webhook.delete".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_signed_deliveries_verify_with_the_entered_signing_secret() {
    let mut app = bare_probe_app("Slacky").await;
    let signing_secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let page = app
        .add_endpoint(&[("scheme", "slack-v0"), ("secret", signing_secret)])
        .await;
    assert!(
        !page.body.contains(signing_secret),
        "an entered secret is not shown back"
    );
    let url = common::element_text(&page.body, "webhook-url");

    use hmac::Mac;
    let body = r#"{"items": [{"id": "s1"}]}"#;
    let ts = now().to_string();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(signing_secret.as_bytes()).unwrap();
    mac.update(format!("v0:{ts}:{body}").as_bytes());
    let signature = format!("v0={}", hex::encode(mac.finalize().into_bytes()));
    let send = || {
        reqwest::Client::new()
            .post(&url)
            .header("x-slack-request-timestamp", &ts)
            .header("x-slack-signature", &signature)
            .body(body)
            .send()
    };
    assert_eq!(send().await.unwrap().status(), StatusCode::OK);
    // Slack's retry of the same request carries the same signature: a duplicate.
    assert_eq!(send().await.unwrap().status(), StatusCode::CONFLICT);
    assert_eq!(
        app.store.synced_counts(app.integration).await.unwrap()[3].1,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deliveries_share_commits_and_each_gets_its_own_answer() {
    let mut app = bare_probe_app("Busy").await;
    // The default answer: 202 once stored, processed by the worker.
    let (url, secret) = app.endpoint(&[("scheme", "cube-hmac-sha256")]).await;

    // 120 deliveries at once, 20 of them sent twice: each pair races for
    // the same commit or the next one, and exactly one of it is stored.
    let mut sends = tokio::task::JoinSet::new();
    for n in 0..120 {
        let (url, secret) = (url.clone(), secret.clone());
        sends.spawn(async move {
            let delivery = format!("d-{}", n % 100);
            let body = format!(r#"{{"items": [{{"id": "{}"}}]}}"#, n % 100);
            deliver(&url, &secret, &delivery, now(), &body).await.0
        });
    }
    let mut statuses = std::collections::BTreeMap::new();
    while let Some(status) = sends.join_next().await {
        *statuses.entry(status.unwrap().as_u16()).or_insert(0) += 1;
    }
    assert_eq!(
        statuses,
        [(202, 100), (409, 20)].into_iter().collect(),
        "every delivery answered for itself"
    );
    let stored = count(&app.store, STORED_DELIVERIES).await;
    assert_eq!(stored, 100);
    let applied = records_reach(&app.store, app.integration, 100, 400).await;
    assert_eq!(applied, 100, "the worker processed every stored delivery");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_webhooks_deliveries_verify_with_a_generated_whsec_secret() {
    let mut app = probe_app("Standard").await;
    let refused = app
        .add_endpoint(&[
            ("scheme", "standard-webhooks"),
            ("secret", "not base64 at all!"),
        ])
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("whsec_"), "{}", refused.body);
    let (url, secret) = app
        .endpoint(&[("scheme", "standard-webhooks"), ("answer", "connector")])
        .await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    let body = r#"{"items": [{"id": "sw-1"}]}"#;
    let ts = now();
    let signature =
        cube_host::webhooks::signature::sign_standard(&secret, "msg_1", ts, body.as_bytes())
            .unwrap();
    let send = |signature: String| {
        reqwest::Client::new()
            .post(&url)
            .header("webhook-id", "msg_1")
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
    };
    assert_eq!(
        send(format!("v1,AAAA {signature}")).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        send(signature).await.unwrap().status(),
        StatusCode::CONFLICT,
        "same webhook-id"
    );
    assert_eq!(
        app.store.synced_counts(app.integration).await.unwrap()[3].1,
        1
    );
}
