//! Records and pages: what a sync returns.
//!
//! A [`Record`] is one item of the remote system: its kind, its stable id
//! there, and its fields as a JSON object in text, since the contract
//! carries payloads as JSON. [`RecordBuilder`] assembles that object from
//! typed values, so a connector never formats JSON by hand. A
//! [`SyncPage`] is one call's worth of records and says, with its cursor,
//! where the next call continues.
//!
//! ```
//! use cube_connector_sdk::prelude::*;
//!
//! let issue = Record::builder("work-order", "OPS-17")
//!     .field("title", "Pump 4 leaks")
//!     .field("priority", "high")
//!     .field("assignee", None::<String>)
//!     .version("2026-11-24T10:00:00.000+0000")
//!     .build();
//! assert_eq!(
//!     issue.fields_json()?,
//!     json!({"title": "Pump 4 leaks", "priority": "high", "assignee": null})
//! );
//!
//! let page = SyncPage::more(vec![issue, Record::deleted("work-order", "OPS-9")], "50");
//! assert!(page.has_more);
//! # Ok::<(), cube_connector_sdk::Error>(())
//! ```

use serde::Serialize;
use serde_json::Value;

use crate::types::{Record, SyncPage};

impl Record {
    /// Starts a record of `kind` with its stable id in the remote system.
    ///
    /// The kind is what the item is: `user`, `group`, `work-order`,
    /// `work-order-comment`, or a kind of your own. The id must not change
    /// while the item exists (a GUID, an issue key).
    pub fn builder(kind: &str, external_id: impl Into<String>) -> RecordBuilder {
        RecordBuilder {
            kind: kind.to_owned(),
            external_id: external_id.into(),
            fields: Vec::new(),
            deleted: false,
            version: None,
        }
    }

    /// A record saying the item with this id was deleted.
    pub fn deleted(kind: &str, external_id: impl Into<String>) -> Record {
        Record::builder(kind, external_id).deleted().build()
    }

    /// The fields, parsed: for tests, or to read back a record you built.
    pub fn fields_json(&self) -> serde_json::Result<Value> {
        serde_json::from_str(&self.fields)
    }
}

/// Builds a [`Record`]; start one with [`Record::builder`].
#[derive(Clone, Debug)]
#[must_use]
pub struct RecordBuilder {
    kind: String,
    external_id: String,
    /// Each field's name and its value as JSON text, in the order first
    /// set: serialised once, when set, instead of kept as a `Value` tree
    /// and serialised again (a directory sync builds 100,000 of these).
    fields: Vec<(String, String)>,
    deleted: bool,
    version: Option<String>,
}

impl RecordBuilder {
    /// Sets one field, replacing a field of that name. `None` values are
    /// stored as JSON `null` (as is a value that cannot be serialised).
    pub fn field(mut self, name: &str, value: impl Serialize) -> Self {
        let json = serde_json::to_string(&value).unwrap_or_else(|_| "null".to_owned());
        self.set(name, json);
        self
    }

    /// Sets `name` to `json`, in place if it is set already.
    fn set(&mut self, name: &str, json: String) {
        match self.fields.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = json,
            None => self.fields.push((name.to_owned(), json)),
        }
    }

    /// Merges the fields of a JSON object, replacing fields of the same
    /// name (other values are ignored). Handy to pass a remote item through
    /// as it came.
    pub fn fields(mut self, object: Value) -> Self {
        if let Value::Object(map) = object {
            for (name, value) in map {
                self.set(&name, value.to_string());
            }
        }
        self
    }

    /// The remote version or change stamp (an ETag, an `updated`
    /// timestamp, a `uSNChanged`). The host uses it to recognise the echo
    /// of a change it pushed.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Marks the record deleted: the remote system reports the item gone.
    pub fn deleted(mut self) -> Self {
        self.deleted = true;
        self
    }

    /// Finishes the record, its fields serialised as one JSON object.
    pub fn build(self) -> Record {
        Record {
            kind: self.kind,
            external_id: self.external_id,
            fields: object_text(&self.fields),
            deleted: self.deleted,
            version: self.version,
        }
    }
}

/// `{"name":value,...}` from names and JSON texts, as `serde_json` writes
/// an object.
fn object_text(fields: &[(String, String)]) -> String {
    let size: usize = fields.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
    let mut out = String::with_capacity(size + 2);
    out.push('{');
    for (i, (name, json)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&Value::from(name.as_str()).to_string());
        out.push(':');
        out.push_str(json);
    }
    out.push('}');
    out
}

impl SyncPage {
    /// A page after which there are more: the host calls again with `cursor`.
    pub fn more(records: Vec<Record>, cursor: impl Into<String>) -> SyncPage {
        SyncPage {
            records,
            cursor: Some(cursor.into()),
            has_more: true,
        }
    }

    /// The last page of this sync, with the cursor an incremental sync starts
    /// from next time (if any).
    pub fn done(records: Vec<Record>, cursor: Option<String>) -> SyncPage {
        SyncPage {
            records,
            cursor,
            has_more: false,
        }
    }

    /// The last page, without a cursor.
    pub fn last(records: Vec<Record>) -> SyncPage {
        SyncPage::done(records, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builders_make_records_with_json_fields() {
        let record = Record::builder("user", "42")
            .field("mail", "ada@example.com")
            .field("manager", None::<String>)
            .fields(json!({"given_name": "Ada", "surname": "Lovelace"}))
            .fields(json!("ignored"))
            .version("17")
            .build();
        assert_eq!(record.kind, "user");
        assert_eq!(record.external_id, "42");
        assert_eq!(record.version.as_deref(), Some("17"));
        assert!(!record.deleted);
        assert_eq!(
            record.fields_json().unwrap(),
            json!({"mail": "ada@example.com", "manager": null, "given_name": "Ada", "surname": "Lovelace"})
        );
        let gone = Record::deleted("user", "43");
        assert!(gone.deleted);
        assert_eq!(gone.fields, "{}");
    }

    #[test]
    fn fields_are_written_as_serde_json_writes_the_object() {
        let record = Record::builder("user", "42")
            .field("a\"b", vec!["x", "y\n"])
            .field("n", 1.5)
            .field("a\"b", "again")
            .fields(json!({"n": {"deep": [1, null]}, "z": true}))
            .build();
        let expected = json!({"a\"b": "again", "n": {"deep": [1, null]}, "z": true});
        assert_eq!(
            record.fields,
            expected.to_string(),
            "a field set again keeps its place, names are escaped"
        );
    }

    #[test]
    fn pages_say_whether_more_follow() {
        let more = SyncPage::more(vec![], "page-2");
        assert!(more.has_more);
        assert_eq!(more.cursor.as_deref(), Some("page-2"));
        let done = SyncPage::done(vec![], Some("2026-11-24T10:00:00Z".into()));
        assert!(!done.has_more);
        assert!(SyncPage::last(vec![]).cursor.is_none());
    }
}
