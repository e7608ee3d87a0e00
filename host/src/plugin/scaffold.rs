//! `cube plugin new`: a connector crate that builds and passes its tests
//! before its author has written a line.
//!
//! Each template is a small but complete connector for one common shape of
//! integration, with native tests against the SDK's doubles and an example
//! configuration (and, for REST, an HTTP recording) that `cube plugin test`
//! runs in the real sandbox:
//!
//! - `rest`: work orders to and from a JSON API (sync, incremental, push);
//! - `ldap`: users and groups from a directory, paged;
//! - `webhook`: work orders from signed deliveries.
//!
//! The files live in `templates/` beside this module, compiled into the
//! binary; tokens like `__ID__` and `__TYPE__` are replaced by the
//! connector's names. The crate is written to a
//! temporary folder first and renamed into place, so a failure leaves
//! nothing behind.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::ValueEnum;

use crate::shared::connector_id::is_id;

/// The kinds of connector `cube plugin new` can start from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Template {
    Rest,
    Ldap,
    Webhook,
}

impl Template {
    fn name(self) -> &'static str {
        match self {
            Template::Rest => "rest",
            Template::Ldap => "ldap",
            Template::Webhook => "webhook",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Template::Rest => "Work orders to and from a JSON REST API.",
            Template::Ldap => "Users and groups from an LDAP directory.",
            Template::Webhook => "Work orders from signed webhook deliveries.",
        }
    }

    /// What the README suggests after `cube plugin test --config ...`.
    fn test_flags(self) -> &'static str {
        match self {
            Template::Rest => "--replay recording.json",
            Template::Ldap => "--allow-ldap ldap://127.0.0.1:389",
            Template::Webhook => "--webhook delivery.json",
        }
    }

    /// The template's own files: (path in the crate, contents).
    fn files(self) -> Vec<(&'static str, &'static str)> {
        match self {
            Template::Rest => vec![
                ("src/lib.rs", include_str!("templates/rest/lib.rs")),
                ("src/tests.rs", include_str!("templates/rest/tests.rs")),
                (
                    "config.example.json",
                    include_str!("templates/rest/config.example.json"),
                ),
                (
                    "recording.json",
                    include_str!("templates/rest/recording.json"),
                ),
            ],
            Template::Ldap => vec![
                ("src/lib.rs", include_str!("templates/ldap/lib.rs")),
                ("src/tests.rs", include_str!("templates/ldap/tests.rs")),
                (
                    "config.example.json",
                    include_str!("templates/ldap/config.example.json"),
                ),
            ],
            Template::Webhook => vec![
                ("src/lib.rs", include_str!("templates/webhook/lib.rs")),
                ("src/tests.rs", include_str!("templates/webhook/tests.rs")),
                (
                    "config.example.json",
                    include_str!("templates/webhook/config.example.json"),
                ),
                (
                    "delivery.json",
                    include_str!("templates/webhook/delivery.json"),
                ),
            ],
        }
    }
}

const COMMON: [(&str, &str); 3] = [
    ("Cargo.toml", include_str!("templates/common/Cargo.toml")),
    ("README.md", include_str!("templates/common/README.md")),
    (".gitignore", include_str!("templates/common/gitignore")),
];

/// What to make.
#[derive(Debug)]
pub struct NewConnector {
    /// The connector's id and crate name: lowercase letters, digits, `-`.
    pub name: String,
    pub template: Template,
    /// The folder to create (must not exist, or be empty).
    pub dir: PathBuf,
    /// The connector SDK's folder, for the crate's path dependency.
    pub sdk: PathBuf,
}

/// The SDK next to the sources this binary was built from, when they are
/// still there (a developer's checkout).
pub fn sdk_beside_sources() -> Option<PathBuf> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
    sdk.join("Cargo.toml")
        .is_file()
        .then(|| sdk.canonicalize().ok())
        .flatten()
}

/// Writes the crate; returns the files written, relative to `dir`.
pub fn scaffold(new: &NewConnector) -> anyhow::Result<Vec<&'static str>> {
    if !is_id(&new.name) || !new.name.starts_with(|c: char| c.is_ascii_lowercase()) {
        bail!(
            "`{}` cannot name a connector: use lowercase letters, digits and dashes, \
             starting with a letter (like `acme-tickets`)",
            new.name
        );
    }
    let sdk = new.sdk.canonicalize().with_context(|| {
        format!(
            "the connector SDK is not at {} (pass --sdk with the `sdk` folder of the CUBE sources)",
            new.sdk.display()
        )
    })?;
    if !sdk.join("Cargo.toml").is_file() {
        bail!(
            "{} is not the connector SDK: it has no Cargo.toml",
            sdk.display()
        );
    }
    if new.dir.exists()
        && std::fs::read_dir(&new.dir)
            .with_context(|| format!("cannot read {}", new.dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} already exists and is not empty; choose another name or --dir",
            new.dir.display()
        );
    }
    let parent = match new.dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".cube-plugin-new-")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot write in {}", parent.display()))?;

    let sdk_text = sdk.to_string_lossy();
    let replacements = [
        ("__CRATE__", new.name.clone()),
        ("__ID__", new.name.clone()),
        ("__TYPE__", type_name(&new.name)),
        ("__TITLE__", title(&new.name)),
        ("__DESCRIPTION__", new.template.description().to_owned()),
        ("__TEMPLATE__", new.template.name().to_owned()),
        ("__TEST_FLAGS__", new.template.test_flags().to_owned()),
        // A TOML basic string: backslashes and quotes escaped.
        (
            "__SDK__",
            sdk_text.replace('\\', "\\\\").replace('"', "\\\""),
        ),
    ];
    let mut written = Vec::new();
    for (path, contents) in COMMON.into_iter().chain(new.template.files()) {
        let mut text = contents.to_owned();
        for (token, value) in &replacements {
            text = text.replace(token, value);
        }
        let target = staging.path().join(path);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&target, text)
            .with_context(|| format!("cannot write {}", target.display()))?;
        written.push(path);
    }
    let staged = staging.keep();
    if new.dir.exists() {
        // Empty (checked above): rename needs it gone.
        std::fs::remove_dir(&new.dir)
            .with_context(|| format!("cannot replace the empty {}", new.dir.display()))?;
    }
    if let Err(error) = std::fs::rename(&staged, &new.dir) {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(error).with_context(|| format!("cannot create {}", new.dir.display()));
    }
    Ok(written)
}

/// `acme-tickets` → `AcmeTickets`; a leading digit gets a prefix.
fn type_name(id: &str) -> String {
    let mut out: String = id
        .split('-')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            let first = chars.next().map(|c| c.to_ascii_uppercase());
            first.into_iter().chain(chars).collect::<String>()
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'C');
    }
    out
}

/// `acme-tickets` → `Acme Tickets`.
fn title(id: &str) -> String {
    id.split('-')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            let first = chars.next().map(|c| c.to_ascii_uppercase());
            first.into_iter().chain(chars).collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdk() -> PathBuf {
        sdk_beside_sources().expect("the tests run from the sources")
    }

    #[test]
    fn names_become_a_type_and_a_title() {
        assert_eq!(type_name("acme-tickets"), "AcmeTickets");
        assert_eq!(type_name("x2"), "X2");
        assert_eq!(title("acme-tickets-v2"), "Acme Tickets V2");
    }

    #[test]
    fn every_placeholder_is_replaced() {
        let root = tempfile::tempdir().unwrap();
        for template in [Template::Rest, Template::Ldap, Template::Webhook] {
            let dir = root.path().join(template.name());
            let files = scaffold(&NewConnector {
                name: "acme-tickets".into(),
                template,
                dir: dir.clone(),
                sdk: sdk(),
            })
            .unwrap();
            assert!(files.contains(&"src/lib.rs") && files.contains(&"Cargo.toml"));
            for file in files {
                let text = std::fs::read_to_string(dir.join(file)).unwrap();
                assert!(
                    !text.contains("__"),
                    "{file} of {template:?} keeps a placeholder"
                );
            }
            let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
            assert!(lib.contains("pub struct AcmeTickets;"));
            assert!(lib.contains("\"acme-tickets\", \"Acme Tickets\""));
        }
    }

    #[test]
    fn bad_names_and_occupied_folders_are_refused_and_nothing_is_left() {
        let root = tempfile::tempdir().unwrap();
        let attempt = |name: &str, dir: PathBuf| {
            scaffold(&NewConnector {
                name: name.into(),
                template: Template::Rest,
                dir,
                sdk: sdk(),
            })
        };
        for name in ["Acme", "9lives", "-x", "a_b", ""] {
            let error = attempt(name, root.path().join("x")).unwrap_err();
            assert!(
                error.to_string().contains("cannot name a connector"),
                "{error}"
            );
        }
        let taken = root.path().join("taken");
        std::fs::create_dir(&taken).unwrap();
        std::fs::write(taken.join("notes.txt"), "mine").unwrap();
        let error = attempt("taken", taken.clone()).unwrap_err();
        assert!(error.to_string().contains("not empty"), "{error}");
        assert_eq!(
            std::fs::read_to_string(taken.join("notes.txt")).unwrap(),
            "mine"
        );

        let error = scaffold(&NewConnector {
            name: "fine".into(),
            template: Template::Rest,
            dir: root.path().join("fine"),
            sdk: root.path().join("no-sdk-here"),
        })
        .unwrap_err();
        assert!(error.to_string().contains("--sdk"), "{error}");
        let left: Vec<_> = std::fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, ["taken"], "nothing half-made is left");
    }
}
