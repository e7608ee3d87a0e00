//! `/directory/...`: the users and groups that directory integrations (LDAP,
//! Active Directory) synced, read-only, for every signed-in user: lists with
//! a search and an integration filter, a user's profile and effective
//! groups, a group's members, each membership marked direct or through a
//! nested group.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Html;
use axum::routing::get;
use minijinja::context;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::error::Error;
use super::session::SignedIn;
use super::{AppState, render};
use crate::store::directory::DirectorySearch;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/directory/users", get(users))
        .route("/directory/users/{integration}/{external_id}", get(user))
        .route("/directory/groups", get(groups))
        .route("/directory/groups/{integration}/{external_id}", get(group))
}

/// Users or groups per page, and members per page of a group.
const PAGE_SIZE: i64 = 50;

/// What is left as it is in a path segment: the unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The page of a synced user or group (`kind` is `users` or `groups`); the
/// external id is percent-encoded, `/` included.
fn href(kind: &str, integration_id: i64, external_id: &str) -> String {
    format!(
        "/directory/{kind}/{integration_id}/{}",
        utf8_percent_encode(external_id, SEGMENT)
    )
}

/// The search form, as submitted (every field may be empty).
#[derive(Deserialize, Serialize, Default)]
struct Filter {
    #[serde(default)]
    integration: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<i64>,
}

impl Filter {
    fn to_store(&self) -> DirectorySearch {
        DirectorySearch {
            integration_id: self.integration.parse().ok(),
            text: Some(self.q.trim().to_owned()).filter(|q| !q.is_empty()),
        }
    }

    fn page(&self) -> i64 {
        self.page.unwrap_or(1).clamp(1, 100_000)
    }

    /// The filter without its page, trimmed, and as a query string for the
    /// pagination links.
    fn for_links(self) -> (Filter, String) {
        let filter = Filter {
            integration: self.integration.trim().to_owned(),
            q: self.q.trim().to_owned(),
            page: None,
        };
        let query_string = serde_urlencoded::to_string(&filter).unwrap_or_default();
        (filter, query_string)
    }
}

fn pages(total: i64) -> i64 {
    ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1)
}

/// Every integration as `(id, name)`, for the filter.
async fn integration_names(state: &AppState) -> Result<Vec<(String, String)>, Error> {
    Ok(state
        .store
        .integrations()
        .await?
        .into_iter()
        .map(|i| (i.id.to_string(), i.name))
        .collect())
}

/// `{integration}` of a path: a number, or nothing is there.
fn integration_id(text: &str) -> Result<i64, Error> {
    text.parse().map_err(|_| Error::NotFound)
}

/// The users or the groups list: `listing` (one page of them, `page` of
/// `total` found) under the filter and the links to the other pages.
async fn list_page(
    state: &AppState,
    signed_in: &SignedIn,
    template: &str,
    listing: minijinja::Value,
    total: i64,
    page: i64,
    filter: Filter,
) -> Result<Html<String>, Error> {
    let (filter, query_string) = filter.for_links();
    render::signed_in_page(
        template,
        signed_in,
        context! {
            total => total,
            page => page,
            pages => pages(total),
            filter => &filter,
            query_string => query_string,
            integrations => integration_names(state).await?,
            ..listing
        },
    )
}

async fn users(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(filter): Query<Filter>,
) -> Result<Html<String>, Error> {
    let page = filter.page();
    let (users, total) = state
        .store
        .directory_users(&filter.to_store(), (page - 1) * PAGE_SIZE, PAGE_SIZE)
        .await?;
    let users: Vec<_> = users
        .into_iter()
        .map(|u| json!({"href": href("users", u.integration_id, &u.external_id), "user": u}))
        .collect();
    let listing = context! { users => users };
    let template = "directory/users.html";
    list_page(&state, &signed_in, template, listing, total, page, filter).await
}

async fn user(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((integration, external_id)): Path<(String, String)>,
) -> Result<Html<String>, Error> {
    let integration = integration_id(&integration)?;
    let profile = state
        .store
        .directory_user(integration, &external_id)
        .await?
        .ok_or(Error::NotFound)?;
    let groups: Vec<_> = state
        .store
        .groups_of_member(integration, &external_id)
        .await?
        .into_iter()
        .map(|g| json!({"href": href("groups", integration, &g.external_id), "group": g}))
        .collect();
    render::signed_in_page(
        "directory/user.html",
        &signed_in,
        context! {
            profile => profile,
            groups => groups,
        },
    )
}

async fn groups(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(filter): Query<Filter>,
) -> Result<Html<String>, Error> {
    let page = filter.page();
    let (groups, total) = state
        .store
        .directory_groups(&filter.to_store(), (page - 1) * PAGE_SIZE, PAGE_SIZE)
        .await?;
    let groups: Vec<_> = groups
        .into_iter()
        .map(|g| json!({"href": href("groups", g.integration_id, &g.external_id), "group": g}))
        .collect();
    let listing = context! { groups => groups };
    let template = "directory/groups.html";
    list_page(&state, &signed_in, template, listing, total, page, filter).await
}

#[derive(Deserialize, Default)]
struct MembersPage {
    page: Option<i64>,
}

async fn group(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((integration, external_id)): Path<(String, String)>,
    Query(q): Query<MembersPage>,
) -> Result<Html<String>, Error> {
    let integration = integration_id(&integration)?;
    let detail = state
        .store
        .directory_group(integration, &external_id)
        .await?
        .ok_or(Error::NotFound)?;
    let page = q.page.unwrap_or(1).clamp(1, 100_000);
    let members: Vec<_> = state
        .store
        .members_of_group_page(integration, &external_id, (page - 1) * PAGE_SIZE, PAGE_SIZE)
        .await?
        .into_iter()
        .map(|m| {
            let kind = if m.kind == "group" { "groups" } else { "users" };
            json!({"href": href(kind, integration, &m.external_id), "member": m})
        })
        .collect();
    let total = detail.group.all_members;
    render::signed_in_page(
        "directory/group.html",
        &signed_in,
        context! {
            group => detail.group,
            description => detail.description,
            members => members,
            page => page,
            pages => pages(total),
            // The page's own address, for the pagination links.
            here => href("groups", integration, &external_id),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_ids_are_one_path_segment() {
        assert_eq!(
            href("users", 3, "5f0c-AB_x.y~z"),
            "/directory/users/3/5f0c-AB_x.y~z"
        );
        assert_eq!(
            href("groups", 1, "cn=a/b #1?é"),
            "/directory/groups/1/cn%3Da%2Fb%20%231%3F%C3%A9"
        );
    }
}
