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
//!   HMAC-SHA256 of the body. It signs no timestamp and no id: the
//!   delivery id headers (`X-GitHub-Delivery`,
//!   `X-Atlassian-Webhook-Identifier`) can be changed by anyone who replays
//!   a captured delivery, so deliveries are recognised by the hash of their
//!   body, and a replay is caught only while the first copy is remembered.
//!
//! - `standard-webhooks`, the Standard Webhooks specification:
//!   `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,BASE64`
//!   (several, space-separated, while a secret is rotated), the
//!   HMAC-SHA256 of `"{id}.{timestamp}.{body}"` keyed with the base64 bytes
//!   of a `whsec_...` secret.
//!
//! Signed timestamps must be within five minutes of the host's clock.
//! Signature headers are parsed strictly (one header, the exact prefix, the
//! MAC's exact length) and compared in constant time. A delivery is
//! recognised by what its signature covers, never by how the signature or
//! an unsigned header is written: see [`Verified::delivery_id`] and
//! `docs/decisions/0025-webhook-replay.md`.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::shared::constant_time::constant_time_eq;

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

/// A verified delivery: what it is recognised by if it comes again.
#[derive(Debug, PartialEq, Eq)]
pub struct Verified {
    /// The dedupe key: an id the signature covers (`X-Cube-Delivery`,
    /// `webhook-id`) or, for schemes that sign none, `sha256:` and the hash
    /// of the signed content (the body, with the signed timestamp where the
    /// scheme has one). Never an unsigned header nor the signature's text,
    /// which a replay could change without breaking the signature.
    pub delivery_id: String,
    /// The id the sender gave in a header the signature does not cover
    /// (`X-GitHub-Delivery`, `X-Atlassian-Webhook-Identifier`,
    /// `X-Request-Id`): shown to people, to find a delivery in the sender's
    /// log, and never used to recognise one.
    pub sender_id: Option<String>,
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(secret: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// The one value of a header, without the whitespace HTTP allows around it
/// (found case-insensitively). A header sent twice is malformed: which copy
/// was checked and which one a later reader trusts must not differ.
fn header<'a>(
    headers: &'a [(String, String)],
    name: &'static str,
) -> Result<Option<&'a str>, Rejection> {
    let mut found = headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim_matches([' ', '\t']));
    match (found.next(), found.next()) {
        (None, _) => Ok(None),
        (Some(value), None) => Ok(Some(value)),
        (Some(_), Some(_)) => Err(Rejection::Malformed(name)),
    }
}

fn required<'a>(headers: &'a [(String, String)], name: &'static str) -> Result<&'a str, Rejection> {
    header(headers, name)?.ok_or(Rejection::Missing(name))
}

/// An HMAC-SHA256 written `{prefix}HEX`: exactly the prefix, then exactly
/// 64 hex digits (either case: the same bytes) and nothing else. Anything
/// else (inner whitespace, another length, several signatures) is
/// malformed rather than a signature that happens not to match.
fn parse_hex_mac(value: &str, prefix: &str, name: &'static str) -> Result<[u8; 32], Rejection> {
    let digits = value
        .strip_prefix(prefix)
        .ok_or(Rejection::Malformed(name))?;
    let mut mac = [0u8; 32];
    if digits.len() != 64 || hex::decode_to_slice(digits, &mut mac).is_err() {
        return Err(Rejection::Malformed(name));
    }
    Ok(mac)
}

/// Compares a MAC in constant time.
fn check(expected: &[u8], given: &[u8]) -> Result<(), Rejection> {
    if constant_time_eq(expected, given) {
        Ok(())
    } else {
        Err(Rejection::BadSignature)
    }
}

/// A signed timestamp: Unix seconds in ASCII digits, nothing else.
fn timestamp(value: &str, name: &'static str) -> Result<i64, Rejection> {
    if value.is_empty() || value.len() > 18 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Rejection::Malformed(name));
    }
    value.parse().map_err(|_| Rejection::Malformed(name))
}

fn fresh(ts: i64, now_secs: i64) -> Result<(), Rejection> {
    if (now_secs - ts).abs() > TOLERANCE_SECS {
        return Err(Rejection::Stale);
    }
    Ok(())
}

/// The dedupe key of a delivery that carries no signed id: the hash of
/// exactly the bytes the signature covers (under the scheme's name), so
/// that every request the signature accepts for this content, however its
/// headers are written, is the same delivery.
fn content_key(scheme: Scheme, signed: &[&[u8]]) -> String {
    let mut hash = Sha256::new();
    hash.update(scheme.as_str().as_bytes());
    hash.update([0]);
    for part in signed {
        hash.update(part);
    }
    format!("sha256:{}", hex::encode(hash.finalize()))
}

/// The headers a sender's own (unsigned) delivery id may come in.
const UNSIGNED_IDS: [&str; 3] = [
    "X-GitHub-Delivery",
    "X-Atlassian-Webhook-Identifier",
    "X-Request-Id",
];

fn sender_id(headers: &[(String, String)]) -> Option<String> {
    UNSIGNED_IDS.iter().find_map(|name| {
        headers
            .iter()
            .find(|(k, v)| k.eq_ignore_ascii_case(name) && !v.trim().is_empty())
            .map(|(_, v)| v.trim().chars().take(200).collect())
    })
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
            const ID: &str = "X-Cube-Delivery";
            let ts_text = required(headers, TS)?;
            let given = parse_hex_mac(required(headers, SIG)?, "sha256=", SIG)?;
            let ts = timestamp(ts_text, TS)?;
            let delivery = header(headers, ID)?.unwrap_or("");
            let signed: [&[u8]; 5] = [ts_text.as_bytes(), b".", delivery.as_bytes(), b".", body];
            check(&hmac(secret, &signed), &given)?;
            fresh(ts, now_secs)?;
            // The id is signed: the sender's retries (a new timestamp, the
            // same id) are recognised, and a replay cannot rename itself.
            let (delivery_id, sender) = if delivery.is_empty() {
                (content_key(scheme, &signed), sender_id(headers))
            } else {
                (delivery.to_owned(), None)
            };
            Ok(Verified {
                delivery_id,
                sender_id: sender,
            })
        }
        Scheme::SlackV0 => {
            const TS: &str = "X-Slack-Request-Timestamp";
            const SIG: &str = "X-Slack-Signature";
            let ts_text = required(headers, TS)?;
            let given = parse_hex_mac(required(headers, SIG)?, "v0=", SIG)?;
            let ts = timestamp(ts_text, TS)?;
            let signed: [&[u8]; 4] = [b"v0:", ts_text.as_bytes(), b":", body];
            check(&hmac(secret, &signed), &given)?;
            fresh(ts, now_secs)?;
            // Slack retries carry the same timestamp and body.
            Ok(Verified {
                delivery_id: content_key(scheme, &signed),
                sender_id: sender_id(headers),
            })
        }
        Scheme::StandardWebhooks => {
            const ID: &str = "webhook-id";
            const TS: &str = "webhook-timestamp";
            const SIG: &str = "webhook-signature";
            let id = required(headers, ID)?;
            let ts_text = required(headers, TS)?;
            let given = required(headers, SIG)?;
            let ts = timestamp(ts_text, TS)?;
            let key = standard_key(std::str::from_utf8(secret).unwrap_or(""))
                .ok_or(Rejection::BadSignature)?;
            let expected = hmac(&key, &[id.as_bytes(), b".", ts_text.as_bytes(), b".", body]);
            // Several signatures while a secret is rotated: one must match.
            // Versions other than v1 are skipped, as the specification says.
            let mut any = false;
            let mut matched = false;
            for signature in given.split_ascii_whitespace() {
                let Some(encoded) = signature.strip_prefix("v1,") else {
                    continue;
                };
                any = true;
                if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(encoded)
                    && bytes.len() == 32
                    && constant_time_eq(&expected, &bytes)
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
            fresh(ts, now_secs)?;
            // The id is signed; the signatures' text does not matter.
            Ok(Verified {
                delivery_id: id.to_owned(),
                sender_id: None,
            })
        }
        Scheme::HubSha256 => {
            const SIG: &str = "X-Hub-Signature-256";
            const LEGACY: &str = "X-Hub-Signature";
            // Jira sends its SHA-256 signature under the older name.
            let (name, value) = match header(headers, SIG)? {
                Some(value) => (SIG, value),
                None => (
                    LEGACY,
                    header(headers, LEGACY)?.ok_or(Rejection::Missing(SIG))?,
                ),
            };
            let given = parse_hex_mac(value, "sha256=", name)?;
            check(&hmac(secret, &[body]), &given)?;
            // Only the body is signed: no timestamp, no id. The same body
            // is the same delivery, whatever id header comes with it; a
            // replay is recognised as long as its first copy's row is kept,
            // and cannot be told from the sender resending the same content.
            Ok(Verified {
                delivery_id: content_key(scheme, &[body]),
                sender_id: sender_id(headers),
            })
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
mod tests;
