//! The generic REST connector in the real host pushing work orders to a
//! local API: a create is a `POST /items`, an update a `PUT /items/{id}`.
//! The fake API is `common::rest_api`.

use cube_test_support as common;

use common::eventually;
use common::rest_api::{FakeApi, Scheme, TOKEN, app};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_create_with_post_and_update_with_put() {
    let app = app().await;
    let fake = FakeApi::start(Scheme::Bearer).await;
    let config = json!({
        "auth": "bearer", "token": TOKEN,
        "list_path": "/offset/items", "pagination": "offset", "size_param": "limit",
        "updated_field": "/updated", "kind": "work-order",
        "push_url_template": "/items{% if external_id %}/{{ external_id | urlencode }}{% endif %}",
        "push_body_template": "{\"title\": {{ fields.title | tojson }}, \"status\": {{ fields.status | tojson }}, \"source\": \"cube-{{ local_id }}\"}",
        "push_id_pointer": "/item/id"
    });
    let integration = app.integration("Push", &fake, config).await;
    let verdict = app.assert_connection_test(integration, true).await;
    assert!(
        verdict.to_string().contains("the push templates compile"),
        "{verdict}"
    );

    let order = app
        .create_work_order(
            json!({"title": "Pump 4 leaks", "description": "Seal worn.", "priority": "high",
                    "status": "open"}),
        )
        .await;
    let remote_id = app.linked_id(order).await;
    let item = fake.item(&remote_id).expect("the item exists");
    assert_eq!(item["title"], "Pump 4 leaks");
    assert_eq!(item["status"], "open");
    assert_eq!(item["source"], format!("cube-{order}"));
    let post = fake.requests_to("/items").pop().unwrap();
    assert_eq!(post.method, "POST");

    app.update_work_order(
        order,
        json!({"title": "Pump 4 leaks badly", "description": "Seal worn.", "priority": "high",
                "status": "in_progress"}),
    )
    .await;
    eventually("the update", async || {
        let item = fake.item(&remote_id)?;
        (item["title"] == "Pump 4 leaks badly" && item["status"] == "in_progress").then_some(())
    })
    .await;
    let put = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .unwrap();
    assert_eq!(put.path, format!("/items/{remote_id}"));
    assert_eq!(put.status, 200);
    eventually("both pushes done", async || {
        let pushes = app.store.pushes_of(order).await.unwrap();
        (pushes.len() == 2 && pushes.iter().all(|p| p.status == "done")).then_some(())
    })
    .await;
}
