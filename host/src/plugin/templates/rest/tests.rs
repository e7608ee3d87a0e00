//! The connector's logic against the SDK's test doubles: each test answers
//! the HTTP requests the connector sends, then checks what it made of them.

use cube_connector_sdk::testing;
use cube_connector_sdk::types::SyncMode;

use super::*;

fn config() -> Config {
    Config {
        base_url: "https://tickets.example.com/api".into(),
        token: "t0ken-for-tests".into(),
    }
}

fn input(mode: SyncMode, cursor: Option<String>, page_size: u32) -> SyncInput {
    SyncInput {
        mode,
        cursor,
        dry_run: false,
        page_size,
    }
}

fn item(id: u32, updated_at: &str) -> serde_json::Value {
    json!({"id": id, "title": format!("Item {id}"), "status": "open", "updated_at": updated_at})
}

fn query(url: &str, name: &str) -> Option<String> {
    let (_, query) = url.split_once('?')?;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

#[test]
fn info_declares_a_schema_with_the_token_secret() {
    let info = __TYPE__::info();
    assert_eq!(info.id, "__ID__");
    let schema: serde_json::Value = serde_json::from_str(&info.config_schema).unwrap();
    assert_eq!(schema["properties"]["token"]["writeOnly"], true);
    assert_eq!(schema["required"], json!(["base_url", "token"]));
}

#[test]
fn test_connection_reads_one_item_with_the_token() {
    testing::reset();
    testing::on_http(|request| {
        assert!(
            request
                .url
                .starts_with("https://tickets.example.com/api/work-orders?")
        );
        assert!(
            request
                .headers
                .iter()
                .any(|(name, value)| name == "authorization" && value == "Bearer t0ken-for-tests"),
            "{:?}",
            request.headers
        );
        Ok(testing::response(200, "[]"))
    });
    let message = __TYPE__::test_connection(config()).unwrap();
    assert!(message.contains("Connected"), "{message}");
}

#[test]
fn a_rejected_token_is_an_authentication_error() {
    testing::reset();
    testing::on_http(|_| Ok(testing::response(401, r#"{"error":"bad token"}"#)));
    let error = __TYPE__::test_connection(config()).unwrap_err();
    assert!(!error.is_retryable(), "{error:?}");
}

#[test]
fn a_full_sync_pages_until_a_short_page_then_an_incremental_one_starts_from_the_newest() {
    testing::reset();
    testing::on_http(|request| {
        let page = query(&request.url, "page").unwrap();
        let body = match (page.as_str(), query(&request.url, "updated_since")) {
            ("1", None) => json!([
                item(1, "2026-01-01T10:00:00Z"),
                item(2, "2026-01-03T10:00:00Z")
            ]),
            ("2", None) => json!([item(3, "2026-01-02T10:00:00Z")]),
            ("1", Some(since)) => {
                assert_eq!(since, "2026-01-03T10%3A00%3A00Z", "percent-encoded");
                json!([item(2, "2026-01-04T09:00:00Z")])
            }
            other => panic!("unexpected request {other:?}"),
        };
        Ok(testing::response(200, body.to_string()))
    });

    let first = __TYPE__::sync(config(), input(SyncMode::Full, None, 2)).unwrap();
    assert!(first.has_more);
    assert_eq!(first.records.len(), 2);
    assert_eq!(first.records[0].kind, "work-order");
    assert_eq!(first.records[0].external_id, "1");
    assert_eq!(first.records[0].fields_json().unwrap()["title"], "Item 1");

    let second = __TYPE__::sync(config(), input(SyncMode::Full, first.cursor, 2)).unwrap();
    assert!(!second.has_more);
    assert_eq!(second.records[0].external_id, "3");
    let done: Cursor = serde_json::from_str(second.cursor.as_deref().unwrap()).unwrap();
    assert_eq!(done.since.as_deref(), Some("2026-01-03T10:00:00Z"));

    let changed = __TYPE__::sync(config(), input(SyncMode::Incremental, second.cursor, 2)).unwrap();
    assert_eq!(changed.records.len(), 1);
    assert_eq!(
        changed.records[0].version.as_deref(),
        Some("2026-01-04T09:00:00Z")
    );
}

#[test]
fn push_creates_then_updates_by_the_remote_id() {
    testing::reset();
    testing::on_http(|request| {
        let body: serde_json::Value =
            serde_json::from_slice(request.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["title"], "Pump 4 leaks");
        let answer = item(7, "2026-02-01T08:00:00Z");
        match request.method.as_str() {
            "POST" => assert!(request.url.ends_with("/work-orders")),
            "PUT" => assert!(request.url.ends_with("/work-orders/7")),
            other => panic!("unexpected method {other}"),
        }
        Ok(testing::response(200, answer.to_string()))
    });
    let change = |external_id: Option<&str>, operation| Change {
        kind: "work-order".into(),
        local_id: "12".into(),
        external_id: external_id.map(str::to_owned),
        operation,
        fields: json!({"title": "Pump 4 leaks", "status": "open"}).to_string(),
        changed_fields: vec!["title".into()],
    };
    let created = __TYPE__::push(config(), change(None, ChangeOperation::Create)).unwrap();
    assert_eq!(created.external_id, "7");
    let updated = __TYPE__::push(config(), change(Some("7"), ChangeOperation::Update)).unwrap();
    assert_eq!(updated.version.as_deref(), Some("2026-02-01T08:00:00Z"));
    let methods: Vec<String> = testing::requests().into_iter().map(|r| r.method).collect();
    assert_eq!(methods, ["POST", "PUT"]);
}
