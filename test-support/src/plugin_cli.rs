//! The `cube` commands as a publisher, an author and an admin run them, for
//! the marketplace's and the command line's tests: the `cube` binary run
//! with arguments (in a scaffolded crate, too), its output read, a
//! publisher's whole way from a key pair to a trusted package, and a
//! [`Desk`] (a publisher's keys and packages beside an admin's data
//! directory) whose connectors directory can be compared before and after a
//! refusal.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The `cube` binary of this build: the one Cargo names to the running test
/// (`CARGO_BIN_EXE_cube`), or else the one beside the test binary's `deps`
/// directory (a test binary run by hand).
pub fn cube_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CARGO_BIN_EXE_cube") {
        return PathBuf::from(path);
    }
    let test = std::env::current_exe().unwrap();
    let profile = test.parent().and_then(Path::parent).unwrap();
    profile.join(format!("cube{}", std::env::consts::EXE_SUFFIX))
}

/// `cube ARGS` as a command to run, logging warnings only, with no data
/// directory from the environment.
pub fn cube_command(args: &[&str]) -> Command {
    let mut command = Command::new(cube_binary());
    command
        .args(args)
        .env("CUBE_LOG", "warn")
        .env_remove("CUBE_DATA_DIR");
    command
}

/// Runs `command` (a [`cube_command`]) to its end.
pub fn run(command: &mut Command) -> Output {
    command.output().expect("running cube")
}

/// Runs `cube ARGS`, logging warnings only, with no data directory from the
/// environment.
pub fn cube(args: &[&str]) -> Output {
    run(&mut cube_command(args))
}

/// Runs `cube ARGS` in `dir`, as an author runs it in a crate; scaffolded
/// crates share one target folder ([`scaffold_target`]), kept warm across
/// runs.
pub fn cube_in(dir: &Path, args: &[&str]) -> Output {
    run(cube_command(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", scaffold_target()))
}

/// The target folder the crates a test scaffolds build into.
pub fn scaffold_target() -> PathBuf {
    crate::repo_root().join("target/scaffolds")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A command's exit status and both its outputs, for a failed check's
/// message.
pub fn described(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        stdout(output),
        stderr(output)
    )
}

/// The standard output of a command that succeeded (panics otherwise,
/// showing both outputs).
pub fn ok(output: Output) -> String {
    assert!(output.status.success(), "{}", described(&output));
    stdout(&output)
}

/// The standard error of a command that refused (exit 1; panics otherwise,
/// showing both outputs).
pub fn refused(output: Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{}", described(&output));
    stderr(&output)
}

/// `path` as an argument.
pub fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Every path under `dir`, relative, sorted; empty when there is no `dir`.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, u64)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, u64)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let meta = std::fs::metadata(&path).unwrap();
            out.push((path.strip_prefix(root).unwrap().to_path_buf(), meta.len()));
            if meta.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// `cube plugin publish PACKAGE --registry REGISTRY`.
pub fn publish_to(registry: &Path, package: &Path) -> Output {
    cube(&["plugin", "publish", s(package), "--registry", s(registry)])
}

/// A publisher's whole way to an admin's host, with the `cube` binary: a
/// key pair for `publisher` in `desk/keys`, a package packed in `workdir`
/// (`cube plugin pack` with `pack_args`, written there), signed, published
/// into `desk/registry`, and its key trusted by the host whose data
/// directory is `data`. Returns the registry.
pub fn publish_and_trust(
    desk: &Path,
    workdir: &Path,
    pack_args: &[&str],
    publisher: &str,
    data: &Path,
) -> PathBuf {
    let keys = desk.join("keys");
    ok(cube_in(
        desk,
        &[
            "plugin",
            "keygen",
            "--publisher",
            publisher,
            "--out",
            s(&keys),
        ],
    ));
    let mut args = vec!["plugin", "pack", "--publisher", publisher, "--out", "."];
    args.extend_from_slice(pack_args);
    let packed = ok(cube_in(workdir, &args));
    let package = std::fs::read_dir(workdir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "cubepkg"))
        .unwrap_or_else(|| panic!("pack wrote no package: {packed}"));
    let key = keys.join(format!("{publisher}.key"));
    ok(cube_in(
        workdir,
        &["plugin", "sign", s(&package), "--key", s(&key)],
    ));
    let registry = desk.join("registry");
    ok(cube_in(
        workdir,
        &["plugin", "publish", s(&package), "--registry", s(&registry)],
    ));
    let public = keys.join(format!("{publisher}.pub"));
    ok(cube_in(
        desk,
        &["plugin", "trust", s(&public), "--data-dir", s(data)],
    ));
    registry
}

/// A publisher's desk and an admin's host in one temporary directory.
pub struct Desk {
    dir: tempfile::TempDir,
}

impl Default for Desk {
    fn default() -> Self {
        Self::new()
    }
}

impl Desk {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn data(&self) -> PathBuf {
        self.path("data")
    }

    pub fn connectors(&self) -> PathBuf {
        self.data().join("connectors")
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// `keys/<dir>/<publisher>.{key,pub}`; returns the key paths and id.
    pub fn keygen(&self, dir: &str, publisher: &str) -> (PathBuf, PathBuf, String) {
        let out = self.path("keys").join(dir);
        let text = ok(cube(&[
            "plugin",
            "keygen",
            "--out",
            s(&out),
            "--publisher",
            publisher,
        ]));
        let key_id = text
            .lines()
            .find_map(|l| l.strip_prefix("key id:"))
            .unwrap()
            .trim()
            .to_owned();
        (
            out.join(format!("{publisher}.key")),
            out.join(format!("{publisher}.pub")),
            key_id,
        )
    }

    /// `keys/trusted/acme.*`, trusted in the data directory.
    pub fn trusted_publisher(&self) -> (PathBuf, String) {
        let (key, public, id) = self.keygen("trusted", "acme");
        ok(cube(&[
            "plugin",
            "trust",
            s(&public),
            "--data-dir",
            s(&self.data()),
        ]));
        (key, id)
    }

    /// Packs `component` (manifest from its info(), or `manifest`).
    pub fn pack(&self, name: &str, component: &[u8], manifest: Option<Value>) -> PathBuf {
        let wasm = self.write(&format!("{name}.wasm"), component);
        let out = self.path(&format!("{name}.cubepkg"));
        let mut args = vec!["plugin", "pack", "--component", s(&wasm), "--out", s(&out)];
        let manifest_path;
        match manifest {
            Some(value) => {
                manifest_path = self.write(
                    &format!("{name}.manifest.json"),
                    &serde_json::to_vec(&value).unwrap(),
                );
                args.extend(["--manifest", s(&manifest_path)]);
            }
            None => args.extend(["--publisher", "acme"]),
        }
        ok(cube(&args));
        out
    }

    pub fn sign(&self, package: &Path, key: &Path) {
        ok(cube(&["plugin", "sign", s(package), "--key", s(key)]));
    }

    /// `cube plugin install PACKAGE` (a file) into the data directory,
    /// with `extra` arguments.
    pub fn install_file(&self, package: &Path, extra: &[&str]) -> Output {
        self.install(&[s(package)], extra)
    }

    /// `cube plugin install TARGET` (`ID` or `ID@VERSION`) from `registry`
    /// into the data directory, with `extra` arguments.
    pub fn install_from(&self, registry: &Path, target: &str, extra: &[&str]) -> Output {
        self.install(&[target, "--registry", s(registry)], extra)
    }

    fn install(&self, what: &[&str], extra: &[&str]) -> Output {
        let data = self.data();
        let mut args = vec!["plugin", "install"];
        args.extend(what);
        args.extend(["--data-dir", s(&data)]);
        args.extend(extra);
        cube(&args)
    }

    /// The server's catalog as it loads the installed connectors.
    pub async fn catalog(&self) -> cube_host::catalog::Catalog {
        crate::marketplace::loaded_catalog(vec![self.connectors()]).await
    }

    /// Installing `package` exits 1 with `needle` in its one-line message,
    /// and the connectors directory is as it was.
    pub fn assert_refused(&self, package: &Path, needle: &str) {
        let before = snapshot(&self.connectors());
        let err = refused(self.install_file(package, &[]));
        assert!(err.contains(needle), "expected {needle:?} in: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert_eq!(snapshot(&self.connectors()), before, "after: {needle}");
    }
}
