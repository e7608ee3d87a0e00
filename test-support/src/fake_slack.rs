//! A fake Slack for connector tests, following Slack's published API
//! documentation: the Web API methods `auth.test`, `chat.postMessage` and
//! `chat.update` (POST, `Authorization: Bearer <token>`, JSON bodies;
//! HTTP 200 with `{"ok": false, "error": ...}` for failures, HTTP 429 with
//! `Retry-After` for rate limits) and an incoming webhook (POST JSON
//! `{"text", "blocks"}`; `ok` as text, or a 4xx with `invalid_payload`,
//! `no_text`, `invalid_blocks`, `no_service`).
//!
//! Messages are checked against Block Kit's basics: `blocks` an array of at
//! most 50 objects whose `type` is a documented block, text objects
//! `{"type": "mrkdwn" | "plain_text", "text"}`, header text plain text of at
//! most 150 characters, section text at most 3,000 characters, at most 10
//! fields of at most 2,000. What does not fit is answered as Slack would
//! (`invalid_blocks`) and recorded as a violation; tests end with
//! `assert!(fake.violations().is_empty())`.
//!
//! Seed data: the workspace "CUBE Test" (T0CUBE), the bot user `cube`
//! (U0CUBE), channels C0CUBE (the bot is a member) and C0OTHER (it is not).
//! [`slash_command`] signs a slash command with Slack's `v0` scheme.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::response::Response;
use hmac::Mac;
use serde_json::{Value, json};

/// The channel the bot is a member of.
pub const CHANNEL: &str = "C0CUBE";
/// A channel the bot is not a member of.
pub const OTHER_CHANNEL: &str = "C0OTHER";

/// Block types Slack documents for messages.
const BLOCK_TYPES: [&str; 11] = [
    "actions",
    "context",
    "divider",
    "file",
    "header",
    "image",
    "input",
    "markdown",
    "rich_text",
    "section",
    "video",
];

/// A message in a channel.
#[derive(Clone, Debug)]
pub struct Message {
    pub channel: String,
    pub ts: String,
    pub thread_ts: Option<String>,
    pub text: String,
    pub blocks: Value,
    /// How many times `chat.update` edited it.
    pub edits: usize,
}

impl Message {
    /// All the text of its blocks (and its fallback text), for assertions.
    pub fn all_text(&self) -> String {
        let mut out = self.text.clone();
        collect_text(&self.blocks, &mut out);
        out
    }
}

fn collect_text(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(text)) = map.get("text") {
                out.push('\n');
                out.push_str(text);
            }
            for (name, v) in map {
                if name != "text" || !v.is_string() {
                    collect_text(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_text(v, out)),
        _ => {}
    }
}

/// A request as the fake received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
}

struct Inner {
    token: String,
    hook_path: String,
    messages: Vec<Message>,
    hook_posts: Vec<Value>,
    requests: Vec<RecordedRequest>,
    violations: Vec<String>,
    /// Requests still to answer with 429, and the Retry-After to give.
    rate_limited: (u32, u64),
    next_ts: u64,
}

pub struct FakeSlack {
    state: Arc<Mutex<Inner>>,
    base_url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeSlack {
    /// Starts a fake on 127.0.0.1 (a port of its own); it stops when dropped.
    pub async fn start() -> FakeSlack {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(Inner {
            token: "xoxb-1234-5678-cubeTestToken".into(),
            hook_path: "/services/T0CUBE/B0CUBE/qv4fDnXkUxzGfTMoLcE2Ry6a".into(),
            messages: Vec::new(),
            hook_posts: Vec::new(),
            requests: Vec::new(),
            violations: Vec::new(),
            rate_limited: (0, 0),
            next_ts: 1_700_000_000_000_100,
        }));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeSlack {
            state,
            base_url,
            server,
        }
    }

    fn st(&self) -> MutexGuard<'_, Inner> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The Web API's base, as `https://slack.com/api` is for Slack.
    pub fn api_url(&self) -> String {
        format!("{}/api", self.base_url)
    }

    /// The incoming webhook's URL.
    pub fn hook_url(&self) -> String {
        format!("{}{}", self.base_url, self.st().hook_path)
    }

    /// The bot token the fake accepts.
    pub fn token(&self) -> String {
        self.st().token.clone()
    }

    /// Answers the next `n` requests with 429 and `Retry-After: secs`.
    pub fn rate_limit_next(&self, n: u32, secs: u64) {
        self.st().rate_limited = (n, secs);
    }

    /// Messages in channels, top-level and replies, in the order posted.
    pub fn messages(&self) -> Vec<Message> {
        self.st().messages.clone()
    }

    /// The replies in the thread of `ts`.
    pub fn replies(&self, ts: &str) -> Vec<Message> {
        self.st()
            .messages
            .iter()
            .filter(|m| m.thread_ts.as_deref() == Some(ts))
            .cloned()
            .collect()
    }

    /// What was posted to the incoming webhook.
    pub fn hook_posts(&self) -> Vec<Value> {
        self.st().hook_posts.clone()
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.st().requests.clone()
    }

    /// Requests to one Web API method (`chat.postMessage`).
    pub fn calls(&self, method: &str) -> usize {
        let path = format!("/api/{method}");
        self.st().requests.iter().filter(|r| r.path == path).count()
    }

    pub fn violations(&self) -> Vec<String> {
        self.st().violations.clone()
    }
}

/// Slack's `v0` signature of a request body: `v0=` and the hex HMAC-SHA256
/// of `v0:{timestamp}:{body}` keyed with the signing secret.
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// A slash command as Slack sends it (form-encoded, signed now with
/// `secret`): the headers and the body. `trigger_id` must be unique per
/// invocation, as Slack's are.
pub fn slash_command(
    secret: &str,
    command: &str,
    text: &str,
    trigger_id: &str,
) -> (Vec<(String, String)>, Vec<u8>) {
    let fields = [
        ("token", "gIkuvaNzQIHg97ATvDxqgjtO"),
        ("team_id", "T0CUBE"),
        ("team_domain", "cube-test"),
        ("channel_id", CHANNEL),
        ("channel_name", "facilities"),
        ("user_id", "U2147483697"),
        ("user_name", "jo.tech"),
        ("command", command),
        ("text", text),
        ("api_app_id", "A0CUBE"),
        ("is_enterprise_install", "false"),
        (
            "response_url",
            "https://hooks.slack.com/commands/T0CUBE/1234/abcdef",
        ),
        ("trigger_id", trigger_id),
    ];
    let body = serde_urlencoded::to_string(fields).unwrap().into_bytes();
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let headers = vec![
        (
            "Content-Type".to_owned(),
            "application/x-www-form-urlencoded".to_owned(),
        ),
        ("X-Slack-Request-Timestamp".to_owned(), timestamp.clone()),
        (
            "X-Slack-Signature".to_owned(),
            sign(secret, &timestamp, &body),
        ),
    ];
    (headers, body)
}

fn reply(status: u16, headers: &[(&str, String)], content_type: &str, body: Vec<u8>) -> Response {
    let mut response = Response::builder()
        .status(status)
        .header(CONTENT_TYPE, content_type);
    for (name, value) in headers {
        response = response.header(*name, value);
    }
    response.body(Body::from(body)).expect("a valid response")
}

fn api_json(value: Value) -> Response {
    reply(
        200,
        &[],
        "application/json; charset=utf-8",
        value.to_string().into_bytes(),
    )
}

fn api_error(code: &str) -> Response {
    api_json(json!({"ok": false, "error": code}))
}

fn hook_error(status: u16, code: &str) -> Response {
    reply(
        status,
        &[],
        "text/plain; charset=utf-8",
        code.as_bytes().to_vec(),
    )
}

async fn handle(State(state): State<Arc<Mutex<Inner>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 22)
        .await
        .unwrap_or_default();
    let header = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut st = state.lock().unwrap_or_else(PoisonError::into_inner);
    let path = parts.uri.path().to_owned();
    st.requests.push(RecordedRequest {
        method: parts.method.to_string(),
        path: path.clone(),
        authorization: header(AUTHORIZATION),
        content_type: header(CONTENT_TYPE),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let content_type = header(CONTENT_TYPE).unwrap_or_default();
    let is_json = content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if parts.method != axum::http::Method::POST {
        st.violations
            .push(format!("{} {path}: Slack takes POST here", parts.method));
        return hook_error(405, "method_not_allowed");
    }
    if st.rate_limited.0 > 0 {
        st.rate_limited.0 -= 1;
        let secs = st.rate_limited.1;
        let body = if path.starts_with("/api/") {
            br#"{"ok":false,"error":"ratelimited"}"#.to_vec()
        } else {
            b"rate_limited".to_vec()
        };
        return reply(
            429,
            &[("Retry-After", secs.to_string())],
            "application/json; charset=utf-8",
            body,
        );
    }
    if let Some(method) = path.strip_prefix("/api/") {
        let method = method.to_owned();
        return web_api(&mut st, &method, header(AUTHORIZATION), is_json, &body);
    }
    if path == st.hook_path {
        return incoming_webhook(&mut st, is_json, &body);
    }
    if path.starts_with("/services/") {
        return hook_error(404, "no_service");
    }
    st.violations
        .push(format!("POST {path}: not a Slack address"));
    hook_error(404, "not_found")
}

fn web_api(
    st: &mut Inner,
    method: &str,
    authorization: Option<String>,
    is_json: bool,
    body: &[u8],
) -> Response {
    let Some(given) = authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "))
    else {
        return api_error("not_authed");
    };
    if given != st.token {
        return api_error("invalid_auth");
    }
    let args: Value = if body.is_empty() {
        json!({})
    } else if is_json {
        match serde_json::from_slice(body) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                st.violations
                    .push(format!("{method}: the body is not a JSON object"));
                return api_error("invalid_json");
            }
        }
    } else {
        st.violations.push(format!(
            "{method}: a body without the application/json content type"
        ));
        return api_error("invalid_form_data");
    };
    match method {
        "auth.test" => api_json(json!({
            "ok": true, "url": "https://cube-test.slack.com/", "team": "CUBE Test",
            "user": "cube", "team_id": "T0CUBE", "user_id": "U0CUBE", "bot_id": "B0CUBE",
            "is_enterprise_install": false
        })),
        "chat.postMessage" | "chat.update" => {
            let channel = args
                .get("channel")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            match channel.as_str() {
                "" => {
                    st.violations.push(format!("{method}: no channel"));
                    return api_error("channel_not_found");
                }
                CHANNEL => {}
                OTHER_CHANNEL => return api_error("not_in_channel"),
                _ => return api_error("channel_not_found"),
            }
            if let Err(problem) = check_message(&args) {
                st.violations.push(format!("{method}: {problem}"));
                return api_error(if problem.starts_with("no text") {
                    "no_text"
                } else {
                    "invalid_blocks"
                });
            }
            let text = args
                .get("text")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let blocks = args.get("blocks").cloned().unwrap_or(Value::Null);
            if method == "chat.update" {
                let Some(ts) = args.get("ts").and_then(Value::as_str) else {
                    st.violations.push("chat.update: no ts".into());
                    return api_error("message_not_found");
                };
                let Some(message) = st
                    .messages
                    .iter_mut()
                    .find(|m| m.channel == channel && m.ts == ts)
                else {
                    return api_error("message_not_found");
                };
                message.text = text.clone();
                message.blocks = blocks;
                message.edits += 1;
                let ts = message.ts.clone();
                return api_json(json!({"ok": true, "channel": channel, "ts": ts, "text": text}));
            }
            let thread_ts = args
                .get("thread_ts")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if let Some(parent) = &thread_ts
                && !st
                    .messages
                    .iter()
                    .any(|m| m.channel == channel && &m.ts == parent)
            {
                st.violations.push(format!(
                    "chat.postMessage: thread_ts {parent} is no message"
                ));
            }
            st.next_ts += 100;
            let ts = format!("{}.{:06}", st.next_ts / 1_000_000, st.next_ts % 1_000_000);
            st.messages.push(Message {
                channel: channel.clone(),
                ts: ts.clone(),
                thread_ts,
                text: text.clone(),
                blocks: blocks.clone(),
                edits: 0,
            });
            api_json(json!({
                "ok": true, "channel": channel, "ts": ts,
                "message": {"type": "message", "bot_id": "B0CUBE", "text": text, "ts": ts, "blocks": blocks}
            }))
        }
        other => {
            st.violations
                .push(format!("{other}: not a method this fake serves"));
            api_error("unknown_method")
        }
    }
}

fn incoming_webhook(st: &mut Inner, is_json: bool, body: &[u8]) -> Response {
    if !is_json {
        st.violations
            .push("incoming webhook: a body without the application/json content type".into());
        return hook_error(400, "invalid_payload");
    }
    let Ok(message @ Value::Object(_)) = serde_json::from_slice::<Value>(body) else {
        st.violations
            .push("incoming webhook: the body is not a JSON object".into());
        return hook_error(400, "invalid_payload");
    };
    if let Err(problem) = check_message(&message) {
        // An empty message is how the connector probes the webhook.
        if problem == "no text and no blocks" {
            return hook_error(400, "no_text");
        }
        st.violations.push(format!("incoming webhook: {problem}"));
        return hook_error(400, "invalid_blocks");
    }
    st.hook_posts.push(message);
    reply(200, &[], "text/html", b"ok".to_vec())
}

/// A message's `text` and `blocks` against Block Kit's basics.
fn check_message(message: &Value) -> Result<(), String> {
    let text = message.get("text").and_then(Value::as_str).unwrap_or("");
    let blocks = message.get("blocks");
    if text.trim().is_empty() && blocks.is_none_or(Value::is_null) {
        return Err("no text and no blocks".into());
    }
    if text.trim().is_empty() {
        // Allowed, but Slack warns: notifications need the fallback text.
        return Err(
            "no text: a message with blocks needs text as the notification's fallback".into(),
        );
    }
    let Some(blocks) = blocks.filter(|b| !b.is_null()) else {
        return Ok(());
    };
    let Some(blocks) = blocks.as_array() else {
        return Err("blocks is not an array".into());
    };
    if blocks.len() > 50 {
        return Err(format!("{} blocks; a message has at most 50", blocks.len()));
    }
    for (n, block) in blocks.iter().enumerate() {
        let kind = block.get("type").and_then(Value::as_str).unwrap_or("");
        if !BLOCK_TYPES.contains(&kind) {
            return Err(format!(
                "block {n} has type `{kind}`, not a documented block"
            ));
        }
        if let Some(id) = block.get("block_id")
            && id.as_str().is_none_or(|s| s.chars().count() > 255)
        {
            return Err(format!(
                "block {n}: block_id is not a string of at most 255"
            ));
        }
        let at = |what: &str| format!("block {n} ({kind}) {what}");
        match kind {
            "header" => {
                let t = block.get("text").ok_or_else(|| at("has no text"))?;
                text_object(t, Some("plain_text"), 150).map_err(|e| at(&e))?;
            }
            "section" => {
                let t = block.get("text");
                let fields = block.get("fields");
                if t.is_none() && fields.is_none() {
                    return Err(at("has neither text nor fields"));
                }
                if let Some(t) = t {
                    text_object(t, None, 3000).map_err(|e| at(&e))?;
                }
                if let Some(fields) = fields {
                    let fields = fields
                        .as_array()
                        .ok_or_else(|| at("fields is not an array"))?;
                    if fields.is_empty() || fields.len() > 10 {
                        return Err(at("has more than 10 fields, or none"));
                    }
                    for f in fields {
                        text_object(f, None, 2000).map_err(|e| at(&e))?;
                    }
                }
            }
            "context" => {
                let elements = block
                    .get("elements")
                    .and_then(Value::as_array)
                    .ok_or_else(|| at("has no elements array"))?;
                if elements.is_empty() || elements.len() > 10 {
                    return Err(at("has more than 10 elements, or none"));
                }
                for e in elements {
                    if e.get("type").and_then(Value::as_str) != Some("image") {
                        text_object(e, None, 3000).map_err(|e| at(&e))?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn text_object(value: &Value, only: Option<&str>, max: usize) -> Result<(), String> {
    let kind = value.get("type").and_then(Value::as_str).unwrap_or("");
    if !matches!(kind, "plain_text" | "mrkdwn") {
        return Err(format!("has a text object of type `{kind}`"));
    }
    if let Some(only) = only
        && kind != only
    {
        return Err(format!("needs {only} text, not {kind}"));
    }
    let text = value
        .get("text")
        .and_then(Value::as_str)
        .ok_or("has a text object without text")?;
    if text.is_empty() {
        return Err("has an empty text object".into());
    }
    if text.chars().count() > max {
        return Err(format!(
            "has text of {} characters; at most {max}",
            text.chars().count()
        ));
    }
    Ok(())
}
