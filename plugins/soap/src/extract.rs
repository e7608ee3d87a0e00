//! Records from a response: the elements at an element path, each one's
//! child elements as its fields.

use serde_json::{Map, Value};

use crate::xml::Element;

const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// What a path found.
#[derive(Debug, Default, PartialEq)]
pub struct Found {
    pub records: Vec<Map<String, Value>>,
    /// When nothing matched: how far the path got, and what was there.
    pub stopped: Option<String>,
}

/// The elements at `path` (local names separated by `/`, `*` for any),
/// from the envelope's root; a path that does not start at the
/// `Envelope` starts inside the `Body`.
pub fn records(envelope: &Element, path: &str) -> Found {
    let segments: Vec<&str> = path
        .split('/')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let matches = |element: &Element, segment: &str| segment == "*" || element.local == segment;
    let (mut level, rest): (Vec<&Element>, &[&str]) = match segments.split_first() {
        None => (Vec::new(), &[]),
        Some((first, rest)) if matches(envelope, first) => (vec![envelope], rest),
        Some(_) => match envelope.child_local("Body") {
            Some(body) => (vec![body], &segments[..]),
            None => (Vec::new(), &segments[..]),
        },
    };
    let mut stopped = None;
    for (i, segment) in rest.iter().enumerate() {
        let next: Vec<&Element> = level
            .iter()
            .flat_map(|e| e.children.iter().filter(|c| matches(c, segment)))
            .collect();
        if next.is_empty() && stopped.is_none() {
            let here: Vec<String> = level
                .iter()
                .flat_map(|e| e.children.iter().map(|c| c.local.clone()))
                .take(10)
                .collect();
            let done = segments.len() - rest.len() + i;
            stopped = Some(if here.is_empty() {
                format!(
                    "nothing below {} (looking for {segment})",
                    segments[..done].join("/")
                )
            } else {
                format!(
                    "no {segment} below {}, which holds {}",
                    if done == 0 {
                        "the Body".to_owned()
                    } else {
                        segments[..done].join("/")
                    },
                    here.join(", ")
                )
            });
        }
        level = next;
    }
    let records: Vec<Map<String, Value>> = level.iter().map(|e| fields(e)).collect();
    Found {
        stopped: if records.is_empty() { stopped } else { None },
        records,
    }
}

/// An element's children as fields: text for a leaf, an object for an
/// element with children, an array for a repeated name, `null` for
/// `xsi:nil`.
pub fn fields(element: &Element) -> Map<String, Value> {
    let mut out = Map::new();
    for child in &element.children {
        let value = value_of(child);
        match out.get_mut(&child.local) {
            Some(Value::Array(list)) => list.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None => {
                out.insert(child.local.clone(), value);
            }
        }
    }
    out
}

fn value_of(element: &Element) -> Value {
    if element
        .attr_ns(XSI_NS, "nil")
        .is_some_and(|v| v == "true" || v == "1")
    {
        Value::Null
    } else if element.children.is_empty() {
        Value::String(element.text.trim().to_owned())
    } else {
        Value::Object(fields(element))
    }
}

/// A field as text, for ids and change stamps.
pub fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Whether change stamp `a` is later than `b`: as numbers when both are,
/// else as text (ISO 8601 timestamps in one zone sort as text).
pub fn later(a: &str, b: &str) -> bool {
    match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
        (Ok(x), Ok(y)) => x > y,
        _ => a > b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse;
    use serde_json::json;

    #[test]
    fn spyne_items_become_records() {
        let doc = parse(include_str!("../tests/seeds/response-11.xml")).unwrap();
        for path in [
            "Envelope/Body/GetItemsResponse/GetItemsResult/Item",
            "GetItemsResponse/GetItemsResult/Item",
            "/Envelope/*/*/*/Item/",
        ] {
            let found = records(&doc, path);
            assert_eq!(found.records.len(), 3, "{path}");
            assert_eq!(
                Value::Object(found.records[0].clone()),
                json!({"id": "1", "name": "Pump <4> & valve", "updated": "2026-01-01T10:00:00Z"})
            );
        }
        let found = records(&doc, "GetItemsResponse/Items/Item");
        assert!(found.records.is_empty());
        assert_eq!(
            found.stopped.as_deref(),
            Some("no Items below GetItemsResponse, which holds GetItemsResult")
        );
    }

    #[test]
    fn nested_repeated_and_nil_children() {
        let doc = parse(
            "<r xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance'><i><a>1</a><a>2</a><a>3</a><n xsi:nil='true'/><o><p> x </p></o></i></r>",
        )
        .unwrap();
        let found = records(&doc, "r/i");
        assert_eq!(
            Value::Object(found.records[0].clone()),
            json!({"a": ["1", "2", "3"], "n": null, "o": {"p": "x"}})
        );
    }

    #[test]
    fn stamps_compare_as_numbers_or_text() {
        assert!(later("10", "9"));
        assert!(later("2026-01-02", "2026-01-01"));
        assert!(!later("2026-01-01", "2026-01-01"));
    }
}
