//! Pages for handlers: a template rendered to HTML, or the error page.
//!
//! Kept apart from the template engine (`templates`) so that the engine
//! knows nothing of handlers' errors, and the error page (`error`) can use
//! the engine without a cycle.

use axum::response::Html;
use serde::Serialize;

use super::error::Error;
use super::templates::Templates;

/// Renders a page for a handler; a template error is an internal error.
pub fn page<S: Serialize>(name: &str, context: S) -> Result<Html<String>, Error> {
    Templates::global()
        .render(name, context)
        .map(Html)
        .map_err(|e| Error::Internal(e.into()))
}
