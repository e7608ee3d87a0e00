//! A directory connection runs on a thread of its own
//! (`runtime::capabilities::ldap::worker`), which must end with the
//! connection: a host that syncs every few minutes for months cannot leak a
//! thread per job. Its own test binary, so no other test's connections are
//! counted with its own.

use cube_test_support as common;

use std::time::{Duration, Instant};

use cube_host::runtime::LdapGrant;
use cube_host::runtime::capabilities::ldap::worker::THREAD_NAME;
use cube_host::runtime::types::{SyncMode, SyncRequest};
use serde_json::json;

/// The threads of this process named as connection threads are.
fn connection_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("Linux /proc")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim() == THREAD_NAME)
        .count()
}

async fn until_no_connection_threads() -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    while connection_threads() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    connection_threads()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobs_connection_thread_ends_with_the_job() {
    let runtime = common::runtime();
    let probe = common::probe(&runtime);
    let url = common::slapd::env("CUBE_TEST_LDAP_URL");
    let config = common::slapd::probe_config(&url, "none", json!({}));
    assert_eq!(connection_threads(), 0);
    let new_job = || {
        runtime
            .context("integration:ldap-thread-test")
            .with_ldap_grants([LdapGrant::parse(&url).unwrap()])
    };

    let job = new_job();
    let mut request = SyncRequest {
        config,
        mode: SyncMode::Full,
        cursor: None,
        dry_run: false,
        page_size: 2,
    };
    // Two pages: the second comes from the read-ahead on the connection's
    // thread.
    let mut users = 0;
    for _ in 0..2 {
        let page = probe.sync(&job, &request).await.result.unwrap();
        users += page.records.len();
        assert!(page.has_more, "ou=People holds more than four users");
        request.cursor = page.cursor;
    }
    assert_eq!(users, 4);
    assert_eq!(
        connection_threads(),
        1,
        "one thread for the job's one connection"
    );

    job.ldap_sessions.close().await;
    assert_eq!(
        until_no_connection_threads().await,
        0,
        "the thread outlived the closed connection"
    );

    // A job dropped without closing (a cancelled job) ends its threads too,
    // read-ahead and all.
    let job = new_job();
    request.cursor = None;
    probe.sync(&job, &request).await.result.unwrap();
    assert_eq!(connection_threads(), 1);
    drop(job);
    assert_eq!(
        until_no_connection_threads().await,
        0,
        "the thread outlived its dropped job"
    );
}
