//! A fake of a generic REST API for the REST connector's tests
//! (`host/tests/rest_*.rs`), and the admin app with the `rest` connector
//! those tests drive through its API. The fake checks each authentication
//! style (basic, bearer, API key in a header or the query, OAuth2 client
//! credentials with tokens that run out), pages in each style (page
//! numbers, offsets, a cursor in the body, `Link` headers), filters by an
//! `updated_since` parameter, takes pushes (`POST /items`,
//! `PUT /items/{id}`), can answer a storm of 429s and can answer JSON that
//! does not parse; it records every request it was sent.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use base64::Engine;
use cube_host::store::Store;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::ADMIN_PASSWORD;
use crate::client::Api;

pub const USER: &str = "cube";
pub const PASSWORD: &str = "pa:ss w0rd";
pub const TOKEN: &str = "static-bearer-token";
pub const KEY: &str = "key-123";
pub const CLIENT_ID: &str = "cube-client";
pub const CLIENT_SECRET: &str = "client-s3cret";

/// The authentication the fake API asks of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    None,
    Basic,
    Bearer,
    KeyHeader,
    KeyQuery,
    OAuth,
}

#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub status: u16,
    pub body: String,
}

impl Seen {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

pub struct Inner {
    pub base: String,
    pub auth: Scheme,
    /// `{"id", "title", "status", "updated"}`, by id.
    pub items: Vec<Value>,
    pub next_id: u64,
    /// The change counter `updated` values come from.
    pub clock: u64,
    pub tokens_issued: u32,
    pub valid_tokens: Vec<String>,
    pub rate_limit_next: u32,
    pub requests: Vec<Seen>,
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

fn reply(status: u16, body: Value) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: body.to_string(),
    }
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(n), decode(v))
        })
        .collect()
}

impl Inner {
    fn authorized(&self, headers: &axum::http::HeaderMap, query: &[(String, String)]) -> bool {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let basic = |user: &str, password: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )
        };
        match self.auth {
            Scheme::None => true,
            Scheme::Basic => header("authorization") == Some(basic(USER, PASSWORD).as_str()),
            Scheme::Bearer => header("authorization") == Some(format!("Bearer {TOKEN}").as_str()),
            Scheme::KeyHeader => header("x-api-key") == Some(KEY),
            Scheme::KeyQuery => {
                query
                    .iter()
                    .filter(|(n, v)| n == "api_key" && v == KEY)
                    .count()
                    == 1
            }
            Scheme::OAuth => header("authorization")
                .and_then(|h| h.strip_prefix("Bearer "))
                .is_some_and(|t| self.valid_tokens.iter().any(|v| v == t)),
        }
    }

    fn token(&mut self, headers: &axum::http::HeaderMap, body: &str) -> Reply {
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
        );
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
            return reply(401, json!({"error": "invalid_client"}));
        }
        let form = parse_query(body);
        if !form.contains(&("grant_type".into(), "client_credentials".into()))
            || !form.contains(&("scope".into(), "items:read items:write".into()))
        {
            return reply(
                400,
                json!({"error": "invalid_request", "error_description": body}),
            );
        }
        self.tokens_issued += 1;
        let token = format!("oauth-token-{}", self.tokens_issued);
        self.valid_tokens.push(token.clone());
        reply(
            200,
            json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600}),
        )
    }

    /// The items changed after `updated_since`, by id.
    fn listed(&self, query: &[(String, String)]) -> Vec<Value> {
        let since: Option<u64> = query
            .iter()
            .find(|(n, _)| n == "updated_since")
            .map(|(_, v)| v.parse().expect("updated_since is a number"));
        self.items
            .iter()
            .filter(|i| since.is_none_or(|s| i["updated"].as_u64().unwrap() > s))
            .cloned()
            .collect()
    }

    fn serve(
        &mut self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        headers: &axum::http::HeaderMap,
        body: &str,
    ) -> Reply {
        if path == "/oauth/token" && method == "POST" {
            return self.token(headers, body);
        }
        if self.rate_limit_next > 0 {
            self.rate_limit_next -= 1;
            let mut r = reply(429, json!({"error": "slow down"}));
            r.headers.push(("retry-after".into(), "1".into()));
            return r;
        }
        if !self.authorized(headers, query) {
            return reply(401, json!({"error": "unauthorized"}));
        }
        let param = |name: &str| -> Option<usize> {
            query
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.parse().unwrap())
        };
        match (method, path) {
            ("GET", "/me") => reply(200, json!({"name": USER})),
            ("GET", "/page/items") => {
                let (page, size) = (param("page").unwrap(), param("per_page").unwrap());
                let rows: Vec<Value> = self
                    .listed(query)
                    .into_iter()
                    .skip((page - 1) * size)
                    .take(size)
                    .collect();
                reply(200, json!({"data": {"items": rows, "page": page}}))
            }
            ("GET", "/offset/items") => {
                let (offset, limit) = (param("offset").unwrap(), param("limit").unwrap());
                let rows: Vec<Value> = self
                    .listed(query)
                    .into_iter()
                    .skip(offset)
                    .take(limit)
                    .collect();
                reply(200, json!(rows))
            }
            ("GET", "/cursor/items") => {
                let limit = param("limit").unwrap();
                let after: u64 = query
                    .iter()
                    .find(|(n, _)| n == "after")
                    .map_or(0, |(_, v)| v.strip_prefix("id-").unwrap().parse().unwrap());
                let rest: Vec<Value> = self
                    .listed(query)
                    .into_iter()
                    .filter(|i| i["id"].as_u64().unwrap() > after)
                    .collect();
                let rows: Vec<Value> = rest.iter().take(limit).cloned().collect();
                let next = if rest.len() > limit {
                    json!(format!("id-{}", rows.last().unwrap()["id"]))
                } else {
                    Value::Null
                };
                reply(200, json!({"results": rows, "meta": {"next": next}}))
            }
            ("GET", "/link/items") => {
                let (page, size) = (param("page").unwrap_or(1), param("per_page").unwrap());
                let all = self.listed(query);
                let rows: Vec<Value> = all
                    .iter()
                    .skip((page - 1) * size)
                    .take(size)
                    .cloned()
                    .collect();
                let mut r = reply(200, json!(rows));
                let mut links = vec![format!(
                    "<{}/link/items?page=1&per_page={size}>; rel=\"first\"",
                    self.base
                )];
                if page * size < all.len() {
                    links.push(format!(
                        "<{}/link/items?page={}&per_page={size}>; rel=\"next\"",
                        self.base,
                        page + 1
                    ));
                }
                r.headers.push(("link".into(), links.join(", ")));
                r
            }
            ("GET", "/broken/items") => Reply {
                status: 200,
                headers: Vec::new(),
                body: r#"{"data": [{"id": 1, "title": "fine"}, {"id": 2, "title": "broken",}]}"#
                    .into(),
            },
            ("POST", "/items") => {
                let Ok(Value::Object(mut fields)) = serde_json::from_str::<Value>(body) else {
                    return reply(400, json!({"error": "the body is not a JSON object"}));
                };
                self.clock += 1;
                self.next_id += 1;
                fields.insert("id".into(), json!(self.next_id));
                fields.insert("updated".into(), json!(self.clock));
                let item = Value::Object(fields);
                self.items.push(item.clone());
                reply(201, json!({"item": item}))
            }
            ("PUT", p) if p.starts_with("/items/") => {
                let id: u64 = p["/items/".len()..].parse().unwrap();
                let Ok(Value::Object(mut fields)) = serde_json::from_str::<Value>(body) else {
                    return reply(400, json!({"error": "the body is not a JSON object"}));
                };
                let Some(item) = self.items.iter_mut().find(|i| i["id"] == id) else {
                    return reply(404, json!({"error": "no such item"}));
                };
                self.clock += 1;
                fields.insert("id".into(), json!(id));
                fields.insert("updated".into(), json!(self.clock));
                *item = Value::Object(fields);
                reply(200, json!({"item": item.clone()}))
            }
            _ => reply(404, json!({"error": "no such endpoint"})),
        }
    }
}

type Shared = Arc<Mutex<Inner>>;

async fn handle(State(state): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let body = String::from_utf8_lossy(&body).into_owned();
    let query = parse_query(parts.uri.query().unwrap_or(""));
    let reply = {
        let mut st = state.lock().unwrap_or_else(PoisonError::into_inner);
        let reply = st.serve(
            parts.method.as_str(),
            parts.uri.path(),
            &query,
            &parts.headers,
            &body,
        );
        st.requests.push(Seen {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query,
            status: reply.status,
            body,
        });
        reply
    };
    let mut response = Response::builder()
        .status(reply.status)
        .header("content-type", "application/json");
    for (name, value) in reply.headers {
        response = response.header(name, value);
    }
    response.body(Body::from(reply.body)).unwrap()
}

pub struct FakeApi {
    state: Shared,
    pub base: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeApi {
    pub async fn start(auth: Scheme) -> FakeApi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(Inner {
            base: base.clone(),
            auth,
            items: Vec::new(),
            next_id: 0,
            clock: 0,
            tokens_issued: 0,
            valid_tokens: Vec::new(),
            rate_limit_next: 0,
            requests: Vec::new(),
        }));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeApi {
            state,
            base,
            server,
        }
    }

    pub fn st(&self) -> MutexGuard<'_, Inner> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `n` items, each changed at its own tick.
    pub fn add_items(&self, n: usize) {
        let mut st = self.st();
        for _ in 0..n {
            st.clock += 1;
            st.next_id += 1;
            let item = json!({"id": st.next_id, "title": format!("Item {}", st.next_id),
                              "status": "open", "updated": st.clock});
            st.items.push(item);
        }
    }

    /// Changes an item's title remotely.
    pub fn edit(&self, id: u64, title: &str) {
        let mut st = self.st();
        st.clock += 1;
        let clock = st.clock;
        let item = st.items.iter_mut().find(|i| i["id"] == id).unwrap();
        item["title"] = json!(title);
        item["updated"] = json!(clock);
    }

    pub fn item(&self, id: &str) -> Option<Value> {
        self.st()
            .items
            .iter()
            .find(|i| id.parse::<u64>().is_ok_and(|id| i["id"] == id))
            .cloned()
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.st().requests.clone()
    }

    pub fn requests_to(&self, path: &str) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }
}

pub struct App {
    pub api: Api,
    pub store: Store,
    _dir: tempfile::TempDir,
}

pub async fn app() -> App {
    let catalog = crate::plugin_catalog(&["rest"]).await;
    let (base, store, dir) = crate::serve_admin_app(catalog).await;
    let api = Api::sign_in(&base, "admin", ADMIN_PASSWORD).await;
    App {
        api,
        store,
        _dir: dir,
    }
}

impl App {
    /// An integration on `fake` with `config` (the base URL added).
    pub async fn integration(&self, name: &str, fake: &FakeApi, config: Value) -> i64 {
        let mut config = config;
        config["base_url"] = json!(fake.base);
        let (status, created) = self
            .api
            .json(
                Method::POST,
                "/api/v1/integrations",
                Some(json!({"name": name, "connector": "rest", "config": config,
                            "http_grants": [fake.base], "allow_private": true, "enabled": true})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created["id"].as_i64().unwrap()
    }

    /// Runs a sync to its end and returns its log.
    pub async fn sync(&self, integration: i64, full: bool) -> Value {
        let (status, job) = self
            .api
            .json(
                Method::POST,
                &format!("/api/v1/integrations/{integration}/sync"),
                Some(json!({"full": full})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        for _ in 0..1200 {
            if self.store.pending_job(integration).await.unwrap().is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (_, logs) = self
            .api
            .json(
                Method::GET,
                &format!("/api/v1/sync-logs?integration={integration}&operation=sync"),
                None,
            )
            .await;
        logs["sync_logs"][0].clone()
    }

    pub async fn test(&self, integration: i64) -> Value {
        let (status, verdict) = self
            .api
            .json(
                Method::POST,
                &format!("/api/v1/integrations/{integration}/test"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{verdict}");
        verdict
    }
}

pub fn paged(path: &str) -> Value {
    json!({"list_path": path, "records_pointer": "/data/items", "pagination": "page",
           "page_size": 20, "updated_field": "/updated"})
}
