//! Deliveries as the host hands them over (already authenticated), and the
//! records the connector makes of them.

use super::*;

fn config() -> Config {
    Config {
        default_priority: default_priority(),
    }
}

fn delivery(body: serde_json::Value) -> WebhookRequest {
    WebhookRequest {
        method: "POST".into(),
        path: String::new(),
        query: String::new(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

#[test]
fn info_asks_for_a_signed_webhook_and_nothing_to_reach() {
    let info = __TYPE__::info();
    let schema: serde_json::Value = serde_json::from_str(&info.config_schema).unwrap();
    assert_eq!(schema["x-cube-webhook"]["scheme"], "standard-webhooks");
    assert!(info.capabilities.http.is_empty() && info.capabilities.ldap.is_empty());
}

#[test]
fn a_delivery_becomes_a_work_order_with_the_default_priority() {
    let outcome = __TYPE__::handle_webhook(
        config(),
        delivery(json!({"id": "alert-17", "title": "Pump 4 pressure low"})),
    )
    .unwrap();
    assert_eq!(outcome.records.len(), 1);
    let record = &outcome.records[0];
    assert_eq!(
        (record.kind.as_str(), record.external_id.as_str()),
        ("work-order", "alert-17")
    );
    let fields = record.fields_json().unwrap();
    assert_eq!(fields["priority"], "normal");
    assert_eq!(fields["status"], "open");
}

#[test]
fn a_resolved_delivery_closes_the_work_order() {
    let outcome = __TYPE__::handle_webhook(
        config(),
        delivery(
            json!({"id": "alert-17", "title": "Pump 4", "priority": "high", "resolved": true}),
        ),
    )
    .unwrap();
    let fields = outcome.records[0].fields_json().unwrap();
    assert_eq!(
        (fields["status"].as_str(), fields["priority"].as_str()),
        (Some("closed"), Some("high"))
    );
}

#[test]
fn malformed_deliveries_are_refused_in_words() {
    let not_json = WebhookRequest {
        body: b"<alert/>".to_vec(),
        ..delivery(json!({}))
    };
    let error = __TYPE__::handle_webhook(config(), not_json).unwrap_err();
    assert!(
        error.message().contains("not the expected JSON"),
        "{error:?}"
    );
    let no_title = __TYPE__::handle_webhook(config(), delivery(json!({"id": "a", "title": " "})));
    assert!(no_title.unwrap_err().message().contains("non-empty"));
    let bad_priority = __TYPE__::handle_webhook(
        config(),
        delivery(json!({"id": "a", "title": "t", "priority": "whenever"})),
    );
    assert!(bad_priority.unwrap_err().message().contains("whenever"));
}

#[test]
fn test_connection_checks_the_default_priority() {
    assert!(__TYPE__::test_connection(config()).is_ok());
    let error = __TYPE__::test_connection(Config {
        default_priority: "soon".into(),
    })
    .unwrap_err();
    assert!(error.message().contains("soon"), "{error:?}");
}
