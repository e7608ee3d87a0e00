//! What becomes of the deliveries a webhook endpoint stored, over real
//! HTTP: listed on the endpoint's page and replayed until their payload is
//! purged, counted in `/metrics`, and queuing a sync of the integration
//! when the endpoint asks for one.

use cube_test_support as common;

use reqwest::StatusCode;

use common::VIEWER_PASSWORD;
use common::client::Browser;
use common::webhook_sender::{ProbeApp, add_endpoint, deliver, now, probe_app, url_and_secret};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_listed_and_can_be_replayed_until_their_payload_is_purged() {
    let ProbeApp {
        base,
        store,
        mut browser,
        csrf,
        integration: id,
        dir: _dir,
        ..
    } = probe_app("Replays").await;
    let page = add_endpoint(
        &mut browser,
        &csrf,
        id,
        &[("scheme", "cube-hmac-sha256"), ("answer", "connector")],
    )
    .await;
    let (url, secret) = url_and_secret(&page);
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
    let mut viewer = Browser::new(&base);
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
    let replayed = browser.post(&replay_path, &[("csrf_token", &csrf)]).await;
    assert_eq!(replayed.status, StatusCode::SEE_OTHER);
    let mut again = None;
    for _ in 0..200 {
        let entry = store.delivery(good.id).await.unwrap().unwrap();
        if entry.status == "processed" {
            again = Some(entry);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(again.expect("processed again").attempts, 1);
    let audit: Vec<String> = store
        .audit_entries(20)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(audit.contains(&"integration.webhook.replay".to_owned()));

    // Past the retention, the payload is gone and so is the replay.
    assert!(
        store
            .purge_delivery_bodies(cube_host::store::now_millis() + 1)
            .await
            .unwrap()
            >= 1
    );
    let purged = browser.post(&replay_path, &[("csrf_token", &csrf)]).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_intake_processing_and_connector_calls() {
    let ProbeApp {
        base,
        mut browser,
        csrf,
        integration: id,
        dir: _dir,
        ..
    } = probe_app("Counted").await;
    let page = add_endpoint(
        &mut browser,
        &csrf,
        id,
        &[("scheme", "cube-hmac-sha256"), ("answer", "connector")],
    )
    .await;
    let (url, secret) = url_and_secret(&page);
    let stored = r#"cube_webhook_deliveries_total{outcome="stored"}"#;
    let duplicate = r#"cube_webhook_deliveries_total{outcome="duplicate"}"#;
    let refused = r#"cube_webhook_deliveries_total{outcome="refused"}"#;
    let processed = r#"cube_webhook_processing_total{outcome="processed"}"#;
    let calls = r#"cube_connector_calls_total{outcome="ok"}"#;
    let before = [
        metric(&base, stored).await,
        metric(&base, duplicate).await,
        metric(&base, refused).await,
        metric(&base, processed).await,
        metric(&base, calls).await,
    ];
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
    let after = [
        metric(&base, stored).await,
        metric(&base, duplicate).await,
        metric(&base, refused).await,
        metric(&base, processed).await,
        metric(&base, calls).await,
    ];
    assert_eq!(after[0] - before[0], 1.0, "stored");
    assert_eq!(after[1] - before[1], 1.0, "duplicate");
    assert_eq!(after[2] - before[2], 1.0, "refused");
    assert_eq!(after[3] - before[3], 1.0, "processed");
    assert!(after[4] > before[4], "the connector call was counted");
    assert!(metric(&base, "cube_integrations_enabled").await >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_can_queue_a_sync_on_each_delivery() {
    let ProbeApp {
        store,
        mut browser,
        csrf,
        integration: id,
        dir: _dir,
        ..
    } = probe_app("Nudged").await;
    let page = add_endpoint(
        &mut browser,
        &csrf,
        id,
        &[("scheme", "cube-hmac-sha256"), ("queue_sync", "on")],
    )
    .await;
    let (url, secret) = url_and_secret(&page);
    assert!(store.webhooks_of(id).await.unwrap()[0].0.queue_sync);
    let (status, _) = deliver(&url, &secret, "changed-1", now(), r#"{"items": []}"#).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let mut jobs = Vec::new();
    for _ in 0..200 {
        jobs = store.jobs_of(id, 10).await.unwrap();
        if jobs
            .iter()
            .any(|j| j.trigger == "webhook" && j.status == "succeeded")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let job = jobs
        .iter()
        .find(|j| j.trigger == "webhook")
        .expect("a sync queued by the delivery");
    assert_eq!(
        (job.mode.as_str(), job.status.as_str()),
        ("incremental", "succeeded")
    );
}
