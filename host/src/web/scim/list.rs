//! Lists (RFC 7644 §3.4.2): `filter`, `startIndex` and `count`, and the
//! `attributes` and `excludedAttributes` every read takes.
//!
//! A filter on `id`, `userName` or a group's `displayName` is looked up by
//! index; any other is checked against each resource, read in batches so
//! memory stays flat however many there are, keeping only the page asked
//! for.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::super::AppState;
use super::error::ScimError;
use super::filter::{AttrPath, Filter};
use super::resource;
use super::shown::{one, render, shown};
use super::{LIST_SCHEMA, MAX_COUNT, ScimCaller, scim_json};
use crate::store::scim::{ScimKind, StoredResource};

/// Candidates read per query while a filter the store cannot narrow is
/// checked against each.
const SCAN_BATCH: i64 = 500;

/// `attributes` and `excludedAttributes`.
pub(super) struct Projection {
    attributes: Vec<AttrPath>,
    excluded: Vec<AttrPath>,
}

impl Projection {
    pub(super) fn from(query: &HashMap<String, String>) -> Result<Self, ScimError> {
        let paths = |name: &str| -> Result<Vec<AttrPath>, ScimError> {
            param(query, name)
                .map(|list| {
                    list.split(',')
                        .filter(|p| !p.trim().is_empty())
                        .map(|p| {
                            AttrPath::parse(p)
                                .map_err(|e| ScimError::InvalidValue(format!("{name}: {}", e.0)))
                        })
                        .collect()
                })
                .unwrap_or_else(|| Ok(Vec::new()))
        };
        Ok(Projection {
            attributes: paths("attributes")?,
            excluded: paths("excludedAttributes")?,
        })
    }

    pub(super) fn apply(&self, resource: Value) -> Value {
        resource::project(resource, &self.attributes, &self.excluded)
    }
}

/// A query parameter by name, in any case.
fn param<'a>(query: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn number(query: &HashMap<String, String>, name: &str, default: i64) -> Result<i64, ScimError> {
    match param(query, name) {
        None => Ok(default),
        Some(text) => text.trim().parse().map_err(|_| {
            ScimError::InvalidValue(format!("{name} is a whole number, not `{text}`"))
        }),
    }
}

pub(super) async fn list(
    state: &AppState,
    caller: &ScimCaller,
    kind: ScimKind,
    query: &HashMap<String, String>,
) -> Result<Response, ScimError> {
    let projection = Projection::from(query)?;
    // RFC 7644 §3.4.2.4: below 1 means 1; a negative count means 0.
    let start = number(query, "startIndex", 1)?.max(1);
    let count = number(query, "count", MAX_COUNT as i64)?.clamp(0, MAX_COUNT as i64);
    let filter = param(query, "filter")
        .filter(|f| !f.trim().is_empty())
        .map(Filter::parse)
        .transpose()
        .map_err(ScimError::filter)?;
    let integration = caller.client.integration_id;
    let (total, page) = match &filter {
        None => {
            let total = state.store.scim_count(integration, kind).await?;
            let mut page = Vec::new();
            // Skipping by keyset a batch at a time keeps memory flat; the
            // common case (startIndex 1) reads one batch.
            let (mut after, mut skipped) = (0, 0);
            while (page.len() as i64) < count {
                let want = (start - 1 - skipped).max(0) + count - page.len() as i64;
                let batch = state
                    .store
                    .scim_resources(integration, kind, None, after, want.min(SCAN_BATCH))
                    .await?;
                let Some((last, _)) = batch.last() else { break };
                after = *last;
                for (_, stored) in batch {
                    if skipped < start - 1 {
                        skipped += 1;
                    } else if (page.len() as i64) < count {
                        page.push(stored);
                    }
                }
            }
            (total, page)
        }
        Some(filter) => filtered(state, caller, kind, filter, start, count).await?,
    };
    let resources = render(state, caller, kind, &page).await?;
    let resources: Vec<Value> = resources.into_iter().map(|r| projection.apply(r)).collect();
    Ok(scim_json(
        StatusCode::OK,
        &json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": total,
            "startIndex": start,
            "itemsPerPage": resources.len(),
            "Resources": resources,
        }),
    ))
}

/// The resources `filter` matches: looked up by index when it asks for
/// an `id`, `userName` or group `displayName`, else checked against every
/// resource in batches. Returns the number matched and the page asked for.
async fn filtered(
    state: &AppState,
    caller: &ScimCaller,
    kind: ScimKind,
    filter: &Filter,
    start: i64,
    count: i64,
) -> Result<(i64, Vec<StoredResource>), ScimError> {
    let integration = caller.client.integration_id;
    let named = match kind {
        ScimKind::User => filter.equality_on("userName"),
        ScimKind::Group => filter.equality_on("displayName"),
    };
    let links = match kind {
        ScimKind::User => filter.mentions("groups"),
        ScimKind::Group => filter.mentions("members"),
    };
    let (mut total, mut page) = (0, Vec::new());
    let mut check = |stored: StoredResource, resource: &Value| {
        if filter.matches(resource) {
            total += 1;
            if total >= start && (page.len() as i64) < count {
                page.push(stored);
            }
        }
    };
    if let Some(id) = filter.equality_on("id") {
        if let Some(stored) = state.store.scim_resource(integration, kind, id).await? {
            let resource = one(state, caller, kind, &stored, links).await?;
            check(stored, &resource);
        }
        return Ok((total, page));
    }
    let mut after = 0;
    loop {
        let batch = state
            .store
            .scim_resources(integration, kind, named, after, SCAN_BATCH)
            .await?;
        let Some((last, _)) = batch.last() else { break };
        after = *last;
        let stored: Vec<StoredResource> = batch.into_iter().map(|(_, s)| s).collect();
        let resources = if links {
            render(state, caller, kind, &stored).await?
        } else {
            stored
                .iter()
                .map(|s| shown(caller, kind, s, &[], &[]))
                .collect()
        };
        for (stored, resource) in stored.into_iter().zip(resources) {
            check(stored, &resource);
        }
    }
    Ok((total, page))
}
