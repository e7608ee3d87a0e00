//! Two-way work order sync through the real host and the probe connector in
//! the sandbox: local changes made through the API are pushed to a remote
//! server (retried when it fails), the version it returns is remembered so
//! its echo is not applied again, and a remote change conflicting with a
//! local change that is still waiting follows the field-level
//! last-writer-wins rule.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use cube_host::store::Store;
use cube_host::webhooks::signature::sign_cube;
use serde_json::{Value, json};

use common::ADMIN_PASSWORD;
use common::client::{Api, Browser};

/// The remote system: keeps what it was sent, answers with ids and
/// versions, and fails writes with 503 while `failing` is set.
#[derive(Clone, Default)]
struct Remote {
    received: Arc<Mutex<Vec<(String, String, Value)>>>,
    failing: Arc<Mutex<bool>>,
    writes: Arc<Mutex<u32>>,
}

async fn remote_write(
    State(remote): State<Remote>,
    method: Method,
    path: Option<Path<String>>,
    body: String,
) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let id = path.map_or("R-1".to_owned(), |Path(id)| id);
    remote
        .received
        .lock()
        .unwrap()
        .push((method.to_string(), id.clone(), body));
    if *remote.failing.lock().unwrap() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "1".parse().unwrap());
        return (StatusCode::SERVICE_UNAVAILABLE, headers, "maintenance").into_response();
    }
    let mut writes = remote.writes.lock().unwrap();
    *writes += 1;
    axum::Json(json!({"id": id, "version": format!("v{writes}")})).into_response()
}

async fn start_remote() -> (String, Remote) {
    let remote = Remote::default();
    let app = axum::Router::new()
        .route("/items", axum::routing::post(remote_write))
        .route(
            "/items/{id}",
            axum::routing::put(remote_write).delete(remote_write),
        )
        .with_state(remote.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, remote)
}

async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..300 {
        if let Some(found) = check().await {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Delivers work-order records as the remote's webhook would.
async fn webhook(url: &str, secret: &str, delivery: &str, orders: Value) -> StatusCode {
    let body = json!({ "work_orders": orders }).to_string();
    let ts = cube_host::store::now_millis() / 1000;
    reqwest::Client::new()
        .post(url)
        .header("x-cube-timestamp", ts.to_string())
        .header("x-cube-delivery", delivery)
        .header(
            "x-cube-signature",
            sign_cube(secret.as_bytes(), ts, delivery, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}

async fn title_and_priority(store: &Store, id: i64) -> (String, String) {
    let order = store.work_order(id).await.unwrap().unwrap();
    (order.title, order.priority)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_changes_are_pushed_echoes_skipped_and_conflicts_resolved_per_field() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let (remote_url, remote) = start_remote().await;
    let mut browser = Browser::new(&base);
    browser.sign_in("admin", ADMIN_PASSWORD).await;
    let csrf = browser.csrf().await;
    let integration =
        common::create_probe_integration(&mut browser, &csrf, "Remote", "ok", &remote_url).await;
    let page = browser
        .post(
            &format!("/integrations/{integration}/webhooks"),
            &[
                ("csrf_token", &csrf),
                ("scheme", "cube-hmac-sha256"),
                ("answer", "connector"),
            ],
        )
        .await;
    let hook_url = common::element_text(&page.body, "webhook-url");
    let hook_secret = common::element_text(&page.body, "webhook-secret");
    let api = Api::sign_in(&base, "admin", ADMIN_PASSWORD).await;

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
        webhook(&hook_url, &hook_secret, "e-1", echo).await,
        StatusCode::OK
    );
    assert_eq!(title_and_priority(&store, id).await.0, "Pump 4 leaks");

    // A real remote change is applied, and is not pushed back.
    let change = json!([{"id": "R-1", "version": "v7", "status": "in-progress",
                         "updated_at": cube_host::store::now_millis()}]);
    assert_eq!(
        webhook(&hook_url, &hook_secret, "e-2", change).await,
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
        webhook(&hook_url, &hook_secret, "e-3", older).await,
        StatusCode::OK
    );
    assert_eq!(
        title_and_priority(&store, id).await,
        ("Pump 4 replaced".to_owned(), "low".to_owned())
    );
    // A remote change made after our edit wins, field by field.
    let newer = json!([{"id": "R-1", "version": "v9", "title": "Pump 4 replaced twice",
                        "updated_at": cube_host::store::now_millis() + 1000}]);
    assert_eq!(
        webhook(&hook_url, &hook_secret, "e-4", newer).await,
        StatusCode::OK
    );
    assert_eq!(
        title_and_priority(&store, id).await.0,
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
    let audit: Vec<String> = store
        .audit_entries(50)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    for action in [
        "work-order.create",
        "work-order.update",
        "work-order.delete",
    ] {
        assert!(audit.contains(&action.to_owned()), "{action} audited");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_read_work_orders_and_bad_input_is_refused_by_field() {
    let (base, _store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let api = Api::sign_in(&base, "admin", ADMIN_PASSWORD).await;
    let (status, body) = api
        .json(
            reqwest::Method::POST,
            "/api/v1/work-orders",
            Some(json!({"title": "  ", "status": "a\nb"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["fields"]["title"].is_string(), "{body}");
    assert!(body["error"]["fields"]["status"].is_string(), "{body}");
    let (status, created) = api
        .json(
            reqwest::Method::POST,
            "/api/v1/work-orders",
            Some(json!({"title": "Replace filter"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        (&created["status"], &created["priority"]),
        (&json!("open"), &json!("normal"))
    );
    assert_eq!(
        created["pushes"],
        json!([]),
        "nothing pushes: no push integration"
    );

    let viewer = Api::sign_in(&base, "vera", common::VIEWER_PASSWORD).await;
    let (status, listed) = viewer
        .json(reqwest::Method::GET, "/api/v1/work-orders", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["work_orders"][0]["title"], "Replace filter");
    let (status, _) = viewer
        .call(
            reqwest::Method::POST,
            "/api/v1/work-orders",
            Some(json!({"title": "Not allowed"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_orders_are_managed_on_their_pages() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let mut admin = Browser::new(&base);
    admin.sign_in("admin", ADMIN_PASSWORD).await;
    let csrf = admin.csrf().await;

    // A half-filled form: every problem named beside its field, nothing saved.
    let refused = admin
        .post(
            "/work-orders",
            &[
                ("csrf_token", &csrf),
                ("title", ""),
                ("description", "Leaks at the flange"),
                ("due", "next week"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains(r#"data-field="title""#),
        "{}",
        refused.body
    );
    assert!(refused.body.contains(r#"data-field="due""#));
    assert!(
        refused.body.contains("Leaks at the flange"),
        "what was typed is kept"
    );
    assert!(store.work_orders(10, 0).await.unwrap().is_empty());
    let forged = admin
        .post("/work-orders", &[("csrf_token", "forged"), ("title", "x")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    let created = admin
        .post(
            "/work-orders",
            &[
                ("csrf_token", &csrf),
                ("title", "Pump 4 leaks"),
                ("description", "Leaks at the flange"),
                ("status", "open"),
                ("priority", "high"),
                ("due", "2026-12-01"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let order = store.work_orders(10, 0).await.unwrap().pop().unwrap();
    assert_eq!(order.due_at, Some(20_788 * 86_400_000));
    let location = created.location.unwrap();
    assert!(location.starts_with(&format!("/work-orders/{}", order.id)));
    let detail = admin.get(&location).await;
    assert!(detail.body.contains("Pump 4 leaks") && detail.body.contains("2026-12-01"));
    let listed = admin.get("/work-orders").await;
    assert!(listed.body.contains(&format!("/work-orders/{}", order.id)));

    let form = admin.get(&format!("/work-orders/{}/edit", order.id)).await;
    assert!(form.body.contains(r#"value="2026-12-01""#), "{}", form.body);
    let saved = admin
        .post(
            &format!("/work-orders/{}", order.id),
            &[
                ("csrf_token", &csrf),
                ("title", "Pump 4 leaks"),
                ("description", "Leaks at the flange"),
                ("status", "in-progress"),
                ("priority", "high"),
                ("due", "2026-12-01"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    assert_eq!(
        store.work_order(order.id).await.unwrap().unwrap().status,
        "in-progress"
    );

    // Viewers read, and are refused the rest.
    let mut viewer = Browser::new(&base);
    viewer.sign_in("vera", common::VIEWER_PASSWORD).await;
    let read = viewer.get(&format!("/work-orders/{}", order.id)).await;
    assert_eq!(read.status, StatusCode::OK);
    assert!(!read.body.contains("/edit"), "no edit link for viewers");
    assert_eq!(
        viewer.get("/work-orders/new").await.status,
        StatusCode::FORBIDDEN
    );
    let viewer_csrf = viewer.csrf().await;
    let refused = viewer
        .post(
            &format!("/work-orders/{}/delete", order.id),
            &[("csrf_token", &viewer_csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let unconfirmed = admin
        .post(
            &format!("/work-orders/{}/delete", order.id),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(unconfirmed.status, StatusCode::BAD_REQUEST);
    let deleted = admin
        .post(
            &format!("/work-orders/{}/delete", order.id),
            &[("csrf_token", &csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert!(store.work_order(order.id).await.unwrap().is_none());
}
