//! The generic REST connector in the real host reading from a local API:
//! pages in each style (page numbers, offsets, a cursor in the body, `Link`
//! headers), filters by an `updated_since` parameter in incremental syncs,
//! waits out a storm of 429s, and names JSON that does not parse. The fake
//! API is `common::rest_api`.

use cube_test_support as common;

use common::rest_api::{FakeApi, RecordedRequest, Scheme, app, paged};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pagination_style_reads_every_record() {
    let app = app().await;
    let fake = FakeApi::start(Scheme::None).await;
    fake.add_items(250);
    let styles = [
        ("/page/items", paged("/page/items")),
        (
            "/offset/items",
            json!({"list_path": "/offset/items", "pagination": "offset", "offset_param": "offset",
                   "size_param": "limit", "page_size": 40}),
        ),
        (
            "/cursor/items",
            json!({"list_path": "/cursor/items", "records_pointer": "/results", "pagination": "cursor",
                   "cursor_param": "after", "cursor_pointer": "/meta/next", "size_param": "limit",
                   "page_size": 40}),
        ),
        (
            "/link/items",
            json!({"list_path": "/link/items", "pagination": "link", "size_param": "per_page",
                   "page_size": 40}),
        ),
    ];
    for (path, config) in styles {
        let id = app.integration(path, &fake, config).await;
        let log = app.sync(id, true).await;
        assert_eq!(log["status"], "succeeded", "{path}: {log}");
        assert_eq!(log["counts"]["created"], 250, "{path}: {log}");
        let requests = fake.requests_to(path);
        assert!(requests.len() >= 7, "{path}: {} requests", requests.len());
        assert!(requests.iter().all(|r| r.status == 200), "{requests:?}");
    }
    // Each style sent its own parameters.
    let page = fake.requests_to("/page/items");
    assert_eq!(
        (page[1].param("page"), page[1].param("per_page")),
        (Some("2"), Some("20"))
    );
    assert_eq!(page.len(), 14, "13 pages and an empty one");
    let offset = fake.requests_to("/offset/items");
    assert_eq!(offset[1].param("offset"), Some("40"));
    let cursor = fake.requests_to("/cursor/items");
    assert_eq!(cursor[0].param("after"), None);
    assert_eq!(cursor[1].param("after"), Some("id-40"));
    assert_eq!(cursor.len(), 7);
    let link = fake.requests_to("/link/items");
    assert_eq!(link.len(), 7, "no request after the last rel=next");
    assert_eq!(link[6].param("page"), Some("7"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_sync_asks_only_for_what_changed() {
    let app = app().await;
    let fake = FakeApi::start(Scheme::None).await;
    fake.add_items(120);
    let mut config = paged("/page/items");
    config["incremental_param"] = json!("updated_since");
    let id = app.integration("Incremental", &fake, config).await;
    let log = app.sync(id, true).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(log["counts"]["created"], 120, "{log}");
    assert!(
        fake.requests_to("/page/items")
            .iter()
            .all(|r| r.param("updated_since").is_none()),
        "a full sync asks for everything"
    );

    fake.edit(3, "Changed remotely");
    fake.edit(99, "Changed remotely too");
    fake.add_items(1);
    let before = fake.requests().len();
    let log = app.sync(id, false).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(log["counts"]["created"], 1, "{log}");
    assert_eq!(log["counts"]["updated"], 2, "{log}");
    let incremental: Vec<RecordedRequest> = fake.requests()[before..].to_vec();
    assert_eq!(incremental.len(), 2, "one page and an empty one");
    assert!(
        incremental
            .iter()
            .all(|r| r.param("updated_since") == Some("120")),
        "{incremental:?}"
    );

    // Nothing changed since: one empty page, and the mark stays.
    let before = fake.requests().len();
    let log = app.sync(id, false).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(log["counts"]["created"], 0, "{log}");
    let again = &fake.requests()[before..];
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].param("updated_since"), Some("123"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_429s_is_waited_out() {
    let app = app().await;
    let fake = FakeApi::start(Scheme::None).await;
    fake.add_items(60);
    let id = app.integration("Storm", &fake, paged("/page/items")).await;
    fake.st().rate_limit_next = 3;
    let log = app.sync(id, true).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(log["counts"]["created"], 60, "{log}");
    assert_eq!(
        fake.requests().iter().filter(|r| r.status == 429).count(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_named_in_the_sync_log() {
    let app = app().await;
    let fake = FakeApi::start(Scheme::None).await;
    fake.add_items(5);
    let broken = app
        .integration(
            "Broken",
            &fake,
            json!({"list_path": "/broken/items", "records_pointer": "/data"}),
        )
        .await;
    let log = app.sync(broken, true).await;
    assert_eq!(log["status"], "failed", "{log}");
    let text = log.to_string();
    assert!(
        text.contains("/broken/items is not valid JSON") && text.contains("line 1 column"),
        "{log}"
    );
    // Failed for good: a parse error is not retried.
    assert_eq!(fake.requests_to("/broken/items").len(), 1);

    // The host carries on.
    let fine = app.integration("Fine", &fake, paged("/page/items")).await;
    let log = app.sync(fine, true).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(log["counts"]["created"], 5, "{log}");
}
