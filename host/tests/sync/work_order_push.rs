//! Two-way work order sync through the real host and the probe connector in
//! the sandbox: local changes made through the API are pushed to a remote
//! server (retried when it fails), the version it returns is remembered so
//! its echo is not applied again, and a remote change conflicting with a
//! local change that is still waiting follows the field-level
//! last-writer-wins rule. The remote is `common::work_order_remote`;
//! comments have `work_order_comments_push.rs`, the pages and the API's
//! rules `host/tests/web/work_orders.rs`.

use cube_test_support as common;

use axum::http::StatusCode;
use cube_host::store::Store;
use serde_json::{Value, json};

use common::eventually;
use common::work_order_push_app::pushing_app;
use common::work_order_remote::deliver;

/// Delivers work-order records as the remote's webhook would.
async fn webhook(url: &str, secret: &str, delivery: &str, orders: Value) -> StatusCode {
    deliver(url, secret, delivery, json!({ "work_orders": orders })).await
}

async fn title_and_priority(store: &Store, id: i64) -> (String, String) {
    let order = store.work_order(id).await.unwrap().unwrap();
    (order.title, order.priority)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_changes_are_pushed_echoes_skipped_and_conflicts_resolved_per_field() {
    let app = pushing_app().await;
    let (store, remote, api) = (&app.store, &app.remote, &app.api);
    let (hook_url, hook_secret) = (&app.hook_url, &app.hook_secret);

    // Created here: pushed, linked, and the remote's version remembered.
    let (status, created) = api
        .json(
            reqwest::Method::POST,
            "/api/v1/work-orders",
            Some(json!({"title": "Pump 4 leaks", "priority": "high", "requester": "ops"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();
    let link = eventually("the create push", async || {
        store.work_order_links(id).await.unwrap().pop()
    })
    .await;
    assert_eq!(
        (link.external_id.as_str(), link.version.as_deref()),
        ("R-1", Some("v1"))
    );
    let first = remote.received.lock().unwrap()[0].clone();
    assert_eq!(
        (first.0.as_str(), &first.2["fields"]["title"]),
        ("POST", &json!("Pump 4 leaks"))
    );
    assert_eq!(first.2["local_id"], json!(id.to_string()));

    // Its echo (same version) is not applied, even with other content.
    let echo = json!([{"id": "R-1", "version": "v1", "title": "stale echo", "updated_at": 1}]);
    assert_eq!(
        webhook(hook_url, hook_secret, "e-1", echo).await,
        StatusCode::OK
    );
    assert_eq!(title_and_priority(store, id).await.0, "Pump 4 leaks");

    // A real remote change is applied, and is not pushed back.
    let change = json!([{"id": "R-1", "version": "v7", "status": "in-progress",
                         "updated_at": cube_host::store::now_millis()}]);
    assert_eq!(
        webhook(hook_url, hook_secret, "e-2", change).await,
        StatusCode::OK
    );
    let order = store.work_order(id).await.unwrap().unwrap();
    assert_eq!(
        (order.status.as_str(), order.title.as_str()),
        ("in-progress", "Pump 4 leaks")
    );
    assert_eq!(
        store.pushes_of(id).await.unwrap().len(),
        1,
        "no push of a remote change"
    );
    assert_eq!(
        store.work_order_links(id).await.unwrap()[0]
            .version
            .as_deref(),
        Some("v7")
    );

    // A local edit while the remote is down waits, retried.
    *remote.failing.lock().unwrap() = true;
    let before_edit = cube_host::store::now_millis();
    let (status, _) = api
        .json(
            reqwest::Method::PUT,
            &format!("/api/v1/work-orders/{id}"),
            Some(
                json!({"title": "Pump 4 replaced", "priority": "high", "status": "in-progress",
                        "requester": "ops"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    eventually("a failed attempt", async || {
        let pushes = store.pushes_of(id).await.unwrap();
        (pushes[0].attempts >= 1 && pushes[0].status == "pending").then_some(())
    })
    .await;
    let error = store.pushes_of(id).await.unwrap()[0].error.clone().unwrap();
    assert!(error.contains("503") || error.contains("rate"), "{error}");

    // The remote changed title and priority before our edit: our title
    // stays (its push is waiting), its priority is taken.
    let older = json!([{"id": "R-1", "version": "v8", "title": "Remote title", "priority": "low",
                        "updated_at": before_edit - 60_000}]);
    assert_eq!(
        webhook(hook_url, hook_secret, "e-3", older).await,
        StatusCode::OK
    );
    assert_eq!(
        title_and_priority(store, id).await,
        ("Pump 4 replaced".to_owned(), "low".to_owned())
    );
    // A remote change made after our edit wins, field by field.
    let newer = json!([{"id": "R-1", "version": "v9", "title": "Pump 4 replaced twice",
                        "updated_at": cube_host::store::now_millis() + 1000}]);
    assert_eq!(
        webhook(hook_url, hook_secret, "e-4", newer).await,
        StatusCode::OK
    );
    assert_eq!(
        title_and_priority(store, id).await.0,
        "Pump 4 replaced twice"
    );

    // The remote is back: the waiting push goes through as an update.
    *remote.failing.lock().unwrap() = false;
    eventually("the retried push", async || {
        let pushes = store.pushes_of(id).await.unwrap();
        (pushes[0].status == "done").then_some(())
    })
    .await;
    let put = remote
        .received
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|(method, _, _)| method == "PUT")
        .cloned()
        .unwrap();
    assert_eq!(put.1, "R-1");
    assert!(
        put.2["changed"]
            .as_array()
            .unwrap()
            .contains(&json!("title"))
    );
    assert!(
        store.pushes_of(id).await.unwrap()[0].attempts >= 2,
        "retried"
    );

    // Deleted here: the remote item is deleted through the connector.
    let (status, _) = api
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/work-orders/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    eventually("the delete push", async || {
        let received = remote.received.lock().unwrap().clone();
        received
            .iter()
            .any(|(method, id, _)| method == "DELETE" && id == "R-1")
            .then_some(())
    })
    .await;
    let audit = common::store_rows::audit_actions(store, 50).await;
    for action in [
        "work-order.create",
        "work-order.update",
        "work-order.delete",
    ] {
        assert!(audit.contains(&action.to_owned()), "{action} audited");
    }
}
