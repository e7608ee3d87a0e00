//! `/integrations/create` and `/integrations/{id}/edit`: one form, generated
//! from the connector's configuration schema, plus the fields every
//! integration has (name, allowed destinations, schedule).
//!
//! A form with mistakes comes back with a message beside each wrong field
//! and everything typed kept, except secrets, which are never sent back to
//! the browser: a stored secret shows as "set" and an empty input keeps it.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use minijinja::context;
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::AppState;
use super::super::error::Error;
use super::super::forms::csrf_field;
use super::super::render;
use super::super::session::Admin;
use super::form::{
    config_form, connector_view, default_values, read_form, stored_values, submitted_values,
};
use super::{find, redirect_with_notice};
use crate::integrations::schema::{ConfigForm, FieldErrors};
use crate::runtime::types::ConnectorInfo;
use crate::store::integrations::Integration;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/integrations/create", get(new_form).post(create))
        .route("/integrations/{id}/edit", get(edit_form).post(update))
}

#[derive(Deserialize)]
struct Choose {
    connector: Option<String>,
}

/// The form of one connector, as one page shows it: where it posts and
/// which secrets are already stored.
struct Editor<'a> {
    admin: &'a Admin,
    info: ConnectorInfo,
    form: ConfigForm,
    action: String,
    secrets_set: Vec<&'a str>,
}

impl<'a> Editor<'a> {
    /// The form of a new integration of `info`, the connector `id`.
    fn new_integration(admin: &'a Admin, id: &str, info: ConnectorInfo) -> Result<Self, Error> {
        Ok(Editor {
            admin,
            form: config_form(&info)?,
            info,
            action: create_action(id),
            secrets_set: Vec::new(),
        })
    }

    /// The form of `integration`, whose connector is `info`.
    fn of_integration(
        admin: &'a Admin,
        integration: &'a Integration,
        info: ConnectorInfo,
    ) -> Result<Self, Error> {
        Ok(Editor {
            admin,
            form: config_form(&info)?,
            info,
            action: format!("/integrations/{}/edit", integration.id),
            secrets_set: integration.secret_fields(),
        })
    }

    fn render(
        &self,
        values: Value,
        errors: &FieldErrors,
        status: StatusCode,
    ) -> Result<Response, Error> {
        let html = render::signed_in_page(
            "integrations/form.html",
            &self.admin.0,
            context! {
                connector => connector_view(&self.info),
                fields => &self.form.fields,
                action => &self.action,
                values => values,
                errors => errors,
                secrets_set => &self.secrets_set,
                error => (!errors.is_empty()).then_some("Some fields need attention; see the messages beside them."),
            },
        )?;
        Ok((status, html).into_response())
    }

    /// The form again, as it was submitted, with `errors` beside its fields.
    fn rejected(
        &self,
        input: &HashMap<String, String>,
        errors: &FieldErrors,
    ) -> Result<Response, Error> {
        let values = submitted_values(&self.form, input);
        self.render(values, errors, StatusCode::UNPROCESSABLE_ENTITY)
    }

    /// The form again, as submitted, saying the name is taken.
    fn name_taken(
        &self,
        input: &HashMap<String, String>,
        message: String,
    ) -> Result<Response, Error> {
        self.rejected(input, &FieldErrors::from([("name".to_owned(), message)]))
    }
}

/// Where the form of a new integration of `connector` posts.
fn create_action(connector: &str) -> String {
    format!(
        "/integrations/create?connector={}",
        super::super::urlencode(connector)
    )
}

async fn new_form(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<Choose>,
) -> Result<Response, Error> {
    let Some(id) = q.connector.filter(|c| !c.is_empty()) else {
        return choose(&state, &admin);
    };
    let (_, info) = state.catalog.get(&id).ok_or(Error::NotFound)?;
    let editor = Editor::new_integration(&admin, &id, info)?;
    let values = default_values(&editor.form, &editor.info);
    editor.render(values, &FieldErrors::new(), StatusCode::OK)
}

/// The connector chooser.
fn choose(state: &AppState, admin: &Admin) -> Result<Response, Error> {
    let (loaded, _) = state.catalog.list();
    let connectors: Vec<_> = loaded
        .iter()
        .map(|(_, info)| {
            let steps = config_form(info).map(|f| f.steps().len()).unwrap_or(0);
            json!({"id": info.id, "name": info.name, "version": info.version,
                   "description": info.description, "wizard": steps > 1})
        })
        .collect();
    let html = render::signed_in_page(
        "integrations/choose.html",
        &admin.0,
        context! {
            connectors => connectors,
        },
    )?;
    Ok(html.into_response())
}

async fn create(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Query(q): Query<Choose>,
    Form(input): Form<HashMap<String, String>>,
) -> Result<Response, Error> {
    admin.0.check_csrf(csrf_field(&input))?;
    let id = q.connector.ok_or(Error::NotFound)?;
    let (connector, info) = state.catalog.get(&id).ok_or(Error::NotFound)?;
    let editor = Editor::new_integration(&admin, &id, info)?;
    let submitted = match read_form(&editor.form, &input, &[], true) {
        Ok(s) => s,
        Err(errors) => return editor.rejected(&input, &errors),
    };
    let created = super::actions::create(
        &state,
        &admin.0,
        remote,
        &connector,
        &editor.info,
        &submitted,
        "integration.create",
        None,
    )
    .await?;
    let integration = match created {
        Ok(integration) => integration,
        Err(taken) => return editor.name_taken(&input, taken.message()),
    };
    Ok(redirect_with_notice(
        &format!("/integrations/{}", integration.id),
        &format!(
            "Integration {} created. Test its connection next.",
            integration.name
        ),
    ))
}

async fn edit_form(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<i64>,
) -> Result<Response, Error> {
    let integration = find(&state, id).await?;
    let (_, info) = state.catalog.get(&integration.provider_id).ok_or_else(|| {
        Error::BadRequest(format!(
            "The connector {} is not installed, so this integration cannot be edited.",
            integration.provider_id
        ))
    })?;
    let editor = Editor::of_integration(&admin, &integration, info)?;
    let limits = state.store.deletion_limits(id).await?;
    editor.render(
        stored_values(&integration, limits),
        &FieldErrors::new(),
        StatusCode::OK,
    )
}

async fn update(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    admin: Admin,
    Path(id): Path<i64>,
    Form(input): Form<HashMap<String, String>>,
) -> Result<Response, Error> {
    admin.0.check_csrf(csrf_field(&input))?;
    let integration = find(&state, id).await?;
    let (_, info) = state
        .catalog
        .get(&integration.provider_id)
        .ok_or(Error::NotFound)?;
    let editor = Editor::of_integration(&admin, &integration, info)?;
    let submitted = match read_form(
        &editor.form,
        &input,
        &editor.secrets_set,
        integration.enabled,
    ) {
        Ok(s) => s,
        Err(errors) => return editor.rejected(&input, &errors),
    };
    match super::actions::update(
        &state,
        &admin.0,
        remote,
        &integration,
        &editor.form,
        &submitted,
    )
    .await?
    {
        Ok(_) => {}
        Err(taken) => return editor.name_taken(&input, taken.message()),
    }
    Ok(redirect_with_notice(
        &format!("/integrations/{id}"),
        "Changes saved.",
    ))
}
