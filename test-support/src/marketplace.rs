//! Connector packages for the marketplace's web tests, built with the core
//! API as a publisher's tools build them: manifests from the component's
//! own `info()`, signed packages published to a registry directory.

use std::path::{Path, PathBuf};

use cube_host::marketplace::keys::SecretKey;
use cube_host::marketplace::package::{Capabilities, Manifest, Package};
use cube_host::marketplace::registry::{self, Entry, INDEX, Index};
use cube_host::marketplace::signature;
use cube_host::marketplace::verify::HOST_VERSION;

/// A manifest made from the component's own `info()`, as `cube plugin
/// pack` makes it.
pub async fn manifest_of(component: &[u8], publisher: &str) -> Manifest {
    let runtime = super::runtime();
    let connector = runtime.load(component).unwrap();
    let info = connector
        .info(&runtime.context("test"))
        .await
        .result
        .unwrap();
    Manifest {
        id: info.id,
        name: info.name,
        version: info.version,
        publisher: publisher.into(),
        description: info.description,
        capabilities: Capabilities {
            http: info.capabilities.http,
            ldap: info.capabilities.ldap,
        },
        config_schema: serde_json::from_str(&info.config_schema).unwrap(),
        min_host_version: HOST_VERSION.into(),
        component_sha256: String::new(),
    }
}

/// The trivial test component (`tests/components/trivial`).
pub fn trivial_wasm() -> Vec<u8> {
    let out = super::repo_root().join("target/test-components");
    let built = cube_host::plugin::build::build(
        &[super::repo_root().join("tests/components/trivial")],
        Some(&out),
    )
    .unwrap();
    std::fs::read(&built[0].path).unwrap()
}

/// The Jira connector with another version and another HTTP capability:
/// the strings in its component are patched in place (`version` is five
/// characters, `http` nine), so `info()` says so and a manifest made from
/// it agrees. The version is found as the one `0.1.0` that is not a WIT
/// package's `@0.1.0`: where the compiler lays the connector's strings out
/// changes with the code around them.
pub fn jira_variant(version: &str, http: &str) -> Vec<u8> {
    let mut bytes = super::plugin_wasm("jira");
    assert_eq!(version.len(), 5, "a patch keeps the length");
    let at: Vec<usize> = bytes
        .windows(6)
        .enumerate()
        .filter(|(_, w)| &w[1..] == b"0.1.0" && w[0] != b'@')
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(at.len(), 1, "the connector's version once in the component");
    bytes[at[0]..at[0] + 5].copy_from_slice(version.as_bytes());
    replace_once(
        bytes,
        b"Data Center.https://*",
        &[b"Data Center.".as_slice(), http.as_bytes()].concat(),
    )
}

/// `bytes` with the one occurrence of `before` replaced by `after`, of the
/// same length (a string in a component's data, patched in place).
pub fn replace_once(mut bytes: Vec<u8>, before: &[u8], after: &[u8]) -> Vec<u8> {
    assert_eq!(after.len(), before.len(), "a patch keeps the length");
    let at: Vec<usize> = bytes
        .windows(before.len())
        .enumerate()
        .filter(|(_, w)| *w == before)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        at.len(),
        1,
        "{:?} once in the component",
        String::from_utf8_lossy(before)
    );
    bytes[at[0]..at[0] + before.len()].copy_from_slice(after);
    bytes
}

/// Packs `component` for `publisher`, signs it with `key` (if any), and
/// publishes it to `registry` (unsigned packages, which `publish` refuses,
/// are listed by hand, as a careless registry might).
pub async fn publish(
    dir: &Path,
    registry: &Path,
    component: Vec<u8>,
    key: Option<&SecretKey>,
    publisher: &str,
) -> Manifest {
    let mut package = Package::new(manifest_of(&component, publisher).await, component).unwrap();
    let manifest = package.manifest.clone();
    let Some(key) = key else {
        let bytes = package.to_bytes();
        std::fs::create_dir_all(registry).unwrap();
        std::fs::write(registry.join(manifest.file_name()), &bytes).unwrap();
        let mut index = Index::read(registry).unwrap().unwrap_or_default();
        index
            .upsert(Entry {
                id: manifest.id.clone(),
                name: manifest.name.clone(),
                version: manifest.version.clone(),
                publisher: manifest.publisher.clone(),
                description: manifest.description.clone(),
                capabilities: manifest.capabilities.clone(),
                file: manifest.file_name(),
                sha256: cube_host::marketplace::sha256_hex(&bytes),
                key_id: None,
                signed: false,
            })
            .unwrap();
        std::fs::write(
            registry.join(INDEX),
            serde_json::to_vec_pretty(&index).unwrap(),
        )
        .unwrap();
        return manifest;
    };
    signature::sign(&mut package, key).unwrap();
    let file = dir.join(manifest.file_name());
    std::fs::write(&file, package.to_bytes()).unwrap();
    registry::publish(&file, registry).await.unwrap();
    manifest
}

/// A registry in `dir/registry` holding jira 0.1.0 signed by `acme` (whose
/// public key is returned) and trivial unsigned.
pub async fn build_registry(dir: &Path) -> (PathBuf, PathBuf) {
    let registry = dir.join("registry");
    let key = SecretKey::generate("acme");
    let (_, public) = key.write_pair(&dir.join("keys")).unwrap();
    publish(
        dir,
        &registry,
        super::plugin_wasm("jira"),
        Some(&key),
        "acme",
    )
    .await;
    publish(dir, &registry, trivial_wasm(), None, "acme").await;
    (registry, public)
}

/// The part of a marketplace page about one package version.
pub fn section<'a>(body: &'a str, id: &str, version: &str) -> &'a str {
    element(body, &format!("package-{id}-{version}"))
}

/// The `<section>` with the HTML id `id`.
pub fn element<'a>(body: &'a str, id: &str) -> &'a str {
    let marker = format!("id=\"{id}\"");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {marker} in {body}"));
    let end = body[start..].find("</section>").unwrap() + start;
    &body[start..end]
}

/// A catalog that has loaded the connectors in `dirs`, as the server
/// loads them when it starts (with no directory: a host with no connector
/// yet).
pub async fn loaded_catalog(dirs: Vec<PathBuf>) -> cube_host::catalog::Catalog {
    let catalog = cube_host::catalog::Catalog::new();
    catalog.clone().load_dirs(super::runtime(), dirs).await;
    catalog
}

/// `<data dir>/connectors/<id>`.
pub fn installed_dir(data: &Path, id: &str) -> PathBuf {
    data.join("connectors").join(id)
}
