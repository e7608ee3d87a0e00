//! Work orders and their comments managed in the real host, on their pages
//! and through the API: bad input is refused field by field and nothing is
//! saved, forged requests are refused, admins create, edit and delete, and
//! viewers read and are refused the rest.

use cube_test_support as common;

use axum::http::StatusCode;
use serde_json::{Value, json};

use common::ADMIN_PASSWORD;
use common::client::{Api, Browser};
use common::web_forms::assert_contains;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_read_work_orders_and_bad_input_is_refused_by_field() {
    let (base, _store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let api = Api::sign_in(&base, "admin", ADMIN_PASSWORD).await;
    let (status, body) = api
        .post(
            "/api/v1/work-orders",
            Some(json!({"title": "  ", "status": "a\nb"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["fields"]["title"].is_string(), "{body}");
    assert!(body["error"]["fields"]["status"].is_string(), "{body}");
    let (status, created) = api
        .post(
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
    let (status, listed) = viewer.get("/api/v1/work-orders").await;
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
    assert_contains(&refused.body, r#"data-field="title""#);
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
    assert_contains(&form.body, r#"value="2026-12-01""#);
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
    assert_contains(&empty.body, r#"data-field="body""#);
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
    assert_contains(&detail.body, "Replaced &lt;filter&gt; &amp; tested.<br>OK");
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
    let (status, body) = api.post(&api_path, Some(json!({"body": ""}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["fields"]["body"].is_string(), "{body}");
    let (status, body) = api
        .post(&api_path, Some(json!({"body": "From the API"})))
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
        .get(&format!("/api/v1/work-orders/{}/comments", order.id + 100))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let viewer_api = Api::sign_in(&base, "vera", common::VIEWER_PASSWORD).await;
    let (status, listed) = viewer_api.get(&api_path).await;
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
