//! The store's side of webhook intake and of work-order pushes, on SQLite
//! and on PostgreSQL: batched deliveries answered one by one, and the push
//! outbox with its links, echoes and conflict rule.

use cube_test_support as common;

use cube_host::runtime::types::{Features, Record};
use cube_host::store::Store;
use cube_host::store::integrations::IntegrationFields;
use cube_host::store::webhooks::{NewDelivery, Stored};
use cube_host::store::work_orders::WorkOrderFields;

use common::store_rows::{count, integration_of, provider_info};

async fn integration(store: &Store, name: &str, features: Features) -> i64 {
    let info = provider_info(&format!("c-{name}"), name, features);
    let fields = IntegrationFields::new(name, serde_json::Map::new());
    integration_of(store, &info, &fields).await
}

fn delivery(webhook: i64, integration: i64, id: &str) -> NewDelivery {
    NewDelivery {
        webhook_id: webhook,
        integration_id: integration,
        delivery_id: id.into(),
        sender_id: None,
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

fn remote_comment(id: &str, fields: serde_json::Value) -> Record {
    Record {
        kind: "work-order-comment".into(),
        external_id: id.into(),
        fields: fields.to_string(),
        deleted: false,
        version: None,
    }
}

async fn comment_rows(store: &Store) -> i64 {
    count(
        store,
        "SELECT CAST(COUNT(*) AS BIGINT) FROM work_order_comments",
    )
    .await
}

fn valve() -> WorkOrderFields {
    WorkOrderFields {
        title: "Valve".into(),
        status: "open".into(),
        priority: "normal".into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_are_pushed_after_their_work_order_and_never_merged_with_changes() {
    common::each_backend(|store| async move {
        let jira = integration(&store, "jira", Features::SYNC | Features::PUSH).await;
        integration(&store, "reader", Features::SYNC).await;
        let order = store.create_work_order(&valve()).await.unwrap();
        let comment = store
            .add_work_order_comment(order.id, "admin", "Seen at 9:00.\nValve closed.")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (comment.author.as_str(), comment.source_integration_id),
            ("admin", None)
        );
        assert!(
            store
                .add_work_order_comment(order.id + 100, "admin", "nowhere")
                .await
                .unwrap()
                .is_none()
        );
        // A change made now joins the waiting create, not the comment.
        let renamed = WorkOrderFields {
            title: "Valve 2".into(),
            ..valve()
        };
        store.update_work_order(order.id, &renamed).await.unwrap();
        let pushes = store.pushes_of(order.id).await.unwrap();
        assert_eq!(pushes.len(), 2, "one create, one comment: {pushes:?}");
        assert_eq!(pushes[0].comment_id, Some(comment.id));
        assert_eq!(pushes[1].comment_id, None);

        // The work order's create goes first; the comment waits for it.
        let create = store.claim_push(60_000).await.unwrap().unwrap();
        assert!(create.comment.is_none());
        assert_eq!(
            (create.integration_id, create.operation.as_str()),
            (jira, "create")
        );
        assert_eq!(create.fields["title"], "Valve 2");
        assert!(store.claim_push(60_000).await.unwrap().is_none());
        store
            .finish_push(&create, "JIRA-7", Some("v1"))
            .await
            .unwrap();
        // A change while the comment waits gets a push of its own, after it.
        let closed = WorkOrderFields {
            status: "closed".into(),
            ..renamed.clone()
        };
        store.update_work_order(order.id, &closed).await.unwrap();
        let push = store.claim_push(60_000).await.unwrap().unwrap();
        let carried = push.comment.clone().expect("the comment's push");
        assert_eq!(
            (carried.id, carried.author.as_str(), carried.body.as_str()),
            (comment.id, "admin", "Seen at 9:00.\nValve closed.")
        );
        assert_eq!(carried.created_at, comment.created_at);
        assert_eq!(push.operation, "create", "a comment is always created");
        assert_eq!(push.external_id.as_deref(), Some("JIRA-7"));
        assert_eq!(push.changed_fields, vec!["comment".to_owned()]);

        assert!(
            store.claim_push(60_000).await.unwrap().is_none(),
            "the change waits for the comment"
        );
        store.finish_push(&push, "10001", None).await.unwrap();
        let comments = store.work_order_comments(order.id).await.unwrap();
        assert_eq!(comments.len(), 1);
        assert_eq!(
            (
                comments[0].links[0].integration_id,
                comments[0].links[0].external_id.as_str()
            ),
            (jira, "10001")
        );
        let links = store.work_order_links(order.id).await.unwrap();
        assert_eq!(
            (links[0].external_id.as_str(), links[0].version.as_deref()),
            ("JIRA-7", Some("v1")),
            "the work order's link is left alone"
        );
        let update = store.claim_push(60_000).await.unwrap().unwrap();
        assert!(update.comment.is_none());
        assert_eq!(
            (update.operation.as_str(), update.changed_fields.clone()),
            ("update", vec!["status".to_owned()])
        );
        store
            .finish_push(&update, "JIRA-7", Some("v2"))
            .await
            .unwrap();

        // A comment written while its work order's create is on its way
        // waits behind it; when the create then fails for good, the
        // comment's push has no remote item to name.
        let other = store.create_work_order(&valve()).await.unwrap();
        let failed = store.claim_push(60_000).await.unwrap().unwrap();
        store
            .add_work_order_comment(other.id, "admin", "Anyone?")
            .await
            .unwrap()
            .unwrap();
        store.retry_push(failed.id, "refused", None).await.unwrap();
        let orphan = store.claim_push(60_000).await.unwrap().unwrap();
        assert!(orphan.comment.is_some());
        assert_eq!(orphan.external_id, None);
        store
            .retry_push(orphan.id, "not linked", None)
            .await
            .unwrap();
        // A comment on a work order the integration never got is queued
        // for no one.
        store
            .add_work_order_comment(other.id, "admin", "Still there?")
            .await
            .unwrap()
            .unwrap();
        assert!(store.claim_push(60_000).await.unwrap().is_none());

        // Comments and their pushes go with their work order.
        store.delete_work_order(other.id).await.unwrap();
        assert!(
            store
                .work_order_comments(other.id)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(comment_rows(&store).await, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_comments_are_applied_once_edited_deleted_and_never_pushed() {
    common::each_backend(|store| async move {
        let jira = integration(&store, "jira", Features::SYNC | Features::PUSH).await;
        // The comment comes first in the page; its issue is new in it too.
        let page = [
            remote_comment(
                "10001",
                serde_json::json!({"work_order": "JIRA-9", "author": "ann", "body": "Parts ordered.",
                                   "created_at": 1_000}),
            ),
            remote("JIRA-9", "v1", serde_json::json!({"summary": "Pump"})),
        ];
        let counts = store.apply_page(jira, None, &page, None).await.unwrap();
        assert_eq!((counts.created, counts.failed), (2, 0), "{counts:?}");
        let order = store.work_orders(10, 0).await.unwrap().remove(0);
        let comments = store.work_order_comments(order.id).await.unwrap();
        assert_eq!(comments.len(), 1);
        let comment = &comments[0];
        assert_eq!(
            (
                comment.author.as_str(),
                comment.body.as_str(),
                comment.created_at
            ),
            ("ann", "Parts ordered.", 1_000)
        );
        assert_eq!(comment.source_integration_id, Some(jira));
        assert_eq!(comment.links[0].external_id, "10001");
        assert!(
            store.claim_push(60_000).await.unwrap().is_none(),
            "remote comments are not pushed"
        );

        // The same record again (a webhook after a sync): one comment.
        let counts = store
            .apply_page(jira, None, &page[..1], None)
            .await
            .unwrap();
        assert_eq!((counts.created, counts.updated), (0, 0));
        assert_eq!(comment_rows(&store).await, 1);

        // Edited remotely: the body follows.
        let edited = remote_comment(
            "10001",
            serde_json::json!({"work_order": "JIRA-9", "author": "ann", "body": "Parts arrived.",
                               "created_at": 1_000}),
        );
        let counts = store.apply_page(jira, None, &[edited], None).await.unwrap();
        assert_eq!(counts.updated, 1);
        assert_eq!(
            store.work_order_comments(order.id).await.unwrap()[0].body,
            "Parts arrived."
        );

        // On an issue that is not linked here: skipped, not failed.
        let stray = remote_comment(
            "10002",
            serde_json::json!({"work_order": "JIRA-404", "author": "bob", "body": "?"}),
        );
        let counts = store.apply_page(jira, None, &[stray], None).await.unwrap();
        assert_eq!((counts.read, counts.created, counts.failed), (1, 0, 0));
        assert_eq!(comment_rows(&store).await, 1);

        // Deleted remotely: gone here.
        let gone = Record {
            deleted: true,
            ..remote_comment("10001", serde_json::json!({}))
        };
        let counts = store.apply_page(jira, None, &[gone], None).await.unwrap();
        assert_eq!(counts.deleted, 1);
        assert!(store.work_order_comments(order.id).await.unwrap().is_empty());
        assert!(store.claim_push(60_000).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_brought_in_while_its_own_push_ran_shows_once() {
    common::each_backend(|store| async move {
        let jira = integration(&store, "jira", Features::SYNC | Features::PUSH).await;
        let order = store.create_work_order(&valve()).await.unwrap();
        let create = store.claim_push(60_000).await.unwrap().unwrap();
        store
            .finish_push(&create, "JIRA-7", Some("v1"))
            .await
            .unwrap();
        let mine = store
            .add_work_order_comment(order.id, "admin", "Done.")
            .await
            .unwrap()
            .unwrap();
        let push = store.claim_push(60_000).await.unwrap().unwrap();
        // The remote comment our push created arrives by sync before the
        // push is recorded: a second copy for a moment.
        let echo = remote_comment(
            "10005",
            serde_json::json!({"work_order": "JIRA-7", "author": "cube-bot", "body": "Done."}),
        );
        store
            .apply_page(jira, None, std::slice::from_ref(&echo), None)
            .await
            .unwrap();
        assert_eq!(store.work_order_comments(order.id).await.unwrap().len(), 2);
        store.finish_push(&push, "10005", None).await.unwrap();
        let comments = store.work_order_comments(order.id).await.unwrap();
        assert_eq!(comments.len(), 1, "{comments:?}");
        assert_eq!(comments[0].id, mine.id);
        assert_eq!(comments[0].source_integration_id, None);
        assert_eq!(comments[0].links[0].external_id, "10005");
        // Later copies of it are recognised through the link.
        let counts = store.apply_page(jira, None, &[echo], None).await.unwrap();
        assert_eq!((counts.created, counts.updated), (0, 0));
        assert_eq!(comment_rows(&store).await, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_changes_reach_integrations_that_only_receive() {
    common::each_backend(|store| async move {
        let jira = integration(&store, "jira", Features::SYNC | Features::PUSH).await;
        let other = integration(&store, "servicenow", Features::SYNC | Features::PUSH).await;
        let slack = integration(&store, "slack", Features::PUSH | Features::WEBHOOKS).await;
        // A new issue with a comment arrives from Jira.
        let page = [
            remote(
                "JIRA-3",
                "v1",
                serde_json::json!({"summary": "Chiller noisy"}),
            ),
            remote_comment(
                "20001",
                serde_json::json!({"work_order": "JIRA-3", "author": "ann", "body": "On it."}),
            ),
        ];
        store.apply_page(jira, None, &page, None).await.unwrap();
        let order = store.work_orders(10, 0).await.unwrap().remove(0);
        // Slack, which only receives, is told; the other syncing system is
        // not, and neither is Jira itself.
        let create = store.claim_push(60_000).await.unwrap().unwrap();
        assert_eq!(
            (
                create.integration_id,
                create.operation.as_str(),
                create.work_order_id
            ),
            (slack, "create", order.id)
        );
        assert!(create.comment.is_none());
        assert_eq!(create.fields["title"], "Chiller noisy");
        assert!(
            store.claim_push(60_000).await.unwrap().is_none(),
            "the comment waits behind the work order's create"
        );
        store.finish_push(&create, "C1:100.1", None).await.unwrap();
        let comment = store.claim_push(60_000).await.unwrap().unwrap();
        assert_eq!(comment.integration_id, slack);
        assert_eq!(comment.comment.as_ref().unwrap().body, "On it.");
        store.finish_push(&comment, "C1:100.2", None).await.unwrap();

        // A later change from Jira reaches Slack as an update of what changed.
        let page = [remote(
            "JIRA-3",
            "v2",
            serde_json::json!({"summary": "Chiller fixed"}),
        )];
        store.apply_page(jira, None, &page, None).await.unwrap();
        let update = store.claim_push(60_000).await.unwrap().unwrap();
        assert_eq!(
            (update.integration_id, update.operation.as_str()),
            (slack, "update")
        );
        assert_eq!(update.changed_fields, vec!["title".to_owned()]);
        assert!(store.claim_push(60_000).await.unwrap().is_none());
        let pushes = store.pushes_of(order.id).await.unwrap();
        assert!(
            pushes.iter().all(|p| p.integration_id == slack),
            "{pushes:?}"
        );
        assert!(
            !pushes
                .iter()
                .any(|p| p.integration_id == other || p.integration_id == jira)
        );
    })
    .await;
}
