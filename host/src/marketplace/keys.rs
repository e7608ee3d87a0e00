//! Publisher keys (ed25519) as text files, and the host's trusted keys.
//!
//! Keys are files a person handles: they are short text with a header line
//! that says what they are, the publisher's name and the key id, so an admin
//! can tell a secret key from a public one at a glance and compare the id
//! read out by the publisher over a channel they trust. The key id is the
//! first 16 hex digits of the SHA-256 of the 32-byte public key.
//!
//! Trust is a directory of `.pub` files (`<data dir>/trusted-keys`): adding
//! or removing a publisher is copying or deleting one file, and the set is
//! visible with `ls`. The admin UI does the same: [`trust_text`] writes a
//! pasted `.pub` file's text under the name [`trust`] uses, [`untrust`]
//! deletes the files holding a key.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::package::is_publisher;

const SECRET_BEGIN: &str = "-----BEGIN CUBE PUBLISHER SECRET KEY-----";
const SECRET_END: &str = "-----END CUBE PUBLISHER SECRET KEY-----";
const PUBLIC_BEGIN: &str = "-----BEGIN CUBE PUBLISHER PUBLIC KEY-----";
const PUBLIC_END: &str = "-----END CUBE PUBLISHER PUBLIC KEY-----";

/// The directory of trusted keys inside a data directory.
pub const TRUSTED_DIR: &str = "trusted-keys";

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path} is not a CUBE publisher {kind} key: {why}")]
    Malformed {
        path: String,
        kind: &'static str,
        why: String,
    },
    #[error("cannot use {path}: {error}")]
    Io { path: String, error: std::io::Error },
}

/// The key id of a public key: the first 16 hex digits of its SHA-256.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))[..16].to_owned()
}

/// A publisher's secret key.
pub struct SecretKey {
    pub publisher: String,
    pub signing: SigningKey,
}

/// A publisher's public key.
#[derive(Clone, Debug)]
pub struct PublicKey {
    pub publisher: String,
    pub key: VerifyingKey,
}

impl PublicKey {
    pub fn key_id(&self) -> String {
        key_id(&self.key)
    }

    pub fn to_text(&self) -> String {
        format!(
            "{PUBLIC_BEGIN}\npublisher: {}\nkey-id: {}\npublic: {}\n{PUBLIC_END}\n",
            self.publisher,
            self.key_id(),
            BASE64.encode(self.key.as_bytes())
        )
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self, KeyError> {
        let fields = fields(text, PUBLIC_BEGIN, PUBLIC_END, "public", path)?;
        let malformed = |why: String| KeyError::Malformed {
            path: path.display().to_string(),
            kind: "public",
            why,
        };
        let bytes = decode_32(&fields.value).map_err(malformed)?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| malformed("the key is not a valid ed25519 point".into()))?;
        let public = Self {
            publisher: fields.publisher,
            key,
        };
        check_id(&fields.key_id, &public.key_id()).map_err(malformed)?;
        Ok(public)
    }

    pub fn read(path: &Path) -> Result<Self, KeyError> {
        Self::parse(&read_text(path)?, path)
    }
}

impl SecretKey {
    /// A new random key for `publisher`.
    pub fn generate(publisher: &str) -> Self {
        use aes_gcm::aead::{OsRng, rand_core::RngCore};
        let mut seed = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(seed.as_mut());
        Self {
            publisher: publisher.to_owned(),
            signing: SigningKey::from_bytes(&seed),
        }
    }

    pub fn public(&self) -> PublicKey {
        PublicKey {
            publisher: self.publisher.clone(),
            key: self.signing.verifying_key(),
        }
    }

    fn to_text(&self) -> Zeroizing<String> {
        let seed = Zeroizing::new(BASE64.encode(self.signing.as_bytes()));
        Zeroizing::new(format!(
            "{SECRET_BEGIN}\npublisher: {}\nkey-id: {}\nsecret: {}\n{SECRET_END}\n",
            self.publisher,
            self.public().key_id(),
            seed.as_str()
        ))
    }

    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let text = Zeroizing::new(read_text(path)?);
        let fields = fields(&text, SECRET_BEGIN, SECRET_END, "secret", path)?;
        let malformed = |why: String| KeyError::Malformed {
            path: path.display().to_string(),
            kind: "secret",
            why,
        };
        let seed = Zeroizing::new(decode_32(&fields.value).map_err(malformed)?);
        let secret = Self {
            publisher: fields.publisher,
            signing: SigningKey::from_bytes(&seed),
        };
        check_id(&fields.key_id, &secret.public().key_id()).map_err(malformed)?;
        Ok(secret)
    }

    /// Writes `NAME.key` (mode 0600) and `NAME.pub` into `dir`, refusing to
    /// overwrite either. Returns their paths.
    pub fn write_pair(&self, dir: &Path) -> Result<(PathBuf, PathBuf), KeyError> {
        let secret_path = dir.join(format!("{}.key", self.publisher));
        let public_path = dir.join(format!("{}.pub", self.publisher));
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |error| KeyError::Io { path, error }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        if public_path.exists() {
            return Err(KeyError::Io {
                path: public_path.display().to_string(),
                error: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "it exists; keys are never overwritten (move the old pair away first)",
                ),
            });
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&secret_path).map_err(|error| KeyError::Io {
            path: secret_path.display().to_string(),
            error: if error.kind() == std::io::ErrorKind::AlreadyExists {
                std::io::Error::new(
                    error.kind(),
                    "it exists; keys are never overwritten (move the old pair away first)",
                )
            } else {
                error
            },
        })?;
        use std::io::Write;
        file.write_all(self.to_text().as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io(&secret_path))?;
        std::fs::write(&public_path, self.public().to_text()).map_err(io(&public_path))?;
        Ok((secret_path, public_path))
    }
}

/// The publisher keys this host trusts.
#[derive(Clone, Debug, Default)]
pub struct TrustedKeys {
    keys: Vec<PublicKey>,
}

impl TrustedKeys {
    /// Reads every `*.pub` in `dir`; a missing directory trusts nobody. A
    /// file that is not a key is an error, not skipped: the admin put it
    /// there meaning to trust someone.
    pub fn load(dir: &Path) -> Result<Self, KeyError> {
        let paths = pub_files(dir)?;
        let keys = paths
            .iter()
            .map(|p| PublicKey::read(p))
            .collect::<Result<_, _>>()?;
        Ok(Self { keys })
    }

    pub fn from_keys(keys: Vec<PublicKey>) -> Self {
        Self { keys }
    }

    /// The trusted key with this id and these bytes.
    pub fn find(&self, key: &VerifyingKey) -> Option<&PublicKey> {
        self.keys.iter().find(|k| k.key == *key)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Adds a public key to `<data dir>/trusted-keys` as
/// `<publisher>-<key id>.pub`. Returns the key and where it was written.
pub fn trust(data_dir: &Path, file: &Path) -> Result<(PublicKey, PathBuf), KeyError> {
    write_trusted(data_dir, PublicKey::read(file)?)
}

/// What a pasted key is called in messages.
const PASTED: &str = "the pasted text";

/// [`trust`] for the text of a `.pub` file, as pasted into the admin UI:
/// the same checks (nothing is written unless it is a whole, consistent
/// public key) and the same file name.
pub fn trust_text(data_dir: &Path, text: &str) -> Result<(PublicKey, PathBuf), KeyError> {
    write_trusted(data_dir, parse_pasted(text)?)
}

/// A pasted public key, or why it is not one. A secret key is refused with
/// advice, and nothing of it is repeated.
pub fn parse_pasted(text: &str) -> Result<PublicKey, KeyError> {
    let malformed = |why: &str| KeyError::Malformed {
        path: PASTED.to_owned(),
        kind: "public",
        why: why.to_owned(),
    };
    if text.contains(SECRET_BEGIN) || text.contains("secret:") {
        return Err(malformed(
            "it is a SECRET key. Paste the publisher's .pub file instead; the .key file must never leave the publisher (if it has, they should make a new key pair)",
        ));
    }
    if text.trim().is_empty() {
        return Err(malformed(
            "it is empty; paste the whole .pub file, from its BEGIN line to its END line",
        ));
    }
    if text.len() > 4096 {
        return Err(malformed("it is far longer than a public key file"));
    }
    PublicKey::parse(text, Path::new(PASTED))
}

fn write_trusted(data_dir: &Path, key: PublicKey) -> Result<(PublicKey, PathBuf), KeyError> {
    let dir = data_dir.join(TRUSTED_DIR);
    std::fs::create_dir_all(&dir).map_err(|error| KeyError::Io {
        path: dir.display().to_string(),
        error,
    })?;
    let path = dir.join(format!("{}-{}.pub", key.publisher, key.key_id()));
    super::write_atomic(&path, key.to_text().as_bytes()).map_err(|error| KeyError::Io {
        path: path.display().to_string(),
        error,
    })?;
    Ok((key, path))
}

/// One `.pub` file of `<data dir>/trusted-keys`: the key it holds, or why
/// it is not one (which makes installs fail until it is fixed or removed).
#[derive(Debug)]
pub struct TrustedFile {
    pub path: PathBuf,
    pub key: Result<PublicKey, String>,
}

/// The `*.pub` files of `dir`, sorted by name; none when `dir` is missing.
fn pub_files(dir: &Path) -> Result<Vec<PathBuf>, KeyError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => {
            return Err(KeyError::Io {
                path: dir.display().to_string(),
                error,
            });
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "pub"))
        .collect();
    paths.sort();
    Ok(paths)
}

/// Every `.pub` file of `<data dir>/trusted-keys`, sorted by name, each
/// read on its own: unlike [`TrustedKeys::load`], a broken file is listed
/// with why rather than failing the others. A missing directory holds none.
pub fn trusted_files(data_dir: &Path) -> Result<Vec<TrustedFile>, KeyError> {
    let paths = pub_files(&data_dir.join(TRUSTED_DIR))?;
    Ok(paths
        .into_iter()
        .map(|path| TrustedFile {
            key: PublicKey::read(&path).map_err(|e| e.to_string()),
            path,
        })
        .collect())
}

/// Stops trusting the key `key_id`: deletes every `.pub` file of
/// `<data dir>/trusted-keys` that holds it (whatever the file is called).
/// Returns the keys removed, with their files; none when it was not
/// trusted. Installed connectors stay installed.
pub fn untrust(data_dir: &Path, key_id: &str) -> Result<Vec<(PublicKey, PathBuf)>, KeyError> {
    let mut removed = Vec::new();
    for file in trusted_files(data_dir)? {
        let Ok(key) = file.key else { continue };
        if key.key_id() != key_id {
            continue;
        }
        std::fs::remove_file(&file.path).map_err(|error| KeyError::Io {
            path: file.path.display().to_string(),
            error,
        })?;
        removed.push((key, file.path));
    }
    Ok(removed)
}

struct Fields {
    publisher: String,
    key_id: String,
    value: String,
}

fn read_text(path: &Path) -> Result<String, KeyError> {
    let io = |error| KeyError::Io {
        path: path.display().to_string(),
        error,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut text = String::new();
    use std::io::Read;
    file.take(4096).read_to_string(&mut text).map_err(io)?;
    Ok(text)
}

fn fields(
    text: &str,
    begin: &str,
    end: &str,
    kind: &'static str,
    path: &Path,
) -> Result<Fields, KeyError> {
    let malformed = |why: &str| KeyError::Malformed {
        path: path.display().to_string(),
        kind,
        why: why.to_owned(),
    };
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.first() != Some(&begin) {
        let hint = if kind == "secret" && lines.first() == Some(&PUBLIC_BEGIN) {
            "it is a public key; pass the .key file"
        } else if kind == "public" && lines.first() == Some(&SECRET_BEGIN) {
            "it is a SECRET key; pass the .pub file, and never hand out the .key file"
        } else {
            "it does not start with the header line `cube plugin keygen` writes"
        };
        return Err(malformed(hint));
    }
    if lines.last() != Some(&end) || lines.len() != 5 {
        return Err(malformed("it is incomplete or has extra lines"));
    }
    let field = |line: &str, name: &str| -> Result<String, KeyError> {
        line.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(|v| v.trim().to_owned())
            .ok_or_else(|| malformed(&format!("the line `{name}: ...` is missing")))
    };
    let publisher = field(lines[1], "publisher")?;
    if !is_publisher(&publisher) {
        return Err(malformed("the publisher name is not valid"));
    }
    Ok(Fields {
        publisher,
        key_id: field(lines[2], "key-id")?,
        value: field(lines[3], if kind == "secret" { "secret" } else { "public" })?,
    })
}

fn decode_32(text: &str) -> Result<[u8; 32], String> {
    let bytes = Zeroizing::new(
        BASE64
            .decode(text)
            .map_err(|_| "the key is not base64".to_owned())?,
    );
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| "the key is not 32 bytes".to_owned())
}

fn check_id(written: &str, computed: &str) -> Result<(), String> {
    if written == computed {
        Ok(())
    } else {
        Err(format!(
            "its key-id line says {written} but the key's id is {computed} (the file was edited or damaged)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_is_written_read_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let secret = SecretKey::generate("acme");
        let (key_path, pub_path) = secret.write_pair(dir.path()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let read = SecretKey::read(&key_path).unwrap();
        assert_eq!(read.signing.as_bytes(), secret.signing.as_bytes());
        let public = PublicKey::read(&pub_path).unwrap();
        assert_eq!(public.key, secret.signing.verifying_key());
        assert_eq!(public.key_id().len(), 16);
        assert!(
            std::fs::read_to_string(&pub_path)
                .unwrap()
                .contains(&format!("key-id: {}", public.key_id()))
        );
        assert!(SecretKey::generate("acme").write_pair(dir.path()).is_err());

        let wrong = SecretKey::read(&pub_path).err().unwrap().to_string();
        assert!(wrong.contains("it is a public key"), "{wrong}");
        let wrong = PublicKey::read(&key_path).err().unwrap().to_string();
        assert!(wrong.contains("SECRET"), "{wrong}");
    }

    #[test]
    fn an_edited_key_id_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let (_, pub_path) = SecretKey::generate("acme").write_pair(dir.path()).unwrap();
        let text = std::fs::read_to_string(&pub_path).unwrap();
        let edited = text.replace("key-id: ", "key-id: 0");
        let error = PublicKey::parse(&edited, &pub_path).unwrap_err();
        assert!(error.to_string().contains("edited or damaged"), "{error}");
    }

    #[test]
    fn trusted_keys_come_from_a_directory() {
        let data = tempfile::tempdir().unwrap();
        assert!(
            TrustedKeys::load(&data.path().join(TRUSTED_DIR))
                .unwrap()
                .is_empty()
        );
        let keys = tempfile::tempdir().unwrap();
        let secret = SecretKey::generate("acme");
        let (_, pub_path) = secret.write_pair(keys.path()).unwrap();
        let (key, path) = trust(data.path(), &pub_path).unwrap();
        assert!(
            path.ends_with(format!("trusted-keys/acme-{}.pub", key.key_id())),
            "{}",
            path.display()
        );
        let trusted = TrustedKeys::load(&data.path().join(TRUSTED_DIR)).unwrap();
        assert!(trusted.find(&secret.signing.verifying_key()).is_some());
        assert!(
            trusted
                .find(&SecretKey::generate("acme").signing.verifying_key())
                .is_none()
        );
    }

    #[test]
    fn pasted_keys_are_trusted_and_untrusted_by_id() {
        let data = tempfile::tempdir().unwrap();
        let secret = SecretKey::generate("acme");
        let public = secret.public();
        // With a Windows line ending and blank lines around, as pasted.
        let pasted = format!("\r\n{}\r\n", public.to_text().replace('\n', "\r\n"));
        let (key, path) = trust_text(data.path(), &pasted).unwrap();
        assert_eq!(key.key_id(), public.key_id());
        assert!(path.ends_with(format!("trusted-keys/acme-{}.pub", key.key_id())));
        let files = trusted_files(data.path()).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].key.as_ref().unwrap().key_id(), key.key_id());

        // Anything else is refused, and nothing is written.
        let secret_text = secret.to_text();
        for (text, expected) in [
            ("", "it is empty"),
            ("hello", "does not start with the header line"),
            (secret_text.as_str(), "it is a SECRET key"),
            (
                &public.to_text().replace("key-id: ", "key-id: 0"),
                "edited or damaged",
            ),
        ] {
            let other = tempfile::tempdir().unwrap();
            let error = trust_text(other.path(), text).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
            assert!(error.starts_with("the pasted text is not"), "{error}");
            assert!(!error.contains(secret_text.lines().nth(3).unwrap()));
            assert!(!other.path().join(TRUSTED_DIR).exists());
        }

        assert!(untrust(data.path(), "0000000000000000").unwrap().is_empty());
        let removed = untrust(data.path(), &key.key_id()).unwrap();
        assert_eq!(removed.len(), 1);
        assert!(!path.exists());
        assert!(trusted_files(data.path()).unwrap().is_empty());
    }
}
