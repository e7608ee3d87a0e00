//! Finding a compiler that can build WebAssembly on this machine.
//!
//! Two routes work (see `docs/decisions/0002-wasm-toolchain.md`):
//!
//! 1. rustup's `wasm32-unknown-unknown` target, where it is installed (the
//!    usual developer machine);
//! 2. Debian's `rustc-web` toolchain with the standard library's source
//!    (`rust-web-src`) and `lld-16`, building std from source with
//!    `-Zbuild-std` (machines where rustup cannot download targets).
//!
//! Detection never downloads anything: `scripts/setup-wasm-toolchain.sh`
//! installs what is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The compiler route chosen for this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Toolchain {
    /// rustup's cargo with the installed `wasm32-unknown-unknown` target.
    Rustup,
    /// Debian's `rustc-web`, building std from source.
    DebianWeb {
        rustc: PathBuf,
        cargo: PathBuf,
        linker: String,
    },
}

/// No route is available; the message says how to get one.
#[derive(Debug, thiserror::Error)]
#[error(
    "no Rust toolchain that can build WebAssembly was found.\n\
     Install one of:\n  \
     - rustup's target: `rustup target add wasm32-unknown-unknown`\n  \
     - on Debian 12: `apt-get install rustc-web cargo-web rust-web-src lld-16`\n\
     (`scripts/setup-wasm-toolchain.sh` picks the right one for this machine)"
)]
pub struct NoToolchain;

impl Toolchain {
    /// Picks the first route that works here.
    pub fn detect() -> Result<Toolchain, NoToolchain> {
        if rustup_has_wasm_target() {
            return Ok(Toolchain::Rustup);
        }
        if let Some(debian) = debian_web() {
            return Ok(debian);
        }
        Err(NoToolchain)
    }

    /// The directory (under the cargo target directory) for this route's
    /// artifacts: the two routes build std differently and must not share.
    pub fn target_subdir(&self) -> &'static str {
        match self {
            Toolchain::Rustup => "wasm-rustup",
            Toolchain::DebianWeb { .. } => "wasm-debian",
        }
    }

    /// A `cargo build` for the wasm target with this route's settings.
    pub fn cargo_build(&self) -> Command {
        let mut command = match self {
            Toolchain::Rustup => {
                Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            }
            Toolchain::DebianWeb {
                rustc,
                cargo,
                linker,
            } => {
                let mut command = Command::new(cargo);
                command
                    .env("RUSTC", rustc)
                    .env("RUSTC_BOOTSTRAP", "1")
                    .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", linker)
                    .env_remove("RUSTUP_TOOLCHAIN")
                    .env_remove("RUSTC_WRAPPER");
                command
            }
        };
        command.args(["build", "--release", "--target", "wasm32-unknown-unknown"]);
        if matches!(self, Toolchain::DebianWeb { .. }) {
            command.arg("-Zbuild-std=std,panic_abort");
        }
        // Components need no debug info; the component-type section stays.
        command
            .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
            .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo");
        command
    }
}

impl std::fmt::Display for Toolchain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Toolchain::Rustup => f.write_str("rustup (wasm32-unknown-unknown)"),
            Toolchain::DebianWeb { rustc, .. } => {
                write!(
                    f,
                    "Debian rustc-web ({}, std built from source)",
                    rustc.display()
                )
            }
        }
    }
}

fn rustup_has_wasm_target() -> bool {
    let Ok(output) = Command::new("rustc").args(["--print", "sysroot"]).output() else {
        return false;
    };
    if !output.status.success() {
        return false;
    }
    let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    Path::new(&sysroot)
        .join("lib/rustlib/wasm32-unknown-unknown/lib")
        .is_dir()
}

fn debian_web() -> Option<Toolchain> {
    let rustc = PathBuf::from("/usr/bin/rustc");
    let cargo = PathBuf::from("/usr/bin/cargo");
    if !rustc.is_file() || !cargo.is_file() {
        return None;
    }
    let has_std_source = std::fs::read_dir("/usr/src")
        .ok()?
        .filter_map(Result::ok)
        .any(|entry| {
            entry.file_name().to_string_lossy().starts_with("rustc-")
                && entry.path().join("library/std").is_dir()
        });
    if !has_std_source {
        return None;
    }
    let linker = ["wasm-ld-16", "wasm-ld"]
        .into_iter()
        .find(|name| which(name).is_some())?;
    Some(Toolchain::DebianWeb {
        rustc,
        cargo,
        linker: linker.to_owned(),
    })
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    })
}
