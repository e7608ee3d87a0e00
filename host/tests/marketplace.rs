//! Connector packages through the `cube` binary, as a publisher and an admin
//! use it: keys, pack, sign, publish, trust, install; and every refusal,
//! each leaving the connectors directory exactly as it was.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cube_host::marketplace::package::{PACKAGE_LIMIT, Package};
use serde_json::{Value, json};

fn cube(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cube"))
        .args(args)
        .env("CUBE_LOG", "warn")
        .env_remove("CUBE_DATA_DIR")
        .output()
        .expect("running cube")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Every path under `dir`, relative, sorted; empty when there is no `dir`.
fn snapshot(dir: &Path) -> Vec<(PathBuf, u64)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, u64)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let meta = std::fs::metadata(&path).unwrap();
            out.push((path.strip_prefix(root).unwrap().to_path_buf(), meta.len()));
            if meta.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A publisher's desk and an admin's host in one temporary directory.
struct Desk {
    dir: tempfile::TempDir,
}

impl Desk {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn data(&self) -> PathBuf {
        self.path("data")
    }

    fn connectors(&self) -> PathBuf {
        self.data().join("connectors")
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// `keys/<dir>/<publisher>.{key,pub}`; returns the key paths and id.
    fn keygen(&self, dir: &str, publisher: &str) -> (PathBuf, PathBuf, String) {
        let out = self.path("keys").join(dir);
        let text = ok(cube(&[
            "plugin",
            "keygen",
            "--out",
            s(&out),
            "--publisher",
            publisher,
        ]));
        let key_id = text
            .lines()
            .find_map(|l| l.strip_prefix("key id:"))
            .unwrap()
            .trim()
            .to_owned();
        (
            out.join(format!("{publisher}.key")),
            out.join(format!("{publisher}.pub")),
            key_id,
        )
    }

    /// `keys/trusted/acme.*`, trusted in the data directory.
    fn trusted_publisher(&self) -> (PathBuf, String) {
        let (key, public, id) = self.keygen("trusted", "acme");
        ok(cube(&[
            "plugin",
            "trust",
            s(&public),
            "--data-dir",
            s(&self.data()),
        ]));
        (key, id)
    }

    /// Packs `component` (manifest from its info(), or `manifest`).
    fn pack(&self, name: &str, component: &[u8], manifest: Option<Value>) -> PathBuf {
        let wasm = self.write(&format!("{name}.wasm"), component);
        let out = self.path(&format!("{name}.cubepkg"));
        let mut args = vec!["plugin", "pack", "--component", s(&wasm), "--out", s(&out)];
        let manifest_path;
        match manifest {
            Some(value) => {
                manifest_path = self.write(
                    &format!("{name}.manifest.json"),
                    &serde_json::to_vec(&value).unwrap(),
                );
                args.extend(["--manifest", s(&manifest_path)]);
            }
            None => args.extend(["--publisher", "acme"]),
        }
        ok(cube(&args));
        out
    }

    fn sign(&self, package: &Path, key: &Path) {
        ok(cube(&["plugin", "sign", s(package), "--key", s(key)]));
    }

    fn install_file(&self, package: &Path, extra: &[&str]) -> Output {
        let data = self.data();
        let mut args = vec!["plugin", "install", s(package), "--data-dir", s(&data)];
        args.extend(extra);
        cube(&args)
    }

    /// Installing `package` exits 1 with `needle` in its one-line message,
    /// and the connectors directory is as it was.
    fn assert_refused(&self, package: &Path, needle: &str) {
        let before = snapshot(&self.connectors());
        let out = self.install_file(package, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{needle}: {err}");
        assert!(err.contains(needle), "expected {needle:?} in: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert_eq!(snapshot(&self.connectors()), before, "after: {needle}");
    }
}

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
    let out = cube(&["plugin", "publish", s(&package), "--registry", s(&registry)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("is not signed"), "{}", stderr(&out));
    assert!(!registry.join("index.json").exists());

    desk.sign(&package, &key);
    let out = cube(&[
        "plugin",
        "verify",
        s(&package),
        "--data-dir",
        s(&desk.data()),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("key {key_id}, which this host does not trust")),
        "{}",
        stderr(&out)
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
    let text = ok(cube(&[
        "plugin",
        "publish",
        s(&package),
        "--registry",
        s(&registry),
    ]));
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
    ok(cube(&[
        "plugin",
        "publish",
        s(&package),
        "--registry",
        s(&registry),
    ]));

    // The admin has not trusted acme yet: refused, nothing written.
    let data = desk.data();
    let install = |extra: &[&str]| {
        let mut args = vec![
            "plugin",
            "install",
            "jira",
            "--registry",
            s(&registry),
            "--data-dir",
            s(&data),
        ];
        args.extend(extra);
        cube(&args)
    };
    let out = install(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("cube plugin trust FILE.pub"));
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
    let catalog = cube_host::catalog::Catalog::new();
    catalog
        .clone()
        .load_dirs(common::runtime(), vec![desk.connectors()])
        .await;
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
    ok(cube(&[
        "plugin",
        "publish",
        s(&good),
        "--registry",
        s(&registry),
    ]));
    std::fs::copy(&wrong, registry.join("jira-0.1.0.cubepkg")).unwrap();
    let out = cube(&[
        "plugin",
        "install",
        "jira@0.1.0",
        "--registry",
        s(&registry),
        "--data-dir",
        s(&desk.data()),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("registry is inconsistent"),
        "{}",
        stderr(&out)
    );
    // Publishing other contents under a published version is refused.
    let out = cube(&["plugin", "publish", s(&wrong), "--registry", s(&registry)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("a published version never changes"));

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
    let out = desk.install_file(&signed, &["--allow-untrusted"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already installed from a different package"));
    assert_eq!(snapshot(&desk.connectors()), before);
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
        ok(cube(&[
            "plugin",
            "publish",
            s(package),
            "--registry",
            s(&registry),
        ]));
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

    let text = ok(cube(&[
        "plugin",
        "install",
        "trivial@0.1.0",
        "--registry",
        s(&registry),
        "--data-dir",
        s(&desk.data()),
    ]));
    assert!(text.contains("installed trivial 0.1.0"), "{text}");
    let out = cube(&[
        "plugin",
        "install",
        "trivial@9.9.9",
        "--registry",
        s(&registry),
        "--data-dir",
        s(&desk.data()),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no version 9.9.9 of `trivial` (it has 0.1.0)"));
}

fn current(desk: &Desk, id: &str) -> String {
    std::fs::read_to_string(desk.connectors().join(id).join("current"))
        .unwrap()
        .trim()
        .to_owned()
}

async fn loaded_version(desk: &Desk, id: &str) -> Option<String> {
    let catalog = cube_host::catalog::Catalog::new();
    catalog
        .clone()
        .load_dirs(common::runtime(), vec![desk.connectors()])
        .await;
    catalog.get(id).map(|(_, info)| info.version)
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
    let catalog = cube_host::catalog::Catalog::new();
    catalog
        .clone()
        .load_dirs(common::runtime(), vec![desk.connectors()])
        .await;
    let (connector, info) = catalog.get("jira").unwrap();
    store
        .upsert_provider(&info, connector.digest())
        .await
        .unwrap();
    let fields = IntegrationFields {
        name: "Jira Cloud".into(),
        enabled: true,
        config: serde_json::Map::new(),
        http_grants: vec![cube_host::runtime::HttpGrant::parse("https://a").unwrap()],
        ldap_grants: Vec::new(),
        sync_interval_secs: None,
        disable_after_failures: None,
        sync_cron: None,
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
    let text = ok(cube(&[
        "plugin",
        "rollback",
        "jira",
        "--data-dir",
        s(&data),
    ]));
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
    let out = cube(&["plugin", "rollback", "jira", "--data-dir", s(&data)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("0.0.9 is the oldest installed version"),
        "{}",
        stderr(&out)
    );
    let out = cube(&["plugin", "rollback", "slack", "--data-dir", s(&data)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("`slack` is not an installed connector"));
    assert_eq!(snapshot(&desk.connectors()), before);

    // Uninstall: refused while the integration uses it, naming it.
    let out = cube(&["plugin", "uninstall", "jira", "--data-dir", s(&data)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("jira is used by an integration: `Jira Cloud`"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("--disable-integrations"));
    assert_eq!(snapshot(&desk.connectors()), before);

    let text = ok(cube(&[
        "plugin",
        "uninstall",
        "jira",
        "--disable-integrations",
        "--data-dir",
        s(&data),
    ]));
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
