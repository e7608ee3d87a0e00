//! The `/workorder` slash command, through the host's webhook router.
//!
//! The router has verified Slack's signature (`slack-v0`, the app's
//! signing secret) and, for an endpoint that answers with the connector's
//! reply, hands the caller what this returns, within Slack's 3 seconds.
//! So the answer is built from what is at hand: no request to Slack.
//!
//! - `/workorder new <title>`: a `work-order` record (the host creates
//!   the work order, linked to this integration), requester the caller.
//! - `/workorder <id>` or `/workorder <words>`: looks the work order up in
//!   the entries pushes keep in `state` (see `push`).
//! - `/workorder` or `/workorder help`: what it can do.

use cube_connector_sdk::prelude::*;
use cube_connector_sdk::types::WebhookResponse;
use serde_json::Value;

use crate::blocks::{self, Entry};
use crate::push::{self, entry_key, new_key};

/// Most matches a lookup lists.
const MAX_MATCHES: usize = 10;

/// Words that look like commands this connector does not have.
const NOT_COMMANDS: [&str; 9] = [
    "close", "update", "edit", "assign", "delete", "done", "status", "comment", "reopen",
];

pub fn handle(request: WebhookRequest) -> Result<WebhookOutcome> {
    let body = String::from_utf8_lossy(&request.body).into_owned();
    // The Events API checks a Request URL with a challenge (JSON).
    if let Ok(event) = serde_json::from_str::<Value>(&body) {
        if event.get("type").and_then(Value::as_str) == Some("url_verification") {
            let challenge = event.get("challenge").cloned().unwrap_or(Value::Null);
            return Ok(answer(json!({ "challenge": challenge }), Vec::new()));
        }
        return Ok(answer(
            blocks::ephemeral(
                "This address takes the /workorder slash command only.",
                Vec::new(),
            ),
            Vec::new(),
        ));
    }
    let form = parse_form(&body);
    let field = |name: &str| {
        form.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    if field("ssl_check") == "1" {
        // Slack checking the certificate: it wants a 200, nothing else.
        return Ok(WebhookOutcome {
            records: Vec::new(),
            response: Some(WebhookResponse {
                status: 200,
                headers: Vec::new(),
                body: Vec::new(),
            }),
        });
    }
    let command = field("command");
    if command.is_empty() {
        return Ok(answer(
            blocks::ephemeral(
                "This address takes the /workorder slash command only.",
                Vec::new(),
            ),
            Vec::new(),
        ));
    }
    let text = field("text").trim();
    let (verb, rest) = match text.split_once(char::is_whitespace) {
        Some((verb, rest)) => (verb, rest.trim()),
        None => (text, ""),
    };
    let verb = verb.to_lowercase();
    Ok(match verb.as_str() {
        "" | "help" | "?" => answer(help(command), Vec::new()),
        "new" | "create" | "add" => create(command, rest, &form, &request),
        v if NOT_COMMANDS.contains(&v) => answer(
            blocks::ephemeral(
                &format!("`{command} {v}` is not something this command does."),
                vec![
                    blocks::section(&format!(
                        "`{command} {v}` is not something this command does: it creates work orders (`{command} new <title>`) and looks them up (`{command} <id or words>`). Change work orders in CUBE."
                    )),
                    usage(command),
                ],
            ),
            Vec::new(),
        ),
        _ => answer(lookup(command, text), Vec::new()),
    })
}

/// A JSON answer for Slack, with the records to apply.
fn answer(body: Value, records: Vec<Record>) -> WebhookOutcome {
    WebhookOutcome {
        records,
        response: Some(WebhookResponse {
            status: 200,
            headers: vec![(
                "content-type".to_owned(),
                "application/json; charset=utf-8".to_owned(),
            )],
            body: body.to_string().into_bytes(),
        }),
    }
}

fn usage(command: &str) -> Value {
    blocks::context(&format!(
        "`{command} new <title>` creates a work order · `{command} <id>` or `{command} <words of the title>` looks one up · `{command} help`"
    ))
}

fn help(command: &str) -> Value {
    blocks::ephemeral(
        &format!("{command}: create and look up CUBE work orders"),
        vec![
            blocks::section(&format!(
                "*{command}* creates and looks up CUBE work orders.\n• `{command} new Pump 4 leaks`: creates a work order with that title; you are its requester.\n• `{command} 42`: work order #42.\n• `{command} pump`: the work orders whose title has these words."
            )),
            blocks::context("Only you see these answers."),
        ],
    )
}

fn create(
    command: &str,
    title: &str,
    form: &[(String, String)],
    request: &WebhookRequest,
) -> WebhookOutcome {
    let field = |name: &str| {
        form.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    if title.is_empty() {
        return answer(
            blocks::ephemeral(
                &format!("Give the new work order a title: `{command} new Pump 4 leaks`."),
                vec![
                    blocks::section(&format!(
                        "Give the new work order a title: `{command} new Pump 4 leaks`."
                    )),
                    usage(command),
                ],
            ),
            Vec::new(),
        );
    }
    let title = blocks::truncate(title, 500);
    let user = match (field("user_name"), field("user_id")) {
        ("", "") => "Slack user".to_owned(),
        ("", id) => id.to_owned(),
        (name, _) => name.to_owned(),
    };
    let timestamp = request
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-slack-request-timestamp"))
        .and_then(|(_, v)| v.trim().parse::<i64>().ok());
    // Slack's trigger_id is unique per invocation; without one, the
    // channel, user and time of the request are.
    let external_id = match field("trigger_id") {
        "" => format!(
            "slack-{}-{}-{}",
            field("channel_id"),
            field("user_id"),
            timestamp.unwrap_or_default()
        ),
        trigger => format!("slack-{trigger}"),
    };
    let mut record = Record::builder(push::WORK_ORDER, &external_id)
        .field("title", &title)
        .field("requester", &user)
        .field("status", "open")
        .field(
            "description",
            format!(
                "Created in Slack by {user} with {command}{}.",
                match field("channel_name") {
                    "" => String::new(),
                    name => format!(" in #{name}"),
                }
            ),
        )
        .version("1");
    if let Some(seconds) = timestamp {
        record = record.field("updated_at", seconds * 1000);
    }
    let entry = Entry {
        title: title.clone(),
        status: "open".into(),
        requester: user.clone(),
        ..Entry::default()
    };
    if let Err(error) = state::set_json(&new_key(&external_id), &entry) {
        log::warn(format!(
            "cannot remember the new work order for lookups: {error}"
        ));
    }
    let said = format!("Created work order “{title}”; you are its requester.");
    answer(
        blocks::ephemeral(
            &said,
            vec![
                blocks::section(&format!(
                    ":white_check_mark: Created work order *{}*",
                    blocks::escape(&title)
                )),
                blocks::context(&format!(
                    "Status open · requester {} · it is in CUBE now",
                    blocks::escape(&user)
                )),
            ],
        ),
        vec![record.build()],
    )
}

/// Every entry pushes and slash commands left, newest id first.
fn entries() -> Vec<Entry> {
    let mut found: Vec<Entry> = state::keys("wo:")
        .iter()
        .chain(state::keys("new:").iter())
        .filter_map(|k| state::get_json::<Entry>(k))
        .collect();
    found.sort_by_key(|e| std::cmp::Reverse(e.id.parse::<u64>().unwrap_or(u64::MAX)));
    found
}

fn lookup(command: &str, text: &str) -> Value {
    let id = text.trim_start_matches('#');
    if !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) {
        return match state::get_json::<Entry>(&entry_key(id)) {
            Some(entry) => one(&entry),
            None => blocks::ephemeral(
                &format!("No work order #{id} is known here."),
                vec![
                    blocks::section(&format!(
                        "No work order #{id} is known here: this integration knows the work orders it was sent."
                    )),
                    usage(command),
                ],
            ),
        };
    }
    let words: Vec<String> = text.split_whitespace().map(str::to_lowercase).collect();
    let matches: Vec<Entry> = entries()
        .into_iter()
        .filter(|e| {
            let title = e.title.to_lowercase();
            words.iter().all(|w| title.contains(w.as_str()))
        })
        .collect();
    match matches.len() {
        0 => blocks::ephemeral(
            &format!("No work order matches “{text}”."),
            vec![
                blocks::section(&format!(
                    "No work order matches “{}”.",
                    blocks::escape(text)
                )),
                usage(command),
            ],
        ),
        1 => one(&matches[0]),
        n => {
            let lines: Vec<String> = matches
                .iter()
                .take(MAX_MATCHES)
                .map(|e| {
                    format!(
                        "• *{}* · {} · {}{}",
                        blocks::escape(&e.label()),
                        if e.deleted {
                            "deleted"
                        } else {
                            e.status.as_str()
                        },
                        e.priority,
                        e.assignee
                            .is_empty()
                            .then(String::new)
                            .unwrap_or_else(|| format!(" · {}", blocks::escape(&e.assignee)))
                    )
                })
                .collect();
            let more = if n > MAX_MATCHES {
                format!(" (the first {MAX_MATCHES} shown)")
            } else {
                String::new()
            };
            blocks::ephemeral(
                &format!("{n} work orders match “{text}”{more}."),
                vec![
                    blocks::section(&format!(
                        "{n} work orders match “{}”{more}:",
                        blocks::escape(text)
                    )),
                    blocks::section(&lines.join("\n")),
                ],
            )
        }
    }
}

fn one(entry: &Entry) -> Value {
    let note = if entry.deleted {
        "Deleted in CUBE".to_owned()
    } else if entry.id.is_empty() {
        "Just created from Slack".to_owned()
    } else {
        "As last sent to Slack".to_owned()
    };
    let card = blocks::work_order(entry, &note);
    let text = card["text"].as_str().unwrap_or_default().to_owned();
    let blocks = card["blocks"].as_array().cloned().unwrap_or_default();
    blocks::ephemeral(&text, blocks)
}

/// `application/x-www-form-urlencoded` pairs, decoded.
pub fn parse_form(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cube_connector_sdk::testing;

    fn slash(text: &str) -> WebhookRequest {
        let body = format!(
            "token=x&team_id=T1&channel_id=C1&channel_name=ops&user_id=U1&user_name=jo&command=%2Fworkorder&text={}&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1%2F1%2Fx&trigger_id=123.456.abc",
            text.replace(' ', "+")
        );
        WebhookRequest {
            method: "POST".into(),
            path: String::new(),
            query: String::new(),
            headers: vec![("X-Slack-Request-Timestamp".into(), "1531420618".into())],
            body: body.into_bytes(),
        }
    }

    fn said(outcome: &WebhookOutcome) -> Value {
        serde_json::from_slice(&outcome.response.as_ref().unwrap().body).unwrap()
    }

    #[test]
    fn new_creates_a_record_and_answers_privately() {
        testing::reset();
        let outcome = handle(slash("new Pump 4 leaks")).unwrap();
        assert_eq!(outcome.records.len(), 1);
        let record = &outcome.records[0];
        assert_eq!(record.external_id, "slack-123.456.abc");
        let fields = record.fields_json().unwrap();
        assert_eq!(fields["title"], "Pump 4 leaks");
        assert_eq!(fields["requester"], "jo");
        assert_eq!(fields["updated_at"], 1_531_420_618_000i64);
        let answer = said(&outcome);
        assert_eq!(answer["response_type"], "ephemeral");
        assert!(answer["text"].as_str().unwrap().contains("Pump 4 leaks"));
        // Looked up right away, by words.
        let found = said(&handle(slash("pump leaks")).unwrap());
        assert_eq!(found["blocks"][0]["text"]["text"], "Pump 4 leaks");
    }

    #[test]
    fn lookups_help_and_mistakes() {
        testing::reset();
        let entry = Entry {
            id: "42".into(),
            title: "Door sensor".into(),
            status: "in_progress".into(),
            ..Entry::default()
        };
        state::set_json("wo:42", &entry).unwrap();
        let by_id = said(&handle(slash("#42")).unwrap());
        assert!(
            by_id["text"].as_str().unwrap().contains("in_progress"),
            "{by_id}"
        );
        let missing = said(&handle(slash("43")).unwrap());
        assert!(
            missing["text"]
                .as_str()
                .unwrap()
                .contains("No work order #43")
        );
        let help = said(&handle(slash("")).unwrap());
        assert!(
            help["blocks"][0]["text"]["text"]
                .as_str()
                .unwrap()
                .contains("new Pump 4 leaks")
        );
        let nothing = said(&handle(slash("new")).unwrap());
        assert!(nothing["text"].as_str().unwrap().contains("title"));
        let close = said(&handle(slash("close 42")).unwrap());
        assert!(close["text"].as_str().unwrap().contains("is not something"));
        assert!(handle(slash("new")).unwrap().records.is_empty());
    }

    #[test]
    fn forms_decode() {
        assert_eq!(
            parse_form("a=%2Fwork+order&b=%E2%9C%93&c=100%"),
            vec![
                ("a".into(), "/work order".into()),
                ("b".into(), "✓".into()),
                ("c".into(), "100%".into())
            ]
        );
    }
}
