//! The generic REST connector in the real host against a local API that
//! checks each authentication style (basic, bearer, API key in a header or
//! the query, OAuth2 client credentials with tokens that run out), pages in
//! each style (page numbers, offsets, a cursor in the body, `Link`
//! headers), filters by an `updated_since` parameter, takes pushes
//! (`POST /items`, `PUT /items/{id}`), can answer a storm of 429s and can
//! answer JSON that does not parse.

mod common;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use base64::Engine;
use cube_host::store::Store;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use common::ADMIN_PASSWORD;
use common::client::Api;
use common::eventually;

const USER: &str = "cube";
const PASSWORD: &str = "pa:ss w0rd";
const TOKEN: &str = "static-bearer-token";
const KEY: &str = "key-123";
const CLIENT_ID: &str = "cube-client";
const CLIENT_SECRET: &str = "client-s3cret";

/// The authentication the fake API asks of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scheme {
    None,
    Basic,
    Bearer,
    KeyHeader,
    KeyQuery,
    OAuth,
}

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    status: u16,
    body: String,
}

impl Seen {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

struct Inner {
    base: String,
    auth: Scheme,
    /// `{"id", "title", "status", "updated"}`, by id.
    items: Vec<Value>,
    next_id: u64,
    /// The change counter `updated` values come from.
    clock: u64,
    tokens_issued: u32,
    valid_tokens: Vec<String>,
    rate_limit_next: u32,
    requests: Vec<Seen>,
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

struct FakeApi {
    state: Shared,
    base: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeApi {
    async fn start(auth: Scheme) -> FakeApi {
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

    fn st(&self) -> MutexGuard<'_, Inner> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `n` items, each changed at its own tick.
    fn add_items(&self, n: usize) {
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
    fn edit(&self, id: u64, title: &str) {
        let mut st = self.st();
        st.clock += 1;
        let clock = st.clock;
        let item = st.items.iter_mut().find(|i| i["id"] == id).unwrap();
        item["title"] = json!(title);
        item["updated"] = json!(clock);
    }

    fn item(&self, id: &str) -> Option<Value> {
        self.st()
            .items
            .iter()
            .find(|i| id.parse::<u64>().is_ok_and(|id| i["id"] == id))
            .cloned()
    }

    fn requests(&self) -> Vec<Seen> {
        self.st().requests.clone()
    }

    fn requests_to(&self, path: &str) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }
}

struct App {
    api: Api,
    store: Store,
    _dir: tempfile::TempDir,
}

async fn app() -> App {
    let catalog = common::plugin_catalog(&["rest"]).await;
    let (base, store, dir) = common::serve_admin_app(catalog).await;
    let api = Api::sign_in(&base, "admin", ADMIN_PASSWORD).await;
    App {
        api,
        store,
        _dir: dir,
    }
}

impl App {
    /// An integration on `fake` with `config` (the base URL added).
    async fn integration(&self, name: &str, fake: &FakeApi, config: Value) -> i64 {
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
    async fn sync(&self, integration: i64, full: bool) -> Value {
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

    async fn test(&self, integration: i64) -> Value {
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

fn paged(path: &str) -> Value {
    json!({"list_path": path, "records_pointer": "/data/items", "pagination": "page",
           "page_size": 20, "updated_field": "/updated"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_auth_style_is_sent_as_the_api_expects() {
    let app = app().await;
    let cases = [
        (
            Scheme::Basic,
            json!({"auth": "basic", "username": USER, "password": PASSWORD}),
        ),
        (Scheme::Bearer, json!({"auth": "bearer", "token": TOKEN})),
        (
            Scheme::KeyHeader,
            json!({"auth": "api-key", "api_key_name": "X-API-Key", "api_key_in": "header", "api_key": KEY}),
        ),
        (
            Scheme::KeyQuery,
            json!({"auth": "api-key", "api_key_name": "api_key", "api_key_in": "query", "api_key": KEY}),
        ),
    ];
    for (auth, credentials) in cases {
        let fake = FakeApi::start(auth).await;
        fake.add_items(30);
        let mut config = paged("/page/items");
        for (k, v) in credentials.as_object().unwrap() {
            config[k] = v.clone();
        }
        config["probe_path"] = json!("/me");
        let id = app.integration(&format!("{auth:?}"), &fake, config).await;
        let verdict = app.test(id).await;
        assert_eq!(verdict["ok"], true, "{auth:?}: {verdict}");
        assert!(
            verdict.to_string().contains("the first page of"),
            "{verdict}"
        );
        let log = app.sync(id, true).await;
        assert_eq!(log["status"], "succeeded", "{auth:?}: {log}");
        assert_eq!(log["counts"]["created"], 30, "{auth:?}: {log}");
        assert!(
            fake.requests().iter().all(|r| r.status == 200),
            "{auth:?}: {:?}",
            fake.requests()
        );
    }

    // Wrong credentials are refused, named, and no secret shows.
    let fake = FakeApi::start(Scheme::Bearer).await;
    let mut config = paged("/page/items");
    config["auth"] = json!("bearer");
    config["token"] = json!("not-the-token");
    let id = app.integration("wrong", &fake, config).await;
    let verdict = app.test(id).await;
    assert_eq!(verdict["ok"], false, "{verdict}");
    assert!(verdict.to_string().contains("401"), "{verdict}");
    let log = app.sync(id, true).await;
    assert_eq!(log["status"], "failed", "{log}");
    assert!(log.to_string().contains("401"), "{log}");
    assert!(!log.to_string().contains("not-the-token"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_oauth_token_is_refreshed_after_a_401() {
    let app = app().await;
    let fake = FakeApi::start(Scheme::OAuth).await;
    fake.add_items(50);
    let mut config = paged("/page/items");
    for (k, v) in json!({"auth": "oauth2-client-credentials", "token_url": "/oauth/token",
                         "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                         "scope": "items:read items:write"})
    .as_object()
    .unwrap()
    {
        config[k] = v.clone();
    }
    let id = app.integration("OAuth", &fake, config).await;
    let log = app.sync(id, true).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(log["counts"]["created"], 50, "{log}");
    assert_eq!(fake.st().tokens_issued, 1, "one token for every page");
    let log = app.sync(id, false).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(
        fake.st().tokens_issued,
        1,
        "the token is kept between calls"
    );

    // The API drops the token: the next request is refused, a new token is
    // fetched and the request repeated.
    fake.st().valid_tokens.clear();
    fake.edit(7, "Changed after the token expired");
    let log = app.sync(id, false).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(log["counts"]["updated"], 1, "{log}");
    assert_eq!(fake.st().tokens_issued, 2);
    assert_eq!(
        fake.requests().iter().filter(|r| r.status == 401).count(),
        1
    );
    let grants = fake.requests_to("/oauth/token");
    assert!(
        grants
            .iter()
            .all(|g| g.body.contains("grant_type=client_credentials")),
        "{grants:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pagination_style_reads_every_record() {
    let app = app().await;
    let fake = FakeApi::start(Scheme::None).await;
    fake.add_items(250);
    let styles = [
        ("/page/items", paged("/page/items")),
        (
            "/offset/items",
            json!({"list_path": "/offset/items", "pagination": "offset", "offset_param": "offset",
                   "size_param": "limit", "page_size": 40}),
        ),
        (
            "/cursor/items",
            json!({"list_path": "/cursor/items", "records_pointer": "/results", "pagination": "cursor",
                   "cursor_param": "after", "cursor_pointer": "/meta/next", "size_param": "limit",
                   "page_size": 40}),
        ),
        (
            "/link/items",
            json!({"list_path": "/link/items", "pagination": "link", "size_param": "per_page",
                   "page_size": 40}),
        ),
    ];
    for (path, config) in styles {
        let id = app.integration(path, &fake, config).await;
        let log = app.sync(id, true).await;
        assert_eq!(log["status"], "succeeded", "{path}: {log}");
        assert_eq!(log["counts"]["created"], 250, "{path}: {log}");
        let requests = fake.requests_to(path);
        assert!(requests.len() >= 7, "{path}: {} requests", requests.len());
        assert!(requests.iter().all(|r| r.status == 200), "{requests:?}");
    }
    // Each style sent its own parameters.
    let page = fake.requests_to("/page/items");
    assert_eq!(
        (page[1].param("page"), page[1].param("per_page")),
        (Some("2"), Some("20"))
    );
    assert_eq!(page.len(), 14, "13 pages and an empty one");
    let offset = fake.requests_to("/offset/items");
    assert_eq!(offset[1].param("offset"), Some("40"));
    let cursor = fake.requests_to("/cursor/items");
    assert_eq!(cursor[0].param("after"), None);
    assert_eq!(cursor[1].param("after"), Some("id-40"));
    assert_eq!(cursor.len(), 7);
    let link = fake.requests_to("/link/items");
    assert_eq!(link.len(), 7, "no request after the last rel=next");
    assert_eq!(link[6].param("page"), Some("7"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_sync_asks_only_for_what_changed() {
    let app = app().await;
    let fake = FakeApi::start(Scheme::None).await;
    fake.add_items(120);
    let mut config = paged("/page/items");
    config["incremental_param"] = json!("updated_since");
    let id = app.integration("Incremental", &fake, config).await;
    let log = app.sync(id, true).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(log["counts"]["created"], 120, "{log}");
    assert!(
        fake.requests_to("/page/items")
            .iter()
            .all(|r| r.param("updated_since").is_none()),
        "a full sync asks for everything"
    );

    fake.edit(3, "Changed remotely");
    fake.edit(99, "Changed remotely too");
    fake.add_items(1);
    let before = fake.requests().len();
    let log = app.sync(id, false).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(log["counts"]["created"], 1, "{log}");
    assert_eq!(log["counts"]["updated"], 2, "{log}");
    let incremental: Vec<Seen> = fake.requests()[before..].to_vec();
    assert_eq!(incremental.len(), 2, "one page and an empty one");
    assert!(
        incremental
            .iter()
            .all(|r| r.param("updated_since") == Some("120")),
        "{incremental:?}"
    );

    // Nothing changed since: one empty page, and the mark stays.
    let before = fake.requests().len();
    let log = app.sync(id, false).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(log["counts"]["created"], 0, "{log}");
    let again = &fake.requests()[before..];
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].param("updated_since"), Some("123"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_create_with_post_and_update_with_put() {
    let app = app().await;
    let fake = FakeApi::start(Scheme::Bearer).await;
    let config = json!({
        "auth": "bearer", "token": TOKEN,
        "list_path": "/offset/items", "pagination": "offset", "size_param": "limit",
        "updated_field": "/updated", "kind": "work-order",
        "push_url_template": "/items{% if external_id %}/{{ external_id | urlencode }}{% endif %}",
        "push_body_template": "{\"title\": {{ fields.title | tojson }}, \"status\": {{ fields.status | tojson }}, \"source\": \"cube-{{ local_id }}\"}",
        "push_id_pointer": "/item/id"
    });
    let integration = app.integration("Push", &fake, config).await;
    let verdict = app.test(integration).await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert!(
        verdict.to_string().contains("the push templates compile"),
        "{verdict}"
    );

    let (status, created) = app
        .api
        .json(
            Method::POST,
            "/api/v1/work-orders",
            Some(
                json!({"title": "Pump 4 leaks", "description": "Seal worn.", "priority": "high",
                        "status": "open"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let order = created["id"].as_i64().unwrap();
    let remote_id = eventually("the work order's push", async || {
        app.store
            .work_order_links(order)
            .await
            .unwrap()
            .pop()
            .map(|l| l.external_id)
    })
    .await;
    let item = fake.item(&remote_id).expect("the item exists");
    assert_eq!(item["title"], "Pump 4 leaks");
    assert_eq!(item["status"], "open");
    assert_eq!(item["source"], format!("cube-{order}"));
    let post = fake.requests_to("/items").pop().unwrap();
    assert_eq!(post.method, "POST");

    let (status, _) = app
        .api
        .json(
            Method::PUT,
            &format!("/api/v1/work-orders/{order}"),
            Some(json!({"title": "Pump 4 leaks badly", "description": "Seal worn.", "priority": "high",
                        "status": "in_progress"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    eventually("the update", async || {
        let item = fake.item(&remote_id)?;
        (item["title"] == "Pump 4 leaks badly" && item["status"] == "in_progress").then_some(())
    })
    .await;
    let put = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .unwrap();
    assert_eq!(put.path, format!("/items/{remote_id}"));
    assert_eq!(put.status, 200);
    eventually("both pushes done", async || {
        let pushes = app.store.pushes_of(order).await.unwrap();
        (pushes.len() == 2 && pushes.iter().all(|p| p.status == "done")).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_429s_is_waited_out() {
    let app = app().await;
    let fake = FakeApi::start(Scheme::None).await;
    fake.add_items(60);
    let id = app.integration("Storm", &fake, paged("/page/items")).await;
    fake.st().rate_limit_next = 3;
    let log = app.sync(id, true).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(log["counts"]["created"], 60, "{log}");
    assert_eq!(
        fake.requests().iter().filter(|r| r.status == 429).count(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_named_in_the_sync_log() {
    let app = app().await;
    let fake = FakeApi::start(Scheme::None).await;
    fake.add_items(5);
    let broken = app
        .integration(
            "Broken",
            &fake,
            json!({"list_path": "/broken/items", "records_pointer": "/data"}),
        )
        .await;
    let log = app.sync(broken, true).await;
    assert_eq!(log["status"], "failed", "{log}");
    let text = log.to_string();
    assert!(
        text.contains("/broken/items is not valid JSON") && text.contains("line 1 column"),
        "{log}"
    );
    // Failed for good: a parse error is not retried.
    assert_eq!(fake.requests_to("/broken/items").len(), 1);

    // The host carries on.
    let fine = app.integration("Fine", &fake, paged("/page/items")).await;
    let log = app.sync(fine, true).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(log["counts"]["created"], 5, "{log}");
}
