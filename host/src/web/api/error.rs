//! The API's one error type: a status code and a JSON body that says what
//! to do; internal errors are logged and answered without details.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::super::error::Error;
use crate::store::api_tokens::Scope;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("sign in first, or send an API token as Authorization: Bearer <token>")]
    Unauthorized,
    /// A bearer token that is unknown, revoked or expired.
    #[error(
        "the API token is unknown, revoked or expired; an admin can make a new one on /admin/tokens"
    )]
    InvalidToken,
    /// A live token without the scope the call needs.
    #[error("this call needs a token with the `{0}` scope")]
    InsufficientScope(Scope),
    /// A token over its requests a minute.
    #[error(
        "this token made more requests this minute than it may; try again in {retry_after_secs} s"
    )]
    RateLimited { retry_after_secs: u64 },
    #[error("this call is for admins")]
    Forbidden,
    #[error("the X-CSRF-Token header is missing or wrong; get the token from GET /api/v1/session")]
    Csrf,
    #[error("not found")]
    NotFound,
    /// A change-feed cursor from before what the feed still holds.
    #[error(
        "the changes after this cursor are no longer kept: read the directory in full again, then follow the feed from /api/v1/directory/changes/head"
    )]
    ResyncRequired,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    /// Field-level problems, by field name.
    #[error("some fields are invalid")]
    Invalid(BTreeMap<String, String>),
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        match error {
            Error::Unauthorized { .. } => ApiError::Unauthorized,
            Error::Forbidden => ApiError::Forbidden,
            Error::Csrf => ApiError::Csrf,
            Error::NotFound => ApiError::NotFound,
            Error::BadRequest(m) => ApiError::BadRequest(m),
            Error::TooManyRequests { .. } => ApiError::BadRequest("too many attempts".into()),
            Error::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Internal(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::InvalidToken => (StatusCode::UNAUTHORIZED, "invalid_token"),
            ApiError::InsufficientScope(_) => (StatusCode::FORBIDDEN, "insufficient_scope"),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::Csrf => (StatusCode::FORBIDDEN, "csrf"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::ResyncRequired => (StatusCode::GONE, "resync_required"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            ApiError::Internal(error) => {
                tracing::error!(error = %format!("{error:#}"), "API request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        let message = match &self {
            ApiError::Internal(_) => {
                "The server could not complete the request; the error was logged for the operators."
                    .to_owned()
            }
            other => other.to_string(),
        };
        let fields = match &self {
            ApiError::Invalid(fields) => json!(fields),
            _ => json!({}),
        };
        let mut response = (
            status,
            Json(json!({"error": {"code": code, "message": message, "fields": fields}})),
        )
            .into_response();
        let challenge = match &self {
            ApiError::Unauthorized => Some(Challenge::SignIn),
            ApiError::InvalidToken => Some(Challenge::InvalidToken),
            ApiError::InsufficientScope(scope) => Some(Challenge::InsufficientScope(*scope)),
            _ => None,
        };
        if let Some(challenge) = challenge {
            challenge.insert(response.headers_mut());
        }
        if let ApiError::RateLimited { retry_after_secs } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}

/// RFC 6750's `WWW-Authenticate` challenge, so that a client knows what to
/// do: the JSON API's and SCIM's refusals send the same.
#[derive(Clone, Copy, Debug)]
pub(in crate::web) enum Challenge {
    /// No token (or session) at all.
    SignIn,
    InvalidToken,
    InsufficientScope(Scope),
}

impl Challenge {
    pub(in crate::web) fn insert(self, headers: &mut axum::http::HeaderMap) {
        let value = match self {
            Challenge::SignIn => "Bearer realm=\"cube\"".to_owned(),
            Challenge::InvalidToken => "Bearer error=\"invalid_token\"".to_owned(),
            Challenge::InsufficientScope(scope) => {
                format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\"")
            }
        };
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
    }
}
