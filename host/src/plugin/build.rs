//! `cube plugin build`: Rust connector crates to components.
//!
//! A connector crate is a `cdylib` that uses the SDK. It is compiled for
//! `wasm32-unknown-unknown` (which imports nothing but the connector world,
//! the tightest sandbox there is) and the resulting core module, which
//! carries its WIT in a custom section, is encoded as a component.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde::Deserialize;

use super::toolchain::Toolchain;

/// One component written by a build.
#[derive(Debug)]
pub struct Built {
    pub package: String,
    pub path: PathBuf,
    pub bytes: usize,
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    workspace_root: PathBuf,
    target_directory: PathBuf,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    manifest_path: PathBuf,
    targets: Vec<Target>,
}

#[derive(Deserialize)]
struct Target {
    name: String,
    crate_types: Vec<String>,
}

struct Selected {
    package: String,
    lib_name: String,
}

/// Builds the connector crates in `crate_dirs` and writes one component per
/// crate into `out_dir` (default: `<target>/components`).
pub fn build(crate_dirs: &[PathBuf], out_dir: Option<&Path>) -> anyhow::Result<Vec<Built>> {
    let toolchain = Toolchain::detect()?;
    eprintln!("building with {toolchain}");
    // Crates grouped by workspace: one cargo invocation per workspace.
    let mut workspaces: BTreeMap<PathBuf, (PathBuf, Vec<Selected>)> = BTreeMap::new();
    for dir in crate_dirs {
        let (metadata, selected) = select(dir)?;
        workspaces
            .entry(metadata.workspace_root)
            .or_insert_with(|| (metadata.target_directory, Vec::new()))
            .1
            .push(selected);
    }
    let mut built = Vec::new();
    for (root, (target_directory, crates)) in workspaces {
        let wasm_target = target_directory.join(toolchain.target_subdir());
        let mut command = toolchain.cargo_build();
        command
            .current_dir(&root)
            .arg("--target-dir")
            .arg(&wasm_target);
        for selected in &crates {
            command.args(["-p", &selected.package]);
        }
        let status = command
            .status()
            .with_context(|| format!("cannot run cargo for {}", root.display()))?;
        if !status.success() {
            bail!("cargo could not build {} ({status})", names(&crates));
        }
        let out_dir = out_dir
            .map(Path::to_path_buf)
            .unwrap_or_else(|| target_directory.join("components"));
        std::fs::create_dir_all(&out_dir)
            .with_context(|| format!("cannot create {}", out_dir.display()))?;
        for selected in crates {
            let module_path = wasm_target
                .join("wasm32-unknown-unknown/release")
                .join(format!("{}.wasm", selected.lib_name));
            let module = std::fs::read(&module_path)
                .with_context(|| format!("cannot read {}", module_path.display()))?;
            let component = componentize(&module)
                .with_context(|| format!("cannot make a component of {}", selected.package))?;
            let path = out_dir.join(format!("{}.wasm", selected.package));
            write_atomically(&path, &component)
                .with_context(|| format!("cannot write {}", path.display()))?;
            built.push(Built {
                package: selected.package,
                path,
                bytes: component.len(),
            });
        }
    }
    Ok(built)
}

/// Encodes a core module that carries `component-type` information (as
/// `wit-bindgen` emits) as a component.
pub fn componentize(module: &[u8]) -> anyhow::Result<Vec<u8>> {
    let encoded = wit_component::ComponentEncoder::default()
        .module(module)
        .and_then(|encoder| encoder.validate(true).encode());
    encoded.map_err(|e| anyhow::anyhow!("{e:#}"))
}

fn select(dir: &Path) -> anyhow::Result<(Metadata, Selected)> {
    let manifest = dir.join("Cargo.toml");
    let manifest = manifest
        .canonicalize()
        .with_context(|| format!("{} is not a Rust crate (no Cargo.toml)", dir.display()))?;
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .context("cannot run `cargo metadata`")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed for {}: {}",
            manifest.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let metadata: Metadata =
        serde_json::from_slice(&output.stdout).context("cannot read cargo metadata")?;
    let package = metadata
        .packages
        .iter()
        .find(|p| p.manifest_path == manifest)
        .with_context(|| format!("{} is not a member of its workspace", manifest.display()))?;
    let lib = package
        .targets
        .iter()
        .find(|t| t.crate_types.iter().any(|k| k == "cdylib"))
        .with_context(|| {
            format!(
                "crate `{}` is not a connector: its [lib] needs crate-type = [\"cdylib\"]",
                package.name
            )
        })?;
    let selected = Selected {
        package: package.name.clone(),
        lib_name: lib.name.replace('-', "_"),
    };
    Ok((metadata, selected))
}

fn names(crates: &[Selected]) -> String {
    crates
        .iter()
        .map(|c| c.package.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes `bytes` to `path` so that a concurrent reader sees the old file or
/// the new one, never half of one (tests build in parallel processes).
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("wasm.tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
