//! Outbound webhooks over real HTTP: work order events reach receivers
//! signed per Standard Webhooks, a failed attempt is retried with the same
//! webhook-id, 410 Gone disables the receiver, every attempt is listed, and
//! a delivery can be sent again by hand. The host's address policy holds:
//! a receiver on the host's own network is reached only when the admin
//! named it (`--allow-private-host`).

use cube_test_support as common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use cube_host::webhooks::signature::{Scheme, verify};
use serde_json::json;

use common::ADMIN_PASSWORD;
use common::client::{Api, Browser};

pub(super) type Seen = Arc<Mutex<Vec<(Vec<(String, String)>, String)>>>;

/// A receiver on 127.0.0.1 answering `statuses` in turn (then 200),
/// keeping what came; its URL names it `localhost`.
pub(super) async fn receiver(statuses: Vec<u16>) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let script = Arc::new(Mutex::new(statuses));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = format!("http://localhost:{port}/events");
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let (log, script) = (log.clone(), script.clone());
            async move {
                let pairs = headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
                    .collect();
                log.lock().unwrap().push((pairs, body));
                let mut script = script.lock().unwrap();
                let status = if script.is_empty() {
                    200
                } else {
                    script.remove(0)
                };
                StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

pub(super) async fn add_receiver(
    browser: &mut Browser,
    csrf: &str,
    url: &str,
    events: &[&str],
) -> String {
    let mut form = vec![("csrf_token", csrf), ("url", url)];
    for event in events {
        form.push(("events", event));
    }
    let page = browser.post("/admin/outbound-webhooks", &form).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    common::element_text(&page.body, "outbound-secret")
}

pub(super) async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..400 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Creates the work order "Boiler noise" over the API, as the admin
/// signed in there; returns that API client and the order.
async fn boiler_noise(base: &str) -> (Api, serde_json::Value) {
    let api = Api::sign_in(base, "admin", ADMIN_PASSWORD).await;
    let (status, order) = api
        .json(
            reqwest::Method::POST,
            "/api/v1/work-orders",
            Some(json!({"title": "Boiler noise"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    (api, order)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_order_events_are_signed_retried_and_stopped_by_410() {
    // The receivers are on this machine: the admin allows `localhost`.
    let (base, store, _dir) =
        common::serve_admin_app_reaching(common::probe_catalog().await, &["localhost"]).await;
    let (mut browser, csrf) = common::sign_in_admin(&base).await;
    let (flaky_url, flaky) = receiver(vec![500]).await;
    let (gone_url, gone) = receiver(vec![410]).await;
    let secret = add_receiver(
        &mut browser,
        &csrf,
        &flaky_url,
        &["work_order.created", "work_order.updated"],
    )
    .await;
    assert!(secret.starts_with("whsec_"));
    add_receiver(&mut browser, &csrf, &gone_url, &["work_order.created"]).await;
    let refused = browser
        .post(
            "/admin/outbound-webhooks",
            &[
                ("csrf_token", &csrf),
                ("url", "ftp://x"),
                ("events", "work_order.created"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);

    let (api, order) = boiler_noise(&base).await;

    // The flaky receiver: 500 first, then the same event again, delivered.
    wait_for("the retried delivery", || flaky.lock().unwrap().len() >= 2).await;
    let attempts = flaky.lock().unwrap().clone();
    let header = |i: usize, name: &str| {
        attempts[i]
            .0
            .iter()
            .find(|(k, _)| k == name)
            .unwrap()
            .1
            .clone()
    };
    assert_eq!(
        header(0, "webhook-id"),
        header(1, "webhook-id"),
        "one event, one id"
    );
    let body: serde_json::Value = serde_json::from_str(&attempts[1].1).unwrap();
    assert_eq!(body["type"], "work_order.created");
    assert_eq!(body["data"]["work_order"]["title"], "Boiler noise");
    assert_eq!(body["data"]["work_order"]["id"], order["id"]);
    // The signature verifies with the secret the receiver was given.
    let now = cube_host::store::now_millis() / 1000;
    let verified = verify(
        Scheme::StandardWebhooks,
        secret.as_bytes(),
        &attempts[1].0,
        attempts[1].1.as_bytes(),
        now,
    )
    .expect("a valid Standard Webhooks signature");
    assert_eq!(verified.delivery_id, header(1, "webhook-id"));

    // The receiver that answered 410 is disabled and gets nothing more.
    wait_for("the 410", || !gone.lock().unwrap().is_empty()).await;
    let disabled = common::poll_until(
        100,
        async || {
            let hooks = store.outbound_webhooks().await.unwrap();
            hooks.iter().any(|w| w.url == gone_url && !w.enabled)
        },
        |disabled| *disabled,
    )
    .await;
    assert!(disabled, "410 disables the receiver");
    api.json(
        reqwest::Method::POST,
        "/api/v1/work-orders",
        Some(json!({"title": "Second"})),
    )
    .await;
    wait_for("the second event", || flaky.lock().unwrap().len() >= 3).await;
    assert_eq!(
        gone.lock().unwrap().len(),
        1,
        "nothing more to a gone receiver"
    );

    // Every attempt is listed; a delivery can be sent again.
    let flaky_id = store
        .outbound_webhooks()
        .await
        .unwrap()
        .into_iter()
        .find(|w| w.url == flaky_url)
        .unwrap()
        .id;
    let page = browser
        .get(&format!("/admin/outbound-webhooks/{flaky_id}"))
        .await;
    assert!(page.body.contains("delivered"), "{}", page.body);
    let deliveries = store.outbound_deliveries_of(flaky_id, 10).await.unwrap();
    let first = deliveries
        .iter()
        .find(|d| d.attempts == 2)
        .expect("the retried one");
    assert_eq!(first.status, "delivered");
    let replayed = browser
        .post(
            &format!(
                "/admin/outbound-webhooks/{flaky_id}/deliveries/{}/replay",
                first.id
            ),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(replayed.status, StatusCode::SEE_OTHER);
    wait_for("the replay", || flaky.lock().unwrap().len() >= 4).await;

    // Viewers do not manage receivers.
    let mut viewer = Browser::new(&base);
    viewer.sign_in("vera", common::VIEWER_PASSWORD).await;
    assert_eq!(
        viewer.get("/admin/outbound-webhooks").await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivers_on_the_hosts_own_network_are_refused_unless_named() {
    // The default policy: no private host named.
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let (mut browser, csrf) = common::sign_in_admin(&base).await;
    // One receiver on 127.0.0.1, by name and by address.
    let (by_name, seen) = receiver(Vec::new()).await;
    let by_address = by_name.replace("localhost", "127.0.0.1");
    add_receiver(&mut browser, &csrf, &by_name, &["work_order.created"]).await;
    add_receiver(&mut browser, &csrf, &by_address, &["work_order.created"]).await;
    for internal in [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/events",
    ] {
        add_receiver(&mut browser, &csrf, internal, &["work_order.created"]).await;
    }

    boiler_noise(&base).await;

    let errors = common::poll_until(
        200,
        async || {
            let mut errors = Vec::new();
            for hook in store.outbound_webhooks().await.unwrap() {
                let deliveries = store.outbound_deliveries_of(hook.id, 10).await.unwrap();
                if let Some(error) = deliveries.first().and_then(|d| d.last_error.clone()) {
                    errors.push((hook.url.clone(), error));
                }
            }
            errors
        },
        |errors| errors.len() == 4,
    )
    .await;
    assert_eq!(errors.len(), 4, "every receiver was attempted: {errors:?}");
    for (url, error) in &errors {
        assert!(
            error.contains("--allow-private-host"),
            "{url} refused with advice: {error}"
        );
    }
    let error_of = |url: &str| &errors.iter().find(|(u, _)| u == url).unwrap().1;
    assert!(error_of(&by_name).contains("(loopback)"), "{errors:?}");
    assert!(error_of(&by_address).contains("(loopback)"), "{errors:?}");
    assert!(
        error_of("http://169.254.169.254/latest/meta-data/").contains("cloud-metadata"),
        "{errors:?}"
    );
    assert!(
        error_of("http://10.0.0.1/events").contains("private-network"),
        "{errors:?}"
    );
    assert!(seen.lock().unwrap().is_empty(), "nothing was sent");
}
