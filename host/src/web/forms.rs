//! The small forms and queries many pages read alike: the notice a page
//! shows after a redirect (and that redirect), a form that carries only
//! its CSRF token, a form that deletes something once its "confirm" box is
//! ticked, a list shown a page at a time, and the checks of a description
//! and of a webhook's signing secret.

use std::collections::HashMap;

use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::error::Error;
use super::urlencode;
use crate::webhooks::signature::Scheme;

/// `?notice=`: what the redirect that led here has done.
#[derive(Deserialize, Default)]
pub(in crate::web) struct Notice {
    pub notice: Option<String>,
}

/// To `path`, with a notice of what was done.
pub(in crate::web) fn redirect_with_notice(path: &str, notice: &str) -> Response {
    Redirect::to(&format!("{path}?notice={}", urlencode(notice))).into_response()
}

/// Rows a list shows a page at a time.
pub(in crate::web) const PAGE: i64 = 50;

/// `?offset=` of a list shown a page at a time, newest first, and the
/// notice of the redirect that led to it.
#[derive(Deserialize, Default)]
pub(in crate::web) struct PageQuery {
    #[serde(default)]
    offset: i64,
    pub notice: Option<String>,
}

impl PageQuery {
    /// Where the page starts (never before the first row).
    pub(in crate::web) fn offset(&self) -> i64 {
        self.offset.max(0)
    }
}

/// The page of `rows`, read as up to `PAGE + 1` from `offset` (one more
/// than a page tells whether there is a next one), and where the pages
/// before and after it start.
pub(in crate::web) fn page_of<T>(
    mut rows: Vec<T>,
    offset: i64,
) -> (Vec<T>, Option<i64>, Option<i64>) {
    let more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    let previous = (offset > 0).then(|| (offset - PAGE).max(0));
    (rows, previous, more.then_some(offset + PAGE))
}

/// A form that carries only its CSRF token.
#[derive(Deserialize)]
pub(in crate::web) struct CsrfForm {
    pub csrf_token: String,
}

/// The CSRF token of a form read as a map of its fields (empty when
/// missing, which no session's token is).
pub(in crate::web) fn csrf_field(input: &HashMap<String, String>) -> &str {
    input.get("csrf_token").map(String::as_str).unwrap_or("")
}

/// A delete form: its CSRF token and the "confirm" box.
#[derive(Deserialize)]
pub(in crate::web) struct ConfirmForm {
    pub csrf_token: String,
    pub confirm: Option<String>,
}

impl ConfirmForm {
    /// Refuses unless the box was ticked; `what` is what is being deleted
    /// ("a user").
    pub(in crate::web) fn ensure_confirmed(&self, what: &str) -> Result<(), Error> {
        if self.confirm.as_deref() == Some("yes") {
            Ok(())
        } else {
            Err(Error::BadRequest(format!(
                "Tick “confirm” to delete {what}."
            )))
        }
    }
}

/// Whether a description fits: at most 200 characters, on one line.
pub(in crate::web) fn is_short_line(text: &str) -> bool {
    text.chars().count() <= 200 && !text.chars().any(char::is_control)
}

/// The signing secret the admin `entered` for `scheme`, checked, or, left
/// empty, a new one; and whether it was entered.
pub(in crate::web) fn entered_or_new_secret(
    scheme: Scheme,
    entered: String,
) -> Result<(String, bool), Error> {
    if entered.is_empty() {
        return Ok((scheme.new_secret(), false));
    }
    scheme.check_secret(&entered).map_err(Error::BadRequest)?;
    Ok((entered, true))
}
