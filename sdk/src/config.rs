//! Checks for the text fields of a connector's configuration: values that
//! must be filled in, and the http(s) addresses requests start from.
//!
//! Setup forms send what the admin typed, stray spaces and trailing
//! slashes included, and an empty field as `""`. These read such a field
//! the way every connector should, and fail with a `config` error, which
//! the host shows beside the form, in the connector's own words.
//!
//! ```
//! use cube_connector_sdk::config;
//!
//! let site = config::base_url(" https://acme.example.com/ ", |url| {
//!     format!("the site `{url}` is not an http(s) address")
//! })?;
//! assert_eq!(site, "https://acme.example.com");
//! assert_eq!(config::required("  OPS ", "no project key is configured")?, "OPS");
//!
//! let err = config::required(" ", "no project key is configured").unwrap_err();
//! assert_eq!(err.message(), "no project key is configured");
//! let err = config::base_url("acme.example.com", |url| format!("`{url}` is no address"));
//! assert_eq!(err.unwrap_err().message(), "`acme.example.com` is no address");
//! assert!(!config::is_http_url("ftp://acme.example.com"));
//! # Ok::<(), cube_connector_sdk::Error>(())
//! ```

use crate::error::{Error, Result};

/// Whether `url` starts with `https://` or `http://` (as typed: trim it
/// first). Anything else, a bare host name included, is no address a
/// request can go to.
pub fn is_http_url(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

/// `value` trimmed and without trailing slashes, so paths can be appended
/// with `/`. When it is not an http(s) address, a `config` error whose
/// message `not_http` makes from the trimmed value (say what the field is
/// and what a good one looks like).
pub fn base_url(value: &str, not_http: impl FnOnce(&str) -> String) -> Result<&str> {
    let url = value.trim().trim_end_matches('/');
    if !is_http_url(url) {
        return Err(Error::config(not_http(url)));
    }
    Ok(url)
}

/// `value` trimmed; a `config` error saying `missing` when nothing is left.
pub fn required<'a>(value: &'a str, missing: &str) -> Result<&'a str> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::config(missing));
    }
    Ok(value)
}
