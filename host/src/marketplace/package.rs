//! The package file, `<id>-<version>.cubepkg`: a tar holding `manifest.json`,
//! `connector.wasm` and, once signed, `signature.json`.
//!
//! A package arrives from outside, so reading one must not be a way to fill
//! memory, write outside a directory, or slip in a file nobody checked: the
//! reader takes the whole file under a size limit, accepts only those three
//! regular files at the top level, each once and under its own limit, and
//! parses the manifest strictly (unknown fields are an error, not ignored).
//! Writing is deterministic (fixed order, mode, owner and time), so packing
//! the same inputs twice gives the same bytes.

use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::shared::connector_id::is_id;

/// The most a package file may weigh.
pub const PACKAGE_LIMIT: u64 = 64 << 20;
/// The most `manifest.json` may weigh.
pub const MANIFEST_LIMIT: u64 = 256 << 10;
/// The most `connector.wasm` may weigh. Components from Rust weigh well
/// under a megabyte; componentize-py bundles a Python interpreter (about
/// 18 MiB), which this leaves room for.
pub const COMPONENT_LIMIT: u64 = 48 << 20;
/// The most `signature.json` may weigh.
pub const SIGNATURE_LIMIT: u64 = 4 << 10;

pub const MANIFEST: &str = "manifest.json";
pub const COMPONENT: &str = "connector.wasm";
pub const SIGNATURE: &str = "signature.json";

/// The file name extension of packages.
pub const EXTENSION: &str = "cubepkg";

/// Why bytes could not be read as a package.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error(
        "this is not a CUBE package: {0}. A package is the .cubepkg file `cube plugin pack` writes; check that you have the right file and that it was copied whole"
    )]
    NotAPackage(String),
    #[error(
        "the {what} is {size} bytes, more than the {limit} bytes allowed; this host does not read packages that large (ask the publisher why it is so big)"
    )]
    Oversized {
        what: &'static str,
        size: u64,
        limit: u64,
    },
    #[error("manifest.json is malformed: {0}. The publisher must fix the manifest and pack again")]
    MalformedManifest(String),
    #[error("cannot read {path}: {error}")]
    Io { path: String, error: std::io::Error },
}

/// What a connector asks to reach, as in its `info()`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    #[serde(default)]
    pub http: Vec<String>,
    #[serde(default)]
    pub ldap: Vec<String>,
}

/// `manifest.json`: what the package says it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub id: String,
    pub name: String,
    /// Semver.
    pub version: String,
    /// Who publishes it; the signing key must belong to this publisher.
    pub publisher: String,
    pub description: String,
    pub capabilities: Capabilities,
    /// The configuration's JSON Schema (an object).
    pub config_schema: Value,
    /// The oldest host (semver) the package may be installed on.
    pub min_host_version: String,
    /// SHA-256 of `connector.wasm`, hex.
    pub component_sha256: String,
}

impl Manifest {
    /// Checks the fields' forms (not whether they are true of the component:
    /// that is [`super::verify`]'s job).
    pub fn validate(&self) -> Result<(), String> {
        if !is_id(&self.id) {
            return Err(format!(
                "id `{}` must be 1 to 64 lowercase letters, digits and dashes",
                self.id
            ));
        }
        if self.name.trim().is_empty() {
            return Err("name is empty".to_owned());
        }
        semver::Version::parse(&self.version)
            .map_err(|e| format!("version `{}` is not semver: {e}", self.version))?;
        if !is_publisher(&self.publisher) {
            return Err(format!(
                "publisher `{}` must be 1 to 64 letters, digits, dots, dashes and underscores",
                self.publisher
            ));
        }
        semver::Version::parse(&self.min_host_version).map_err(|e| {
            format!(
                "min_host_version `{}` is not semver: {e}",
                self.min_host_version
            )
        })?;
        if !self.config_schema.is_object() {
            return Err("config_schema must be a JSON object".to_owned());
        }
        if self.component_sha256.len() != 64
            || !self
                .component_sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err("component_sha256 must be 64 lowercase hex digits".to_owned());
        }
        Ok(())
    }

    /// `<id>-<version>.cubepkg`.
    pub fn file_name(&self) -> String {
        format!("{}-{}.{EXTENSION}", self.id, self.version)
    }
}

/// Publisher names: safe in file names.
pub fn is_publisher(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['.', '-'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// A package in memory. `manifest_bytes` are kept exactly as read: the
/// signature covers those bytes, not a re-serialisation.
#[derive(Debug, Clone)]
pub struct Package {
    pub manifest: Manifest,
    pub manifest_bytes: Vec<u8>,
    pub component: Vec<u8>,
    /// `signature.json`, unparsed (see [`super::signature`]).
    pub signature: Option<Vec<u8>>,
}

impl Package {
    /// A new unsigned package; sets the manifest's `component_sha256`.
    pub fn new(mut manifest: Manifest, component: Vec<u8>) -> Result<Self, PackageError> {
        manifest.component_sha256 = super::sha256_hex(&component);
        manifest
            .validate()
            .map_err(PackageError::MalformedManifest)?;
        let mut manifest_bytes =
            serde_json::to_vec_pretty(&manifest).expect("a manifest serialises");
        manifest_bytes.push(b'\n');
        Ok(Self {
            manifest,
            manifest_bytes,
            component,
            signature: None,
        })
    }

    /// Reads a package file (at most [`PACKAGE_LIMIT`] bytes).
    pub fn read_file(path: &Path) -> Result<Self, PackageError> {
        Self::from_bytes(&read_limited(path)?)
    }

    /// Reads a package from its bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PackageError> {
        if bytes.len() as u64 > PACKAGE_LIMIT {
            return Err(PackageError::Oversized {
                what: "package",
                size: bytes.len() as u64,
                limit: PACKAGE_LIMIT,
            });
        }
        let not = |why: String| PackageError::NotAPackage(why);
        let mut archive = tar::Archive::new(bytes);
        let entries = archive
            .entries()
            .map_err(|e| not(format!("it is not a tar file ({e})")))?;
        let (mut manifest, mut component, mut signature) = (None, None, None);
        for entry in entries {
            let mut entry = entry.map_err(|e| not(format!("it is not a tar file ({e})")))?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            if name.is_empty() || name.contains(['/', '\\']) || name.contains("..") {
                return Err(not(format!(
                    "it holds an entry named {name:?}; a package holds files at its top level only"
                )));
            }
            let kind = entry.header().entry_type();
            if !kind.is_file() {
                return Err(not(format!(
                    "its entry {name:?} is not a regular file ({kind:?})"
                )));
            }
            let (slot, limit, what) = match name.as_str() {
                MANIFEST => (&mut manifest, MANIFEST_LIMIT, "manifest"),
                COMPONENT => (&mut component, COMPONENT_LIMIT, "component"),
                SIGNATURE => (&mut signature, SIGNATURE_LIMIT, "signature"),
                other => {
                    return Err(not(format!(
                        "it holds {other:?}; a package holds only {MANIFEST}, {COMPONENT} and {SIGNATURE}"
                    )));
                }
            };
            if slot.is_some() {
                return Err(not(format!("it holds {name:?} twice")));
            }
            let size = entry.size();
            if size > limit {
                return Err(PackageError::Oversized { what, size, limit });
            }
            let mut data = Vec::with_capacity(size as usize);
            (&mut entry)
                .take(limit + 1)
                .read_to_end(&mut data)
                .map_err(|e| not(format!("its entry {name:?} cannot be read ({e})")))?;
            if data.len() as u64 > limit {
                return Err(PackageError::Oversized {
                    what,
                    size: data.len() as u64,
                    limit,
                });
            }
            *slot = Some(data);
        }
        let manifest_bytes = manifest.ok_or_else(|| not(format!("it holds no {MANIFEST}")))?;
        let component = component.ok_or_else(|| not(format!("it holds no {COMPONENT}")))?;
        let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| PackageError::MalformedManifest(e.to_string()))?;
        manifest
            .validate()
            .map_err(PackageError::MalformedManifest)?;
        Ok(Self {
            manifest,
            manifest_bytes,
            component,
            signature,
        })
    }

    /// The package as a tar: manifest, component, then the signature if any.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        append(&mut builder, MANIFEST, &self.manifest_bytes);
        append(&mut builder, COMPONENT, &self.component);
        if let Some(signature) = &self.signature {
            append(&mut builder, SIGNATURE, signature);
        }
        builder.into_inner().expect("writing a tar to memory")
    }

    /// SHA-256 of `manifest.json` as stored.
    pub fn manifest_digest(&self) -> [u8; 32] {
        Sha256::digest(&self.manifest_bytes).into()
    }

    /// SHA-256 of `connector.wasm`.
    pub fn component_digest(&self) -> [u8; 32] {
        Sha256::digest(&self.component).into()
    }
}

fn append(builder: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
    let mut header = tar::Header::new_ustar();
    header.set_path(name).expect("a short plain name");
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    builder
        .append(&header, data)
        .expect("writing a tar to memory");
}

/// Reads a file of at most [`PACKAGE_LIMIT`] bytes, refusing larger ones
/// without reading them.
pub fn read_limited(path: &Path) -> Result<Vec<u8>, PackageError> {
    let io = |error| PackageError::Io {
        path: path.display().to_string(),
        error,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    if size > PACKAGE_LIMIT {
        return Err(PackageError::Oversized {
            what: "package",
            size,
            limit: PACKAGE_LIMIT,
        });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(PACKAGE_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > PACKAGE_LIMIT {
        return Err(PackageError::Oversized {
            what: "package",
            size: bytes.len() as u64,
            limit: PACKAGE_LIMIT,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn manifest() -> Manifest {
        Manifest {
            id: "demo".into(),
            name: "Demo".into(),
            version: "1.2.3".into(),
            publisher: "acme".into(),
            description: "A demo.".into(),
            capabilities: Capabilities {
                http: vec!["https://*".into()],
                ldap: vec![],
            },
            config_schema: serde_json::json!({"type": "object"}),
            min_host_version: "0.1.0".into(),
            component_sha256: String::new(),
        }
    }

    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            // The name goes into the header as is: the builder would refuse `..`.
            let mut header = tar::Header::new_gnu();
            header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn a_package_reads_back_as_written() {
        let package = Package::new(manifest(), b"component bytes".to_vec()).unwrap();
        let bytes = package.to_bytes();
        assert_eq!(bytes, package.to_bytes(), "packing is deterministic");
        let read = Package::from_bytes(&bytes).unwrap();
        assert_eq!(read.manifest, package.manifest);
        assert_eq!(read.manifest_bytes, package.manifest_bytes);
        assert_eq!(read.component, b"component bytes");
        assert_eq!(
            read.manifest.component_sha256,
            crate::marketplace::sha256_hex(b"component bytes")
        );
        assert!(read.signature.is_none());
    }

    #[test]
    fn entries_other_than_the_three_are_refused() {
        let package = Package::new(manifest(), b"c".to_vec()).unwrap();
        let m = package.manifest_bytes.as_slice();
        type Entries<'a> = Vec<(&'a str, &'a [u8])>;
        let cases: Vec<(Entries, &str)> = vec![
            (
                vec![(MANIFEST, m), (COMPONENT, b"c"), ("extra.sh", b"x")],
                "\"extra.sh\"",
            ),
            (
                vec![(MANIFEST, m), ("lib/connector.wasm", b"c")],
                "top level only",
            ),
            (vec![(MANIFEST, m), ("..", b"c")], "top level only"),
            (
                vec![(MANIFEST, m), (COMPONENT, b"c"), (COMPONENT, b"d")],
                "twice",
            ),
            (vec![(MANIFEST, m)], "no connector.wasm"),
            (vec![(COMPONENT, b"c")], "no manifest.json"),
        ];
        for (entries, expected) in cases {
            let error = Package::from_bytes(&tar_of(&entries)).unwrap_err();
            assert!(matches!(error, PackageError::NotAPackage(_)), "{error}");
            assert!(error.to_string().contains(expected), "{error}");
        }
        let error = Package::from_bytes(b"#!/bin/sh\n").unwrap_err();
        assert!(matches!(error, PackageError::NotAPackage(_)), "{error}");
    }

    #[test]
    fn links_are_refused() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        builder
            .append_link(&mut header, MANIFEST, "/etc/passwd")
            .unwrap();
        let error = Package::from_bytes(&builder.into_inner().unwrap()).unwrap_err();
        assert!(error.to_string().contains("not a regular file"), "{error}");
    }

    #[test]
    fn oversized_entries_are_refused_before_they_are_read() {
        let big = vec![b' '; MANIFEST_LIMIT as usize + 1];
        let error = Package::from_bytes(&tar_of(&[(MANIFEST, &big)])).unwrap_err();
        assert!(
            matches!(
                error,
                PackageError::Oversized {
                    what: "manifest",
                    ..
                }
            ),
            "{error}"
        );
        let huge = vec![0u8; PACKAGE_LIMIT as usize + 1];
        assert!(matches!(
            Package::from_bytes(&huge),
            Err(PackageError::Oversized {
                what: "package",
                ..
            })
        ));
    }

    #[test]
    fn manifests_are_read_strictly() {
        let package = Package::new(manifest(), b"c".to_vec()).unwrap();
        let mut value: Value = serde_json::from_slice(&package.manifest_bytes).unwrap();
        value["surprise"] = Value::Bool(true);
        let bytes = serde_json::to_vec(&value).unwrap();
        let error =
            Package::from_bytes(&tar_of(&[(MANIFEST, &bytes), (COMPONENT, b"c")])).unwrap_err();
        assert!(
            matches!(error, PackageError::MalformedManifest(_)),
            "{error}"
        );
        assert!(error.to_string().contains("surprise"), "{error}");

        let mut bad = manifest();
        bad.version = "one".into();
        let error = Package::new(bad, b"c".to_vec()).unwrap_err();
        assert!(error.to_string().contains("not semver"), "{error}");
        let mut bad = manifest();
        bad.id = "../etc".into();
        assert!(Package::new(bad, b"c".to_vec()).is_err());
    }
}
