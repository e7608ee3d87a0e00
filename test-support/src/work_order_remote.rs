//! The remote system the work order tests push to through the probe
//! connector (`host/tests/work_order*.rs`): a local server that keeps what
//! it was sent, answers with ids and versions, and fails or refuses writes
//! on demand; and delivering a signed body to the probe's webhook endpoint
//! as that remote would.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use cube_host::webhooks::signature::sign_cube;
use serde_json::{Value, json};

/// The remote system: keeps what it was sent, answers with ids and
/// versions, and fails writes with 503 while `failing` is set.
#[derive(Clone, Default)]
pub struct Remote {
    pub received: Arc<Mutex<Vec<(String, String, Value)>>>,
    pub failing: Arc<Mutex<bool>>,
    /// Refuses writes of items with 400 (a push that fails for good).
    pub refusing: Arc<Mutex<bool>>,
    pub writes: Arc<Mutex<u32>>,
}

/// `POST /comments`: kept, as `("POST", "comment", body)`.
pub async fn remote_comment(State(remote): State<Remote>, body: String) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    remote
        .received
        .lock()
        .unwrap()
        .push(("POST".into(), "comment".into(), body));
    axum::Json(json!({})).into_response()
}

pub async fn remote_write(
    State(remote): State<Remote>,
    method: Method,
    path: Option<Path<String>>,
    body: String,
) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let id = path.map_or("R-1".to_owned(), |Path(id)| id);
    remote
        .received
        .lock()
        .unwrap()
        .push((method.to_string(), id.clone(), body));
    if *remote.refusing.lock().unwrap() {
        return (StatusCode::BAD_REQUEST, "no such project").into_response();
    }
    if *remote.failing.lock().unwrap() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "1".parse().unwrap());
        return (StatusCode::SERVICE_UNAVAILABLE, headers, "maintenance").into_response();
    }
    let mut writes = remote.writes.lock().unwrap();
    *writes += 1;
    axum::Json(json!({"id": id, "version": format!("v{writes}")})).into_response()
}

pub async fn start_remote() -> (String, Remote) {
    let remote = Remote::default();
    let app = axum::Router::new()
        .route("/items", axum::routing::post(remote_write))
        .route(
            "/items/{id}",
            axum::routing::put(remote_write).delete(remote_write),
        )
        .route("/comments", axum::routing::post(remote_comment))
        .with_state(remote.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, remote)
}

/// Delivers a body the probe's webhook handler reads.
pub async fn deliver(url: &str, secret: &str, delivery: &str, body: Value) -> StatusCode {
    let body = body.to_string();
    let ts = cube_host::store::now_millis() / 1000;
    reqwest::Client::new()
        .post(url)
        .header("x-cube-timestamp", ts.to_string())
        .header("x-cube-delivery", delivery)
        .header(
            "x-cube-signature",
            sign_cube(secret.as_bytes(), ts, delivery, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}
