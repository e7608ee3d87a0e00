//! Rows written straight into a store and read back from it, for tests and
//! benchmarks: providers with no component behind them (no connector is
//! ever run), integrations of them, directory users as a connector returns
//! them, the number a counting query answers,
//! and what the audit log says was done.

use cube_host::runtime::types::{Capabilities, ConnectorInfo, Features};
use cube_host::store::Store;
use cube_host::store::integrations::IntegrationFields;

/// What a provider `id` named `name` says of itself: `features`, no
/// configuration schema and no capabilities.
pub fn provider_info(id: &str, name: &str, features: Features) -> ConnectorInfo {
    ConnectorInfo {
        id: id.into(),
        name: name.into(),
        version: "1.0.0".into(),
        description: String::new(),
        config_schema: "{}".into(),
        capabilities: Capabilities {
            http: Vec::new(),
            ldap: Vec::new(),
        },
        features,
    }
}

/// Registers `info` as a provider in `store`, then creates an integration
/// of it with `fields` and no secrets, as `admin`; returns its id.
pub async fn integration_of(
    store: &Store,
    info: &ConnectorInfo,
    fields: &IntegrationFields,
) -> i64 {
    store.upsert_provider(info, "sha256:test").await.unwrap();
    store
        .create_integration(&info.id, fields, "admin", |_| Default::default())
        .await
        .unwrap()
        .id
}

/// The actions of the newest `limit` audit log entries, newest first.
pub async fn audit_actions(store: &Store, limit: i64) -> Vec<String> {
    store
        .audit_entries(limit)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

/// The number a `SELECT CAST(COUNT(*) AS BIGINT) …` query answers.
pub async fn count(store: &Store, query: &str) -> i64 {
    sqlx::query_scalar(query)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// `count` directory users as a directory connector returns them, numbered
/// from `start`, at `version` (which also shows in the display name, so
/// that another version is a change).
pub fn directory_users(
    start: usize,
    count: usize,
    version: &str,
) -> Vec<cube_host::runtime::types::Record> {
    (start..start + count)
        .map(|n| cube_host::runtime::types::Record {
            kind: "user".into(),
            external_id: format!("{n:08}-guid"),
            fields: serde_json::json!({
                "username": format!("user{n}"),
                "mail": format!("user{n}@example.com"),
                "display_name": format!("User Number {n} ({version})"),
                "enabled": n % 10 != 0,
                "dn": format!("CN=User {n},OU=People,DC=example,DC=com"),
            })
            .to_string(),
            deleted: false,
            version: Some(version.into()),
        })
        .collect()
}
