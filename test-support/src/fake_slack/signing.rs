//! Slack's request signing (`v0`), and slash commands signed with it.

use hmac::Mac;

use super::CHANNEL;

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
