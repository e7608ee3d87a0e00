//! Forms generated from a connector's configuration schema.
//!
//! A connector describes its configuration as a JSON Schema object (see
//! `connector-info.config-schema` in the WIT). The host reads the subset that
//! makes a form: top-level properties of type `string`, `integer`, `number`
//! or `boolean`, with `title`, `description`, `default`, `enum`,
//! `minimum`/`maximum`, `minLength`/`maxLength`, `pattern`, `format`
//! (`uri`, `email`), `required`, and `writeOnly` for secrets. Two extensions
//! shape the UI: `x-cube-step` names the wizard step a property belongs to,
//! `x-cube-multiline` asks for a text area, and `x-cube-choices` says the
//! connector lists the values the remote system offers (its `choices`).
//!
//! Parsing a submitted form yields either the configuration or a message
//! per field, so the form can be shown again with each message beside its
//! field and everything the user typed (except secrets) kept.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::{Map, Value};

/// The prefix of configuration inputs in a form, keeping them apart from
/// the form's own inputs (`name`, `csrf_token`).
pub const FIELD_PREFIX: &str = "cfg.";

/// What kind of input a property gets.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputKind {
    Text,
    Multiline,
    Secret,
    Url,
    Email,
    Integer,
    Number,
    Checkbox,
    Select,
}

/// One configuration property, as a form field.
#[derive(Clone, Debug, Serialize)]
pub struct Field {
    pub name: String,
    pub input_name: String,
    pub label: String,
    pub help: String,
    pub kind: InputKind,
    pub required: bool,
    pub secret: bool,
    pub options: Vec<String>,
    pub default: Option<Value>,
    pub step: Option<String>,
    /// The connector offers values for it (`x-cube-choices`): the wizard
    /// asks the connector's `choices` and shows them.
    pub choices: bool,
    #[serde(skip)]
    rules: Rules,
}

#[derive(Clone, Debug, Default)]
struct Rules {
    minimum: Option<f64>,
    maximum: Option<f64>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    pattern: Option<regex::Regex>,
}

/// A configuration schema, read as a form.
#[derive(Clone, Debug, Serialize)]
pub struct ConfigForm {
    pub fields: Vec<Field>,
    /// Wizard steps after which the connection test runs with what was
    /// typed so far (the schema's `x-cube-checks`), so a wrong password or
    /// search base shows on its own step, not at the end.
    pub checks: Vec<String>,
}

/// A submitted configuration, split into what is stored plainly and the
/// secrets (only those given: an empty secret input keeps the stored one).
#[derive(Clone, Debug, Default)]
pub struct SubmittedConfig {
    pub plain: Map<String, Value>,
    pub secrets: BTreeMap<String, String>,
}

/// A configuration given as JSON (by the API, or `cube plugin test`) as
/// the form inputs it stands for, so it is checked by the same rules as a
/// submitted form: text as is, `true` as a ticked box, `false` and `null`
/// as empty.
pub fn form_inputs(config: &Map<String, Value>) -> HashMap<String, String> {
    config
        .iter()
        .map(|(key, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Bool(true) => "true".into(),
                Value::Bool(false) | Value::Null => String::new(),
                other => other.to_string(),
            };
            (format!("{FIELD_PREFIX}{key}"), text)
        })
        .collect()
}

/// Messages per field name, for the form.
pub type FieldErrors = BTreeMap<String, String>;

fn humanize(name: &str) -> String {
    let spaced: String = name
        .chars()
        .enumerate()
        .flat_map(|(i, c)| {
            let sep = (i > 0 && c.is_uppercase()).then_some(' ');
            let c = if c == '_' || c == '-' { ' ' } else { c };
            sep.into_iter().chain(std::iter::once(c))
        })
        .collect();
    let lower = spaced.to_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl ConfigForm {
    /// Reads a schema. Properties of other types (objects, arrays) cannot be
    /// edited in a form; a schema with a required one is refused, with the
    /// property named, since no integration could be saved with it.
    pub fn from_schema(schema: &Value) -> Result<Self, String> {
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut fields = Vec::new();
        let checks: Vec<String> = schema
            .get("x-cube-checks")
            .and_then(Value::as_array)
            .map(|c| {
                c.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
            return Ok(Self { fields, checks });
        };
        for (name, property) in properties {
            let is_required = required.contains(&name.as_str());
            let secret = property.get("writeOnly") == Some(&Value::Bool(true));
            let options: Vec<String> = property
                .get("enum")
                .and_then(Value::as_array)
                .map(|o| {
                    o.iter()
                        .map(|v| {
                            v.as_str()
                                .map(str::to_owned)
                                .unwrap_or_else(|| v.to_string())
                        })
                        .collect()
                })
                .unwrap_or_default();
            let kind = match property.get("type").and_then(Value::as_str) {
                _ if !options.is_empty() => InputKind::Select,
                Some("string") if secret => InputKind::Secret,
                Some("string") => match property.get("format").and_then(Value::as_str) {
                    Some("uri") => InputKind::Url,
                    Some("email") => InputKind::Email,
                    _ if property.get("x-cube-multiline") == Some(&Value::Bool(true)) => {
                        InputKind::Multiline
                    }
                    _ => InputKind::Text,
                },
                Some("integer") => InputKind::Integer,
                Some("number") => InputKind::Number,
                Some("boolean") => InputKind::Checkbox,
                other if is_required => {
                    return Err(format!(
                        "the required property `{name}` has type {} which a form cannot edit",
                        other.unwrap_or("(none)")
                    ));
                }
                _ => continue,
            };
            let pattern =
                match property.get("pattern").and_then(Value::as_str) {
                    Some(p) => Some(regex::Regex::new(p).map_err(|e| {
                        format!("the property `{name}` has an invalid pattern: {e}")
                    })?),
                    None => None,
                };
            let text = |key: &str| property.get(key).and_then(Value::as_str).map(str::to_owned);
            let number = |key: &str| property.get(key).and_then(Value::as_f64);
            let length = |key: &str| {
                property
                    .get(key)
                    .and_then(Value::as_u64)
                    .map(|n| n as usize)
            };
            fields.push(Field {
                input_name: format!("{FIELD_PREFIX}{name}"),
                label: text("title").unwrap_or_else(|| humanize(name)),
                help: text("description").unwrap_or_default(),
                kind,
                required: is_required,
                secret,
                options,
                default: property.get("default").cloned(),
                step: text("x-cube-step"),
                choices: property.get("x-cube-choices") == Some(&Value::Bool(true)),
                rules: Rules {
                    minimum: number("minimum"),
                    maximum: number("maximum"),
                    min_length: length("minLength"),
                    max_length: length("maxLength"),
                    pattern,
                },
                name: name.clone(),
            });
        }
        Ok(Self { fields, checks })
    }

    /// The wizard steps, in order of first appearance; fields without a
    /// step form a step named "Settings".
    pub fn steps(&self) -> Vec<String> {
        let mut steps: Vec<String> = Vec::new();
        for field in &self.fields {
            let step = field.step.clone().unwrap_or_else(|| "Settings".into());
            if !steps.contains(&step) {
                steps.push(step);
            }
        }
        steps
    }

    /// The fields of one step.
    pub fn fields_of_step<'a>(&'a self, step: &'a str) -> impl Iterator<Item = &'a Field> + 'a {
        self.fields
            .iter()
            .filter(move |f| f.step.as_deref().unwrap_or("Settings") == step)
    }

    /// Reads the fields in `only` (all when `None`) from a submitted form.
    /// `secrets_set` names the secret fields already stored, which may be
    /// left empty to keep them.
    pub fn parse(
        &self,
        form: &HashMap<String, String>,
        only: Option<&[&Field]>,
        secrets_set: &[&str],
    ) -> Result<SubmittedConfig, FieldErrors> {
        let mut out = SubmittedConfig::default();
        let mut errors = FieldErrors::new();
        let fields: Vec<&Field> = match only {
            Some(fields) => fields.to_vec(),
            None => self.fields.iter().collect(),
        };
        for field in fields {
            let given = form
                .get(&field.input_name)
                .map(String::as_str)
                .unwrap_or("");
            // A password may begin or end with a space: secrets stay as typed.
            let raw = if field.secret { given } else { given.trim() };
            match field.read(raw, secrets_set.contains(&field.name.as_str())) {
                Ok(None) => {}
                Ok(Some(value)) if field.secret => {
                    let Value::String(secret) = value else {
                        unreachable!("secrets are text")
                    };
                    out.secrets.insert(field.name.clone(), secret);
                }
                Ok(Some(value)) => {
                    out.plain.insert(field.name.clone(), value);
                }
                Err(message) => {
                    errors.insert(field.name.clone(), message);
                }
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }
}

impl Field {
    /// One input's value: `None` when empty and allowed to be.
    fn read(&self, raw: &str, stored_secret: bool) -> Result<Option<Value>, String> {
        if self.kind == InputKind::Checkbox {
            return Ok(Some(Value::Bool(matches!(raw, "on" | "true" | "1"))));
        }
        if raw.trim().is_empty() {
            if self.required && !(self.secret && stored_secret) {
                return Err("This field is required.".into());
            }
            return Ok(None);
        }
        let rules = &self.rules;
        let value = match self.kind {
            InputKind::Integer => {
                let n: i64 = raw
                    .parse()
                    .map_err(|_| "Enter a whole number.".to_string())?;
                self.check_range(n as f64)?;
                Value::from(n)
            }
            InputKind::Number => {
                let n: f64 = raw.parse().map_err(|_| "Enter a number.".to_string())?;
                if !n.is_finite() {
                    return Err("Enter a number.".into());
                }
                self.check_range(n)?;
                Value::from(n)
            }
            InputKind::Select => {
                if !self.options.iter().any(|o| o == raw) {
                    return Err(format!("Choose one of: {}.", self.options.join(", ")));
                }
                Value::String(raw.to_owned())
            }
            InputKind::Url => {
                let url = url::Url::parse(raw).map_err(|_| {
                    "Enter a full URL, like https://example.atlassian.net.".to_string()
                })?;
                if !matches!(url.scheme(), "http" | "https" | "ldap" | "ldaps") {
                    return Err(
                        "The URL must start with https:// (or http://, ldap://, ldaps://).".into(),
                    );
                }
                Value::String(raw.to_owned())
            }
            InputKind::Email => {
                let (user, domain) = raw.split_once('@').unwrap_or(("", ""));
                if user.is_empty() || !domain.contains('.') || raw.contains(char::is_whitespace) {
                    return Err("Enter an e-mail address, like name@example.com.".into());
                }
                Value::String(raw.to_owned())
            }
            _ => Value::String(raw.to_owned()),
        };
        if let Value::String(s) = &value {
            let chars = s.chars().count();
            if let Some(min) = rules.min_length
                && chars < min
            {
                return Err(format!("Enter at least {min} characters."));
            }
            if let Some(max) = rules.max_length
                && chars > max
            {
                return Err(format!("Enter at most {max} characters."));
            }
            if let Some(pattern) = &rules.pattern
                && !pattern.is_match(s)
            {
                return Err(if self.help.is_empty() {
                    format!(
                        "This does not have the expected form ({}).",
                        pattern.as_str()
                    )
                } else {
                    format!("This does not have the expected form: {}", self.help)
                });
            }
        }
        Ok(Some(value))
    }

    fn check_range(&self, n: f64) -> Result<(), String> {
        if let Some(min) = self.rules.minimum
            && n < min
        {
            return Err(format!("Enter {min} or more."));
        }
        if let Some(max) = self.rules.maximum
            && n > max
        {
            return Err(format!("Enter {max} or less."));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form() -> ConfigForm {
        ConfigForm::from_schema(&json!({
            "type": "object",
            "required": ["base_url", "token", "page_size"],
            "properties": {
                "base_url": {"type": "string", "format": "uri", "x-cube-step": "Server"},
                "token": {"type": "string", "writeOnly": true, "x-cube-step": "Credentials"},
                "page_size": {"type": "integer", "minimum": 1, "maximum": 500},
                "mode": {"enum": ["fast", "safe"]},
                "project": {"type": "string", "pattern": "^[A-Z]+$", "description": "Capital letters"},
                "verbose": {"type": "boolean"},
                "nested": {"type": "object"}
            }
        }))
        .unwrap()
    }

    fn input(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (format!("{FIELD_PREFIX}{k}"), v.to_string()))
            .collect()
    }

    #[test]
    fn keeps_declared_order_and_skips_uneditable_optional_properties() {
        let names: Vec<_> = form().fields.iter().map(|f| f.name.clone()).collect();
        assert_eq!(
            names,
            [
                "base_url",
                "token",
                "page_size",
                "mode",
                "project",
                "verbose"
            ]
        );
        assert_eq!(form().steps(), ["Server", "Credentials", "Settings"]);
    }

    #[test]
    fn a_valid_form_splits_plain_values_from_secrets() {
        let parsed = form()
            .parse(
                &input(&[
                    ("base_url", "https://jira.example.com"),
                    ("token", "s3cret-token"),
                    ("page_size", "50"),
                    ("mode", "safe"),
                    ("verbose", "on"),
                ]),
                None,
                &[],
            )
            .unwrap();
        assert_eq!(parsed.plain["page_size"], json!(50));
        assert_eq!(parsed.plain["verbose"], json!(true));
        assert!(!parsed.plain.contains_key("token"));
        assert_eq!(parsed.secrets["token"], "s3cret-token");
    }

    #[test]
    fn every_bad_field_gets_its_own_message() {
        let errors = form()
            .parse(
                &input(&[
                    ("base_url", "jira.example.com"),
                    ("page_size", "900"),
                    ("mode", "reckless"),
                    ("project", "abc"),
                ]),
                None,
                &[],
            )
            .unwrap_err();
        assert!(errors["base_url"].contains("full URL"), "{errors:?}");
        assert_eq!(errors["token"], "This field is required.");
        assert_eq!(errors["page_size"], "Enter 500 or less.");
        assert!(errors["mode"].contains("fast, safe"));
        assert!(errors["project"].contains("Capital letters"));
        assert!(!errors.contains_key("verbose"));
    }

    #[test]
    fn a_stored_secret_may_be_left_empty() {
        let submitted = input(&[("base_url", "https://x.example"), ("page_size", "5")]);
        assert!(form().parse(&submitted, None, &[]).is_err());
        let parsed = form().parse(&submitted, None, &["token"]).unwrap();
        assert!(parsed.secrets.is_empty());
    }

    #[test]
    fn a_required_property_no_form_can_edit_is_refused() {
        let error = ConfigForm::from_schema(&json!({
            "required": ["filters"],
            "properties": {"filters": {"type": "array"}}
        }))
        .unwrap_err();
        assert!(error.contains("`filters`"), "{error}");
    }
}
