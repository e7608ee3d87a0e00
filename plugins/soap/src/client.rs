//! Loading the WSDL, calling an operation, and what sync, the connection
//! test and the wizard's list do with them.

use cube_connector_sdk::prelude::*;
use serde_json::Value;

use crate::config::Config;
use crate::envelope;
use crate::extract;
use crate::fault;
use crate::version::SoapVersion;
use crate::wsdl::{CallPlan, Wsdl};
use crate::wssec::{self, Freshness, Mode};
use crate::xml;

/// The state key of the WS-Security nonce counter and its origin.
const NONCE_COUNTER: &str = "wssec.nonce";

/// What the nonce counter keeps: the `Created` of its first use, and the
/// last number used.
#[derive(serde::Serialize, serde::Deserialize)]
struct NonceCounter {
    origin: String,
    counter: u64,
}

/// A parsed WSDL, and the server's `Date` if it was fetched.
pub struct Loaded {
    pub wsdl: Wsdl,
    pub date: Option<String>,
    pub source: String,
}

fn with_basic(request: http::RequestBuilder, config: &Config) -> http::RequestBuilder {
    match config.basic() {
        Some((user, password)) => request.basic(user, password),
        None => request,
    }
}

pub fn load_wsdl(config: &Config) -> Result<Loaded> {
    if let Some(url) = config.wsdl_url()? {
        let response = with_basic(http::get(&url), config)
            .header("accept", "text/xml, application/xml, application/wsdl+xml")
            .send()?
            .error_for_status()?;
        let wsdl = Wsdl::parse(&response.text())
            .map_err(|e| Error::config(format!("cannot read the WSDL at {url}: {e}")))?;
        return Ok(Loaded {
            wsdl,
            date: response.header("date").map(str::to_owned),
            source: url,
        });
    }
    if config.wsdl.trim().is_empty() {
        return Err(Error::config(
            "neither a WSDL URL nor a WSDL is configured; give the one or paste the other",
        ));
    }
    let wsdl = Wsdl::parse(&config.wsdl)
        .map_err(|e| Error::config(format!("cannot read the pasted WSDL: {e}")))?;
    Ok(Loaded {
        wsdl,
        date: None,
        source: "the pasted WSDL".into(),
    })
}

/// The operation's plan and the address to call.
pub fn plan(config: &Config, loaded: &Loaded) -> Result<(CallPlan, String)> {
    let operation = config.operation()?;
    let plan = loaded
        .wsdl
        .plan(operation, config.soap_version)
        .map_err(|e| Error::config(format!("{e} ({})", loaded.source)))?;
    let endpoint = match config.endpoint()? {
        Some(url) => url,
        None => plan.address.clone().ok_or_else(|| {
            Error::config(format!(
                "{} names no address for {operation} in {}; configure the endpoint",
                loaded.source,
                config.soap_version.name()
            ))
        })?,
    };
    Ok((plan, endpoint))
}

/// The `Created` of a digest token: the server's `Date`, from the WSDL's
/// response if it came in this call, else from a GET of the endpoint
/// (whatever its status: only the header is read).
fn server_time(config: &Config, loaded: &Loaded, endpoint: &str) -> Result<String> {
    let date = match &loaded.date {
        Some(date) => Some(date.clone()),
        None => with_basic(http::get(endpoint), config)
            .send()?
            .header("date")
            .map(str::to_owned),
    };
    let date = date.ok_or_else(|| {
        Error::config(format!(
            "{endpoint} sends no Date header; a PasswordDigest needs the server's time (use text mode over https instead)"
        ))
    })?;
    wssec::created_from_http_date(&date).ok_or_else(|| {
        Error::fatal(format!(
            "the server's Date header `{date}` is not an HTTP date"
        ))
    })
}

fn security_header(
    config: &Config,
    loaded: &Loaded,
    endpoint: &str,
    version: SoapVersion,
) -> Result<Option<String>> {
    let soap12 = version == SoapVersion::V12;
    match config.ws_security {
        Mode::None => Ok(None),
        mode => {
            if config.username.trim().is_empty() {
                return Err(Error::config(
                    "WS-Security is on but no WS-Security user is configured",
                ));
            }
            let (user, password) = (config.username.trim(), config.password.as_str());
            if mode == Mode::Text {
                return Ok(wssec::security_header(mode, soap12, user, password, None));
            }
            let created = server_time(config, loaded, endpoint)?;
            let mut kept = state::get_json::<NonceCounter>(NONCE_COUNTER).unwrap_or(NonceCounter {
                origin: created.clone(),
                counter: 0,
            });
            kept.counter += 1;
            // Saved before use: a nonce is never sent twice, even when the
            // call fails.
            state::set_json(NONCE_COUNTER, &kept)?;
            let nonce = wssec::nonce(
                kept.counter,
                &created,
                &[
                    &kept.origin,
                    config.wsdl_url.trim(),
                    &config.wsdl,
                    config.endpoint.trim(),
                    config.operation.trim(),
                    config.soap_version.name(),
                ],
                user,
                password,
            );
            Ok(wssec::security_header(
                mode,
                soap12,
                user,
                password,
                Some(Freshness {
                    nonce: &nonce,
                    created: &created,
                }),
            ))
        }
    }
}

/// Calls the configured operation with `since`; the response's envelope.
pub fn call(config: &Config, loaded: &Loaded, since: &str) -> Result<(xml::Element, String)> {
    let (plan, endpoint) = plan(config, loaded)?;
    let filled = envelope::render_template(&config.body_template, &config.placeholders(since))
        .map_err(Error::config)?;
    let body = envelope::body(&plan, &filled).map_err(Error::config)?;
    let header = security_header(config, loaded, &endpoint, plan.version)?;
    let text = envelope::envelope(plan.version, header.as_deref(), &body);
    let mut request = with_basic(http::post(&endpoint), config);
    for (name, value) in plan.version.http_headers(&plan.soap_action) {
        request = request.header(name, value);
    }
    let response = request.body(text).send()?;
    let answer = response.text();
    let parsed = xml::parse(&answer);
    if let Ok(doc) = &parsed
        && let Some(fault) = fault::find(doc)
    {
        return Err(fault.into_error(&plan.operation));
    }
    let response = response.error_for_status()?;
    let doc = parsed.map_err(|e| {
        Error::fatal(format!(
            "{} at {endpoint} answered with something that is not XML: {e}",
            plan.operation
        ))
    })?;
    if !(doc.local == "Envelope" && doc.ns.as_deref() == Some(plan.version.envelope_ns())) {
        return Err(Error::fatal(format!(
            "{} at {endpoint} answered with <{}>, not a {} envelope (status {})",
            plan.operation,
            doc.name,
            plan.version.name(),
            response.status
        )));
    }
    Ok((doc, endpoint))
}

fn record_path(config: &Config) -> Result<&str> {
    match config.record_path.trim() {
        "" => Err(Error::config("no record path is configured")),
        path => Ok(path),
    }
}

pub fn sync(config: &Config, input: SyncInput) -> Result<SyncPage> {
    let path = record_path(config)?;
    let since = match input.mode {
        SyncMode::Incremental => input.cursor.clone().unwrap_or_default(),
        SyncMode::Full => String::new(),
    };
    let loaded = load_wsdl(config)?;
    let (doc, _) = call(config, &loaded, &since)?;
    let found = extract::records(&doc, path);
    if let Some(stopped) = &found.stopped {
        log::warn(format!("the record path {path} matched nothing: {stopped}"));
    }
    let id_field = config.id_field.trim();
    let updated_field = config.updated_field.trim();
    let mut cursor = (!since.is_empty()).then(|| since.clone());
    let mut records = Vec::new();
    let mut skipped = 0;
    for fields in found.records {
        let Some(id) = fields.get(id_field).and_then(extract::text) else {
            skipped += 1;
            continue;
        };
        let mut record = Record::builder(config.record_kind.trim(), id);
        if !updated_field.is_empty()
            && let Some(stamp) = fields.get(updated_field).and_then(extract::text)
        {
            if cursor.as_deref().is_none_or(|c| extract::later(&stamp, c)) {
                cursor = Some(stamp.clone());
            }
            record = record.version(stamp);
        }
        records.push(record.fields(Value::Object(fields)).build());
    }
    if skipped > 0 {
        log::warn(format!(
            "{skipped} records at {path} had no `{id_field}` and were skipped"
        ));
    }
    log::info(format!(
        "{} returned {} records{}",
        config.operation.trim(),
        records.len(),
        if since.is_empty() {
            String::new()
        } else {
            format!(" changed after {since}")
        }
    ));
    Ok(SyncPage::done(records, cursor))
}

pub fn test_connection(config: &Config) -> Result<String> {
    let loaded = load_wsdl(config)?;
    let names = loaded.wsdl.operation_names();
    let service = loaded
        .wsdl
        .name
        .clone()
        .unwrap_or_else(|| "the service".into());
    if config.operation.trim().is_empty() {
        if names.is_empty() {
            return Err(Error::config(format!(
                "{} describes no operations",
                loaded.source
            )));
        }
        return Ok(format!(
            "Read the WSDL of {service} (namespace {}): {} operations, {}.",
            loaded.wsdl.target_namespace,
            names.len(),
            names.join(", ")
        ));
    }
    let (doc, endpoint) = call(config, &loaded, "")?;
    let mut said = format!(
        "Called {} ({}) at {endpoint}",
        config.operation.trim(),
        config.soap_version.name()
    );
    if let Ok(path) = record_path(config) {
        let found = extract::records(&doc, path);
        said.push_str(&format!(": {} records at {path}", found.records.len()));
        if let Some(stopped) = found.stopped {
            said.push_str(&format!(" ({stopped})"));
        }
    }
    Ok(said + ".")
}

pub fn choices(config: Value, field: &str) -> Result<Vec<Choice>> {
    if field != "operation" {
        return Ok(Vec::new());
    }
    let config: Config = cube_connector_sdk::connector::parse_config(&config.to_string())?;
    let loaded = load_wsdl(&config)?;
    Ok(loaded
        .wsdl
        .operation_names()
        .into_iter()
        .map(|name| {
            let versions: Vec<&str> = loaded
                .wsdl
                .versions_of(name)
                .iter()
                .map(|v| v.name())
                .collect();
            let doc = loaded
                .wsdl
                .operations
                .iter()
                .find(|o| o.name == name)
                .map(|o| o.documentation.as_str())
                .unwrap_or_default();
            let mut label = format!("{name} ({})", versions.join(", "));
            if !doc.is_empty() {
                label.push_str(&format!(": {doc}"));
            }
            Choice {
                value: name.to_owned(),
                label,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cube_connector_sdk::testing;

    const WSDL: &str = include_str!("../tests/seeds/wsdl-spyne-11.xml");
    const ITEMS: &str = include_str!("../tests/seeds/response-11.xml");

    fn config(extra: Value) -> Config {
        let mut base = json!({
            "wsdl_url": "http://127.0.0.1:18765/soap11?wsdl",
            "operation": "GetItems",
            "body_template": "<since>{{since}}</since>",
            "record_path": "GetItemsResponse/GetItemsResult/Item",
            "updated_field": "updated",
        });
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    fn serve(answer: &'static str, status: u16) {
        testing::reset();
        testing::on_http(move |req| {
            let mut response = if req.method == "GET" {
                testing::response(200, WSDL)
            } else {
                testing::response(status, answer)
            };
            response
                .headers
                .push(("date".into(), "Fri, 27 Nov 2026 08:16:14 GMT".into()));
            Ok(response)
        });
    }

    fn header<'a>(req: &'a testing::Request, name: &str) -> Option<&'a str> {
        req.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn sync_posts_the_envelope_and_keeps_the_highest_stamp() {
        serve(ITEMS, 200);
        let page = sync(
            &config(json!({})),
            SyncInput {
                mode: SyncMode::Incremental,
                cursor: Some("2025-12-31T00:00:00Z".into()),
                dry_run: false,
                page_size: 100,
            },
        )
        .unwrap();
        assert_eq!(page.records.len(), 3);
        assert_eq!(page.records[0].external_id, "1");
        assert_eq!(page.records[0].kind, "item");
        assert_eq!(page.cursor.as_deref(), Some("2026-01-03T10:00:00Z"));
        assert!(!page.has_more);
        let post = &testing::requests()[1];
        assert_eq!(post.url, "http://127.0.0.1:18765/soap11");
        assert_eq!(header(post, "soapaction"), Some("\"GetItems\""));
        let body = String::from_utf8(post.body.clone().unwrap()).unwrap();
        assert!(
            body.contains("<soap:Body><tns:GetItems xmlns:tns=\"urn:cube:test:items\" xmlns=\"urn:cube:test:items\"><since>2025-12-31T00:00:00Z</since></tns:GetItems></soap:Body>"),
            "{body}"
        );
    }

    #[test]
    fn digest_tokens_take_the_server_time_and_a_fresh_nonce_each_call() {
        serve(ITEMS, 200);
        let config = config(json!({"ws_security": "digest", "username": "u", "password": "pw"}));
        let mut nonces = Vec::new();
        for _ in 0..2 {
            test_connection(&config).unwrap();
            let post = testing::requests().pop().unwrap();
            let body = String::from_utf8(post.body.unwrap()).unwrap();
            assert!(body.contains("<wsu:Created>2026-11-27T08:16:14Z</wsu:Created>"));
            assert!(!body.contains(">pw<"));
            let nonce = body.split("<wsse:Nonce").nth(1).unwrap().to_owned();
            nonces.push(nonce);
        }
        assert_ne!(nonces[0], nonces[1]);
    }

    #[test]
    fn faults_and_bad_answers_become_errors() {
        serve(include_str!("../tests/seeds/fault-11.xml"), 500);
        let err = test_connection(&config(json!({}))).unwrap_err();
        assert!(matches!(&err, Error::Fatal(m) if m.contains("SOAP Fault Client.NotFound")));
        serve("<html>oops</html>", 502);
        assert!(matches!(
            test_connection(&config(json!({}))),
            Err(Error::Transient(_))
        ));
        serve("not xml", 200);
        let err = test_connection(&config(json!({}))).unwrap_err();
        assert!(err.message().contains("not XML"), "{err:?}");
        let err = test_connection(&config(json!({"operation": "Nope"}))).unwrap_err();
        assert!(matches!(&err, Error::Config(m) if m.contains("offers GetItems")));
        let err = test_connection(&config(json!({"body_template": "{{nope}}"}))).unwrap_err();
        assert!(matches!(&err, Error::Config(m) if m.contains("{{nope}}")));
    }
}
