//! The host's own HTTP clients keep to the same address policy as the
//! sandbox: installing from a URL, reading a registry (here) and outbound
//! webhooks (`outbound.rs`) refuse loopback, private-network,
//! link-local and metadata addresses, by literal, by name and through a
//! redirect, unless the admin named the host with `--allow-private-host`;
//! and they take no proxy from the environment, only `--outbound-proxy`.
//!
//! An admin (or whoever can get a URL into an admin's hands) could
//! otherwise make the host fetch from its own loopback services, its LAN or
//! the cloud metadata service.

use cube_test_support as common;

use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use reqwest::Method;
use serde_json::json;

use common::client::Api;
use common::plugin_cli::{cube_command, run};

fn cube(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = cube_command(args);
    for name in [
        "CUBE_ALLOW_PRIVATE_HOSTS",
        "CUBE_OUTBOUND_PROXY",
        "NO_PROXY",
        "no_proxy",
    ] {
        command.env_remove(name);
    }
    run(command.envs(env.iter().copied()))
}

/// `cube plugin install URL` with `flags`: its exit code and stderr.
async fn install(url: String, flags: Vec<String>, env: Vec<(String, String)>) -> (i32, String) {
    tokio::task::spawn_blocking(move || {
        let data = tempfile::tempdir().unwrap();
        let mut args = vec![
            "plugin".to_owned(),
            "install".into(),
            url,
            "--data-dir".into(),
            data.path().to_str().unwrap().into(),
        ];
        args.extend(flags);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let output = cube(&args, &env);
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

fn flags(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// A server on 127.0.0.1: `/cube/*` counts its requests in `hits` and
/// answers 404; `/to-loopback` and `/to-other` redirect to `/cube/x` at
/// 127.0.0.1 and 127.0.0.2. Returns its port.
async fn server(hits: Arc<AtomicUsize>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let redirect = |to: String| {
        move || async move { (StatusCode::FOUND, [(header::LOCATION, to)]).into_response() }
    };
    let app = axum::Router::new()
        .route(
            "/cube/{name}",
            get(move || async move {
                hits.fetch_add(1, Ordering::SeqCst);
                StatusCode::NOT_FOUND
            }),
        )
        .route(
            "/to-loopback",
            get(redirect(format!("http://127.0.0.1:{port}/cube/x.cubepkg"))),
        )
        .route(
            "/to-other",
            get(redirect(format!("http://127.0.0.2:{port}/cube/x.cubepkg"))),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

/// A forward proxy that counts what it is asked and answers 404.
async fn proxy(hits: Arc<AtomicUsize>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().fallback(move || async move {
        hits.fetch_add(1, Ordering::SeqCst);
        StatusCode::NOT_FOUND
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installs_from_a_url_refuse_the_hosts_own_network_unless_the_admin_names_the_host() {
    let hits = Arc::new(AtomicUsize::new(0));
    let port = server(hits.clone()).await;

    // The default policy: by literal, by a name that resolves to loopback,
    // and the metadata and private ranges (refused before any connection).
    for (url, class) in [
        (
            format!("http://127.0.0.1:{port}/cube/x.cubepkg"),
            "(loopback)",
        ),
        (format!("http://[::1]:{port}/cube/x.cubepkg"), "(loopback)"),
        (
            format!("http://localhost:{port}/cube/x.cubepkg"),
            "(loopback)",
        ),
        (
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "(cloud-metadata)",
        ),
        ("http://10.0.0.1/x.cubepkg".to_owned(), "(private-network)"),
    ] {
        let (code, err) = install(url.clone(), Vec::new(), Vec::new()).await;
        assert_eq!(code, 1, "{url}: {err}");
        assert!(err.contains(class), "{url}: {err}");
        assert!(
            err.contains("--allow-private-host"),
            "the refusal says what to do: {err}"
        );
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing reached the server");

    // Named by the admin: reached (and it answers 404).
    let by_name = format!("http://localhost:{port}/cube/x.cubepkg");
    let (code, err) = install(
        by_name.clone(),
        flags(&["--allow-private-host", "localhost"]),
        Vec::new(),
    )
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("the server answered 404"), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // Naming a host allows that host, not the address behind it.
    let (_, err) = install(
        format!("http://127.0.0.1:{port}/cube/x.cubepkg"),
        flags(&["--allow-private-host", "localhost"]),
        Vec::new(),
    )
    .await;
    assert!(err.contains("(loopback)"), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // An address can be named too.
    let (_, err) = install(
        format!("http://127.0.0.1:{port}/cube/x.cubepkg"),
        flags(&["--allow-private-host", "127.0.0.1"]),
        Vec::new(),
    )
    .await;
    assert!(err.contains("the server answered 404"), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_an_address_not_allowed_is_refused() {
    let hits = Arc::new(AtomicUsize::new(0));
    let port = server(hits.clone()).await;
    for (path, target) in [
        ("to-loopback", "127.0.0.1 (loopback)"),
        ("to-other", "127.0.0.2 (loopback)"),
    ] {
        let (code, err) = install(
            format!("http://localhost:{port}/{path}"),
            flags(&["--allow-private-host", "localhost"]),
            Vec::new(),
        )
        .await;
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(target), "{path}: {err}");
        assert!(err.contains("--allow-private-host"), "{err}");
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the redirect was not followed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_on_the_hosts_own_network_needs_the_admin_to_name_it() {
    let hits = Arc::new(AtomicUsize::new(0));
    let port = server(hits.clone()).await;
    let data = tempfile::tempdir().unwrap();
    let registry = format!("http://127.0.0.1:{port}/cube");
    let dir = data.path().to_str().unwrap().to_owned();
    let run = |extra: &'static [&'static str]| {
        let (registry, dir) = (registry.clone(), dir.clone());
        tokio::task::spawn_blocking(move || {
            let mut args = vec![
                "plugin",
                "install",
                "jira",
                "--registry",
                &registry,
                "--data-dir",
                &dir,
            ];
            args.extend(extra);
            cube(&args, &[])
        })
    };
    let refused = run(&[]).await.unwrap();
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(err.contains("(loopback)"), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    let allowed = run(&["--allow-private-host", "127.0.0.1"]).await.unwrap();
    let err = String::from_utf8_lossy(&allowed.stderr);
    assert!(err.contains("has no index.json"), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 1, "the index was asked for");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_proxy_is_taken_from_the_environment_only_the_configured_one() {
    let (hits, proxied) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let port = server(hits.clone()).await;
    let proxy_port = proxy(proxied.clone()).await;
    let proxy_url = format!("http://127.0.0.1:{proxy_port}");
    let url = format!("http://localhost:{port}/cube/x.cubepkg");
    let env: Vec<(String, String)> = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"]
        .iter()
        .map(|name| (name.to_string(), proxy_url.clone()))
        .collect();

    let (_, err) = install(
        url.clone(),
        flags(&["--allow-private-host", "localhost"]),
        env,
    )
    .await;
    assert!(err.contains("the server answered 404"), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 1, "sent directly");
    assert_eq!(
        proxied.load(Ordering::SeqCst),
        0,
        "not to the environment's proxy"
    );

    let (_, err) = install(
        url,
        flags(&[
            "--allow-private-host",
            "localhost",
            "--outbound-proxy",
            &proxy_url,
        ]),
        Vec::new(),
    )
    .await;
    assert!(err.contains("the server answered 404"), "{err}");
    assert_eq!(proxied.load(Ordering::SeqCst), 1, "sent through the proxy");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_cannot_point_the_marketplace_at_the_hosts_own_network() {
    let hits = Arc::new(AtomicUsize::new(0));
    let port = server(hits.clone()).await;
    let catalog = cube_host::web::Catalog::new();
    catalog
        .clone()
        .load_dirs(common::runtime(), Vec::new())
        .await;
    // The default policy: no private host named.
    let (base, _store, _dir) = common::serve_admin_app_reaching(catalog, &[]).await;
    let url = format!("http://127.0.0.1:{port}/cube/x.cubepkg");

    let (mut admin, csrf) = common::sign_in_admin(&base).await;
    let page = admin
        .post("/marketplace/url", &[("csrf_token", &csrf), ("url", &url)])
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(page.body.contains("allow-private-host"), "{}", page.body);

    let api = Api::sign_in(&base, "admin", common::ADMIN_PASSWORD).await;
    let (status, answer) = api
        .json(
            Method::POST,
            "/api/v1/marketplace/install",
            Some(json!({"url": format!("http://localhost:{port}/cube/x.cubepkg")})),
        )
        .await;
    assert!(status.is_client_error(), "{status} {answer}");
    assert!(answer.to_string().contains("(loopback)"), "{answer}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing reached the server");
}
