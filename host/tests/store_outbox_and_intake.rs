//! The store's side of webhook intake and of work-order pushes, on SQLite
//! and on PostgreSQL: batched deliveries answered one by one, and the push
//! outbox with its links, echoes and conflict rule.

mod common;

use cube_host::runtime::types::{Capabilities, ConnectorInfo, Features, Record};
use cube_host::store::Store;
use cube_host::store::integrations::IntegrationFields;
use cube_host::store::webhooks::{NewDelivery, Stored};
use cube_host::store::work_orders::WorkOrderFields;

async fn integration(store: &Store, name: &str, features: Features) -> i64 {
    let info = ConnectorInfo {
        id: format!("c-{name}"),
        name: name.into(),
        version: "1.0.0".into(),
        description: String::new(),
        config_schema: "{}".into(),
        capabilities: Capabilities {
            http: Vec::new(),
            ldap: Vec::new(),
        },
        features,
    };
    store.upsert_provider(&info, "sha256:test").await.unwrap();
    let fields = IntegrationFields {
        name: name.into(),
        enabled: true,
        config: serde_json::Map::new(),
        http_grants: Vec::new(),
        ldap_grants: Vec::new(),
        sync_interval_secs: None,
        disable_after_failures: None,
        sync_cron: None,
    };
    store
        .create_integration(&info.id, &fields, "admin", |_| Default::default())
        .await
        .unwrap()
        .id
}

fn delivery(webhook: i64, integration: i64, id: &str) -> NewDelivery {
    NewDelivery {
        webhook_id: webhook,
        integration_id: integration,
        delivery_id: id.into(),
        method: "POST".into(),
        path: String::new(),
        query: String::new(),
        headers: vec![("x-cube-delivery".into(), id.into())],
        body: b"{}".to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_deliveries_is_answered_one_by_one() {
    common::each_backend(|store| async move {
        let id = integration(&store, "hooks", Features::WEBHOOKS).await;
        let webhook = store
            .create_webhook(id, "token", "cube-hmac-sha256", "", false, |_| {
                "sealed".into()
            })
            .await
            .unwrap();
        let first = store
            .store_deliveries(&[delivery(webhook.id, id, "a")])
            .await
            .unwrap();
        assert!(matches!(first[..], [Stored::New(_)]));
        // In one batch: a new one, one seen before, and one twice.
        let batch: Vec<NewDelivery> = ["b", "a", "c", "b"]
            .iter()
            .map(|d| delivery(webhook.id, id, d))
            .collect();
        let stored = store.store_deliveries(&batch).await.unwrap();
        assert!(
            matches!(
                stored[..],
                [
                    Stored::New(_),
                    Stored::Duplicate,
                    Stored::New(_),
                    Stored::Duplicate
                ]
            ),
            "{stored:?}"
        );
        let ids: Vec<i64> = stored
            .iter()
            .filter_map(|s| match s {
                Stored::New(id) => Some(*id),
                Stored::Duplicate => None,
            })
            .collect();
        assert_eq!(
            store.delivery(ids[0]).await.unwrap().unwrap().delivery_id,
            "b"
        );
        assert_eq!(
            store.delivery(ids[1]).await.unwrap().unwrap().delivery_id,
            "c"
        );
        assert!(
            store
                .webhook(webhook.id)
                .await
                .unwrap()
                .unwrap()
                .last_received_at
                .is_some()
        );
    })
    .await;
}

fn remote(id: &str, version: &str, fields: serde_json::Value) -> Record {
    Record {
        kind: "work-order".into(),
        external_id: id.into(),
        fields: fields.to_string(),
        deleted: false,
        version: Some(version.into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_link_work_orders_and_their_echoes_are_not_applied() {
    common::each_backend(|store| async move {
        let jira = integration(&store, "jira", Features::SYNC | Features::PUSH).await;
        integration(&store, "reader", Features::SYNC).await;
        let fields = WorkOrderFields {
            title: "Valve".into(),
            status: "open".into(),
            priority: "normal".into(),
            ..Default::default()
        };
        let order = store.create_work_order(&fields).await.unwrap();
        // Queued for the integration that pushes, not the other.
        let push = store.claim_push(60_000).await.unwrap().unwrap();
        assert_eq!(
            (push.integration_id, push.operation.as_str()),
            (jira, "create")
        );
        assert!(store.claim_push(60_000).await.unwrap().is_none());
        store
            .finish_push(&push, "JIRA-7", Some("v1"))
            .await
            .unwrap();
        let links = store.work_order_links(order.id).await.unwrap();
        assert_eq!(
            (links[0].external_id.as_str(), links[0].version.as_deref()),
            ("JIRA-7", Some("v1"))
        );

        // The echo: skipped. A new version: applied, and not queued back.
        let echo = remote("JIRA-7", "v1", serde_json::json!({"title": "echo"}));
        let counts = store.apply_page(jira, None, &[echo], None).await.unwrap();
        assert_eq!((counts.created, counts.updated), (0, 0));
        let change = remote(
            "JIRA-7",
            "v2",
            serde_json::json!({"title": "Valve 2", "updated_at": 1}),
        );
        let counts = store.apply_page(jira, None, &[change], None).await.unwrap();
        assert_eq!(counts.updated, 1);
        assert_eq!(
            store.work_order(order.id).await.unwrap().unwrap().title,
            "Valve 2"
        );
        assert!(
            store.claim_push(60_000).await.unwrap().is_none(),
            "remote changes are not pushed"
        );

        // A waiting local edit keeps its field against an older remote change.
        let edited = WorkOrderFields {
            status: "closed".into(),
            title: "Valve 2".into(),
            ..fields.clone()
        };
        store.update_work_order(order.id, &edited).await.unwrap();
        let older = remote(
            "JIRA-7",
            "v3",
            serde_json::json!({"status": "reopened", "priority": "high", "updated_at": 2}),
        );
        store.apply_page(jira, None, &[older], None).await.unwrap();
        let now = store.work_order(order.id).await.unwrap().unwrap();
        assert_eq!(
            (now.status.as_str(), now.priority.as_str()),
            ("closed", "high")
        );

        // A new remote item becomes a linked work order; its deletion
        // removes it, since it came from there and is linked nowhere else.
        let new = remote(
            "JIRA-8",
            "v1",
            serde_json::json!({"summary": "From Jira", "reporter": "ann"}),
        );
        let counts = store.apply_page(jira, None, &[new], None).await.unwrap();
        assert_eq!(counts.created, 1);
        let from_jira = store.work_orders(10, 0).await.unwrap().remove(0);
        assert_eq!(
            (from_jira.title.as_str(), from_jira.requester.as_deref()),
            ("From Jira", Some("ann"))
        );
        let gone = Record {
            deleted: true,
            ..remote("JIRA-8", "v2", serde_json::json!({}))
        };
        assert_eq!(
            store
                .apply_page(jira, None, &[gone], None)
                .await
                .unwrap()
                .deleted,
            1
        );
        assert!(store.work_order(from_jira.id).await.unwrap().is_none());
    })
    .await;
}
