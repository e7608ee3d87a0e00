//! PATCH (RFC 7644 §3.5.2): a list of `add`, `replace` and `remove`
//! operations applied, in order, to a resource as its client wrote it; the
//! result is then checked and stored like a PUT body, so a PATCH cannot
//! store what a PUT could not.
//!
//! What clients send beyond the RFC's letter is accepted where its meaning
//! is plain, because the clients that matter send it: Entra ID writes
//! operation names capitalised (`"Replace"`), booleans as strings
//! (`"False"`, handled where the resource is read), and `add` or `replace`
//! without a path whose value's keys are themselves paths
//! (`{"name.givenName": "Ann"}` or an extension attribute's URN).

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{AttrPath, Filter, PatchPath, member};
use super::resource::key_of;

pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Attributes no operation may set: the host computes them.
const READ_ONLY: [&str; 3] = ["id", "meta", "groups"];

/// At most this many operations in one request.
pub const MAX_OPERATIONS: usize = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
}

/// Applies a PatchOp message's operations to `resource`.
pub fn apply(resource: &mut Value, message: &Value) -> Result<(), ScimError> {
    let schemas = member(message, "schemas").and_then(Value::as_array);
    if !schemas.is_some_and(|s| s.iter().any(|s| s.as_str() == Some(PATCH_SCHEMA))) {
        return Err(ScimError::InvalidSyntax(format!(
            "a PATCH body has schemas [\"{PATCH_SCHEMA}\"]"
        )));
    }
    let Some(operations) = member(message, "Operations").and_then(Value::as_array) else {
        return Err(ScimError::InvalidSyntax(
            "a PATCH body has Operations, a list".into(),
        ));
    };
    if operations.len() > MAX_OPERATIONS {
        return Err(ScimError::InvalidSyntax(format!(
            "at most {MAX_OPERATIONS} operations in one PATCH"
        )));
    }
    for operation in operations {
        let op = match member(operation, "op").and_then(Value::as_str) {
            Some(op) if op.eq_ignore_ascii_case("add") => Op::Add,
            Some(op) if op.eq_ignore_ascii_case("replace") => Op::Replace,
            Some(op) if op.eq_ignore_ascii_case("remove") => Op::Remove,
            other => {
                return Err(ScimError::InvalidSyntax(format!(
                    "op is add, replace or remove, not {}",
                    other.unwrap_or("missing")
                )));
            }
        };
        let value = member(operation, "value");
        match member(operation, "path").and_then(Value::as_str) {
            Some(path) => {
                let path = PatchPath::parse(path).map_err(|e| ScimError::InvalidPath(e.0))?;
                at_path(resource, op, &path, value)?;
            }
            None if op == Op::Remove => {
                return Err(ScimError::NoTarget("remove needs a path".into()));
            }
            None => {
                let Some(Value::Object(values)) = value else {
                    return Err(ScimError::InvalidValue(
                        "without a path, the value is an object of attributes".into(),
                    ));
                };
                for (key, value) in values {
                    without_path(resource, op, key, value)?;
                }
            }
        }
    }
    Ok(())
}

/// One attribute of a path-less operation's value: an extension's object
/// is merged attribute by attribute; any other key is read as a path.
fn without_path(resource: &mut Value, op: Op, key: &str, value: &Value) -> Result<(), ScimError> {
    let is_schema = key.len() > 4
        && key[..4].eq_ignore_ascii_case("urn:")
        && value.is_object()
        && AttrPath::parse(key).is_ok_and(|p| p.extension().is_some())
        && key
            .rsplit(':')
            .next()
            .is_some_and(|last| last.chars().next().is_some_and(|c| c.is_ascii_uppercase()));
    if is_schema {
        for (name, inner) in value.as_object().into_iter().flatten() {
            let path = PatchPath::parse(&format!("{key}:{name}"))
                .map_err(|e| ScimError::InvalidPath(e.0))?;
            at_path(resource, op, &path, Some(inner))?;
        }
        return Ok(());
    }
    let path = PatchPath::parse(key).map_err(|e| ScimError::InvalidPath(e.0))?;
    at_path(resource, op, &path, Some(value))
}

fn at_path(
    resource: &mut Value,
    op: Op,
    path: &PatchPath,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let attr = &path.attr;
    if attr.extension().is_none() && READ_ONLY.iter().any(|r| attr.name.eq_ignore_ascii_case(r)) {
        return Err(ScimError::Mutability(format!(
            "{} is read-only: the host sets it",
            attr.name
        )));
    }
    let value = match (op, value) {
        (Op::Remove, v) => v,
        (_, Some(v)) => Some(v),
        (_, None) => {
            return Err(ScimError::InvalidValue(format!("{op:?} needs a value",)));
        }
    };
    let Some(root) = resource.as_object_mut() else {
        return Err(ScimError::InvalidSyntax(
            "the resource is not an object".into(),
        ));
    };
    let scope = match attr.extension() {
        Some(schema) => {
            let key = key_of(root, schema).unwrap_or_else(|| schema.to_owned());
            if op == Op::Remove && !root.contains_key(&key) {
                return Ok(());
            }
            let entry = root.entry(key).or_insert_with(|| Value::Object(Map::new()));
            match entry.as_object_mut() {
                Some(scope) => scope,
                None => {
                    return Err(ScimError::InvalidValue(format!("{schema} is an object")));
                }
            }
        }
        None => root,
    };
    let key = key_of(scope, &attr.name).unwrap_or_else(|| attr.name.clone());
    match &path.filter {
        None => match &attr.sub {
            Some(sub) => sub_attribute(scope, op, &key, sub, value),
            None => attribute(scope, op, &key, value),
        },
        Some(filter) => filtered(scope, op, attr, &key, filter, path.sub.as_deref(), value),
    }
}

/// `name.givenName`: a sub-attribute of a single complex attribute.
fn sub_attribute(
    scope: &mut Map<String, Value>,
    op: Op,
    key: &str,
    sub: &str,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    if op == Op::Remove {
        if let Some(Value::Object(inner)) = scope.get_mut(key)
            && let Some(sub) = key_of(inner, sub)
        {
            inner.remove(&sub);
        }
        return Ok(());
    }
    let entry = scope
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(inner) = entry.as_object_mut() else {
        return Err(ScimError::InvalidPath(format!(
            "{key} has no sub-attributes"
        )));
    };
    let sub = key_of(inner, sub).unwrap_or_else(|| sub.to_owned());
    inner.insert(sub, value.cloned().unwrap_or(Value::Null));
    Ok(())
}

/// A whole attribute: `add` appends to a multi-valued one (each value
/// once) and sets a single one; `replace` sets; `remove` unsets, or with
/// a value removes those values (`{"op": "remove", "path": "members",
/// "value": [{"value": "..."}]}`, as Entra ID removes members).
fn attribute(
    scope: &mut Map<String, Value>,
    op: Op,
    key: &str,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    match op {
        Op::Remove => {
            let removing = value.map(listed).unwrap_or_default();
            match (scope.get_mut(key), removing.is_empty()) {
                (Some(Value::Array(values)), false) => {
                    values.retain(|v| !removing.iter().any(|r| same_value(v, r)));
                }
                _ => {
                    scope.remove(key);
                }
            }
        }
        Op::Replace => {
            scope.insert(key.to_owned(), value.cloned().unwrap_or(Value::Null));
        }
        Op::Add => {
            let value = value.cloned().unwrap_or(Value::Null);
            match (scope.get_mut(key), value) {
                (Some(Value::Array(values)), new) => {
                    for new in listed(&new) {
                        if !values.iter().any(|v| same_value(v, &new)) {
                            values.push(new);
                        }
                    }
                }
                (_, new) => {
                    scope.insert(key.to_owned(), new);
                }
            }
        }
    }
    Ok(())
}

/// `members[value eq "..."]`, `emails[type eq "work"].value`.
fn filtered(
    scope: &mut Map<String, Value>,
    op: Op,
    attr: &AttrPath,
    key: &str,
    filter: &Filter,
    sub: Option<&str>,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let values = match scope.get_mut(key) {
        Some(Value::Array(values)) => values,
        Some(_) => {
            return Err(ScimError::InvalidPath(format!(
                "{key} is not multi-valued: it takes no value filter"
            )));
        }
        None if op == Op::Remove => return Ok(()),
        None if op == Op::Replace => {
            return Err(ScimError::NoTarget(format!(
                "{key} has no values to replace"
            )));
        }
        None => {
            scope.insert(key.to_owned(), Value::Array(Vec::new()));
            match scope.get_mut(key) {
                Some(Value::Array(values)) => values,
                _ => unreachable!("just inserted"),
            }
        }
    };
    let matching: Vec<usize> = (0..values.len())
        .filter(|&i| filter.matches_value_of(attr, &values[i]))
        .collect();
    match (op, sub) {
        (Op::Remove, None) => {
            let mut at = 0;
            values.retain(|_| {
                let keep = !matching.contains(&at);
                at += 1;
                keep
            });
        }
        (Op::Remove, Some(sub)) => {
            for &i in &matching {
                if let Some(element) = values[i].as_object_mut()
                    && let Some(sub) = key_of(element, sub)
                {
                    element.remove(&sub);
                }
            }
        }
        (_, _) if matching.is_empty() && op == Op::Replace => {
            return Err(ScimError::NoTarget(format!(
                "no value of {key} matches the filter"
            )));
        }
        (_, _) if matching.is_empty() => {
            // An `add` through a filter nothing matches makes the value
            // the filter describes (Entra ID adds `emails[type eq "work"].value`).
            let mut element = Map::new();
            for (name, text) in filter_equalities(filter) {
                element.insert(name, Value::String(text));
            }
            match sub {
                Some(sub) => {
                    element.insert(sub.to_owned(), value.cloned().unwrap_or(Value::Null));
                }
                None => {
                    if let Some(Value::Object(object)) = value {
                        element.extend(object.clone());
                    }
                }
            }
            values.push(Value::Object(element));
        }
        (_, Some(sub)) => {
            for &i in &matching {
                let Some(element) = values[i].as_object_mut() else {
                    continue;
                };
                let sub = key_of(element, sub).unwrap_or_else(|| sub.to_owned());
                element.insert(sub, value.cloned().unwrap_or(Value::Null));
            }
        }
        (_, None) => {
            for &i in &matching {
                match (values[i].as_object_mut(), value) {
                    (Some(element), Some(Value::Object(new))) if op == Op::Add => {
                        element.extend(new.clone());
                    }
                    (_, new) => values[i] = new.cloned().unwrap_or(Value::Null),
                }
            }
        }
    }
    Ok(())
}

/// The `attr eq "text"` comparisons a filter is made of, when it is only
/// those joined by `and`.
fn filter_equalities(filter: &Filter) -> Vec<(String, String)> {
    match filter {
        Filter::Compare(path, super::filter::CompareOp::Eq, Value::String(text))
            if path.sub.is_none() && path.schema.is_none() =>
        {
            vec![(path.name.clone(), text.clone())]
        }
        Filter::And(a, b) => {
            let mut all = filter_equalities(a);
            all.extend(filter_equalities(b));
            all
        }
        _ => Vec::new(),
    }
}

fn listed(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(values) => values.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// Whether two values of a multi-valued attribute are the same one: by
/// their `value` when both are complex and have one, else as JSON.
fn same_value(a: &Value, b: &Value) -> bool {
    match (member(a, "value"), member(b, "value")) {
        (Some(a), Some(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn patch(resource: &mut Value, operations: Value) -> Result<(), ScimError> {
        apply(
            resource,
            &json!({"schemas": [PATCH_SCHEMA], "Operations": operations}),
        )
    }

    #[test]
    fn the_rfc_member_operations_add_once_and_remove_by_filter() {
        let mut group = json!({"displayName": "Ops", "members": [{"value": "a"}]});
        patch(
            &mut group,
            json!([{"op": "add", "path": "members", "value": [{"value": "b"}, {"value": "a"}]}]),
        )
        .unwrap();
        assert_eq!(group["members"], json!([{"value": "a"}, {"value": "b"}]));
        patch(
            &mut group,
            json!([{"op": "remove", "path": "members[value eq \"a\"]"}]),
        )
        .unwrap();
        assert_eq!(group["members"], json!([{"value": "b"}]));
        // Entra ID's way: remove with the values to remove.
        patch(
            &mut group,
            json!([{"op": "Remove", "path": "members", "value": [{"value": "b"}]}]),
        )
        .unwrap();
        assert_eq!(group["members"], json!([]));
        patch(
            &mut group,
            json!([{"op": "replace", "path": "members", "value": [{"value": "c"}]}]),
        )
        .unwrap();
        assert_eq!(group["members"], json!([{"value": "c"}]));
        patch(&mut group, json!([{"op": "remove", "path": "members"}])).unwrap();
        assert!(group.get("members").is_none());
    }

    #[test]
    fn entra_style_operations_without_a_path_set_each_key_as_a_path() {
        let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let mut user = json!({"userName": "a", "active": true, "name": {"familyName": "B"}});
        patch(
            &mut user,
            json!([
                {"op": "Replace", "value": {"active": "False", "name.givenName": "Ann",
                  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Ops"}},
                {"op": "Add", "value": {ent: {"employeeNumber": "7"}}},
                {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "a@work.example"},
            ]),
        )
        .unwrap();
        assert_eq!(user["active"], "False");
        assert_eq!(user["name"], json!({"familyName": "B", "givenName": "Ann"}));
        assert_eq!(
            user[ent],
            json!({"department": "Ops", "employeeNumber": "7"})
        );
        assert_eq!(
            user["emails"],
            json!([{"type": "work", "value": "a@work.example"}])
        );
        patch(
            &mut user,
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@x"}]),
        )
        .unwrap();
        assert_eq!(user["emails"], json!([{"type": "work", "value": "new@x"}]));
    }

    #[test]
    fn wrong_operations_say_what_is_wrong() {
        let mut user = json!({"userName": "a"});
        let err = |ops: Value, user: &mut Value| patch(user, ops).unwrap_err();
        assert!(matches!(
            err(json!([{"op": "move", "path": "x"}]), &mut user),
            ScimError::InvalidSyntax(_)
        ));
        assert!(matches!(
            err(json!([{"op": "remove"}]), &mut user),
            ScimError::NoTarget(_)
        ));
        assert!(matches!(
            err(
                json!([{"op": "replace", "path": "id", "value": "x"}]),
                &mut user
            ),
            ScimError::Mutability(_)
        ));
        assert!(matches!(
            err(
                json!([{"op": "add", "path": "emails[", "value": 1}]),
                &mut user
            ),
            ScimError::InvalidPath(_)
        ));
        assert!(matches!(
            err(
                json!([{"op": "replace", "path": "emails[type eq \"home\"].value", "value": "x"}]),
                &mut user
            ),
            ScimError::NoTarget(_)
        ));
        assert!(matches!(
            err(json!([{"op": "replace", "value": "x"}]), &mut user),
            ScimError::InvalidValue(_)
        ));
        let no_schema = apply(&mut user, &json!({"Operations": []})).unwrap_err();
        assert!(matches!(no_schema, ScimError::InvalidSyntax(_)));
        // Nothing failed half-way: the resource is as it was.
        assert_eq!(user, json!({"userName": "a"}));
    }
}
