//! Block Kit's basics, which every message is checked against.

use serde_json::Value;

/// Block types Slack documents for messages.
const BLOCK_TYPES: [&str; 11] = [
    "actions",
    "context",
    "divider",
    "file",
    "header",
    "image",
    "input",
    "markdown",
    "rich_text",
    "section",
    "video",
];

/// A message's `text` and `blocks` against Block Kit's basics.
pub fn check_message(message: &Value) -> Result<(), String> {
    let text = message.get("text").and_then(Value::as_str).unwrap_or("");
    let blocks = message.get("blocks");
    if text.trim().is_empty() && blocks.is_none_or(Value::is_null) {
        return Err("no text and no blocks".into());
    }
    if text.trim().is_empty() {
        // Allowed, but Slack warns: notifications need the fallback text.
        return Err(
            "no text: a message with blocks needs text as the notification's fallback".into(),
        );
    }
    let Some(blocks) = blocks.filter(|b| !b.is_null()) else {
        return Ok(());
    };
    let Some(blocks) = blocks.as_array() else {
        return Err("blocks is not an array".into());
    };
    if blocks.len() > 50 {
        return Err(format!("{} blocks; a message has at most 50", blocks.len()));
    }
    for (n, block) in blocks.iter().enumerate() {
        let kind = block.get("type").and_then(Value::as_str).unwrap_or("");
        if !BLOCK_TYPES.contains(&kind) {
            return Err(format!(
                "block {n} has type `{kind}`, not a documented block"
            ));
        }
        if let Some(id) = block.get("block_id")
            && id.as_str().is_none_or(|s| s.chars().count() > 255)
        {
            return Err(format!(
                "block {n}: block_id is not a string of at most 255"
            ));
        }
        let at = |what: &str| format!("block {n} ({kind}) {what}");
        match kind {
            "header" => {
                let t = block.get("text").ok_or_else(|| at("has no text"))?;
                text_object(t, Some("plain_text"), 150).map_err(|e| at(&e))?;
            }
            "section" => {
                let t = block.get("text");
                let fields = block.get("fields");
                if t.is_none() && fields.is_none() {
                    return Err(at("has neither text nor fields"));
                }
                if let Some(t) = t {
                    text_object(t, None, 3000).map_err(|e| at(&e))?;
                }
                if let Some(fields) = fields {
                    let fields = fields
                        .as_array()
                        .ok_or_else(|| at("fields is not an array"))?;
                    if fields.is_empty() || fields.len() > 10 {
                        return Err(at("has more than 10 fields, or none"));
                    }
                    for f in fields {
                        text_object(f, None, 2000).map_err(|e| at(&e))?;
                    }
                }
            }
            "context" => {
                let elements = block
                    .get("elements")
                    .and_then(Value::as_array)
                    .ok_or_else(|| at("has no elements array"))?;
                if elements.is_empty() || elements.len() > 10 {
                    return Err(at("has more than 10 elements, or none"));
                }
                for e in elements {
                    if e.get("type").and_then(Value::as_str) != Some("image") {
                        text_object(e, None, 3000).map_err(|e| at(&e))?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn text_object(value: &Value, only: Option<&str>, max: usize) -> Result<(), String> {
    let kind = value.get("type").and_then(Value::as_str).unwrap_or("");
    if !matches!(kind, "plain_text" | "mrkdwn") {
        return Err(format!("has a text object of type `{kind}`"));
    }
    if let Some(only) = only
        && kind != only
    {
        return Err(format!("needs {only} text, not {kind}"));
    }
    let text = value
        .get("text")
        .and_then(Value::as_str)
        .ok_or("has a text object without text")?;
    if text.is_empty() {
        return Err("has an empty text object".into());
    }
    if text.chars().count() > max {
        return Err(format!(
            "has text of {} characters; at most {max}",
            text.chars().count()
        ));
    }
    Ok(())
}
