//! What becomes of the deliveries a webhook endpoint stored, over real
//! HTTP: listed on the endpoint's page and replayed until their payload is
//! purged, counted in `/metrics`, and queuing a sync of the integration
//! when the endpoint asks for one.

use cube_test_support as common;

use reqwest::StatusCode;

use common::VIEWER_PASSWORD;
use common::client::Browser;
use common::webhook_sender::{deliver, now, probe_app};

/// The form of an endpoint whose connector answers each delivery.
const CONNECTOR_ANSWERS: &[(&str, &str)] =
    &[("scheme", "cube-hmac-sha256"), ("answer", "connector")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_listed_and_can_be_replayed_until_their_payload_is_purged() {
    let mut app = probe_app("Replays").await;
    let (url, secret) = app.endpoint(CONNECTOR_ANSWERS).await;
    let (store, browser, csrf, id) = (&app.store, &mut app.browser, &app.csrf, app.integration);
    let webhook = store.webhooks_of(id).await.unwrap()[0].0.id;

    let (status, _) = deliver(
        &url,
        &secret,
        "good-1",
        now(),
        r#"{"items": [{"id": "r1"}]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = deliver(&url, &secret, "bad-1", now(), "not json").await;
    assert_eq!(status, StatusCode::ACCEPTED, "stored, then failed");
    let listed = browser
        .get(&format!("/integrations/{id}/webhooks/{webhook}"))
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    assert!(listed.body.contains("good-1") && listed.body.contains("bad-1"));
    assert!(
        listed.body.contains("not the expected JSON"),
        "the failure is shown"
    );
    let entries = store.deliveries_of(webhook, 10, 0).await.unwrap();
    let good = entries
        .iter()
        .find(|d| d.delivery_id == "good-1")
        .unwrap()
        .clone();
    assert!(good.replayable && good.status == "processed");

    // A viewer sees the list but cannot replay.
    let mut viewer = Browser::new(&app.base);
    viewer.sign_in("vera", VIEWER_PASSWORD).await;
    let viewer_csrf = viewer.csrf().await;
    let replay_path = format!(
        "/integrations/{id}/webhooks/{webhook}/deliveries/{}/replay",
        good.id
    );
    assert!(
        !viewer
            .get(&format!("/integrations/{id}/webhooks/{webhook}"))
            .await
            .body
            .contains(&replay_path)
    );
    assert_eq!(
        viewer
            .post(&replay_path, &[("csrf_token", &viewer_csrf)])
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // Replayed: processed again by the worker, and audited.
    let replayed = browser.post(&replay_path, &[("csrf_token", csrf)]).await;
    assert_eq!(replayed.status, StatusCode::SEE_OTHER);
    let again = common::poll_until(
        200,
        async || store.delivery(good.id).await.unwrap().unwrap(),
        |entry| entry.status == "processed",
    )
    .await;
    assert_eq!(again.status, "processed", "processed again");
    assert_eq!(again.attempts, 1);
    let audit = common::store_rows::audit_actions(store, 20).await;
    assert!(audit.contains(&"integration.webhook.replay".to_owned()));

    // Past the retention, the payload is gone and so is the replay.
    assert!(
        store
            .purge_delivery_bodies(cube_host::store::now_millis() + 1)
            .await
            .unwrap()
            >= 1
    );
    let purged = browser.post(&replay_path, &[("csrf_token", csrf)]).await;
    assert_eq!(purged.status, StatusCode::BAD_REQUEST);
    assert!(
        browser
            .get(&format!("/integrations/{id}/webhooks/{webhook}"))
            .await
            .body
            .contains("payload purged")
    );
}

/// One sample of `/metrics`.
async fn metric(base: &str, sample: &str) -> f64 {
    let response = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {sample} in {text}"))
        .parse()
        .unwrap()
}

/// Each of `samples` of `/metrics`, in order.
async fn metrics(base: &str, samples: &[&str]) -> Vec<f64> {
    let mut values = Vec::new();
    for sample in samples {
        values.push(metric(base, sample).await);
    }
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_intake_processing_and_connector_calls() {
    let mut app = probe_app("Counted").await;
    let (url, secret) = app.endpoint(CONNECTOR_ANSWERS).await;
    let base = &app.base;
    let stored = r#"cube_webhook_deliveries_total{outcome="stored"}"#;
    let duplicate = r#"cube_webhook_deliveries_total{outcome="duplicate"}"#;
    let refused = r#"cube_webhook_deliveries_total{outcome="refused"}"#;
    let processed = r#"cube_webhook_processing_total{outcome="processed"}"#;
    let calls = r#"cube_connector_calls_total{outcome="ok"}"#;
    let samples = [stored, duplicate, refused, processed, calls];
    let before = metrics(base, &samples).await;
    let body = r#"{"items": [{"id": "m1"}]}"#;
    assert_eq!(
        deliver(&url, &secret, "m-1", now(), body).await.0,
        StatusCode::OK
    );
    assert_eq!(
        deliver(&url, &secret, "m-1", now(), body).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        deliver(&url, "wrong-secret-wrong", "m-2", now(), body)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let after = metrics(base, &samples).await;
    assert_eq!(after[0] - before[0], 1.0, "stored");
    assert_eq!(after[1] - before[1], 1.0, "duplicate");
    assert_eq!(after[2] - before[2], 1.0, "refused");
    assert_eq!(after[3] - before[3], 1.0, "processed");
    assert!(after[4] > before[4], "the connector call was counted");
    assert!(metric(base, "cube_integrations_enabled").await >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_can_queue_a_sync_on_each_delivery() {
    let mut app = probe_app("Nudged").await;
    let (url, secret) = app
        .endpoint(&[("scheme", "cube-hmac-sha256"), ("queue_sync", "on")])
        .await;
    let (store, id) = (&app.store, app.integration);
    assert!(store.webhooks_of(id).await.unwrap()[0].0.queue_sync);
    let (status, _) = deliver(&url, &secret, "changed-1", now(), r#"{"items": []}"#).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let jobs = common::poll_until(
        200,
        async || store.jobs_of(id, 10).await.unwrap(),
        |jobs| {
            jobs.iter()
                .any(|j| j.trigger == "webhook" && j.status == "succeeded")
        },
    )
    .await;
    let job = jobs
        .iter()
        .find(|j| j.trigger == "webhook")
        .expect("a sync queued by the delivery");
    assert_eq!(
        (job.mode.as_str(), job.status.as_str()),
        ("incremental", "succeeded")
    );
}
