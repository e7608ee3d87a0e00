//! The sync engine with the probe connector in the real sandbox, a local
//! HTTP server that answers what each test needs, and the real store:
//! retries with backoff that honour Retry-After, no retry for refused
//! credentials, resuming from the last committed page, disabling an
//! integration that keeps failing, and deletions found by full syncs.

use cube_test_support as common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use cube_host::store::deletions::DeletionLimits;
use cube_host::store::integrations::IntegrationFields;
use cube_host::store::jobs::NewJob;
use cube_host::store::sync_logs::SyncLogFilter;
use cube_host::sync::run_job;

use common::SyncSetup;
use common::sync_setup::{manual_sync, probe_fetching};

/// A server answering each request with the next scripted status (and
/// Retry-After), then 200 once the script is used up.
async fn scripted(script: Vec<(u16, Option<&'static str>)>) -> (String, Arc<Mutex<Vec<String>>>) {
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/items", listener.local_addr().unwrap());
    let (s, v) = (script.clone(), seen.clone());
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let (s, v) = (s.clone(), v.clone());
        async move {
            v.lock().unwrap().push(uri.to_string());
            match s.lock().unwrap().pop_front() {
                Some((status, retry_after)) => {
                    let mut response =
                        (StatusCode::from_u16(status).unwrap(), "scripted").into_response();
                    if let Some(after) = retry_after {
                        response
                            .headers_mut()
                            .insert("retry-after", after.parse().unwrap());
                    }
                    response
                }
                None => "ok".into_response(),
            }
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, seen)
}

async fn setup(url: &str, pages: u32, disable_after: Option<i64>) -> SyncSetup {
    let fields = IntegrationFields {
        disable_after_failures: disable_after,
        ..probe_fetching("Scripted", url, pages)
    };
    SyncSetup::probe_builder(fields)
        .secret("password", "scripted-secret")
        .retry_cap(Duration::from_secs(5))
        .build()
        .await
}

/// Claims and runs the next due job, waiting for its backoff if needed.
async fn run_next(setup: &SyncSetup) -> i64 {
    for _ in 0..200 {
        if let Some(job) = setup
            .deps
            .store
            .claim_job("test-node", 60_000)
            .await
            .unwrap()
        {
            let id = job.id;
            run_job(&setup.deps, job, "test-node").await;
            return id;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no job became due");
}

async fn messages(setup: &SyncSetup) -> Vec<String> {
    let filter = SyncLogFilter {
        integration_id: Some(setup.integration),
        ..Default::default()
    };
    let (logs, _) = setup.deps.store.sync_logs(&filter, 0, 50).await.unwrap();
    logs.into_iter()
        .rev()
        .map(|l| format!("{}: {}", l.status, l.message))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_page_is_retried_after_retry_after_and_the_sync_resumes_there() {
    // Page 0 passes, page 1 gets 429 with Retry-After: 1, then all pass.
    let (url, seen) = scripted(vec![(200, None), (429, Some("1"))]).await;
    let setup = setup(&url, 3, None).await;
    let job = setup.queue("full").await;

    let before = cube_host::store::now_millis();
    run_next(&setup).await;
    let queued = setup.deps.store.job(job).await.unwrap().unwrap();
    assert_eq!(queued.status, "queued", "{queued:?}");
    assert!(
        queued.run_after >= before + 1000,
        "Retry-After was not honoured: due in {} ms",
        queued.run_after - before
    );
    assert_eq!(
        (queued.pages_done, queued.cursor.as_deref()),
        (1, Some("1"))
    );

    assert_eq!(run_next(&setup).await, job);
    let done = setup.deps.store.job(job).await.unwrap().unwrap();
    assert_eq!((done.status.as_str(), done.attempts), ("succeeded", 2));
    let log = messages(&setup).await;
    assert!(
        log[0].starts_with("failed: Page 2 failed: rate limited")
            && log[0].contains("attempt 1 of 3; will retry"),
        "{log:?}"
    );
    assert_eq!(
        log[1],
        "succeeded: Read 4 records in 2 pages (resumed after 1 pages committed earlier): 4 created, 0 updated, 0 deleted, 0 failed"
    );
    let pages: Vec<String> = seen.lock().unwrap().clone();
    assert_eq!(
        pages,
        [
            "/items?page=0",
            "/items?page=1",
            "/items?page=1",
            "/items?page=2"
        ],
        "page 0 was read once"
    );
    let synced = setup
        .deps
        .store
        .synced_counts(setup.integration)
        .await
        .unwrap();
    assert_eq!(synced[3], ("other records".into(), 6));
    let integration = setup.stored_integration().await;
    assert_eq!(
        (
            integration.last_sync_status.as_deref(),
            integration.consecutive_failures
        ),
        (Some("succeeded"), 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_not_retried_and_repeated_failures_disable_the_integration() {
    let (url, seen) = scripted(vec![(401, None), (503, None), (503, None), (503, None)]).await;
    let setup = setup(&url, 2, Some(2)).await;

    let job = setup.queue("incremental").await;
    run_next(&setup).await;
    let failed = setup.deps.store.job(job).await.unwrap().unwrap();
    assert_eq!(
        (failed.status.as_str(), failed.attempts),
        ("failed", 1),
        "401 must not be retried"
    );
    assert!(failed.error.unwrap().contains("authentication failed"));
    let integration = setup.stored_integration().await;
    assert_eq!(
        (integration.consecutive_failures, integration.enabled),
        (1, true)
    );

    // 503 three times: retried up to the bound, then one more failure in a row.
    let job = setup.queue("incremental").await;
    for _ in 0..3 {
        assert_eq!(run_next(&setup).await, job);
    }
    let failed = setup.deps.store.job(job).await.unwrap().unwrap();
    assert_eq!((failed.status.as_str(), failed.attempts), ("failed", 3));
    assert_eq!(seen.lock().unwrap().len(), 4);
    let integration = setup.stored_integration().await;
    assert_eq!(integration.consecutive_failures, 2);
    assert!(
        !integration.enabled,
        "disabled after 2 failed syncs in a row"
    );
    let audit = setup.deps.store.audit_entries(5).await.unwrap();
    assert_eq!(
        (audit[0].actor.as_str(), audit[0].action.as_str()),
        ("system", "integration.auto-disable")
    );
    let log = messages(&setup).await;
    assert!(
        log.last().unwrap().contains("attempt 3 of 3; giving up"),
        "{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complete_full_sync_deletes_what_it_did_not_see_within_the_threshold() {
    let (url, _) = scripted(Vec::new()).await;
    let setup = setup(&url, 3, None).await;
    let store = &setup.deps.store;
    let items = async || store.synced_counts(setup.integration).await.unwrap()[3].1;
    setup.queue("full").await;
    run_next(&setup).await;
    assert_eq!(items().await, 6);

    // The remote system now has two pages: 2 of 6 records unseen, more
    // than the default threshold allows (10 % of 6, rounded up: 1). The
    // sync deletes nothing and ends needing approval.
    sqlx::query("UPDATE integrations SET config_json = $1 WHERE id = $2")
        .bind(serde_json::json!({"action": "fetch", "url": url, "pages": 2}).to_string())
        .bind(setup.integration)
        .execute(store.pool())
        .await
        .unwrap();
    setup.queue("full").await;
    let held = run_next(&setup).await;
    let log = messages(&setup).await;
    assert_eq!(
        log[1],
        "needs_approval: Read 4 records in 2 pages: 0 created, 0 updated, 0 failed; 2 records were \
         not seen and would be deleted, more than the 1 the deletion threshold allows: nothing was \
         deleted; approve or discard the deletions on the integration's page",
        "{log:?}"
    );
    assert_eq!(
        store.job(held).await.unwrap().unwrap().status,
        "needs_approval"
    );
    assert_eq!(items().await, 6, "nothing deleted");
    let pending = store
        .pending_deletions(setup.integration, 0, 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((pending.job_id, pending.total), (held, 2));
    assert_eq!(pending.items[0].kind, "item");

    // With a looser threshold the next full sync deletes them, and its
    // finding replaces the held one.
    store
        .set_deletion_limits(
            setup.integration,
            DeletionLimits {
                max_objects: 500,
                max_percent: 50,
            },
        )
        .await
        .unwrap();
    setup.queue("full").await;
    run_next(&setup).await;
    let log = messages(&setup).await;
    assert_eq!(
        log[2], "succeeded: Read 4 records in 2 pages: 0 created, 0 updated, 2 deleted, 0 failed",
        "{log:?}"
    );
    assert_eq!(items().await, 4);
    assert_eq!(store.job(held).await.unwrap().unwrap().status, "superseded");
    assert!(
        store
            .pending_deletions(setup.integration, 0, 10)
            .await
            .unwrap()
            .is_none()
    );

    // An incremental sync (the probe's page after the cursor) deletes nothing.
    setup.queue("incremental").await;
    run_next(&setup).await;
    let log = messages(&setup).await;
    assert_eq!(
        log[3], "succeeded: Read 2 records in 1 pages: 2 created, 0 updated, 0 deleted, 0 failed",
        "{log:?}"
    );
    assert_eq!(items().await, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mappings_shape_the_records_and_a_dry_run_previews_without_writing() {
    let (url, _) = scripted(Vec::new()).await;
    let setup = setup(&url, 2, None).await;
    let store = &setup.deps.store;
    store
        .add_mapping(
            setup.integration,
            "item",
            "",
            "shout",
            Some("{{ name | upper }}"),
        )
        .await
        .unwrap();
    store
        .add_mapping(setup.integration, "item", "name", "label", None)
        .await
        .unwrap();

    let (dry, _) = store
        .enqueue_sync(NewJob {
            dry_run: true,
            ..manual_sync(setup.integration, "full")
        })
        .await
        .unwrap();
    assert_eq!(run_next(&setup).await, dry.id);
    let log = messages(&setup).await;
    assert_eq!(
        log[0],
        "succeeded: Dry run: read 4 records in 2 pages; would create 4, update 0, delete 0; 0 failed; nothing was written"
    );
    assert_eq!(
        store.synced_counts(setup.integration).await.unwrap()[3].1,
        0,
        "a dry run writes nothing"
    );

    setup.queue("full").await;
    run_next(&setup).await;
    let fields: String = sqlx::query_scalar(
        "SELECT fields_json FROM synced_records WHERE integration_id = $1 AND external_id = '1'",
    )
    .bind(setup.integration)
    .fetch_one(store.pool())
    .await
    .unwrap();
    let fields: serde_json::Value = serde_json::from_str(&fields).unwrap();
    assert_eq!(fields["shout"], "ITEM 1");
    assert_eq!(fields["label"], "item 1");
    assert_eq!(fields["name"], "item 1");

    // A transform that no longer compiles stops the sync with a clear message.
    sqlx::query(
        "UPDATE integration_mappings SET transform = '{{ broken' WHERE target_field = 'shout'",
    )
    .execute(store.pool())
    .await
    .unwrap();
    setup.queue("full").await;
    run_next(&setup).await;
    let log = messages(&setup).await;
    assert!(
        log.last()
            .unwrap()
            .starts_with("failed: Fix the mappings first: the transform of mapping"),
        "{log:?}"
    );
}
