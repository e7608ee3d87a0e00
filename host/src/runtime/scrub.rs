//! Keeping secrets out of everything a connector says.
//!
//! A connector receives its secrets (passwords, tokens) inside the config of
//! the call that needs them. Whatever it then logs or returns as an error is
//! shown to admins and stored in sync logs, so the host replaces every secret
//! value, and its common encodings, with `[redacted]` before anything is kept.

use serde_json::Value;

/// The text that replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are not scrubbed: replacing every `a` or `42`
/// in a log would destroy it while hiding nothing worth hiding.
const MIN_SECRET_LEN: usize = 4;

/// The secret values of one call, ready to scrub text with.
#[derive(Clone, Debug, Default)]
pub struct Secrets {
    /// Every form to replace, longest first so that a secret containing
    /// another is replaced whole.
    needles: Vec<String>,
}

impl Secrets {
    /// Secrets given as plain values.
    pub fn new<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut needles = Vec::new();
        for value in values {
            let value = value.as_ref();
            if value.len() < MIN_SECRET_LEN {
                continue;
            }
            needles.push(value.to_owned());
            // As it appears inside JSON text, and inside a URL.
            let quoted = serde_json::to_string(value).expect("a string serialises");
            needles.push(quoted[1..quoted.len() - 1].to_owned());
            needles.push(percent_encode(value));
        }
        needles.retain(|n| n.len() >= MIN_SECRET_LEN);
        needles.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        needles.dedup();
        Self { needles }
    }

    /// The values of the fields that `schema` marks `"writeOnly": true`,
    /// found in `config`. Nested objects and arrays are followed.
    pub fn from_config(schema: &Value, config: &Value) -> Self {
        let mut values = Vec::new();
        collect_secrets(schema, config, &mut values);
        Self::new(values)
    }

    /// Adds the secrets of `other`.
    pub fn merge(mut self, other: &Secrets) -> Self {
        self.needles.extend(other.needles.iter().cloned());
        self.needles
            .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        self.needles.dedup();
        self
    }

    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// `text` with every secret replaced by [`REDACTED`].
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for needle in &self.needles {
            if out.contains(needle.as_str()) {
                out = out.replace(needle.as_str(), REDACTED);
            }
        }
        out
    }
}

fn collect_secrets(schema: &Value, value: &Value, out: &mut Vec<String>) {
    if schema.get("writeOnly").and_then(Value::as_bool) == Some(true) {
        collect_strings(value, out);
        return;
    }
    match value {
        Value::Object(fields) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            for (name, field) in fields {
                if let Some(field_schema) = properties.and_then(|p| p.get(name)) {
                    collect_secrets(field_schema, field, out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    collect_secrets(item_schema, item, out);
                }
            }
        }
        _ => {}
    }
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(fields) => fields.values().for_each(|v| collect_strings(v, out)),
        Value::Bool(_) | Value::Null => {}
    }
}

/// As RFC 3986 encodes a value in a URL: everything but unreserved characters.
fn percent_encode(value: &str) -> String {
    const UNRESERVED_KEPT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(value, UNRESERVED_KEPT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scrubs_plain_json_escaped_and_url_encoded_forms() {
        let secrets = Secrets::new(["p@ss\"word/1.x"]);
        assert_eq!(secrets.scrub("pw=p@ss\"word/1.x!"), "pw=[redacted]!");
        assert_eq!(
            secrets.scrub(r#"{"password":"p@ss\"word/1.x"}"#),
            r#"{"password":"[redacted]"}"#
        );
        assert_eq!(
            secrets.scrub("https://x/?pw=p%40ss%22word%2F1.x"),
            "https://x/?pw=[redacted]"
        );
    }

    #[test]
    fn leaves_short_values_and_clean_text_alone() {
        let secrets = Secrets::new(["ab", "hunter22"]);
        assert_eq!(secrets.scrub("abc hunter2"), "abc hunter2");
        assert_eq!(secrets.scrub("hunter22"), "[redacted]");
    }

    #[test]
    fn finds_write_only_fields_in_nested_config() {
        let schema = json!({
            "type": "object",
            "properties": {
                "url": {"type": "string"},
                "token": {"type": "string", "writeOnly": true},
                "auth": {"type": "object", "properties": {
                    "password": {"type": "string", "writeOnly": true}
                }},
                "keys": {"type": "array", "items": {"type": "string", "writeOnly": true}}
            }
        });
        let config = json!({
            "url": "https://example.com",
            "token": "tok-123456",
            "auth": {"password": "sesame-open"},
            "keys": ["key-one-1", "key-two-2"]
        });
        let secrets = Secrets::from_config(&schema, &config);
        let text = "https://example.com tok-123456 sesame-open key-one-1 key-two-2";
        assert_eq!(
            secrets.scrub(text),
            "https://example.com [redacted] [redacted] [redacted] [redacted]"
        );
    }
}
