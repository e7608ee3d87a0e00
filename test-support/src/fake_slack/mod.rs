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

mod api;
mod blocks;
mod signing;

use std::sync::MutexGuard;

use serde_json::Value;

use crate::fake_http::{FakeHttp, Faults};
pub use signing::{sign, slash_command};

/// The channel the bot is a member of.
pub const CHANNEL: &str = "C0CUBE";
/// A channel the bot is not a member of.
pub const OTHER_CHANNEL: &str = "C0OTHER";

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

pub struct Inner {
    pub token: String,
    pub hook_path: String,
    pub messages: Vec<Message>,
    pub hook_posts: Vec<Value>,
    pub requests: Vec<RecordedRequest>,
    pub violations: Vec<String>,
    /// Armed 429s.
    pub faults: Faults,
    pub next_ts: u64,
}

pub struct FakeSlack {
    http: FakeHttp<Inner>,
}

impl FakeSlack {
    /// Starts a fake on 127.0.0.1 (a port of its own); it stops when dropped.
    pub async fn start() -> FakeSlack {
        let http = FakeHttp::start(|_| Inner {
            token: "xoxb-1234-5678-cubeTestToken".into(),
            hook_path: "/services/T0CUBE/B0CUBE/qv4fDnXkUxzGfTMoLcE2Ry6a".into(),
            messages: Vec::new(),
            hook_posts: Vec::new(),
            requests: Vec::new(),
            violations: Vec::new(),
            faults: Faults::default(),
            next_ts: 1_700_000_000_000_100,
        })
        .await;
        FakeSlack { http }
    }

    fn st(&self) -> MutexGuard<'_, Inner> {
        self.http.state()
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        self.http.base_url().to_owned()
    }

    /// The Web API's base, as `https://slack.com/api` is for Slack.
    pub fn api_url(&self) -> String {
        format!("{}/api", self.http.base_url())
    }

    /// The incoming webhook's URL.
    pub fn hook_url(&self) -> String {
        format!("{}{}", self.http.base_url(), self.st().hook_path)
    }

    /// The bot token the fake accepts.
    pub fn token(&self) -> String {
        self.st().token.clone()
    }

    /// Answers the next `n` requests with 429 and `Retry-After: secs`.
    pub fn rate_limit_next(&self, n: u32, secs: u64) {
        self.st().faults.rate_limit_next(n, secs);
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
