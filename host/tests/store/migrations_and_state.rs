//! The store on both backends: migrations, and connector state kept in the
//! database and used by real components.

use cube_test_support as common;

use std::sync::Arc;

use cube_host::runtime::capabilities::state::conformance;
use cube_host::runtime::{Connector, Runtime};
use cube_host::store::state::DbStateStore;
use cube_host::store::{Backend, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_and_reopening_is_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let first = Store::open_in(dir.path()).await.unwrap();
    assert_eq!(first.backend(), Backend::Sqlite);
    first.ping().await.unwrap();
    first.close().await;
    // A second start finds the schema in place.
    let again = Store::open_in(dir.path()).await.unwrap();
    again.ping().await.unwrap();
    assert!(dir.path().join("cube.db").is_file());

    let url = common::postgres_database().await;
    let pg = Store::connect(&url).await.unwrap();
    assert_eq!(pg.backend(), Backend::Postgres);
    pg.close().await;
    Store::connect(&url).await.unwrap().ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_database_urls_are_refused() {
    let err = Store::connect("mysql://localhost/cube").await.unwrap_err();
    assert!(
        err.to_string().contains("unsupported database URL"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_state_isolates_integrations_and_lists_by_prefix() {
    common::each_backend(|store| async move {
        conformance::isolates_integrations_and_lists_by_prefix(&DbStateStore::new(store)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_state_enforces_the_limits() {
    common::each_backend(|store| async move {
        conformance::refuses_oversized_keys_values_and_totals(&DbStateStore::new(store)).await;
    })
    .await;
}

/// A new runtime keeping connector state in `store`, and the probe
/// component loaded in it.
fn probe_keeping_state_in(store: &Store) -> (Runtime, Connector) {
    let runtime = Runtime::builder()
        .max_instances(4)
        .state_store(Arc::new(DbStateStore::new(store.clone())))
        .build()
        .unwrap();
    let probe = runtime.load(common::probe_wasm()).unwrap();
    (runtime, probe)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_state_survives_a_restart_of_the_host() {
    common::each_backend(|store| async move {
        let config = r#"{"action":"state"}"#;
        for (runtime_number, expected) in [(1, "call 1"), (1, "call 2"), (2, "call 3")] {
            // A new runtime stands for a restarted host; the database stays.
            let (runtime, probe) = probe_keeping_state_in(&store);
            let outcome = probe
                .test_connection(&runtime.context("jira-1"), config)
                .await;
            assert_eq!(
                outcome.result.unwrap(),
                expected,
                "runtime {runtime_number}"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_state_store_fails_the_call_instead_of_answering_empty() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).await.unwrap();
    let (runtime, probe) = probe_keeping_state_in(&store);
    store.close().await;
    let outcome = probe
        .test_connection(&runtime.context("x"), r#"{"action":"state"}"#)
        .await;
    match outcome.result {
        Err(cube_host::runtime::CallError::Trap(message)) => {
            assert!(
                message.contains("connector state: the state store is unavailable"),
                "{message}"
            )
        }
        other => panic!("expected the call to fail, got {other:?}"),
    }
}
