//! What more than one benchmark sets up the same way: a `cube serve` of its
//! own (a process, embedded SQLite) with a webhook endpoint that signed
//! deliveries are sent to.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use cube_host::runtime::types::Features;
use cube_host::secrets::{MasterKey, Sealer};
use cube_host::store::Store;
use cube_host::store::integrations::IntegrationFields;
use cube_test_support::store_rows::{integration_of, provider_info};

/// The signing secret of the endpoint of [`serve_webhook_endpoint`].
pub const SECRET: &str = "a-webhook-signing-secret-for-the-benchmark";
/// The endpoint's token: it is at `/hooks/TOKEN`.
pub const TOKEN: &str = "bench-token";

/// A fresh store in `data` with one disabled integration and a
/// `cube-hmac-sha256` webhook endpoint at [`TOKEN`] signed with [`SECRET`]
/// (sealed under the master key `key`). Disabled, so deliveries wait
/// unprocessed: a run measures intake alone.
async fn webhook_endpoint(data: &Path, key: &str) {
    let store = Store::open_in(data).await.unwrap();
    let info = provider_info("bench", "Bench", Features::WEBHOOKS);
    let fields = IntegrationFields {
        enabled: false,
        ..IntegrationFields::new("intake", serde_json::Map::new())
    };
    let integration = integration_of(&store, &info, &fields).await;
    let sealer = Sealer::new(&MasterKey::parse(key).unwrap());
    store
        .create_webhook(
            integration,
            TOKEN,
            "cube-hmac-sha256",
            "benchmark",
            false,
            |row| cube_host::webhooks::seal_secret(&sealer, row, SECRET),
        )
        .await
        .unwrap();
    store.pool().close().await;
}

/// One server process; killed when dropped.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `cube serve` on 127.0.0.1:`port` with its data in `data`, where it finds
/// the store of [`webhook_endpoint`] (written first, on `tokio`) and the
/// master key `key`, and `flags` besides; logging warnings only.
pub fn serve_webhook_endpoint(
    tokio: &tokio::runtime::Runtime,
    data: &Path,
    port: u16,
    key: &str,
    flags: &[&str],
) -> Process {
    tokio.block_on(webhook_endpoint(data, key));
    let connectors = data.join("connectors");
    std::fs::create_dir_all(&connectors).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_cube"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--data-dir", data.to_str().unwrap()])
        .args(["--connectors", connectors.to_str().unwrap()])
        .args(flags)
        .env("CUBE_MASTER_KEY", key)
        .env("CUBE_ADMIN_PASSWORD", "bench-admin-password")
        .env("CUBE_LOG", "warn")
        .env_remove("CUBE_DATABASE_URL")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    Process(child)
}
