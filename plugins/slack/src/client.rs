//! Requests to Slack's Web API and to incoming webhooks, and Slack's
//! answers turned into errors the host acts on.
//!
//! The Web API answers HTTP 200 with `{"ok": false, "error": "..."}` for
//! most failures; rate limits are HTTP 429 with `Retry-After` (seconds).
//! Incoming webhooks answer `ok` as text, or a 4xx with a short code
//! (`invalid_payload`, `no_service`, `channel_not_found`, ...) as text.

use cube_connector_sdk::http::{self, Response};
use cube_connector_sdk::prelude::*;
use serde_json::Value;

use crate::config::Config;

/// How long one request may take.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// A failed Web API call: the error code Slack gave (for callers that
/// handle some codes, like `message_not_found` on `chat.update`), and the
/// connector error for the rest.
#[derive(Debug)]
pub struct ApiFailure {
    pub code: String,
    pub error: Error,
}

impl From<ApiFailure> for Error {
    fn from(failure: ApiFailure) -> Error {
        failure.error
    }
}

impl From<Error> for ApiFailure {
    fn from(error: Error) -> ApiFailure {
        ApiFailure {
            code: String::new(),
            error,
        }
    }
}

/// Calls a Web API method with a JSON body and the bot token; the answer
/// when `ok` is true.
pub fn call(config: &Config, method: &str, body: &Value) -> std::result::Result<Value, ApiFailure> {
    let url = format!("{}/{method}", config.api_base()?);
    let response = http::post(url)
        .bearer(config.token()?)
        .header("content-type", "application/json; charset=utf-8")
        .header("accept", "application/json")
        .body(serde_json::to_vec(body).map_err(Error::from)?)
        .timeout(TIMEOUT)
        .follow_redirects(false)
        .send()?;
    let channel = body.get("channel").and_then(Value::as_str).unwrap_or("");
    answer(method, channel, response)
}

fn answer(
    method: &str,
    channel: &str,
    response: Response,
) -> std::result::Result<Value, ApiFailure> {
    let status = response.status;
    let body: Option<Value> = serde_json::from_slice(&response.body).ok();
    let code = body
        .as_ref()
        .and_then(|b| b.get("error"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if status == 429 || code == "ratelimited" || code == "rate_limited" {
        return Err(ApiFailure {
            code,
            error: Error::rate_limited(
                response.retry_after().map(|d| d.as_millis() as u64),
                format!(
                    "Slack asked to slow down ({method} answered {status}{})",
                    response
                        .retry_after()
                        .map(|d| format!(", retry after {} s", d.as_secs()))
                        .unwrap_or_default()
                ),
            ),
        });
    }
    if !(200..300).contains(&status) {
        let error = match status {
            300..=399 => Error::config(format!(
                "Slack's {method} answered with a redirect ({status}); check the Slack API URL"
            )),
            500..=599 => Error::transient(format!("Slack's {method} answered {status}")),
            404 => Error::config(format!(
                "{method} was not found (404); check the Slack API URL (normally {})",
                crate::config::DEFAULT_API_BASE
            )),
            _ => Error::fatal(format!(
                "Slack's {method} answered {status}: {}",
                short(&response.text())
            )),
        };
        return Err(ApiFailure { code, error });
    }
    let Some(body) = body else {
        return Err(Error::fatal(format!("Slack's {method} did not answer with JSON")).into());
    };
    if body.get("ok").and_then(Value::as_bool) == Some(true) {
        return Ok(body);
    }
    let needed = body
        .get("needed")
        .and_then(Value::as_str)
        .unwrap_or("chat:write");
    let error = match code.as_str() {
        "invalid_auth" | "not_authed" | "token_revoked" | "token_expired" | "account_inactive" => {
            Error::auth(format!(
                "Slack refused the bot token ({code}); copy the Bot User OAuth Token (xoxb-...) again from the app's OAuth & Permissions page, and reinstall the app if it was revoked"
            ))
        }
        "missing_scope" | "no_permission" | "not_allowed_token_type" => Error::auth(format!(
            "the Slack app lacks a permission for {method} ({code}); add the scope {needed} under OAuth & Permissions and reinstall the app"
        )),
        "channel_not_found" => Error::config(format!(
            "Slack has no channel `{channel}` that the app can see (channel_not_found); use the channel's id (C0123456789), and for a private channel invite the app first"
        )),
        "not_in_channel" => Error::config(
            "the app is not a member of the channel (not_in_channel); invite it there with /invite @your-app",
        ),
        "is_archived" | "channel_is_archived" => {
            Error::config("the channel is archived (is_archived); choose another channel")
        }
        "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
            Error::transient(format!(
                "Slack failed {method} ({code}); it will be tried again"
            ))
        }
        "" => Error::fatal(format!("Slack refused {method} without saying why")),
        other => Error::fatal(format!("Slack refused {method}: {other}")),
    };
    Err(ApiFailure { code, error })
}

fn short(text: &str) -> String {
    let text = text.trim();
    let mut out: String = text.chars().take(200).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// Posts a message to the incoming webhook.
pub fn post_hook(config: &Config, message: &Value) -> Result<()> {
    let response = http::post(config.hook()?)
        .header("content-type", "application/json; charset=utf-8")
        .body(serde_json::to_vec(message)?)
        .timeout(TIMEOUT)
        .follow_redirects(false)
        .send()?;
    hook_answer(response, false)
}

/// Checks an incoming webhook without posting: an empty message is refused
/// (400) by a webhook that exists, and a revoked or mistyped one answers
/// 403, 404 or 410.
pub fn probe_hook(config: &Config) -> Result<()> {
    let response = http::post(config.hook()?)
        .header("content-type", "application/json; charset=utf-8")
        .body(b"{}".to_vec())
        .timeout(TIMEOUT)
        .follow_redirects(false)
        .send()?;
    hook_answer(response, true)
}

fn hook_answer(response: Response, probing: bool) -> Result<()> {
    let status = response.status;
    let said = short(&response.text());
    match status {
        200..=299 => Ok(()),
        400 if probing => Ok(()),
        429 => Err(Error::rate_limited(
            response.retry_after().map(|d| d.as_millis() as u64),
            format!("Slack asked to slow down (incoming webhook answered 429: {said})"),
        )),
        400 => Err(Error::fatal(format!(
            "Slack refused the message ({said}); this is a bug in the connector's message"
        ))),
        403 | 404 | 410 => Err(Error::config(format!(
            "the incoming webhook does not work ({status} {said}): it was removed, its channel archived, or the URL is mistyped; add a new one under the app's Incoming Webhooks"
        ))),
        300..=399 => Err(Error::config(format!(
            "the incoming webhook URL answered with a redirect ({status}); copy it again from Slack"
        ))),
        500..=599 => Err(Error::transient(format!(
            "the incoming webhook answered {status} {said}"
        ))),
        _ => Err(Error::fatal(format!(
            "the incoming webhook answered {status} {said}"
        ))),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use cube_connector_sdk::testing;

    /// Bot mode against a fake Slack at `https://slack.test/api`.
    pub(crate) fn bot() -> Config {
        serde_json::from_value(json!({
            "mode": "bot", "bot_token": "xoxb-1", "channel": "C1", "api_base_url": "https://slack.test/api"
        }))
        .unwrap()
    }

    #[test]
    fn calls_send_the_token_and_json_and_map_errors() {
        testing::reset();
        testing::on_http(|req| {
            Ok(match req.url.as_str() {
                "https://slack.test/api/auth.test" => {
                    testing::response(200, r#"{"ok":false,"error":"invalid_auth"}"#)
                }
                "https://slack.test/api/chat.update" => {
                    let mut r = testing::response(429, r#"{"ok":false,"error":"ratelimited"}"#);
                    r.headers.push(("retry-after".into(), "3".into()));
                    r
                }
                _ => testing::response(200, r#"{"ok":false,"error":"not_in_channel"}"#),
            })
        });
        let err = call(&bot(), "auth.test", &json!({})).unwrap_err();
        assert_eq!(err.code, "invalid_auth");
        assert!(matches!(err.error, Error::Auth(_)), "{:?}", err.error);
        let sent = &testing::requests()[0];
        assert!(
            sent.headers
                .contains(&("authorization".into(), "Bearer xoxb-1".into()))
        );
        let err = call(&bot(), "chat.update", &json!({})).unwrap_err();
        assert!(
            matches!(&err.error, Error::RateLimited(r) if r.retry_after_ms == Some(3000)),
            "{:?}",
            err.error
        );
        let err = call(&bot(), "chat.postMessage", &json!({})).unwrap_err();
        assert!(err.error.message().contains("/invite"));
    }

    #[test]
    fn hook_answers_map_to_errors() {
        let config: Config = serde_json::from_value(
            json!({"mode": "webhook", "webhook_url": "https://hooks.slack.test/services/T/B/X"}),
        )
        .unwrap();
        testing::reset();
        testing::on_http(|req| {
            Ok(if req.body.as_deref() == Some(b"{}") {
                testing::response(400, "no_text")
            } else {
                testing::response(404, "no_service")
            })
        });
        probe_hook(&config).unwrap();
        let err = post_hook(&config, &json!({"text": "hi"})).unwrap_err();
        assert!(matches!(&err, Error::Config(m) if m.contains("no_service")));
    }
}
