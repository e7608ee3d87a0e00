//! What a publisher signs, and checking it.
//!
//! The signed message is 64 bytes:
//!
//! ```text
//! message = SHA-256(manifest.json bytes) || SHA-256(connector.wasm bytes)
//! ```
//!
//! signed with ed25519 (RFC 8032, checked with `verify_strict`). It covers
//! the manifest exactly as stored (not a re-serialisation) and the component,
//! and nothing about the tar around them, so re-packing the same two files
//! keeps the signature valid while changing a single byte of either breaks
//! it. The manifest holds the component's digest too; the signature covers
//! the component directly anyway, so it never depends on that field being
//! checked first.
//!
//! The signature travels inside the package as `signature.json` (see
//! `docs/decisions/0018-package-signatures.md`):
//! `{"publisher", "key_id", "public_key", "signature"}`, the last two base64.
//! The public key is included so that validity can be checked without the
//! key being trusted (publishing to a registry does that); trust is decided
//! separately, by whether that exact key is in the host's trusted set.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::keys::{SecretKey, key_id};
use super::package::Package;

/// `signature.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureFile {
    pub publisher: String,
    pub key_id: String,
    /// The 32-byte ed25519 public key, base64.
    pub public_key: String,
    /// The 64-byte ed25519 signature of [`message`], base64.
    pub signature: String,
}

/// Who signed a package whose signature is valid.
#[derive(Debug, Clone)]
pub struct Signer {
    pub publisher: String,
    pub key_id: String,
    pub key: VerifyingKey,
}

/// The 64 bytes a publisher signs.
pub fn message(package: &Package) -> [u8; 64] {
    let mut message = [0u8; 64];
    message[..32].copy_from_slice(&package.manifest_digest());
    message[32..].copy_from_slice(&package.component_digest());
    message
}

/// Signs `package` with `key`, replacing any signature it had. The key must
/// belong to the publisher the manifest names.
pub fn sign(package: &mut Package, key: &SecretKey) -> Result<Signer, String> {
    if key.publisher != package.manifest.publisher {
        return Err(format!(
            "the key belongs to the publisher `{}` but the package's manifest names `{}`; sign with that publisher's key or pack with --publisher {}",
            key.publisher, package.manifest.publisher, key.publisher
        ));
    }
    let signature = key.signing.sign(&message(package));
    let public = key.signing.verifying_key();
    let file = SignatureFile {
        publisher: key.publisher.clone(),
        key_id: key_id(&public),
        public_key: BASE64.encode(public.as_bytes()),
        signature: BASE64.encode(signature.to_bytes()),
    };
    let mut bytes = serde_json::to_vec_pretty(&file).expect("a signature serialises");
    bytes.push(b'\n');
    package.signature = Some(bytes);
    Ok(Signer {
        publisher: file.publisher,
        key_id: file.key_id,
        key: public,
    })
}

/// Checks the package's signature: `Ok(None)` when it has none, the signer
/// when it is valid, why not otherwise. Says nothing about trust.
pub fn check(package: &Package) -> Result<Option<Signer>, String> {
    let Some(bytes) = &package.signature else {
        return Ok(None);
    };
    let file: SignatureFile =
        serde_json::from_slice(bytes).map_err(|e| format!("signature.json is malformed ({e})"))?;
    let public: [u8; 32] = BASE64
        .decode(&file.public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("signature.json's public_key is not 32 bytes of base64")?;
    let key = VerifyingKey::from_bytes(&public)
        .map_err(|_| "signature.json's public_key is not a valid ed25519 key")?;
    if key_id(&key) != file.key_id {
        return Err(format!(
            "signature.json names key {} but holds the public key {}",
            file.key_id,
            key_id(&key)
        ));
    }
    if file.publisher != package.manifest.publisher {
        return Err(format!(
            "it was signed as the publisher `{}` but the manifest names `{}`",
            file.publisher, package.manifest.publisher
        ));
    }
    let signature: [u8; 64] = BASE64
        .decode(&file.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("signature.json's signature is not 64 bytes of base64")?;
    key.verify_strict(&message(package), &Signature::from_bytes(&signature))
        .map_err(|_| {
            "the signature does not match the package's contents: manifest.json or connector.wasm was changed after signing".to_owned()
        })?;
    Ok(Some(Signer {
        publisher: file.publisher,
        key_id: file.key_id,
        key,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marketplace::package::{Capabilities, Manifest};

    fn package() -> Package {
        let manifest = Manifest {
            id: "demo".into(),
            name: "Demo".into(),
            version: "1.0.0".into(),
            publisher: "acme".into(),
            description: String::new(),
            capabilities: Capabilities::default(),
            config_schema: serde_json::json!({}),
            min_host_version: "0.1.0".into(),
            component_sha256: String::new(),
        };
        Package::new(manifest, b"component".to_vec()).unwrap()
    }

    #[test]
    fn a_signature_survives_a_round_trip_and_breaks_on_any_change() {
        let key = SecretKey::generate("acme");
        let mut package = package();
        assert!(check(&package).unwrap().is_none());
        let signer = sign(&mut package, &key).unwrap();
        let read = Package::from_bytes(&package.to_bytes()).unwrap();
        let checked = check(&read).unwrap().unwrap();
        assert_eq!(checked.key_id, signer.key_id);
        assert_eq!(checked.publisher, "acme");

        let mut component = read.clone();
        component.component[0] ^= 1;
        assert!(
            check(&component)
                .unwrap_err()
                .contains("changed after signing")
        );
        let mut manifest = read.clone();
        manifest.manifest_bytes.push(b' ');
        assert!(
            check(&manifest)
                .unwrap_err()
                .contains("changed after signing")
        );
    }

    #[test]
    fn the_signer_must_be_the_manifests_publisher() {
        let mut package = package();
        let error = sign(&mut package, &SecretKey::generate("other")).unwrap_err();
        assert!(error.contains("names `acme`"), "{error}");

        sign(&mut package, &SecretKey::generate("acme")).unwrap();
        let mut file: SignatureFile =
            serde_json::from_slice(package.signature.as_ref().unwrap()).unwrap();
        file.publisher = "other".into();
        package.signature = Some(serde_json::to_vec(&file).unwrap());
        assert!(
            check(&package)
                .unwrap_err()
                .contains("signed as the publisher")
        );
    }

    #[test]
    fn a_swapped_public_key_is_noticed() {
        let mut package = package();
        sign(&mut package, &SecretKey::generate("acme")).unwrap();
        let other = SecretKey::generate("acme").signing.verifying_key();
        let mut file: SignatureFile =
            serde_json::from_slice(package.signature.as_ref().unwrap()).unwrap();
        file.public_key = BASE64.encode(other.as_bytes());
        package.signature = Some(serde_json::to_vec(&file).unwrap());
        assert!(
            check(&package)
                .unwrap_err()
                .contains("holds the public key")
        );
        file.key_id = key_id(&other);
        package.signature = Some(serde_json::to_vec(&file).unwrap());
        assert!(
            check(&package)
                .unwrap_err()
                .contains("changed after signing")
        );
    }
}
