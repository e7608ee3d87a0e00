//! Packages from elsewhere than a registry directory: a registry served
//! over HTTP (the directory a publisher wrote, as static files from a web
//! server on 127.0.0.1, which the host reaches as `localhost` because the
//! admin allows it with `--allow-private-host`), a package's URL, and an
//! upload; from the `cube` binary, the admin UI and the API. Whatever arrives is checked (index
//! digest, then the package's own verification), so a server that alters a
//! package cannot get it installed.

use cube_test_support as common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::get;
use cube_host::marketplace::source::RegistrySource;
use serde_json::{Value, json};

use common::client::{Api, Browser};
use common::marketplace::{loaded_catalog, section};
use common::marketplace_ui::{install_through_the_api, submit, submit_refused};
use common::plugin_cli::{cube, ok, publish_and_trust, refused, s};

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

/// A registry directory `desk/registry` holding jira, signed by `acme`,
/// whose key the host in `data` trusts (the `cube` binary run on a blocking
/// thread, while the test's servers go on serving).
async fn publish(desk: &Path, data: &Path) -> PathBuf {
    let (desk, data) = (desk.to_path_buf(), data.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let component = desk.join("jira.wasm");
        std::fs::write(&component, common::plugin_wasm("jira")).unwrap();
        publish_and_trust(&desk, &desk, &["--component", s(&component)], "acme", &data)
    })
    .await
    .unwrap()
}

/// `cube plugin install TARGET` (from `registry`, if any) into `data`,
/// allowed to reach the test's servers on `localhost`, on a blocking
/// thread.
async fn install(data: &Path, target: &str, registry: Option<&str>) -> Output {
    let mut args = vec![
        "plugin".to_owned(),
        "install".into(),
        target.into(),
        "--data-dir".into(),
        s(data).into(),
        "--allow-private-host".into(),
        "localhost".into(),
    ];
    if let Some(registry) = registry {
        args.extend(["--registry".into(), registry.into()]);
    }
    tokio::task::spawn_blocking(move || cube(&args.iter().map(String::as_str).collect::<Vec<_>>()))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_served_over_http_installs_what_it_lists_and_nothing_altered() {
    let desk = tempfile::tempdir().unwrap();
    let data = desk.path().join("data");
    let (base, tamper) = serve(&publish(desk.path(), &data).await).await;
    let url = format!("{base}/cube");

    // The server alters the package: the index's digest catches it.
    tamper.store(true, Ordering::SeqCst);
    let out = refused(install(&data, "jira", Some(&url)).await);
    assert!(
        out.contains("the registry is inconsistent or was altered"),
        "{out}"
    );
    assert!(!data.join("connectors/jira").exists());

    // Served as published: verified and installed.
    tamper.store(false, Ordering::SeqCst);
    let out = ok(install(&data, "jira@0.1.0", Some(&url)).await);
    assert!(out.contains("installed jira 0.1.0 (trusted"), "{out}");
    assert!(data.join("connectors/jira/0.1.0/connector.wasm").is_file());

    // What the server does not have is named.
    let out = refused(install(&data, "slack", Some(&url)).await);
    assert!(out.contains("the registry has no package `slack`"), "{out}");
    let out = refused(install(&data, "jira", Some(&format!("{base}/elsewhere"))).await);
    assert!(out.contains("has no index.json"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_installs_from_its_url_with_the_same_checks() {
    let desk = tempfile::tempdir().unwrap();
    let data = desk.path().join("data");
    let (base, tamper) = serve(&publish(desk.path(), &data).await).await;
    let package_url = format!("{base}/cube/jira-0.1.0.cubepkg");

    // Altered in transit: no index here, but the signature breaks.
    tamper.store(true, Ordering::SeqCst);
    let out = refused(install(&data, &package_url, None).await);
    assert!(
        out.contains("altered") || out.contains("signature") || out.contains("not a CUBE package"),
        "{out}"
    );
    assert!(!data.join("connectors/jira").exists());

    tamper.store(false, Ordering::SeqCst);
    let out = ok(install(&data, &package_url, None).await);
    assert!(out.contains("installed jira 0.1.0 (trusted"), "{out}");

    let out = refused(install(&data, &format!("{base}/cube/nothing.cubepkg"), None).await);
    assert!(out.contains("the server answered 404"), "{out}");
    let out = refused(install(&data, "http://localhost:9/x.cubepkg", None).await);
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
    let catalog = loaded_catalog(Vec::new()).await;
    let source = RegistrySource::parse(&format!("{base_files}/cube")).unwrap();
    let (base, store, data) =
        common::serve_admin_app_with_source(catalog, source, &["localhost"]).await;
    publish(desk.path(), data.path()).await;

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
    submit_refused(
        &mut admin,
        &csrf,
        "/marketplace/url",
        &[("url", &url)],
        StatusCode::UNPROCESSABLE_ENTITY,
        "id=\"install-error\"",
    )
    .await;
    assert!(!data.path().join("connectors/jira").exists());
    tamper.store(false, Ordering::SeqCst);
    let forged = submit(&mut admin, "forged", "/marketplace/url", &[("url", &url)]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let done = submit(&mut admin, &csrf, "/marketplace/url", &[("url", &url)]).await;
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
    let (status, answer) =
        install_through_the_api(&api, json!({"id": "jira", "version": "0.1.0"})).await;
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
