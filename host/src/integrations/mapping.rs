//! Field mappings applied to records before they are stored: a source field
//! copied to a target field, or a minijinja template over the record's
//! fields (`{{ given_name ~ " " ~ surname }}`, `{{ mail | lower }}`).
//!
//! Mapped targets are added to (or replace) the record's fields; the
//! source fields stay, so nothing the connector sent is lost.

use minijinja::Environment;
use serde_json::Value;

use crate::runtime::types::Record;
use crate::store::mappings::Mapping;

/// An integration's mappings, compiled once per sync.
pub struct Mapper {
    env: Environment<'static>,
    mappings: Vec<Mapping>,
}

impl Mapper {
    /// Compiles every transform; an invalid one (saved before validation
    /// existed, or edited in the database) is reported with its mapping.
    pub fn new(mappings: Vec<Mapping>) -> Result<Self, String> {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        for mapping in &mappings {
            if let Some(source) = &mapping.transform {
                env.add_template_owned(format!("m{}", mapping.id), source.clone())
                    .map_err(|e| {
                        format!(
                            "the transform of mapping {} → {} is invalid: {e}",
                            mapping.source_field, mapping.target_field
                        )
                    })?;
            }
        }
        Ok(Self { env, mappings })
    }

    pub fn is_empty(&self) -> bool {
        self.mappings.is_empty()
    }

    /// Applies the mappings for the record's kind to its fields.
    pub fn apply(&self, record: &mut Record) -> Result<(), String> {
        if record.deleted || !self.mappings.iter().any(|m| m.kind == record.kind) {
            return Ok(());
        }
        let Ok(Value::Object(mut fields)) = serde_json::from_str::<Value>(&record.fields) else {
            return Err(format!(
                "record {} {}: its fields are not a JSON object",
                record.kind, record.external_id
            ));
        };
        let source = fields.clone();
        for mapping in self.mappings.iter().filter(|m| m.kind == record.kind) {
            let value = match &mapping.transform {
                Some(_) => {
                    let template = self
                        .env
                        .get_template(&format!("m{}", mapping.id))
                        .map_err(|e| e.to_string())?;
                    let rendered = template.render(&source).map_err(|e| {
                        format!(
                            "record {} {}: the transform for `{}` failed: {e}",
                            record.kind, record.external_id, mapping.target_field
                        )
                    })?;
                    Value::String(rendered)
                }
                None => match source.get(&mapping.source_field) {
                    Some(value) => value.clone(),
                    None => continue,
                },
            };
            fields.insert(mapping.target_field.clone(), value);
        }
        record.fields = Value::Object(fields).to_string();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(
        id: i64,
        kind: &str,
        source: &str,
        target: &str,
        transform: Option<&str>,
    ) -> Mapping {
        Mapping {
            id,
            integration_id: 1,
            kind: kind.into(),
            source_field: source.into(),
            target_field: target.into(),
            transform: transform.map(str::to_owned),
            position: id,
        }
    }

    fn record(kind: &str, fields: Value) -> Record {
        Record {
            kind: kind.into(),
            external_id: "x".into(),
            fields: fields.to_string(),
            deleted: false,
            version: None,
        }
    }

    #[test]
    fn copies_and_transforms_fields_of_the_matching_kind() {
        let mapper = Mapper::new(vec![
            mapping(1, "user", "mail", "email", None),
            mapping(
                2,
                "user",
                "",
                "display_name",
                Some("{{ given_name ~ \" \" ~ surname }}"),
            ),
            mapping(3, "user", "", "username", Some("{{ uid | lower }}")),
            mapping(4, "group", "cn", "name", None),
        ])
        .unwrap();
        let mut user = record(
            "user",
            serde_json::json!({"mail": "ada@example.com", "given_name": "Ada", "surname": "Lovelace", "uid": "ADA"}),
        );
        mapper.apply(&mut user).unwrap();
        let fields: Value = serde_json::from_str(&user.fields).unwrap();
        assert_eq!(fields["email"], "ada@example.com");
        assert_eq!(fields["display_name"], "Ada Lovelace");
        assert_eq!(fields["username"], "ada");
        assert_eq!(fields["mail"], "ada@example.com", "sources stay");
        assert!(
            fields.get("name").is_none(),
            "group mappings do not touch users"
        );
    }

    #[test]
    fn a_missing_source_leaves_the_target_alone_and_a_broken_template_is_refused() {
        let mapper = Mapper::new(vec![mapping(1, "user", "mail", "email", None)]).unwrap();
        let mut user = record("user", serde_json::json!({"uid": "x"}));
        mapper.apply(&mut user).unwrap();
        assert!(!user.fields.contains("email"));
        assert!(Mapper::new(vec![mapping(1, "user", "", "x", Some("{{ unclosed"))]).is_err());
    }
}
