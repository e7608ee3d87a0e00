//! Who calls the JSON API, and whether they may: the extractors handlers
//! take.
//!
//! A caller is a signed-in browser (its session cookie; every change also
//! needs the session's CSRF token in `X-CSRF-Token`) or an API token (found
//! by `super::bearer`; no CSRF token). Each extractor names what the call
//! needs: [`ApiUser`] reads (`read`), [`ApiWriter`] changes work orders and
//! runs syncs (`write`), [`ApiAdmin`] manages (`admin`), [`DirectoryReader`]
//! reads the directory (`directory:read`). A session needs the admin role
//! for anything but reading, as the pages do. A token that lacks the scope
//! gets `403` with `WWW-Authenticate: Bearer error="insufficient_scope"`
//! (RFC 6750), and the refusal is audited.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde_json::json;

use super::super::AppState;
use super::super::session::{Actor, SignedIn};
use super::ApiError;
use super::bearer::{self, TokenCaller};
use crate::store::api_tokens::Scope;
use crate::store::users::{Role, User};

/// Someone allowed to make the call at hand.
pub struct Caller {
    /// How the audit log names the caller: the user name for a session,
    /// the owner and the token's name for a token (`ci (token deploy)`).
    actor: String,
    pub credential: Credential,
}

impl Actor for Caller {
    fn actor(&self) -> &str {
        &self.actor
    }
}

/// How the caller proved who they are.
pub enum Credential {
    /// A signed-in browser.
    Session(SignedIn),
    /// An API token (boxed: it is the larger by far).
    Token(Box<TokenCaller>),
}

impl Caller {
    fn new(credential: Credential) -> Self {
        let actor = match &credential {
            Credential::Session(signed_in) => signed_in.user().username.clone(),
            Credential::Token(token) => token.authenticated.token.actor(),
        };
        Caller { actor, credential }
    }

    /// The user behind the call: the session's, or a personal token's;
    /// `None` for a service account.
    pub fn user(&self) -> Option<&User> {
        match &self.credential {
            Credential::Session(signed_in) => Some(signed_in.user()),
            Credential::Token(token) => token.authenticated.user.as_ref(),
        }
    }

    /// `api` for a session, `token` for an API token, for audit entries
    /// that say how a change was asked for.
    pub fn via(&self) -> &'static str {
        match &self.credential {
            Credential::Session(_) => "api",
            Credential::Token(_) => "token",
        }
    }
}

/// What a call needs of its caller.
struct Needs {
    scope: Scope,
    /// A session must belong to an admin (changes, and admin reads).
    admin_session: bool,
    /// A session must send its CSRF token (every change).
    csrf: bool,
}

async fn caller(parts: &mut Parts, state: &AppState, needs: Needs) -> Result<Caller, ApiError> {
    if let Some(token) = parts.extensions.get::<TokenCaller>() {
        let token = token.clone();
        if token.authenticated.allows(needs.scope) {
            return Ok(Caller::new(Credential::Token(Box::new(token))));
        }
        let actor = token.authenticated.token.actor();
        bearer::audit(
            state,
            &actor,
            "api_token.forbidden",
            &format!("api_token:{}", token.authenticated.token.id),
            json!({
                "needs": needs.scope,
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
            }),
            &token.address,
        )
        .await;
        return Err(ApiError::InsufficientScope(needs.scope));
    }
    let signed_in = SignedIn::from_request_parts(parts, state).await?;
    if needs.admin_session && signed_in.user().role != Role::Admin {
        return Err(ApiError::Forbidden);
    }
    if needs.csrf {
        let submitted = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        signed_in.check_csrf(submitted)?;
    }
    Ok(Caller::new(Credential::Session(signed_in)))
}

/// Reads what the API shows: any signed-in user, or a `read` token.
pub struct ApiUser(pub Caller);

/// Changes work orders, tests and syncs integrations: an admin's session
/// with its CSRF token, or a `write` token.
pub struct ApiWriter(pub Caller);

/// Manages integrations, webhooks and the marketplace: an admin's session
/// with its CSRF token, or an `admin` token.
pub struct ApiAdmin(pub Caller);

/// Reads the directory: any signed-in user, or a `directory:read` token.
pub struct DirectoryReader(pub Caller);

macro_rules! extractor {
    ($name:ident, $scope:expr, admin_session: $admin:expr, csrf: $csrf:expr) => {
        impl FromRequestParts<AppState> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &AppState,
            ) -> Result<Self, ApiError> {
                let needs = Needs {
                    scope: $scope,
                    admin_session: $admin,
                    csrf: $csrf,
                };
                Ok($name(caller(parts, state, needs).await?))
            }
        }
    };
}

extractor!(ApiUser, Scope::Read, admin_session: false, csrf: false);
extractor!(ApiWriter, Scope::Write, admin_session: true, csrf: true);
extractor!(ApiAdmin, Scope::Admin, admin_session: true, csrf: true);
extractor!(DirectoryReader, Scope::DirectoryRead, admin_session: false, csrf: false);

/// The session itself, for `GET /api/v1/session` (a token has none).
pub struct ApiSession(pub SignedIn);

impl FromRequestParts<AppState> for ApiSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(ApiSession(
            SignedIn::from_request_parts(parts, state).await?,
        ))
    }
}
