//! Registries served over HTTP, and packages installed from a URL, with the
//! `cube` binary: the registry a publisher wrote, served as static files by
//! a web server on 127.0.0.1; whatever it serves is checked (index digest,
//! then the package's own verification), so a server that alters a package
//! cannot get it installed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::get;

fn cube(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cube"))
        .args(args)
        .env("CUBE_LOG", "warn")
        .output()
        .expect("running cube")
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "status {:?}\n{}\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn refused(output: Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stderr).unwrap()
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A static file server for `dir` under `/cube/`; with `tamper` set, it
/// flips a byte of every package it serves.
#[derive(Clone)]
struct Files {
    dir: PathBuf,
    tamper: Arc<AtomicBool>,
}

async fn file(
    State(files): State<Files>,
    UrlPath(name): UrlPath<String>,
) -> Result<Vec<u8>, StatusCode> {
    if name.contains('/') || name.contains("..") {
        return Err(StatusCode::BAD_REQUEST);
    }
    let mut bytes = std::fs::read(files.dir.join(&name)).map_err(|_| StatusCode::NOT_FOUND)?;
    if files.tamper.load(Ordering::SeqCst) && name.ends_with(".cubepkg") {
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
    }
    Ok(bytes)
}

async fn serve(dir: &Path) -> (String, Arc<AtomicBool>) {
    let files = Files {
        dir: dir.to_path_buf(),
        tamper: Arc::new(AtomicBool::new(false)),
    };
    let tamper = files.tamper.clone();
    let app = axum::Router::new()
        .route("/cube/{name}", get(file))
        .with_state(files);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, tamper)
}

/// A registry directory holding jira, signed by `acme`, whose key the host
/// in `data` trusts.
fn publish(desk: &Path, data: &Path) -> PathBuf {
    let component = desk.join("jira.wasm");
    std::fs::write(&component, common::plugin_wasm("jira")).unwrap();
    let keys = desk.join("keys");
    ok(cube(&[
        "plugin",
        "keygen",
        "--publisher",
        "acme",
        "--out",
        s(&keys),
    ]));
    let package = desk.join("jira.cubepkg");
    ok(cube(&[
        "plugin",
        "pack",
        "--component",
        s(&component),
        "--publisher",
        "acme",
        "--out",
        s(&package),
    ]));
    ok(cube(&[
        "plugin",
        "sign",
        s(&package),
        "--key",
        s(&keys.join("acme.key")),
    ]));
    let registry = desk.join("registry");
    ok(cube(&[
        "plugin",
        "publish",
        s(&package),
        "--registry",
        s(&registry),
    ]));
    ok(cube(&[
        "plugin",
        "trust",
        s(&keys.join("acme.pub")),
        "--data-dir",
        s(data),
    ]));
    registry
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_served_over_http_installs_what_it_lists_and_nothing_altered() {
    let desk = tempfile::tempdir().unwrap();
    let data = desk.path().join("data");
    let (desk_path, data_path) = (desk.path().to_path_buf(), data.clone());
    let registry = tokio::task::spawn_blocking(move || publish(&desk_path, &data_path))
        .await
        .unwrap();
    let (base, tamper) = serve(&registry).await;
    let url = format!("{base}/cube");

    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            cube(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
    };
    let install = |target: &str, registry: Option<&str>| {
        let mut args = vec![
            "plugin".to_owned(),
            "install".into(),
            target.into(),
            "--data-dir".into(),
            s(&data).into(),
        ];
        if let Some(registry) = registry {
            args.extend(["--registry".into(), registry.into()]);
        }
        run(args)
    };

    // The server alters the package: the index's digest catches it.
    tamper.store(true, Ordering::SeqCst);
    let out = refused(install("jira", Some(&url)).await.unwrap());
    assert!(
        out.contains("the registry is inconsistent or was altered"),
        "{out}"
    );
    assert!(!data.join("connectors/jira").exists());

    // Served as published: verified and installed.
    tamper.store(false, Ordering::SeqCst);
    let out = ok(install("jira@0.1.0", Some(&url)).await.unwrap());
    assert!(out.contains("installed jira 0.1.0 (trusted"), "{out}");
    assert!(data.join("connectors/jira/0.1.0/connector.wasm").is_file());

    // What the server does not have is named.
    let out = refused(install("slack", Some(&url)).await.unwrap());
    assert!(out.contains("the registry has no package `slack`"), "{out}");
    let out = refused(
        install("jira", Some(&format!("{base}/elsewhere")))
            .await
            .unwrap(),
    );
    assert!(out.contains("has no index.json"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_installs_from_its_url_with_the_same_checks() {
    let desk = tempfile::tempdir().unwrap();
    let data = desk.path().join("data");
    let (desk_path, data_path) = (desk.path().to_path_buf(), data.clone());
    let registry = tokio::task::spawn_blocking(move || publish(&desk_path, &data_path))
        .await
        .unwrap();
    let (base, tamper) = serve(&registry).await;
    let package_url = format!("{base}/cube/jira-0.1.0.cubepkg");
    let install = |url: String| {
        let data = data.clone();
        tokio::task::spawn_blocking(move || {
            cube(&["plugin", "install", &url, "--data-dir", s(&data)])
        })
    };

    // Altered in transit: no index here, but the signature breaks.
    tamper.store(true, Ordering::SeqCst);
    let out = refused(install(package_url.clone()).await.unwrap());
    assert!(
        out.contains("altered") || out.contains("signature") || out.contains("not a CUBE package"),
        "{out}"
    );
    assert!(!data.join("connectors/jira").exists());

    tamper.store(false, Ordering::SeqCst);
    let out = ok(install(package_url).await.unwrap());
    assert!(out.contains("installed jira 0.1.0 (trusted"), "{out}");

    let out = refused(
        install(format!("{base}/cube/nothing.cubepkg"))
            .await
            .unwrap(),
    );
    assert!(out.contains("the server answered 404"), "{out}");
    let out = refused(
        install("http://127.0.0.1:9/x.cubepkg".into())
            .await
            .unwrap(),
    );
    assert!(
        out.contains("cannot download http://127.0.0.1:9/x.cubepkg"),
        "{out}"
    );
}
