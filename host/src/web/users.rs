//! `/admin/users`: local accounts, for admins.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::context;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::audit::record;
use super::error::Error;
use super::forms::{ConfirmForm, Notice, redirect_with_notice};
use super::render;
use super::session::Admin;
use crate::store::users::{MIN_PASSWORD_LEN, Role, UserError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(list).post(create))
        .route("/admin/users/{id}/delete", post(delete))
}

#[derive(Deserialize, Default, serde::Serialize)]
struct NewUser {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    role: String,
    #[serde(default, skip_serializing)]
    password: String,
}

async fn page(
    state: &AppState,
    admin: &Admin,
    form: &NewUser,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, Error> {
    let users = state.store.users().await?;
    let html = render::signed_in_page(
        "admin/users.html",
        &admin.0,
        context! {
            users => users,
            form => form,
            min_password => MIN_PASSWORD_LEN,
            notice => notice,
            error => error,
        },
    )?;
    Ok(html.into_response())
}

async fn list(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<Notice>,
) -> Result<Response, Error> {
    page(&state, &admin, &NewUser::default(), q.notice, None).await
}

async fn create(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Form(form): Form<NewUser>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    let role: Role = match form.role.parse() {
        Ok(role) => role,
        Err(message) => return refuse(&state, &admin, &form, message).await,
    };
    match state
        .store
        .create_user(&form.username, &form.password, role)
        .await
    {
        Ok(user) => {
            record(
                &state,
                &admin.0,
                remote,
                "user.create",
                &format!("user:{}", user.username),
                None,
                Some(json!({ "username": user.username, "role": user.role })),
            )
            .await?;
            Ok(back_to_users(&format!("User {} added.", user.username)))
        }
        Err(UserError::Database(e)) => Err(e.into()),
        Err(e) => refuse(&state, &admin, &form, e.to_string()).await,
    }
}

async fn delete(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Path(id): Path<i64>,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    form.ensure_confirmed("a user")?;
    if id == admin.0.user().id {
        return Err(Error::BadRequest(
            "You cannot delete your own account.".into(),
        ));
    }
    let user = state.store.user(id).await?.ok_or(Error::NotFound)?;
    // Directory admins cannot sign in while their directory is down: one
    // local admin always stays.
    if user.role == Role::Admin && state.store.count_local_admins_except(id).await? == 0 {
        return Err(Error::BadRequest(
            "The last local admin cannot be deleted (directory admins cannot sign in when the directory is down)."
                .into(),
        ));
    }
    let owned = state.store.service_accounts_owned_by(id).await?;
    if !owned.is_empty() {
        return Err(Error::BadRequest(format!(
            "{} owns the service accounts {}: delete them on the API tokens page first (their tokens go with them).",
            user.username,
            owned.join(", ")
        )));
    }
    state.store.delete_user(id).await?;
    record(
        &state,
        &admin.0,
        remote,
        "user.delete",
        &format!("user:{}", user.username),
        Some(json!({ "username": user.username, "role": user.role })),
        None,
    )
    .await?;
    Ok(back_to_users(&format!(
        "User {} deleted; their sessions ended.",
        user.username
    )))
}

/// The form again, with what was wrong, as 422.
async fn refuse(
    state: &AppState,
    admin: &Admin,
    form: &NewUser,
    message: String,
) -> Result<Response, Error> {
    let mut response = page(state, admin, form, None, Some(message)).await?;
    *response.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    Ok(response)
}

/// Back to the list, with a notice of what was done.
fn back_to_users(notice: &str) -> Response {
    redirect_with_notice("/admin/users", notice)
}
