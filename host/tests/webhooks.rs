//! The webhook router over real HTTP: endpoints added on an integration's
//! page, deliveries verified, stored once, processed by the probe connector
//! in the sandbox, and refused with clear status codes when they should be.

mod common;

use cube_host::webhooks::signature::sign_cube;
use reqwest::StatusCode;

use common::client::Browser;
use common::{ADMIN_PASSWORD, VIEWER_PASSWORD};

/// Signs and posts `body` to `url` as a `cube-hmac-sha256` sender would.
async fn deliver(
    url: &str,
    secret: &str,
    delivery: &str,
    ts: i64,
    body: &str,
) -> (StatusCode, String) {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("x-cube-timestamp", ts.to_string())
        .header(
            "x-cube-signature",
            sign_cube(secret.as_bytes(), ts, delivery, body.as_bytes()),
        )
        .header("x-cube-delivery", delivery)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

fn now() -> i64 {
    cube_host::store::now_millis() / 1000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_verified_stored_once_and_processed() {
    let dir = tempfile::tempdir().unwrap();
    let store = cube_host::store::Store::open_in(dir.path()).await.unwrap();
    let base = common::serve_admin_app_on(common::probe_catalog().await, store.clone()).await;
    let mut browser = Browser::new(&base);
    browser.sign_in("admin", ADMIN_PASSWORD).await;
    let csrf = browser.csrf().await;
    let created = browser
        .post(
            "/integrations/create?connector=probe",
            &[
                ("csrf_token", &csrf),
                ("name", "Hooked"),
                ("cfg.action", "ok"),
            ],
        )
        .await;
    let id: i64 = created
        .location
        .unwrap()
        .trim_start_matches("/integrations/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();

    let page = browser
        .post(
            &format!("/integrations/{id}/webhooks"),
            &[
                ("csrf_token", &csrf),
                ("description", "tests"),
                ("scheme", "cube-hmac-sha256"),
                ("secret", ""),
                ("answer", "connector"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let url = common::element_text(&page.body, "webhook-url");
    let secret = common::element_text(&page.body, "webhook-secret");
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
    let counted: i64 =
        sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_deliveries")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(counted, 1, "only the one good delivery is stored");

    // A disabled integration keeps what arrives and processes it when enabled.
    browser
        .post(
            &format!("/integrations/{id}/disable"),
            &[("csrf_token", &csrf)],
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
            &[("csrf_token", &csrf)],
        )
        .await;
    let mut remaining = 2;
    for _ in 0..200 {
        remaining = store.synced_counts(id).await.unwrap()[3].1;
        if remaining == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(remaining, 1, "the worker processed the kept delivery");

    // Viewers cannot add endpoints; removing one refuses its deliveries.
    let mut viewer = Browser::new(&base);
    viewer.sign_in("vera", VIEWER_PASSWORD).await;
    let viewer_csrf = viewer.csrf().await;
    let refused = viewer
        .post(
            &format!("/integrations/{id}/webhooks"),
            &[("csrf_token", &viewer_csrf), ("scheme", "slack-v0")],
        )
        .await;
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
            &[("csrf_token", &csrf)],
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
    let actions: Vec<_> = store
        .audit_entries(20)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(
        actions.contains(&"integration.webhook.add".to_owned())
            && actions.contains(&"integration.webhook.delete".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_signed_deliveries_verify_with_the_entered_signing_secret() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let mut browser = Browser::new(&base);
    browser.sign_in("admin", ADMIN_PASSWORD).await;
    let csrf = browser.csrf().await;
    let created = browser
        .post(
            "/integrations/create?connector=probe",
            &[
                ("csrf_token", &csrf),
                ("name", "Slacky"),
                ("cfg.action", "ok"),
            ],
        )
        .await;
    let id: i64 = created
        .location
        .unwrap()
        .trim_start_matches("/integrations/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let signing_secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let page = browser
        .post(
            &format!("/integrations/{id}/webhooks"),
            &[
                ("csrf_token", &csrf),
                ("scheme", "slack-v0"),
                ("secret", signing_secret),
            ],
        )
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
    assert_eq!(store.synced_counts(id).await.unwrap()[3].1, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deliveries_share_commits_and_each_gets_its_own_answer() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let mut browser = Browser::new(&base);
    browser.sign_in("admin", ADMIN_PASSWORD).await;
    let csrf = browser.csrf().await;
    let created = browser
        .post(
            "/integrations/create?connector=probe",
            &[
                ("csrf_token", &csrf),
                ("name", "Busy"),
                ("cfg.action", "ok"),
            ],
        )
        .await;
    let id: i64 = created
        .location
        .unwrap()
        .trim_start_matches("/integrations/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // The default answer: 202 once stored, processed by the worker.
    let page = browser
        .post(
            &format!("/integrations/{id}/webhooks"),
            &[("csrf_token", &csrf), ("scheme", "cube-hmac-sha256")],
        )
        .await;
    let url = common::element_text(&page.body, "webhook-url");
    let secret = common::element_text(&page.body, "webhook-secret");

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
    let stored: i64 = sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_deliveries")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(stored, 100);
    let mut applied = 0;
    for _ in 0..400 {
        applied = store.synced_counts(id).await.unwrap()[3].1;
        if applied == 100 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(applied, 100, "the worker processed every stored delivery");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_webhooks_deliveries_verify_with_a_generated_whsec_secret() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let mut browser = Browser::new(&base);
    browser.sign_in("admin", ADMIN_PASSWORD).await;
    let csrf = browser.csrf().await;
    let id = common::create_probe_integration(&mut browser, &csrf, "Standard", "ok", "").await;
    let refused = browser
        .post(
            &format!("/integrations/{id}/webhooks"),
            &[
                ("csrf_token", &csrf),
                ("scheme", "standard-webhooks"),
                ("secret", "not base64 at all!"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("whsec_"), "{}", refused.body);
    let page = browser
        .post(
            &format!("/integrations/{id}/webhooks"),
            &[
                ("csrf_token", &csrf),
                ("scheme", "standard-webhooks"),
                ("answer", "connector"),
            ],
        )
        .await;
    let url = common::element_text(&page.body, "webhook-url");
    let secret = common::element_text(&page.body, "webhook-secret");
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
    assert_eq!(store.synced_counts(id).await.unwrap()[3].1, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_listed_and_can_be_replayed_until_their_payload_is_purged() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let mut browser = Browser::new(&base);
    browser.sign_in("admin", ADMIN_PASSWORD).await;
    let csrf = browser.csrf().await;
    let id = common::create_probe_integration(&mut browser, &csrf, "Replays", "ok", "").await;
    let page = browser
        .post(
            &format!("/integrations/{id}/webhooks"),
            &[
                ("csrf_token", &csrf),
                ("scheme", "cube-hmac-sha256"),
                ("answer", "connector"),
            ],
        )
        .await;
    let url = common::element_text(&page.body, "webhook-url");
    let secret = common::element_text(&page.body, "webhook-secret");
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
    let (base, _store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let mut browser = Browser::new(&base);
    browser.sign_in("admin", ADMIN_PASSWORD).await;
    let csrf = browser.csrf().await;
    let id = common::create_probe_integration(&mut browser, &csrf, "Counted", "ok", "").await;
    let page = browser
        .post(
            &format!("/integrations/{id}/webhooks"),
            &[
                ("csrf_token", &csrf),
                ("scheme", "cube-hmac-sha256"),
                ("answer", "connector"),
            ],
        )
        .await;
    let url = common::element_text(&page.body, "webhook-url");
    let secret = common::element_text(&page.body, "webhook-secret");
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
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let mut browser = Browser::new(&base);
    browser.sign_in("admin", ADMIN_PASSWORD).await;
    let csrf = browser.csrf().await;
    let id = common::create_probe_integration(&mut browser, &csrf, "Nudged", "ok", "").await;
    let page = browser
        .post(
            &format!("/integrations/{id}/webhooks"),
            &[
                ("csrf_token", &csrf),
                ("scheme", "cube-hmac-sha256"),
                ("queue_sync", "on"),
            ],
        )
        .await;
    let url = common::element_text(&page.body, "webhook-url");
    let secret = common::element_text(&page.body, "webhook-secret");
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
