//! The admin app with one first-party connector (`plugins/NAME`), driven as
//! `admin` through its JSON API: what the tests of the Jira, ServiceNow,
//! Slack, SOAP and REST connectors share. Creating integrations (and their
//! webhook endpoints), running a sync to its end and reading its log, the
//! connection test, work orders and the links their pushes leave, and
//! delivering a signed webhook as the vendor would.

use std::time::Duration;

use cube_host::store::Store;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::ADMIN_PASSWORD;
use crate::client::Api;

/// The admin app with one connector, signed in as `admin`.
pub struct ConnectorApp {
    pub api: Api,
    pub store: Store,
    connector: String,
    _dir: tempfile::TempDir,
}

/// `config` with each key of `extra` set over it.
pub fn with_overrides(mut config: Value, extra: &Value) -> Value {
    for (k, v) in extra.as_object().expect("the overrides are an object") {
        config[k] = v.clone();
    }
    config
}

/// Posts a vendor's webhook delivery, `(headers, body)`, to `url`.
pub async fn deliver(
    url: &str,
    (headers, body): (Vec<(String, String)>, Vec<u8>),
) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(url).body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request.send().await.unwrap()
}

impl ConnectorApp {
    /// The app with the connector `plugins/<connector>` only, and an
    /// embedded store.
    pub async fn start(connector: &str) -> ConnectorApp {
        let catalog = crate::plugin_catalog(&[connector]).await;
        let (base, store, dir) = crate::serve_admin_app(catalog).await;
        let api = Api::sign_in(&base, "admin", ADMIN_PASSWORD).await;
        ConnectorApp {
            api,
            store,
            connector: connector.to_owned(),
            _dir: dir,
        }
    }

    /// `method path` with `body`, asserted to answer `expected`; the answer.
    async fn expect(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        expected: StatusCode,
    ) -> Value {
        let (status, answer) = self.api.json(method, path, body).await;
        assert_eq!(status, expected, "{path}: {answer}");
        answer
    }

    /// An enabled integration of the connector with `config`, allowed to
    /// reach `grant` (a private address); returns its id.
    pub async fn create_integration(&self, name: &str, config: Value, grant: &str) -> i64 {
        let integration = json!({"name": name, "connector": self.connector, "config": config,
                                 "http_grants": [grant], "allow_private": true, "enabled": true});
        let created = self
            .expect(
                Method::POST,
                "/api/v1/integrations",
                Some(integration),
                StatusCode::CREATED,
            )
            .await;
        created["id"].as_i64().unwrap()
    }

    /// Adds a webhook endpoint (`endpoint`: its scheme, answer, ...) to
    /// `integration`; returns it as created (its `url`, and a generated
    /// `secret`).
    pub async fn add_webhook(&self, integration: i64, endpoint: Value) -> Value {
        let path = format!("/api/v1/integrations/{integration}/webhooks");
        self.expect(Method::POST, &path, Some(endpoint), StatusCode::CREATED)
            .await
    }

    /// Asks for a sync (`full` or incremental), waits until it has ended
    /// (and any retry with it), and returns the integration's newest sync
    /// log.
    pub async fn sync(&self, integration: i64, full: bool) -> Value {
        let path = format!("/api/v1/integrations/{integration}/sync");
        let queued = self
            .expect(
                Method::POST,
                &path,
                Some(json!({ "full": full })),
                StatusCode::ACCEPTED,
            )
            .await;
        let job = queued["job"]["id"].as_i64().expect("the queued job's id");
        for _ in 0..1200 {
            // The job's row ends after its log does: logs read once no job
            // is pending are the final ones.
            if self.store.pending_job(integration).await.unwrap().is_none() {
                let logs = self.sync_logs(integration).await;
                if logs.iter().any(|l| l["job_id"] == job) {
                    return logs[0].clone();
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the sync of integration {integration} did not finish within a minute");
    }

    /// The integration's sync logs, newest first.
    pub async fn sync_logs(&self, integration: i64) -> Vec<Value> {
        let path = format!("/api/v1/sync-logs?integration={integration}&operation=sync");
        let logs = self.expect(Method::GET, &path, None, StatusCode::OK).await;
        logs["sync_logs"].as_array().cloned().unwrap_or_default()
    }

    /// Runs the connection test of `integration`; returns its verdict.
    pub async fn test_connection(&self, integration: i64) -> Value {
        let path = format!("/api/v1/integrations/{integration}/test");
        self.expect(Method::POST, &path, None, StatusCode::OK).await
    }

    /// Runs the connection test of `integration`, which must pass (`ok`)
    /// or fail; returns its verdict.
    pub async fn assert_connection_test(&self, integration: i64, ok: bool) -> Value {
        let verdict = self.test_connection(integration).await;
        assert_eq!(verdict["ok"], ok, "{verdict}");
        verdict
    }

    /// Creates a work order with `fields`; returns its id.
    pub async fn create_work_order(&self, fields: Value) -> i64 {
        let created = self
            .expect(
                Method::POST,
                "/api/v1/work-orders",
                Some(fields),
                StatusCode::CREATED,
            )
            .await;
        created["id"].as_i64().unwrap()
    }

    /// Replaces the fields of work order `order`.
    pub async fn update_work_order(&self, order: i64, fields: Value) {
        let path = format!("/api/v1/work-orders/{order}");
        self.expect(Method::PUT, &path, Some(fields), StatusCode::OK)
            .await;
    }

    /// Adds a comment by `admin` to work order `order`.
    pub async fn comment(&self, order: i64, body: &str) {
        let path = format!("/api/v1/work-orders/{order}/comments");
        let comment = json!({ "body": body });
        self.expect(Method::POST, &path, Some(comment), StatusCode::CREATED)
            .await;
    }

    /// The external id the first push of work order `order` linked it to
    /// (waited for).
    pub async fn linked_id(&self, order: i64) -> String {
        crate::eventually("the work order's push", async || {
            self.store
                .work_order_links(order)
                .await
                .unwrap()
                .pop()
                .map(|l| l.external_id)
        })
        .await
    }

    /// How many work orders the store holds.
    pub async fn count_orders(&self) -> usize {
        self.store.work_orders(100_000, 0).await.unwrap().len()
    }

    /// The work order linked to `external_id` of `integration`, if any.
    pub async fn work_order_of(&self, integration: i64, external_id: &str) -> Option<i64> {
        for order in self.store.work_orders(100_000, 0).await.unwrap() {
            let links = self.store.work_order_links(order.id).await.unwrap();
            if links
                .iter()
                .any(|l| l.integration_id == integration && l.external_id == external_id)
            {
                return Some(order.id);
            }
        }
        None
    }
}
