//! Directory, sync and integration events over real HTTP: the changes the
//! directory change feed records reach a subscriber as signed
//! `directory.*` events, each once and in the feed's order, with the
//! feed's cursor; a sync's end is `sync.succeeded`, an admin disabling an
//! integration is `integration.disabled`; a subscriber gets only the types
//! it chose.

use cube_test_support as common;

use cube_host::store::directory::FeedCursor;
use cube_host::store::integrations::IntegrationFields;
use cube_host::webhooks::signature::{Scheme, verify};
use serde_json::{Value, json};

use super::outbound::{Seen, add_receiver, receiver, wait_for};

fn bodies(seen: &Seen) -> Vec<Value> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|(_, body)| serde_json::from_str(body).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_changes_syncs_and_disabling_arrive_as_signed_events() {
    let (base, store, _dir) =
        common::serve_admin_app_reaching(common::probe_catalog().await, &["localhost"]).await;
    let (mut browser, csrf) = common::sign_in_admin(&base).await;
    let (url, seen) = receiver(vec![]).await;
    let secret = add_receiver(
        &mut browser,
        &csrf,
        &url,
        &[
            "directory.user.created",
            "directory.user.disabled",
            "directory.membership.added",
            "sync.succeeded",
            "integration.disabled",
        ],
    )
    .await;
    // Another subscriber, to work orders only, hears nothing of this.
    let (quiet_url, quiet) = receiver(vec![]).await;
    add_receiver(&mut browser, &csrf, &quiet_url, &["work_order.created"]).await;

    let directory = common::probe_integration(
        &store,
        &IntegrationFields::new("Directory", Default::default()),
    )
    .await;
    let user = |id: &str, enabled: bool, version: &str| {
        common::record(
            "user",
            id,
            json!({"username": id, "enabled": enabled}),
            version,
        )
    };
    store
        .apply_page(
            directory,
            None,
            &[
                user("ada", true, "1"),
                user("bob", true, "1"),
                common::record(
                    "group",
                    "eng",
                    json!({"name": "eng", "members": ["ada"]}),
                    "1",
                ),
            ],
            None,
        )
        .await
        .unwrap();
    store.rebuild_memberships(directory).await.unwrap();
    store
        .apply_page(directory, None, &[user("bob", false, "2")], None)
        .await
        .unwrap();

    wait_for("four directory events", || seen.lock().unwrap().len() >= 4).await;
    let events = bodies(&seen);
    let described: Vec<String> = events
        .iter()
        .map(|e| {
            let data = &e["data"];
            let subject = data["user"]["external_id"]
                .as_str()
                .or(data["member"]["external_id"].as_str())
                .unwrap();
            format!("{} {subject}", e["type"].as_str().unwrap())
        })
        .collect();
    // `group.created` was not chosen; the rest come in the feed's order.
    assert_eq!(
        described,
        [
            "directory.user.created ada",
            "directory.user.created bob",
            "directory.membership.added ada",
            "directory.user.disabled bob"
        ]
    );
    let cursors: Vec<FeedCursor> = events
        .iter()
        .map(|e| FeedCursor::parse(e["data"]["cursor"].as_str().unwrap()).unwrap())
        .collect();
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "{cursors:?}");
    // The data is the feed's change, current state included.
    let feed = store
        .directory_changes_after(FeedCursor::START, 100)
        .await
        .unwrap();
    let disabled = feed
        .iter()
        .find(|c| c.change_type == "user.disabled")
        .unwrap();
    assert_eq!(events[3]["data"], serde_json::to_value(disabled).unwrap());
    assert_eq!(events[3]["data"]["user"]["current"]["enabled"], false);
    // Signed like every outbound event.
    let (headers, body) = seen.lock().unwrap()[0].clone();
    verify(
        Scheme::StandardWebhooks,
        secret.as_bytes(),
        &headers,
        body.as_bytes(),
        cube_host::store::now_millis() / 1000,
    )
    .expect("a valid Standard Webhooks signature");

    // A sync through the admin page ends in `sync.succeeded`.
    let synced =
        common::create_probe_integration(&mut browser, &csrf, "Items", "none", "http://x").await;
    let page = browser
        .post(
            &format!("/integrations/{synced}/sync"),
            &[("csrf_token", csrf.as_str())],
        )
        .await;
    assert!(page.status.is_redirection(), "{}", page.body);
    common::wait_for_syncs(&store, synced).await;
    wait_for("sync.succeeded", || seen.lock().unwrap().len() >= 5).await;
    let ended = &bodies(&seen)[4];
    assert_eq!(ended["type"], "sync.succeeded");
    assert_eq!(ended["data"]["integration"]["id"], synced);
    assert_eq!(ended["data"]["integration"]["name"], "Items");
    assert_eq!(ended["data"]["status"], "succeeded");
    assert_eq!(ended["data"]["records"]["read"], 6);

    // Disabling it by hand: `integration.disabled`, by whom; disabling it
    // again is no second event.
    for _ in 0..2 {
        let page = browser
            .post(
                &format!("/integrations/{synced}/disable"),
                &[("csrf_token", csrf.as_str())],
            )
            .await;
        assert!(page.status.is_redirection(), "{}", page.body);
    }
    wait_for("integration.disabled", || seen.lock().unwrap().len() >= 6).await;
    let disabled = &bodies(&seen)[5];
    assert_eq!(disabled["type"], "integration.disabled");
    assert_eq!(disabled["data"]["reason"], "by_admin");
    assert_eq!(disabled["data"]["by"], "admin");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(seen.lock().unwrap().len(), 6, "each event once");
    assert!(quiet.lock().unwrap().is_empty());
}
