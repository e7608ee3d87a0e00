//! Where packages come from: a registry directory, the same registry served
//! by any web server, or one package at a URL.
//!
//! An HTTP registry is a directory that `cube plugin publish` wrote, served
//! as static files: `<base>/index.json` and `<base>/<file>` for each entry.
//! Nothing about it is trusted. The index is a list; each package's bytes
//! must have the SHA-256 the index gives, and then the package is verified
//! like any other (signature, trust, contents). Plain `http://` therefore
//! cannot slip in other code, only withhold it; `https://` is still what
//! to use.
//!
//! Downloads are bounded (the package limit, a timeout, five redirects),
//! keep to the host's address policy ([`crate::net`]: no loopback, private
//! or metadata address unless the admin named the host) and can be kept in a cache directory named by content digest, so listing a
//! registry does not download every package every time.

use std::fmt;
use std::path::{Path, PathBuf};

use url::Url;

use crate::net::GuardedClient;

use super::package::PackageError;
use super::package::{PACKAGE_LIMIT, read_limited};
use super::registry::{self, Entry, INDEX, Index, RegistryError};
use super::verify::VerifyError;

/// `<data dir>/registry-cache`: downloaded packages, by digest.
pub const CACHE_DIR: &str = "registry-cache";

/// The most an `index.json` may weigh.
const INDEX_LIMIT: u64 = 8 << 20;
/// How long one download may take (the downloads client's timeout).
use crate::net::DOWNLOAD_TIMEOUT as TIMEOUT;

/// A registry: a local directory, or a base URL serving one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrySource {
    Dir(PathBuf),
    Http(Url),
}

impl RegistrySource {
    /// `http://` and `https://` are URLs (a trailing `/` is added, so
    /// `https://example.com/cube` holds `https://example.com/cube/index.json`);
    /// anything else is a directory.
    pub fn parse(text: &str) -> Result<Self, String> {
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            let mut url =
                Url::parse(text).map_err(|e| format!("`{text}` is not a usable URL: {e}"))?;
            if url.query().is_some() || url.fragment().is_some() {
                return Err(format!(
                    "a registry URL names a folder; `{text}` has a query or fragment"
                ));
            }
            if !url.path().ends_with('/') {
                let path = format!("{}/", url.path());
                url.set_path(&path);
            }
            Ok(RegistrySource::Http(url))
        } else if lower.contains("://") {
            Err(format!(
                "`{text}` is neither a directory nor an http(s) URL"
            ))
        } else {
            Ok(RegistrySource::Dir(PathBuf::from(text)))
        }
    }

    /// The registry's index; `None` when it has none (nothing published).
    /// An HTTP registry is read with `client`.
    pub async fn index(&self, client: &GuardedClient) -> Result<Option<Index>, RegistryError> {
        match self {
            RegistrySource::Dir(dir) => {
                let dir = dir.clone();
                blocking(move || Index::read(&dir)).await
            }
            RegistrySource::Http(base) => {
                let url = join(base, INDEX)?;
                let Some(bytes) = download(client, &url, INDEX_LIMIT, true).await? else {
                    return Ok(None);
                };
                let index: Index = serde_json::from_slice(&bytes).map_err(|e| {
                    RegistryError::NotARegistry(
                        self.to_string(),
                        format!("its {INDEX} is not a registry index: {e}"),
                    )
                })?;
                Ok(Some(index))
            }
        }
    }

    /// Finds `id` (at `version`, or its highest) and returns its entry and
    /// the package's bytes, checked against the index's digest. Downloads
    /// are kept in `cache` (by digest) when given.
    pub async fn fetch(
        &self,
        client: &GuardedClient,
        id: &str,
        version: Option<&str>,
        cache: Option<&Path>,
    ) -> Result<(Entry, Vec<u8>), RegistryError> {
        match self {
            RegistrySource::Dir(dir) => {
                let (dir, id, version) = (dir.clone(), id.to_owned(), version.map(str::to_owned));
                blocking(move || registry::fetch(&dir, &id, version.as_deref())).await
            }
            RegistrySource::Http(base) => {
                let index = self.index(client).await?.ok_or_else(|| {
                    RegistryError::NotARegistry(self.to_string(), format!("it has no {INDEX}"))
                })?;
                let entry = index.find(id, version)?.clone();
                let bytes = self.package(client, base, &entry, cache).await?;
                Ok((entry, bytes))
            }
        }
    }

    /// The bytes of `entry`'s file, from the cache or downloaded.
    async fn package(
        &self,
        client: &GuardedClient,
        base: &Url,
        entry: &Entry,
        cache: Option<&Path>,
    ) -> Result<Vec<u8>, RegistryError> {
        if entry.file.contains(['/', '\\', '?', '#']) || entry.file.contains("..") {
            return Err(RegistryError::NotARegistry(
                self.to_string(),
                format!(
                    "its index names the file {:?}, outside the registry",
                    entry.file
                ),
            ));
        }
        let cached = cache.map(|dir| dir.join(format!("{}.cubepkg", entry.sha256)));
        if let Some(path) = &cached
            && let Ok(bytes) = read_limited(path)
            && super::sha256_hex(&bytes) == entry.sha256
        {
            return Ok(bytes);
        }
        let url = join(base, &entry.file)?;
        let bytes = download(client, &url, PACKAGE_LIMIT, false)
            .await?
            .expect("a 404 is an error when not allowed");
        let actual = super::sha256_hex(&bytes);
        if actual != entry.sha256 {
            return Err(RegistryError::FileMismatch {
                file: entry.file.clone(),
                expected: entry.sha256.clone(),
                actual,
            });
        }
        if let Some(path) = cached {
            // A cache that cannot be written only costs a download later.
            let _ = path
                .parent()
                .map(std::fs::create_dir_all)
                .transpose()
                .and_then(|_| super::write_atomic(&path, &bytes));
        }
        Ok(bytes)
    }
}

impl fmt::Display for RegistrySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistrySource::Dir(dir) => write!(f, "{}", dir.display()),
            RegistrySource::Http(url) => write!(f, "{url}"),
        }
    }
}

impl std::str::FromStr for RegistrySource {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        RegistrySource::parse(text)
    }
}

/// One package at `url` (install from a URL), up to the package limit.
pub async fn download_package(client: &GuardedClient, url: &str) -> Result<Vec<u8>, RegistryError> {
    let parsed = Url::parse(url).map_err(|e| RegistryError::Download {
        url: url.to_owned(),
        why: format!("not a URL: {e}"),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(RegistryError::Download {
            url: url.to_owned(),
            why: "only http and https URLs can be downloaded".into(),
        });
    }
    Ok(download(client, &parsed, PACKAGE_LIMIT, false)
        .await?
        .expect("a 404 is an error when not allowed"))
}

fn join(base: &Url, file: &str) -> Result<Url, RegistryError> {
    base.join(file).map_err(|e| RegistryError::Download {
        url: format!("{base}{file}"),
        why: e.to_string(),
    })
}

/// GETs `url`, reading at most `limit` bytes. A 404 is `None` when
/// `missing_ok`, an error otherwise.
async fn download(
    client: &GuardedClient,
    url: &Url,
    limit: u64,
    missing_ok: bool,
) -> Result<Option<Vec<u8>>, RegistryError> {
    let failed = |why: String| RegistryError::Download {
        url: url.to_string(),
        why,
    };
    let mut response = client
        .request(reqwest::Method::GET, url)
        .map_err(|denied| failed(denied.to_string()))?
        .send()
        .await
        .map_err(|e| failed(describe(&e)))?;
    let status = response.status();
    if status == reqwest::StatusCode::NOT_FOUND && missing_ok {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(failed(format!("the server answered {status}")));
    }
    if response.content_length().is_some_and(|len| len > limit) {
        return Err(too_large(response.content_length().unwrap_or(0), limit));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| failed(describe(&e)))? {
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(too_large((bytes.len() + chunk.len()) as u64, limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Some(bytes))
}

fn too_large(size: u64, limit: u64) -> RegistryError {
    RegistryError::Verify(VerifyError::Package(PackageError::Oversized {
        what: "download",
        size,
        limit,
    }))
}

/// The innermost cause, which is the one that says what went wrong.
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return format!("no answer within {} s", TIMEOUT.as_secs());
    }
    let mut source: Option<&dyn std::error::Error> = Some(error);
    let mut last = error.to_string();
    while let Some(e) = source {
        last = e.to_string();
        source = e.source();
    }
    last
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, RegistryError> + Send + 'static,
) -> Result<T, RegistryError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| RegistryError::Io {
            path: "registry".into(),
            error: std::io::Error::other(format!("reading the registry panicked: {e}")),
        })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_directories_are_told_apart() {
        assert_eq!(
            RegistrySource::parse("https://example.com/cube").unwrap(),
            RegistrySource::Http(Url::parse("https://example.com/cube/").unwrap())
        );
        assert_eq!(
            RegistrySource::parse("HTTP://example.com/")
                .unwrap()
                .to_string(),
            "http://example.com/"
        );
        assert_eq!(
            RegistrySource::parse("/srv/registry").unwrap(),
            RegistrySource::Dir(PathBuf::from("/srv/registry"))
        );
        assert!(RegistrySource::parse("ftp://example.com/").is_err());
        assert!(RegistrySource::parse("https://example.com/r?x=1").is_err());
    }
}
