//! Pages for handlers: a template rendered to HTML, or the error page.
//!
//! Kept apart from the template engine (`templates`) so that the engine
//! knows nothing of handlers' errors, and the error page (`error`) can use
//! the engine without a cycle.

use axum::response::Html;
use minijinja::{Value, context};
use serde::Serialize;

use super::error::Error;
use super::session::SignedIn;
use super::templates::Templates;

/// Renders a page for a handler; a template error is an internal error.
pub fn page<S: Serialize>(name: &str, context: S) -> Result<Html<String>, Error> {
    Templates::global()
        .render(name, context)
        .map(Html)
        .map_err(|e| Error::Internal(e.into()))
}

/// Renders a page for a signed-in user: `context`, and what the layout
/// (`base.html`) needs of every such page, the `user` its menu names and
/// the `csrf_token` its sign-out form (and the page's own forms) carry.
pub fn signed_in_page(
    name: &str,
    signed_in: &SignedIn,
    context: Value,
) -> Result<Html<String>, Error> {
    page(
        name,
        context! {
            user => signed_in.user(),
            csrf_token => &signed_in.session.csrf_token,
            ..context
        },
    )
}
