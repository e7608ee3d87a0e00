//! Who is asking: the session cookie, the signed-in user, CSRF checks.
//!
//! The session cookie is `HttpOnly` and `SameSite=Lax`, and `Secure` when
//! the server's public URL is https. Every state-changing form carries the
//! session's CSRF token, compared in constant time; the sign-in form, which
//! has no session yet, uses a double-submit cookie instead.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;

use super::AppState;
use super::error::Error;
use crate::shared::constant_time::constant_time_eq;
use crate::store::sessions::Session;
use crate::store::users::{Role, User};

pub const SESSION_COOKIE: &str = "cube_session";
pub const LOGIN_CSRF_COOKIE: &str = "cube_login_csrf";

/// A signed-in user, for any page that needs one.
pub struct SignedIn {
    pub session: Session,
    pub token: String,
}

/// A signed-in admin.
pub struct Admin(pub SignedIn);

/// Whoever asks for a change, as the audit log names them: a signed-in
/// user, or an API token (`api::Caller`). The actions the pages and the
/// API share take one.
pub trait Actor {
    fn actor(&self) -> &str;
}

impl Actor for SignedIn {
    fn actor(&self) -> &str {
        &self.session.user.username
    }
}

impl SignedIn {
    pub fn user(&self) -> &User {
        &self.session.user
    }

    /// Refuses `submitted` unless it is this session's CSRF token.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), Error> {
        if constant_time_eq(submitted.as_bytes(), self.session.csrf_token.as_bytes()) {
            Ok(())
        } else {
            Err(Error::Csrf)
        }
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let next = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(Error::Unauthorized { next });
        };
        match state.store.session(&token).await? {
            Some(session) => Ok(SignedIn { session, token }),
            None => Err(Error::Unauthorized { next }),
        }
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let signed_in = SignedIn::from_request_parts(parts, state).await?;
        if signed_in.user().role == Role::Admin {
            Ok(Admin(signed_in))
        } else {
            Err(Error::Forbidden)
        }
    }
}

/// The value of a cookie in the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A `Set-Cookie` value with the attributes every cookie of ours has.
pub fn set_cookie(name: &str, value: &str, max_age_secs: Option<i64>, secure: bool) -> String {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age_secs {
        cookie.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append("cookie", "a=1; cube_session=tok; b=2".parse().unwrap());
        assert_eq!(cookie(&headers, "cube_session").as_deref(), Some("tok"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn cookies_carry_their_protections() {
        let c = set_cookie("s", "v", Some(60), true);
        assert_eq!(c, "s=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure");
        assert!(!set_cookie("s", "v", None, false).contains("Secure"));
    }
}
