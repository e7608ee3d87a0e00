//! The `cube` binary as an author and an operator use it.

use cube_test_support as common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::plugin_cli::{cube, cube_command, stderr, stdout};

fn probe_file() -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".wasm").tempfile().unwrap();
    file.write_all(common::probe_wasm()).unwrap();
    file
}

/// A temporary file holding `bytes`.
fn temp_file(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(bytes).unwrap();
    file
}

/// `cube plugin run CONNECTOR OPERATION --config CONFIG`, with `extra`
/// arguments.
fn plugin_run(
    connector: &tempfile::NamedTempFile,
    operation: &str,
    config: &tempfile::NamedTempFile,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "plugin",
        "run",
        connector.path().to_str().unwrap(),
        operation,
        "--config",
        config.path().to_str().unwrap(),
    ];
    args.extend(extra);
    cube(&args)
}

#[test]
fn inspect_describes_a_connector_in_text_and_json() {
    let file = probe_file();
    let path = file.path().to_str().unwrap();
    let text = cube(&["plugin", "inspect", path]);
    assert!(text.status.success(), "{}", stderr(&text));
    let out = stdout(&text);
    assert!(
        out.contains("world:        cube:connector/connector@0.1.0"),
        "{out}"
    );
    assert!(out.contains("connector:    probe 0.1.0 (Probe)"), "{out}");
    assert!(out.contains("http:       http://127.0.0.1:*"), "{out}");

    let json = cube(&["plugin", "inspect", "--json", path]);
    assert!(json.status.success());
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["info"]["id"], "probe");
    assert_eq!(
        value["info"]["features"],
        serde_json::json!(["sync", "push", "webhooks"])
    );
    assert_eq!(
        value["info"]["config_schema"]["properties"]["password"]["writeOnly"],
        true
    );
    assert_eq!(value["exports"][0], "info");
    assert_eq!(value["uses_wasi"], false);
}

#[test]
fn inspect_refuses_foreign_files_in_one_line() {
    let file = temp_file(b"\0asm\x01\0\0\0");
    let out = cube(&["plugin", "inspect", file.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("core WebAssembly module, not a component"),
        "{err}"
    );

    let missing = cube(&["plugin", "inspect", "/nonexistent/connector.wasm"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("cannot read /nonexistent/connector.wasm"));
}

#[test]
fn run_prints_each_page_of_a_sync() {
    let file = probe_file();
    let config = temp_file(br#"{"pages": 2}"#);
    let out = plugin_run(&file, "sync", &config, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let records: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 4);
    assert_eq!(records[3]["external_id"], "3");
    assert_eq!(records[3]["fields"]["name"], "item 3");
    let progress = stderr(&out);
    assert!(
        progress.contains("page 1: 2 records, cursor 1, more follow"),
        "{progress}"
    );
    assert!(
        progress.contains("done: 4 records in 2 pages"),
        "{progress}"
    );
}

#[test]
fn run_reports_connector_failures_with_exit_code_1() {
    let file = probe_file();
    let config = temp_file(br#"{"action": "leak", "password": "hunter2-secret"}"#);
    let out = plugin_run(&file, "test-connection", &config, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("authentication failed: password [redacted] was refused"),
        "{err}"
    );
    assert!(!err.contains("hunter2-secret"), "{err}");

    let looping = temp_file(br#"{"action": "loop"}"#);
    let out = plugin_run(
        &file,
        "test-connection",
        &looping,
        &["--deadline-ms", "200"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("deadline of 200 ms"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn run_grants_http_only_with_allow() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        // A minimal HTTP/1.1 responder: enough for one request.
        use std::io::{Read, Write};
        for stream in listener.incoming().take(1) {
            let mut stream = stream.unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).unwrap();
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi")
                .unwrap();
        }
    });
    let file = probe_file();
    let config = temp_file(
        format!(r#"{{"action": "fetch", "url": "http://127.0.0.1:{port}/"}}"#).as_bytes(),
    );
    let denied = plugin_run(&file, "test-connection", &config, &[]);
    assert_eq!(denied.status.code(), Some(1));
    assert!(
        stderr(&denied).contains(&format!("http://127.0.0.1:{port} is not granted")),
        "{}",
        stderr(&denied)
    );

    let grant = format!("http://127.0.0.1:{port}");
    let allowed = plugin_run(&file, "test-connection", &config, &["--allow", &grant]);
    assert!(allowed.status.success(), "{}", stderr(&allowed));
    assert_eq!(stdout(&allowed).trim(), "ok: 200 hi");
}

#[test]
fn serve_answers_health_and_readiness_and_skips_bad_connectors() {
    let connectors = tempfile::tempdir().unwrap();
    std::fs::write(connectors.path().join("probe.wasm"), common::probe_wasm()).unwrap();
    std::fs::write(connectors.path().join("broken.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let data = tempfile::tempdir().unwrap();
    let port = common::closed_port();
    let mut server = cube_command(&["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(data.path())
        .arg("--connectors")
        .arg(connectors.path())
        .env("CUBE_LOG_FORMAT", "json")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let get = |path: &str| -> Option<(u16, serde_json::Value)> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        )
        .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let status = response.split_whitespace().nth(1)?.parse().ok()?;
        let body = response.split("\r\n\r\n").nth(1)?;
        Some((status, serde_json::from_str(body).ok()?))
    };
    let started = Instant::now();
    let ready = loop {
        if let Some((200, body)) = get("/readyz") {
            break body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "server never became ready"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(ready["connectors"], 1);
    assert_eq!(ready["failed_connectors"], 1);
    assert_eq!(
        get("/healthz").unwrap(),
        (200, serde_json::json!({"status": "ok"}))
    );
    // The compiled cache was written into the data directory.
    assert!(
        std::fs::read_dir(data.path().join("compiled"))
            .unwrap()
            .count()
            >= 1
    );
    server.kill().unwrap();
    let output = server.wait_with_output().unwrap();
    // CUBE_LOG_FORMAT=json: one JSON object per line, fields included.
    let logged = String::from_utf8_lossy(&output.stderr);
    let skipped = logged
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|entry| entry["message"] == "connector not loaded")
        .unwrap_or_else(|| panic!("no JSON log line for the broken connector in {logged}"));
    assert_eq!(skipped["level"], "ERROR");
    assert!(skipped["file"].as_str().unwrap().ends_with("broken.wasm"));
}
