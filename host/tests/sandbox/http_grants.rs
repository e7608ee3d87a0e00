//! The `http` capability reaches granted destinations and nothing else:
//! ungranted hosts, names that resolve to loopback without an explicit
//! grant, and redirects out of the grant are denied with the host named.

use cube_test_support as common;

use std::net::SocketAddr;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use cube_host::runtime::{CallError, ConnectorError, HttpGrant, Limits, Runtime};

/// A real HTTP server on 127.0.0.1 with a few routes.
async fn serve() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/hello", get(|| async { "hello from the test server" }))
        .route(
            "/hop",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/hello")]) }),
        )
        .route(
            "/escape",
            get(move || async move {
                let to = format!("http://evil.example:{}/steal", addr.port());
                (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
            }),
        )
        .route(
            "/to-localhost",
            get(move || async move {
                let to = format!("http://localhost:{}/hello", addr.port());
                (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, to)]).into_response()
            }),
        )
        .route("/big", get(|| async { "x".repeat(10_000) }))
        .route(
            "/echo-auth",
            get(|headers: HeaderMap| async move {
                headers
                    .get(header::AUTHORIZATION)
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default()
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn fetch_limited(
    runtime: &Runtime,
    grants: Vec<HttpGrant>,
    limits: Limits,
    url: &str,
) -> Result<String, CallError> {
    let probe = common::probe(runtime);
    let ctx = runtime
        .context("http-test")
        .with_http_grants(grants)
        .with_limits(limits);
    let config = serde_json::json!({"action": "fetch", "url": url}).to_string();
    probe.test_connection(&ctx, &config).await.result
}

/// [`fetch_limited`] under the default limits.
async fn fetch(runtime: &Runtime, grants: Vec<HttpGrant>, url: &str) -> Result<String, CallError> {
    fetch_limited(runtime, grants, Limits::default(), url).await
}

/// The message of the denial [`fetch`]ing `url` meets.
async fn denied(runtime: &Runtime, grants: Vec<HttpGrant>, url: &str) -> String {
    match fetch(runtime, grants, url).await {
        Err(CallError::Connector(ConnectorError::Config(message))) => {
            assert!(message.starts_with("not allowed:"), "{message}");
            message
        }
        other => panic!("expected a denial, got {other:?}"),
    }
}

fn grant(pattern: &str) -> HttpGrant {
    pattern.parse().unwrap()
}

/// The grant of the server at `addr`, by its address.
fn loopback_grant(addr: SocketAddr) -> HttpGrant {
    grant(&format!("http://127.0.0.1:{}", addr.port()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicitly_granted_loopback_server_is_reached() {
    let addr = serve().await;
    let runtime = common::runtime();
    let body = fetch(
        &runtime,
        vec![loopback_grant(addr)],
        &format!("http://127.0.0.1:{}/hello", addr.port()),
    )
    .await
    .unwrap();
    assert_eq!(body, "200 hello from the test server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ungranted_host_is_denied_by_name() {
    let addr = serve().await;
    let runtime = common::runtime();
    let message = denied(
        &runtime,
        vec![loopback_grant(addr)],
        "http://api.ungranted.example/data",
    )
    .await;
    assert!(
        message.contains("http://api.ungranted.example:80 is not granted"),
        "{message}"
    );
    assert!(
        message.contains(&format!("granted: http://127.0.0.1:{}", addr.port())),
        "{message}"
    );

    // Same host, other port: also outside the grant.
    let other_port = denied(
        &runtime,
        vec![loopback_grant(addr)],
        &format!("http://127.0.0.1:{}/hello", addr.port() + 1),
    )
    .await;
    assert!(
        other_port.contains(&format!("127.0.0.1:{}", addr.port() + 1)),
        "{other_port}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_name_resolving_to_loopback_needs_an_explicit_grant() {
    let addr = serve().await;
    let runtime = common::runtime();
    let url = format!("http://localhost:{}/hello", addr.port());
    let name_grant = grant(&format!("http://localhost:{}", addr.port()));

    let message = denied(&runtime, vec![name_grant.clone()], &url).await;
    assert!(message.contains("localhost resolves to"), "{message}");
    assert!(message.contains("(loopback)"), "{message}");

    let body = fetch(&runtime, vec![name_grant.allow_private(true)], &url)
        .await
        .unwrap();
    assert_eq!(body, "200 hello from the test server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ip_literal_grant_does_not_reach_other_private_addresses() {
    let addr = serve().await;
    let runtime = common::runtime();
    // The wildcard host matches names only; an IP in the URL needs its own grant.
    let message = denied(
        &runtime,
        vec![grant("http://*:*")],
        &format!("http://127.0.0.1:{}/hello", addr.port()),
    )
    .await;
    assert!(message.contains("127.0.0.1"), "{message}");
    // Cloud metadata is never reached through a grant that does not name it.
    let metadata = denied(
        &runtime,
        vec![grant("http://*:*").allow_private(true)],
        "http://169.254.169.254/latest/meta-data/",
    )
    .await;
    assert!(metadata.contains("169.254.169.254"), "{metadata}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_followed_inside_the_grant_only() {
    let addr = serve().await;
    let runtime = common::runtime();
    let grants = vec![loopback_grant(addr)];
    let base = format!("http://127.0.0.1:{}", addr.port());

    let body = fetch(&runtime, grants.clone(), &format!("{base}/hop"))
        .await
        .unwrap();
    assert_eq!(body, "200 hello from the test server");

    let message = denied(&runtime, grants.clone(), &format!("{base}/escape")).await;
    assert!(
        message.contains(&format!(
            "a redirect to http://evil.example:{}",
            addr.port()
        )),
        "{message}"
    );

    // A redirect to a name that resolves to loopback is checked like any request.
    let with_name = vec![
        grants[0].clone(),
        grant(&format!("http://localhost:{}", addr.port())),
    ];
    let message = denied(&runtime, with_name, &format!("{base}/to-localhost")).await;
    assert!(message.contains("localhost resolves to"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_size_and_request_count_are_capped() {
    let addr = serve().await;
    let runtime = common::runtime();
    let grants = vec![loopback_grant(addr)];
    let base = format!("http://127.0.0.1:{}", addr.port());

    let small = Limits {
        http_response_bytes: 1_000,
        ..Limits::default()
    };
    match fetch_limited(&runtime, grants.clone(), small, &format!("{base}/big")).await {
        Err(CallError::Connector(ConnectorError::Fatal(m))) => {
            assert!(
                m.contains("larger than this integration's limit of 1000 bytes"),
                "{m}"
            )
        }
        other => panic!("expected too-large, got {other:?}"),
    }

    let one_request = Limits {
        http_requests: 1,
        ..Limits::default()
    };
    match fetch_limited(&runtime, grants, one_request, &format!("{base}/hop")).await {
        Err(CallError::Connector(ConnectorError::Fatal(m))) => {
            assert!(m.contains("at most 1 HTTP requests"), "{m}")
        }
        other => panic!("expected the request limit, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_granted_server_is_a_retryable_error() {
    let port = common::closed_port();
    let runtime = common::runtime();
    let result = fetch(
        &runtime,
        vec![grant(&format!("http://127.0.0.1:{port}"))],
        &format!("http://127.0.0.1:{port}/"),
    )
    .await;
    match result {
        Err(CallError::Connector(e @ ConnectorError::Unreachable(_))) => {
            assert!(e.is_retryable());
            assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
        }
        other => panic!("expected unreachable, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowing_private_addresses_is_per_grant() {
    let (intranet, other) = (serve().await, serve().await);
    let runtime = common::runtime();
    // Two grants of one integration; only the first may reach private
    // addresses (both servers are on 127.0.0.1, reached by name).
    let grants = vec![
        grant(&format!("http://localhost:{}", intranet.port())).allow_private(true),
        grant(&format!("http://localhost:{}", other.port())),
    ];
    let body = fetch(
        &runtime,
        grants.clone(),
        &format!("http://localhost:{}/hello", intranet.port()),
    )
    .await
    .unwrap();
    assert_eq!(body, "200 hello from the test server");
    let message = denied(
        &runtime,
        grants,
        &format!("http://localhost:{}/hello", other.port()),
    )
    .await;
    assert!(message.contains("localhost resolves to"), "{message}");
    assert!(message.contains("(loopback)"), "{message}");
}
