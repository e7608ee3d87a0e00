//! `/admin/tokens`: API tokens and service accounts, for admins
//! (decision 0035).
//!
//! A new token is shown once, on the page that answers its form (never in
//! a redirect's URL, and with `Cache-Control: no-store` so that no cache
//! keeps it); afterwards only its hint is. Revoking takes effect on the
//! next request on every node: tokens are looked up in the database each
//! time.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppState;
use super::audit;
use super::error::Error;
use super::forms::{ConfirmForm, Notice, redirect_with_notice};
use super::render;
use super::session::Admin;
use crate::store::api_tokens::{
    DEFAULT_REQUESTS_PER_MINUTE, NewToken, Scope, TokenError, TokenFor, parse_expiry,
};
use crate::store::now_millis;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/tokens", get(list).post(create))
        .route("/admin/tokens/{id}/revoke", post(revoke))
        .route("/admin/service-accounts", post(create_service_account))
        .route(
            "/admin/service-accounts/{id}/delete",
            post(delete_service_account),
        )
}

/// The new-token form. Scopes are one checkbox each (an HTML form sends a
/// repeated name, which the form decoder does not collect).
#[derive(Deserialize, Serialize, Default)]
struct NewTokenForm {
    #[serde(default, skip_serializing)]
    csrf_token: String,
    #[serde(default)]
    name: String,
    /// `me`, or `service-account:<id>`.
    #[serde(default)]
    owner: String,
    #[serde(default)]
    scope_read: Option<String>,
    #[serde(default)]
    scope_write: Option<String>,
    #[serde(default)]
    scope_admin: Option<String>,
    #[serde(default)]
    scope_directory_read: Option<String>,
    #[serde(default)]
    scope_scim: Option<String>,
    /// `7d`, `30d`, `90d`, `365d`, `never`, or a date.
    #[serde(default)]
    expires: String,
    #[serde(default)]
    requests_per_minute: String,
}

impl NewTokenForm {
    fn blank() -> Self {
        NewTokenForm {
            owner: "me".into(),
            scope_read: Some("on".into()),
            expires: "90d".into(),
            requests_per_minute: DEFAULT_REQUESTS_PER_MINUTE.to_string(),
            ..Default::default()
        }
    }

    fn scopes(&self) -> BTreeSet<Scope> {
        [
            (&self.scope_read, Scope::Read),
            (&self.scope_write, Scope::Write),
            (&self.scope_admin, Scope::Admin),
            (&self.scope_directory_read, Scope::DirectoryRead),
            (&self.scope_scim, Scope::Scim),
        ]
        .into_iter()
        .filter(|(checked, _)| checked.is_some())
        .map(|(_, scope)| scope)
        .collect()
    }
}

#[derive(Deserialize, Default)]
struct NewServiceAccountForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
}

async fn page(
    state: &AppState,
    admin: &Admin,
    form: &NewTokenForm,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, Error> {
    let now = now_millis();
    let tokens = state.store.api_tokens(None).await?;
    let rows: Vec<_> = tokens
        .iter()
        .map(|t| {
            json!({
                "token": t,
                "status": t.status(now),
                "scopes": t.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let accounts = state.store.service_accounts().await?;
    let scopes: Vec<_> = Scope::ALL
        .iter()
        .map(|s| json!({ "name": s.as_str(), "field": field_of(*s), "description": s.description() }))
        .collect();
    let html = render::signed_in_page(
        "admin/tokens.html",
        &admin.0,
        context! {
            tokens => rows,
            accounts => accounts,
            scopes => scopes,
            form => form,
            checked => form.scopes().iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            notice => notice,
            error => error,
        },
    )?;
    Ok(html.into_response())
}

/// The form field of a scope's checkbox.
fn field_of(scope: Scope) -> &'static str {
    match scope {
        Scope::Read => "scope_read",
        Scope::Write => "scope_write",
        Scope::Admin => "scope_admin",
        Scope::DirectoryRead => "scope_directory_read",
        Scope::Scim => "scope_scim",
    }
}

async fn list(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<Notice>,
) -> Result<Response, Error> {
    page(&state, &admin, &NewTokenForm::blank(), q.notice, None).await
}

async fn create(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Form(form): Form<NewTokenForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    let now = now_millis();
    let expires_at = match parse_expiry(&form.expires, now) {
        Ok(at) => at,
        Err(e) => return refuse(&state, &admin, &form, e.to_string()).await,
    };
    let Ok(requests_per_minute) = form.requests_per_minute.trim().parse::<i64>() else {
        let message = "The rate limit is a whole number of requests a minute.".to_owned();
        return refuse(&state, &admin, &form, message).await;
    };
    let account = match form.owner.strip_prefix("service-account:") {
        Some(id) => {
            let id = id.parse().map_err(|_| Error::NotFound)?;
            Some(
                state
                    .store
                    .service_account(id)
                    .await?
                    .ok_or(Error::NotFound)?,
            )
        }
        None => None,
    };
    let owner = match &account {
        Some(account) => TokenFor::ServiceAccount(account),
        None => TokenFor::User(admin.0.user()),
    };
    let actor = &admin.0.user().username;
    let new = NewToken {
        name: form.name.trim(),
        owner,
        scopes: form.scopes(),
        expires_at,
        requests_per_minute,
        created_by: actor,
    };
    let (token, secret) = match state.store.create_api_token(&new).await {
        Ok(made) => made,
        Err(TokenError::Database(e)) => return Err(e.into()),
        Err(e) => return refuse(&state, &admin, &form, e.to_string()).await,
    };
    audit::record(
        &state,
        &admin.0,
        remote,
        "api_token.create",
        &format!("api_token:{}", token.id),
        None,
        Some(json!({
            "name": token.name,
            "for": token.owner,
            "scopes": token.scopes,
            "expires_at": token.expires_at,
            "requests_per_minute": token.requests_per_minute,
        })),
    )
    .await?;
    let html = render::signed_in_page(
        "admin/token_created.html",
        &admin.0,
        context! {
            token => token,
            scopes => token.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            secret => secret,
        },
    )?;
    let mut response = html.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

async fn revoke(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Path(id): Path<i64>,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    form.ensure_confirmed("a token")?;
    let before = state.store.api_token(id).await?.ok_or(Error::NotFound)?;
    if before.revoked_at.is_some() {
        return Ok(back(&format!("Token {} was revoked already.", before.name)));
    }
    let actor = &admin.0.user().username;
    state.store.revoke_api_token(id, actor).await?;
    audit::record(
        &state,
        &admin.0,
        remote,
        "api_token.revoke",
        &format!("api_token:{id}"),
        Some(json!({ "name": before.name, "for": before.owner })),
        None,
    )
    .await?;
    Ok(back(&format!(
        "Token {} revoked: it no longer works anywhere.",
        before.name
    )))
}

async fn create_service_account(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Form(form): Form<NewServiceAccountForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    let account = match state
        .store
        .create_service_account(form.name.trim(), &form.description, admin.0.user())
        .await
    {
        Ok(account) => account,
        Err(TokenError::Database(e)) => return Err(e.into()),
        Err(e) => {
            return refuse(&state, &admin, &NewTokenForm::blank(), e.to_string()).await;
        }
    };
    audit::record(
        &state,
        &admin.0,
        remote,
        "service_account.create",
        &format!("service_account:{}", account.name),
        None,
        Some(json!({ "name": account.name, "description": account.description, "owner": account.owner_name })),
    )
    .await?;
    Ok(back(&format!(
        "Service account {} added; give it a token below.",
        account.name
    )))
}

async fn delete_service_account(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Path(id): Path<i64>,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    form.ensure_confirmed("a service account")?;
    let account = state
        .store
        .service_account(id)
        .await?
        .ok_or(Error::NotFound)?;
    state.store.delete_service_account(id).await?;
    audit::record(
        &state,
        &admin.0,
        remote,
        "service_account.delete",
        &format!("service_account:{}", account.name),
        Some(json!({ "name": account.name, "owner": account.owner_name })),
        None,
    )
    .await?;
    Ok(back(&format!(
        "Service account {} deleted, and its tokens with it.",
        account.name
    )))
}

/// The page again, with what was wrong, as 422.
async fn refuse(
    state: &AppState,
    admin: &Admin,
    form: &NewTokenForm,
    message: String,
) -> Result<Response, Error> {
    let mut response = page(state, admin, form, None, Some(message)).await?;
    *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(response)
}

fn back(notice: &str) -> Response {
    redirect_with_notice("/admin/tokens", notice)
}
