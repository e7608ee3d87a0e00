//! The small forms and queries many pages read alike: the notice a page
//! shows after a redirect (and that redirect), a form that carries only
//! its CSRF token, and a form that deletes something once its "confirm"
//! box is ticked.

use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::error::Error;
use super::urlencode;

/// `?notice=`: what the redirect that led here has done.
#[derive(Deserialize, Default)]
pub(in crate::web) struct Notice {
    pub notice: Option<String>,
}

/// To `path`, with a notice of what was done.
pub(in crate::web) fn redirect_with_notice(path: &str, notice: &str) -> Response {
    Redirect::to(&format!("{path}?notice={}", urlencode(notice))).into_response()
}

/// A form that carries only its CSRF token.
#[derive(Deserialize)]
pub(in crate::web) struct CsrfForm {
    pub csrf_token: String,
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
