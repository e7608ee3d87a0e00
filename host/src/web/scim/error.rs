//! SCIM's error answers (RFC 7644 §3.12): a status and a body with the
//! Error schema, `status` as a string and, for a 400, 409 or 412, the
//! `scimType` that tells a client what kind of mistake it made. Internal
//! errors are logged and answered without details, as the JSON API does.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::super::api::ApiError;
use super::super::api::error::Challenge;
use super::filter::FilterError;
use super::{CONTENT_TYPE, ERROR_SCHEMA};
use crate::store::api_tokens::Scope;
use crate::store::scim::ScimWriteError;

#[derive(Debug, thiserror::Error)]
pub enum ScimError {
    #[error(
        "send a SCIM token as Authorization: Bearer <token>; an admin makes one on /admin/tokens with the `scim` scope"
    )]
    Unauthorized,
    #[error(
        "the token is unknown, revoked or expired; an admin can make a new one on /admin/tokens"
    )]
    InvalidToken,
    #[error("this token lacks the `{0}` scope, or its owner is no longer an admin")]
    InsufficientScope(Scope),
    #[error(
        "this token made more requests this minute than it may; try again in {retry_after_secs} s"
    )]
    RateLimited { retry_after_secs: u64 },
    #[error("{0}")]
    Forbidden(String),
    #[error("no such resource")]
    NotFound,
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    Uniqueness(String),
    #[error("{0}")]
    InvalidFilter(String),
    #[error("{0}")]
    InvalidPath(String),
    #[error("{0}")]
    NoTarget(String),
    #[error("{0}")]
    InvalidValue(String),
    #[error("{0}")]
    InvalidSyntax(String),
    #[error("{0}")]
    Mutability(String),
    #[error("{0}")]
    NotImplemented(String),
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl ScimError {
    fn status_and_type(&self) -> (StatusCode, Option<&'static str>) {
        use ScimError::*;
        match self {
            Unauthorized | InvalidToken => (StatusCode::UNAUTHORIZED, None),
            InsufficientScope(_) | Forbidden(_) => (StatusCode::FORBIDDEN, None),
            RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, None),
            NotFound => (StatusCode::NOT_FOUND, None),
            PreconditionFailed(_) => (StatusCode::PRECONDITION_FAILED, None),
            Uniqueness(_) => (StatusCode::CONFLICT, Some("uniqueness")),
            InvalidFilter(_) => (StatusCode::BAD_REQUEST, Some("invalidFilter")),
            InvalidPath(_) => (StatusCode::BAD_REQUEST, Some("invalidPath")),
            NoTarget(_) => (StatusCode::BAD_REQUEST, Some("noTarget")),
            InvalidValue(_) => (StatusCode::BAD_REQUEST, Some("invalidValue")),
            InvalidSyntax(_) => (StatusCode::BAD_REQUEST, Some("invalidSyntax")),
            Mutability(_) => (StatusCode::BAD_REQUEST, Some("mutability")),
            NotImplemented(_) => (StatusCode::NOT_IMPLEMENTED, None),
            Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, None),
        }
    }

    pub fn filter(error: FilterError) -> Self {
        ScimError::InvalidFilter(error.0)
    }
}

impl From<ApiError> for ScimError {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::Unauthorized => ScimError::Unauthorized,
            ApiError::InvalidToken => ScimError::InvalidToken,
            ApiError::InsufficientScope(scope) => ScimError::InsufficientScope(scope),
            ApiError::RateLimited { retry_after_secs } => {
                ScimError::RateLimited { retry_after_secs }
            }
            ApiError::Internal(e) => ScimError::Internal(e),
            other => ScimError::Internal(anyhow::anyhow!("{other}")),
        }
    }
}

impl From<sqlx::Error> for ScimError {
    fn from(e: sqlx::Error) -> Self {
        ScimError::Internal(e.into())
    }
}

impl From<ScimWriteError> for ScimError {
    fn from(error: ScimWriteError) -> Self {
        match error {
            ScimWriteError::NotFound => ScimError::NotFound,
            e @ ScimWriteError::VersionMismatch { .. } => {
                ScimError::PreconditionFailed(format!("{e}; read it again before changing it"))
            }
            e @ ScimWriteError::UserNameTaken(_) => ScimError::Uniqueness(e.to_string()),
            e @ ScimWriteError::UnknownMembers(_) => ScimError::InvalidValue(e.to_string()),
            ScimWriteError::Database(e) => ScimError::Internal(e.into()),
        }
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let (status, scim_type) = self.status_and_type();
        let detail = match &self {
            ScimError::Internal(error) => {
                tracing::error!(error = %format!("{error:#}"), "SCIM request failed");
                "The server could not complete the request; the error was logged for the operators."
                    .to_owned()
            }
            other => other.to_string(),
        };
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": status.as_u16().to_string(),
            "detail": detail,
        });
        if let Some(scim_type) = scim_type {
            body["scimType"] = json!(scim_type);
        }
        let mut response = (status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        let challenge = match &self {
            ScimError::Unauthorized => Some(Challenge::SignIn),
            ScimError::InvalidToken => Some(Challenge::InvalidToken),
            ScimError::InsufficientScope(scope) => Some(Challenge::InsufficientScope(*scope)),
            _ => None,
        };
        if let Some(challenge) = challenge {
            challenge.insert(headers);
        }
        if let ScimError::RateLimited { retry_after_secs } = self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}
