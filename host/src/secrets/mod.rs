//! Credentials at rest: AES-256-GCM with the host's master key.
//!
//! Every secret value is sealed on its own, with a fresh random 96-bit nonce,
//! and with associated data naming where it belongs (table, row and field).
//! A sealed value copied into another row or field therefore fails to open:
//! someone with write access to the database cannot move a token from one
//! integration to another.
//!
//! Sealed values are text: `v1:<key id>:<base64(nonce | ciphertext | tag)>`.
//! The key id (the first 8 hex digits of the key's SHA-256) tells which key
//! sealed a value, so a rotation can find what still needs re-sealing.
//!
//! The master key comes from `CUBE_MASTER_KEY` (32 bytes, base64 or hex), or
//! from `<data dir>/master.key`, created with mode 0600 on first run. A key
//! file readable by others is refused.

use std::fmt;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload, rand_core::RngCore};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The environment variable that carries the master key.
pub const MASTER_KEY_ENV: &str = "CUBE_MASTER_KEY";
/// The key file's name inside the data directory.
pub const MASTER_KEY_FILE: &str = "master.key";

const FORMAT: &str = "v1";
const NONCE_LEN: usize = 12;

/// Where a sealed value belongs; bound into the ciphertext.
#[derive(Clone, Copy, Debug)]
pub struct Slot<'a> {
    pub table: &'a str,
    pub row: &'a str,
    pub field: &'a str,
}

impl Slot<'_> {
    fn associated_data(&self) -> Vec<u8> {
        // Length-prefixed, so no choice of names can collide with another.
        let mut aad = Vec::from(&b"cube-secret/v1"[..]);
        for part in [self.table, self.row, self.field] {
            aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
        aad
    }
}

/// Why a value could not be opened, or a key not loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the stored secret is not in a format this host knows")]
    Malformed,
    #[error(
        "the stored secret was sealed with key {found}, but the current key is {current}; start the host with the key it was sealed with"
    )]
    WrongKey { found: String, current: String },
    #[error("the stored secret does not belong here or was altered (authentication failed)")]
    Tampered,
    #[error("{0}")]
    Key(String),
}

/// The master key, in memory only as long as the host runs; wiped on drop.
pub struct MasterKey {
    bytes: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({})", self.id())
    }
}

/// Where the master key came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    Environment,
    ExistingFile,
    CreatedFile,
}

impl MasterKey {
    /// A new random key.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(bytes.as_mut());
        Self { bytes }
    }

    /// Reads a key written as base64 or hex (64 digits).
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let decoded = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).ok()
        } else {
            BASE64.decode(text).ok()
        };
        let decoded = Zeroizing::new(decoded.unwrap_or_default());
        let bytes: [u8; 32] = decoded.as_slice().try_into().map_err(|_| {
            SecretError::Key(
                "the master key must be 32 bytes, written as base64 or 64 hex digits".into(),
            )
        })?;
        Ok(Self {
            bytes: Zeroizing::new(bytes),
        })
    }

    /// The key from `CUBE_MASTER_KEY`, else from the data directory's key
    /// file, which is created (mode 0600) when missing.
    pub fn load(data_dir: &Path) -> Result<(Self, KeySource), SecretError> {
        if let Ok(text) = std::env::var(MASTER_KEY_ENV) {
            return Ok((Self::parse(&text)?, KeySource::Environment));
        }
        let path = data_dir.join(MASTER_KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                check_private(&path)?;
                Ok((Self::parse(&text)?, KeySource::ExistingFile))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                write_private(&path, &key.encode()).map_err(|e| {
                    SecretError::Key(format!("cannot create {}: {e}", path.display()))
                })?;
                Ok((key, KeySource::CreatedFile))
            }
            Err(e) => Err(SecretError::Key(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    /// The key from `CUBE_MASTER_KEY` or the existing key file; never
    /// creates one (for commands that must use the key data was sealed with).
    pub fn load_existing(data_dir: &Path) -> Result<(Self, KeySource), SecretError> {
        if std::env::var_os(MASTER_KEY_ENV).is_some() || data_dir.join(MASTER_KEY_FILE).exists() {
            return Self::load(data_dir);
        }
        Err(SecretError::Key(format!(
            "no master key: set {MASTER_KEY_ENV} or put the key file at {}",
            data_dir.join(MASTER_KEY_FILE).display()
        )))
    }

    /// Writes the key to a new file readable by its owner only (mode 0600);
    /// refuses to replace an existing file.
    pub fn write_new_file(&self, path: &Path) -> std::io::Result<()> {
        write_private(path, &self.encode())
    }

    /// The key as base64, for writing it down.
    pub fn encode(&self) -> Zeroizing<String> {
        Zeroizing::new(BASE64.encode(self.bytes.as_ref()))
    }

    /// A short, non-secret name for the key.
    pub fn id(&self) -> String {
        hex::encode(&Sha256::digest(self.bytes.as_ref())[..4])
    }

    /// A key for another purpose, derived from this one (HMAC-SHA256 of
    /// `purpose`): it stays the same as long as the master key does, and
    /// tells nothing about it.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.bytes.as_ref())
            .expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// Seals and opens secret values with one master key.
pub struct Sealer {
    cipher: Aes256Gcm,
    key_id: String,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealer({})", self.key_id)
    }
}

impl Sealer {
    pub fn new(key: &MasterKey) -> Self {
        Self {
            cipher: Aes256Gcm::new(key.bytes.as_ref().into()),
            key_id: key.id(),
        }
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Seals `plaintext` for `slot`.
    pub fn seal(&self, plaintext: &[u8], slot: Slot<'_>) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let aad = slot.associated_data();
        let ciphertext = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .expect("AES-GCM encryption cannot fail for in-memory buffers");
        let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        format!("{FORMAT}:{}:{}", self.key_id, BASE64.encode(blob))
    }

    /// Opens a value sealed for `slot`.
    pub fn open(&self, sealed: &str, slot: Slot<'_>) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        let mut parts = sealed.splitn(3, ':');
        let (Some(FORMAT), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(SecretError::Malformed);
        };
        if key_id != self.key_id {
            return Err(SecretError::WrongKey {
                found: key_id.to_owned(),
                current: self.key_id.clone(),
            });
        }
        let blob = BASE64.decode(body).map_err(|_| SecretError::Malformed)?;
        if blob.len() < NONCE_LEN + 16 {
            return Err(SecretError::Malformed);
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let aad = slot.associated_data();
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SecretError::Tampered)
    }

    /// The key id a sealed value names, if it is well-formed.
    pub fn sealed_with(sealed: &str) -> Option<&str> {
        let mut parts = sealed.splitn(3, ':');
        match (parts.next(), parts.next()) {
            (Some(FORMAT), Some(id)) => Some(id),
            _ => None,
        }
    }
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), SecretError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| SecretError::Key(format!("cannot read {}: {e}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(SecretError::Key(format!(
            "{} is readable by other users (mode {:o}); run `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path) -> Result<(), SecretError> {
    Ok(())
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOT: Slot<'static> = Slot {
        table: "integrations",
        row: "7",
        field: "api_token",
    };

    #[test]
    fn sealed_values_open_in_their_slot_only() {
        let sealer = Sealer::new(&MasterKey::generate());
        let sealed = sealer.seal(b"tok-123", SLOT);
        assert!(sealed.starts_with(&format!("v1:{}:", sealer.key_id())));
        assert!(!sealed.contains("tok-123"));
        assert_eq!(sealer.open(&sealed, SLOT).unwrap().as_slice(), b"tok-123");

        let other_row = Slot { row: "8", ..SLOT };
        assert!(matches!(
            sealer.open(&sealed, other_row),
            Err(SecretError::Tampered)
        ));
        let other_field = Slot {
            field: "password",
            ..SLOT
        };
        assert!(matches!(
            sealer.open(&sealed, other_field),
            Err(SecretError::Tampered)
        ));
    }

    #[test]
    fn every_seal_uses_a_new_nonce() {
        let sealer = Sealer::new(&MasterKey::generate());
        assert_ne!(sealer.seal(b"same", SLOT), sealer.seal(b"same", SLOT));
    }

    #[test]
    fn altered_or_foreign_values_are_refused() {
        let sealer = Sealer::new(&MasterKey::generate());
        let sealed = sealer.seal(b"secret", SLOT);
        let (prefix, body) = sealed.rsplit_once(':').unwrap();
        let mut blob = BASE64.decode(body).unwrap();
        let last = blob.len() - 1;
        blob[last] ^= 0x01;
        let altered = format!("{prefix}:{}", BASE64.encode(&blob));
        assert!(matches!(
            sealer.open(&altered, SLOT),
            Err(SecretError::Tampered)
        ));

        let other = Sealer::new(&MasterKey::generate());
        let foreign = other.seal(b"secret", SLOT);
        assert!(matches!(
            sealer.open(&foreign, SLOT),
            Err(SecretError::WrongKey { .. })
        ));
        assert!(matches!(
            sealer.open("plaintext", SLOT),
            Err(SecretError::Malformed)
        ));
    }

    #[test]
    fn keys_parse_from_base64_and_hex() {
        let key = MasterKey::generate();
        let base64 = key.encode();
        assert_eq!(MasterKey::parse(&base64).unwrap().id(), key.id());
        let hex = hex::encode(key.bytes.as_ref());
        assert_eq!(MasterKey::parse(&hex).unwrap().id(), key.id());
        assert!(MasterKey::parse("c2hvcnQ=").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn the_key_file_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        // SAFETY of the test: no other test reads this variable.
        assert!(
            std::env::var(MASTER_KEY_ENV).is_err(),
            "unset {MASTER_KEY_ENV} to run this test"
        );
        let dir = tempfile::tempdir().unwrap();
        let (first, source) = MasterKey::load(dir.path()).unwrap();
        assert_eq!(source, KeySource::CreatedFile);
        let path = dir.path().join(MASTER_KEY_FILE);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let (second, source) = MasterKey::load(dir.path()).unwrap();
        assert_eq!(source, KeySource::ExistingFile);
        assert_eq!(first.id(), second.id());

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = MasterKey::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("readable by other users"), "{err}");
    }
}
