//! `/scim/v2/Users` and `/scim/v2/Groups` (RFC 7644 §3.3-3.6): list with
//! filters and paging, read, create, replace, patch, delete; ETags on
//! every resource, `If-Match` on every change.
//!
//! Users and groups share every handler: what differs (how a resource is
//! read from a body and shown from a record) is `resource`'s.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::{Map, Value, json};

use super::super::AppState;
use super::error::ScimError;
use super::list::{Projection, list};
use super::resource::{self, Location};
use super::shown::one;
use super::{ScimCaller, patch, scim_json};
use crate::store::audit::AuditEvent;
use crate::store::scim::{ScimKind, ScimWrite, ScimWriteError, StoredResource};

/// A PATCH without `If-Match` is retried this often when another write
/// lands between its read and its write.
const PATCH_ATTEMPTS: usize = 3;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/scim/v2/Users", get(list_users).post(create_user))
        .route(
            "/scim/v2/Users/{id}",
            get(get_user)
                .put(replace_user)
                .patch(patch_user)
                .delete(delete_user),
        )
        .route("/scim/v2/Groups", get(list_groups).post(create_group))
        .route(
            "/scim/v2/Groups/{id}",
            get(get_group)
                .put(replace_group)
                .patch(patch_group)
                .delete(delete_group),
        )
}

type Caller = Extension<ScimCaller>;
type Params = Query<HashMap<String, String>>;

macro_rules! handlers {
    ($kind:expr, $list:ident, $get:ident, $create:ident, $replace:ident, $patch:ident, $delete:ident) => {
        async fn $list(
            State(s): State<AppState>,
            Extension(c): Caller,
            Query(q): Params,
        ) -> Result<Response, ScimError> {
            list(&s, &c, $kind, &q).await
        }
        async fn $get(
            State(s): State<AppState>,
            Extension(c): Caller,
            Path(id): Path<String>,
            Query(q): Params,
            h: HeaderMap,
        ) -> Result<Response, ScimError> {
            read(&s, &c, $kind, &id, &q, &h).await
        }
        async fn $create(
            State(s): State<AppState>,
            Extension(c): Caller,
            Query(q): Params,
            body: Bytes,
        ) -> Result<Response, ScimError> {
            create(&s, &c, $kind, &q, &body).await
        }
        async fn $replace(
            State(s): State<AppState>,
            Extension(c): Caller,
            Path(id): Path<String>,
            Query(q): Params,
            h: HeaderMap,
            body: Bytes,
        ) -> Result<Response, ScimError> {
            replace(&s, &c, $kind, &id, &q, &h, &body).await
        }
        async fn $patch(
            State(s): State<AppState>,
            Extension(c): Caller,
            Path(id): Path<String>,
            Query(q): Params,
            h: HeaderMap,
            body: Bytes,
        ) -> Result<Response, ScimError> {
            patch_one(&s, &c, $kind, &id, &q, &h, &body).await
        }
        async fn $delete(
            State(s): State<AppState>,
            Extension(c): Caller,
            Path(id): Path<String>,
            h: HeaderMap,
        ) -> Result<Response, ScimError> {
            delete(&s, &c, $kind, &id, &h).await
        }
    };
}

handlers!(
    ScimKind::User,
    list_users,
    get_user,
    create_user,
    replace_user,
    patch_user,
    delete_user
);
handlers!(
    ScimKind::Group,
    list_groups,
    get_group,
    create_group,
    replace_group,
    patch_group,
    delete_group
);

async fn read(
    state: &AppState,
    caller: &ScimCaller,
    kind: ScimKind,
    id: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response, ScimError> {
    let projection = Projection::from(query)?;
    let stored = state
        .store
        .scim_resource(caller.client.integration_id, kind, id)
        .await?
        .ok_or(ScimError::NotFound)?;
    let tag = resource::etag(&stored.version);
    if let Some(none_match) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        && tags(none_match).any(|t| t == "*" || t == stored.version)
    {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        set_etag(&mut response, &tag);
        return Ok(response);
    }
    let resource = one(state, caller, kind, &stored, true).await?;
    answer(StatusCode::OK, projection.apply(resource), &tag, None)
}

async fn create(
    state: &AppState,
    caller: &ScimCaller,
    kind: ScimKind,
    query: &HashMap<String, String>,
    body: &Bytes,
) -> Result<Response, ScimError> {
    let projection = Projection::from(query)?;
    writable(caller)?;
    let fields = fields_of(kind, &parse(body)?)?;
    let id = new_id();
    let stored = state
        .store
        .scim_write(
            caller.client.integration_id,
            kind,
            &id,
            None,
            ScimWrite::Create(&fields),
        )
        .await?
        .ok_or(ScimError::NotFound)?;
    audited(state, caller, kind, "created", &stored).await?;
    let resource = one(state, caller, kind, &stored, true).await?;
    let location = Location { base: &caller.base }.of(kind, &id);
    answer(
        StatusCode::CREATED,
        projection.apply(resource),
        &resource::etag(&stored.version),
        Some(&location),
    )
}

async fn replace(
    state: &AppState,
    caller: &ScimCaller,
    kind: ScimKind,
    id: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, ScimError> {
    let projection = Projection::from(query)?;
    writable(caller)?;
    let expected = if_match(headers)?;
    let fields = fields_of(kind, &parse(body)?)?;
    let stored = state
        .store
        .scim_write(
            caller.client.integration_id,
            kind,
            id,
            expected.as_deref(),
            ScimWrite::Replace(&fields),
        )
        .await?
        .ok_or(ScimError::NotFound)?;
    audited(state, caller, kind, "replaced", &stored).await?;
    let resource = one(state, caller, kind, &stored, true).await?;
    answer(
        StatusCode::OK,
        projection.apply(resource),
        &resource::etag(&stored.version),
        None,
    )
}

async fn patch_one(
    state: &AppState,
    caller: &ScimCaller,
    kind: ScimKind,
    id: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, ScimError> {
    let projection = Projection::from(query)?;
    writable(caller)?;
    let asked = if_match(headers)?;
    let message = parse(body)?;
    let integration = caller.client.integration_id;
    for attempt in 1..=PATCH_ATTEMPTS {
        let current = state
            .store
            .scim_resource(integration, kind, id)
            .await?
            .ok_or(ScimError::NotFound)?;
        let mut resource = match kind {
            ScimKind::User => resource::stated_user(&current),
            ScimKind::Group => resource::stated_group(&current),
        };
        patch::apply(&mut resource, &message)?;
        let fields = fields_of(kind, &resource)?;
        // Written only over the version it was computed from, so two
        // PATCHes at once cannot lose one another's changes.
        let expected = asked.clone().unwrap_or_else(|| current.version.clone());
        match state
            .store
            .scim_write(
                integration,
                kind,
                id,
                Some(&expected),
                ScimWrite::Replace(&fields),
            )
            .await
        {
            Ok(stored) => {
                let stored = stored.ok_or(ScimError::NotFound)?;
                audited(state, caller, kind, "patched", &stored).await?;
                let resource = one(state, caller, kind, &stored, true).await?;
                return answer(
                    StatusCode::OK,
                    projection.apply(resource),
                    &resource::etag(&stored.version),
                    None,
                );
            }
            Err(ScimWriteError::VersionMismatch { .. })
                if asked.is_none() && attempt < PATCH_ATTEMPTS =>
            {
                continue;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ScimError::PreconditionFailed(
        "the resource kept changing while this PATCH was applied; send it again".into(),
    ))
}

async fn delete(
    state: &AppState,
    caller: &ScimCaller,
    kind: ScimKind,
    id: &str,
    headers: &HeaderMap,
) -> Result<Response, ScimError> {
    writable(caller)?;
    let expected = if_match(headers)?;
    let integration = caller.client.integration_id;
    let before = state
        .store
        .scim_resource(integration, kind, id)
        .await?
        .ok_or(ScimError::NotFound)?;
    state
        .store
        .scim_write(
            integration,
            kind,
            id,
            expected.as_deref(),
            ScimWrite::Delete,
        )
        .await?;
    audited(state, caller, kind, "deleted", &before).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A disabled integration keeps what it has and takes no changes.
fn writable(caller: &ScimCaller) -> Result<(), ScimError> {
    if caller.client.enabled {
        Ok(())
    } else {
        Err(ScimError::Forbidden(format!(
            "this SCIM client's integration is disabled; an admin can enable it on /integrations/{}",
            caller.client.integration_id
        )))
    }
}

fn parse(body: &Bytes) -> Result<Value, ScimError> {
    serde_json::from_slice(body)
        .map_err(|e| ScimError::InvalidSyntax(format!("the body is not JSON: {e}")))
}

fn fields_of(kind: ScimKind, resource: &Value) -> Result<Map<String, Value>, ScimError> {
    match kind {
        ScimKind::User => resource::user_fields(resource),
        ScimKind::Group => resource::group_fields(resource),
    }
}

/// A new resource's id: 128 random bits, written as a UUID (version 4).
fn new_id() -> String {
    use aes_gcm::aead::{OsRng, rand_core::RngCore};
    let mut b = [0u8; 16];
    OsRng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The entity tags of an `If-Match` or `If-None-Match` field, weak or
/// strong, without their quotes.
fn tags(field: &str) -> impl Iterator<Item = &str> {
    field.split(',').map(|t| {
        let t = t.trim();
        let t = t.strip_prefix("W/").unwrap_or(t);
        t.trim_matches('"')
    })
}

/// The version `If-Match` requires; `None` without the field or with `*`.
fn if_match(headers: &HeaderMap) -> Result<Option<String>, ScimError> {
    let Some(field) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let field = field
        .to_str()
        .map_err(|_| ScimError::PreconditionFailed("If-Match is not readable".into()))?;
    let tags: Vec<&str> = tags(field).collect();
    match tags.as_slice() {
        ["*"] => Ok(None),
        [one] => Ok(Some((*one).to_owned())),
        _ => Err(ScimError::PreconditionFailed(
            "If-Match names one version (the resource's meta.version)".into(),
        )),
    }
}

fn set_etag(response: &mut Response, tag: &str) {
    if let Ok(value) = HeaderValue::from_str(tag) {
        response.headers_mut().insert(header::ETAG, value);
    }
}

fn answer(
    status: StatusCode,
    resource: Value,
    tag: &str,
    location: Option<&str>,
) -> Result<Response, ScimError> {
    let mut response = scim_json(status, &resource);
    set_etag(&mut response, tag);
    if let Some(value) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// Audits a change under the token's name; the record names the resource,
/// not its contents.
async fn audited(
    state: &AppState,
    caller: &ScimCaller,
    kind: ScimKind,
    change: &str,
    stored: &StoredResource,
) -> Result<(), ScimError> {
    let (action, name) = match kind {
        ScimKind::User => (format!("scim.user.{change}"), stored.fields.get("username")),
        ScimKind::Group => (format!("scim.group.{change}"), stored.fields.get("name")),
    };
    let target = format!(
        "integration:{}:{}:{}",
        caller.client.integration_id,
        kind.record_kind(),
        stored.external_id
    );
    state
        .store
        .audit(AuditEvent {
            actor: &caller.actor,
            action: &action,
            target: &target,
            before: None,
            after: Some(json!({ "name": name, "version": stored.version })),
            remote: Some(&caller.address),
        })
        .await?;
    Ok(())
}
