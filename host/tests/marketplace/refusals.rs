//! Connector packages the `cube` binary refuses to install: tampered,
//! untrusted, lying about their contents, or unsigned unless allowed; each
//! refusal leaves the connectors directory exactly as it was.

use cube_test_support as common;

use cube_host::marketplace::package::{PACKAGE_LIMIT, Package};
use serde_json::{Value, json};

use common::plugin_cli::{Desk, ok, publish_to, refused, snapshot};

/// The manifest `cube plugin pack` would make for jira, to edit.
fn jira_manifest() -> Value {
    json!({
        "id": "jira",
        "name": "Jira",
        "version": "0.1.0",
        "publisher": "acme",
        "description": "Jira.",
        "capabilities": {"http": ["https://*"], "ldap": []},
        "config_schema": {"type": "object"},
        "min_host_version": "0.1.0",
        "component_sha256": ""
    })
}

#[test]
fn tampered_and_untrusted_packages_are_refused_and_nothing_is_installed() {
    let desk = Desk::new();
    let (key, _) = desk.trusted_publisher();
    let jira = common::plugin_wasm("jira");
    let good = desk.pack("jira", &jira, None);
    desk.sign(&good, &key);

    // A byte of the component flipped inside the tar, the manifest kept.
    let mut package = Package::read_file(&good).unwrap();
    let middle = package.component.len() / 2;
    package.component[middle] ^= 0x55;
    let tampered = desk.write("tampered.cubepkg", &package.to_bytes());
    desk.assert_refused(&tampered, "the package was altered");

    // The manifest changed after signing, its digest still right.
    let mut package = Package::read_file(&good).unwrap();
    let mut manifest: Value = serde_json::from_slice(&package.manifest_bytes).unwrap();
    manifest["capabilities"]["http"] = json!(["https://*", "http://*"]);
    package.manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let edited = desk.write("edited.cubepkg", &package.to_bytes());
    desk.assert_refused(&edited, "signature is invalid");

    // Signed by another key of the same name, which is not trusted.
    let (other_key, _, other_id) = desk.keygen("impostor", "acme");
    let wrong = desk.pack("wrong-key", &jira, None);
    desk.sign(&wrong, &other_key);
    desk.assert_refused(
        &wrong,
        &format!("with key {other_id}, which this host does not trust"),
    );

    // Unsigned.
    let unsigned = desk.pack("unsigned", &jira, None);
    desk.assert_refused(&unsigned, "the package is not signed");

    // A registry whose file was swapped after publishing.
    let registry = desk.path("registry");
    ok(publish_to(&registry, &good));
    std::fs::copy(&wrong, registry.join("jira-0.1.0.cubepkg")).unwrap();
    let err = refused(desk.install_from(&registry, "jira@0.1.0", &[]));
    assert!(err.contains("registry is inconsistent"), "{err}");
    // Publishing other contents under a published version is refused.
    let err = refused(publish_to(&registry, &wrong));
    assert!(err.contains("a published version never changes"));

    assert!(!desk.connectors().exists(), "nothing was installed");
    // The good package still installs.
    ok(desk.install_file(&good, &[]));
}

#[test]
fn packages_whose_contents_lie_are_refused_and_nothing_is_installed() {
    let desk = Desk::new();
    let (key, _) = desk.trusted_publisher();
    // Something installed already, which must stay as it is.
    let jira = common::plugin_wasm("jira");
    let good = desk.pack("jira", &jira, None);
    desk.sign(&good, &key);
    ok(desk.install_file(&good, &[]));

    // Not a package at all, and one too large to read.
    let text = desk.write("notes.cubepkg", b"these are not the bytes you want\n");
    desk.assert_refused(&text, "not a CUBE package");
    let big = desk.path("big.cubepkg");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(PACKAGE_LIMIT + 1)
        .unwrap();
    desk.assert_refused(
        &big,
        &format!("more than the {PACKAGE_LIMIT} bytes allowed"),
    );

    // A core module where the component should be.
    let core = desk.pack("core", b"\0asm\x01\0\0\0", Some(jira_manifest()));
    desk.sign(&core, &key);
    desk.assert_refused(&core, "core WebAssembly module, not a component");

    // The probe imports http and ldap; its info() asks only for http.
    let probe = desk.pack("probe", common::probe_wasm(), None);
    desk.sign(&probe, &key);
    desk.assert_refused(&probe, "manifest declares no ldap capability");

    // A manifest whose id is not the component's.
    let mut manifest = jira_manifest();
    manifest["id"] = json!("jira-cloud");
    let renamed = desk.pack("renamed", &jira, Some(manifest));
    desk.sign(&renamed, &key);
    desk.assert_refused(
        &renamed,
        "manifest.json says the id is `jira-cloud`, but the component's info() says `jira`",
    );

    // A manifest that asks for less than the component does.
    let mut manifest = jira_manifest();
    manifest["capabilities"]["http"] = json!(["https://example.atlassian.net"]);
    let narrowed = desk.pack("narrowed", &jira, Some(manifest));
    desk.sign(&narrowed, &key);
    desk.assert_refused(
        &narrowed,
        "says the http capability is https://example.atlassian.net",
    );

    // A package for a newer host.
    let mut manifest = jira_manifest();
    manifest["min_host_version"] = json!("99.0.0");
    let future = desk.pack("future", &jira, Some(manifest));
    desk.sign(&future, &key);
    desk.assert_refused(&future, "needs CUBE 99.0.0 or later");

    // No staging directory was left behind by any of them.
    let names: Vec<String> = std::fs::read_dir(desk.connectors())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["jira"]);
}

#[test]
fn unsigned_packages_install_only_when_allowed_and_are_marked() {
    let desk = Desk::new();
    let jira = common::plugin_wasm("jira");
    let unsigned = desk.pack("jira", &jira, None);
    desk.assert_refused(&unsigned, "--allow-untrusted");
    assert!(!desk.connectors().exists());

    let text = ok(desk.install_file(&unsigned, &["--allow-untrusted"]));
    assert!(text.contains("UNTRUSTED"), "{text}");
    let record: Value = serde_json::from_slice(
        &std::fs::read(desk.connectors().join("jira/0.1.0/install.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(record["trusted"], false);
    assert_eq!(record["key_id"], Value::Null);

    // Another package of the same version is not slipped in over it.
    let (key, _, _) = desk.keygen("acme", "acme");
    let signed = desk.pack("signed", &jira, None);
    desk.sign(&signed, &key);
    let before = snapshot(&desk.connectors());
    let err = refused(desk.install_file(&signed, &["--allow-untrusted"]));
    assert!(err.contains("already installed from a different package"));
    assert_eq!(snapshot(&desk.connectors()), before);
}
