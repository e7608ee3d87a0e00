//! What the fake answers: the Web API methods and the incoming webhook, as
//! Slack does (its status codes, bodies and content types), after the
//! request is recorded and any armed 429 is used.

use axum::body::Body;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::response::Response;
use serde_json::{Value, json};

use super::blocks::check_message;
use super::{CHANNEL, Inner, Message, OTHER_CHANNEL, RecordedRequest};
use crate::fake_http::Respond;

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

/// Records the request, then answers it as Slack would.
impl Respond for Inner {
    fn respond(&mut self, parts: &Parts, body: &[u8]) -> Response {
        let st = self;
        let header = |name| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let path = parts.uri.path().to_owned();
        st.requests.push(RecordedRequest {
            method: parts.method.to_string(),
            path: path.clone(),
            authorization: header(AUTHORIZATION),
            content_type: header(CONTENT_TYPE),
            body: String::from_utf8_lossy(body).into_owned(),
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
        if let Some(secs) = st.faults.rate_limited() {
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
            return web_api(st, &method, header(AUTHORIZATION), is_json, body);
        }
        if path == st.hook_path {
            return incoming_webhook(st, is_json, body);
        }
        if path.starts_with("/services/") {
            return hook_error(404, "no_service");
        }
        st.violations
            .push(format!("POST {path}: not a Slack address"));
        hook_error(404, "not_found")
    }
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
                return api_json(json!({
                    "ok": true, "channel": channel, "ts": ts, "text": text,
                    "message": {"type": "message", "bot_id": "B0CUBE", "user": "U0CUBE", "text": text}
                }));
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
            // The posted message as Slack answers it: a reply names its
            // thread, and blocks appear only when some were sent.
            let mut message = json!({
                "type": "message", "bot_id": "B0CUBE",
                "user": "U0CUBE", "text": text, "ts": ts,
            });
            if let Some(parent) = &thread_ts {
                message["thread_ts"] = json!(parent);
            }
            if !blocks.is_null() {
                message["blocks"] = blocks.clone();
            }
            st.messages.push(Message {
                channel: channel.clone(),
                ts: ts.clone(),
                thread_ts,
                text,
                blocks,
                edits: 0,
            });
            api_json(json!({"ok": true, "channel": channel, "ts": ts, "message": message}))
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
