//! `/login` and `/logout`.
//!
//! A sign-in tries the local accounts first; a name that is no local
//! account may be a directory user's (`crate::integrations::directory_bind`):
//! the directory checks the password, the synced groups give the role.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::context;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::Error;
use super::session::{
    LOGIN_CSRF_COOKIE, SESSION_COOKIE, SignedIn, constant_time_eq, cookie, set_cookie,
};
use super::templates;
use crate::integrations::directory_bind::{self, Attempt, DirectorySignIn};
use crate::store::audit::AuditEvent;
use crate::store::sessions::{MAX_LIFETIME_MS, random_token};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/logout/everywhere", post(logout_everywhere))
}

#[derive(Deserialize)]
struct Next {
    next: Option<String>,
}

/// Only local paths: an open redirect would let a link to our sign-in page
/// send people elsewhere.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

fn login_page(
    state: &AppState,
    next: &str,
    username: &str,
    error: Option<&str>,
) -> Result<Response, Error> {
    let csrf = random_token();
    let html = templates::page(
        "auth/login.html",
        context! { csrf_token => csrf, next => next, username => username, error => error },
    )?;
    let cookie = set_cookie(LOGIN_CSRF_COOKIE, &csrf, Some(3600), state.secure_cookies);
    Ok(([(header::SET_COOKIE, cookie)], html).into_response())
}

async fn login_form(
    State(state): State<AppState>,
    Query(q): Query<Next>,
) -> Result<Response, Error> {
    login_page(&state, &safe_next(q.next.as_deref()), "", None)
}

#[derive(Deserialize)]
struct LoginForm {
    csrf_token: String,
    username: String,
    password: String,
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, Error> {
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(expected.as_bytes(), form.csrf_token.as_bytes()) {
        return Err(Error::Csrf);
    }
    let remote = remote.ip().to_string();
    let next = safe_next(form.next.as_deref());
    if let Some(throttled) = state
        .store
        .login_throttle(&throttle_key(&form.username), &remote)
        .await?
    {
        tracing::warn!(username = %form.username, %remote, "sign-in throttled");
        return Err(Error::TooManyRequests {
            retry_after_secs: (throttled.retry_after_ms / 1000).max(1) as u64,
        });
    }
    // Local accounts first, exactly as before: they work whether or not a
    // directory answers. A name that is a local account never goes to a
    // directory; only other names (or directory users' own accounts, which
    // have no local password) do.
    let (user, audit) = match state
        .store
        .authenticate(&form.username, &form.password)
        .await?
    {
        Some(user) => {
            let audit = SignInAudit {
                action: "session.sign-in",
                after: None,
            };
            (user, audit)
        }
        None if state.store.is_local_account(&form.username).await? => {
            return refuse(&state, &form, &remote, &next).await;
        }
        None => {
            match directory_bind::sign_in(&state.store, &form.username, &form.password).await? {
                DirectorySignIn::UnknownUser => return refuse(&state, &form, &remote, &next).await,
                DirectorySignIn::Refused(attempts) => {
                    return refuse_directory(&state, &form, &remote, &next, &attempts).await;
                }
                DirectorySignIn::SignedIn {
                    user,
                    integration,
                    dn,
                    ..
                } => {
                    let after = json!({ "integration": integration, "dn": dn, "role": user.role });
                    let audit = SignInAudit {
                        action: "session.sign-in.directory",
                        after: Some(after),
                    };
                    (user, audit)
                }
            }
        }
    };
    state
        .store
        .clear_failed_logins(&throttle_key(&form.username))
        .await?;
    let token = state.store.create_session(&user).await?;
    state
        .store
        .audit(AuditEvent {
            actor: &user.username,
            action: audit.action,
            target: &format!("user:{}", user.username),
            before: None,
            after: audit.after,
            remote: Some(&remote),
        })
        .await?;
    let session = set_cookie(
        SESSION_COOKIE,
        &token,
        Some(MAX_LIFETIME_MS / 1000),
        state.secure_cookies,
    );
    let clear = set_cookie(LOGIN_CSRF_COOKIE, "", Some(0), state.secure_cookies);
    // Two cookies: AppendHeaders, since a plain header array would keep
    // only the last `Set-Cookie`.
    Ok((
        AppendHeaders([(header::SET_COOKIE, session), (header::SET_COOKIE, clear)]),
        Redirect::to(&next),
    )
        .into_response())
}

/// The name failed sign-ins are counted under: directory names compare
/// case-insensitively, so `ADA` and `ada` share one count.
fn throttle_key(username: &str) -> String {
    username.to_lowercase()
}

/// What the audit log records of a sign-in.
struct SignInAudit {
    action: &'static str,
    after: Option<serde_json::Value>,
}

/// The answer to every refused sign-in, local or directory: the same words
/// whatever the reason, so the form tells no one which names exist.
const WRONG: &str = "The user name or password is wrong.";
/// When a directory could not be reached to check the password.
const UNREACHABLE: &str = "The directory could not be reached; local accounts can still sign in.";

/// A refused sign-in: counted for throttling, answered with [`WRONG`].
async fn refuse(
    state: &AppState,
    form: &LoginForm,
    remote: &str,
    next: &str,
) -> Result<Response, Error> {
    state
        .store
        .record_failed_login(&throttle_key(&form.username), remote)
        .await?;
    tracing::info!(username = %form.username, %remote, "failed sign-in");
    let mut page = login_page(state, next, &form.username, Some(WRONG))?;
    *page.status_mut() = StatusCode::UNAUTHORIZED;
    Ok(page)
}

/// A refused directory sign-in: the precise reason of each attempt goes to
/// the audit log; the browser gets [`WRONG`], or [`UNREACHABLE`] when a
/// directory did not answer (which says nothing about the password, so it
/// is not counted as a failed guess).
async fn refuse_directory(
    state: &AppState,
    form: &LoginForm,
    remote: &str,
    next: &str,
    attempts: &[Attempt],
) -> Result<Response, Error> {
    for attempt in attempts {
        state
            .store
            .audit(AuditEvent {
                actor: &form.username,
                action: "session.sign-in.directory-refused",
                target: &format!("user:{}", attempt.username),
                before: None,
                after: Some(json!({
                    "integration": attempt.integration,
                    "dn": attempt.dn,
                    "reason": attempt.reason.as_str(),
                    "detail": attempt.detail,
                })),
                remote: Some(remote),
            })
            .await?;
        tracing::info!(username = %form.username, %remote, integration = %attempt.integration,
            reason = attempt.reason.as_str(), "directory sign-in refused");
    }
    let unreachable = attempts.iter().any(|a| a.reason.is_unreachable());
    if !unreachable {
        return refuse(state, form, remote, next).await;
    }
    let mut page = login_page(state, next, &form.username, Some(UNREACHABLE))?;
    *page.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    Ok(page)
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf_token: String,
}

async fn logout(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, Error> {
    signed_in.check_csrf(&form.csrf_token)?;
    state.store.end_session(&signed_in.token).await?;
    let clear = set_cookie(SESSION_COOKIE, "", Some(0), state.secure_cookies);
    Ok(([(header::SET_COOKIE, clear)], Redirect::to("/login")).into_response())
}

async fn logout_everywhere(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, Error> {
    signed_in.check_csrf(&form.csrf_token)?;
    let ended = state.store.end_sessions_of(signed_in.user().id).await?;
    state
        .store
        .audit(AuditEvent {
            actor: &signed_in.user().username,
            action: "session.sign-out-everywhere",
            target: &format!("user:{}", signed_in.user().username),
            before: Some(serde_json::json!({ "sessions": ended })),
            after: None,
            remote: None,
        })
        .await?;
    let clear = set_cookie(SESSION_COOKIE, "", Some(0), state.secure_cookies);
    Ok(([(header::SET_COOKIE, clear)], Redirect::to("/login")).into_response())
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/admin/users")), "/admin/users");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
