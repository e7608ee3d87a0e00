//! Two-way work order sync through the real host and the probe connector in
//! the sandbox: local changes made through the API are pushed to a remote
//! server (retried when it fails), the version it returns is remembered so
//! its echo is not applied again, and a remote change conflicting with a
//! local change that is still waiting follows the field-level
//! last-writer-wins rule. Comments go both ways too: written here (page or
//! API) they are pushed after their work order, remote ones come in by
//! webhook and are not pushed back.

mod common;

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use cube_host::store::Store;
use cube_host::webhooks::signature::sign_cube;
use serde_json::{Value, json};

use common::ADMIN_PASSWORD;
use common::client::{Api, Browser};
use common::eventually;

/// The remote system: keeps what it was sent, answers with ids and
/// versions, and fails writes with 503 while `failing` is set.
#[derive(Clone, Default)]
struct Remote {
    received: Arc<Mutex<Vec<(String, String, Value)>>>,
    failing: Arc<Mutex<bool>>,
    /// Refuses writes of items with 400 (a push that fails for good).
    refusing: Arc<Mutex<bool>>,
    writes: Arc<Mutex<u32>>,
}

/// `POST /comments`: kept, as `("POST", "comment", body)`.
async fn remote_comment(State(remote): State<Remote>, body: String) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    remote
        .received
        .lock()
        .unwrap()
        .push(("POST".into(), "comment".into(), body));
    axum::Json(json!({})).into_response()
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
    if *remote.refusing.lock().unwrap() {
        return (StatusCode::BAD_REQUEST, "no such project").into_response();
    }
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
        .route("/comments", axum::routing::post(remote_comment))
        .with_state(remote.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, remote)
}

/// Delivers work-order records as the remote's webhook would.
async fn webhook(url: &str, secret: &str, delivery: &str, orders: Value) -> StatusCode {
    deliver(url, secret, delivery, json!({ "work_orders": orders })).await
}

/// Delivers a body the probe's webhook handler reads.
async fn deliver(url: &str, secret: &str, delivery: &str, body: Value) -> StatusCode {
    let body = body.to_string();
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

/// An integration of the probe pushing to `remote_url`, with a webhook
/// endpoint: its id, the endpoint's URL and secret.
async fn pushing_integration(
    browser: &mut Browser,
    csrf: &str,
    remote_url: &str,
) -> (i64, String, String) {
    let integration =
        common::create_probe_integration(browser, csrf, "Remote", "ok", remote_url).await;
    let page = browser
        .post(
            &format!("/integrations/{integration}/webhooks"),
            &[
                ("csrf_token", csrf),
                ("scheme", "cube-hmac-sha256"),
                ("answer", "connector"),
            ],
        )
        .await;
    (
        integration,
        common::element_text(&page.body, "webhook-url"),
        common::element_text(&page.body, "webhook-secret"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_are_pushed_after_their_work_order_and_remote_ones_come_in() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let (remote_url, remote) = start_remote().await;
    let mut browser = Browser::new(&base);
    browser.sign_in("admin", ADMIN_PASSWORD).await;
    let csrf = browser.csrf().await;
    let (integration, hook_url, hook_secret) =
        pushing_integration(&mut browser, &csrf, &remote_url).await;
    let api = Api::sign_in(&base, "admin", ADMIN_PASSWORD).await;

    // The remote is down: the work order's create waits, and so does the
    // comment written right after it.
    *remote.failing.lock().unwrap() = true;
    let (status, created) = api
        .json(
            reqwest::Method::POST,
            "/api/v1/work-orders",
            Some(json!({"title": "Pump 4 leaks"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();
    let comments_path = format!("/api/v1/work-orders/{id}/comments");
    let (status, comment) = api
        .json(
            reqwest::Method::POST,
            &comments_path,
            Some(json!({"body": "Seen at 9:00.\r\nFlange loose."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{comment}");
    assert_eq!(
        (
            &comment["author"],
            &comment["body"],
            &comment["source_integration_id"]
        ),
        (
            &json!("admin"),
            &json!("Seen at 9:00.\nFlange loose."),
            &Value::Null
        )
    );
    let comment_id = comment["id"].as_i64().unwrap();
    eventually("a failed attempt of the create", async || {
        let pushes = store.pushes_of(id).await.unwrap();
        pushes
            .iter()
            .any(|p| p.comment_id.is_none() && p.attempts >= 1)
            .then_some(())
    })
    .await;
    let waiting = store.pushes_of(id).await.unwrap();
    let comment_push = waiting
        .iter()
        .find(|p| p.comment_id == Some(comment_id))
        .unwrap();
    assert_eq!(
        (comment_push.status.as_str(), comment_push.attempts),
        ("pending", 0),
        "the comment waits for its work order"
    );

    // Back up: the work order first, then its comment, naming the item.
    *remote.failing.lock().unwrap() = false;
    let external = format!("c-{comment_id}");
    eventually("the comment's push", async || {
        let comments = store.work_order_comments(id).await.unwrap();
        (comments[0].links.len() == 1).then_some(())
    })
    .await;
    let received = remote.received.lock().unwrap().clone();
    let sent = received
        .iter()
        .position(|(_, what, _)| what == "comment")
        .unwrap();
    let last_create = received
        .iter()
        .rposition(|(method, what, _)| method == "POST" && what == "R-1")
        .unwrap();
    assert!(sent > last_create, "{received:?}");
    assert_eq!(
        received[sent].2,
        json!({
            "local_id": comment_id.to_string(),
            "external_id": null,
            "operation": "create",
            "changed": ["comment"],
            "fields": {"work_order": "R-1", "author": "admin",
                       "body": "Seen at 9:00.\nFlange loose.", "created_at": comment["created_at"]},
        })
    );
    let (status, listed) = api.json(reqwest::Method::GET, &comments_path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        listed["comments"][0]["links"],
        json!([{"integration_id": integration, "external_id": external}])
    );

    // A remote comment arrives by webhook (and the echo of ours): stored
    // once, marked with where it came from, and not pushed back.
    let hook = json!({"comments": [
        {"id": "RC-1", "work_order": "R-1", "author": "remote ann",
         "body": "<b>Parts</b> ordered.\nETA Friday.", "created_at": comment["created_at"].as_i64().unwrap() + 1},
        {"id": external, "work_order": "R-1", "author": "cube", "body": "Seen at 9:00.\nFlange loose."},
        {"id": "RC-2", "work_order": "R-404", "author": "bob", "body": "not ours"},
    ]});
    assert_eq!(
        deliver(&hook_url, &hook_secret, "c-1", hook).await,
        StatusCode::OK
    );
    let comments = store.work_order_comments(id).await.unwrap();
    assert_eq!(comments.len(), 2, "{comments:?}");
    assert_eq!(
        (
            comments[1].author.as_str(),
            comments[1].source_integration_id
        ),
        ("remote ann", Some(integration))
    );
    let comment_pushes = store
        .pushes_of(id)
        .await
        .unwrap()
        .iter()
        .filter(|p| p.comment_id.is_some())
        .count();
    assert_eq!(comment_pushes, 1, "remote comments are not pushed");

    // The page lists both, escaped, with line breaks and where they went.
    let page = browser.get(&format!("/work-orders/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("Seen at 9:00.<br>Flange loose."),
        "{}",
        page.body
    );
    assert!(page.body.contains("&lt;b&gt;Parts&lt;"));
    assert!(page.body.contains(" ordered.<br>ETA Friday."));
    assert!(!page.body.contains("<b>Parts"));
    assert!(page.body.contains("written here"));
    assert!(page.body.contains("from Remote"));
    assert!(
        page.body
            .contains(&format!("pushed to Remote as <code>{external}</code>"))
    );
    assert!(page.body.contains(r#"action="/work-orders/"#) && page.body.contains("/comments\""));

    // Deleted remotely: gone here.
    let gone = json!({"comments": [{"id": "RC-1", "deleted": true}]});
    assert_eq!(
        deliver(&hook_url, &hook_secret, "c-2", gone).await,
        StatusCode::OK
    );
    assert_eq!(store.work_order_comments(id).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_goes_only_where_the_work_order_is() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let (remote_url, remote) = start_remote().await;
    let mut browser = Browser::new(&base);
    browser.sign_in("admin", ADMIN_PASSWORD).await;
    let csrf = browser.csrf().await;
    pushing_integration(&mut browser, &csrf, &remote_url).await;
    let api = Api::sign_in(&base, "admin", ADMIN_PASSWORD).await;
    *remote.refusing.lock().unwrap() = true;
    let (_, created) = api
        .json(
            reqwest::Method::POST,
            "/api/v1/work-orders",
            Some(json!({"title": "Pump 5"})),
        )
        .await;
    let id = created["id"].as_i64().unwrap();
    // The remote refused the work order: it is not there.
    eventually("the create to fail", async || {
        let pushes = store.pushes_of(id).await.unwrap();
        (pushes.len() == 1 && pushes[0].status == "failed").then_some(())
    })
    .await;
    let (status, _) = api
        .json(
            reqwest::Method::POST,
            &format!("/api/v1/work-orders/{id}/comments"),
            Some(json!({"body": "Anyone?"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // So its comment is kept here and queued for no one.
    assert_eq!(store.work_order_comments(id).await.unwrap().len(), 1);
    let pushes = store.pushes_of(id).await.unwrap();
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    assert!(pushes[0].comment_id.is_none());
    assert!(
        !remote
            .received
            .lock()
            .unwrap()
            .iter()
            .any(|(_, what, _)| what == "comment"),
        "nothing was sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_are_added_on_the_page_and_through_the_api_by_admins_only() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let mut admin = Browser::new(&base);
    admin.sign_in("admin", ADMIN_PASSWORD).await;
    let csrf = admin.csrf().await;
    let order = store
        .create_work_order(&cube_host::store::work_orders::WorkOrderFields {
            title: "Filter".into(),
            status: "open".into(),
            priority: "normal".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let path = format!("/work-orders/{}/comments", order.id);

    let forged = admin
        .post(&path, &[("csrf_token", "forged"), ("body", "x")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let missing = admin.post(&path, &[("body", "x")]).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    let empty = admin
        .post(&path, &[("csrf_token", &csrf), ("body", "  \r\n ")])
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        empty.body.contains(r#"data-field="body""#),
        "{}",
        empty.body
    );
    let long = "x".repeat(10_001);
    let too_long = admin
        .post(&path, &[("csrf_token", &csrf), ("body", &long)])
        .await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        store
            .work_order_comments(order.id)
            .await
            .unwrap()
            .is_empty()
    );

    let added = admin
        .post(
            &path,
            &[
                ("csrf_token", &csrf),
                ("body", "Replaced <filter> & tested.\r\nOK"),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    let comments = store.work_order_comments(order.id).await.unwrap();
    assert_eq!(
        (comments[0].author.as_str(), comments[0].body.as_str()),
        ("admin", "Replaced <filter> & tested.\nOK")
    );
    let detail = admin.get(&added.location.unwrap()).await;
    assert!(
        detail
            .body
            .contains("Replaced &lt;filter&gt; &amp; tested.<br>OK"),
        "{}",
        detail.body
    );
    assert!(detail.body.contains("written here"));

    // Viewers read comments, and get no form and no way to add one.
    let mut viewer = Browser::new(&base);
    viewer.sign_in("vera", common::VIEWER_PASSWORD).await;
    let read = viewer.get(&format!("/work-orders/{}", order.id)).await;
    assert!(read.body.contains("Replaced &lt;filter&gt;"));
    assert!(!read.body.contains("comment-form"));
    let viewer_csrf = viewer.csrf().await;
    let refused = viewer
        .post(&path, &[("csrf_token", &viewer_csrf), ("body", "me too")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // The API: the same rules, the same error shape.
    let api = Api::sign_in(&base, "admin", ADMIN_PASSWORD).await;
    let api_path = format!("/api/v1{path}");
    let (status, body) = api
        .json(reqwest::Method::POST, &api_path, Some(json!({"body": ""})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["fields"]["body"].is_string(), "{body}");
    let (status, body) = api
        .json(
            reqwest::Method::POST,
            &api_path,
            Some(json!({"body": "From the API"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let no_csrf = api
        .http
        .post(format!("{base}{api_path}"))
        .header("cookie", &api.cookie)
        .header("content-type", "application/json")
        .body(json!({"body": "no token"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), StatusCode::FORBIDDEN);
    let error: Value = serde_json::from_str(&no_csrf.text().await.unwrap()).unwrap();
    assert_eq!(error["error"]["code"], "csrf");
    let (status, _) = api
        .json(
            reqwest::Method::GET,
            &format!("/api/v1/work-orders/{}/comments", order.id + 100),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let viewer_api = Api::sign_in(&base, "vera", common::VIEWER_PASSWORD).await;
    let (status, listed) = viewer_api.json(reqwest::Method::GET, &api_path, None).await;
    assert_eq!(status, StatusCode::OK);
    let bodies: Vec<&str> = listed["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["Replaced <filter> & tested.\nOK", "From the API"]);
    let (status, _) = viewer_api
        .call(
            reqwest::Method::POST,
            &api_path,
            Some(json!({"body": "me too"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let audited = store
        .audit_entries(50)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "work-order.comment")
        .count();
    assert_eq!(audited, 2);
}
