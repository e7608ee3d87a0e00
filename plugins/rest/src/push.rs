//! Writing local changes with the admin's templates: the URL and the body
//! are minijinja templates rendered with the change (`fields`,
//! `external_id`, `operation`, `local_id`, `kind`, `changed_fields`); the
//! answer names the remote id at `push_id_pointer`, and the updated field
//! of the record around that id (when configured) becomes the version, so
//! the sync that brings our own write back is recognised.

use cube_connector_sdk::prelude::*;
use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

use crate::client::{self, Client};
use crate::config::{Config, PushMethod};
use crate::sync;

const URL: &str = "push URL template";
const BODY: &str = "push body template";

/// The templates' environment: no autoescaping (values go in with
/// `tojson` or `urlencode` as the admin writes them), and a name that is
/// not defined is an error rather than an empty string, so a misspelt
/// field shows at once; `{% if fields.x is defined %}` still works.
fn environment(config: &Config) -> Result<Environment<'_>> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    for (name, source) in [
        (URL, config.push_url_template.as_str()),
        (BODY, config.push_body_template.as_str()),
    ] {
        env.add_template(name, source)
            .map_err(|e| Error::config(describe(name, &e)))?;
    }
    Ok(env)
}

/// A template error in one line: what, where, why.
fn describe(name: &str, error: &minijinja::Error) -> String {
    let line = error
        .line()
        .map(|l| format!(" (line {l})"))
        .unwrap_or_default();
    let detail = error.detail().map(|d| format!(": {d}")).unwrap_or_default();
    format!("the {name} has an error{line}: {}{detail}", error.kind())
}

/// Checks that the templates compile (the connection test).
pub fn check_templates(config: &Config) -> Result<bool> {
    environment(config)?;
    Ok(!config.push_url_template.trim().is_empty())
}

fn render(env: &Environment, name: &str, context: &Value) -> Result<String> {
    let template = env
        .get_template(name)
        .map_err(|e| Error::config(describe(name, &e)))?;
    template
        .render(context)
        .map_err(|e| Error::config(describe(name, &e)))
}

pub fn push(client: &Client, change: Change) -> Result<PushResult> {
    let config = client.config;
    if config.push_url_template.trim().is_empty() {
        return Err(Error::config(
            "pushing is not configured: set the push URL template (and the body template)",
        ));
    }
    if change.kind != config.kind() {
        return Err(Error::fatal(format!(
            "this integration pushes records of kind `{}`, not `{}`",
            config.kind(),
            change.kind
        )));
    }
    let fields: Value = serde_json::from_str(&change.fields)?;
    let operation = match change.operation {
        ChangeOperation::Create => "create",
        ChangeOperation::Update => "update",
        ChangeOperation::Delete => "delete",
    };
    let context = json!({
        "fields": fields,
        "external_id": change.external_id,
        "operation": operation,
        "local_id": change.local_id,
        "kind": change.kind,
        "changed_fields": change.changed_fields,
    });
    let env = environment(config)?;
    let url = render(&env, URL, &context)?;
    let url = url.trim();
    if url.is_empty() {
        return Err(Error::config(format!(
            "the {URL} rendered to nothing for this {operation}"
        )));
    }

    if change.operation == ChangeOperation::Delete {
        let Some(id) = change.external_id else {
            return Err(Error::fatal(
                "a record deleted before it was ever pushed has nothing to delete",
            ));
        };
        if !config.push_deletes {
            log::info(format!(
                "record {id} was deleted in CUBE; it stays in the remote system (push deletions is off)"
            ));
        } else {
            let response = client.raw(&client.request("DELETE", url)?)?;
            if response.status != 404 && response.status != 410 {
                response.error_for_status()?;
            }
        }
        return Ok(PushResult {
            external_id: id,
            version: None,
        });
    }

    let method = match (config.push_method, &change.external_id) {
        (PushMethod::Auto, None) => "POST",
        (PushMethod::Auto, Some(_)) => "PUT",
        (PushMethod::Post, _) => "POST",
        (PushMethod::Put, _) => "PUT",
        (PushMethod::Patch, _) => "PATCH",
    };
    let mut request = client.request(method, url)?;
    if !config.push_body_template.trim().is_empty() {
        let body = render(&env, BODY, &context)?;
        let content_type = if serde_json::from_str::<Value>(&body).is_ok() {
            "application/json"
        } else {
            "text/plain; charset=utf-8"
        };
        request = request.header("content-type", content_type).body(body);
    }
    let response = client.send(request)?;
    let answer = if response.body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        client::parse_json(&response)?
    };
    let pointer = config.push_id_pointer.trim();
    let id = match answer.pointer(pointer) {
        Some(id @ (Value::String(_) | Value::Number(_))) if !pointer.is_empty() => {
            Some(sync::text(id))
        }
        _ => None,
    };
    let Some(id) = id.filter(|id| !id.is_empty()).or(change.external_id) else {
        return Err(Error::fatal(format!(
            "the answer from {} to the {method} names no id at `{pointer}`; set the pushed id pointer",
            client::without_query(&response.url)
        )));
    };
    // The written record is where the id is: its updated field, read
    // from there, is the version.
    let updated = config.updated_field.trim();
    let record = pointer.rsplit_once('/').map_or("", |(parent, _)| parent);
    let version = match answer.pointer(&format!("{record}{updated}")) {
        Some(v @ (Value::String(_) | Value::Number(_))) if !updated.is_empty() => {
            Some(sync::text(v))
        }
        _ => None,
    };
    Ok(PushResult {
        external_id: id,
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cube_connector_sdk::testing;

    fn config(extra: Value) -> Config {
        let mut base = json!({
            "base_url": "https://api.example.com", "list_path": "/items", "updated_field": "/updated",
            "push_url_template": "/items{% if external_id %}/{{ external_id | urlencode }}{% endif %}",
            "push_body_template": "{\"name\": {{ fields.name | tojson }}, \"op\": \"{{ operation }}\", \"ref\": {{ local_id | tojson }}}",
            "push_id_pointer": "/data/id"
        });
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    fn change(external_id: Option<&str>, fields: Value) -> Change {
        Change {
            kind: "item".into(),
            local_id: "17".into(),
            external_id: external_id.map(str::to_owned),
            operation: if external_id.is_some() {
                ChangeOperation::Update
            } else {
                ChangeOperation::Create
            },
            fields: fields.to_string(),
            changed_fields: vec!["name".into()],
        }
    }

    #[test]
    fn creates_post_and_updates_put_to_the_rendered_url() {
        testing::reset();
        testing::on_http(|req| {
            Ok(if req.method == "POST" {
                testing::response(201, r#"{"data": {"id": 501, "updated": "2024-01-02"}}"#)
            } else {
                testing::response(200, r#"{"data": {"updated": "2024-01-03"}}"#)
            })
        });
        let config = config(json!({}));
        let client = Client::new(&config).unwrap();
        let created = push(&client, change(None, json!({"name": "Pump \"4\""}))).unwrap();
        assert_eq!(created.external_id, "501");
        assert_eq!(created.version.as_deref(), Some("2024-01-02"));
        let updated = push(&client, change(Some("a b"), json!({"name": "x"}))).unwrap();
        assert_eq!(updated.external_id, "a b");
        assert_eq!(updated.version.as_deref(), Some("2024-01-03"));
        let sent = testing::requests();
        assert_eq!(
            (sent[0].method.as_str(), sent[0].url.as_str()),
            ("POST", "https://api.example.com/items")
        );
        let body: Value = serde_json::from_slice(sent[0].body.as_ref().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"name": "Pump \"4\"", "op": "create", "ref": "17"})
        );
        assert!(
            sent[0]
                .headers
                .contains(&("content-type".into(), "application/json".into()))
        );
        assert_eq!(
            (sent[1].method.as_str(), sent[1].url.as_str()),
            ("PUT", "https://api.example.com/items/a%20b")
        );
    }

    #[test]
    fn template_mistakes_are_named() {
        let bad = config(json!({"push_body_template": "{\"name\": {{ fields.name | tojson }"}));
        let err = check_templates(&bad).unwrap_err();
        assert!(
            err.message()
                .starts_with("the push body template has an error (line 1)"),
            "{err:?}"
        );
        testing::reset();
        let typo = self::config(json!({"push_body_template": "{{ field.name | tojson }}"}));
        let client = Client::new(&typo).unwrap();
        let err = push(&client, change(None, json!({"name": "x"}))).unwrap_err();
        assert!(err.message().contains("push body template"), "{err:?}");
        assert!(testing::requests().is_empty());
        let empty = self::config(json!({"push_url_template": ""}));
        assert!(!check_templates(&empty).unwrap());
    }

    #[test]
    fn deletes_are_kept_unless_asked() {
        testing::reset();
        testing::on_http(|_| Ok(testing::response(404, "")));
        let mut gone = change(Some("9"), json!({}));
        gone.operation = ChangeOperation::Delete;
        let config = config(json!({}));
        let client = Client::new(&config).unwrap();
        assert_eq!(push(&client, gone.clone()).unwrap().external_id, "9");
        assert!(testing::requests().is_empty());
        let config = self::config(json!({"push_deletes": true}));
        let client = Client::new(&config).unwrap();
        push(&client, gone).unwrap();
        assert_eq!(testing::requests()[0].method, "DELETE");
    }
}
