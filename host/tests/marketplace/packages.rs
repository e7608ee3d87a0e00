//! Connector packages through the `cube` binary, as a publisher and an admin
//! use it: keys, pack, sign, publish, trust, install. The packages it
//! refuses are in `refusals.rs`; upgrades, rollbacks and
//! uninstalls in `lifecycle.rs`.

use cube_test_support as common;

use cube_host::marketplace::package::Package;
use serde_json::Value;

use common::plugin_cli::{Desk, cube, ok, publish_to, refused, s, snapshot, stderr};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_package_goes_from_publisher_to_the_catalog() {
    let desk = Desk::new();
    let jira = common::plugin_wasm("jira");

    // The publisher makes a key, packs and signs.
    let (key, public, key_id) = desk.keygen("acme", "acme");
    assert_eq!(key_id.len(), 16);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the secret key is private");
    }
    let package = desk.pack("jira", &jira, None);
    let manifest = Package::read_file(&package).unwrap().manifest;
    assert_eq!(manifest.id, "jira");
    assert_eq!(manifest.publisher, "acme");
    assert_eq!(manifest.capabilities.http, vec!["https://*".to_owned()]);
    assert!(manifest.config_schema["properties"].is_object());

    // Unsigned, it cannot be published.
    let registry = desk.path("registry");
    let err = refused(publish_to(&registry, &package));
    assert!(err.contains("is not signed"), "{err}");
    assert!(!registry.join("index.json").exists());

    desk.sign(&package, &key);
    let err = refused(cube(&[
        "plugin",
        "verify",
        s(&package),
        "--data-dir",
        s(&desk.data()),
    ]));
    assert!(
        err.contains(&format!("key {key_id}, which this host does not trust")),
        "{err}"
    );
    let text = ok(cube(&[
        "plugin",
        "verify",
        s(&package),
        "--allow-untrusted",
        "--data-dir",
        s(&desk.data()),
    ]));
    assert!(text.contains("NOT trusted"), "{text}");

    // Published: trust is the installer's business, not the registry's.
    let text = ok(publish_to(&registry, &package));
    assert!(text.contains("published jira 0.1.0"), "{text}");
    let index: Value =
        serde_json::from_slice(&std::fs::read(registry.join("index.json")).unwrap()).unwrap();
    let entry = &index["packages"][0];
    assert_eq!(entry["file"], "jira-0.1.0.cubepkg");
    assert_eq!(entry["signed"], true);
    assert_eq!(entry["key_id"], key_id.as_str());
    assert_eq!(entry["capabilities"]["http"][0], "https://*");
    assert_eq!(
        entry["sha256"],
        cube_host::marketplace::sha256_hex(&std::fs::read(&package).unwrap())
    );
    // Publishing the same file again changes nothing.
    ok(publish_to(&registry, &package));

    // The admin has not trusted acme yet: refused, nothing written.
    let data = desk.data();
    let install = |extra: &[&str]| desk.install_from(&registry, "jira", extra);
    let err = refused(install(&[]));
    assert!(err.contains("cube plugin trust FILE.pub"));
    assert!(!desk.connectors().exists());

    let text = ok(cube(&[
        "plugin",
        "trust",
        s(&public),
        "--data-dir",
        s(&data),
    ]));
    assert!(text.contains(&key_id), "{text}");
    let text = ok(install(&[]));
    assert!(text.contains("installed jira 0.1.0"), "{text}");
    assert!(text.contains(&format!("trusted, key {key_id}")), "{text}");

    let installed = desk.connectors().join("jira/0.1.0");
    assert_eq!(
        std::fs::read(installed.join("connector.wasm")).unwrap(),
        jira
    );
    assert_eq!(
        std::fs::read_to_string(desk.connectors().join("jira/current")).unwrap(),
        "0.1.0\n"
    );
    let record: Value =
        serde_json::from_slice(&std::fs::read(installed.join("install.json")).unwrap()).unwrap();
    assert_eq!(record["trusted"], true);
    assert_eq!(record["key_id"], key_id.as_str());
    assert_eq!(record["sha256"], entry["sha256"]);
    assert!(record["installed_at"].as_str().unwrap().ends_with('Z'));
    let stored: Value =
        serde_json::from_slice(&std::fs::read(installed.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        stored["component_sha256"],
        manifest.component_sha256.as_str()
    );

    // Installing it again is a no-op.
    let before = snapshot(&desk.connectors());
    let text = ok(install(&["--allow-untrusted"]));
    assert!(text.contains("already installed"), "{text}");
    assert_eq!(snapshot(&desk.connectors()), before);

    // The server's catalog loads it from the data directory.
    let catalog = desk.catalog().await;
    assert_eq!(catalog.counts(), (1, 0));
    let (_, info) = catalog.get("jira").expect("jira is loaded");
    assert_eq!(info.version, "0.1.0");

    let text = ok(cube(&[
        "plugin",
        "inspect",
        s(&installed.join("connector.wasm")),
    ]));
    assert!(text.contains("connector:    jira 0.1.0 (Jira)"), "{text}");
}

#[test]
fn keys_and_packages_are_checked_before_use() {
    let desk = Desk::new();
    let (key, public, _) = desk.keygen("acme", "acme");
    // Keys are never overwritten.
    let out = cube(&[
        "plugin",
        "keygen",
        "--out",
        s(key.parent().unwrap()),
        "--publisher",
        "acme",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("never overwritten"),
        "{}",
        stderr(&out)
    );
    // A public key is not a secret key, nor the other way round.
    let package = desk.pack("jira", &common::plugin_wasm("jira"), None);
    let out = cube(&["plugin", "sign", s(&package), "--key", s(&public)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("it is a public key"),
        "{}",
        stderr(&out)
    );
    let out = cube(&["plugin", "trust", s(&key), "--data-dir", s(&desk.data())]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("SECRET"), "{}", stderr(&out));
    // A key of another publisher does not sign acme's package.
    let (other, _, _) = desk.keygen("globex", "globex");
    let out = cube(&["plugin", "sign", s(&package), "--key", s(&other)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("names `acme`"), "{}", stderr(&out));
    // A missing file is unusable input.
    let out = desk.install_file(&desk.path("missing.cubepkg"), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read"), "{}", stderr(&out));
}

#[test]
fn pack_builds_a_crate_and_a_registry_keeps_every_package() {
    let desk = Desk::new();
    let (key, _) = desk.trusted_publisher();
    let out_dir = desk.path("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let crate_dir = common::repo_root().join("tests/components/trivial");
    let text = ok(cube(&[
        "plugin",
        "pack",
        s(&crate_dir),
        "--publisher",
        "acme",
        "--out",
        s(&out_dir),
    ]));
    assert!(text.contains("packed trivial 0.1.0 (acme)"), "{text}");
    let trivial = out_dir.join("trivial-0.1.0.cubepkg");
    desk.sign(&trivial, &key);
    let jira = desk.pack("jira", &common::plugin_wasm("jira"), None);
    desk.sign(&jira, &key);

    let registry = desk.path("registry");
    for package in [&trivial, &jira] {
        ok(publish_to(&registry, package));
    }
    let index: Value =
        serde_json::from_slice(&std::fs::read(registry.join("index.json")).unwrap()).unwrap();
    let ids: Vec<&str> = index["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["jira", "trivial"]);
    assert!(!registry.join("index.lock").exists());

    let text = ok(desk.install_from(&registry, "trivial@0.1.0", &[]));
    assert!(text.contains("installed trivial 0.1.0"), "{text}");
    let err = refused(desk.install_from(&registry, "trivial@9.9.9", &[]));
    assert!(err.contains("no version 9.9.9 of `trivial` (it has 0.1.0)"));
}
