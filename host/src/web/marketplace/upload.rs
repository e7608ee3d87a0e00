//! Installing a package that is not in the server's registry: from its
//! URL, or uploaded from the admin's machine. Both end in
//! [`install_bytes`](super::install_bytes), the same verification, consent,
//! approval and audit as an install from the registry; the audit entry
//! says where the package came from.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::multipart::{Field, Multipart};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;

use super::super::AppState;
use super::super::error::Error;
use super::super::session::Admin;
use super::page::list_page;
use super::{
    Failure, RegistryPage, Requester, install_bytes, installed_notice, redirect_with_notice,
};
use crate::marketplace::install::InstallOptions;
use crate::marketplace::package::PACKAGE_LIMIT;
use crate::marketplace::registry::RegistryError;
use crate::marketplace::source;

/// Room for the form's other fields and the multipart framing.
const BODY_LIMIT: usize = PACKAGE_LIMIT as usize + (64 << 10);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/marketplace/url", post(from_url))
        .route(
            "/marketplace/upload",
            post(upload).layer(DefaultBodyLimit::max(BODY_LIMIT)),
        )
}

#[derive(Deserialize)]
struct UrlForm {
    csrf_token: String,
    url: String,
    accept_untrusted: Option<String>,
    approve_capabilities: Option<String>,
    replace_bundled: Option<String>,
    allow_downgrade: Option<String>,
}

async fn from_url(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Form(form): Form<UrlForm>,
) -> Result<Response, Error> {
    admin.0.check_csrf(&form.csrf_token)?;
    let url = form.url.trim();
    let options = InstallOptions {
        allow_untrusted: form.accept_untrusted.is_some(),
        approve_capabilities: form.approve_capabilities.is_some(),
        replace_bundled: form.replace_bundled.is_some(),
        allow_downgrade: form.allow_downgrade.is_some(),
    };
    let outcome = match source::download_package(&state.outbound.downloads, url).await {
        Ok(bytes) => {
            let who = Requester::web(&admin, remote);
            install_bytes(&state, &who, &bytes, options, &format!("url {url}")).await
        }
        Err(RegistryError::Verify(error)) => Err(Failure::Refused(error.to_string())),
        Err(error) => Err(Failure::Refused(error.to_string())),
    };
    finish(&state, &admin, outcome).await
}

/// The upload form's fields; the package is read into memory, up to the
/// package limit (the route's body limit refuses more before it is read).
#[derive(Default)]
struct Upload {
    csrf_token: Option<String>,
    package: Option<Vec<u8>>,
    file_name: Option<String>,
    accept_untrusted: bool,
    approve_capabilities: bool,
    replace_bundled: bool,
    allow_downgrade: bool,
}

async fn upload(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    multipart: Multipart,
) -> Result<Response, Error> {
    let form = match read_upload(multipart).await {
        Ok(form) => form,
        Err(message) => {
            // The token is checked first when the form could be read; a
            // form that cannot be read changes nothing, so saying why is
            // safe.
            return finish(&state, &admin, Err(Failure::Refused(message))).await;
        }
    };
    admin
        .0
        .check_csrf(form.csrf_token.as_deref().unwrap_or(""))?;
    let Some(bytes) = form.package.filter(|b| !b.is_empty()) else {
        let refused = Failure::Refused("Choose a .cubepkg file to upload.".to_owned());
        return finish(&state, &admin, Err(refused)).await;
    };
    let who = Requester::web(&admin, remote);
    let options = InstallOptions {
        allow_untrusted: form.accept_untrusted,
        approve_capabilities: form.approve_capabilities,
        replace_bundled: form.replace_bundled,
        allow_downgrade: form.allow_downgrade,
    };
    let source = format!(
        "upload {}",
        form.file_name.as_deref().unwrap_or("(unnamed file)")
    );
    let outcome = install_bytes(&state, &who, &bytes, options, &source).await;
    finish(&state, &admin, outcome).await
}

async fn read_upload(mut multipart: Multipart) -> Result<Upload, String> {
    let mut form = Upload::default();
    let unreadable = |e: axum::extract::multipart::MultipartError| {
        format!("The upload could not be read: {}", e.body_text())
    };
    while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
        match field.name().unwrap_or("") {
            "csrf_token" => form.csrf_token = Some(text(field).await.map_err(unreadable)?),
            "accept_untrusted" => form.accept_untrusted = true,
            "approve_capabilities" => form.approve_capabilities = true,
            "replace_bundled" => form.replace_bundled = true,
            "allow_downgrade" => form.allow_downgrade = true,
            "package" => {
                form.file_name = field.file_name().map(str::to_owned);
                form.package = Some(field.bytes().await.map_err(unreadable)?.to_vec());
            }
            _ => {}
        }
    }
    Ok(form)
}

async fn text(field: Field<'_>) -> Result<String, axum::extract::multipart::MultipartError> {
    field.text().await
}

/// The marketplace page with the outcome: a notice after an install, or
/// the refusal beside the forms (422, 409).
async fn finish(
    state: &AppState,
    admin: &Admin,
    outcome: Result<super::Done, Failure>,
) -> Result<Response, Error> {
    let (status, message) = match outcome {
        Ok(done) => {
            return Ok(redirect_with_notice(
                "/marketplace",
                &installed_notice(&done),
            ));
        }
        Err(Failure::NotFound) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "There is nothing to install at that address.".to_owned(),
        ),
        Err(other) => other.refusal()?,
    };
    let html = list_page::<RegistryPage>(state, &admin.0, None, Some(message)).await?;
    Ok((status, html).into_response())
}
