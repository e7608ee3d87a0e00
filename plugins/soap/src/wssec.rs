//! WS-Security UsernameToken (OASIS Web Services Security UsernameToken
//! Profile 1.1): `PasswordText`, or `PasswordDigest` =
//! Base64(SHA-1(nonce + created + password)).
//!
//! A connector has neither a clock nor randomness, so:
//!
//! - `Created` is the server's own time: the `Date` header of a response
//!   it just sent in the same call (the WSDL's, or a GET of the endpoint).
//!   A service checks `Created` against its clock, so its clock is the
//!   right one; the header's one-second precision is well inside the
//!   minutes of skew services allow.
//! - The nonce is SHA-1 of: a per-integration counter kept in the
//!   connector's state (incremented and saved before each use), the
//!   `Created` of the integration's first digest (its "origin", kept with
//!   the counter), this token's `Created`, the configuration's service,
//!   operation and version, the user and the password; cut to 16 bytes.
//!   The counter makes it unique within an integration for as long as its
//!   state lives, `Created` across a state reset an instant later, and the
//!   password makes it unpredictable to anyone without it. It is not
//!   random: two integrations with the same configuration and credentials
//!   that first used a digest in the same second, and whose counters match
//!   within the same second, would send the same nonce, and a service that
//!   rejects replays would refuse the second call (an `auth` error naming
//!   the replay; the next call succeeds).

use cube_connector_sdk::encode::base64;
use serde::Deserialize;
use sha1::{Digest, Sha1};

use crate::xml::escape;

pub const WSSE_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
pub const WSU_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
const PROFILE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0";
const BASE64_BINARY: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    None,
    /// The password as it is.
    Text,
    /// The password digested with a nonce and a creation time.
    Digest,
}

/// The PasswordDigest of the profile.
pub fn password_digest(nonce: &[u8], created: &str, password: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(nonce);
    sha.update(created.as_bytes());
    sha.update(password.as_bytes());
    base64(&sha.finalize())
}

/// The nonce for the `counter`th token (see the module's documentation);
/// `context` holds the origin and what identifies the configuration.
pub fn nonce(
    counter: u64,
    created: &str,
    context: &[&str],
    username: &str,
    password: &str,
) -> [u8; 16] {
    let mut sha = Sha1::new();
    sha.update(b"cube-soap-nonce\0");
    sha.update(counter.to_be_bytes());
    for part in [created].iter().chain(context).chain(&[username, password]) {
        sha.update((part.len() as u64).to_be_bytes());
        sha.update(part.as_bytes());
    }
    let digest = sha.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// A digest token's nonce and creation time.
pub struct Freshness<'a> {
    pub nonce: &'a [u8],
    pub created: &'a str,
}

/// The `wsse:Security` header block (`mustUnderstand` in the version's
/// spelling). `fresh` is required for [`Mode::Digest`].
pub fn security_header(
    mode: Mode,
    soap12: bool,
    username: &str,
    password: &str,
    fresh: Option<Freshness<'_>>,
) -> Option<String> {
    let (password_type, password_value, extra) = match (mode, fresh) {
        (Mode::None, _) => return None,
        (Mode::Text, _) => ("PasswordText", escape(password), String::new()),
        (Mode::Digest, Some(f)) => (
            "PasswordDigest",
            password_digest(f.nonce, f.created, password),
            format!(
                "<wsse:Nonce EncodingType=\"{BASE64_BINARY}\">{}</wsse:Nonce><wsu:Created>{}</wsu:Created>",
                base64(f.nonce),
                escape(f.created)
            ),
        ),
        (Mode::Digest, None) => return None,
    };
    let must_understand = if soap12 { "true" } else { "1" };
    Some(format!(
        "<wsse:Security xmlns:wsse=\"{WSSE_NS}\" xmlns:wsu=\"{WSU_NS}\" soap:mustUnderstand=\"{must_understand}\">\
         <wsse:UsernameToken><wsse:Username>{}</wsse:Username>\
         <wsse:Password Type=\"{PROFILE}#{password_type}\">{password_value}</wsse:Password>{extra}\
         </wsse:UsernameToken></wsse:Security>",
        escape(username)
    ))
}

/// An HTTP date (`Fri, 27 Nov 2026 08:16:14 GMT`, RFC 9110's
/// IMF-fixdate) as an xsd:dateTime in UTC (`2026-11-27T08:16:14Z`).
pub fn created_from_http_date(value: &str) -> Option<String> {
    let parts: Vec<&str> = value.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: u8 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)?
        + 1;
    let year: u16 = year.parse().ok().filter(|y| (1970..=9999).contains(y))?;
    let hms: Vec<u8> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    if *h > 23 || *m > 59 || *s > 60 {
        return None;
    }
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_base64_of_sha1_of_nonce_created_password() {
        let digest = password_digest(b"abc", "2026-01-01T00:00:00Z", "pw");
        assert_eq!(digest, base64(&Sha1::digest(b"abc2026-01-01T00:00:00Zpw")));
        assert_eq!(digest.len(), 28);
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
    }

    #[test]
    fn headers_carry_the_token() {
        assert!(security_header(Mode::None, false, "u", "p", None).is_none());
        let text = security_header(Mode::Text, false, "u<", "p&", None).unwrap();
        assert!(text.contains("<wsse:Username>u&lt;</wsse:Username>"));
        assert!(text.contains("#PasswordText\">p&amp;</wsse:Password>"));
        assert!(text.contains("soap:mustUnderstand=\"1\""));
        let digest = security_header(
            Mode::Digest,
            true,
            "u",
            "p",
            Some(Freshness {
                nonce: b"0123456789abcdef",
                created: "2026-01-01T00:00:00Z",
            }),
        )
        .unwrap();
        assert!(digest.contains("<wsse:Nonce EncodingType="));
        assert!(digest.contains(">MDEyMzQ1Njc4OWFiY2RlZg==</wsse:Nonce>"));
        assert!(digest.contains("<wsu:Created>2026-01-01T00:00:00Z</wsu:Created>"));
        assert!(digest.contains("soap:mustUnderstand=\"true\""));
        assert!(!digest.contains(">p<"));
    }

    #[test]
    fn nonces_differ_by_counter_and_time() {
        let t = "2026-01-01T00:00:00Z";
        let a = nonce(1, t, &["origin", "GetItems"], "u", "p");
        assert_ne!(a, nonce(2, t, &["origin", "GetItems"], "u", "p"));
        assert_ne!(
            a,
            nonce(1, "2026-01-01T00:00:01Z", &["origin", "GetItems"], "u", "p")
        );
        assert_ne!(a, nonce(1, t, &["origin", "GetItem"], "u", "p"));
        assert_ne!(a, nonce(1, t, &["origi", "nGetItems"], "u", "p"));
        assert_eq!(a, nonce(1, t, &["origin", "GetItems"], "u", "p"));
    }

    #[test]
    fn http_dates_become_utc_datetimes() {
        assert_eq!(
            created_from_http_date("Fri, 27 Nov 2026 08:16:14 GMT").as_deref(),
            Some("2026-11-27T08:16:14Z")
        );
        assert_eq!(created_from_http_date("yesterday"), None);
        assert_eq!(
            created_from_http_date("Fri, 27 Nox 2026 08:16:14 GMT"),
            None
        );
        assert_eq!(
            created_from_http_date("Fri, 27 Nov 2026 25:16:14 GMT"),
            None
        );
    }
}
