//! Every check a package passes before anything of it is installed.
//!
//! A package makes claims (what it is, what it may reach, who vouches for
//! it); each claim is checked against the bytes, cheapest first, and the
//! first that fails is the answer, as an error that says what is wrong and
//! what the admin can do about it. The component is not compiled or run
//! until its signature and trust have passed (or the admin allowed an
//! untrusted package), and then only in the sandbox, for its `info()`.

use std::collections::BTreeSet;

use crate::plugin::inspect;
use crate::runtime::types::ConnectorInfo;
use crate::runtime::{LoadError, REQUIRED_EXPORTS, Runtime};

use super::keys::TrustedKeys;
use super::package::{Package, PackageError};
use super::signature::{self, Signer};

/// This host's version, which `min_host_version` is compared with.
pub const HOST_VERSION: &str = env!("CARGO_PKG_VERSION");

/// How much trust a package needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Signed by a trusted key (installing).
    RequireTrusted,
    /// Signed validly, by anyone (publishing to a registry).
    RequireSigned,
    /// Unsigned or untrusted packages pass; a signature that is present must
    /// still be valid (`--allow-untrusted`).
    AllowUntrusted,
}

/// Who vouches for a package that passed.
#[derive(Clone, Debug)]
pub enum Trust {
    Trusted(Signer),
    Untrusted(Signer),
    Unsigned,
}

impl Trust {
    pub fn is_trusted(&self) -> bool {
        matches!(self, Trust::Trusted(_))
    }

    pub fn signer(&self) -> Option<&Signer> {
        match self {
            Trust::Trusted(s) | Trust::Untrusted(s) => Some(s),
            Trust::Unsigned => None,
        }
    }
}

/// A package that passed every check.
pub struct Verified {
    pub package: Package,
    pub trust: Trust,
    pub info: ConnectorInfo,
    pub imports: Vec<String>,
}

/// Why a package was refused. Each case is one kind of problem.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Package(#[from] PackageError),
    #[error(
        "the package was altered: connector.wasm has the SHA-256 {actual}, but manifest.json says {expected}. Do not install it; get a fresh copy from the publisher"
    )]
    Tampered { expected: String, actual: String },
    #[error(
        "the package's signature is invalid: {0}. Do not install it; get a fresh copy from the publisher"
    )]
    SignatureInvalid(String),
    #[error(
        "the package is not signed. Ask the publisher for a signed package (`cube plugin sign`), or, if you have checked it yourself, install it with --allow-untrusted"
    )]
    Unsigned,
    #[error(
        "the package is signed by `{publisher}` with key {key_id}, which this host does not trust. If you trust that publisher, get their .pub file from them through a channel you trust, check that its key id is {key_id}, and run `cube plugin trust FILE.pub`; or install with --allow-untrusted"
    )]
    Untrusted { publisher: String, key_id: String },
    #[error(
        "the package needs CUBE {required} or later, and this host is {host}. Upgrade the host, or install an older version of the connector"
    )]
    HostTooOld { required: String, host: String },
    #[error(
        "connector.wasm is not a connector component: {0}. The publisher must build it with `cube plugin build` and pack again"
    )]
    NotAComponent(LoadError),
    #[error(
        "connector.wasm does not implement the {world} world: {0}. The publisher must build it against this host's wit/ and pack again",
        world = crate::runtime::WORLD
    )]
    WrongWorld(String),
    #[error(
        "the component imports more than its manifest declares: {}. A connector may only use what its manifest says, so an admin knows what they grant; the publisher must declare it or stop importing it",
        .0.join("; ")
    )]
    UndeclaredImports(Vec<String>),
    #[error("the component's info() call failed: {0}")]
    InfoFailed(String),
    #[error(
        "manifest.json says the {field} is {manifest}, but the component's info() says {component}: the manifest was not made from this component. The publisher must pack again with `cube plugin pack`"
    )]
    InfoMismatch {
        field: &'static str,
        manifest: String,
        component: String,
    },
    #[error("cannot start the sandbox to check the component: {0}")]
    Sandbox(String),
}

/// Reads and checks a package under `policy`, with `trusted` as the keys
/// this host trusts.
pub async fn verify_bytes(
    bytes: &[u8],
    trusted: &TrustedKeys,
    policy: Policy,
) -> Result<Verified, VerifyError> {
    verify(Package::from_bytes(bytes)?, trusted, policy).await
}

/// Checks a package under `policy`, with `trusted` as the keys this host
/// trusts.
pub async fn verify(
    package: Package,
    trusted: &TrustedKeys,
    policy: Policy,
) -> Result<Verified, VerifyError> {
    let manifest = &package.manifest;
    let actual = super::sha256_hex(&package.component);
    if actual != manifest.component_sha256 {
        return Err(VerifyError::Tampered {
            expected: manifest.component_sha256.clone(),
            actual,
        });
    }
    let trust = match signature::check(&package).map_err(VerifyError::SignatureInvalid)? {
        None => Trust::Unsigned,
        Some(signer) => match trusted.find(&signer.key) {
            Some(key) if key.publisher == signer.publisher => Trust::Trusted(signer),
            _ => Trust::Untrusted(signer),
        },
    };
    match (&trust, policy) {
        (Trust::Unsigned, Policy::RequireTrusted | Policy::RequireSigned) => {
            return Err(VerifyError::Unsigned);
        }
        (Trust::Untrusted(signer), Policy::RequireTrusted) => {
            return Err(VerifyError::Untrusted {
                publisher: signer.publisher.clone(),
                key_id: signer.key_id.clone(),
            });
        }
        _ => {}
    }
    check_host_version(&manifest.min_host_version)?;

    let shape = inspect::shape(&package.component).map_err(|e| match e {
        LoadError::WrongWorld(why) => VerifyError::WrongWorld(why),
        other => VerifyError::NotAComponent(other),
    })?;
    let missing: Vec<&str> = REQUIRED_EXPORTS
        .iter()
        .copied()
        .filter(|name| !shape.exports.iter().any(|e| e == name))
        .collect();
    if !missing.is_empty() {
        return Err(VerifyError::WrongWorld(format!(
            "it does not export {}",
            missing.join(", ")
        )));
    }
    let undeclared = undeclared_imports(&shape.imports, &manifest.capabilities);
    if !undeclared.is_empty() {
        return Err(VerifyError::UndeclaredImports(undeclared));
    }

    let runtime = Runtime::builder()
        .pooling(false)
        .build()
        .map_err(|e| VerifyError::Sandbox(format!("{e:#}")))?;
    let connector = runtime.load(&package.component).map_err(|e| match e {
        LoadError::WrongWorld(why) => VerifyError::WrongWorld(why),
        other => VerifyError::NotAComponent(other),
    })?;
    let info = connector
        .info(&runtime.context("verify"))
        .await
        .result
        .map_err(|e| VerifyError::InfoFailed(e.to_string()))?;
    compare_info(manifest, &info)?;
    Ok(Verified {
        package,
        trust,
        info,
        imports: shape.imports,
    })
}

fn check_host_version(required: &str) -> Result<(), VerifyError> {
    let too_old = || VerifyError::HostTooOld {
        required: required.to_owned(),
        host: HOST_VERSION.to_owned(),
    };
    let required_version = semver::Version::parse(required).map_err(|_| too_old())?;
    let host = semver::Version::parse(HOST_VERSION).expect("the host's version is semver");
    if required_version > host {
        return Err(too_old());
    }
    Ok(())
}

/// The imports the manifest's capabilities do not cover, each with why:
/// `http` needs an http capability, `ldap` an ldap one; `types`, `log`,
/// `state` and WASI 0.2 (linked with nothing granted) need none; anything
/// else is not provided by this host.
pub fn undeclared_imports(
    imports: &[String],
    capabilities: &super::package::Capabilities,
) -> Vec<String> {
    imports
        .iter()
        .filter_map(|import| {
            let interface = import
                .strip_prefix("cube:connector/")
                .and_then(|rest| rest.strip_suffix_version("0.1."));
            match interface {
                Some("http") if capabilities.http.is_empty() => Some(format!(
                    "it imports {import} but the manifest declares no http capability"
                )),
                Some("ldap") if capabilities.ldap.is_empty() => Some(format!(
                    "it imports {import} but the manifest declares no ldap capability"
                )),
                Some("http" | "ldap" | "types" | "log" | "state") => None,
                _ if import.starts_with("wasi:") && import.contains("@0.2.") => None,
                _ => Some(format!(
                    "it imports {import}, an interface this host does not provide"
                )),
            }
        })
        .collect()
}

trait StripVersion {
    fn strip_suffix_version(&self, prefix: &str) -> Option<&str>;
}

impl StripVersion for str {
    /// `http@0.1.3` with prefix `0.1.` gives `http`.
    fn strip_suffix_version(&self, prefix: &str) -> Option<&str> {
        let (name, version) = self.split_once('@')?;
        version.starts_with(prefix).then_some(name)
    }
}

fn compare_info(
    manifest: &super::package::Manifest,
    info: &ConnectorInfo,
) -> Result<(), VerifyError> {
    let mismatch = |field, manifest: String, component: String| {
        Err(VerifyError::InfoMismatch {
            field,
            manifest,
            component,
        })
    };
    if manifest.id != info.id {
        return mismatch("id", quoted(&manifest.id), quoted(&info.id));
    }
    if manifest.version != info.version {
        return mismatch("version", quoted(&manifest.version), quoted(&info.version));
    }
    let set = |items: &[String]| items.iter().cloned().collect::<BTreeSet<_>>();
    let list = |items: &[String]| {
        if items.is_empty() {
            "nothing".to_owned()
        } else {
            items.join(", ")
        }
    };
    if set(&manifest.capabilities.http) != set(&info.capabilities.http) {
        return mismatch(
            "http capability",
            list(&manifest.capabilities.http),
            list(&info.capabilities.http),
        );
    }
    if set(&manifest.capabilities.ldap) != set(&info.capabilities.ldap) {
        return mismatch(
            "ldap capability",
            list(&manifest.capabilities.ldap),
            list(&info.capabilities.ldap),
        );
    }
    Ok(())
}

fn quoted(text: &str) -> String {
    format!("`{text}`")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marketplace::package::Capabilities;

    #[test]
    fn imports_must_be_covered_by_capabilities() {
        let imports: Vec<String> = [
            "cube:connector/types@0.1.0",
            "cube:connector/http@0.1.0",
            "cube:connector/ldap@0.1.0",
            "cube:connector/log@0.1.0",
            "wasi:cli/environment@0.2.3",
        ]
        .map(String::from)
        .to_vec();
        let http_only = Capabilities {
            http: vec!["https://*".into()],
            ldap: vec![],
        };
        let found = undeclared_imports(&imports, &http_only);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("no ldap capability"), "{found:?}");

        let both = Capabilities {
            http: vec!["https://*".into()],
            ldap: vec!["ldaps://*".into()],
        };
        assert!(undeclared_imports(&imports, &both).is_empty());
        let none = undeclared_imports(&imports, &Capabilities::default());
        assert_eq!(none.len(), 2, "{none:?}");

        let foreign = [
            "acme:evil/backdoor".to_owned(),
            "cube:connector/files@0.1.0".to_owned(),
            "cube:connector/http@0.2.0".to_owned(),
        ];
        let found = undeclared_imports(&foreign, &both);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found.iter().all(|f| f.contains("does not provide")));
    }

    #[test]
    fn the_host_version_is_a_floor() {
        assert!(check_host_version("0.0.1").is_ok());
        assert!(check_host_version(HOST_VERSION).is_ok());
        let error = check_host_version("999.0.0").unwrap_err();
        assert!(matches!(error, VerifyError::HostTooOld { .. }));
        assert!(error.to_string().contains("needs CUBE 999.0.0"), "{error}");
    }
}
