//! Stored users and groups as SCIM shows them: with a user's groups
//! (direct and through nesting) or a group's direct members, read for a
//! batch at once.

use serde_json::Value;

use super::super::AppState;
use super::ScimCaller;
use super::error::ScimError;
use super::resource::{self, Location};
use crate::store::scim::{GroupOf, ScimKind, StoredResource};

/// Resources as SCIM shows them, with their groups (users) or members.
pub(super) async fn render(
    state: &AppState,
    caller: &ScimCaller,
    kind: ScimKind,
    stored: &[StoredResource],
) -> Result<Vec<Value>, ScimError> {
    let integration = caller.client.integration_id;
    match kind {
        ScimKind::User => {
            let ids: Vec<&str> = stored.iter().map(|s| s.external_id.as_str()).collect();
            let groups = state.store.scim_groups_of(integration, &ids).await?;
            Ok(stored
                .iter()
                .map(|s| {
                    let of = groups.get(&s.external_id).map(Vec::as_slice).unwrap_or(&[]);
                    shown(caller, kind, s, of, &[])
                })
                .collect())
        }
        ScimKind::Group => {
            let mut all = Vec::with_capacity(stored.len());
            for s in stored {
                let members = state
                    .store
                    .scim_members_of(integration, &s.external_id)
                    .await?;
                all.push(shown(caller, kind, s, &[], &members));
            }
            Ok(all)
        }
    }
}

pub(super) fn shown(
    caller: &ScimCaller,
    kind: ScimKind,
    stored: &StoredResource,
    groups: &[GroupOf],
    members: &[(String, ScimKind, String)],
) -> Value {
    let at = Location { base: &caller.base };
    match kind {
        ScimKind::User => resource::user_resource(stored, groups, &at),
        ScimKind::Group => resource::group_resource(stored, members, &at),
    }
}

pub(super) async fn one(
    state: &AppState,
    caller: &ScimCaller,
    kind: ScimKind,
    stored: &StoredResource,
    links: bool,
) -> Result<Value, ScimError> {
    if links {
        let mut all = render(state, caller, kind, std::slice::from_ref(stored)).await?;
        Ok(all.pop().unwrap_or(Value::Null))
    } else {
        Ok(shown(caller, kind, stored, &[], &[]))
    }
}
