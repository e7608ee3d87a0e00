//! Atlassian Document Format (Jira Cloud's rich text) to plain text and
//! back.
//!
//! Work orders keep plain text. Writing turns each line into a paragraph
//! (an empty line into an empty paragraph), so reading our own write gives
//! back exactly the text that was written and echoes compare equal.
//! Reading keeps what a person would see: list items as `- ` or `1. `
//! lines, mentions and emoji by their text, links by their address.

use serde_json::{Value, json};

/// A document holding `text`, one paragraph per line.
pub fn from_text(text: &str) -> Value {
    let content: Vec<Value> = text
        .split('\n')
        .map(|line| {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() {
                json!({"type": "paragraph", "content": []})
            } else {
                json!({"type": "paragraph", "content": [{"type": "text", "text": line}]})
            }
        })
        .collect();
    json!({"type": "doc", "version": 1, "content": content})
}

/// The plain text of a document (or of a plain string, which Data Center
/// and some older Cloud fields use).
pub fn to_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        _ => {
            let mut lines = Vec::new();
            blocks(value, "", &mut lines);
            lines.join("\n")
        }
    }
}

fn children(node: &Value) -> &[Value] {
    node.get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// Appends the lines of the block nodes under `node`.
fn blocks(node: &Value, prefix: &str, lines: &mut Vec<String>) {
    for child in children(node) {
        match child
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "paragraph" | "heading" => {
                for (i, line) in inline(child).split('\n').enumerate() {
                    let lead = if i == 0 {
                        prefix.to_owned()
                    } else {
                        " ".repeat(prefix.chars().count())
                    };
                    lines.push(format!("{lead}{line}"));
                }
            }
            "bulletList" => {
                for item in children(child) {
                    blocks(item, &format!("{prefix}- "), lines);
                }
            }
            "orderedList" => {
                let start = child
                    .pointer("/attrs/order")
                    .and_then(Value::as_u64)
                    .unwrap_or(1);
                for (n, item) in children(child).iter().enumerate() {
                    blocks(item, &format!("{prefix}{}. ", start + n as u64), lines);
                }
            }
            "codeBlock" => lines.extend(inline(child).split('\n').map(|l| format!("{prefix}{l}"))),
            "rule" => lines.push(format!("{prefix}---")),
            "mediaSingle" | "mediaGroup" => lines.push(format!("{prefix}[attachment]")),
            // blockquote, panel, listItem, table rows and cells, expand...
            _ if !children(child).is_empty() => blocks(child, prefix, lines),
            _ => {
                let text = inline_node(child);
                if !text.is_empty() {
                    lines.push(format!("{prefix}{text}"));
                }
            }
        }
    }
}

fn inline(node: &Value) -> String {
    children(node).iter().map(inline_node).collect()
}

fn inline_node(node: &Value) -> String {
    let attr = |name: &str| {
        node.pointer(&format!("/attrs/{name}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    match node.get("type").and_then(Value::as_str).unwrap_or_default() {
        "text" => node
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        "hardBreak" => "\n".into(),
        "mention" => attr("text"),
        "emoji" => {
            let text = attr("text");
            if text.is_empty() {
                attr("shortName")
            } else {
                text
            }
        }
        "inlineCard" | "blockCard" => attr("url"),
        "date" => attr("timestamp"),
        "status" => attr("text"),
        _ => inline(node),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_through_a_document() {
        for text in ["", "one line", "first\nsecond", "a\n\n\nb", "trailing\n"] {
            let doc = from_text(text);
            assert_eq!(doc["type"], "doc");
            assert_eq!(doc["version"], 1);
            assert_eq!(to_text(&doc), text, "{doc}");
        }
    }

    #[test]
    fn rich_documents_read_as_a_person_sees_them() {
        let doc = json!({"type": "doc", "version": 1, "content": [
            {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Pump 4"}]},
            {"type": "paragraph", "content": [
                {"type": "text", "text": "Ask "},
                {"type": "mention", "attrs": {"id": "abc", "text": "@Ana"}},
                {"type": "text", "text": " ", "marks": [{"type": "strong"}]},
                {"type": "emoji", "attrs": {"shortName": ":wrench:"}},
                {"type": "hardBreak"},
                {"type": "inlineCard", "attrs": {"url": "https://example.com/p4"}}
            ]},
            {"type": "bulletList", "content": [
                {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "seal"}]}]},
                {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "valve"}]}]}
            ]},
            {"type": "orderedList", "attrs": {"order": 3}, "content": [
                {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "drain"}]}]}
            ]},
            {"type": "rule"},
            {"type": "codeBlock", "content": [{"type": "text", "text": "psi=40\npsi=35"}]}
        ]});
        assert_eq!(
            to_text(&doc),
            "Pump 4\nAsk @Ana :wrench:\nhttps://example.com/p4\n- seal\n- valve\n3. drain\n---\npsi=40\npsi=35"
        );
        assert_eq!(
            to_text(&json!("plain, from Data Center")),
            "plain, from Data Center"
        );
        assert_eq!(to_text(&Value::Null), "");
    }
}
