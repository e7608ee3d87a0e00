//! A connector built by another toolchain (componentize-py) runs in the
//! host, with WASI linked but granting nothing.

use cube_test_support as common;

use cube_host::runtime::{HttpGrant, LogLevel, Secrets};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_connector_runs_and_gets_nothing_from_wasi() {
    // A real server the Python code will try to reach with a raw socket, and
    // through the granted `http` import.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().route("/ping", axum::routing::get(|| async { "pong" }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let runtime = cube_host::runtime::Runtime::builder()
        .max_instances(4)
        .cache_dir(dir.path())
        .build()
        .unwrap();
    let bytes = std::fs::read(common::python_probe_wasm()).unwrap();
    let connector = runtime.load(&bytes).unwrap();
    assert!(connector.uses_wasi());

    let info = connector.info(&runtime.context("py")).await.result.unwrap();
    assert_eq!(info.id, "python-probe");

    let config = json!({
        "port": port,
        "url": format!("http://127.0.0.1:{port}/ping"),
        "token": "py-secret-token-123",
    });
    let schema: Value = serde_json::from_str(&info.config_schema).unwrap();
    let ctx = runtime
        .context("py")
        .with_http_grants([HttpGrant::parse(&format!("http://127.0.0.1:{port}")).unwrap()])
        .with_secrets(Secrets::from_config(&schema, &config));
    let outcome = connector.test_connection(&ctx, &config.to_string()).await;
    let report: Value = serde_json::from_str(&outcome.result.unwrap()).unwrap();

    let file_error = report["file"]["error"]
        .as_str()
        .expect("reading a file fails");
    assert!(
        file_error.contains("No such file")
            || file_error.contains("not permitted")
            || file_error.contains("Errno"),
        "{file_error}"
    );
    assert!(report["listdir"]["error"].is_string(), "{report}");
    assert_eq!(report["env"], json!({}), "no environment variables");
    let socket_error = report["socket"]["error"].as_str().expect("a socket fails");
    assert!(!socket_error.is_empty());
    // The granted capability works where the raw socket did not.
    assert_eq!(report["http"], json!({"status": 200, "body": "pong"}));

    // stdout is captured into the call's log, scrubbed.
    let lines: Vec<_> = outcome
        .report
        .log
        .iter()
        .map(|l| (l.level, l.message.as_str()))
        .collect();
    assert!(
        lines.contains(&(LogLevel::Info, "probing the sandbox")),
        "{lines:?}"
    );
    assert!(
        lines.contains(&(LogLevel::Info, "python probe starting, token [redacted]")),
        "{lines:?}"
    );

    // A second load of the same bytes, in a new runtime, comes from the
    // compiled cache instead of compiling for seconds again.
    let again = cube_host::runtime::Runtime::builder()
        .max_instances(4)
        .cache_dir(dir.path())
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let reloaded = again.load(&bytes).unwrap();
    let load_time = started.elapsed();
    assert!(
        load_time < std::time::Duration::from_secs(2),
        "cache not used: {load_time:?}"
    );
    let page = reloaded
        .sync(
            &again.context("py"),
            &cube_host::runtime::types::SyncRequest {
                config: "{}".into(),
                mode: cube_host::runtime::types::SyncMode::Full,
                cursor: None,
                dry_run: false,
                page_size: 10,
            },
        )
        .await
        .result
        .unwrap();
    assert_eq!(page.records.len(), 3);
}
