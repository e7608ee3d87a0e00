//! Records and pages: what a sync returns.
//!
//! A [`Record`] is one item of the remote system: its kind, its stable id
//! there, and its fields as a JSON object in text, since the contract
//! carries payloads as JSON. [`RecordBuilder`] assembles that object from
//! typed values, so a connector never formats JSON by hand. A
//! [`SyncPage`] is one call's worth of records and says, with its cursor,
//! where the next call continues; [`SyncCursor`] keeps that cursor as
//! JSON.
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
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};
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
            object: Vec::with_capacity(256),
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
    /// The JSON object's members as they are set, `"name":value,...`,
    /// written once into one buffer: a directory sync builds 100,000 of
    /// these, and a field per allocation (or a `Value` tree serialised
    /// later) was most of its time in the sandbox.
    object: Vec<u8>,
    /// Where each member sits in `object`.
    fields: Vec<Member>,
    deleted: bool,
    version: Option<String>,
}

/// One member of the object being built: its name (quoted and escaped) at
/// `name..value - 1` (before the colon), its value at `value..end`.
#[derive(Clone, Copy, Debug)]
struct Member {
    name: usize,
    value: usize,
    end: usize,
}

impl RecordBuilder {
    /// Sets one field, replacing a field of that name. `None` values are
    /// stored as JSON `null` (as is a value that cannot be serialised).
    pub fn field(mut self, name: &str, value: impl Serialize) -> Self {
        match self.find(name) {
            Some(i) => {
                let mut json = Vec::new();
                write_value(&mut json, &value);
                self.replace(i, &json);
            }
            None => {
                if !self.fields.is_empty() {
                    self.object.push(b',');
                }
                let name_at = self.object.len();
                write_name(&mut self.object, name);
                self.object.push(b':');
                let value_at = self.object.len();
                write_value(&mut self.object, &value);
                self.fields.push(Member {
                    name: name_at,
                    value: value_at,
                    end: self.object.len(),
                });
            }
        }
        self
    }

    /// The member named `name`, if set.
    fn find(&self, name: &str) -> Option<usize> {
        let object = &self.object;
        let name_of = |m: &Member| &object[m.name..m.value - 1];
        if plain(name) {
            // Compared in place: `"name"` is the name quoted as it is.
            let name = name.as_bytes();
            self.fields.iter().position(|m| {
                let quoted = name_of(m);
                quoted.len() == name.len() + 2 && &quoted[1..quoted.len() - 1] == name
            })
        } else {
            let mut quoted = Vec::new();
            write_name(&mut quoted, name);
            self.fields.iter().position(|m| name_of(m) == quoted)
        }
    }

    /// Replaces member `i`'s value with `json`, keeping its place.
    fn replace(&mut self, i: usize, json: &[u8]) {
        let Member { value, end, .. } = self.fields[i];
        self.object.splice(value..end, json.iter().copied());
        let (old, new) = (end - value, json.len());
        self.fields[i].end = value + new;
        for member in &mut self.fields[i + 1..] {
            member.name = member.name + new - old;
            member.value = member.value + new - old;
            member.end = member.end + new - old;
        }
    }

    /// Merges the fields of a JSON object, replacing fields of the same
    /// name (other values are ignored). Handy to pass a remote item through
    /// as it came.
    pub fn fields(mut self, object: Value) -> Self {
        if let Value::Object(map) = object {
            for (name, value) in map {
                self = self.field(&name, value);
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
        let mut text = Vec::with_capacity(self.object.len() + 2);
        text.push(b'{');
        text.extend_from_slice(&self.object);
        text.push(b'}');
        Record {
            kind: self.kind,
            external_id: self.external_id,
            // Names are `&str`s escaped by serde_json, values serde_json's
            // output: UTF-8 throughout.
            fields: String::from_utf8(text).expect("serde_json writes UTF-8"),
            deleted: self.deleted,
            version: self.version,
        }
    }
}

/// Whether a field name needs no escaping in JSON (almost none do).
fn plain(name: &str) -> bool {
    name.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\')
}

/// Writes `name` as a JSON string.
fn write_name(out: &mut Vec<u8>, name: &str) {
    if plain(name) {
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.push(b'"');
    } else {
        write_value(out, name);
    }
}

/// Writes `value` as JSON; `null` when it cannot be serialised.
fn write_value(out: &mut Vec<u8>, value: &(impl Serialize + ?Sized)) {
    let start = out.len();
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.truncate(start);
        out.extend_from_slice(b"null");
    }
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

/// A sync position kept as JSON in a [`SyncPage`]'s cursor.
///
/// Derive `Serialize`, `Deserialize` and `Default` for your position type
/// and implement this trait (no methods needed): [`parse`](Self::parse)
/// reads the cursor the host hands back, [`text`](Self::text) writes the
/// one to return. No cursor is the default position (a sync from the
/// start). Mark fields with `#[serde(default, skip_serializing_if =
/// "cube_connector_sdk::records::is_default")]` to keep stored cursors
/// short.
///
/// ```
/// use cube_connector_sdk::records::{SyncCursor, is_default};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Default, Deserialize, Serialize, PartialEq)]
/// struct Position {
///     #[serde(default, skip_serializing_if = "is_default")]
///     offset: u32,
/// }
/// impl SyncCursor for Position {}
///
/// assert_eq!(Position::parse(None)?, Position::default());
/// assert_eq!(Position { offset: 0 }.text(), "{}");
/// assert_eq!(Position::parse(Some(r#"{"offset":50}"#))?.offset, 50);
/// assert!(Position::parse(Some("page 2")).is_err());
/// # Ok::<(), cube_connector_sdk::Error>(())
/// ```
pub trait SyncCursor: Serialize + DeserializeOwned + Default {
    /// The position in `text`, the default without one. Text this type
    /// does not read (a cursor of another version, say) is a `fatal`
    /// error asking the admin for a full sync.
    fn parse(text: Option<&str>) -> Result<Self> {
        match text {
            None => Ok(Self::default()),
            Some(t) => serde_json::from_str(t).map_err(|e| {
                Error::fatal(format!(
                    "the stored sync position is not one this connector wrote ({e}); run a full sync"
                ))
            }),
        }
    }

    /// The position as cursor text.
    fn text(&self) -> String {
        serde_json::to_string(self).expect("a cursor serialises")
    }
}

/// Whether `value` is its type's default (`0`, `""`, `false`, `None`): for
/// `skip_serializing_if` on fields of a [`SyncCursor`].
pub fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
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
    fn a_field_set_again_moves_the_fields_after_it() {
        let record = Record::builder("user", "42")
            .field("a", 1)
            .field("b", "two")
            .field("c", [3])
            .field("a", "a longer value than before")
            .field("c", None::<u8>)
            .field("b", 2)
            .field("d", "\u{1}")
            .build();
        assert_eq!(
            record.fields,
            r#"{"a":"a longer value than before","b":2,"c":null,"d":"\u0001"}"#
        );
        assert_eq!(
            record.fields_json().unwrap(),
            json!({"a": "a longer value than before", "b": 2, "c": null, "d": "\u{1}"})
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
