//! The `cube plugin` commands as a publisher and an admin run them, for the
//! marketplace's command-line tests: the `cube` binary run with arguments,
//! its output read, and a [`Desk`] (a publisher's keys and packages beside
//! an admin's data directory) whose connectors directory can be compared
//! before and after a refusal.

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

/// Runs `cube ARGS`, logging warnings only, with no data directory from the
/// environment.
pub fn cube(args: &[&str]) -> Output {
    Command::new(cube_binary())
        .args(args)
        .env("CUBE_LOG", "warn")
        .env_remove("CUBE_DATA_DIR")
        .output()
        .expect("running cube")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The standard output of a command that succeeded (panics otherwise,
/// showing both outputs).
pub fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
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

    pub fn install_file(&self, package: &Path, extra: &[&str]) -> Output {
        let data = self.data();
        let mut args = vec!["plugin", "install", s(package), "--data-dir", s(&data)];
        args.extend(extra);
        cube(&args)
    }

    /// Installing `package` exits 1 with `needle` in its one-line message,
    /// and the connectors directory is as it was.
    pub fn assert_refused(&self, package: &Path, needle: &str) {
        let before = snapshot(&self.connectors());
        let out = self.install_file(package, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{needle}: {err}");
        assert!(err.contains(needle), "expected {needle:?} in: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert_eq!(snapshot(&self.connectors()), before, "after: {needle}");
    }
}
