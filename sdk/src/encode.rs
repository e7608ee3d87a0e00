//! Encodings connectors need and should not each write again: percent
//! encoding (RFC 3986 unreserved characters kept), form bodies, base64 and
//! hexadecimal.
//!
//! Nearly every HTTP connector needs them, and a subtly wrong copy (a `+`
//! left unescaped, padding missing) fails only against some servers, so
//! there is one tested copy, here. [`http`](crate::http) uses it too, for
//! [`query`](crate::http::RequestBuilder::query) and
//! [`basic`](crate::http::RequestBuilder::basic).

/// Percent-encodes everything but the unreserved characters, for a path
/// segment, a query value or a form value.
///
/// ```
/// use cube_connector_sdk::encode::percent;
///
/// let user = "o'brien@example.com";
/// let url = format!("https://api.example.com/users/{}", percent(user));
/// assert_eq!(url, "https://api.example.com/users/o%27brien%40example.com");
/// ```
pub fn percent(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// An `application/x-www-form-urlencoded` body, as OAuth token endpoints
/// want.
///
/// ```
/// use cube_connector_sdk::{encode, http, testing};
///
/// # testing::reset();
/// # testing::on_http(|_| Ok(testing::response(200, r#"{"access_token":"t"}"#)));
/// http::post("https://login.example.com/oauth2/token")
///     .header("content-type", "application/x-www-form-urlencoded")
///     .body(encode::form(&[("grant_type", "client_credentials"), ("scope", "read write")]))
///     .send()?;
/// assert_eq!(
///     testing::requests()[0].body.as_deref(),
///     Some(&b"grant_type=client_credentials&scope=read%20write"[..])
/// );
/// # Ok::<(), cube_connector_sdk::Error>(())
/// ```
pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent(k), percent(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Standard base64 with padding (RFC 4648, `+` and `/`). For HTTP Basic
/// authentication, [`RequestBuilder::basic`](crate::http::RequestBuilder::basic)
/// does this for you.
///
/// ```
/// assert_eq!(cube_connector_sdk::encode::base64(b"user:pa55"), "dXNlcjpwYTU1");
/// ```
pub fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Lowercase hexadecimal, two digits a byte: to keep bytes (an LDAP paging
/// cookie, a digest) in a text cursor or in state.
///
/// ```
/// use cube_connector_sdk::encode::{hex, unhex};
///
/// let cookie = hex(&[0, 1, 254, 255]);
/// assert_eq!(cookie, "0001feff");
/// assert_eq!(unhex(&cookie), Some(vec![0, 1, 254, 255]));
/// ```
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of hexadecimal text (either case), the inverse of [`hex`];
/// `None` when it has an odd length or anything but hex digits.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(percent("a b/ü~"), "a%20b%2F%C3%BC~");
        assert_eq!(
            form(&[("grant_type", "client_credentials"), ("scope", "a b")]),
            "grant_type=client_credentials&scope=a%20b"
        );
        assert_eq!(base64(b"user:pa55"), "dXNlcjpwYTU1");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b""), "");
    }
}
