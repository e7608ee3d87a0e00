//! Comments on work orders go both ways through the real host and the
//! probe connector in the sandbox: written here (page or API) they are
//! pushed after their work order, and only where it is; remote ones come in
//! by webhook and are not pushed back. The remote is
//! `common::work_order_remote`.

use cube_test_support as common;

use axum::http::StatusCode;
use serde_json::{Value, json};

use common::eventually;
use common::work_order_push_app::pushing_app;
use common::work_order_remote::deliver;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_are_pushed_after_their_work_order_and_remote_ones_come_in() {
    let mut app = pushing_app().await;
    let (store, remote, api) = (&app.store, &app.remote, &app.api);

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
        json!([{"integration_id": app.integration, "external_id": external}])
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
        deliver(&app.hook_url, &app.hook_secret, "c-1", hook).await,
        StatusCode::OK
    );
    let comments = store.work_order_comments(id).await.unwrap();
    assert_eq!(comments.len(), 2, "{comments:?}");
    assert_eq!(
        (
            comments[1].author.as_str(),
            comments[1].source_integration_id
        ),
        ("remote ann", Some(app.integration))
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
    let page = app.browser.get(&format!("/work-orders/{id}")).await;
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
        deliver(&app.hook_url, &app.hook_secret, "c-2", gone).await,
        StatusCode::OK
    );
    assert_eq!(store.work_order_comments(id).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_goes_only_where_the_work_order_is() {
    let app = pushing_app().await;
    let (store, remote, api) = (&app.store, &app.remote, &app.api);
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
