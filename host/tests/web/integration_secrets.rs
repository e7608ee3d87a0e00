//! No integration secret is stored or shown in plain text: a secret put
//! through every path that could leak it (the form, a connector that logs
//! it and returns it in an error, a sync, the logs) is found neither in the
//! pages nor in the SQLite files nor in a dump of PostgreSQL.

use cube_test_support as common;

use cube_host::store::Store;

use common::PROBE_SECRET as SECRET;
use common::web_forms::post_integration;

/// What the secret looks like anywhere in `bytes`, plainly or as UTF-16.
fn contains_secret(bytes: &[u8]) -> bool {
    let plain = SECRET.as_bytes();
    let wide: Vec<u8> = SECRET.bytes().flat_map(|b| [b, 0]).collect();
    bytes.windows(plain.len()).any(|w| w == plain) || bytes.windows(wide.len()).any(|w| w == wide)
}

/// Puts a secret through every path that could leak it: the form, a
/// connector that logs it and returns it in an error, a sync, the logs.
async fn exercise_secret(base: &str, store: &Store) {
    let (mut browser, csrf) = common::sign_in_admin(base).await;
    let id = common::create_probe_integration(
        &mut browser,
        &csrf,
        "Leaky",
        "leak",
        "http://127.0.0.1:1/",
    )
    .await;
    post_integration(&mut browser, &csrf, id, "test", &[]).await;
    post_integration(&mut browser, &csrf, id, "sync", &[]).await;
    common::wait_for_syncs(store, id).await;
    for path in [
        "/integrations/list".to_owned(),
        format!("/integrations/{id}"),
        format!("/integrations/{id}/edit"),
        "/integrations/logs".into(),
        "/integrations/dashboard".into(),
        "/admin/audit".into(),
    ] {
        let page = browser.get(&path).await;
        assert!(
            !contains_secret(page.body.as_bytes()),
            "{path} shows the secret"
        );
    }
    let log = store.sync_logs(&Default::default(), 0, 10).await.unwrap().0;
    assert!(
        log.iter()
            .any(|l| l.operation == "test" && l.status == "failed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_is_stored_in_plain_text_in_sqlite_or_postgres() {
    // SQLite: the database file and its write-ahead log, byte for byte.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).await.unwrap();
    let base = common::serve_admin_app_on(common::probe_catalog().await, store.clone()).await;
    exercise_secret(&base, &store).await;
    let mut files = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !contains_secret(&bytes),
            "{} holds the secret in plain text",
            path.display()
        );
        files += 1;
    }
    assert!(files >= 2, "expected the database and its WAL");

    // PostgreSQL: a full pg_dump of the database.
    let url = common::postgres_database().await;
    let store = Store::connect(&url).await.unwrap();
    let base = common::serve_admin_app_on(common::probe_catalog().await, store.clone()).await;
    exercise_secret(&base, &store).await;
    let dump = std::process::Command::new(common::repo_root().join("scripts/test-postgres.sh"))
        .args(["dump", &url])
        .output()
        .unwrap();
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let text = String::from_utf8_lossy(&dump.stdout);
    assert!(
        text.contains("integration_sync_logs") && text.contains("v1:"),
        "the dump looks empty"
    );
    assert!(
        !contains_secret(&dump.stdout),
        "the PostgreSQL dump holds the secret"
    );
}
