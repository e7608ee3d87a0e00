//! Users and groups between their SCIM form (RFC 7643 §4) and the record
//! fields the directory store keeps.
//!
//! A user's record has the columns every directory user has (`username`,
//! `email`, `displayName`, `enabled`, `givenName`, `sn`: what the pages,
//! the directory API and sign-in read) and, under `scim`, the resource as
//! the client wrote it, less what the host computes (`id`, `meta`,
//! `groups`, `schemas`) and what it never keeps (`password`). A group's
//! record has `name`, `members` (the members' ids, which the store
//! resolves into memberships) and `scim` likewise, less `members`.

use serde_json::{Map, Value, json};

use super::error::ScimError;
use super::filter::{AttrPath, CORE_GROUP, CORE_USER, member};
use crate::store::scim::{GroupOf, ScimKind, StoredResource};

pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// What the host computes or never keeps: dropped from what a client
/// writes (RFC 7644 §3.5.1: read-only attributes in a PUT are ignored).
const NOT_KEPT: [&str; 5] = ["id", "meta", "schemas", "groups", "password"];

/// The record fields for a user a client wrote (a POST or PUT body, or a
/// resource after PATCH).
pub fn user_fields(resource: &Value) -> Result<Map<String, Value>, ScimError> {
    let object = as_object(resource)?;
    let user_name = text(member(resource, "userName")).ok_or_else(|| {
        ScimError::InvalidValue("userName is required, a non-empty string".into())
    })?;
    let mut kept = keep(object, &NOT_KEPT);
    let active = match member(resource, "active") {
        None | Some(Value::Null) => true,
        Some(value) => boolean(value).ok_or_else(|| {
            ScimError::InvalidValue(format!("active is true or false, not {value}"))
        })?,
    };
    // Stored as a boolean, whichever way it came (Entra ID sends "False").
    if let Some(key) = key_of(&kept, "active") {
        kept.insert(key, Value::Bool(active));
    }
    let name = member(resource, "name");
    let given = name.and_then(|n| text(member(n, "givenName")));
    let family = name.and_then(|n| text(member(n, "familyName")));
    let display = text(member(resource, "displayName"))
        .or_else(|| name.and_then(|n| text(member(n, "formatted"))))
        .or_else(|| match (&given, &family) {
            (Some(g), Some(f)) => Some(format!("{g} {f}")),
            (g, f) => g.clone().or_else(|| f.clone()),
        });
    let mut fields = Map::new();
    fields.insert("username".into(), json!(user_name));
    if let Some(email) = primary_email(resource) {
        fields.insert("email".into(), json!(email));
    }
    if let Some(display) = display {
        fields.insert("displayName".into(), json!(display));
    }
    fields.insert("enabled".into(), json!(active));
    if let Some(given) = given {
        fields.insert("givenName".into(), json!(given));
    }
    if let Some(family) = family {
        fields.insert("sn".into(), json!(family));
    }
    fields.insert("scim".into(), Value::Object(kept));
    Ok(fields)
}

/// The record fields for a group a client wrote.
pub fn group_fields(resource: &Value) -> Result<Map<String, Value>, ScimError> {
    let object = as_object(resource)?;
    let name = text(member(resource, "displayName")).ok_or_else(|| {
        ScimError::InvalidValue("displayName is required, a non-empty string".into())
    })?;
    let mut members = Vec::new();
    for entry in member(resource, "members").map(as_list).unwrap_or_default() {
        let value = text(member(entry, "value")).ok_or_else(|| {
            ScimError::InvalidValue(format!(
                "each member needs a value (a user's or group's id), not {entry}"
            ))
        })?;
        if !members.contains(&value) {
            members.push(value);
        }
    }
    let mut not_kept = NOT_KEPT.to_vec();
    not_kept.push("members");
    let mut fields = Map::new();
    fields.insert("name".into(), json!(name));
    fields.insert("members".into(), json!(members));
    fields.insert("scim".into(), Value::Object(keep(object, &not_kept)));
    Ok(fields)
}

/// What a resource's `meta` and `$ref`s point at: `<base>/Users/<id>`.
pub struct Location<'a> {
    pub base: &'a str,
}

impl Location<'_> {
    pub fn of(&self, kind: ScimKind, id: &str) -> String {
        format!("{}/{}/{id}", self.base, endpoint(kind))
    }
}

pub fn endpoint(kind: ScimKind) -> &'static str {
    match kind {
        ScimKind::User => "Users",
        ScimKind::Group => "Groups",
    }
}

/// A stored user as SCIM shows it, with the groups it is in.
pub fn user_resource(stored: &StoredResource, groups: &[GroupOf], at: &Location) -> Value {
    let mut resource = written(stored);
    let mut schemas = vec![json!(CORE_USER)];
    if key_of(&resource, ENTERPRISE_USER).is_some() {
        schemas.push(json!(ENTERPRISE_USER));
    }
    resource.insert("schemas".into(), Value::Array(schemas));
    resource.insert("id".into(), json!(stored.external_id));
    let active = stored.fields.get("enabled").and_then(Value::as_bool) != Some(false);
    let key = key_of(&resource, "active").unwrap_or_else(|| "active".into());
    resource.insert(key, json!(active));
    if !groups.is_empty() {
        let groups: Vec<Value> = groups
            .iter()
            .map(|g| {
                json!({
                    "value": g.group_external_id,
                    "display": g.name,
                    "$ref": at.of(ScimKind::Group, &g.group_external_id),
                    "type": if g.direct { "direct" } else { "indirect" },
                })
            })
            .collect();
        resource.insert("groups".into(), Value::Array(groups));
    }
    resource.insert("meta".into(), meta(stored, ScimKind::User, at));
    Value::Object(resource)
}

/// A stored group as SCIM shows it, with its direct members
/// (`(id, kind, display)`).
pub fn group_resource(
    stored: &StoredResource,
    members: &[(String, ScimKind, String)],
    at: &Location,
) -> Value {
    let mut resource = written(stored);
    resource.insert("schemas".into(), json!([CORE_GROUP]));
    resource.insert("id".into(), json!(stored.external_id));
    let members: Vec<Value> = members
        .iter()
        .map(|(id, kind, display)| {
            json!({
                "value": id,
                "display": display,
                "$ref": at.of(*kind, id),
                "type": match kind { ScimKind::User => "User", ScimKind::Group => "Group" },
            })
        })
        .collect();
    resource.insert("members".into(), Value::Array(members));
    resource.insert("meta".into(), meta(stored, ScimKind::Group, at));
    Value::Object(resource)
}

/// A group with the members its record states (not yet resolved), as a
/// PATCH starts from.
pub fn stated_group(stored: &StoredResource) -> Value {
    let mut resource = written(stored);
    let members: Vec<Value> = stored
        .fields
        .get("members")
        .map(as_list)
        .unwrap_or_default()
        .into_iter()
        .filter_map(Value::as_str)
        .map(|id| json!({ "value": id }))
        .collect();
    resource.insert("members".into(), Value::Array(members));
    Value::Object(resource)
}

/// A user as its client wrote it, as a PATCH starts from.
pub fn stated_user(stored: &StoredResource) -> Value {
    let mut resource = written(stored);
    let active = stored.fields.get("enabled").and_then(Value::as_bool) != Some(false);
    let key = key_of(&resource, "active").unwrap_or_else(|| "active".into());
    resource.insert(key, json!(active));
    Value::Object(resource)
}

/// The `ETag` of a stored version.
pub fn etag(version: &str) -> String {
    format!("W/\"{version}\"")
}

fn meta(stored: &StoredResource, kind: ScimKind, at: &Location) -> Value {
    json!({
        "resourceType": match kind { ScimKind::User => "User", ScimKind::Group => "Group" },
        "created": timestamp(stored.created_at),
        "lastModified": timestamp(stored.updated_at),
        "version": etag(&stored.version),
        "location": at.of(kind, &stored.external_id),
    })
}

fn timestamp(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn written(stored: &StoredResource) -> Map<String, Value> {
    match stored.fields.get("scim") {
        Some(Value::Object(scim)) => scim.clone(),
        _ => Map::new(),
    }
}

/// Keeps what `attributes` asks for, or drops what `excludedAttributes`
/// does (RFC 7644 §3.4.2.5); `id` and `schemas` are always returned.
pub fn project(resource: Value, attributes: &[AttrPath], excluded: &[AttrPath]) -> Value {
    let Value::Object(mut object) = resource else {
        return resource;
    };
    if !attributes.is_empty() {
        let mut kept = Map::new();
        for always in ["schemas", "id"] {
            if let Some(v) = object.remove(always) {
                kept.insert(always.into(), v);
            }
        }
        for path in attributes {
            copy_path(&object, &mut kept, path);
        }
        return Value::Object(kept);
    }
    for path in excluded {
        if path.name.eq_ignore_ascii_case("id") || path.name.eq_ignore_ascii_case("schemas") {
            continue;
        }
        let scope = match path.extension() {
            Some(schema) => match key_of(&object, schema) {
                Some(key) => object.get_mut(&key).and_then(Value::as_object_mut),
                None => None,
            },
            None => Some(&mut object),
        };
        let Some(scope) = scope else { continue };
        let Some(key) = key_of(scope, &path.name) else {
            continue;
        };
        match &path.sub {
            None => {
                scope.remove(&key);
            }
            Some(sub) => match scope.get_mut(&key) {
                Some(Value::Object(inner)) => {
                    if let Some(sub) = key_of(inner, sub) {
                        inner.remove(&sub);
                    }
                }
                Some(Value::Array(values)) => {
                    for value in values.iter_mut().filter_map(Value::as_object_mut) {
                        if let Some(sub) = key_of(value, sub) {
                            value.remove(&sub);
                        }
                    }
                }
                _ => {}
            },
        }
    }
    Value::Object(object)
}

fn copy_path(from: &Map<String, Value>, to: &mut Map<String, Value>, path: &AttrPath) {
    let (from, to) = match path.extension() {
        Some(schema) => {
            let Some(key) = key_of(from, schema) else {
                return;
            };
            let Some(Value::Object(inner)) = from.get(&key) else {
                return;
            };
            let target = to.entry(key).or_insert_with(|| json!({}));
            let Value::Object(target) = target else {
                return;
            };
            (inner, target)
        }
        None => (from, to),
    };
    let Some(key) = key_of(from, &path.name) else {
        return;
    };
    let value = &from[&key];
    match (&path.sub, value) {
        (None, _) => {
            to.insert(key, value.clone());
        }
        (Some(sub), Value::Object(inner)) => {
            if let Some(sub) = key_of(inner, sub) {
                let target = to.entry(key).or_insert_with(|| json!({}));
                if let Value::Object(target) = target {
                    target.insert(sub.clone(), inner[&sub].clone());
                }
            }
        }
        (Some(sub), Value::Array(values)) => {
            let picked: Vec<Value> = values
                .iter()
                .filter_map(|v| {
                    let inner = v.as_object()?;
                    let sub = key_of(inner, sub)?;
                    Some(json!({ sub.clone(): inner[&sub].clone() }))
                })
                .collect();
            to.insert(key, Value::Array(picked));
        }
        _ => {}
    }
}

/// The key of `object` named `name` in any case.
pub fn key_of(object: &Map<String, Value>, name: &str) -> Option<String> {
    if object.contains_key(name) {
        return Some(name.to_owned());
    }
    object
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
}

/// A JSON boolean, or the strings `true` and `false` in any case (some
/// clients, Entra ID among them, send those).
pub fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn as_object(resource: &Value) -> Result<&Map<String, Value>, ScimError> {
    resource
        .as_object()
        .ok_or_else(|| ScimError::InvalidSyntax("the body is a JSON object".into()))
}

fn as_list(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(values) => values.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn keep(object: &Map<String, Value>, not_kept: &[&str]) -> Map<String, Value> {
    object
        .iter()
        .filter(|(k, _)| !not_kept.iter().any(|n| k.eq_ignore_ascii_case(n)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn text(value: Option<&Value>) -> Option<String> {
    value
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The primary email's value, else the first one's.
fn primary_email(resource: &Value) -> Option<String> {
    let emails = member(resource, "emails").map(as_list).unwrap_or_default();
    let primary = emails
        .iter()
        .find(|e| member(e, "primary").and_then(boolean) == Some(true))
        .or_else(|| emails.first());
    primary.and_then(|e| text(member(e, "value")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_keeps_its_columns_and_what_the_client_wrote_but_no_password() {
        let fields = user_fields(&json!({
            "schemas": [CORE_USER],
            "id": "forged",
            "userName": "bjensen@example.com",
            "password": "t1meMa$heen",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [{"value": "b@home.example"}, {"value": "b@work.example", "primary": true}],
            "active": "False",
            "externalId": "e-1",
        }))
        .unwrap();
        assert_eq!(fields["username"], "bjensen@example.com");
        assert_eq!(fields["email"], "b@work.example");
        assert_eq!(fields["displayName"], "Barbara Jensen");
        assert_eq!(fields["enabled"], false);
        assert_eq!(fields["givenName"], "Barbara");
        assert_eq!(fields["sn"], "Jensen");
        let scim = fields["scim"].as_object().unwrap();
        assert_eq!(scim["active"], false);
        assert_eq!(scim["externalId"], "e-1");
        for gone in ["password", "id", "schemas"] {
            assert!(!scim.contains_key(gone), "{gone} was kept");
        }
        let missing = user_fields(&json!({"userName": "  "})).unwrap_err();
        assert!(matches!(missing, ScimError::InvalidValue(_)));
        let bad = user_fields(&json!({"userName": "a", "active": "maybe"})).unwrap_err();
        assert!(matches!(bad, ScimError::InvalidValue(_)));
    }

    #[test]
    fn a_group_states_its_members_by_id_once_each() {
        let fields = group_fields(&json!({
            "displayName": "Ops",
            "members": [{"value": "u1"}, {"value": "u2"}, {"value": "u1"}],
        }))
        .unwrap();
        assert_eq!(fields["members"], json!(["u1", "u2"]));
        assert!(!fields["scim"].as_object().unwrap().contains_key("members"));
        let bad = group_fields(&json!({"displayName": "Ops", "members": [{"display": "x"}]}));
        assert!(matches!(bad, Err(ScimError::InvalidValue(_))));
    }

    #[test]
    fn projection_keeps_or_drops_paths_but_never_the_id() {
        let resource = json!({
            "schemas": [CORE_USER], "id": "1", "userName": "a",
            "name": {"givenName": "A", "familyName": "B"},
            "emails": [{"value": "a@x", "type": "work"}],
            ENTERPRISE_USER: {"department": "Ops", "employeeNumber": "7"},
        });
        let paths = |list: &[&str]| -> Vec<AttrPath> {
            list.iter().map(|p| AttrPath::parse(p).unwrap()).collect()
        };
        let only = project(
            resource.clone(),
            &paths(&[
                "name.familyName",
                "emails.value",
                &format!("{ENTERPRISE_USER}:department"),
            ]),
            &[],
        );
        assert_eq!(
            only,
            json!({"schemas": [CORE_USER], "id": "1", "name": {"familyName": "B"},
                   "emails": [{"value": "a@x"}], ENTERPRISE_USER: {"department": "Ops"}})
        );
        let without = project(resource, &[], &paths(&["id", "emails", "name.givenName"]));
        assert_eq!(without["id"], "1");
        assert!(without.get("emails").is_none());
        assert_eq!(without["name"], json!({"familyName": "B"}));
    }
}
