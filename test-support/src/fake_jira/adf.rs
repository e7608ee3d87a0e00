//! Atlassian Document Format, as much as the fake needs: a minimal shape
//! check, plain text to a document, and a document back to plain text.

use serde_json::{Value, json};

/// Jira's answer when a v3 rich-text field gets anything but a document.
pub const NOT_A_DOCUMENT: &str = "Operation value must be an Atlassian Document";

/// Whether `value` is a document: `type` "doc", `version` 1, a `content`
/// array of nodes that each have a `type` (text nodes a `text`).
pub fn validate(value: &Value) -> Result<(), String> {
    if value["type"] != "doc" || value["version"] != 1 || !value["content"].is_array() {
        return Err(NOT_A_DOCUMENT.into());
    }
    check_nodes(&value["content"])
}

fn check_nodes(content: &Value) -> Result<(), String> {
    for node in content.as_array().into_iter().flatten() {
        let Some(kind) = node["type"].as_str() else {
            return Err(format!("{NOT_A_DOCUMENT}: a node has no type"));
        };
        if kind == "text" && !node["text"].is_string() {
            return Err(format!("{NOT_A_DOCUMENT}: a text node has no text"));
        }
        match node.get("content") {
            None => {}
            Some(inner @ Value::Array(_)) => check_nodes(inner)?,
            Some(_) => return Err(format!("{NOT_A_DOCUMENT}: {kind}.content is not an array")),
        }
    }
    Ok(())
}

/// A document of one paragraph per line of `text`.
pub fn from_text(text: &str) -> Value {
    let paragraphs: Vec<Value> = text
        .split('\n')
        .map(|line| {
            if line.is_empty() {
                json!({"type": "paragraph", "content": []})
            } else {
                json!({"type": "paragraph", "content": [{"type": "text", "text": line}]})
            }
        })
        .collect();
    json!({"type": "doc", "version": 1, "content": paragraphs})
}

/// The text of a document: blocks on lines of their own.
pub fn to_text(doc: &Value) -> String {
    let mut lines = Vec::new();
    for block in doc["content"].as_array().into_iter().flatten() {
        let mut line = String::new();
        inline_text(block, &mut line);
        lines.push(line);
    }
    lines.join("\n")
}

fn inline_text(node: &Value, out: &mut String) {
    match node["type"].as_str() {
        Some("text") => out.push_str(node["text"].as_str().unwrap_or("")),
        Some("hardBreak") => out.push('\n'),
        Some("mention") => out.push_str(node["attrs"]["text"].as_str().unwrap_or("")),
        _ => {
            let children = node["content"].as_array().into_iter().flatten();
            for (i, child) in children.enumerate() {
                let block = matches!(
                    child["type"].as_str(),
                    Some("paragraph" | "listItem" | "heading" | "codeBlock")
                );
                if block && i > 0 {
                    out.push('\n');
                }
                inline_text(child, out);
            }
        }
    }
}
