//! Who sent a webhook: the signing schemes the router verifies before a
//! delivery is stored.
//!
//! - `cube-hmac-sha256`, for senders we configure: `X-Cube-Timestamp` (Unix
//!   seconds), `X-Cube-Delivery` (the delivery's id, optional) and
//!   `X-Cube-Signature: sha256=HEX`, the HMAC-SHA256 of
//!   `"{timestamp}.{delivery}.{body}"` (`delivery` empty when absent). The
//!   id is signed so that a captured request cannot be replayed under a new
//!   id while its timestamp is fresh.
//! - `slack-v0`, Slack's scheme: `X-Slack-Request-Timestamp` and
//!   `X-Slack-Signature: v0=HEX`, the HMAC-SHA256 of `"v0:{timestamp}:{body}"`.
//! - `hub-sha256`, the WebSub scheme GitHub and Jira use:
//!   `X-Hub-Signature-256` (or `X-Hub-Signature`) `: sha256=HEX`, the
//!   HMAC-SHA256 of the body. It carries no timestamp: replays are caught
//!   by the delivery id (`X-GitHub-Delivery`, `X-Atlassian-Webhook-Identifier`)
//!   or, without one, by the signature itself.
//!
//! - `standard-webhooks`, the Standard Webhooks specification:
//!   `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,BASE64`
//!   (several, space-separated, while a secret is rotated), the
//!   HMAC-SHA256 of `"{id}.{timestamp}.{body}"` keyed with the base64 bytes
//!   of a `whsec_...` secret.
//!
//! Signed timestamps must be within five minutes of the host's clock.
//! Signatures are compared in constant time.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// How far a signed timestamp may be from now.
pub const TOLERANCE_SECS: i64 = 300;

/// A signing scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    CubeHmac,
    SlackV0,
    HubSha256,
    StandardWebhooks,
}

impl Scheme {
    pub const ALL: [Scheme; 4] = [
        Scheme::CubeHmac,
        Scheme::SlackV0,
        Scheme::HubSha256,
        Scheme::StandardWebhooks,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::CubeHmac => "cube-hmac-sha256",
            Scheme::SlackV0 => "slack-v0",
            Scheme::HubSha256 => "hub-sha256",
            Scheme::StandardWebhooks => "standard-webhooks",
        }
    }

    pub fn parse(text: &str) -> Option<Scheme> {
        Scheme::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// For people choosing one.
    pub fn describe(self) -> &'static str {
        match self {
            Scheme::CubeHmac => "CUBE HMAC-SHA256 with timestamp (X-Cube-Signature)",
            Scheme::SlackV0 => "Slack signing secret (X-Slack-Signature)",
            Scheme::HubSha256 => "GitHub / Jira webhook secret (X-Hub-Signature-256)",
            Scheme::StandardWebhooks => "Standard Webhooks (webhook-signature, whsec_ secret)",
        }
    }

    /// Checks a secret an admin entered for this scheme.
    pub fn check_secret(self, secret: &str) -> Result<(), String> {
        match self {
            Scheme::StandardWebhooks => match standard_key(secret) {
                Some(key) if key.len() >= 16 => Ok(()),
                _ => Err("A Standard Webhooks secret is `whsec_` followed by base64 (at least 16 bytes); leave it empty to have one generated.".into()),
            },
            _ if secret.len() < 16 => Err("A signing secret must be at least 16 characters; leave it empty to have one generated.".into()),
            _ => Ok(()),
        }
    }

    /// A new random secret in the form this scheme's senders expect.
    pub fn new_secret(self) -> String {
        let token = crate::store::sessions::random_token();
        match self {
            Scheme::StandardWebhooks => format!(
                "whsec_{}",
                base64::engine::general_purpose::STANDARD.encode(Sha256::digest(token.as_bytes()))
            ),
            _ => token,
        }
    }
}

/// The HMAC key of a Standard Webhooks secret: the base64 after `whsec_`.
fn standard_key(secret: &str) -> Option<Vec<u8>> {
    let encoded = secret.trim();
    let encoded = encoded.strip_prefix("whsec_").unwrap_or(encoded);
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
}

/// Why a delivery was refused. Each maps to a status code and a message
/// for the sender; none says anything about the secret.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the request is not signed: the header {0} is missing")]
    Missing(&'static str),
    #[error("the header {0} is malformed")]
    Malformed(&'static str),
    #[error("the signature does not match: check the signing secret")]
    BadSignature,
    #[error(
        "the signed timestamp is more than five minutes from now: check the sender's clock, or this is a replay"
    )]
    Stale,
}

/// A verified delivery: its id, for recognising it if it comes again.
#[derive(Debug, PartialEq, Eq)]
pub struct Verified {
    pub delivery_id: String,
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(secret: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

fn matches(expected: &[u8], given_hex: &str) -> bool {
    match hex::decode(given_hex.trim()) {
        Ok(given) => crate::web::session::constant_time_eq(expected, &given),
        Err(_) => false,
    }
}

/// Finds a header, case-insensitively.
fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn fresh(timestamp: &str, name: &'static str, now_secs: i64) -> Result<(), Rejection> {
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| Rejection::Malformed(name))?;
    if (now_secs - ts).abs() > TOLERANCE_SECS {
        return Err(Rejection::Stale);
    }
    Ok(())
}

/// The content's own id, when the sender gives none: the same signed
/// content is the same delivery.
fn content_id(signature: &str) -> String {
    format!(
        "sig:{}",
        hex::encode(&Sha256::digest(signature.as_bytes())[..16])
    )
}

/// Checks a delivery's signature under `scheme` at `now_secs`.
pub fn verify(
    scheme: Scheme,
    secret: &[u8],
    headers: &[(String, String)],
    body: &[u8],
    now_secs: i64,
) -> Result<Verified, Rejection> {
    match scheme {
        Scheme::CubeHmac => {
            const TS: &str = "X-Cube-Timestamp";
            const SIG: &str = "X-Cube-Signature";
            let ts = header(headers, TS).ok_or(Rejection::Missing(TS))?;
            let sig = header(headers, SIG).ok_or(Rejection::Missing(SIG))?;
            let hex_part = sig
                .trim()
                .strip_prefix("sha256=")
                .ok_or(Rejection::Malformed(SIG))?;
            let delivery = header(headers, "X-Cube-Delivery").map_or("", str::trim);
            let expected = hmac(
                secret,
                &[ts.trim().as_bytes(), b".", delivery.as_bytes(), b".", body],
            );
            if !matches(&expected, hex_part) {
                return Err(Rejection::BadSignature);
            }
            fresh(ts, TS, now_secs)?;
            let delivery_id = if delivery.is_empty() {
                content_id(sig)
            } else {
                delivery.to_owned()
            };
            Ok(Verified { delivery_id })
        }
        Scheme::SlackV0 => {
            const TS: &str = "X-Slack-Request-Timestamp";
            const SIG: &str = "X-Slack-Signature";
            let ts = header(headers, TS).ok_or(Rejection::Missing(TS))?;
            let sig = header(headers, SIG).ok_or(Rejection::Missing(SIG))?;
            let hex_part = sig
                .trim()
                .strip_prefix("v0=")
                .ok_or(Rejection::Malformed(SIG))?;
            let expected = hmac(secret, &[b"v0:", ts.trim().as_bytes(), b":", body]);
            if !matches(&expected, hex_part) {
                return Err(Rejection::BadSignature);
            }
            fresh(ts, TS, now_secs)?;
            // Slack retries carry the same timestamp and signature.
            Ok(Verified {
                delivery_id: content_id(sig),
            })
        }
        Scheme::StandardWebhooks => {
            const ID: &str = "webhook-id";
            const TS: &str = "webhook-timestamp";
            const SIG: &str = "webhook-signature";
            let id = header(headers, ID).ok_or(Rejection::Missing(ID))?.trim();
            let ts = header(headers, TS).ok_or(Rejection::Missing(TS))?.trim();
            let given = header(headers, SIG).ok_or(Rejection::Missing(SIG))?;
            let key = standard_key(std::str::from_utf8(secret).unwrap_or(""))
                .ok_or(Rejection::BadSignature)?;
            let expected = hmac(&key, &[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
            // Several signatures while a secret is rotated: one must match.
            let mut any = false;
            let mut matched = false;
            for signature in given.split_whitespace() {
                let Some(encoded) = signature.strip_prefix("v1,") else {
                    continue;
                };
                any = true;
                if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(encoded)
                    && crate::web::session::constant_time_eq(&expected, &bytes)
                {
                    matched = true;
                }
            }
            if !any {
                return Err(Rejection::Malformed(SIG));
            }
            if !matched {
                return Err(Rejection::BadSignature);
            }
            fresh(ts, TS, now_secs)?;
            Ok(Verified {
                delivery_id: id.to_owned(),
            })
        }
        Scheme::HubSha256 => {
            const SIG: &str = "X-Hub-Signature-256";
            let sig = header(headers, SIG)
                .or_else(|| header(headers, "X-Hub-Signature"))
                .ok_or(Rejection::Missing(SIG))?;
            let hex_part = sig
                .trim()
                .strip_prefix("sha256=")
                .ok_or(Rejection::Malformed(SIG))?;
            if !matches(&hmac(secret, &[body]), hex_part) {
                return Err(Rejection::BadSignature);
            }
            let delivery_id = [
                "X-GitHub-Delivery",
                "X-Atlassian-Webhook-Identifier",
                "X-Request-Id",
            ]
            .iter()
            .find_map(|name| header(headers, name).filter(|v| !v.trim().is_empty()))
            .map(|id| id.trim().to_owned())
            .unwrap_or_else(|| content_id(sig));
            Ok(Verified { delivery_id })
        }
    }
}

/// Signs a message the Standard Webhooks way: `v1,BASE64`.
pub fn sign_standard(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = standard_key(secret)?;
    let ts = timestamp.to_string();
    let mac = hmac(&key, &[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
    Some(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac)
    ))
}

/// Signs a delivery the way `cube-hmac-sha256` expects (for senders and
/// tests); `delivery` is the `X-Cube-Delivery` value, or `""` without one.
pub fn sign_cube(secret: &[u8], timestamp: i64, delivery: &str, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let parts: [&[u8]; 5] = [ts.as_bytes(), b".", delivery.as_bytes(), b".", body];
    format!("sha256={}", hex::encode(hmac(secret, &parts)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    // Slack's published example ("Verifying requests from Slack").
    const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const SLACK_TS: &str = "1531420618";
    const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SLACK_SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    #[test]
    fn slacks_published_example_verifies() {
        let headers = h(&[
            ("X-Slack-Request-Timestamp", SLACK_TS),
            ("X-Slack-Signature", SLACK_SIG),
        ]);
        let now = 1_531_420_618 + 60;
        assert!(
            verify(
                Scheme::SlackV0,
                SLACK_SECRET.as_bytes(),
                &headers,
                SLACK_BODY.as_bytes(),
                now
            )
            .is_ok()
        );
        let tampered = SLACK_BODY.replace("roadrunner", "coyote");
        assert_eq!(
            verify(
                Scheme::SlackV0,
                SLACK_SECRET.as_bytes(),
                &headers,
                tampered.as_bytes(),
                now
            ),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            verify(
                Scheme::SlackV0,
                SLACK_SECRET.as_bytes(),
                &headers,
                SLACK_BODY.as_bytes(),
                now + 3600
            ),
            Err(Rejection::Stale)
        );
    }

    // GitHub's published example ("Validating webhook deliveries").
    #[test]
    fn githubs_published_example_verifies() {
        let secret = b"It's a Secret to Everybody";
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let headers = h(&[
            ("X-Hub-Signature-256", sig),
            ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ]);
        let verified = verify(Scheme::HubSha256, secret, &headers, b"Hello, World!", 0).unwrap();
        assert_eq!(verified.delivery_id, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
        assert_eq!(
            verify(Scheme::HubSha256, secret, &headers, b"Hello, World?", 0),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            verify(Scheme::HubSha256, b"wrong", &headers, b"Hello, World!", 0),
            Err(Rejection::BadSignature)
        );
    }

    /// The Standard Webhooks libraries' own example (libraries/go/webhook_test.go,
    /// TestWebhookSign, in github.com/standard-webhooks/standard-webhooks).
    #[test]
    fn the_standard_webhooks_example_verifies() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let (id, ts, body) = (
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        let expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert_eq!(
            sign_standard(secret, id, ts, body).as_deref(),
            Some(expected)
        );
        let rotated = format!("v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,xyz {expected}");
        let headers = h(&[
            ("webhook-id", id),
            ("webhook-timestamp", "1614265330"),
            ("webhook-signature", &rotated),
        ]);
        let verified = verify(
            Scheme::StandardWebhooks,
            secret.as_bytes(),
            &headers,
            body,
            ts + 10,
        )
        .unwrap();
        assert_eq!(verified.delivery_id, id);
        assert_eq!(
            verify(
                Scheme::StandardWebhooks,
                secret.as_bytes(),
                &headers,
                body,
                ts + 301
            ),
            Err(Rejection::Stale)
        );
        let forged = h(&[
            ("webhook-id", id),
            ("webhook-timestamp", "1614265330"),
            (
                "webhook-signature",
                "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            ),
        ]);
        assert_eq!(
            verify(
                Scheme::StandardWebhooks,
                secret.as_bytes(),
                &forged,
                body,
                ts
            ),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            verify(
                Scheme::StandardWebhooks,
                secret.as_bytes(),
                &headers[1..],
                body,
                ts
            ),
            Err(Rejection::Missing("webhook-id"))
        );
        assert!(Scheme::StandardWebhooks.check_secret(secret).is_ok());
        assert!(
            Scheme::StandardWebhooks
                .check_secret("not base64!")
                .is_err()
        );
        let generated = Scheme::StandardWebhooks.new_secret();
        assert!(
            generated.starts_with("whsec_")
                && Scheme::StandardWebhooks.check_secret(&generated).is_ok()
        );
    }

    const PYTHON_HMAC: &str = "0c02d895caa80b5889dfcecfb3d5936bd9c3608d52f019e2fd2fd1617e3dcdf1";

    #[test]
    fn the_cube_scheme_round_trips_and_refuses_what_is_missing_or_old() {
        let secret = b"s3cret";
        let body = br#"{"items":[]}"#;
        let sig = sign_cube(secret, 1_700_000_000, "d-1", body);
        // Computed independently: Python's hmac over b'1700000000.d-1.{"items":[]}'.
        assert_eq!(sig, format!("sha256={PYTHON_HMAC}"));
        let headers = h(&[
            ("x-cube-timestamp", "1700000000"),
            ("x-cube-signature", &sig),
            ("x-cube-delivery", "d-1"),
        ]);
        // The delivery id is signed: a replay under a new id is refused.
        let renamed = h(&[
            ("x-cube-timestamp", "1700000000"),
            ("x-cube-signature", &sig),
            ("x-cube-delivery", "d-2"),
        ]);
        assert_eq!(
            verify(Scheme::CubeHmac, secret, &renamed, body, 1_700_000_100),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            verify(Scheme::CubeHmac, secret, &headers, body, 1_700_000_100)
                .unwrap()
                .delivery_id,
            "d-1"
        );
        assert_eq!(
            verify(Scheme::CubeHmac, secret, &headers, body, 1_700_000_400),
            Err(Rejection::Stale)
        );
        assert_eq!(
            verify(Scheme::CubeHmac, secret, &headers[..1], body, 1_700_000_000),
            Err(Rejection::Missing("X-Cube-Signature"))
        );
        let bad = h(&[
            ("x-cube-timestamp", "1700000000"),
            ("x-cube-signature", "md5=00"),
        ]);
        assert_eq!(
            verify(Scheme::CubeHmac, secret, &bad, body, 1_700_000_000),
            Err(Rejection::Malformed("X-Cube-Signature"))
        );
        // A forged timestamp breaks the signature before freshness is checked.
        let moved = h(&[
            ("x-cube-timestamp", "1700000300"),
            ("x-cube-signature", &sig),
        ]);
        assert_eq!(
            verify(Scheme::CubeHmac, secret, &moved, body, 1_700_000_300),
            Err(Rejection::BadSignature)
        );
    }

    #[test]
    fn schemes_have_stable_names() {
        for scheme in Scheme::ALL {
            assert_eq!(Scheme::parse(scheme.as_str()), Some(scheme));
        }
        assert_eq!(Scheme::parse("md5"), None);
    }
}
