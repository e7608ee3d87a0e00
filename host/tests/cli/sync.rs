//! `cube sync`: one sync from the command line, against the server's
//! database and connectors, with progress and a summary.

use cube_test_support as common;

use std::collections::BTreeMap;

use cube_host::secrets::{MasterKey, Sealer};
use cube_host::store::Store;

use common::plugin_cli::{cube_command, run};
use common::sync_setup::{create_sealed_integration, probe_fetching};

async fn prepare(data: &std::path::Path, url: &str) {
    let (key, _) = MasterKey::load(data).unwrap();
    let sealer = Sealer::new(&key);
    let store = Store::open_in(data).await.unwrap();
    let catalog = common::probe_catalog().await;
    let fields = probe_fetching("Command line", url, 3);
    let secrets = BTreeMap::from([("password".to_owned(), "cli-secret-value".to_owned())]);
    create_sealed_integration(&store, &catalog, "probe", &fields, &sealer, &secrets).await;
    store.close().await;
}

fn cube_sync(
    data: &std::path::Path,
    connectors: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    run(cube_command(&["sync"])
        .args(args)
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "--connectors",
            connectors.to_str().unwrap(),
        ])
        .env_remove("CUBE_MASTER_KEY")
        .env_remove("CUBE_DATABASE_URL"))
}

/// [`cube_sync`] on a blocking thread, while the test's servers go on
/// serving.
async fn cube_sync_in_background(
    data: &std::path::Path,
    connectors: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    let (data, connectors) = (data.to_owned(), connectors.to_owned());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cube_sync(&data, &connectors, &args)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cube_sync_runs_a_sync_with_progress_and_a_summary() {
    let data = tempfile::tempdir().unwrap();
    let connectors = tempfile::tempdir().unwrap();
    std::fs::write(connectors.path().join("probe.wasm"), common::probe_wasm()).unwrap();
    let peer = common::http_answering("ok").await;
    prepare(data.path(), &peer).await;

    let output =
        cube_sync_in_background(data.path(), connectors.path(), &["Command line", "--full"]).await;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        stdout.trim(),
        "Read 6 records in 3 pages: 6 created, 0 updated, 0 deleted, 0 failed"
    );
    assert!(
        stderr.contains("Syncing Command line (full)") && stderr.contains("page     3"),
        "{stderr}"
    );

    // A dry run reads and writes nothing.
    let output = cube_sync_in_background(
        data.path(),
        connectors.path(),
        &["1", "--full", "--dry-run"],
    )
    .await;
    assert!(output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .contains("Dry run: read 6 records in 3 pages; would create 0, update 0, delete 0; 0 failed; nothing was written")
    );

    let unknown = cube_sync(data.path(), connectors.path(), &["nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no integration is named `nope`"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sync_exits_non_zero_with_the_reason() {
    let data = tempfile::tempdir().unwrap();
    let connectors = tempfile::tempdir().unwrap();
    std::fs::write(connectors.path().join("probe.wasm"), common::probe_wasm()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .fallback(|| async { (axum::http::StatusCode::UNAUTHORIZED, "who are you") });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    prepare(data.path(), &url).await;
    let output = cube_sync_in_background(data.path(), connectors.path(), &["Command line"]).await;
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("Sync failed after 1 attempts")
            && stdout.contains("refused the credentials (401)"),
        "{stdout}"
    );
}
