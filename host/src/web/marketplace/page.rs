//! The marketplace's list pages (the registry's packages, the installed
//! connectors, the trusted publisher keys) alike: each loads what it lists
//! and shows it with the notice of the redirect that led to it, or with
//! why the form just posted to it was refused.

use axum::extract::{Query, State};
use axum::response::Html;
use minijinja::{Value, context};

use super::super::AppState;
use super::super::error::Error;
use super::super::forms::Notice;
use super::super::render;
use super::super::session::SignedIn;

/// One of the list pages.
pub(super) trait ListPage {
    /// Its template.
    const TEMPLATE: &'static str;

    /// What the page lists, and `error` (why the form just posted to it
    /// was refused) where the page shows it.
    fn load(
        state: &AppState,
        error: Option<String>,
    ) -> impl Future<Output = Result<Value, Error>> + Send;
}

/// `GET` of the page `P`.
pub(super) async fn list<P: ListPage>(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<Notice>,
) -> Result<Html<String>, Error> {
    list_page::<P>(&state, &signed_in, query.notice, None).await
}

/// The page `P`, with `notice` or `error`.
pub(super) async fn list_page<P: ListPage>(
    state: &AppState,
    signed_in: &SignedIn,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Html<String>, Error> {
    let listing = P::load(state, error).await?;
    render::signed_in_page(P::TEMPLATE, signed_in, context! { notice, ..listing })
}
