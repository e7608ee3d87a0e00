//! An installed connector's life through the `cube` binary: an upgrade that
//! asks for more waits for approval, the old version is kept for a
//! rollback, and uninstalling is refused while an integration uses it
//! unless the integrations are disabled.

use cube_test_support as common;

use std::process::Output;

use cube_host::marketplace::package::Package;

use common::plugin_cli::{Desk, cube, ok, refused, s, snapshot, stderr};

fn current(desk: &Desk, id: &str) -> String {
    std::fs::read_to_string(desk.connectors().join(id).join("current"))
        .unwrap()
        .trim()
        .to_owned()
}

/// `cube plugin COMMAND ID` (`rollback`, `uninstall`) with `extra`
/// arguments, on the desk's data directory.
fn manage(desk: &Desk, command: &str, id: &str, extra: &[&str]) -> Output {
    let data = desk.data();
    let mut args = vec!["plugin", command, id];
    args.extend(extra);
    args.extend(["--data-dir", s(&data)]);
    cube(&args)
}

async fn loaded_version(desk: &Desk, id: &str) -> Option<String> {
    desk.catalog().await.get(id).map(|(_, info)| info.version)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_rollback_and_uninstall() {
    use cube_host::store::Store;
    use cube_host::store::integrations::IntegrationFields;

    let desk = Desk::new();
    let (key, _) = desk.trusted_publisher();
    let data = desk.data();

    // 0.0.9 reaches one server; 0.1.0 (the real jira) any HTTPS server.
    let old = desk.pack(
        "jira-0.0.9",
        &common::marketplace::jira_variant("0.0.9", "https://a"),
        None,
    );
    desk.sign(&old, &key);
    let new = desk.pack("jira-0.1.0", &common::plugin_wasm("jira"), None);
    desk.sign(&new, &key);
    assert_eq!(
        Package::read_file(&old).unwrap().manifest.capabilities.http,
        ["https://a"]
    );
    let text = ok(desk.install_file(&old, &[]));
    assert!(text.contains("installed jira 0.0.9"), "{text}");

    // An integration uses it, granted the one server.
    let store = Store::open_in(&data).await.unwrap();
    let (connector, info) = desk.catalog().await.get("jira").unwrap();
    store
        .upsert_provider(&info, connector.digest())
        .await
        .unwrap();
    let fields = IntegrationFields {
        http_grants: vec![cube_host::runtime::HttpGrant::parse("https://a").unwrap()],
        ..IntegrationFields::new("Jira Cloud", serde_json::Map::new())
    };
    let integration = store
        .create_integration("jira", &fields, "admin", |_| Default::default())
        .await
        .unwrap();
    store.close().await;

    // The upgrade asks for more: refused, with what is new, nothing changed.
    desk.assert_refused(
        &new,
        "jira 0.1.0 asks for more than the installed 0.0.9: Connects to any HTTPS server you grant it (`https://*`)",
    );
    let out = desk.install_file(&new, &[]);
    assert!(
        stderr(&out).contains("--approve-capabilities"),
        "{}",
        stderr(&out)
    );
    assert_eq!(current(&desk, "jira"), "0.0.9");

    // Approved: 0.1.0 is current, 0.0.9 is kept, the grants are as they were.
    let text = ok(desk.install_file(&new, &["--approve-capabilities"]));
    assert!(text.contains("switched from 0.0.9 to jira 0.1.0"), "{text}");
    assert!(text.contains("cube plugin rollback jira"), "{text}");
    assert_eq!(current(&desk, "jira"), "0.1.0");
    assert!(
        desk.connectors()
            .join("jira/0.0.9/connector.wasm")
            .is_file()
    );
    assert_eq!(
        loaded_version(&desk, "jira").await.as_deref(),
        Some("0.1.0")
    );
    let store = Store::open_in(&data).await.unwrap();
    let stored = store.integration(integration.id).await.unwrap().unwrap();
    assert_eq!(
        serde_json::to_value(&stored.http_grants).unwrap(),
        serde_json::to_value(&integration.http_grants).unwrap()
    );
    assert!(stored.enabled);
    store.close().await;

    // Rollback: 0.0.9 again, and the catalog loads it.
    let text = ok(manage(&desk, "rollback", "jira", &[]));
    assert!(
        text.contains("rolled jira back from 0.1.0 to 0.0.9"),
        "{text}"
    );
    assert_eq!(current(&desk, "jira"), "0.0.9");
    assert_eq!(
        loaded_version(&desk, "jira").await.as_deref(),
        Some("0.0.9")
    );
    assert!(
        desk.connectors()
            .join("jira/0.1.0/connector.wasm")
            .is_file()
    );
    let before = snapshot(&desk.connectors());
    let err = refused(manage(&desk, "rollback", "jira", &[]));
    assert!(
        err.contains("0.0.9 is the oldest installed version"),
        "{err}"
    );
    let err = refused(manage(&desk, "rollback", "slack", &[]));
    assert!(err.contains("`slack` is not an installed connector"));
    assert_eq!(snapshot(&desk.connectors()), before);

    // Uninstall: refused while the integration uses it, naming it.
    let err = refused(manage(&desk, "uninstall", "jira", &[]));
    assert!(
        err.contains("jira is used by an integration: `Jira Cloud`"),
        "{err}"
    );
    assert!(err.contains("--disable-integrations"));
    assert_eq!(snapshot(&desk.connectors()), before);

    let text = ok(manage(
        &desk,
        "uninstall",
        "jira",
        &["--disable-integrations"],
    ));
    assert!(
        text.contains("uninstalled jira (removed versions 0.0.9, 0.1.0)"),
        "{text}"
    );
    assert!(text.contains("disabled integrations: Jira Cloud"), "{text}");
    assert!(
        snapshot(&desk.connectors()).is_empty(),
        "{:?}",
        snapshot(&desk.connectors())
    );
    assert_eq!(loaded_version(&desk, "jira").await, None);

    let store = Store::open_in(&data).await.unwrap();
    let stored = store.integration(integration.id).await.unwrap().unwrap();
    assert!(!stored.enabled, "the integration is disabled");
    let actions: Vec<String> = store
        .audit_entries(10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| format!("{} {} {}", e.actor, e.action, e.target))
        .collect();
    assert!(
        actions.contains(&format!(
            "cli integration.disable integration:{}",
            integration.id
        )),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"cli marketplace.uninstall connector:jira".to_owned()),
        "{actions:?}"
    );
    store.close().await;
}
