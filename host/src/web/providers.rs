//! `/integrations/providers`: the installed connectors and what each asks
//! to reach.

use axum::Router;
use axum::extract::State;
use axum::response::{Html, Redirect};
use axum::routing::get;
use minijinja::context;
use serde_json::json;

use super::AppState;
use super::error::Error;
use super::render;
use super::session::SignedIn;
use crate::runtime::types::Features;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(|| async { Redirect::to("/integrations/dashboard") }),
        )
        .route("/integrations/providers", get(list))
}

async fn list(State(state): State<AppState>, signed_in: SignedIn) -> Result<Html<String>, Error> {
    let (loaded, failed) = state.catalog.list();
    let connectors: Vec<_> = loaded
        .iter()
        .map(|(connector, info)| {
            let mut features = Vec::new();
            for (flag, name) in [
                (Features::SYNC, "sync"),
                (Features::PUSH, "push to the remote system"),
                (Features::WEBHOOKS, "webhooks"),
            ] {
                if info.features.contains(flag) {
                    features.push(name);
                }
            }
            json!({
                "id": info.id,
                "name": info.name,
                "version": info.version,
                "description": info.description,
                "features": features,
                "http": info.capabilities.http,
                "ldap": info.capabilities.ldap,
                "uses_wasi": connector.uses_wasi(),
            })
        })
        .collect();
    let failed: Vec<_> = failed
        .iter()
        .map(|(file, error)| json!({ "file": file.display().to_string(), "error": error }))
        .collect();
    let html = render::signed_in_page(
        "integrations/providers.html",
        &signed_in,
        context! {
            connectors => connectors,
            failed => failed,
        },
    )?;
    Ok(html)
}
