//! `/login` and `/logout`.
//!
//! A sign-in tries the local accounts first; a name that is no local
//! account may be a directory user's (`crate::integrations::directory_bind`):
//! the directory checks the password, the synced groups give the role.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::context;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::access::Client;
use super::error::Error;
use super::forms::CsrfForm;
use super::render;
use super::session::{LOGIN_CSRF_COOKIE, SESSION_COOKIE, SignedIn, cookie, set_cookie};
use crate::integrations::directory_bind::{self, Attempt, DirectorySignIn};
use crate::shared::constant_time::constant_time_eq;
use crate::store::audit::AuditEvent;
use crate::store::login_attempts::Admission;
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

/// Where to go after signing in: only a path on this server. An open
/// redirect would let a link to our sign-in page send people elsewhere, so
/// `next` is read the way a browser reads a `Location` (with the URL
/// parser, which drops tabs and newlines and takes `\` for `/`), and kept
/// only when it stays on this origin and its path, decoded, does not start
/// a new authority (`/%2F%2Fevil.example`).
fn safe_next(next: Option<&str>) -> String {
    const HERE: &str = "http://cube.invalid/";
    let Some(next) = next else {
        return "/".to_owned();
    };
    let here = url::Url::parse(HERE).expect("a valid base URL");
    let stays_here = next.starts_with('/')
        && !next
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\');
    let Some(target) = stays_here.then(|| here.join(next).ok()).flatten() else {
        return "/".to_owned();
    };
    let path = target.path();
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    if target.origin() != here.origin()
        || decoded.starts_with("//")
        || decoded.contains('\\')
        || !target.username().is_empty()
    {
        return "/".to_owned();
    }
    match target.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    }
}

fn login_page(
    secure: bool,
    next: &str,
    username: &str,
    error: Option<&str>,
) -> Result<Response, Error> {
    let csrf = random_token();
    let html = render::page(
        "auth/login.html",
        context! { csrf_token => csrf, next => next, username => username, error => error },
    )?;
    let cookie = set_cookie(LOGIN_CSRF_COOKIE, &csrf, Some(3600), secure);
    Ok(([(header::SET_COOKIE, cookie)], html).into_response())
}

async fn login_form(
    State(state): State<AppState>,
    client: Client,
    Query(q): Query<Next>,
) -> Result<Response, Error> {
    login_page(
        client.secure_cookies(&state),
        &safe_next(q.next.as_deref()),
        "",
        None,
    )
}

#[derive(Deserialize)]
struct LoginForm {
    csrf_token: String,
    username: String,
    password: String,
    next: Option<String>,
}

/// What a person whose sign-in found the password pool full is shown.
const BUSY_PAGE: &str = "<!doctype html><title>Busy</title><p>The server is busy checking \
    other sign-ins. <a href=\"/login\">Try again</a> in a moment.</p>";

async fn login(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, Error> {
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(expected.as_bytes(), form.csrf_token.as_bytes()) {
        return Err(Error::Csrf);
    }
    let attempt = SignInAttempt {
        secure: client.secure_cookies(&state),
        remote: client.ip.to_string(),
        next: safe_next(form.next.as_deref()),
        // Logs name the account by pseudonym: people type passwords into
        // the name field.
        who: state.access.pseudonym(&form.username),
        account: throttle_key(&form.username),
    };
    let remote = &attempt.remote;
    // A place on the password pool first: past its queue a sign-in is
    // answered at once, before it reaches the database.
    let Ok(place) = state.access.passwords.admit() else {
        // Debug only: a flood must not flood the log too. A fixed page,
        // not the template: this answer must cost next to nothing.
        tracing::debug!(user = %attempt.who, %remote, "sign-in refused: the password pool is full");
        tokio::time::sleep(state.access.refusal_delay).await;
        return Ok((
            StatusCode::SERVICE_UNAVAILABLE,
            [
                (header::RETRY_AFTER, "1"),
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            ],
            BUSY_PAGE,
        )
            .into_response());
    };
    // Counted before the password is checked, in one statement with the
    // decision: parallel guesses get no more tries than sequential ones.
    let policy = &state.access.login_policy;
    if let Admission::Throttled { retry_after_ms } = state
        .store
        .admit_login(&attempt.account, remote, policy)
        .await?
    {
        tracing::warn!(user = %attempt.who, %remote, "sign-in throttled");
        // The place goes back before the wait: a backed-off source holds
        // no room in the pool.
        drop(place);
        let wait = Duration::from_millis(retry_after_ms.max(0) as u64);
        tokio::time::sleep(state.access.refusal_delay.min(wait)).await;
        return Err(Error::TooManyRequests {
            retry_after_secs: (retry_after_ms as u64).div_ceil(1000).max(1),
        });
    }
    // Local accounts first, exactly as before: they work whether or not a
    // directory answers. A name that is a local account never goes to a
    // directory; only other names (or directory users' own accounts, which
    // have no local password) do.
    let (local, hash) = match state.store.password_hash_of(&form.username).await? {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let verified = place.verify(&form.password, hash).await;
    let (user, audit) = match local {
        Some(user) if verified => {
            let audit = SignInAudit {
                action: "session.sign-in",
                after: None,
            };
            (user, audit)
        }
        _ if state.store.is_local_account(&form.username).await? => {
            return refuse(&form, &attempt).await;
        }
        _ => match directory_bind::sign_in(&state.store, &form.username, &form.password).await? {
            DirectorySignIn::UnknownUser => return refuse(&form, &attempt).await,
            DirectorySignIn::Refused(attempts) => {
                return refuse_directory(&state, &form, &attempt, &attempts).await;
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
        },
    };
    state
        .store
        .login_succeeded(&attempt.account, remote, policy)
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
            remote: Some(remote),
        })
        .await?;
    let session = set_cookie(
        SESSION_COOKIE,
        &token,
        Some(MAX_LIFETIME_MS / 1000),
        attempt.secure,
    );
    let clear = set_cookie(LOGIN_CSRF_COOKIE, "", Some(0), attempt.secure);
    // Two cookies: AppendHeaders, since a plain header array would keep
    // only the last `Set-Cookie`.
    Ok((
        AppendHeaders([(header::SET_COOKIE, session), (header::SET_COOKIE, clear)]),
        Redirect::to(&attempt.next),
    )
        .into_response())
}

/// One sign-in attempt, as the refusals need it.
struct SignInAttempt {
    /// Whether cookies get `Secure`.
    secure: bool,
    remote: String,
    /// Where to go after signing in (already made safe).
    next: String,
    /// The name's pseudonym, for logs.
    who: String,
    /// The name the attempt is counted under.
    account: String,
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

/// A refused sign-in (already counted for throttling), answered with
/// [`WRONG`].
async fn refuse(form: &LoginForm, attempt: &SignInAttempt) -> Result<Response, Error> {
    tracing::info!(user = %attempt.who, remote = %attempt.remote, "failed sign-in");
    let mut page = login_page(attempt.secure, &attempt.next, &form.username, Some(WRONG))?;
    *page.status_mut() = StatusCode::UNAUTHORIZED;
    Ok(page)
}

/// A refused directory sign-in: the precise reason of each attempt goes to
/// the audit log (for admins: it keeps the name); the browser gets
/// [`WRONG`], or [`UNREACHABLE`] when a directory did not answer or is
/// misconfigured. Either way the attempt stays counted: an attacker could
/// otherwise guess freely whenever a directory is down.
async fn refuse_directory(
    state: &AppState,
    form: &LoginForm,
    attempt: &SignInAttempt,
    attempts: &[Attempt],
) -> Result<Response, Error> {
    for refused in attempts {
        state
            .store
            .audit(AuditEvent {
                actor: &form.username,
                action: "session.sign-in.directory-refused",
                target: &format!("user:{}", refused.username),
                before: None,
                after: Some(json!({
                    "integration": refused.integration,
                    "dn": refused.dn,
                    "reason": refused.reason.as_str(),
                    "detail": refused.detail,
                })),
                remote: Some(&attempt.remote),
            })
            .await?;
        tracing::info!(user = %attempt.who, remote = %attempt.remote,
            integration = %refused.integration, reason = refused.reason.as_str(),
            "directory sign-in refused");
    }
    let unreachable = attempts.iter().any(|a| a.reason.is_unreachable());
    if !unreachable {
        return refuse(form, attempt).await;
    }
    let mut page = login_page(
        attempt.secure,
        &attempt.next,
        &form.username,
        Some(UNREACHABLE),
    )?;
    *page.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    Ok(page)
}

/// To the sign-in form, with the session cookie cleared.
fn signed_out(state: &AppState, client: &Client) -> Response {
    let clear = set_cookie(SESSION_COOKIE, "", Some(0), client.secure_cookies(state));
    ([(header::SET_COOKIE, clear)], Redirect::to("/login")).into_response()
}

async fn logout(
    State(state): State<AppState>,
    client: Client,
    signed_in: SignedIn,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Error> {
    signed_in.check_csrf(&form.csrf_token)?;
    state.store.end_session(&signed_in.token).await?;
    Ok(signed_out(&state, &client))
}

async fn logout_everywhere(
    State(state): State<AppState>,
    client: Client,
    signed_in: SignedIn,
    Form(form): Form<CsrfForm>,
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
    Ok(signed_out(&state, &client))
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/admin/users")), "/admin/users");
        assert_eq!(
            safe_next(Some("/integrations/3?tab=x")),
            "/integrations/3?tab=x"
        );
        for evil in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/%2F%2Fevil.example",
            "/%2f/evil.example",
            "/%5Cevil.example",
            "///evil.example",
            "/ /evil.example",
            "evil.example",
            "",
        ] {
            assert_eq!(safe_next(Some(evil)), "/", "{evil:?}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
