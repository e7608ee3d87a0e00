//! Packages from elsewhere than a registry directory: a registry served
//! over HTTP (the directory a publisher wrote, as static files from a web
//! server on 127.0.0.1, which the host reaches as `localhost` because the
//! admin allows it with `--allow-private-host`), a package's URL, and an
//! upload; from the `cube` binary, the admin UI and the API. Whatever arrives is checked (index
//! digest, then the package's own verification), so a server that alters a
//! package cannot get it installed.

use cube_test_support as common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::get;
use cube_host::marketplace::source::RegistrySource;
use reqwest::Method;
use serde_json::{Value, json};

use common::client::{Api, Browser};
use common::marketplace::section;

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
    let base = format!("http://localhost:{}", listener.local_addr().unwrap().port());
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
            "--allow-private-host".into(),
            "localhost".into(),
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
            cube(&[
                "plugin",
                "install",
                &url,
                "--data-dir",
                s(&data),
                "--allow-private-host",
                "localhost",
            ])
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
        install("http://localhost:9/x.cubepkg".into())
            .await
            .unwrap(),
    );
    assert!(
        out.contains("cannot download http://localhost:9/x.cubepkg"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_install_from_an_http_registry_a_url_or_an_upload() {
    let desk = tempfile::tempdir().unwrap();
    let registry_dir = desk.path().join("registry");
    // Published before the server starts, served while it runs.
    std::fs::create_dir_all(&registry_dir).unwrap();
    let (base_files, tamper) = serve(&registry_dir).await;
    let catalog = cube_host::web::Catalog::new();
    catalog
        .clone()
        .load_dirs(common::runtime(), Vec::new())
        .await;
    let source = RegistrySource::parse(&format!("{base_files}/cube")).unwrap();
    let (base, store, data) =
        common::serve_admin_app_with_source(catalog, source, &["localhost"]).await;
    let (desk_path, data_path) = (desk.path().to_path_buf(), data.path().to_path_buf());
    tokio::task::spawn_blocking(move || publish(&desk_path, &data_path))
        .await
        .unwrap();

    // The page lists what the web server serves, verified from its bytes.
    let (mut admin, csrf) = common::sign_in_admin(&base).await;
    let page = admin.get("/marketplace").await;
    assert!(
        // minijinja escapes `/` too.
        page.body
            .contains(&format!("{base_files}/cube/").replace('/', "&#x2f;")),
        "{}",
        page.body
    );
    assert!(
        section(&page.body, "jira", "0.1.0").contains(">verified<"),
        "{}",
        page.body
    );

    // By URL, from the form: an altered download is refused beside the form.
    let url = format!("{base_files}/cube/jira-0.1.0.cubepkg");
    tamper.store(true, Ordering::SeqCst);
    let refused = admin
        .post("/marketplace/url", &[("csrf_token", &csrf), ("url", &url)])
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("id=\"install-error\""),
        "{}",
        refused.body
    );
    assert!(!data.path().join("connectors/jira").exists());
    tamper.store(false, Ordering::SeqCst);
    let forged = admin
        .post(
            "/marketplace/url",
            &[("csrf_token", "forged"), ("url", &url)],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let done = admin
        .post("/marketplace/url", &[("csrf_token", &csrf), ("url", &url)])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert!(
        data.path()
            .join("connectors/jira/0.1.0/connector.wasm")
            .is_file()
    );
    let audit = store.audit_entries(50).await.unwrap();
    let entry = audit
        .iter()
        .find(|e| e.action == "marketplace.install")
        .unwrap();
    let after: &Value = entry.after.as_ref().unwrap();
    assert_eq!(after["source"], format!("url {url}"));

    // From the registry through the API: the same package, already there.
    let api = Api::sign_in(&base, "admin", common::ADMIN_PASSWORD).await;
    let (status, answer) = api
        .json(
            Method::POST,
            "/api/v1/marketplace/install",
            Some(json!({"id": "jira", "version": "0.1.0"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["already_installed"], true);

    // Uploaded: an unsigned package needs consent, in the form and the API.
    let trivial = common::marketplace::trivial_wasm();
    let manifest = common::marketplace::manifest_of(&trivial, "nobody").await;
    let unsigned = cube_host::marketplace::package::Package::new(manifest, trivial)
        .unwrap()
        .to_bytes();
    let file = ("package", "trivial.cubepkg", unsigned.as_slice());
    let refused = admin
        .post_multipart("/marketplace/upload", &[("csrf_token", &csrf)], file)
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(refused.body.contains("not signed"), "{}", refused.body);
    assert!(!data.path().join("connectors/trivial").exists());
    let done = admin
        .post_multipart(
            "/marketplace/upload",
            &[("csrf_token", &csrf), ("accept_untrusted", "on")],
            file,
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert!(
        data.path()
            .join("connectors/trivial/0.1.0/connector.wasm")
            .is_file()
    );
    let page = admin.get("/integrations/providers").await;
    assert!(page.body.contains("Trivial"), "{}", page.body);

    let response = api
        .http
        .post(format!(
            "{base}/api/v1/marketplace/upload?accept_untrusted=true"
        ))
        .header("cookie", &api.cookie)
        .header("x-csrf-token", &api.csrf)
        .header("content-type", "application/octet-stream")
        .body(unsigned.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "installed already");

    // A viewer may not upload.
    let mut viewer = Browser::new(&base);
    viewer.sign_in("vera", common::VIEWER_PASSWORD).await;
    let viewer_csrf = viewer.csrf().await;
    let refused = viewer
        .post_multipart(
            "/marketplace/upload",
            &[("csrf_token", &viewer_csrf), ("accept_untrusted", "on")],
            ("package", "trivial.cubepkg", &unsigned),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}
