//! `cube plugin keygen|pack|sign|verify|publish|trust|install|rollback|uninstall`:
//! connector packages from the publisher's desk to an admin's host, and
//! their life there.
//!
//! Exit codes as for the rest of the CLI: 0 done; 1 the package was refused
//! (a check failed: the message says which and what to do); 2 the input was
//! unusable (a missing file, a bad key file, wrong arguments).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::Value;

use crate::marketplace::install::{self, InstallError};
use crate::marketplace::keys::{self, SecretKey};
use crate::marketplace::lifecycle::{self, LifecycleError};
use crate::marketplace::ownership::{self, Bundled, CapabilityDiff, Impact};
use crate::marketplace::package::{Capabilities, Manifest, Package, PackageError};
use crate::marketplace::registry::{self, RegistryError};
use crate::marketplace::signature;
use crate::marketplace::source::{self, RegistrySource};
use crate::marketplace::verify::{self, HOST_VERSION, Policy, Trust, Verified, VerifyError};
use crate::plugin::build;
use crate::runtime::Runtime;
use crate::store::Store;

#[derive(Args)]
pub struct KeygenArgs {
    /// The directory to write NAME.key and NAME.pub into.
    #[arg(long)]
    out: PathBuf,
    /// The publisher's name (letters, digits, `.`, `-`, `_`).
    #[arg(long)]
    publisher: String,
}

#[derive(Args)]
pub struct PackArgs {
    /// A connector crate to build and pack (default: the current
    /// directory, unless --component is given).
    crate_dir: Option<PathBuf>,
    /// The component to pack.
    #[arg(long, conflicts_with = "crate_dir")]
    component: Option<PathBuf>,
    /// The manifest to pack; by default it is made from the component's
    /// info() and --publisher. Its component_sha256 is always recomputed.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// The publisher (required without --manifest).
    #[arg(long)]
    publisher: Option<String>,
    /// The oldest host the package may be installed on (default: this one).
    #[arg(long)]
    min_host_version: Option<String>,
    /// The package file to write, or a directory for `<id>-<version>.cubepkg`
    /// (default: that name in the current directory).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
pub struct SignArgs {
    package: PathBuf,
    /// The publisher's secret key (NAME.key).
    #[arg(long)]
    key: PathBuf,
}

#[derive(Args)]
pub struct VerifyArgs {
    package: PathBuf,
    /// A directory of trusted `.pub` keys (default: <data dir>/trusted-keys).
    #[arg(long)]
    trusted: Option<PathBuf>,
    #[arg(long, env = "CUBE_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Check everything but trust: unsigned or untrusted packages pass.
    #[arg(long)]
    allow_untrusted: bool,
}

#[derive(Args)]
pub struct PublishArgs {
    package: PathBuf,
    /// The registry directory.
    #[arg(long)]
    registry: PathBuf,
}

#[derive(Args)]
pub struct TrustArgs {
    /// A publisher's public key (NAME.pub).
    key: PathBuf,
    #[arg(long, env = "CUBE_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
}

#[derive(Args)]
pub struct InstallArgs {
    /// ID[@VERSION] with --registry, or a package file, or a package's
    /// http(s) URL.
    target: String,
    /// The registry to install from: a directory, or the URL of one served
    /// over http(s).
    #[arg(long)]
    registry: Option<RegistrySource>,
    #[arg(long, env = "CUBE_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Install an unsigned package, or one signed by a key this host does
    /// not trust; the install is marked untrusted.
    #[arg(long)]
    allow_untrusted: bool,
    /// Upgrade to a version that asks for capabilities the installed
    /// version does not (integrations are granted none of them).
    #[arg(long)]
    approve_capabilities: bool,
    /// Replace the connector of the same id bundled with the server (as
    /// it recorded at its last start): the package receives the secrets of
    /// every integration that uses it. Audited.
    #[arg(long)]
    replace_bundled: bool,
    /// Make a version older than the current one current.
    #[arg(long)]
    allow_downgrade: bool,
    #[command(flatten)]
    network: super::network::NetworkArgs,
}

#[derive(Args)]
pub struct RollbackArgs {
    /// The connector id.
    id: String,
    #[arg(long, env = "CUBE_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
}

#[derive(Args)]
pub struct UninstallArgs {
    /// The connector id.
    id: String,
    /// Disable the integrations that use the connector (otherwise they
    /// refuse the uninstall).
    #[arg(long)]
    disable_integrations: bool,
    #[arg(long, env = "CUBE_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    #[arg(long, env = "CUBE_DATABASE_URL")]
    database_url: Option<String>,
}

fn is_url(target: &str) -> bool {
    let lower = target.to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// A refusal: printed, exit code 1.
fn refused(error: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(1)
}

/// Unreadable files are unusable input (exit 2); anything else about a
/// package is a refusal (exit 1).
fn package_refusal(error: VerifyError) -> anyhow::Result<ExitCode> {
    match error {
        VerifyError::Package(PackageError::Io { path, error }) => {
            bail!("cannot read {path}: {error}")
        }
        other => Ok(refused(other)),
    }
}

pub fn keygen(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    if !crate::marketplace::package::is_publisher(&args.publisher) {
        bail!(
            "`{}` is not a publisher name: use letters, digits, `.`, `-` and `_`",
            args.publisher
        );
    }
    let key = SecretKey::generate(&args.publisher);
    let (secret, public) = key.write_pair(&args.out)?;
    println!("secret key: {} (keep it private)", secret.display());
    println!("public key: {} (give it to admins)", public.display());
    println!("key id:     {}", key.public().key_id());
    Ok(ExitCode::SUCCESS)
}

pub async fn pack(args: PackArgs) -> anyhow::Result<ExitCode> {
    let component = match (&args.component, &args.crate_dir) {
        (Some(path), _) => read(path)?,
        (None, Some(dir)) => build_crate(dir.clone()).await?,
        (None, None) => build_crate(PathBuf::from(".")).await?,
    };
    let mut manifest = match &args.manifest {
        Some(path) => {
            let mut value: Value = serde_json::from_slice(&read(path)?)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            if let Some(object) = value.as_object_mut() {
                object.insert("component_sha256".into(), Value::String(String::new()));
            }
            serde_json::from_value::<Manifest>(value)
                .with_context(|| format!("{} is not a package manifest", path.display()))?
        }
        None => {
            let publisher = args
                .publisher
                .clone()
                .context("pass --publisher NAME (or a --manifest)")?;
            manifest_from_info(&component, publisher).await?
        }
    };
    if let Some(publisher) = &args.publisher {
        manifest.publisher = publisher.clone();
    }
    if let Some(min) = &args.min_host_version {
        manifest.min_host_version = min.clone();
    }
    let package = Package::new(manifest, component)?;
    let out = match &args.out {
        Some(path) if path.is_dir() => path.join(package.manifest.file_name()),
        Some(path) => path.clone(),
        None => PathBuf::from(package.manifest.file_name()),
    };
    crate::marketplace::write_atomic(&out, &package.to_bytes())
        .with_context(|| format!("cannot write {}", out.display()))?;
    let m = &package.manifest;
    println!(
        "packed {} {} ({}) -> {} (unsigned; sign it with `cube plugin sign`)",
        m.id,
        m.version,
        m.publisher,
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

async fn build_crate(dir: PathBuf) -> anyhow::Result<Vec<u8>> {
    let out = std::env::temp_dir().join(format!(
        "cube-pack-{}-{}",
        std::process::id(),
        crate::marketplace::nanos()
    ));
    let built = {
        let out = out.clone();
        tokio::task::spawn_blocking(move || build::build(&[dir], Some(&out))).await?
    };
    let bytes = built.and_then(|built| read(&built[0].path));
    let _ = std::fs::remove_dir_all(&out);
    bytes
}

async fn manifest_from_info(component: &[u8], publisher: String) -> anyhow::Result<Manifest> {
    let runtime = Runtime::builder().pooling(false).build()?;
    let connector = runtime
        .load(component)
        .context("the component cannot be packed")?;
    let info = connector
        .info(&runtime.context("pack"))
        .await
        .result
        .map_err(|e| anyhow::anyhow!("the component's info() call failed: {e}"))?;
    let config_schema: Value = serde_json::from_str(&info.config_schema)
        .context("the component's config-schema is not JSON")?;
    Ok(Manifest {
        id: info.id,
        name: info.name,
        version: info.version,
        publisher,
        description: info.description,
        capabilities: Capabilities {
            http: info.capabilities.http,
            ldap: info.capabilities.ldap,
        },
        config_schema,
        min_host_version: HOST_VERSION.to_owned(),
        component_sha256: String::new(),
    })
}

pub fn sign(args: SignArgs) -> anyhow::Result<ExitCode> {
    let key = SecretKey::read(&args.key)?;
    let mut package = match Package::read_file(&args.package) {
        Ok(package) => package,
        Err(PackageError::Io { path, error }) => bail!("cannot read {path}: {error}"),
        Err(error) => return Ok(refused(error)),
    };
    let actual = crate::marketplace::sha256_hex(&package.component);
    if actual != package.manifest.component_sha256 {
        return Ok(refused(VerifyError::Tampered {
            expected: package.manifest.component_sha256.clone(),
            actual,
        }));
    }
    let signer = signature::sign(&mut package, &key).map_err(anyhow::Error::msg)?;
    crate::marketplace::write_atomic(&args.package, &package.to_bytes())
        .with_context(|| format!("cannot write {}", args.package.display()))?;
    println!(
        "signed {} as {} with key {}",
        args.package.display(),
        signer.publisher,
        signer.key_id
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let trusted_dir = args
        .trusted
        .unwrap_or_else(|| args.data_dir.join(keys::TRUSTED_DIR));
    let trusted = keys::TrustedKeys::load(&trusted_dir)?;
    let policy = if args.allow_untrusted {
        Policy::AllowUntrusted
    } else {
        Policy::RequireTrusted
    };
    let bytes = match crate::marketplace::package::read_limited(&args.package) {
        Ok(bytes) => bytes,
        Err(error) => return package_refusal(error.into()),
    };
    match verify::verify_bytes(&bytes, &trusted, policy).await {
        Ok(verified) => {
            print_verified(&verified);
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => package_refusal(error),
    }
}

fn print_verified(verified: &Verified) {
    let m = &verified.package.manifest;
    println!("package:      {} {} ({})", m.id, m.version, m.name);
    println!("publisher:    {}", m.publisher);
    println!("signature:    {}", trust_line(&verified.trust));
    println!("component:    {}", m.component_sha256);
    println!("imports:      {}", verified.imports.join(", "));
    println!("requests:");
    println!("  http:       {}", list_or_none(&m.capabilities.http));
    println!("  ldap:       {}", list_or_none(&m.capabilities.ldap));
    println!("verified");
}

fn trust_line(trust: &Trust) -> String {
    match trust {
        Trust::Trusted(s) => format!("valid, key {} (trusted)", s.key_id),
        Trust::Untrusted(s) => format!("valid, key {} (NOT trusted by this host)", s.key_id),
        Trust::Unsigned => "none (unsigned)".to_owned(),
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".to_owned()
    } else {
        items.join(", ")
    }
}

pub async fn publish(args: PublishArgs) -> anyhow::Result<ExitCode> {
    match registry::publish(&args.package, &args.registry).await {
        Ok(entry) => {
            println!(
                "published {} {} to {} ({}, key {})",
                entry.id,
                entry.version,
                args.registry.display(),
                entry.file,
                entry.key_id.as_deref().unwrap_or("-")
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(RegistryError::Verify(error)) => package_refusal(error),
        Err(RegistryError::Io { path, error }) => bail!("cannot use {path}: {error}"),
        Err(error) => Ok(refused(error)),
    }
}

pub fn trust(args: TrustArgs) -> anyhow::Result<ExitCode> {
    let (key, path) = keys::trust(&args.data_dir, &args.key)?;
    println!(
        "trusting {} key {} ({})",
        key.publisher,
        key.key_id(),
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn install(args: InstallArgs) -> anyhow::Result<ExitCode> {
    let cache = args.data_dir.join(source::CACHE_DIR);
    let outbound = args.network.outbound()?;
    let fetched = match &args.registry {
        Some(registry) => {
            let (id, version) = match args.target.split_once('@') {
                Some((id, version)) => (id, Some(version)),
                None => (args.target.as_str(), None),
            };
            registry
                .fetch(&outbound.downloads, id, version, Some(&cache))
                .await
                .map(|(_, bytes)| bytes)
        }
        None if is_url(&args.target) => {
            source::download_package(&outbound.downloads, &args.target).await
        }
        None => crate::marketplace::package::read_limited(Path::new(&args.target))
            .map_err(|error| RegistryError::Verify(error.into())),
    };
    let bytes = match fetched {
        Ok(bytes) => bytes,
        Err(RegistryError::Verify(error)) => return package_refusal(error),
        Err(RegistryError::Io { path, error }) => bail!("cannot use {path}: {error}"),
        Err(error) => return Ok(refused(error)),
    };
    let previous = Package::from_bytes(&bytes).ok().and_then(|p| {
        install::current_version(&install::connectors_dir(&args.data_dir).join(&p.manifest.id))
    });
    let options = install::InstallOptions {
        allow_untrusted: args.allow_untrusted,
        approve_capabilities: args.approve_capabilities,
        replace_bundled: args.replace_bundled,
        allow_downgrade: args.allow_downgrade,
    };
    let connectors = install::connectors_dir(&args.data_dir);
    let bundled = Bundled::recorded(&connectors);
    let replacing = Package::from_bytes(&bytes).ok().and_then(|p| {
        let theirs = bundled.connectors.get(&p.manifest.id)?;
        Some(CapabilityDiff::between(&p.manifest.capabilities, theirs))
    });
    let store = match args.data_dir.join("cube.db").exists() {
        true => Some(Store::open_in(&args.data_dir).await?),
        false => None,
    };
    match install::install_with(&bytes, &args.data_dir, options, &bundled, "cli").await {
        Ok(installed) => {
            if let (Some(diff), Some(store)) = (&replacing, &store) {
                let impact = Impact::of(store, &installed.record.id).await?;
                ownership::audit_replacement(store, "cli", None, &installed.record, diff, &impact)
                    .await?;
            }
            let r = &installed.record;
            let how = if r.trusted {
                format!("trusted, key {}", r.key_id.as_deref().unwrap_or("-"))
            } else {
                "UNTRUSTED: installed with --allow-untrusted".to_owned()
            };
            let verb = match &previous {
                Some(previous) if *previous != r.version => {
                    format!("switched from {previous} to")
                }
                _ if installed.already => "already installed".to_owned(),
                _ => "installed".to_owned(),
            };
            println!(
                "{verb} {} {} ({how}) in {}; restart `cube serve` to load it",
                r.id,
                r.version,
                installed.dir.display()
            );
            if let Some(previous) = previous.filter(|p| *p != r.version) {
                println!(
                    "{previous} is kept: `cube plugin rollback {}` goes back to the version below {}. Integrations keep their grants; grant anything new per integration",
                    r.id, r.version
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(InstallError::Verify(error)) => package_refusal(error),
        Err(InstallError::TrustedKeys(error)) => Err(error.into()),
        Err(
            ref error @ InstallError::ReplacesBundled {
                ref id, ref diff, ..
            },
        ) => {
            let impact = match &store {
                Some(store) => Impact::of(store, id).await?.sentence(),
                None => "the integrations of this host's database".to_owned(),
            };
            eprintln!("error: {error}");
            eprintln!("compared with the bundled connector, the package:");
            for line in diff.lines() {
                eprintln!("  {line}");
            }
            eprintln!("it would receive what {impact} hold");
            Ok(ExitCode::from(1))
        }
        Err(
            error @ (InstallError::Conflict { .. }
            | InstallError::NewCapabilities { .. }
            | InstallError::IdOwned { .. }
            | InstallError::Downgrade { .. }),
        ) => Ok(refused(error)),
        Err(error @ InstallError::Io { .. }) => Err(error.into()),
    }
}

pub fn rollback(args: RollbackArgs) -> anyhow::Result<ExitCode> {
    match lifecycle::rollback(&args.data_dir, &args.id) {
        Ok(rolled) => {
            println!(
                "rolled {} back from {} to {} ({}); restart `cube serve` to load it",
                rolled.id,
                rolled.from,
                rolled.to,
                rolled.dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(
            error @ (LifecycleError::NotInstalled(_) | LifecycleError::NoEarlierVersion { .. }),
        ) => Ok(refused(error)),
        Err(error) => Err(error.into()),
    }
}

pub async fn uninstall(args: UninstallArgs) -> anyhow::Result<ExitCode> {
    let store = match &args.database_url {
        Some(url) => Some(Store::connect(url).await?),
        None if args.data_dir.join("cube.db").exists() => {
            Some(Store::open_in(&args.data_dir).await?)
        }
        // No database: no integrations to use the connector.
        None => None,
    };
    let result = lifecycle::uninstall(
        &args.data_dir,
        store.as_ref(),
        &args.id,
        args.disable_integrations,
        "cli",
    )
    .await;
    if let Some(store) = store {
        store.close().await;
    }
    match result {
        Ok(gone) => {
            println!(
                "uninstalled {} (removed {}); restart `cube serve` to unload it",
                gone.id,
                if gone.versions.is_empty() {
                    "its files".to_owned()
                } else {
                    format!("versions {}", gone.versions.join(", "))
                }
            );
            if !gone.disabled.is_empty() {
                println!("disabled integrations: {}", gone.disabled.join(", "));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error @ (LifecycleError::NotInstalled(_) | LifecycleError::InUse { .. })) => {
            Ok(refused(error))
        }
        Err(error) => Err(error.into()),
    }
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}
