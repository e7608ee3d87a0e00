//! What more than one benchmark sets up the same way.

use std::path::Path;

use cube_host::runtime::types::{Capabilities, ConnectorInfo, Features};
use cube_host::secrets::{MasterKey, Sealer};
use cube_host::store::Store;
use cube_host::store::integrations::IntegrationFields;

/// A fresh store in `data` with one disabled integration and a
/// `cube-hmac-sha256` webhook endpoint at `token` signed with `secret`
/// (sealed under the master key `key`). Disabled, so deliveries wait
/// unprocessed: a run measures intake alone.
pub async fn webhook_endpoint(data: &Path, key: &str, token: &str, secret: &str) {
    let store = Store::open_in(data).await.unwrap();
    let info = ConnectorInfo {
        id: "bench".into(),
        name: "Bench".into(),
        version: "1.0.0".into(),
        description: String::new(),
        config_schema: "{}".into(),
        capabilities: Capabilities {
            http: Vec::new(),
            ldap: Vec::new(),
        },
        features: Features::WEBHOOKS,
    };
    store.upsert_provider(&info, "bench").await.unwrap();
    let fields = IntegrationFields {
        enabled: false,
        ..IntegrationFields::new("intake", serde_json::Map::new())
    };
    let integration = store
        .create_integration("bench", &fields, "bench", |_| Default::default())
        .await
        .unwrap();
    let sealer = Sealer::new(&MasterKey::parse(key).unwrap());
    store
        .create_webhook(
            integration.id,
            token,
            "cube-hmac-sha256",
            "benchmark",
            false,
            |row| cube_host::webhooks::seal_secret(&sealer, row, secret),
        )
        .await
        .unwrap();
    store.pool().close().await;
}
