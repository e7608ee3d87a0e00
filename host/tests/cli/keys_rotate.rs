//! `cube keys rotate`: every secret re-sealed with a new key in one
//! transaction, or nothing changed at all.

use cube_test_support as common;

use std::collections::BTreeMap;
use std::path::Path;

use cube_host::integrations::{open_secrets, seal_secrets};
use cube_host::secrets::{MASTER_KEY_FILE, MasterKey, Sealer, SecretError};
use cube_host::store::Store;
use cube_host::store::integrations::{Integration, IntegrationFields};

use common::plugin_cli::{cube_command, run};

fn fields(name: &str) -> IntegrationFields {
    IntegrationFields::new(name, serde_json::Map::new())
}

async fn with_secret(store: &Store, sealer: &Sealer, name: &str, secret: &str) -> Integration {
    common::register_probe(store).await;
    let secrets = BTreeMap::from([("password".to_owned(), secret.to_owned())]);
    store
        .create_integration("probe", &fields(name), "admin", |id| {
            seal_secrets(sealer, id, &secrets)
        })
        .await
        .unwrap()
}

/// A fresh data directory with its master key (made on first load), a
/// sealer of that key and the store in the directory.
async fn keyed_data_dir() -> (tempfile::TempDir, MasterKey, Sealer, Store) {
    let data = tempfile::tempdir().unwrap();
    let (key, _) = MasterKey::load(data.path()).unwrap();
    let sealer = Sealer::new(&key);
    let store = Store::open_in(data.path()).await.unwrap();
    (data, key, sealer, store)
}

fn rotate(data: &Path) -> std::process::Output {
    run(
        cube_command(&["keys", "rotate", "--data-dir", data.to_str().unwrap()])
            .env_remove("CUBE_MASTER_KEY"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_reseals_every_secret_and_retires_the_old_key() {
    let (data, old_key, old, store) = keyed_data_dir().await;
    let a = with_secret(&store, &old, "a", "first-secret-value").await;
    let b = with_secret(&store, &old, "b", "second-secret-value").await;
    let hook = store
        .create_webhook(a.id, "token-1", "cube-hmac-sha256", "", false, |id| {
            cube_host::webhooks::seal_secret(&old, id, "webhook-signing-secret")
        })
        .await
        .unwrap();
    store.close().await;

    let output = rotate(data.path());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("Re-encrypted 3 secrets (2 integrations, 0 wizard drafts, 1 webhooks)"),
        "{stdout}"
    );

    let (new_key, _) = MasterKey::load(data.path()).unwrap();
    assert_ne!(new_key.id(), old_key.id());
    assert!(
        data.path()
            .join(format!("{MASTER_KEY_FILE}.retired-{}", old_key.id()))
            .exists()
    );
    let new = Sealer::new(&new_key);
    let store = Store::open_in(data.path()).await.unwrap();
    for (before, expected) in [(&a, "first-secret-value"), (&b, "second-secret-value")] {
        let after = store.integration(before.id).await.unwrap().unwrap();
        assert_ne!(after.sealed_secrets, before.sealed_secrets);
        assert_eq!(
            open_secrets(&new, &after).unwrap()["password"].as_str(),
            expected
        );
        assert!(matches!(
            open_secrets(&old, &after),
            Err(SecretError::WrongKey { .. })
        ));
    }
    let hook = store.webhook(hook.id).await.unwrap().unwrap();
    let opened = cube_host::webhooks::open_secret(&new, &hook).unwrap();
    assert_eq!(opened.as_slice(), b"webhook-signing-secret");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_that_cannot_be_opened_stops_the_rotation_with_nothing_changed() {
    let (data, key, sealer, store) = keyed_data_dir().await;
    let good = with_secret(&store, &sealer, "good", "good-secret-value").await;
    let bad = with_secret(&store, &sealer, "bad", "bad-secret-value").await;
    // A ciphertext copied onto another row does not open there.
    sqlx::query("UPDATE integrations SET secrets_json = $1 WHERE id = $2")
        .bind(serde_json::to_string(&good.sealed_secrets).unwrap())
        .bind(bad.id)
        .execute(store.pool())
        .await
        .unwrap();
    store.close().await;

    let output = rotate(data.path());
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("integrations") && stderr.contains("nothing was changed"),
        "{stderr}"
    );

    let (still, _) = MasterKey::load(data.path()).unwrap();
    assert_eq!(still.id(), key.id());
    assert!(!data.path().join(format!("{MASTER_KEY_FILE}.new")).exists());
    let store = Store::open_in(data.path()).await.unwrap();
    let after = store.integration(good.id).await.unwrap().unwrap();
    assert_eq!(after.sealed_secrets, good.sealed_secrets);
}
