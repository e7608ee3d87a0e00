//! A fake of a generic REST API for the REST connector's tests
//! (`host/tests/connectors/rest_*.rs`), and the admin app with the `rest`
//! connector those tests drive through its API. The fake checks each
//! authentication style (basic, bearer, API key in a header or the query,
//! OAuth2 client credentials with tokens that run out), pages in each style
//! (page numbers, offsets, a cursor in the body, `Link` headers), filters
//! by an `updated_since` parameter, takes pushes (`POST /items`,
//! `PUT /items/{id}`), can answer a storm of 429s and can answer JSON that
//! does not parse; it records every request it was sent.

use std::sync::MutexGuard;

use axum::body::Body;
use axum::http::request::Parts;
use axum::response::Response;
use base64::Engine;
use serde_json::{Value, json};

use crate::connector_setup::ConnectorApp;
pub use crate::fake_http::RecordedRequest;
use crate::fake_http::{FakeHttp, Respond};

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
    pub requests: Vec<RecordedRequest>,
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

/// The decoded pairs of a query string or form body.
fn parse_query(query: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(query).expect("a well-formed query")
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

impl Respond for Inner {
    fn respond(&mut self, parts: &Parts, body: &[u8]) -> Response {
        let body = String::from_utf8_lossy(body).into_owned();
        let query = parse_query(parts.uri.query().unwrap_or(""));
        let reply = self.serve(
            parts.method.as_str(),
            parts.uri.path(),
            &query,
            &parts.headers,
            &body,
        );
        self.requests.push(RecordedRequest {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query,
            status: reply.status,
            body,
        });
        let mut response = Response::builder()
            .status(reply.status)
            .header("content-type", "application/json");
        for (name, value) in reply.headers {
            response = response.header(name, value);
        }
        response.body(Body::from(reply.body)).unwrap()
    }
}

/// The fake API on 127.0.0.1; it stops when dropped.
pub struct FakeApi {
    http: FakeHttp<Inner>,
    /// `http://127.0.0.1:PORT`
    pub base: String,
}

impl FakeApi {
    pub async fn start(auth: Scheme) -> FakeApi {
        let http = FakeHttp::start(|base| Inner {
            base,
            auth,
            items: Vec::new(),
            next_id: 0,
            clock: 0,
            tokens_issued: 0,
            valid_tokens: Vec::new(),
            rate_limit_next: 0,
            requests: Vec::new(),
        })
        .await;
        FakeApi {
            base: http.base_url().to_owned(),
            http,
        }
    }

    pub fn st(&self) -> MutexGuard<'_, Inner> {
        self.http.state()
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

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.st().requests.clone()
    }

    pub fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }
}

/// The admin app with the `rest` connector.
pub struct App {
    pub app: ConnectorApp,
}

impl std::ops::Deref for App {
    type Target = ConnectorApp;

    fn deref(&self) -> &ConnectorApp {
        &self.app
    }
}

pub async fn app() -> App {
    App {
        app: ConnectorApp::start("rest").await,
    }
}

impl App {
    /// An integration on `fake` with `config` (the base URL added).
    pub async fn integration(&self, name: &str, fake: &FakeApi, config: Value) -> i64 {
        let mut config = config;
        config["base_url"] = json!(fake.base);
        self.app.create_integration(name, config, &fake.base).await
    }
}

pub fn paged(path: &str) -> Value {
    json!({"list_path": path, "records_pointer": "/data/items", "pagination": "page",
           "page_size": 20, "updated_field": "/updated"})
}
