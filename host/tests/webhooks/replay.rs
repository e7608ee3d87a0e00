//! Replayed webhook deliveries (issue 17, item 2), over real HTTP and on
//! both store backends: a captured delivery sent again under a fresh
//! unsigned id, or with its signature written differently, is a duplicate;
//! an older version of a record, delivered after a newer one, does not
//! overwrite it.

use cube_test_support as common;

use cube_host::runtime::types::Record;
use cube_host::store::Store;
use cube_host::store::webhooks::{NewDelivery, Stored};
use cube_host::webhooks::signature::sign_cube;
use hmac::Mac;
use reqwest::StatusCode;

use common::client::Browser;
use common::webhook_sender::{ProbeApp, now, probe_app};

fn hmac_hex(secret: &str, message: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// An app with a probe integration and one endpoint of `scheme` that
/// answers once stored and queues a sync on each delivery; returns the
/// store, the integration, the endpoint's id, URL and secret, and an
/// admin's browser.
async fn endpoint(
    scheme: &str,
    secret: &str,
) -> (Store, i64, i64, String, String, tempfile::TempDir, Browser) {
    let mut app = probe_app("Replayed").await;
    let page = app
        .add_endpoint(&[
            ("scheme", scheme),
            ("secret", secret),
            ("answer", "stored"),
            ("queue_sync", "on"),
        ])
        .await;
    let ProbeApp {
        store,
        dir,
        browser,
        integration: id,
        ..
    } = app;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let url = common::element_text(&page.body, "webhook-url");
    let webhook = store.webhooks_of(id).await.unwrap()[0].0.id;
    (store, id, webhook, url, secret.to_owned(), dir, browser)
}

async fn post(url: &str, headers: &[(&str, &str)], body: &str) -> (StatusCode, String) {
    let mut request = reqwest::Client::new().post(url).body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn stored_deliveries(store: &Store, webhook: i64) -> usize {
    store.deliveries_of(webhook, 100, 0).await.unwrap().len()
}

const SECRET: &str = "a-signing-secret-of-some-length";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_delivery_replayed_under_a_fresh_delivery_id_is_a_duplicate() {
    let (store, id, webhook, url, secret, _dir, mut browser) = endpoint("hub-sha256", SECRET).await;
    let body = r#"{"items": [{"id": "g1", "name": "one"}]}"#;
    let signature = format!("sha256={}", hmac_hex(&secret, body.as_bytes()));
    let (status, text) = post(
        &url,
        &[
            ("x-hub-signature-256", &signature),
            ("x-github-delivery", "72d3162e-0001"),
        ],
        body,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    // The attacker captured it and sends it again under ids of their own
    // (the delivery id headers are not signed), or with none at all.
    for headers in [
        vec![("x-github-delivery", "72d3162e-0002")],
        vec![("x-atlassian-webhook-identifier", "jira-1")],
        vec![("x-request-id", "anything")],
        vec![],
    ] {
        let mut headers = headers;
        headers.push(("x-hub-signature-256", &signature));
        let (status, text) = post(&url, &headers, body).await;
        assert_eq!(status, StatusCode::CONFLICT, "{headers:?}: {text}");
    }
    assert_eq!(stored_deliveries(&store, webhook).await, 1);
    // The sender's id is shown, for finding it in GitHub's log, marked as
    // what it is; the delivery is recognised by its body.
    let entry = &store.deliveries_of(webhook, 10, 0).await.unwrap()[0];
    assert_eq!(entry.sender_id.as_deref(), Some("72d3162e-0001"));
    assert!(entry.delivery_id.starts_with("sha256:"), "{entry:?}");
    let listed = browser
        .get(&format!("/integrations/{id}/webhooks/{webhook}"))
        .await;
    assert!(
        listed.body.contains("72d3162e-0001") && listed.body.contains("unsigned id"),
        "{}",
        listed.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_variants_of_a_used_slack_signature_are_not_new_deliveries() {
    let (store, _id, webhook, url, secret, _dir, _browser) = endpoint("slack-v0", SECRET).await;
    let body = r#"{"items": [{"id": "s1"}]}"#;
    let ts = now().to_string();
    let hex = hmac_hex(&secret, format!("v0:{ts}:{body}").as_bytes());
    let signature = format!("v0={hex}");
    let sent = |signature: String| {
        let (url, ts) = (url.clone(), ts.clone());
        async move {
            post(
                &url,
                &[
                    ("x-slack-request-timestamp", &ts),
                    ("x-slack-signature", &signature),
                ],
                body,
            )
            .await
        }
    };
    let (status, text) = sent(signature.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    for variant in [
        format!("v0={}", hex.to_uppercase()),
        format!("v0={}{}", &hex[..10].to_uppercase(), &hex[10..]),
        format!("v0= {hex}"),
        format!("v0={hex}\t"),
        format!("v0=\t{hex}"),
    ] {
        let (status, text) = sent(variant.clone()).await;
        assert!(
            !status.is_success(),
            "{variant:?} was taken as a new delivery: {status} {text}"
        );
    }
    assert_eq!(stored_deliveries(&store, webhook).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_variants_of_a_cube_delivery_without_an_id_are_not_new_deliveries() {
    let (store, _id, webhook, url, secret, _dir, _browser) =
        endpoint("cube-hmac-sha256", SECRET).await;
    let body = r#"{"items": [{"id": "c1"}]}"#;
    let ts = now();
    let signature = sign_cube(secret.as_bytes(), ts, "", body.as_bytes());
    let ts = ts.to_string();
    let sent = |signature: String| {
        let (url, ts) = (url.clone(), ts.clone());
        async move {
            post(
                &url,
                &[("x-cube-timestamp", &ts), ("x-cube-signature", &signature)],
                body,
            )
            .await
        }
    };
    let (status, text) = sent(signature.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let hex = signature.strip_prefix("sha256=").unwrap();
    for variant in [
        format!("sha256= {hex}"),
        format!("sha256={hex} "),
        format!("sha256={}", hex.to_uppercase()),
    ] {
        let (status, text) = sent(variant.clone()).await;
        assert!(
            !status.is_success(),
            "{variant:?} was taken as a new delivery: {status} {text}"
        );
    }
    // A retry under an unsigned id header is still the same signed content.
    let (status, text) = post(
        &url,
        &[
            ("x-cube-timestamp", &ts),
            ("x-cube-signature", &signature),
            ("x-request-id", "fresh"),
        ],
        body,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    assert_eq!(stored_deliveries(&store, webhook).await, 1);
}

async fn integration(store: &Store) -> i64 {
    use cube_host::runtime::types::Features;
    let info = common::store_rows::provider_info("c-versions", "versions", Features::WEBHOOKS);
    let fields =
        cube_host::store::integrations::IntegrationFields::new("versions", serde_json::Map::new());
    common::store_rows::integration_of(store, &info, &fields).await
}

/// Stores, claims and completes a delivery that produced `records`.
async fn deliver_records(
    store: &Store,
    integration: i64,
    webhook: i64,
    n: u32,
    records: &[Record],
) {
    let stored = store
        .store_deliveries(&[NewDelivery {
            webhook_id: webhook,
            integration_id: integration,
            delivery_id: format!("d-{n}"),
            sender_id: None,
            method: "POST".into(),
            path: String::new(),
            query: String::new(),
            headers: Vec::new(),
            body: b"{}".to_vec(),
        }])
        .await
        .unwrap();
    let Stored::New(id) = stored[0] else {
        panic!("stored twice")
    };
    let delivery = store
        .claim_delivery(Some(id), 60_000)
        .await
        .unwrap()
        .unwrap();
    store.complete_delivery(&delivery, records).await.unwrap();
}

fn item(id: &str, name: &str, version: &str) -> Record {
    common::record("item", id, serde_json::json!({ "name": name }), version)
}

async fn stored_item(store: &Store, integration: i64, id: &str) -> (String, Option<String>) {
    use sqlx::Row;
    let row = sqlx::query(
        "SELECT fields_json, version FROM synced_records WHERE integration_id = $1 AND external_id = $2",
    )
    .bind(integration)
    .bind(id)
    .fetch_one(store.pool())
    .await
    .unwrap();
    let fields: serde_json::Value =
        serde_json::from_str(&row.get::<String, _>("fields_json")).unwrap();
    (
        fields["name"].as_str().unwrap().to_owned(),
        row.get("version"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_version_delivered_after_a_newer_one_does_not_overwrite_it() {
    common::each_backend(|store| async move {
        let id = integration(&store).await;
        let webhook = store
            .create_webhook(id, "token", "hub-sha256", "", false, |_| "sealed".into())
            .await
            .unwrap()
            .id;
        // Counters (ServiceNow's sys_mod_count): 10 is newer than 9, though
        // it sorts before it as text.
        deliver_records(&store, id, webhook, 1, &[item("n", "ten", "10")]).await;
        deliver_records(&store, id, webhook, 2, &[item("n", "nine", "9")]).await;
        assert_eq!(
            stored_item(&store, id, "n").await,
            ("ten".into(), Some("10".into()))
        );
        // Timestamps (Jira's `updated`, in its own offset form): an older
        // instant written in another offset is still older.
        deliver_records(
            &store,
            id,
            webhook,
            3,
            &[item("t", "new", "2026-03-02T10:00:00.000+0000")],
        )
        .await;
        deliver_records(
            &store,
            id,
            webhook,
            4,
            &[item("t", "old", "2026-03-02T11:30:00.000+0200")],
        )
        .await;
        assert_eq!(stored_item(&store, id, "t").await.0, "new");
        // A newer version still wins, and versions that cannot be ordered
        // (an ETag) are applied as they come.
        deliver_records(&store, id, webhook, 5, &[item("n", "eleven", "11")]).await;
        assert_eq!(stored_item(&store, id, "n").await.0, "eleven");
        deliver_records(&store, id, webhook, 6, &[item("e", "first", "\"abc\"")]).await;
        deliver_records(&store, id, webhook, 7, &[item("e", "second", "\"0f1\"")]).await;
        assert_eq!(stored_item(&store, id, "e").await.0, "second");
    })
    .await;
}
