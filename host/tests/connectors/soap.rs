//! The SOAP connector in the real host against a real SOAP stack we did not
//! write: a spyne service (tests/soap/service.py, run with the tools venv's
//! python from scripts/setup-python-tools.sh) on 127.0.0.1. Its WSDL's
//! operations offered to the wizard, items synced over SOAP 1.1 and 1.2,
//! incrementally with `since`, a Fault named in the sync log, and a
//! WS-Security UsernameToken (text and digest) accepted or refused.

use cube_test_support as common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use cube_host::runtime::{Connector, HttpGrant, Runtime, Secrets};
use cube_host::store::Store;
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::connector_setup::ConnectorApp;

const USER: &str = "soapuser";
const PASSWORD: &str = "s3cret-Pa55";
const ITEMS_PATH: &str = "GetItemsResponse/GetItemsResult/Item";

/// The spyne service, stopped when dropped.
struct Service {
    child: Child,
    base: String,
}

impl Service {
    fn start() -> Service {
        let root = common::repo_root();
        let python = root.join(".tools/venv/bin/python");
        assert!(
            python.is_file(),
            "the tools venv is missing at {}; run scripts/setup-python-tools.sh",
            python.display()
        );
        let mut child = Command::new(&python)
            .arg(root.join("tests/soap/service.py"))
            .arg("0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting the spyne service");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                panic!("the spyne service did not start (is spyne installed? run scripts/setup-python-tools.sh): {line:?}")
            })
            .to_owned();
        Service {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    fn wsdl(&self, version: &str) -> String {
        format!("{}/soap{}?wsdl", self.base, version.replace('.', ""))
    }

    /// What each SOAP call received, oldest first.
    async fn calls(&self) -> Vec<Value> {
        let text = reqwest::get(format!("{}/_calls", self.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    async fn add(&self, id: &str, name: &str, updated: &str) {
        let status = reqwest::Client::new()
            .post(format!("{}/_add", self.base))
            .query(&[("id", id), ("name", name), ("updated", updated)])
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::OK);
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn items_config(service: &Service, version: &str) -> Value {
    json!({
        "wsdl_url": service.wsdl(version),
        "operation": "GetItems",
        "soap_version": version,
        "body_template": "<since>{{since}}</since>",
        "record_path": ITEMS_PATH,
        "record_kind": "item",
        "id_field": "id",
        "updated_field": "updated",
    })
}

/// The SOAP connector loaded in a runtime of the test's own (as the
/// wizard runs it), and its config schema.
async fn soap_connector() -> (Runtime, Connector, Value) {
    let runtime = common::runtime();
    let connector = runtime.load(&common::plugin_wasm("soap")).unwrap();
    let info = connector
        .info(&runtime.context("soap"))
        .await
        .result
        .unwrap();
    let schema = serde_json::from_str(&info.config_schema).unwrap();
    (runtime, connector, schema)
}

/// The synced records of an integration: external id to (fields, version).
async fn records(store: &Store, integration: i64) -> Vec<(String, Value, Option<String>)> {
    use sqlx::Row;
    let rows = sqlx::query(
        "SELECT external_id, fields_json, version FROM synced_records WHERE integration_id = $1 ORDER BY external_id",
    )
    .bind(integration)
    .fetch_all(store.pool())
    .await
    .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.get::<String, _>("external_id"),
                serde_json::from_str(&r.get::<String, _>("fields_json")).unwrap(),
                r.get::<Option<String>, _>("version"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wizard_is_offered_the_wsdl_operations() {
    let service = Service::start();
    let (runtime, connector, schema) = soap_connector().await;
    assert_eq!(schema["properties"]["operation"]["x-cube-choices"], true);
    let ctx = runtime
        .context("soap-wizard")
        .with_http_grants([HttpGrant::parse(&service.base).unwrap().allow_private(true)]);
    for version in ["1.1", "1.2"] {
        // The wizard asks with the earlier steps' settings only.
        let config = json!({"wsdl_url": service.wsdl(version)}).to_string();
        let choices = connector
            .choices(&ctx, &config, "operation")
            .await
            .result
            .unwrap();
        let values: Vec<&str> = choices.iter().map(|c| c.value.as_str()).collect();
        assert_eq!(values, ["GetItems", "GetItem", "GetSecretItems"]);
        assert_eq!(choices[0].label, format!("GetItems (SOAP {version})"));
        // The connection test after the Service step reads the WSDL.
        let said = connector
            .test_connection(&ctx, &config)
            .await
            .result
            .unwrap();
        assert!(
            said.contains("urn:cube:test:items") && said.contains("GetSecretItems"),
            "{said}"
        );
    }
    // A WSDL that is not one is named as such.
    let config = json!({"wsdl_url": format!("{}/_calls", service.base)}).to_string();
    let error = connector
        .choices(&ctx, &config, "operation")
        .await
        .result
        .unwrap_err()
        .to_string();
    assert!(error.contains("cannot read the WSDL"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_sync_over_soap_11_and_12_and_incrementally() {
    let service = Service::start();
    let app = ConnectorApp::start("soap").await;

    let v11 = app
        .create_integration("Items 1.1", items_config(&service, "1.1"), &service.base)
        .await;
    let verdict = app.assert_connection_test(v11, true).await;
    assert!(verdict.to_string().contains("3 records"), "{verdict}");

    let log = app.sync(v11, true).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(log["counts"]["created"], 3, "{log}");
    let synced = records(&app.store, v11).await;
    assert_eq!(synced.len(), 3);
    assert_eq!(
        synced[0],
        (
            "1".to_owned(),
            json!({"id": "1", "name": "Pump <4> & valve", "updated": "2026-01-01T10:00:00Z"}),
            Some("2026-01-01T10:00:00Z".to_owned())
        )
    );
    let calls = service.calls().await;
    let last = calls.last().unwrap();
    assert_eq!(last["operation"], "GetItems");
    assert_eq!(last["soap_action"], "\"GetItems\"");
    assert_eq!(last["content_type"], "text/xml; charset=utf-8");

    // Incremental: `since` is the highest `updated` seen, and only the
    // newer item comes back.
    service
        .add("4", "Cooling tower", "2026-01-04T10:00:00Z")
        .await;
    let log = app.sync(v11, false).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(log["counts"]["read"], 1, "{log}");
    assert_eq!(log["counts"]["created"], 1, "{log}");
    let last = service.calls().await.pop().unwrap();
    assert_eq!(last["params"]["since"], "2026-01-03T10:00:00Z", "{last}");
    assert_eq!(records(&app.store, v11).await.len(), 4);
    // Nothing newer: nothing read, and the cursor holds.
    let log = app.sync(v11, false).await;
    assert_eq!(log["counts"]["read"], 0, "{log}");
    let last = service.calls().await.pop().unwrap();
    assert_eq!(last["params"]["since"], "2026-01-04T10:00:00Z", "{last}");

    // SOAP 1.2: the action goes in the content type.
    let v12 = app
        .create_integration("Items 1.2", items_config(&service, "1.2"), &service.base)
        .await;
    let log = app.sync(v12, true).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(log["counts"]["created"], 4, "{log}");
    let last = service.calls().await.pop().unwrap();
    assert_eq!(
        last["content_type"],
        "application/soap+xml; charset=utf-8; action=\"GetItems\""
    );
    assert_eq!(last["soap_action"], Value::Null);

    // A version the WSDL does not bind is refused with what it offers.
    let mut wrong = items_config(&service, "1.2");
    wrong["wsdl_url"] = json!(service.wsdl("1.1"));
    let bad = app
        .create_integration("Items wrong", wrong, &service.base)
        .await;
    let verdict = app.assert_connection_test(bad, false).await;
    assert!(verdict.to_string().contains("SOAP 1.1 only"), "{verdict}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_is_named_with_its_code_and_string() {
    let service = Service::start();
    let app = ConnectorApp::start("soap").await;
    for version in ["1.1", "1.2"] {
        let config = json!({
            "wsdl_url": service.wsdl(version),
            "operation": "GetItem",
            "soap_version": version,
            "body_template": "<id>nope-{{record_kind}}</id>",
            "record_path": "GetItemResponse/GetItemResult",
        });
        let id = app
            .create_integration(&format!("Fault {version}"), config, &service.base)
            .await;
        let log = app.sync(id, true).await;
        assert_eq!(log["status"], "failed", "{log}");
        let text = log["message"].as_str().unwrap_or_default().to_owned() + &log.to_string();
        let code = if version == "1.1" {
            "Client.NotFound"
        } else {
            "Sender/NotFound"
        };
        assert!(
            text.contains(&format!(
                "GetItem answered with SOAP Fault {code}: There is no item nope-item."
            )),
            "{log}"
        );
    }
    // The same operation with an id that exists works, as one record.
    let config = json!({
        "wsdl_url": service.wsdl("1.1"),
        "operation": "GetItem",
        "body_template": "<id>2</id>",
        "record_path": "GetItemResponse/GetItemResult",
    });
    let id = app
        .create_integration("One item", config, &service.base)
        .await;
    let log = app.sync(id, true).await;
    assert_eq!(log["counts"]["created"], 1, "{log}");
}

fn secret_config(service: &Service, version: &str, mode: &str, password: &str) -> Value {
    json!({
        "wsdl_url": service.wsdl(version),
        "operation": "GetSecretItems",
        "soap_version": version,
        "record_path": "GetSecretItemsResponse/GetSecretItemsResult/Item",
        "ws_security": mode,
        "username": USER,
        "password": password,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_username_token_is_accepted_as_text_and_digest_and_a_wrong_password_refused() {
    let service = Service::start();
    let app = ConnectorApp::start("soap").await;

    for (version, mode) in [("1.1", "text"), ("1.1", "digest"), ("1.2", "digest")] {
        let id = app
            .create_integration(
                &format!("Secret {version} {mode}"),
                secret_config(&service, version, mode, PASSWORD),
                &service.base,
            )
            .await;
        let verdict = app.test_connection(id).await;
        assert_eq!(verdict["ok"], true, "{mode}: {verdict}");
        // Twice more: every digest has a nonce of its own (the service
        // refuses a replayed one).
        for _ in 0..2 {
            let log = app.sync(id, true).await;
            assert_eq!(log["status"], "succeeded", "{mode}: {log}");
            assert_eq!(log["counts"]["read"], 3, "{log}");
        }
        let last = service.calls().await.pop().unwrap();
        assert_eq!(last["operation"], "GetSecretItems");
        assert_eq!(last["username"], USER);
        let expected = if mode == "text" {
            "PasswordText"
        } else {
            "PasswordDigest"
        };
        assert_eq!(last["password_type"], expected, "{last}");
    }

    // Without a token, and with a wrong password: refused, clearly, as an
    // authentication failure, and the password never shows.
    let none = app
        .create_integration(
            "Secret none",
            secret_config(&service, "1.1", "none", ""),
            &service.base,
        )
        .await;
    let log = app.sync(none, true).await;
    assert_eq!(log["status"], "failed", "{log}");
    assert!(
        log.to_string()
            .contains("needs a WS-Security UsernameToken"),
        "{log}"
    );
    for mode in ["text", "digest"] {
        let wrong = app
            .create_integration(
                &format!("Secret wrong {mode}"),
                secret_config(&service, "1.1", mode, "wrong-Passw0rd"),
                &service.base,
            )
            .await;
        let verdict = app.assert_connection_test(wrong, false).await;
        assert_eq!(
            verdict["headline"], "The credentials were refused",
            "{verdict}"
        );
        assert_eq!(
            verdict["detail"],
            "GetSecretItems answered with SOAP Fault Client.FailedAuthentication: The security \
             token could not be authenticated or authorized. Check the WS-Security user, \
             password and mode."
        );
        let log = app.sync(wrong, true).await;
        assert_eq!(log["status"], "failed", "{log}");
        assert!(log.to_string().contains("FailedAuthentication"), "{log}");
        assert!(!log.to_string().contains("wrong-Passw0rd"), "{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pasted_wsdl_and_an_endpoint_override_work_too() {
    let service = Service::start();
    let wsdl = reqwest::get(service.wsdl("1.1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        // The address in the pasted copy is wrong on purpose.
        .replace(&service.base, "http://127.0.0.1:9");
    let (runtime, connector, schema) = soap_connector().await;
    let config = json!({
        "wsdl": wsdl,
        "endpoint": format!("{}/soap11", service.base),
        "operation": "GetSecretItems",
        "record_path": "GetSecretItemsResponse/GetSecretItemsResult/Item",
        "ws_security": "digest",
        "username": USER,
        "password": PASSWORD,
    });
    let ctx = runtime
        .context("soap-pasted")
        .with_http_grants([HttpGrant::parse(&service.base).unwrap().allow_private(true)])
        .with_secrets(Secrets::from_config(&schema, &config));
    // The digest's Created comes from a GET of the endpoint's Date here.
    let said = connector
        .test_connection(&ctx, &config.to_string())
        .await
        .result
        .unwrap();
    assert!(said.contains("3 records"), "{said}");
    assert_eq!(
        service.calls().await.pop().unwrap()["password_type"],
        "PasswordDigest"
    );
}
