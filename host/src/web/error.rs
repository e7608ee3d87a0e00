//! One error type for every handler: it maps to a status code and a page
//! that says what to do, and logs internal details instead of showing them.

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::templates::Templates;
use super::urlencode;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not signed in: pages redirect to the sign-in form.
    #[error("sign in first")]
    Unauthorized { next: String },
    #[error("this page is for admins")]
    Forbidden,
    #[error("not found")]
    NotFound,
    /// A form without a valid CSRF token.
    #[error("the form expired or did not come from this site")]
    Csrf,
    #[error("too many attempts")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Internal(e.into())
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self {
            Error::Unauthorized { next } => {
                let target = format!("/login?next={}", urlencode(next));
                return Redirect::to(&target).into_response();
            }
            Error::Forbidden => (
                StatusCode::FORBIDDEN,
                "Not allowed",
                "This page is for admins. Ask an admin if you need access.".to_owned(),
            ),
            Error::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing at this address.".to_owned(),
            ),
            Error::Csrf => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "The form expired or did not come from this site. Go back, reload the page and try again."
                    .to_owned(),
            ),
            Error::TooManyRequests { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                format!(
                    "Too many failed sign-ins. Try again in {} minutes.",
                    retry_after_secs.div_ceil(60)
                ),
            ),
            Error::BadRequest(message) => (StatusCode::BAD_REQUEST, "Cannot do that", message.clone()),
            Error::Internal(error) => {
                tracing::error!(error = %format!("{error:#}"), "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The server could not complete the request. The error was logged for the operators."
                        .to_owned(),
                )
            }
        };
        let body = Templates::global()
            .render(
                "error.html",
                minijinja::context! { title => title, message => message },
            )
            .unwrap_or_else(|_| format!("{title}: {message}"));
        let mut response = (status, Html(body)).into_response();
        if let Error::TooManyRequests { retry_after_secs } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after_secs.into());
        }
        response
    }
}
